"""The daily summary of one IST trading day, gathered from the database as plain data (its
wording is notify/messages.py's).

A trading day's orders are those registered from the previous session's close to its own
close (an order registered on a Sunday evening belongs to Monday's session). Each is counted
once, by its state at the end of the period: the next session's open by default, so what the
day's eod (on time, late, or on a weekend) settles still counts for the day. The outcome counts
therefore add up to "placed". The daily summary, the HTML report and `status --json` all read
these numbers from here.
"""

from datetime import date, datetime
from typing import Any

from ordertrack.core.lifecycle import UNCONFIRMED
from ordertrack.core.models import EventKind, Status
from ordertrack.core.trading_calendar import Calendar
from ordertrack.store.db import Database
from ordertrack.timeutil import to_db

# The counts, in the summary's order; they add up to "placed".
OUTCOMES = (
    "executed",
    "rejected",
    "cancelled",
    "partially_filled",
    "expired",
    "unconfirmed",
    "still_pending",
)
_FINAL = {Status.EXECUTED: "executed", Status.REJECTED: "rejected", Status.CANCELLED: "cancelled"}
_ENDINGS = (EventKind.EXECUTED, EventKind.REJECTED, EventKind.CANCELLED, EventKind.EXPIRED)
_KIND_IN = f"e.kind IN {tuple(k.value for k in _ENDINGS)}"  # the events that end an order


def window(day: date, calendar: Calendar) -> tuple[datetime, datetime]:
    """[start, end) of registration that makes an order one of `day`'s."""
    return calendar.close_of(calendar.previous_trading_day(day)), calendar.close_of(day)


def settled_by(day: date, calendar: Calendar) -> datetime:
    """The moment the day's picture is taken: the next session's open."""
    return calendar.open_of(calendar.next_trading_day(day))


