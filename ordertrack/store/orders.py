"""Reading and writing orders and their events. Callers own the transaction."""

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from ordertrack.core.models import Change, Event, EventKind, Order, Side, Status
from ordertrack.store.db import Database
from ordertrack.timeutil import from_db, to_db

OPEN = tuple(s.value for s in Status if s.is_open)
IS_OPEN = f"status IN ({', '.join(repr(s) for s in OPEN)})"


def order_from_row(row: dict[str, Any]) -> Order:
    return Order(
        id=row["id"],
        order_id=row["order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        amo=bool(row["amo"]),
        tag=row["tag"],
        placed_at=from_db(row["placed_at"]),  # type: ignore[arg-type]
        status=Status(row["status"]),
        filled_qty=row["filled_qty"],
        avg_price=row["avg_price"],
        reason=row["reason"],
        broker_status=row["broker_status"],
        missing_count=row["missing_count"],
        missing_since=from_db(row.get("missing_since")),
        updated_at=from_db(row.get("updated_at")),
    )


def _rows(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return list(db.query(sql, params))


def _orders(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[Order]:
    return [order_from_row(row) for row in db.query(sql, params)]


def open_orders(db: Database, not_in: Collection[str] = ()) -> list[Order]:
    """Open orders, leaving out those whose broker id is in `not_in` (before building them:
    verify wants only the few a 10,000-row order book does not list)."""
    cursor = db.execute(f"SELECT * FROM orders WHERE {IS_OPEN} ORDER BY id")
    names = [d[0] for d in cursor.description]
    at = names.index("order_id")
    return [
        order_from_row(dict(zip(names, values, strict=False)))
        for values in cursor
        if values[at] not in not_in
    ]


def expired_orders(db: Database, order_ids: list[str]) -> list[Order]:
    """EXPIRED orders among these broker ids (a later sighting may correct them)."""
    found: list[Order] = []
    for start in range(0, len(order_ids), 500):  # below SQLite's variable limit
        chunk = order_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        found += _orders(
            db,
            f"SELECT * FROM orders WHERE status = ? AND order_id IN ({marks}) ORDER BY id",
            (Status.EXPIRED.value, *chunk),
        )
    return found


def withdrawn_orders(db: Database, order_ids: list[str]) -> list[Order]:
    """Orders the user withdrew (`pending cancel`, a WITHDRAWN event) that are still CANCELLED,
    among these broker ids: fills the broker shows later correct them."""
    found: list[Order] = []
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        found += _orders(
            db,
            f"SELECT * FROM orders o WHERE status = ? AND order_id IN ({marks}) AND EXISTS"
            " (SELECT 1 FROM events e WHERE e.order_ref = o.id AND e.kind = ?) ORDER BY id",
            (Status.CANCELLED.value, *chunk, EventKind.WITHDRAWN.value),
        )
    return found


def unconfirmed_expiries(db: Database, since: datetime, prefix: str) -> list[Order]:
    """Orders expired without the broker's confirmation since `since`, oldest first."""
    return _orders(
        db,
        "SELECT * FROM orders WHERE status = ? AND order_id IS NOT NULL"
        " AND reason LIKE ? AND updated_at >= ? ORDER BY id",
        (Status.EXPIRED.value, prefix + "%", to_db(since)),
    )


def find_order(db: Database, ref: str) -> Order | None:
    """By broker order id, or by local id written as '#12' (orders registered without an id)."""
    if ref.startswith("#") and ref[1:].isdigit() and len(ref) < 19:  # fits SQLite's integer
        found = _orders(db, "SELECT * FROM orders WHERE id = ?", (int(ref[1:]),))
    else:
        found = _orders(db, "SELECT * FROM orders WHERE order_id = ?", (ref,))
    return found[0] if found else None


def query_orders(
    db: Database, *, all_: bool, status: str | None, symbol: str | None
) -> list[Order]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    elif not all_:
        where.append(IS_OPEN)
    if symbol:
        where.append("symbol = ?")
        params.append(symbol)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _orders(db, f"SELECT * FROM orders {clause} ORDER BY placed_at, id", tuple(params))


def events_of(db: Database, order_ref: int) -> list[dict[str, Any]]:
    rows = _rows(db, "SELECT * FROM events WHERE order_ref = ? ORDER BY id", (order_ref,))
    for row in rows:  # internal to reconcile; `show --json` keeps its shape
        row.pop("broker_time", None)
    return rows


def count_by_status(db: Database) -> dict[str, int]:
    return dict(db.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())


def _open_where(db: Database, where: str, params: tuple[Any, ...]) -> list[Order]:
    return _orders(db, f"SELECT * FROM orders WHERE {IS_OPEN} AND {where} ORDER BY id", params)


def open_by_tag(db: Database, tag: str, unconfirmed: bool = False) -> Order | None:
    """The oldest open order with this tag (only one without a broker id, if `unconfirmed`)."""
    where = "tag = ?" + (" AND order_id IS NULL" if unconfirmed else "")
    found = _open_where(db, where, (tag,))
    return found[0] if found else None


def unconfirmed_repeat(
    db: Database, symbol: str, side: str, qty: int, amo: bool, placed_at: datetime
) -> Order | None:
    """The oldest open untagged order without a broker id that has all these details."""
    found = _open_where(
        db,
        "order_id IS NULL AND tag IS NULL AND symbol = ? AND side = ?"
        " AND qty = ? AND amo = ? AND placed_at = ?",
        (symbol, side, qty, int(amo), to_db(placed_at)),
    )
    return found[0] if found else None


def unconfirmed_candidates(
    db: Database, symbol: str, side: str, qty: int, tag: str | None
) -> list[Order]:
    """Open orders without a broker id that a broker order with these details could be."""
    return _open_where(
        db,
        "order_id IS NULL AND symbol = ? AND side = ? AND qty = ? AND (tag IS NULL OR tag = ?)",
        (symbol, side, qty, tag),
    )


def set_order_id(db: Database, local_id: int, order_id: str, now: datetime) -> None:
    """An order registered without a broker id gets it."""
    db.execute(
        "UPDATE orders SET order_id = ?, updated_at = ? WHERE id = ?",
        (order_id, to_db(now), local_id),
    )


def withdraw(db: Database, local_id: int, reason: str, now: datetime) -> None:
    """End an order locally as CANCELLED (a registration withdrawn by the user)."""
    db.execute(
        "UPDATE orders SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
        (Status.CANCELLED.value, reason, to_db(now), local_id),
    )


def claimed_ids(db: Database) -> set[str]:
    return {r[0] for r in db.execute("SELECT order_id FROM orders WHERE order_id IS NOT NULL")}


def insert_order(db: Database, values: dict[str, Any], now: datetime) -> int:
    stamp = to_db(now)
    cursor = db.execute(
        "INSERT INTO orders (order_id, symbol, side, qty, price, amo, tag, placed_at, status,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            values["order_id"],
            values["symbol"],
            values["side"],
            values["qty"],
            values["price"],
            int(values["amo"]),
            values["tag"],
            to_db(values["placed_at"]),
            Status.PENDING.value,
            stamp,
            stamp,
        ),
    )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def _raw_text(raw: dict[str, Any] | None) -> str | None:
    """An event's broker row as stored; json loads only for an event that has one (a
    registration has none, and `pending add` then never loads it)."""
    if raw is None:
        return None
    import json

    return json.dumps(raw, sort_keys=True)


def insert_event(
    db: Database, order_ref: int, event: Event, now: datetime, run_id: int | None
) -> int | None:
    """Record an event; None if an event with the same key exists (a re-run)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO events (order_ref, key, kind, status, filled_qty, delta_qty,"
        " avg_price, reason, broker_status, raw, at, run_id, broker_time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order_ref,
            event.key,
            event.kind,
            event.status.value,
            event.filled_qty,
            event.delta_qty,
            event.avg_price,
            event.reason,
            event.broker_status,
            _raw_text(event.raw),
            to_db(now),
            run_id,
            to_db(event.broker_time) if event.broker_time else None,
        ),
    )
    return int(cursor.lastrowid) if cursor.rowcount else None  # type: ignore[arg-type]


_ORDER_FIELDS = (
    "order_id",
    "status",
    "filled_qty",
    "avg_price",
    "reason",
    "broker_status",
    "missing_count",
    "missing_since",
)


def _column(after: Order, name: str) -> Any:
    value = getattr(after, name)
    if name == "status":
        return value.value
    return to_db(value) if isinstance(value, datetime) else value


_SAVE = (
    f"UPDATE orders SET {', '.join(f'{f} = ?' for f in _ORDER_FIELDS)}, updated_at = ? WHERE id = ?"
)


def _saved(after: Order, stamp: str) -> tuple[Any, ...]:
    return (*(_column(after, f) for f in _ORDER_FIELDS), stamp, after.id)


def save_order(db: Database, change: Change, now: datetime) -> None:
    db.execute(_SAVE, _saved(change.after, to_db(now)))


def save_orders(db: Database, changes: Iterable[Change], now: datetime) -> None:
    """save_order for many, as one statement."""
    stamp = to_db(now)
    db.executemany(_SAVE, [_saved(change.after, stamp) for change in changes])


def note_status(
    db: Database, status_text: str, order_id: str | None, raw: Any, now: datetime
) -> bool:
    """Remember an unknown broker status; True only the first time it is seen."""
    import json

    cursor = db.execute(
        "INSERT OR IGNORE INTO seen_statuses (status_text, first_seen_at, order_id, raw)"
        " VALUES (?, ?, ?, ?)",
        (status_text, to_db(now), order_id, json.dumps(raw, sort_keys=True)),
    )
    return cursor.rowcount == 1
