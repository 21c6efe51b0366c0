"""`verify`: fetch the order book once, advance every open order, queue notifications.

The broker is read before the write transaction (no network while holding the lock on the
database); the orders are re-read inside it, so two overlapping runs cannot apply the same
change twice.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ordertrack.broker.base import Broker
from ordertrack.config import Settings
from ordertrack.core import lifecycle, payloads
from ordertrack.core.book import BrokerOrder, Fetch, Outcome
from ordertrack.core.models import Change, Event, EventKind, Order, local_ref
from ordertrack.errors import BrokerUnavailable, UsageError
from ordertrack.store import orders, outbox, tracking
from ordertrack.store.db import Database, transaction

COUNTS = (
    "checked",
    "executed",
    "rejected",
    "cancelled",
    "partial",
    "still_pending",
    "not_found",
    "expired",
    "resolved",
    "ambiguous",
    "unknown_status",
    "corrected",
)


@dataclass
class VerifyResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    book: str = ""  # outcome of the order-book fetch
    changes: list[Change] = field(default_factory=list)
    skipped_rows: int = 0
    run_id: int | None = None
    missing: set[int] = field(default_factory=set)  # local ids this run's book did not list
    histories: dict[str, Fetch] = field(default_factory=dict)  # lookups made this run


def _fetch_book(broker: Broker) -> Fetch:
    book = broker.order_book()
    if not book.usable:
        raise BrokerUnavailable(f"order book fetch failed, nothing was changed: {book.error}")
    return book


def _histories(
    broker: Broker, pending: list[Order], book_ids: set[str], now: datetime, settings: Settings
) -> dict[str, Fetch]:
    """History lookups for orders that may expire this run (bounded per run)."""
    due = [
        o
        for o in pending
        if o.order_id
        and o.order_id not in book_ids
        and lifecycle.expiry_due(
            replace(o, missing_count=o.missing_count + 1), now, settings.missing
        )
    ]
    return {
        o.order_id: broker.order_history(o.order_id)
        for o in due[: settings.history_lookups]
        if o.order_id
    }


@dataclass
class Writes:
    """Order updates and notifications held back to be written as one statement each (per
    CHUNK, so a 10,000-change run does not hold 10,000 notification payloads at once)."""

    CHUNK = 1000
    saves: list[Change] = field(default_factory=list)
    notifications: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def full(self) -> bool:
        return len(self.saves) >= self.CHUNK

    def flush(self, db: Database, now: datetime, run_id: int | None) -> None:
        orders.save_orders(db, self.saves, now)
        outbox.enqueue_many(db, self.notifications, now, run_id)
        self.saves, self.notifications = [], []


def apply_change(
    db: Database, change: Change, now: datetime, run_id: int | None, writes: Writes | None = None
) -> None:
    """Save a change with its events, fills and notifications (the caller's transaction).
    With `writes`, the order update and the notifications wait there for its flush()."""
    if writes is None:
        orders.save_order(db, change, now)
    else:
        writes.saves.append(change)
    for event in change.events:
        event_id = orders.insert_event(db, change.after.id, event, now, run_id)
        if event_id is None:
            continue  # recorded by an earlier run
        if event.delta_qty:
            tracking.apply_fill(
                db,
                change.after.symbol,
                change.after.side,
                event.delta_qty,
                now,
                change.after.id,
                event_id,
            )
        notify = event.notify
        payload = payloads.order_event(change.after, event)
        if event.delta_qty:  # a fill: its P&L goes with the notification
            from ordertrack.jobs import pnl

            payload.update(pnl.sell_figures(db, change.after, event, event_id, now))
        if event.kind == EventKind.UNKNOWN_STATUS:
            notify = orders.note_status(
                db, event.broker_status or "", change.after.order_id, event.raw, now
            )
        if notify and writes is not None:
            writes.notifications.append((event.key, event.kind, payload))
        elif notify:
            outbox.enqueue(db, event.key, event.kind, payload, now, run_id)


def _new_fills(db: Database, broker: Broker, book: Fetch) -> Fetch | None:
    """The trade book, read only when this book shows a fill ordertrack has not recorded: its
    prices go with the notification. An idle run (no fill shown) loads no P&L code at all."""
    if not any(row.filled_qty for row in book.items):
        return None
    from ordertrack.jobs import pnl

    return pnl.read_trade_book(broker) if pnl.saw_fill(db, book.items) else None


def _count(result: VerifyResult, change: Change, missing: bool) -> None:
    c = result.counts
    kinds = {e.kind for e in change.events}
    status = change.after.status
    c["checked"] += 1
    c["not_found"] += missing and status.is_open
    c["executed"] += EventKind.EXECUTED in kinds
    c["rejected"] += EventKind.REJECTED in kinds
    c["cancelled"] += EventKind.CANCELLED in kinds
    c["expired"] += EventKind.EXPIRED in kinds
    c["partial"] += EventKind.PARTIAL_FILL in kinds
    c["unknown_status"] += EventKind.UNKNOWN_STATUS in kinds
    c["still_pending"] += status.is_open


def _resolve(
    db: Database,
    pending: list[Order],
    book: tuple[BrokerOrder, ...],
    now: datetime,
    run_id: int | None,
    result: VerifyResult,
) -> tuple[list[Order], set[int]]:
    """Give unconfirmed orders their broker id where exactly one book row fits. Returns the
    orders and the local ids of those several rows fit (they are in the book: not missing)."""
    unconfirmed = [o for o in pending if o.order_id is None]
    if not unconfirmed:
        return pending, set()
    from ordertrack.core import matching  # only a book with unconfirmed orders needs it

    found = matching.resolve(unconfirmed, book, orders.claimed_ids(db))
    resolved = []
    for order in pending:
        row = found.matched.get(order.id)
        if row is not None:
            order = replace(order, order_id=row.order_id)
            orders.insert_event(
                db,
                order.id,
                Event(
                    EventKind.RESOLVED,
                    f"{local_ref(order.id)}:RESOLVED",
                    order.status,
                    order.filled_qty,
                    raw=row.raw,
                    notify=False,
                ),
                now,
                run_id,
            )
            orders.save_order(db, Change(order, order), now)
            result.counts["resolved"] += 1
        elif order.id in found.ambiguous:
            candidates = found.ambiguous[order.id]
            result.counts["ambiguous"] += 1
            outbox.enqueue(
                db,
                f"{local_ref(order.id)}:ambiguous:{','.join(candidates)}",
                "AMBIGUOUS_MATCH",
                payloads.ambiguous_match(order, candidates),
                now,
                run_id,
            )
        resolved.append(order)
    return resolved, set(found.ambiguous)


def run(
    db: Database,
    broker: Broker,
    settings: Settings,
    now: datetime,
    order_id: str | None = None,
    run_id: int | None = None,
) -> VerifyResult:
    result = VerifyResult(run_id=run_id)
    if order_id and orders.find_order(db, order_id) is None:
        raise UsageError(f"order {order_id} is not registered")
    book = _fetch_book(broker)
    result.book, result.skipped_rows = book.outcome.value, book.skipped
    rows = {row.order_id: row for row in book.items}
    histories = _histories(broker, orders.open_orders(db, not_in=rows), set(rows), now, settings)
    trades = _new_fills(db, broker, book)
    writes = Writes()
    with transaction(db):
        if trades is not None:
            from ordertrack.jobs import pnl

            pnl.keep_fills(db, trades, now)
        pending, ambiguous = _resolve(db, orders.open_orders(db), book.items, now, run_id, result)
        for order in pending:
            if order_id and order.order_id != order_id and f"#{order.id}" != order_id:
                continue
            row = rows.get(order.order_id) if order.order_id else None
            if row is not None:
                change = lifecycle.observe(order, row)
            elif order.id in ambiguous:
                change = Change(order, order)  # in the book, just not yet told apart
            else:
                history = (
                    histories.get(order.order_id) if order.order_id else Fetch(Outcome.UNSUPPORTED)
                )
                change = lifecycle.miss(order, now, history, settings.missing)
            if change.changed:
                apply_change(db, change, now, run_id, writes)
                result.changes.append(change)
                if writes.full():
                    writes.flush(db, now, run_id)
            if row is None and order.id not in ambiguous:
                result.missing.add(order.id)
            _count(result, change, missing=row is None)
        writes.flush(db, now, run_id)  # corrections read the orders' saved status
        if not order_id:
            _corrections(db, rows, now, run_id, result)
    result.histories = histories
    return result


def _corrections(
    db: Database,
    rows: dict[str, BrokerOrder],
    now: datetime,
    run_id: int | None,
    result: VerifyResult,
) -> None:
    """Expired or withdrawn orders the book lists with fills after all: the fills are never
    lost."""
    ids = list(rows)
    for order, withdrawn in [
        *((o, False) for o in orders.expired_orders(db, ids)),
        *((o, True) for o in orders.withdrawn_orders(db, ids)),
    ]:
        change = lifecycle.correct(order, rows[order.order_id or ""], withdrawn)
        if change.changed:
            apply_change(db, change, now, run_id)
            result.changes.append(change)
            result.counts["corrected"] += 1
