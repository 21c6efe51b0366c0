"""The one place that opens the database: owner-only file, WAL, busy timeout, migrations."""

import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordertrack.errors import DatabaseError, Warn, to_stderr

if TYPE_CHECKING:
    import sqlite_utils

# Long enough that a verify meeting an eod waits instead of failing with "database is locked":
# every write transaction ordertrack makes is short (no network inside one).
BUSY_TIMEOUT_SECONDS = 60.0
MISSING_HINT = "it is created by the first `pending add` or `verify`"
# How many migrations store/migrations.py holds, and the newest: a database that has applied
# exactly these opens without loading sqlite-utils (tests/test_db.py keeps this in step).
SCHEMA = (17, "m017_bot")
MAX_INT = 2**63 - 1  # SQLite's largest integer: the bound of event ids and of --limit
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Database:
    """An open database: the sqlite3 connection and the calls ordertrack makes on it, with
    sqlite-utils' semantics (a write outside a transaction commits at once). sqlite-utils
    itself takes longer to import than the rest of a `pending add`: it loads only for
    migrations, or when one of its other methods is asked of this object."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._full: sqlite_utils.Database | None = None

    def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None
    ) -> sqlite3.Cursor:
        was_in_transaction = self.conn.in_transaction
        try:
            cursor = self.conn.execute(sql, () if parameters is None else parameters)
        except Exception:
            if not was_in_transaction and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")  # the failed statement's implicit transaction
            raise
        if (
            not was_in_transaction
            and self.conn.in_transaction
            and cursor.description is None
            and not sql.lstrip().upper().startswith(_TRANSACTION_CONTROL)
        ):
            self.conn.execute("COMMIT")
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        """For batches inside the caller's transaction (see transaction())."""
        return self.conn.executemany(sql, rows)

    def query(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()
    ) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, parameters)
        names = [d[0] for d in cursor.description]
        for values in cursor:
            yield dict(zip(names, values, strict=False))

    def close(self) -> None:
        self.conn.close()

    @property
    def full(self) -> "sqlite_utils.Database":
        """sqlite-utils' Database on the same connection."""
        if self._full is None:
            import sqlite_utils

            self._full = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._full

    def __getattr__(self, name: str) -> Any:
        return getattr(self.full, name)

    def __getitem__(self, table: str) -> Any:
        return self.full[table]


def private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents 0700 whatever the umask (mkdir's mode is masked
    by it, and `mkdir -p` parents ignore the mode altogether)."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for each in reversed(missing):
        try:
            each.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another run made it a moment ago
        each.chmod(0o700)


def _check_file(path: Path) -> None:
    """Refuse a folder or an unreadable file before SQLite opens it. Nothing here opens the
    file: closing any descriptor of it would drop every POSIX lock this process holds on it,
    and an engine may hold a `registrations()` session open while it calls another API
    function (see open_again). A file that is not SQLite is refused from SQLite's own answer."""
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a database file")
    if not os.access(path, os.R_OK):
        raise DatabaseError(f"cannot read database {path}: permission denied")


