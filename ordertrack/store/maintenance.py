"""Database care at the end of the day: archiving, integrity check, online backup, size."""

import os
import re
import stat
from datetime import datetime, timedelta
from pathlib import Path

from ordertrack import files
from ordertrack.core.models import EventKind
from ordertrack.core.trading_calendar import ist_date
from ordertrack.errors import DatabaseError
from ordertrack.store.db import Database, private_dirs, transaction
from ordertrack.store.orders import OPEN
from ordertrack.timeutil import to_db


def archive(db: Database, now: datetime, retention_days: int) -> tuple[int, int]:
    """Finished orders older than the retention leave the working set (their events stay);
    tracked symbols whose quantity went to 0 leave the active scope (their history stays)."""
    cutoff = to_db(now - timedelta(days=retention_days))
    marks = ", ".join("?" * len(OPEN))
    with transaction(db):
        orders = db.execute(
            "UPDATE orders SET archived_at = ? WHERE archived_at IS NULL AND status NOT IN"
            f" ({marks}) AND updated_at < ?",
            (to_db(now), *OPEN, cutoff),
        ).rowcount
        symbols = db.execute(
            "UPDATE tracking SET status = 'ARCHIVED', updated_at = ? WHERE status = 'ACTIVE'"
            " AND tracked_qty = 0 AND EXISTS (SELECT 1 FROM tracking_changes c WHERE"
            " c.symbol = tracking.symbol AND c.qty_after > 0 AND c.at >= tracking.started_at)",
            (to_db(now),),
        ).rowcount
    return orders, symbols


# A delivery is finished once SENT or FAILED; an outbox row once it is SENT, FAILED or muted
# (OFF) and every delivery it had is gone.
_FINISHED = "('SENT', 'FAILED')"
_ROW_FINISHED = "('SENT', 'FAILED', 'OFF')"
# `+status`: find rows by age (the created_at indexes), not by status, which would walk every
# delivery ever sent.
_FORGET = (
    (
        "deliveries",
        f"DELETE FROM deliveries WHERE created_at < :cutoff AND +status IN {_FINISHED}"
        " AND coalesce(sent_at, created_at) < :cutoff",
    ),
    (
        "webhook_deliveries",
        "DELETE FROM webhook_deliveries WHERE created_at < :cutoff"
        f" AND +status IN {_FINISHED} AND coalesce(sent_at, created_at) < :cutoff",
    ),
    # rows that travelled in a digest go with it, once the digest is finished
    (
        "outbox",
        "DELETE FROM outbox WHERE created_at < :cutoff AND +status = 'DIGESTED'"
        " AND EXISTS (SELECT 1 FROM outbox g WHERE g.id = outbox.digest_id"
        f" AND g.status IN {_ROW_FINISHED} AND g.created_at < :cutoff)",
    ),
    # a run alert is a source of the event feed, which is kept whole
    (
        "outbox",
        f"DELETE FROM outbox WHERE created_at < :cutoff AND +status IN {_ROW_FINISHED}"
        f" AND kind != '{EventKind.SYSTEM_ALERT}' AND coalesce(sent_at, created_at) < :cutoff"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.outbox_id = outbox.id)"
        " AND NOT EXISTS (SELECT 1 FROM outbox m WHERE m.digest_id = outbox.id)",
    ),
)


def forget_deliveries(db: Database, now: datetime, keep_days: int) -> dict[str, int]:
    """Delete finished deliveries (Telegram's and the webhooks'), finished outbox rows and the
    bot's claimed updates older than `keep_days`: rows per table. Orders, events and the feed
    stay; nothing still waiting or being sent is touched, and an outbox row goes only after all
    its deliveries."""
    cutoff = {"cutoff": to_db(now - timedelta(days=keep_days))}
    gone = dict.fromkeys(("deliveries", "webhook_deliveries", "outbox", "bot_updates"), 0)
    # Telegram keeps an update 24 hours: a claim older than two days can never be asked again
    claims = {"cutoff": to_db(now - timedelta(days=max(keep_days, 2)))}
    with transaction(db):
        for table, statement in _FORGET:
            gone[table] += db.execute(statement, cutoff).rowcount
        gone["bot_updates"] = db.execute(
            "DELETE FROM bot_updates WHERE claimed_at < :cutoff", claims
        ).rowcount
    return gone


def integrity(db: Database) -> str:
    """'ok', or SQLite's first complaint."""
    return str(db.execute("PRAGMA integrity_check(1)").fetchone()[0])


def _own_backup_name(stem: str) -> re.Pattern[str]:
    """This database's backups exactly: `ot-20261123.db` is ot.db's, `ot-paper-20261123.db`
    is not (it belongs to ot-paper.db)."""
    return re.compile(rf"{re.escape(stem)}-\d{{8}}\.db")


def _safe_folder(folder: Path) -> None:
    """Refuse a backups folder another user owns or can write: they could plant or swap the
    files retention deletes or eod reports."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise DatabaseError(f"{folder} is not a folder; nothing was written there")
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise DatabaseError(
            f"folder {folder} is owned or writable by another user (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); nothing was written there: chmod 700 it, or "
            "remove it and let eod create it"
        )


def own_backups(folder: Path, stem: str) -> list[Path]:
    """This database's backups in `folder`, oldest first."""
    return owned_matching(folder, _own_backup_name(stem))


def owned_matching(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Regular files in `folder` whose whole name fits `pattern` and that this user owns,
    oldest (by name) first: a planted file is never counted or deleted."""
    found = []
    for path in folder.iterdir():
        if not pattern.fullmatch(path.name):
            continue
        info = path.lstat()
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid():
            found.append(path)
    return sorted(found)


def private_folder(folder: Path) -> Path:
    """`folder` created owner-only if missing, refused if another user owns or can write it."""
    if not folder.exists():
        private_dirs(folder)
    _safe_folder(folder)
    return folder


def prune(found: list[Path], current: Path, keep: int) -> None:
    """Delete all but the newest `keep` of `found`; `current` (just written) always stays, even
    when a clock set back makes it sort before older ones."""
    older = [p for p in found if p != current]
    for old in older[: max(len(older) - (keep - 1), 0)]:
        old.unlink()


def _remove_partials(folder: Path, stem: str) -> None:
    """An earlier killed copy of this database (never one of another database's)."""
    pattern = re.compile(rf"\.{re.escape(stem)}-\d{{8}}\.db\.partial.*")
    for stale in folder.iterdir():
        if pattern.fullmatch(stale.name) and stale.lstat().st_uid == os.getuid():
            stale.unlink(missing_ok=True)


def backup(db: Database, db_path: Path, now: datetime, keep: int) -> Path | None:
    """A consistent copy (VACUUM INTO) in backups/ beside the database; the newest `keep` of
    its own stay. Raises DatabaseError when the folder is unsafe or the copy is not there."""
    if keep <= 0:
        return None
    folder = private_folder(db_path.parent / "backups")
    target = folder / f"{db_path.stem}-{ist_date(now):%Y%m%d}.db"
    files.check_target(target)  # VACUUM INTO then a rename: never over a FIFO or a device
    partial = folder / f".{target.name}.partial"  # killed mid-copy: never taken for a backup
    _remove_partials(folder, db_path.stem)
    # Created empty and owner-only first: VACUUM INTO would use the umask's permissions.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    os.close(fd)
    db.execute("VACUUM INTO ?", (str(partial),))
    os.replace(partial, target)
    prune(own_backups(folder, db_path.stem), target, keep)
    if not target.is_file():
        raise DatabaseError(f"backup {target} is missing right after it was written")
    return target


def size(db_path: Path) -> int:
    return sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists())
