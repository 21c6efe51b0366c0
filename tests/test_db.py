"""The database: created owner-only, WAL, migrated; anything else refused with a clear line."""

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from ordertrack.errors import DatabaseError, ExitCode
from ordertrack.store.db import open_db
from ordertrack.store.migrations import MIGRATIONS

ADD = ("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")


def test_new_database_is_owner_only_wal_and_migrated(db_path):
    db = open_db(db_path)
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 30000
    assert {"orders", "events", "tracking", "tracking_changes", "outbox", "runs", "locks"} <= set(
        db.table_names()
    )
    assert [m.name for m in MIGRATIONS.applied(db)] == [m.name for m in MIGRATIONS._migrations]


def test_opening_again_applies_nothing(db_path):
    open_db(db_path).close()
    db = open_db(db_path)
    assert MIGRATIONS.pending(db) == []


def test_missing_parent_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "ot.db"
    open_db(path).close()
    assert path.exists()


def test_file_that_is_not_a_database_is_refused_and_left_alone(cli, db_path):
    db_path.write_text("hello, I am a spreadsheet\n")
    result = cli("pending", "list")
    assert result.code == ExitCode.DATABASE
    assert "is not an ordertrack database" in result.err
    assert result.err.count("\n") == 1
    assert db_path.read_text() == "hello, I am a spreadsheet\n"


def test_corrupt_database_is_refused_with_one_line(cli, db_path):
    assert cli(*ADD).code == 0
    assert not (db_path.parent / "ordertrack.db-wal").exists()  # closed and checkpointed
    data = bytearray(db_path.read_bytes())
    for offset in range(100, len(data), 7):
        data[offset] = 0xFF
    db_path.write_bytes(bytes(data))
    result = cli("pending", "list")
    assert result.code == ExitCode.DATABASE
    assert result.err.startswith("ordertrack: ")
    assert "Traceback" not in result.err


def test_database_from_a_newer_ordertrack_is_refused_and_kept(cli, db_path, sql):
    assert cli(*ADD).code == 0
    sql(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('ordertrack', 'm999_from_the_future', 'x')"
    )
    result = cli("pending", "list")
    assert result.code == ExitCode.DATABASE
    assert "newer ordertrack" in result.err
    assert sql("SELECT count(*) FROM orders") == [(1,)]


