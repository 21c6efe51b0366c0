"""`eod`: close the trading day. Force-check every open order, expire what is stale, queue the
daily summary (once per trading day), archive finished tracking, look after the database."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ordertrack import maintenance, outbox, report, summary, verify
from ordertrack.broker.base import Broker
from ordertrack.calendar import ist_date
from ordertrack.config import Settings
from ordertrack.db import transaction
from ordertrack.errors import BrokerUnavailable
from ordertrack.timeutil import to_db


@dataclass
class EodResult:
    trading_day: str
    session: bool
    counts: dict[str, int] = field(default_factory=dict)
    broker_error: str | None = None
    summary: dict[str, Any] | None = None
    summary_queued: bool = False
    archived_orders: int = 0
    archived_symbols: int = 0
    integrity: str = "ok"
    backup: str | None = None
    db_size: int = 0
    run_id: int | None = None
    report: str | None = None
    report_error: str | None = None


def archive(db: Database, now: datetime, retention_days: int) -> tuple[int, int]:
    """Finished orders older than the retention leave the working set (their events stay);
    tracked symbols whose quantity went to 0 leave the active scope (their history stays)."""
    cutoff = to_db(now - timedelta(days=retention_days))
    with transaction(db):
        orders = db.execute(
            "UPDATE orders SET archived_at = ? WHERE archived_at IS NULL AND status NOT IN"
            " ('PENDING', 'PARTIALLY_FILLED') AND updated_at < ?", (to_db(now), cutoff)).rowcount
        symbols = db.execute(
            "UPDATE tracking SET status = 'ARCHIVED', updated_at = ? WHERE status = 'ACTIVE'"
            " AND tracked_qty = 0 AND EXISTS (SELECT 1 FROM tracking_changes c WHERE"
            " c.symbol = tracking.symbol AND c.qty_after > 0 AND c.at >= tracking.started_at)",
            (to_db(now),)).rowcount
    return orders, symbols


def run(db: Database, broker: Broker, settings: Settings, now: datetime,
        run_id: int | None = None) -> EodResult:
    day = ist_date(now)
    calendar = settings.missing.calendar
    result = EodResult(day.isoformat(), calendar.is_trading_day(day), run_id=run_id)
    try:
        result.counts = verify.run(db, broker, settings, now, run_id=run_id).counts
    except BrokerUnavailable as exc:
        result.broker_error = exc.message  # nothing expires; the summary says so
    if result.session:
        result.summary = summary.gather(db, day, result.broker_error)
        key = f"summary:{day}:{'final' if result.broker_error is None else 'incomplete'}"
        with transaction(db):
            result.summary_queued = outbox.enqueue(db, key, "DAILY_SUMMARY", result.summary,
                                                   now, run_id)
        result.report, result.report_error = report.for_eod(db, settings, day, now,
                                                            result.broker_error, run_id)
    result.archived_orders, result.archived_symbols = archive(db, now, settings.retention_days)
    result.integrity = maintenance.integrity(db)
    if result.integrity == "ok":
        backup = maintenance.backup(db, settings.db_path, now, settings.backups)
        result.backup = str(backup) if backup else None
    result.db_size = maintenance.size(settings.db_path)
    return result
