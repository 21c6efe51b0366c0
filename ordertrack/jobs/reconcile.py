"""`reconcile`: compare broker holdings (+ today's positions) with tracked quantities, detect and
apply manual trades, and record which broker orders explain them."""

from dataclasses import dataclass, field
from datetime import datetime, time

from ordertrack.broker.base import Broker
from ordertrack.config import Settings
from ordertrack.core import payloads
from ordertrack.core.book import Fetch
from ordertrack.core.models import EventKind
from ordertrack.core.reconcile_plan import (
    Decision,
    decide,
    holdings_qty,
    manual_orders,
    net_positions,
)
from ordertrack.core.trading_calendar import ist_date
from ordertrack.errors import BrokerUnavailable
from ordertrack.jobs import pnl
from ordertrack.store import orders, outbox, reconcile, tracking
from ordertrack.store.db import Database, transaction
from ordertrack.timeutil import IST, from_db, to_db


@dataclass
class ReconcileResult:
    decisions: list[Decision] = field(default_factory=list)
    dry_run: bool = False
    run_id: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = {"checked": len(self.decisions)}
        for action in ("none", "deferred", "manual_sell", "manual_buy", "manual_buy_ignored"):
            counts[action] = sum(d.action == action for d in self.decisions)
        counts["stopped"] = sum(d.stops_tracking for d in self.decisions)
        return counts


def _fetch_all(broker: Broker) -> tuple[Fetch, Fetch, Fetch]:
    fetches = (broker.holdings(), broker.positions(), broker.order_book())
    for name, fetch in zip(("holdings", "positions", "order book"), fetches, strict=False):
        if not fetch.usable:
            raise BrokerUnavailable(f"{name} fetch failed, nothing was changed: {fetch.error}")
    return fetches


def _apply(db: Database, d: Decision, now: datetime, run_id: int | None) -> None:
    # The same finding on the same data gets the same key; any change of the tracked quantity
    # since (a fill, an earlier adjustment) makes a new one, so a repeat trade is not lost.
    last_change = reconcile.last_tracking_change(db, d.symbol)
    key = f"{d.symbol}:{d.action}:{d.tracked}->{d.owned}:after-{last_change}"
    if not reconcile.insert_adjustment(db, key, d, now, run_id):
        return
    tracked_days = None
    if d.action != "manual_buy_ignored":
        started = tracking.adjust(
            db, d.symbol, d.new_qty, d.action.upper(), now, ", ".join(d.manual_orders) or None
        )
        if d.stops_tracking:
            tracked_days = (now - from_db(started)).days  # type: ignore[operator]
    payload = payloads.manual_trade(d, tracked_days)
    outbox.enqueue(db, f"reconcile:{key}", EventKind.MANUAL_TRADE, payload, now, run_id)


def _plan(
    db: Database, fetched: tuple[Fetch, Fetch, Fetch], settings: Settings, now: datetime
) -> list[Decision]:
    holdings, positions, book = fetched
    owned, net = holdings_qty(holdings.items), net_positions(positions.items)
    manual = manual_orders(book.items, orders.claimed_ids(db))
    today_start = to_db(datetime.combine(ist_date(now), time(), tzinfo=IST))
    return [
        decide(
            reconcile.facts(db, row["symbol"], row["tracked_qty"], today_start),
            owned,
            net,
            manual,
            now,
            settings.settle,
            settings.manual_buys,
        )
        for row in tracking.listing(db, all_=False)
    ]


def run(
    db: Database,
    broker: Broker,
    settings: Settings,
    now: datetime,
    dry_run: bool = False,
    run_id: int | None = None,
) -> ReconcileResult:
    fetched = _fetch_all(broker)
    if dry_run:
        return ReconcileResult(_plan(db, fetched, settings, now), dry_run=True, run_id=run_id)
    holdings, positions, book = fetched
    with transaction(db):  # planned again under the write lock: the database may have moved
        decisions = _plan(db, fetched, settings, now)
        reconcile.record_manual_orders(
            db, book.items, {i for d in decisions for i in d.manual_orders}, now
        )
        reconcile.save_holdings(
            db,
            ist_date(now),
            now,
            holdings.items,
            holdings_qty(holdings.items),
            net_positions(positions.items),
            [d.symbol for d in decisions],
        )
        pnl.save_marks(db, holdings, positions, now)  # the cost the day's P&L starts from
        for decision in decisions:
            if decision.action not in ("none", "deferred"):
                _apply(db, decision, now, run_id)
    return ReconcileResult(decisions, run_id=run_id)
