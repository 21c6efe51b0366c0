"""A broker session kept in the database, so consecutive cron runs do not log in again.

Kotak keeps one session per account: two runs logging in at once expire each other's tokens.
So "check the stored session → log in → store it" runs under a short lease row (the pattern
of runlog.single_flight): a second run waits for the first, then reuses what it stored. The
lease is a row, not an open write transaction, so the database stays writable during login.
"""

import base64
import binascii
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ordertrack.db import transaction
from ordertrack.errors import BrokerUnavailable
from ordertrack.timeutil import UTC, from_db, to_db, to_ist, utcnow

# Log in again this long before the token's own expiry, so a run does not start on a token
# that dies halfway through it.
EXPIRY_MARGIN = timedelta(minutes=2)
# Longer than the slowest login (two requests, each bounded by the login retry policy).
LEASE = timedelta(minutes=3)
POLL_SECONDS = 0.2
# Waiting is counted in polls, not clock time: a lease always ends within LEASE, and a frozen
# or jumping clock must not turn the wait into an endless one.
MAX_POLLS = int((LEASE.total_seconds() + 30) / POLL_SECONDS)


@dataclass(frozen=True)
class Session:
    token: str = field(repr=False)
    sid: str = field(repr=False)
    base_url: str
    created_at: datetime
    expires_at: datetime | None
    trading_day: date

    @classmethod
    def create(cls, token: str, sid: str, base_url: str, now: datetime) -> "Session":
        return cls(token, sid, base_url.rstrip("/"), now, jwt_expiry(token), ist_day(now))


def ist_day(now: datetime) -> date:
    return to_ist(now).date()


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying the signature (we only schedule a
    re-login with it; the server remains the judge of validity). None when absent or unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def reusable(session: Session, now: datetime, stale_token: str | None = None) -> bool:
    """A stored session may serve this run: logged in on today's IST date, not about to
    expire, and not the token the broker just refused."""
    if session.token == stale_token:
        return False
    if session.trading_day != ist_day(now):
        return False
    return session.expires_at is None or session.expires_at - EXPIRY_MARGIN > now


# ---- storage ---------------------------------------------------------------------------------


def load(db: Database, broker: str) -> Session | None:
    row = db.execute(
        "SELECT token, sid, base_url, created_at, expires_at, trading_day FROM broker_sessions"
        " WHERE broker = ?", (broker,)).fetchone()
    if row is None:
        return None
    token, sid, base_url, created_at, expires_at, day = row
    try:
        return Session(token, sid, base_url, datetime.fromisoformat(created_at),
                       from_db(expires_at), date.fromisoformat(day))
    except (TypeError, ValueError):
        return None  # an unreadable row is no session: log in and overwrite it


def save(db: Database, broker: str, session: Session) -> None:
    with transaction(db):
        db.execute(
            "INSERT OR REPLACE INTO broker_sessions (broker, token, sid, base_url, expires_at,"
            " trading_day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (broker, session.token, session.sid, session.base_url,
             to_db(session.expires_at) if session.expires_at else None,
             session.trading_day.isoformat(), to_db(session.created_at)))


# ---- the login lease -------------------------------------------------------------------------


def _holder_gone(row: tuple[Any, ...], now: datetime, host: str) -> bool:
    pid, holder_host, expires_at = row
    if from_db(expires_at) <= now:  # type: ignore[operator]
        return True
    if holder_host != host:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _try_lease(db: Database, name: str, token: str) -> bool:
    now, host = utcnow(), socket.gethostname()
    with transaction(db):
        row = db.execute("SELECT pid, host, expires_at FROM locks WHERE name = ?",
                         (name,)).fetchone()
        if row is not None and not _holder_gone(row, now, host):
            return False
        db.execute(
            "INSERT OR REPLACE INTO locks (name, command, pid, host, token, acquired_at,"
            " expires_at) VALUES (?, 'login', ?, ?, ?, ?, ?)",
            (name, os.getpid(), host, token, to_db(now), to_db(now + LEASE)))
    return True


@contextmanager
def login_lease(db: Database, broker: str) -> Iterator[None]:
    name, token = f"login:{broker}", secrets.token_hex(8)
    polls = 0
    while not _try_lease(db, name, token):
        polls += 1
        if polls >= MAX_POLLS:
            raise BrokerUnavailable("another ordertrack run is still logging in to the broker;"
                                    " try again in a few minutes")
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        with transaction(db):
            db.execute("DELETE FROM locks WHERE name = ? AND token = ?", (name, token))


def obtain(db: Database, broker: str, login: Callable[[], Session],
           stale_token: str | None = None) -> tuple[Session, bool]:
    """Today's stored session, or a new one from `login` (stored for later runs).
    Returns (session, logged_in_now). `stale_token` is one the broker has just refused."""
    found = load(db, broker)
    if found is not None and reusable(found, utcnow(), stale_token):
        return found, False
    with login_lease(db, broker):
        found = load(db, broker)  # another run may have logged in while we waited
        if found is not None and reusable(found, utcnow(), stale_token):
            return found, False
        session = login()
        save(db, broker, session)
        return session, True
