"""Python API for engines written in Python: the same code paths as the CLI, in-process.

    from ordertrack import register_order
    register_order("INFY", "buy", 100, order_id="250122000700111", price=1850.0)

An engine that registers many orders keeps one connection open instead of opening the
database for each (each registration is still committed before `add` returns):

    from ordertrack import registrations
    with registrations() as orders:
        orders.add("INFY", "buy", 100, order_id="250122000700111")
        orders.add("TCS", "sell", 5, tag="tcs-exit-1")
"""

import os
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ordertrack import config
from ordertrack.errors import DatabaseError, LockHeld, OutOfRange, UsageError
from ordertrack.jobs import register
from ordertrack.store import feed
from ordertrack.store.db import Database, open_db
from ordertrack.text import one_line, redact
from ordertrack.timeutil import to_db, utcnow


@contextmanager
def _database_errors() -> Iterator[None]:
    """SQLite's own errors (a full disk, a locked or corrupt file) as ordertrack's, the way the
    command line reports them: a caller catches OrdertrackError, not sqlite3 internals."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise LockHeld("the database stayed locked by another program; try again") from exc
        raise DatabaseError(f"database error: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"database error: {exc}") from exc


class Registrar:
    """Registrations over one open database connection: see registrations()."""

    def __init__(self, db: Database):
        self._db = db

    def add(
        self,
        symbol: str,
        side: str,
        qty: int,
        *,
        order_id: str | None = None,
        price: float | None = None,
        amo: bool = False,
        placed_at: datetime | str | None = None,
        tag: str | None = None,
        completes: str | None = None,
    ) -> str:
        """As register_order(), on this connection."""
        if isinstance(placed_at, datetime):
            if placed_at.tzinfo is None:
                raise UsageError("placed_at must be timezone-aware")
            placed_at = to_db(placed_at)
        with _database_errors():
            return register.register_order(
                self._db,
                utcnow(),
                symbol=symbol,
                side=side,
                qty=qty,
                order_id=order_id,
                price=price,
                amo=amo,
                placed_at=placed_at,
                tag=tag,
                completes=completes,
            )[0]


def _where(
    db_path: Path | str | None, account: str | None
) -> tuple[Mapping[str, str], Path | None, Path | None]:
    """The environment, database and TOML to load: the process's, or account NAME's own
    (issue 29: its env file read by ordertrack, the shell's settings ignored; with db_path or
    ORDERTRACK_DB a UsageError, an unknown account a ConfigError)."""
    if not account:
        return os.environ, Path(db_path) if db_path else None, None
    from ordertrack.jobs import accounts

    accounts.refuse_overrides(Path(db_path) if db_path else None, None, os.environ)
    where = accounts.require(os.environ, account)
    toml = where.toml if where.toml.is_file() else None
    return accounts.environment(os.environ, where), where.db, toml


@contextmanager
def registrations(
    db_path: Path | str | None = None, *, account: str | None = None
) -> Iterator[Registrar]:
    """One connection for many registrations, e.g. an engine's whole session. Each add() is
    committed before it returns, as with register_order(). A bad setting registration does not
    use is a warning on stderr, not an error: the engine must never drop an order for it.
    `account`: account NAME's database (docs/accounts.md), as `ordertrack --account NAME`."""
    env, path, toml = _where(db_path, account)
    settings, problem = config.load_for_registration(env, path, toml)
    if account:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if problem:
        sys.stderr.write(f"ordertrack: {one_line(redact(problem))}\n")
    with _database_errors():
        db = open_db(settings.db_path)
    try:
        yield Registrar(db)
    finally:
        db.close()


def register_order(
    symbol: str,
    side: str,
    qty: int,
    *,
    order_id: str | None = None,
    price: float | None = None,
    amo: bool = False,
    placed_at: datetime | str | None = None,
    tag: str | None = None,
    completes: str | None = None,
    db_path: Path | str | None = None,
    account: str | None = None,
) -> str:
    """Register an order the engine placed. Returns 'added', 'unchanged' or 'resolved' (the id
    completes an order registered earlier without one: under the same tag, the only open one
    with the same symbol, side and quantity, or the one named by `completes`, '#N').

    Raises ordertrack.errors.UsageError for bad or conflicting details, DatabaseError when
    the database cannot take it (full disk, not a database).
    """
    with registrations(db_path, account=account) as orders:
        return orders.add(
            symbol,
            side,
            qty,
            order_id=order_id,
            price=price,
            amo=amo,
            placed_at=placed_at,
            tag=tag,
            completes=completes,
        )


def track_symbol(
    symbol: str, qty: int = 0, *, db_path: Path | str | None = None, account: str | None = None
) -> str:
    """Start tracking a symbol with the quantity the system owns. Returns 'added' or 'unchanged'."""
    name = register.checked_symbol(symbol)
    if type(qty) is not int or not 0 <= qty <= register.MAX_QTY:
        raise OutOfRange(
            f"qty must be a whole number from 0 to {register.MAX_QTY},"
            f" not {one_line(repr(qty), 40)}"
        )
    settings = config.load(*_where(db_path, account))
    with _database_errors():
        db = open_db(settings.db_path)
        try:
            return register.track(db, name, qty, utcnow())
        finally:
            db.close()


def events(
    since: int = 0,
    kinds: Sequence[str] = (),
    limit: int | None = None,
    *,
    db_path: Path | str | None = None,
    account: str | None = None,
) -> list[dict[str, Any]]:
    """Recorded events after the cursor `since` (the last event id the caller handled; 0 for
    all), oldest first, in the schema of docs/events.md. Store the last id handled and pass it
    back to resume exactly after it. `since` and `limit` beyond SQLite's integers (2**63 - 1)
    raise OutOfRange, a UsageError and a ValueError."""
    feed.checked_window(since, limit)
    settings = config.load(*_where(db_path, account))
    with _database_errors():
        db = open_db(settings.db_path, create=False)
        try:
            return feed.since(db, since, feed.checked_kinds(kinds), limit)
        finally:
            db.close()