def test_someone_elses_sqlite_database_is_refused(db_path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    with pytest.raises(DatabaseError, match="not an ordertrack one"):
        open_db(db_path)


def test_directory_instead_of_database(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_DB", str(tmp_path))
    result = cli("pending", "list")
    assert result.code == ExitCode.DATABASE
    assert "is a directory" in result.err


def test_unreadable_database(cli, db_path, monkeypatch):
    assert cli(*ADD).code == 0
    if os.geteuid() == 0:  # root reads any file: make the check fail as it would for a user
        original = os.access

        def denied(path, mode, *args, **kwargs):
            return False if Path(path) == db_path else original(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", denied)
    else:
        db_path.chmod(0o000)
    result = cli("pending", "list")
    db_path.chmod(0o600)
    assert result.code == ExitCode.DATABASE
    assert "permission denied" in result.err


@contextmanager
def read_only(path):
    """A file this process cannot write: chmod for users, the immutable flag for root."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        yield
        path.chmod(0o600)
        return
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0
    ):
        pytest.skip("root cannot make a read-only file here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_database_reads_but_refuses_writes(cli, db_path, sql):
    assert cli(*ADD).code == 0
    with read_only(db_path):
        assert cli("pending", "list", "--json").code == 0
        result = cli("pending", "add", "2", "--symbol", "TCS", "--side", "buy", "--qty", "1")
    assert result.code == ExitCode.DATABASE
    assert "readonly" in result.err
    assert result.err.count("\n") == 1
    assert sql("SELECT order_id FROM orders") == [("1",)]


def test_two_processes_creating_the_database_at_once(tmp_path):
    """Two first runs racing to create the schema: both succeed, schema applied once."""
    path = tmp_path / "race.db"
    code = f"from ordertrack.store.db import open_db; open_db(__import__('pathlib').Path({str(path)!r}))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)
    ]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(
            MIGRATIONS._migrations
        )


def test_a_file_where_the_database_folder_should_be(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    monkeypatch.setenv("ORDERTRACK_DB", str(blocker / "sub" / "ot.db"))
    result = cli(*ADD)  # a command that creates the database (status never does)
    assert result.code == ExitCode.DATABASE
    assert f"{blocker} is not a folder" in result.err


# ---- file safety (issue 12, items 1 and 2) ---------------------------------------------------


def test_a_dangling_symlink_is_refused_and_nothing_is_created(cli, tmp_path, monkeypatch):
    """It used to create the link's target through sqlite with the umask's 0644."""
    (tmp_path / "r").mkdir()
    (tmp_path / "l").mkdir()
    link = tmp_path / "l" / "ot.db"
    link.symlink_to(tmp_path / "r" / "t.db")
    monkeypatch.setenv("ORDERTRACK_DB", str(link))
    result = cli(*ADD)
    assert result.code == ExitCode.DATABASE
    assert "is a symbolic link to" in result.err and "does not exist" in result.err
    assert result.err.count("\n") == 1
    assert not (tmp_path / "r" / "t.db").exists()


def test_a_symlink_to_an_existing_database_still_works(cli, tmp_path, monkeypatch):
    real = tmp_path / "real.db"
    open_db(real).close()
    link = tmp_path / "link.db"
    link.symlink_to(real)
    monkeypatch.setenv("ORDERTRACK_DB", str(link))
    assert cli(*ADD).code == 0


def test_a_group_or_world_readable_database_is_made_owner_only_with_one_line(cli, db_path):
    assert cli(*ADD).code == 0
    db_path.chmod(0o644)
    result = cli("pending", "list")
    assert result.code == 0
    assert result.err == (
        f"ordertrack: database {db_path} was readable by others (mode 0644); "
        "made it owner-only (0600)\n"
    )
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert cli("pending", "list").err == ""


def test_new_database_and_its_folders_are_owner_only_under_umask_000(tmp_path):
    path = tmp_path / "a" / "b" / "ot.db"
    old = os.umask(0)
    try:
        open_db(path).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder


# ---- read-only commands never create a database (issue 11, item 6) -------------------------

READ_ONLY = (
    ("pending", "list"),
    ("pending", "show", "1"),
    ("track", "list"),
    ("status",),
    ("outbox", "list"),
    ("track", "show", "INFY"),
)


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_database(cli, db_path, command):
    result = cli(*command)
    assert result.code == ExitCode.DATABASE
    assert result.err == (
        f"ordertrack: no database at {db_path} (ORDERTRACK_DB / --db); it is "
        "created by the first `pending add` or `verify`\n"
    )
    assert not db_path.exists() and not db_path.parent.joinpath("ordertrack.db-wal").exists()


def test_read_only_commands_never_create_its_folder_either(cli, tmp_path):
    result = cli("--db", str(tmp_path / "nowhere" / "ot.db"), "status")
    assert result.code == ExitCode.DATABASE and "no database at" in result.err
    assert not (tmp_path / "nowhere").exists()


def test_an_empty_ordertrack_db_is_a_config_error_not_the_default(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("ORDERTRACK_DB", "")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for command in (ADD, ("status",)):
        result = cli(*command)
        assert result.code == ExitCode.CONFIG
        assert result.err == (
            "ordertrack: ORDERTRACK_DB is set but empty: set it to the database "
            "file, or unset it to use the default\n"
        )
    assert not (tmp_path / "data").exists()


def test_schema_constant_names_the_known_migrations():
    """open_db skips sqlite-utils when a database has applied exactly these migrations."""
    from ordertrack.store.db import SCHEMA

    names = [m.name for m in MIGRATIONS._migrations]
    assert (len(names), max(names)) == SCHEMA


def test_a_current_database_opens_without_sqlite_utils(db_path):
    open_db(db_path).close()
    code = (
        "import sys; from pathlib import Path; from ordertrack.store.db import open_db; "
        f"open_db(Path({str(db_path)!r})).close(); print('sqlite_utils' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_database_commits_a_write_outside_a_transaction_as_sqlite_utils_does(db_path):
    db = open_db(db_path)
    db.execute("INSERT INTO seen_statuses (status_text, first_seen_at) VALUES ('x', 'now')")
    assert not db.conn.in_transaction
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO seen_statuses (status_text, first_seen_at) VALUES ('x', 'now')")
    assert not db.conn.in_transaction
    other = sqlite3.connect(db_path)
    assert other.execute("SELECT count(*) FROM seen_statuses").fetchone()[0] == 1
    assert list(db.query("SELECT status_text FROM seen_statuses")) == [{"status_text": "x"}]
    assert "seen_statuses" in db.table_names()  # anything else comes from sqlite-utils


def test_a_second_open_in_one_process_keeps_the_first_connections_locks(tmp_path):
    """An engine holds a registrations() session and, in the same process, reads the events.
    Opening the database again must not drop the session's POSIX locks (closing any descriptor
    of the file does): another process's close would then take itself for the last one,
    checkpoint and delete the WAL, and the session's next registration would go to a deleted
    file — committed, yet seen by nobody else."""
    from ordertrack import api

    path = tmp_path / "engine.db"
    with api.registrations(path) as session:
        session.add("INFY", "buy", 1, order_id="261200000000001")
        assert api.events(db_path=path)  # a second open and close, same process
        other = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM orders').fetchall(); c.close()"
        subprocess.run([sys.executable, "-c", other, str(path)], check=True)
        assert Path(f"{path}-wal").exists()  # the other process knew it was not the last
        session.add("TCS", "buy", 1, order_id="261200000000002")
        seen = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM orders').fetchone()[0])",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    assert seen == "2"
