"""The daily summary of one IST trading day, gathered from the database as plain data (its
wording is notify/messages.py's)."""

from datetime import date, datetime, time, timedelta
from typing import Any

from ordertrack.core.lifecycle import UNCONFIRMED
from ordertrack.store.db import Database
from ordertrack.store.orders import IS_OPEN
from ordertrack.timeutil import IST, to_db

_FINAL_KINDS = ("EXECUTED", "REJECTED", "CANCELLED", "EXPIRED", "CORRECTED")


def _bounds(day: date, until: date | None) -> tuple[str, str]:
    """From the day's IST midnight to `until`'s (the next trading day): what a late eod's
    force-check finds, and a weekend, still belong to the day being closed."""
    start = datetime.combine(day, time(), tzinfo=IST)
    end = datetime.combine(until, time(), tzinfo=IST) if until else start + timedelta(days=1)
    return to_db(start), to_db(max(end, start + timedelta(days=1)))


def gather(db: Database, day: date, broker_error: str | None,
           until: date | None = None) -> dict[str, Any]:
    start, end = _bounds(day, until)
    finished = list(db.query("SELECT e.kind, o.order_id, o.symbol, o.side, o.qty, e.filled_qty,"
                             " e.avg_price, e.reason FROM events e JOIN orders o"
                             " ON o.id = e.order_ref WHERE e.at >= ? AND e.at < ?"
                             " AND e.kind IN (?, ?, ?, ?, ?) ORDER BY e.id",
                             (start, end, *_FINAL_KINDS)))
    by_kind = {k: [r for r in finished if r["kind"] == k] for k in _FINAL_KINDS}
    unconfirmed = [r for r in by_kind["EXPIRED"] if (r["reason"] or "").startswith(UNCONFIRMED)]
    expired = [r for r in by_kind["EXPIRED"] if r not in unconfirmed]
    partial = db.execute("SELECT count(DISTINCT order_ref) FROM events WHERE at >= ? AND at < ?"
                         " AND kind = 'PARTIAL_FILL'", (start, end)).fetchone()[0]
    placed = db.execute("SELECT count(*) FROM orders WHERE placed_at >= ? AND placed_at < ?",
                        (start, end)).fetchone()[0]
    pending = list(db.query("SELECT order_id, symbol, side, qty, filled_qty, avg_price, status"
                            f" FROM orders WHERE {IS_OPEN} ORDER BY id"))
    tracked = list(db.query("SELECT symbol, tracked_qty FROM tracking WHERE status = 'ACTIVE'"
                            " ORDER BY symbol"))
    manual = db.execute("SELECT count(*) FROM tracking_changes WHERE at >= ? AND at < ?"
                        " AND cause LIKE 'MANUAL%'", (start, end)).fetchone()[0]
    failed = db.execute("SELECT count(*) FROM outbox WHERE status = 'FAILED'").fetchone()[0]
    return {
        "trading_day": day.isoformat(), "complete": broker_error is None, "corrected": False,
        "broker_error": broker_error, "placed": placed,
        "executed": by_kind["EXECUTED"], "rejected": by_kind["REJECTED"],
        "cancelled": by_kind["CANCELLED"], "expired": expired,
        "unconfirmed": unconfirmed, "corrections": by_kind["CORRECTED"],
        "partially_filled": partial, "still_pending": pending, "tracked": tracked,
        "manual_trades": manual, "notifications_failed": failed,
    }
