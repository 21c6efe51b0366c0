"""Database care at the end of the day: integrity check, online backup, size."""

import os
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from ordertrack.calendar import ist_date


def integrity(db: Database) -> str:
    """'ok', or SQLite's first complaint."""
    return str(db.execute("PRAGMA integrity_check(1)").fetchone()[0])


def backup(db: Database, db_path: Path, now: datetime, keep: int) -> Path | None:
    """A consistent copy (VACUUM INTO) in backups/ beside the database; the newest `keep` stay."""
    if keep <= 0:
        return None
    folder = db_path.parent / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"{db_path.stem}-{ist_date(now):%Y%m%d}.db"
    partial = folder / f".{target.name}.partial"  # killed mid-copy: never taken for a backup
    for stale in folder.glob(f".{db_path.stem}-*.db.partial*"):  # an earlier killed copy
        stale.unlink(missing_ok=True)
    # Created empty and owner-only first: VACUUM INTO would use the umask's permissions.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    db.execute("VACUUM INTO ?", (str(partial),))
    os.replace(partial, target)
    copies = sorted(folder.glob(f"{db_path.stem}-*.db"))
    for old in copies[:-keep]:
        old.unlink()
    return target


def size(db_path: Path) -> int:
    return sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists())
