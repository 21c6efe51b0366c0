"""The daily summary of one IST trading day, gathered from the database as plain data."""

from datetime import date, datetime, time, timedelta
from typing import Any

from ordertrack.store.db import Database

from ordertrack.core.lifecycle import UNCONFIRMED
from ordertrack.timeutil import IST, to_db

_FINAL_KINDS = ("EXECUTED", "REJECTED", "CANCELLED", "EXPIRED", "CORRECTED")


def _bounds(day: date, until: date | None) -> tuple[str, str]:
    """From the day's IST midnight to `until`'s (the next trading day): what a late eod's
    force-check finds, and a weekend, still belong to the day being closed."""
    start = datetime.combine(day, time(), tzinfo=IST)
    end = datetime.combine(until, time(), tzinfo=IST) if until else start + timedelta(days=1)
    return to_db(start), to_db(max(end, start + timedelta(days=1)))


def _rows(db: Database, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def gather(db: Database, day: date, broker_error: str | None,
           until: date | None = None) -> dict[str, Any]:
    start, end = _bounds(day, until)
    finished = _rows(db, "SELECT e.kind, o.order_id, o.symbol, o.side, o.qty, e.filled_qty,"
                         " e.avg_price, e.reason FROM events e JOIN orders o ON o.id = e.order_ref"
                         " WHERE e.at >= ? AND e.at < ? AND e.kind IN (?, ?, ?, ?, ?) ORDER BY e.id",
                     (start, end, *_FINAL_KINDS))
    by_kind = {k: [r for r in finished if r["kind"] == k] for k in _FINAL_KINDS}
    unconfirmed = [r for r in by_kind["EXPIRED"] if (r["reason"] or "").startswith(UNCONFIRMED)]
    expired = [r for r in by_kind["EXPIRED"] if r not in unconfirmed]
    partial = db.execute("SELECT count(DISTINCT order_ref) FROM events WHERE at >= ? AND at < ?"
                         " AND kind = 'PARTIAL_FILL'", (start, end)).fetchone()[0]
    placed = db.execute("SELECT count(*) FROM orders WHERE placed_at >= ? AND placed_at < ?",
                        (start, end)).fetchone()[0]
    pending = _rows(db, "SELECT order_id, symbol, side, qty, filled_qty, status FROM orders"
                        " WHERE status IN ('PENDING', 'PARTIALLY_FILLED') ORDER BY id", ())
    tracked = _rows(db, "SELECT symbol, tracked_qty FROM tracking WHERE status = 'ACTIVE'"
                        " ORDER BY symbol", ())
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


def text(s: dict[str, Any]) -> str:
    """Plain-text summary, one fact per line (so a long one splits cleanly)."""
    lines = [f"Daily summary {date.fromisoformat(s['trading_day']):%a %d %b %Y}"
             + (" (corrected)" if s.get("corrected") else "")]
    if s.get("corrected"):
        lines.append("Corrected: replaces the incomplete summary sent earlier for this day")
    if not s["complete"]:
        lines.append(f"Broker unreachable at end of day, final states unknown: {s['broker_error']}")
    lines.append(f"Placed {s['placed']}, executed {len(s['executed'])}, rejected "
                 f"{len(s['rejected'])}, cancelled {len(s['cancelled'])}, partially filled "
                 f"{s['partially_filled']}, expired {len(s['expired'])}"
                 + (f", final state unconfirmed {len(s['unconfirmed'])}" if s.get("unconfirmed")
                    else "")
                 + f", still pending {len(s['still_pending'])}")
    lines += [f"Executed: {r['side']} {r['symbol']} {r['filled_qty']}/{r['qty']}"
              + (f" at {r['avg_price']:.2f}" if r["avg_price"] else "") for r in s["executed"]]
    lines += [f"Rejected: {r['side']} {r['symbol']} {r['qty']}: {r['reason'] or 'no reason given'}"
              for r in s["rejected"]]
    lines += [f"Expired: {r['side']} {r['symbol']} {r['qty']}: {r['reason']}" for r in s["expired"]]
    if s.get("unconfirmed"):
        lines.append("Final state unconfirmed (expired without the broker's word; check them in"
                     " the broker's app):")
        lines += [f"  {r['side']} {r['symbol']} {r['qty']} (order {r['order_id']}): {r['reason']}"
                  for r in s["unconfirmed"]]
    lines += [f"Corrected: {r['side']} {r['symbol']} {r['filled_qty']}/{r['qty']}: {r['reason']}"
              for r in s.get("corrections", [])]
    if s["tracked"]:
        lines.append("Tracked: " + ", ".join(f"{t['symbol']} {t['tracked_qty']}"
                                             for t in s["tracked"]))
    if s["manual_trades"]:
        lines.append(f"Manual trades detected: {s['manual_trades']}")
    if s["notifications_failed"]:
        lines.append(f"Notifications that could not be delivered: {s['notifications_failed']}")
    return "\n".join(lines)
