"""`eod`: close the trading day. Force-check every open order, expire what is stale, queue the
daily summary (once per trading day), archive finished tracking, look after the database.

The day an eod closes is the latest trading day whose 18:00 IST has passed: an eod at 00:30
(a missed one, run late) or on a holiday closes the previous trading day, never the new one.
Summary rule, per trading day: at most one complete summary; an incomplete one (broker
unreachable) only while no complete one was queued; a complete one after an incomplete one
goes out marked "corrected". On a day without a session, an eod closes the last trading day
only when it was not closed yet (no complete summary queued): it re-sends and rewrites nothing.
The summary counts the day's own orders (store/summary.py): one registered after a session's
close belongs to the next session.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ordertrack.broker.base import Broker
from ordertrack.config import Settings
from ordertrack.core import lifecycle
from ordertrack.core.book import Fetch
from ordertrack.core.models import Change, EventKind, Order
from ordertrack.core.trading_calendar import Calendar, ist_date
from ordertrack.errors import BrokerUnavailable, DatabaseError, OrdertrackError
from ordertrack.jobs import pnl, report, verify
from ordertrack.store import maintenance, orders, outbox, summary
from ordertrack.store.db import Database, transaction

# How long an order expired as "final state unconfirmed" keeps having its history asked again.
RECHECK = timedelta(days=7)


@dataclass
class EodResult:
    trading_day: str  # the day closed
    session: bool  # whether the day the eod runs on (IST) is a trading day
    counts: dict[str, int] = field(default_factory=dict)
    broker_error: str | None = None
    summary: dict[str, Any] | None = None
    summary_queued: bool = False
    summary_skipped: str | None = None  # why no summary was queued this time
    archived_orders: int = 0
    archived_symbols: int = 0
    integrity: str = "ok"
    backup: str | None = None
    backup_error: str | None = None
    db_size: int = 0
    run_id: int | None = None
    report: str | None = None
    report_error: str | None = None
    already_closed: bool = False  # a day without a session, the last trading day closed before
    pnl_error: str | None = None  # the trade book or holdings read for P&L failed

    def failure(self, undelivered: OrdertrackError | None) -> OrdertrackError | None:
        """The error eod exits with: the database's health first, then the broker's, then
        notifications kept for later (`undelivered`)."""
        if self.integrity != "ok":
            return DatabaseError(f"integrity check failed: {self.integrity}; no backup was taken")
        if self.backup_error:
            return DatabaseError(self.backup_error)
        if self.broker_error:
            return BrokerUnavailable(self.broker_error)
        return undelivered

    def closing_line(self, today: date) -> str:
        """Which trading day this eod closed, and why when it is not `today`."""
        day = date.fromisoformat(self.trading_day)
        if self.already_closed:
            return (
                f"No trading session today; the last trading day, {day:%a %d %b %Y}, "
                "was closed already."
            )
        if day == today:
            return f"Closing trading day {day:%a %d %b %Y}."
        why = "before 18:00 IST" if self.session else "no trading session today"
        return f"Closing trading day {day:%a %d %b %Y}, the previous trading day ({why})."


def closing_day(now: datetime, calendar: Calendar) -> date:
    """The trading day an eod at `now` closes: the latest one whose 18:00 IST has passed."""
    return calendar.closed_by(now)


def queue_summary(
    db: Database, payload: dict[str, Any], now: datetime, run_id: int | None
) -> str | None:
    """Queue the day's summary by the rule above; None, or why nothing was queued."""
    day = payload["trading_day"]
    final, incomplete = f"summary:{day}:final", f"summary:{day}:incomplete"
    with transaction(db):  # the look and the insert together: a parallel eod waits
        if outbox.find(db, final) is not None:
            return "a complete summary of this day was already queued; not sent again"
        if not payload["complete"]:
            if outbox.find(db, incomplete) is not None:
                return "an incomplete summary of this day was already queued; not sent again"
            outbox.enqueue(db, incomplete, "DAILY_SUMMARY", payload, now, run_id)
            return None
        payload["corrected"] = outbox.find(db, incomplete) is not None
        outbox.enqueue(db, final, "DAILY_SUMMARY", payload, now, run_id)
    return None


def _history(broker: Broker, order: Order, earlier: dict[str, Fetch]) -> Fetch | None:
    if order.order_id is None:
        return None
    known = earlier.get(order.order_id)
    return known if known is not None and known.usable else broker.order_history(order.order_id)


