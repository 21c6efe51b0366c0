"""A broker session kept in the database, so consecutive cron runs do not log in again.

Kotak keeps one session per account: two runs logging in at once expire each other's tokens.
So "check the stored session → log in → store it" runs under a short lease row (the pattern
of store.locks.lease): a second run waits for the first, then reuses what it stored. The
lease is a row, not an open write transaction, so the database stays writable during login.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ordertrack.broker.daily_token import jwt_expiry
from ordertrack.errors import BrokerUnavailable
from ordertrack.store import locks, sessions
from ordertrack.store.db import Database
from ordertrack.timeutil import from_db, to_db, to_ist, utcnow

# Log in again this long before the token's own expiry, so a run does not start on a token
# that dies halfway through it.
EXPIRY_MARGIN = timedelta(minutes=2)
# Longer than the slowest login (two requests, each bounded by the login retry policy).
LEASE = timedelta(minutes=3)
# A waiting run waits a little longer than a lease can last, so a stuck holder's lease expires
# first.
LOGIN_WAIT_SECONDS = LEASE.total_seconds() + 30


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
    row = sessions.load(db, broker)
    if row is None:
        return None
    try:
        return Session(
            row["token"],
            row["sid"],
            row["base_url"],
            datetime.fromisoformat(row["created_at"]),
            from_db(row["expires_at"]),
            date.fromisoformat(row["trading_day"]),
        )
    except (TypeError, ValueError):
        return None  # an unreadable row is no session: log in and overwrite it


def save(db: Database, broker: str, session: Session) -> None:
    sessions.save(
        db,
        broker,
        {
            "token": session.token,
            "sid": session.sid,
            "base_url": session.base_url,
            "expires_at": to_db(session.expires_at) if session.expires_at else None,
            "trading_day": session.trading_day.isoformat(),
            "created_at": to_db(session.created_at),
        },
    )


# ---- the login lease -------------------------------------------------------------------------


def login_lease(db: Database, broker: str) -> AbstractContextManager[None]:
    def busy(holder: tuple[Any, ...]) -> Exception:
        return BrokerUnavailable(
            "another ordertrack run is still logging in to the broker; try again in a few minutes"
        )

    return locks.lease(db, f"login:{broker}", "login", LOGIN_WAIT_SECONDS, LEASE, busy)


def obtain(
    db: Database, broker: str, login: Callable[[], Session], stale_token: str | None = None
) -> tuple[Session, bool]:
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