def day_orders(
    db: Database, day: date, calendar: Calendar, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """The day's orders, each with its state (status, fill, price, reason) as of `as_of`."""
    start, end = window(day, calendar)
    cutoff = to_db(as_of or settled_by(day, calendar))
    last = (
        "(SELECT e.id FROM events e WHERE e.order_ref = o.id AND e.at < ?"
        " ORDER BY e.at DESC, e.id DESC LIMIT 1)"
    )
    cursor = db.execute(
        "SELECT o.id, o.order_id, o.symbol, o.side, o.qty, o.placed_at,"
        " coalesce(e.status, 'PENDING') AS status, coalesce(e.filled_qty, 0) AS filled_qty,"
        " e.avg_price, e.reason FROM orders o"
        f" LEFT JOIN events e ON e.id = {last}"
        " WHERE o.placed_at >= ? AND o.placed_at < ? ORDER BY o.placed_at, o.id",
        (cutoff, to_db(start), to_db(end)),
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def outcome(order: dict[str, Any]) -> str:
    """Which of OUTCOMES an order in its state at the period's end counts under."""
    status = order["status"]
    if status == Status.EXPIRED:
        return "unconfirmed" if (order["reason"] or "").startswith(UNCONFIRMED) else "expired"
    if status == Status.PARTIALLY_FILLED:
        return "partially_filled"
    return _FINAL.get(status, "still_pending")


def counts(s: dict[str, Any]) -> dict[str, int]:
    """A summary's numbers: placed, then each outcome (which add up to placed)."""
    pending = [r for r in s["still_pending"] if r.get("status") != Status.PARTIALLY_FILLED]
    return {
        "placed": s["placed"],
        "executed": len(s["executed"]),
        "rejected": len(s["rejected"]),
        "cancelled": len(s["cancelled"]),
        "partially_filled": s["partially_filled"],
        "expired": len(s["expired"]),
        "unconfirmed": len(s["unconfirmed"]),
        "still_pending": len(pending),
    }


def gather(
    db: Database,
    day: date,
    broker_error: str | None,
    calendar: Calendar,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    cutoff = as_of or settled_by(day, calendar)
    mine = day_orders(db, day, calendar, cutoff)
    by = {name: [o for o in mine if outcome(o) == name] for name in OUTCOMES}
    # what happened while the day was the current one: from its open to the next one's
    span = (to_db(calendar.open_of(day)), to_db(min(cutoff, settled_by(day, calendar))))
    corrections = list(
        db.query(
            "SELECT e.kind, o.order_id, o.symbol, o.side, o.qty, e.filled_qty, e.avg_price,"
            " e.reason FROM events e JOIN orders o ON o.id = e.order_ref"
            f" WHERE e.at >= ? AND e.at < ? AND e.kind = '{EventKind.CORRECTED}' ORDER BY e.id",
            span,
        )
    )
    earlier = [
        {**r, "outcome": outcome(r)}
        for r in db.query(
            "SELECT o.order_id, o.symbol, o.side, o.qty, o.placed_at, e.status, e.filled_qty,"
            " e.avg_price, e.reason FROM events e JOIN orders o ON o.id = e.order_ref"
            " WHERE e.at >= ? AND e.at < ? AND o.placed_at < ?"
            f" AND {_KIND_IN} ORDER BY e.id",
            (*span, to_db(window(day, calendar)[0])),
        )
    ]
    tracked = list(
        db.query("SELECT symbol, tracked_qty FROM tracking WHERE status = 'ACTIVE' ORDER BY symbol")
    )
    manual = db.execute(
        "SELECT count(*) FROM tracking_changes WHERE at >= ? AND at < ? AND cause LIKE 'MANUAL%'",
        span,
    ).fetchone()[0]
    failed = db.execute("SELECT count(*) FROM outbox WHERE status = 'FAILED'").fetchone()[0]
    still = sorted(by["partially_filled"] + by["still_pending"], key=lambda o: o["id"])
    return {
        "trading_day": day.isoformat(),
        "complete": broker_error is None,
        "corrected": False,
        "broker_error": broker_error,
        "placed": len(mine),
        "executed": _finished(by["executed"]),
        "rejected": _finished(by["rejected"]),
        "cancelled": _finished(by["cancelled"]),
        "expired": _finished(by["expired"]),
        "unconfirmed": _finished(by["unconfirmed"]),
        "corrections": corrections,
        "earlier": earlier,  # an earlier day's orders settled now: listed, counted on their day
        "partially_filled": len(by["partially_filled"]),
        "still_pending": [_open(o) for o in still],
        "tracked": tracked,
        "manual_trades": manual,
        "notifications_failed": failed,
    }


# The summary's entries keep the shapes eod --json and the outbox payload have always had.
def _finished(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": o["status"],
            **{
                k: o[k]
                for k in ("order_id", "symbol", "side", "qty", "filled_qty", "avg_price", "reason")
            },
        }
        for o in rows
    ]


def _open(o: dict[str, Any]) -> dict[str, Any]:
    return {
        k: o[k] for k in ("order_id", "symbol", "side", "qty", "filled_qty", "avg_price", "status")
    }


def last_closed(db: Database) -> dict[str, Any] | None:
    """The newest trading day an eod closed: its summary's day, completeness and counts, as the
    summary queued then said them (a complete one over an incomplete one of the same day)."""
    import json

    # keys are summary:<day>:final or summary:<day>:incomplete (jobs/eod.py): a range of the
    # key's index, newest day first
    rows = db.execute(
        "SELECT key, payload FROM outbox WHERE key > 'summary:' AND"
        " key < 'summary;' ORDER BY key DESC LIMIT 2"
    ).fetchall()
    if not rows:
        return None
    newest = [r for r in rows if r[0].split(":")[1] == rows[0][0].split(":")[1]]
    key, payload = min(newest, key=lambda r: not r[0].endswith(":final"))
    s = json.loads(payload)
    return {"trading_day": s["trading_day"], "complete": s["complete"], **counts(s)}