def settle_dead(
    db: Database,
    broker: Broker,
    settings: Settings,
    now: datetime,
    verified: verify.VerifyResult,
    run_id: int | None,
) -> dict[str, int]:
    """Open orders past their validity (a DAY order after its session's close, an AMO after
    the close of the session it waited for; never within `stale_after` of placing) that
    today's book no longer lists are settled: by their history when it knows, else EXPIRED
    saying what was seen ("final state unconfirmed" when history failed). Orders expired
    unconfirmed earlier get their history asked again, so fills found later correct them."""
    rules = settings.missing
    due = {
        o.id: o
        for o in orders.open_orders(db)
        if o.id in verified.missing and now >= rules.deadline(o)
    }
    histories = {i: _history(broker, o, verified.histories) for i, o in due.items()}
    rechecks = orders.unconfirmed_expiries(db, now - RECHECK, lifecycle.UNCONFIRMED)
    later = {
        o.id: broker.order_history(o.order_id or "") for o in rechecks[: settings.history_lookups]
    }
    counts = dict.fromkeys(
        ("expired_dead", "unconfirmed", "settled_from_history", "corrected_from_history"), 0
    )
    with transaction(db):  # orders re-read inside it: an overlapping run may have moved them
        for order in orders.open_orders(db):
            if order.id in due:
                change = lifecycle.settle_dead(
                    order, now, histories[order.id], rules.deadline(order)
                )
                _keep(db, change, now, run_id, counts)
        for order in orders.unconfirmed_expiries(db, now - RECHECK, lifecycle.UNCONFIRMED):
            if order.id in later:
                _keep(db, lifecycle.confirm_expiry(order, later[order.id]), now, run_id, counts)
    return counts


def _keep(
    db: Database, change: Change, now: datetime, run_id: int | None, counts: dict[str, int]
) -> None:
    if not change.changed:
        return
    verify.apply_change(db, change, now, run_id)
    kinds = {e.kind for e in change.events}
    if EventKind.EXPIRED in kinds:
        unconfirmed = (change.after.reason or "").startswith(lifecycle.UNCONFIRMED)
        counts["unconfirmed" if unconfirmed else "expired_dead"] += 1
    elif EventKind.CORRECTED in kinds:
        counts["corrected_from_history"] += 1
    elif not change.after.status.is_open:
        counts["settled_from_history"] += 1


def _close(
    db: Database, settings: Settings, result: EodResult, payload: dict[str, Any], now: datetime
) -> None:
    """Queue the day's summary (by the rule above) and write its report."""
    day = date.fromisoformat(result.trading_day)
    result.summary_skipped = queue_summary(db, payload, now, result.run_id)
    result.summary_queued = result.summary_skipped is None
    result.report, result.report_error = report.for_eod(
        db, settings, day, now, result.broker_error, result.run_id, send=result.summary_queued
    )


def run(
    db: Database, broker: Broker, settings: Settings, now: datetime, run_id: int | None = None
) -> EodResult:
    calendar = settings.missing.calendar
    day = closing_day(now, calendar)
    result = EodResult(day.isoformat(), calendar.is_trading_day(ist_date(now)), run_id=run_id)
    try:
        verified = verify.run(db, broker, settings, now, run_id=run_id)
    except BrokerUnavailable as exc:
        result.broker_error = exc.message  # nothing expires; the summary says so
    else:
        result.counts = {
            **verified.counts,
            **settle_dead(db, broker, settings, now, verified, run_id),
        }
    result.pnl_error = None if result.broker_error else pnl.refresh(db, broker, now)
    result.summary = payload = summary.gather(db, day, result.broker_error, calendar)
    pnl.add_to_summary(db, payload, day, settings.charges, now, result.pnl_error)
    if not result.session and outbox.find(db, f"summary:{day}:final") is not None:
        # a weekend or holiday eod re-closes nothing: the day's summary and report stand
        result.already_closed = True
        result.summary_skipped = "this trading day was closed already; not closed again"
    else:
        _close(db, settings, result, payload, now)
    result.archived_orders, result.archived_symbols = maintenance.archive(
        db, now, settings.retention_days
    )
    maintenance.forget_deliveries(db, now, settings.delivered_keep_days)
    result.integrity = maintenance.integrity(db)
    if result.integrity == "ok":
        try:
            backup = maintenance.backup(db, settings.db_path, now, settings.backups)
        except (DatabaseError, OSError) as exc:
            result.backup_error = getattr(exc, "message", None) or f"backup failed: {exc}"
        else:
            result.backup = str(backup) if backup else None
    result.db_size = maintenance.size(settings.db_path)
    return result
