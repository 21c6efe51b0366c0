"""The tracking scope: symbols the system owns and how many. Quantity follows real fills."""

from datetime import datetime
from typing import Any

from ordertrack.core.models import Side
from ordertrack.store.db import Database
from ordertrack.timeutil import to_db

ACTIVE, STOPPED = "ACTIVE", "STOPPED"


def get(db: Database, symbol: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM tracking WHERE symbol = ?", (symbol,)))
    return rows[0] if rows else None


def _record(
    db: Database,
    symbol: str,
    delta: int,
    qty_after: int,
    cause: str,
    now: datetime,
    order_ref: int | None = None,
    event_id: int | None = None,
    note: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO tracking_changes (symbol, delta, qty_after, cause, order_ref, event_id,"
        " note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (symbol, delta, qty_after, cause, order_ref, event_id, note, to_db(now)),
    )


def begin_tracking(db: Database, symbol: str, qty: int, now: datetime) -> str:
    """Start tracking `symbol` with `qty` owned: 'added', 'unchanged', or ValueError."""
    row = get(db, symbol)
    if row and row["status"] == ACTIVE:
        if row["tracked_qty"] == qty:
            return "unchanged"
        raise ValueError(
            f"{symbol} is already tracked with quantity {row['tracked_qty']}; "
            f"'track stop {symbol}' first to start again with {qty}"
        )
    stamp = to_db(now)
    db.execute(
        "INSERT INTO tracking (symbol, tracked_qty, status, started_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol) DO UPDATE SET"
        " tracked_qty = excluded.tracked_qty,"
        " status = excluded.status, started_at = excluded.started_at,"
        " updated_at = excluded.updated_at, stopped_at = NULL",
        (symbol, qty, ACTIVE, stamp, stamp),
    )
    _record(db, symbol, qty, qty, "TRACK_ADD", now)
    return "added"


def stop(db: Database, symbol: str, now: datetime) -> bool:
    row = get(db, symbol)
    if not row or row["status"] != ACTIVE:
        return False
    db.execute(
        "UPDATE tracking SET status = ?, stopped_at = ?, updated_at = ? WHERE symbol = ?",
        (STOPPED, to_db(now), to_db(now), symbol),
    )
    _record(db, symbol, 0, row["tracked_qty"], "TRACK_STOP", now)
    return True


def apply_fill(
    db: Database,
    symbol: str,
    side: Side,
    delta: int,
    now: datetime,
    order_ref: int,
    event_id: int | None,
) -> int:
    """A system fill: BUY raises the tracked quantity (starting tracking), SELL lowers it.

    A sell can never take the quantity below zero: the excess was not the system's to track.
    """
    row = get(db, symbol)
    current = row["tracked_qty"] if row and row["status"] == ACTIVE else 0
    change = delta if side is Side.BUY else -min(delta, current)
    new_qty = current + change
    note = (
        None
        if change == (delta if side is Side.BUY else -delta)
        else (f"sell of {delta} exceeded the {current} tracked")
    )
    if row and row["status"] == ACTIVE:
        db.execute(
            "UPDATE tracking SET tracked_qty = ?, updated_at = ? WHERE symbol = ?",
            (new_qty, to_db(now), symbol),
        )
    elif side is Side.BUY:
        begin_tracking(db, symbol, 0, now)
        db.execute("UPDATE tracking SET tracked_qty = ? WHERE symbol = ?", (new_qty, symbol))
    else:
        return current
    _record(db, symbol, change, new_qty, "FILL", now, order_ref, event_id, note)
    return new_qty


def adjust(
    db: Database, symbol: str, new_qty: int, cause: str, now: datetime, note: str | None
) -> str:
    """Set a tracked quantity that reconciliation found wrong; at 0 tracking stops.
    Returns when tracking of the symbol started."""
    row = get(db, symbol)
    assert row is not None and row["status"] == ACTIVE
    stopped = to_db(now) if new_qty == 0 else None
    db.execute(
        "UPDATE tracking SET tracked_qty = ?, status = ?, stopped_at = ?, updated_at = ?"
        " WHERE symbol = ?",
        (new_qty, STOPPED if stopped else ACTIVE, stopped, to_db(now), symbol),
    )
    _record(db, symbol, new_qty - row["tracked_qty"], new_qty, cause, now, note=note)
    return str(row["started_at"])


def listing(db: Database, *, all_: bool) -> list[dict[str, Any]]:
    sql = "SELECT * FROM tracking" + ("" if all_ else " WHERE status = 'ACTIVE'")
    return list(db.query(sql + " ORDER BY symbol"))


def changes(db: Database, symbol: str) -> list[dict[str, Any]]:
    """Every change of a symbol's tracked quantity, oldest first, with the order behind it."""
    return list(
        db.query(
            "SELECT c.at, c.cause, c.delta, c.qty_after, o.order_id, c.order_ref, c.note"
            " FROM tracking_changes c LEFT JOIN orders o ON o.id = c.order_ref"
            " WHERE c.symbol = ? ORDER BY c.id",
            (symbol,),
        )
    )
