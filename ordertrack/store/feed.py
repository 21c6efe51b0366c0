"""The event feed engines read (`ordertrack events`, api.events): every recorded event in one
increasing sequence, the `feed` table of migration m011, in the schema docs/events.md pins.

Each feed row points at the row it announces; the event is read from there when asked for, so
the feed holds no copy that could drift from the record.
"""

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ordertrack.core.models import FILL_KINDS, KINDS, Side
from ordertrack.errors import OutOfRange, UsageError
from ordertrack.store.db import MAX_INT, Database
from ordertrack.text import one_line

SCHEMA_VERSION = 1
POLL = 0.25  # seconds between two looks at the database while following
FIELDS = (
    "schema_version",
    "id",
    "at",
    "kind",
    "order_ref",
    "order_id",
    "tag",
    "symbol",
    "side",
    "qty",
    "filled_qty",
    "delta_qty",
    "avg_price",
    "status",
    "reason",
    "tracked_qty",
    "run_id",
    "detail",
)

_SQL = """SELECT f.id, f.at, f.kind, f.source,
    e.order_ref, o.order_id, o.tag, o.side, o.qty, e.filled_qty, e.delta_qty, e.avg_price,
    e.status, e.reason, e.broker_status, e.run_id AS e_run,
    coalesce(o.symbol, t.symbol, a.symbol) AS symbol,
    t.delta, t.qty_after, t.cause, t.order_ref AS t_order_ref, t.note,
    a.action, a.tracked_before, a.owned, a.tracked_after, a.manual_orders, a.run_id AS a_run,
    x.payload, x.run_id AS x_run, sp.realised
  FROM feed f
  LEFT JOIN events e ON f.source = 'events' AND e.id = f.source_id
  LEFT JOIN sell_pnl sp ON sp.event_id = e.id
  LEFT JOIN orders o ON o.id = e.order_ref
  LEFT JOIN tracking_changes t ON f.source = 'tracking_changes' AND t.id = f.source_id
  LEFT JOIN adjustments a ON f.source = 'adjustments' AND a.id = f.source_id
  LEFT JOIN outbox x ON f.source = 'outbox' AND x.id = f.source_id
  WHERE f.id > ?"""


def since(
    db: Database, cursor: int = 0, kinds: Sequence[str] = (), limit: int | None = None
) -> list[dict[str, Any]]:
    """Events after `cursor` (an event id; 0 for all), oldest first, optionally of `kinds`."""
    sql, params = _SQL, [cursor, *kinds]
    if kinds:
        sql += f" AND f.kind IN ({','.join('?' * len(kinds))})"
    sql += " ORDER BY f.id" + (f" LIMIT {int(limit)}" if limit else "")
    return [_event(row) for row in db.query(sql, params)]


def follow(
    db: Database,
    cursor: int,
    kinds: Sequence[str] = (),
    limit: int | None = None,
    seconds: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Events after `cursor` as since() gives them, then each new one as soon as it is
    committed, for `seconds` more (0: none), at most `limit` in all. Between looks it asks only
    `PRAGMA data_version`, which changes when another connection commits, so an idle feed
    costs next to nothing."""
    left, ends = limit, None
    while True:
        version = _data_version(db)
        for event in since(db, cursor, kinds, left):
            cursor = event["id"]
            yield event
            if left is not None:
                left -= 1
                if left == 0:
                    return
        ends = clock() + seconds if ends is None else ends
        while _data_version(db) == version and clock() < ends:
            sleep(max(min(POLL, ends - clock()), 0.0))
        if clock() >= ends:  # checked here too: a busy feed must not keep it going
            return


def _data_version(db: Database) -> int:
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def checked_kinds(names: Sequence[str]) -> list[str]:
    """Kind names as the feed spells them; an unknown one is a usage error, not an empty feed
    an engine would wait on forever."""
    kinds = [n.strip().upper() for n in names if n.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(
            f"unknown event kind {one_line(unknown[0], 40)}; one of " + ", ".join(KINDS)
        )
    return kinds


def checked_window(cursor: object, limit: object) -> None:
    """`since` and `limit` as SQLite can take them: whole numbers up to its largest integer
    (a bigger one overflowed, or read as text made "datatype mismatch", not a usage error)."""
    if type(cursor) is not int or not 0 <= cursor <= MAX_INT:
        raise OutOfRange(
            f"since must be a whole number from 0 to {MAX_INT}, not {one_line(repr(cursor), 40)}"
        )
    if limit is not None and (type(limit) is not int or not 1 <= limit <= MAX_INT):
        raise OutOfRange(
            f"limit must be a whole number from 1 to {MAX_INT}, not {one_line(repr(limit), 40)}"
        )


def last_id(db: Database) -> int:
    return int(db.execute("SELECT coalesce(max(id), 0) FROM feed").fetchone()[0])


def _event(row: dict[str, Any]) -> dict[str, Any]:
    event = dict.fromkeys(FIELDS)
    event.update(
        schema_version=SCHEMA_VERSION,
        id=row["id"],
        at=row["at"],
        kind=row["kind"],
        symbol=row["symbol"],
        detail={},
    )
    event.update(_BY_SOURCE[row["source"]](row))
    return event


def _order_event(row: dict[str, Any]) -> dict[str, Any]:
    return (
        {
            key: row[key]
            for key in (
                "order_ref",
                "order_id",
                "tag",
                "side",
                "qty",
                "filled_qty",
                "delta_qty",
                "avg_price",
                "status",
                "reason",
            )
        }
        | {"run_id": row["e_run"], "detail": {"broker_status": row["broker_status"]}}
        | _realised(row)
    )


def _realised(row: dict[str, Any]) -> dict[str, Any]:
    """A sell's fill carries what it realised (null until the trade book gave its price)."""
    if row["side"] != Side.SELL or row["kind"] not in FILL_KINDS:
        return {}
    return {"realised": float(row["realised"]) if row["realised"] is not None else None}


def _tracking_change(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_ref": row["t_order_ref"],
        "delta_qty": row["delta"],
        "tracked_qty": row["qty_after"],
        "reason": row["cause"],
        "detail": {"note": row["note"]},
    }


def _manual_trade(row: dict[str, Any]) -> dict[str, Any]:
    change = row["owned"] - row["tracked_before"]
    return {
        "side": "BUY" if change > 0 else "SELL",
        "qty": abs(change),
        "tracked_qty": row["tracked_after"],
        "reason": row["action"],
        "run_id": row["a_run"],
        "detail": {
            "tracked_before": row["tracked_before"],
            "owned": row["owned"],
            "manual_orders": json.loads(row["manual_orders"]),
        },
    }


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads(row["payload"])
    return {
        "reason": payload.get("text"),
        "run_id": row["x_run"],
        "detail": {"command": payload.get("command")},
    }


_BY_SOURCE = {
    "events": _order_event,
    "tracking_changes": _tracking_change,
    "adjustments": _manual_trade,
    "outbox": _alert,
}
