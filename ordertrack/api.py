"""Python API for engines written in Python: the same code paths as the CLI.

    from ordertrack import register_order
    register_order("INFY", "buy", 100, order_id="250122000700111", price=1850.0)
"""

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ordertrack import config
from ordertrack.errors import DatabaseProblem, LockHeld, UsageProblem
from ordertrack.jobs import register
from ordertrack.store.db import open_db
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
    settings, problem = config.load_for_registration(os.environ, Path(db_path) if db_path else None)
    if problem:
        sys.stderr.write(f"ordertrack: {one_line(redact(problem))}\n")
    with _database_errors():
        db = open_db(settings.db_path)
        try:
            return register.register_order(
                db, utcnow(), symbol=symbol, side=side, qty=qty, order_id=order_id,
                price=price, amo=amo, placed_at=placed_at, tag=tag, completes=completes)[0]
        finally:
            db.close()


def track_symbol(symbol: str, qty: int = 0, *, db_path: Path | str | None = None) -> str:
    """Start tracking a symbol with the quantity the system owns. Returns 'added' or 'unchanged'."""
    name = register.checked_symbol(symbol)
    if qty < 0:
        raise UsageProblem("qty must not be negative")
    settings = config.load(os.environ, Path(db_path) if db_path else None)
    with _database_errors():
        db = open_db(settings.db_path)
        try:
            return register.track(db, name, qty, utcnow())
        finally:
            db.close()
