"""`reconcile`: compare broker holdings (+ today's positions) with tracked quantities, detect and
apply manual trades, and record which broker orders explain them."""

import json
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from ordertrack.store.db import Database

from ordertrack.store import outbox
from ordertrack.store import orders as store
from ordertrack.store import tracking
from ordertrack.broker.base import Broker
from ordertrack.core.trading_calendar import ist_date
from ordertrack.config import Settings
from ordertrack.store.db import transaction
from ordertrack.errors import BrokerUnavailable
from ordertrack.core.models import BrokerOrder, Fetch
from ordertrack.core.reconcile_plan import (Decision, Facts, decide, holding_symbol, holdings_qty,
                                       manual_orders, net_positions)
from ordertrack.timeutil import IST, from_db, from_epoch_ns, parse_kotak_time, to_db


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
    for name, fetch in zip(("holdings", "positions", "order book"), fetches):
        if not fetch.usable:
            raise BrokerUnavailable(f"{name} fetch failed, nothing was changed: {fetch.error}")
    return fetches


def _fill_time(raw: str | None, seen_at: str) -> datetime:
    """The broker's own time of a fill, else when ordertrack saw it."""
    row = json.loads(raw) if raw else {}
    return (from_epoch_ns(row.get("updRecvTm")) or parse_kotak_time(row.get("hsUpTm"))
            or parse_kotak_time(row.get("exCfmTm")) or from_db(seen_at))  # type: ignore[return-value]


def _facts(db: Database, symbol: str, tracked: int, today_start: str) -> Facts:
    in_flight = tuple(r[0] or f"#{r[1]}" for r in db.execute(
        "SELECT order_id, id FROM orders WHERE symbol = ? AND status IN (?, ?) ORDER BY id",
        (symbol, *store.OPEN)))
    last = db.execute(
        "SELECT e.raw, e.at FROM events e JOIN orders o ON o.id = e.order_ref"
        " WHERE o.symbol = ? AND e.delta_qty > 0 ORDER BY e.id DESC LIMIT 1", (symbol,)).fetchone()
    last_fill = _fill_time(*last) if last else None
    return Facts(symbol, tracked, in_flight, last_fill,
                 filled_today=bool(last and last[1] >= today_start))


def _record_manual_orders(db: Database, book: tuple[BrokerOrder, ...], ids: set[str],
                          now: datetime) -> None:
    for row in book:
        if row.order_id in ids:
            db.execute(
                "INSERT INTO manual_orders (order_id, symbol, side, qty, filled_qty, avg_price,"
                " broker_status, raw, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?) ON CONFLICT (order_id) DO UPDATE SET filled_qty = excluded.filled_qty,"
                " avg_price = excluded.avg_price, broker_status = excluded.broker_status,"
                " raw = excluded.raw, updated_at = excluded.updated_at",
                (row.order_id, row.symbol, row.side.value if row.side else None, row.qty,
                 row.filled_qty, row.avg_price, row.status_text,
                 json.dumps(row.raw, sort_keys=True), to_db(now), to_db(now)))


def _apply(db: Database, d: Decision, now: datetime, run_id: int | None) -> None:
    # The same finding on the same data gets the same key; any change of the tracked quantity
    # since (a fill, an earlier adjustment) makes a new one, so a repeat trade is not lost.
    last_change = db.execute("SELECT max(id) FROM tracking_changes WHERE symbol = ?",
                             (d.symbol,)).fetchone()[0]
    key = f"{d.symbol}:{d.action}:{d.tracked}->{d.owned}:after-{last_change}"
    inserted = db.execute(
        "INSERT OR IGNORE INTO adjustments (key, symbol, action, tracked_before, owned,"
        " tracked_after, manual_orders, at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key, d.symbol, d.action, d.tracked, d.owned, d.new_qty, json.dumps(d.manual_orders),
         to_db(now), run_id)).rowcount
    if not inserted:
        return
    payload = {"symbol": d.symbol, "action": d.action, "tracked": d.tracked, "owned": d.owned,
               "new_qty": d.new_qty, "manual_orders": list(d.manual_orders)}
    if d.action != "manual_buy_ignored":
        started = tracking.adjust(db, d.symbol, d.new_qty, d.action.upper(), now,
                                  ", ".join(d.manual_orders) or None)
        if d.stops_tracking:
            payload["tracked_days"] = (now - from_db(started)).days  # type: ignore[operator]
    outbox.enqueue(db, f"reconcile:{key}", "MANUAL_TRADE", payload, now, run_id)


def _save_holdings(db: Database, now: datetime, rows: tuple[Any, ...], net: dict[str, int],
                   tracked: list[str]) -> None:
    """Append the tracked symbols' holdings to the dated history (one row per symbol and day)."""
    by_symbol = {holding_symbol(r): r for r in rows}
    quantities = holdings_qty(rows)
    for symbol in tracked:
        db.execute(
            "INSERT OR REPLACE INTO holdings_history (day, symbol, quantity, net_today, raw, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (ist_date(now).isoformat(), symbol, quantities.get(symbol, 0), net.get(symbol, 0),
             json.dumps(by_symbol.get(symbol), sort_keys=True), to_db(now)))


def _plan(db: Database, fetched: tuple[Fetch, Fetch, Fetch], settings: Settings,
          now: datetime) -> list[Decision]:
    holdings, positions, book = fetched
    owned, net = holdings_qty(holdings.items), net_positions(positions.items)
    manual = manual_orders(book.items, store.claimed_ids(db))
    today_start = to_db(datetime.combine(ist_date(now), time(), tzinfo=IST))
    return [decide(_facts(db, row["symbol"], row["tracked_qty"], today_start), owned, net,
                   manual, now, settings.settle, settings.manual_buys)
            for row in tracking.listing(db, all_=False)]


def run(db: Database, broker: Broker, settings: Settings, now: datetime, dry_run: bool = False,
        run_id: int | None = None) -> ReconcileResult:
    fetched = _fetch_all(broker)
    if dry_run:
        return ReconcileResult(_plan(db, fetched, settings, now), dry_run=True, run_id=run_id)
    holdings, positions, book = fetched
    with transaction(db):  # planned again under the write lock: the database may have moved
        decisions = _plan(db, fetched, settings, now)
        _record_manual_orders(db, book.items, {i for d in decisions for i in d.manual_orders}, now)
        _save_holdings(db, now, holdings.items, net_positions(positions.items),
                       [d.symbol for d in decisions])
        for decision in decisions:
            if decision.action not in ("none", "deferred"):
                _apply(db, decision, now, run_id)
    return ReconcileResult(decisions, run_id=run_id)
