"""Python API for engines written in Python: the same code paths as the CLI.

    from ordertrack import register_order
    register_order("INFY", "buy", 100, order_id="250122000700111", price=1850.0)
"""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ordertrack import config
from ordertrack.jobs import register as registry
from ordertrack.store import tracking
from ordertrack.core import symbols
from ordertrack.store.db import open_db, transaction
from ordertrack.errors import DatabaseProblem, LockHeld, UsageProblem
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
        raise DatabaseProblem(f"database error: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise DatabaseProblem(f"database error: {exc}") from exc


def register_order(symbol: str, side: str, qty: int, *, order_id: str | None = None,
                   price: float | None = None, amo: bool = False,
                   placed_at: datetime | str | None = None, tag: str | None = None,
                   completes: str | None = None, db_path: Path | str | None = None) -> str:
    """Register an order the engine placed. Returns 'added', 'unchanged' or 'resolved' (the id
    completes an order registered earlier without one: under the same tag, the only open one
    with the same symbol, side and quantity, or the one named by `completes`, '#N').

    Raises ordertrack.errors.UsageProblem for bad or conflicting details, DatabaseProblem when
    the database cannot take it (full disk, not a database).
    """
    if isinstance(placed_at, datetime):
        if placed_at.tzinfo is None:
            raise UsageProblem("placed_at must be timezone-aware")
        placed_at = to_db(placed_at)
    settings = config.load(os.environ, Path(db_path) if db_path else None)
    with _database_errors():
        db = open_db(settings.db_path)
        try:
            raw = dict(order_id=order_id, symbol=symbol, side=side, qty=qty, price=price,
                       amo=amo, placed_at=placed_at, tag=tag)
            return registry.register(db, raw, utcnow(), completes)[0]
        finally:
            db.close()


def track_symbol(symbol: str, qty: int = 0, *, db_path: Path | str | None = None) -> str:
    """Start tracking a symbol with the quantity the system owns. Returns 'added' or 'unchanged'."""
    try:
        name = symbols.check(symbol)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if qty < 0:
        raise UsageProblem("qty must not be negative")
    settings = config.load(os.environ, Path(db_path) if db_path else None)
    with _database_errors():
        db = open_db(settings.db_path)
        try:
            with transaction(db):
                return tracking.start(db, name, qty, utcnow())
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        finally:
            db.close()