def _owner_only(path: Path, warn: Warn) -> None:
    """A database others can read exposes the broker session: make it 0600 (its WAL and shm
    follow the database's mode), saying so in one line; refuse one this user cannot fix."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:  # a dangling link planted after the check
        raise DatabaseError(f"database {path} vanished while opening it") from None
    if not mode & 0o077:
        return
    try:
        for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if each.exists():
                each.chmod(0o600)
    except OSError as exc:
        raise DatabaseError(
            f"database {path} is readable by others (mode {mode:04o}) and "
            f"cannot be made owner-only: {exc.strerror}; chmod 600 it"
        ) from None
    warn(f"database {path} was readable by others (mode {mode:04o}); made it owner-only (0600)")


def _refuse_dangling_link(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise DatabaseError(
            f"database path {path} is a symbolic link to {os.readlink(path)}, which does not "
            "exist: ordertrack does not create a database through a link; point ORDERTRACK_DB "
            "/ --db at the real path, or remove the link"
        )


def _create(path: Path) -> None:
    for folder in (path.parent, *path.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise DatabaseError(f"cannot create database {path}: {folder} is not a folder")
    private_dirs(path.parent)
    try:
        # O_EXCL never follows a link: the file is new, ours and 0600 (mode & ~umask, so fchmod)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _refuse_dangling_link(path)  # a link planted since the first look
        return  # another run created it a moment ago
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def open_db(path: Path, create: bool = True, warn: Warn = to_stderr) -> Database:
    """Open (creating if needed, unless `create` is False) and migrate the database, or raise
    DatabaseError. `warn` says what was mended on the way (a mode made owner-only)."""
    path = path.expanduser()
    _refuse_dangling_link(path)
    if path.exists():
        _check_file(path)
    elif not create:
        raise DatabaseError(f"no database at {path} (ORDERTRACK_DB / --db); {MISSING_HINT}")
    else:
        try:
            _create(path)
        except OSError as exc:
            raise DatabaseError(f"cannot create database {path}: {exc.strerror}") from None
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS)
    try:
        db = Database(conn)
        conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils' Database sets it
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        # The first read of the file: SQLite refuses one that is not a database here, before
        # its mode is touched; then the file and the WAL this read opened become owner-only.
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        _owner_only(path, warn)
        if journal != "wal":
            with db.ensure_autocommit_on():
                conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # With foreign keys on, an insert that fires a trigger (every event joins the feed)
        # keeps a statement journal; in a temporary file that tripled the insert's cost.
        conn.execute("PRAGMA temp_store = MEMORY")
        migrate(db, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:  # the header, refused
            raise DatabaseError(
                f"{path} is not an ordertrack database (not an SQLite file)"
            ) from None
        raise DatabaseError(f"cannot use database {path}: {exc}") from None
    except BaseException:  # DatabaseError (a mode it cannot mend) and anything unforeseen
        conn.close()
        raise
    return db


def open_again(path: Path) -> Database:
    """A second connection, for another thread of this process, to a database open_db has
    already opened, checked and migrated. Nothing here opens the file itself: closing any
    descriptor of it drops every POSIX lock this process holds on it — SQLite's WAL read lock
    among them — and another process's last close could then delete the WAL under us (seen
    as 'disk I/O error' and lost runs)."""
    conn = sqlite3.connect(str(path.expanduser()), timeout=BUSY_TIMEOUT_SECONDS)
    conn.execute("PRAGMA recursive_triggers = on")
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    return Database(conn)


def _schema_current(db: Database) -> bool:
    """True when the database has applied exactly the known migrations (one small query)."""
    try:
        found = db.execute(
            "SELECT count(*), max(name) FROM _sqlite_migrations WHERE migration_set = 'ordertrack'"
        ).fetchone()
    except sqlite3.OperationalError:  # no migrations table yet: a new database
        return False
    return tuple(found) == SCHEMA


def migrate(db: Database, path: Path | str = "database") -> None:
    if _schema_current(db):
        return
    from ordertrack.store.migrations import MIGRATIONS

    full = db.full
    known = {m.name for m in MIGRATIONS._migrations}
    applied = {m.name for m in MIGRATIONS.applied(full)}
    if applied - known:
        newest = sorted(applied - known)[-1]
        raise DatabaseError(
            f"{path} was written by a newer ordertrack (schema {newest}); upgrade ordertrack"
        )
    if not applied and set(full.table_names()) - {MIGRATIONS.migrations_table}:
        raise DatabaseError(f"{path} is an SQLite database, but not an ordertrack one")
    if not MIGRATIONS.pending(full):
        return
    with transaction(db):  # serialises two first runs that race to create the schema
        MIGRATIONS.apply(full)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    Taking it late, on the first write after a read, is what makes SQLite answer
    "database is locked" without waiting; up front, the busy timeout applies.
    """
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


def schema_version(db: Database) -> str:
    """The newest migration applied (the last recorded), or 'none'."""
    try:
        row = db.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'ordertrack'"
            " ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:  # no migrations table
        return "none"
    return row[0] if row else "none"
