"""The single-flight lock that keeps broker-facing runs from overlapping, and the login lease.

A lock is a lease row: it names its holder (pid, host) and expires, so a run killed with
SIGKILL blocks the next one only until its lease runs out or its pid is seen to be gone.
"""

import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ordertrack.errors import LockHeld, Warn, to_stderr
from ordertrack.store.db import Database, transaction
from ordertrack.text import one_line
from ordertrack.timeutil import from_db, show, to_db, utcnow

LOCK_NAME = "broker-run"
POLL_SECONDS = 0.25
SAY_WAITING_AFTER = 2.0  # seconds of waiting before a run says what it waits for


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def boot_id() -> str | None:
    """This boot of the machine (Linux), or None where it cannot be told."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux), or None: gone or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rpartition(")")[2].split()[19])  # field 22: the name may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def holder_gone(pid: int, holder_boot: str | None, holder_started: int | None) -> bool:
    """Whether the process that took a lock on this host has ended. Its pid may since name
    another process (a restarted container's PID 1): a different boot or start time says so."""
    if holder_boot is not None and boot_id() not in (None, holder_boot):
        return True
    if holder_started is not None and boot_id() is not None:
        return start_time(pid) != holder_started
    return not pid_alive(pid)


def _host() -> str:
    """This machine's name, as socket.gethostname() gives it (uname's node name) without
    loading the socket module on every run."""
    return platform.node()


def _token(size: int) -> str:
    """`size` random bytes in hex: what secrets.token_hex does, without its imports (hmac,
    hashlib, random: ~5 ms of a verify's start)."""
    return os.urandom(size).hex()


def claimant() -> str:
    """How a delivery claim names this process: host:pid:start time:boot id:random, enough for
    a later run to tell that the process is gone, even if its pid now names another one."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{start_time(pid) or ''}:{boot_id() or ''}:{_token(4)}"


def claimant_gone(claimed_by: str | None) -> bool:
    """Whether the process that made a claim (named by claimant()) has ended. A claim from
    another host, or named some other way, is left to its lease. Claims made before 0.3 name
    only host:pid:random: their pid alone is asked."""
    parts = (claimed_by or "").split(":")
    if len(parts) >= 5 and parts[-4].isdigit():
        host, pid, started, boot = ":".join(parts[:-4]), int(parts[-4]), parts[-3], parts[-2]
        return host == _host() and holder_gone(
            pid, boot or None, int(started) if started.isdigit() else None
        )
    if len(parts) >= 3 and parts[-2].isdigit():
        return ":".join(parts[:-2]) == _host() and not pid_alive(int(parts[-2]))
    return False


def _free(row: tuple[Any, ...] | None, now: datetime, host: str) -> bool:
    if row is None:
        return True
    _, pid, holder_host, _, expires_at, holder_boot, holder_started = row
    if from_db(expires_at) <= now:  # type: ignore[operator]
        return True
    return holder_host == host and holder_gone(pid, holder_boot, holder_started)


def _sweep(db: Database, now: datetime, host: str) -> None:
    """Drop every lease whose holder is gone: a run killed while holding the login lease leaves
    a row that no later run takes (they reuse the session it saved), and it must not linger."""
    rows = db.execute(
        "SELECT name, command, pid, host, acquired_at, expires_at, boot_id, started FROM locks"
    ).fetchall()
    for name, *row in rows:
        if _free(tuple(row), now, host):
            db.execute("DELETE FROM locks WHERE name = ?", (name,))


def _try_take(
    db: Database, name: str, command: str, token: str, duration: timedelta
) -> tuple[Any, ...] | None:
    """Take the lease; None on success, else the holder's row."""
    now, host = utcnow(), _host()
    with transaction(db):
        _sweep(db, now, host)
        row = db.execute(
            "SELECT command, pid, host, acquired_at, expires_at, boot_id, started FROM locks"
            " WHERE name = ?",
            (name,),
        ).fetchone()
        if not _free(row, now, host):
            return tuple(row)
        db.execute(
            "INSERT OR REPLACE INTO locks (name, command, pid, host, token, acquired_at,"
            " expires_at, boot_id, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                command,
                os.getpid(),
                host,
                token,
                to_db(now),
                to_db(now + duration),
                boot_id(),
                start_time(os.getpid()),
            ),
        )
    return None


@contextmanager
def lease(
    db: Database,
    name: str,
    command: str,
    wait_seconds: float,
    duration: timedelta,
    busy: Callable[[tuple[Any, ...]], Exception],
    waiting: Callable[[tuple[Any, ...]], None] | None = None,
) -> Iterator[None]:
    """Hold the lease row `name` for the block, waiting up to `wait_seconds` for its holder.

    The wait is counted in polls, not clock time: a frozen or jumping clock cannot make it
    endless. `busy(holder_row)` is the error raised when the wait runs out; `waiting(holder_row)`
    is called once, after SAY_WAITING_AFTER seconds of waiting.
    """
    token = _token(8)
    polls = int(wait_seconds / POLL_SECONDS)
    say_after = int(SAY_WAITING_AFTER / POLL_SECONDS)
    while (holder := _try_take(db, name, command, token, duration)) is not None:
        if polls <= 0:
            raise busy(holder)
        if say_after == 0 and waiting is not None:
            waiting(holder)
        polls, say_after = polls - 1, say_after - 1
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        with transaction(db):
            db.execute("DELETE FROM locks WHERE name = ? AND token = ?", (name, token))


def single_flight(
    db: Database, command: str, wait_seconds: float, duration: timedelta, warn: Warn = to_stderr
) -> AbstractContextManager[None]:
    """The broker-run lock: one verify, reconcile or eod at a time; `warn` says, once, that
    this run waits for another."""

    def busy(holder: tuple[Any, ...]) -> Exception:
        return LockHeld(
            f"another run ({holder[0]}, pid {holder[1]}) holds the lock since "
            f"{show(from_db(holder[3]))}; try again when it finishes"
        )

    def waiting(holder: tuple[Any, ...]) -> None:
        warn(
            f"waiting for another run ({one_line(str(holder[0]))}, pid {holder[1]}, since "
            f"{show(from_db(holder[3]))}) to finish; Ctrl-C to stop"
        )
        sys.stderr.flush()  # a reader of this pipe sees the line while the run waits

    return lease(db, LOCK_NAME, command, wait_seconds, duration, busy, waiting)
