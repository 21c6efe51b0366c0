"""The order state machine: pure functions from (order, what the broker says) to a Change.

State only moves forward: PENDING → PARTIALLY_FILLED → EXECUTED / CANCELLED; REJECTED; EXPIRED
(a local decision, always with a reason). A partial fill is a quantity, not a broker status:
each increase of the filled quantity is one event. A cancelled order keeps its fills.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ordertrack.core.book import TERMINAL_STATES, BrokerOrder, BrokerState, Fetch, Outcome
from ordertrack.core.models import Change, Event, EventKind, Order, Status
from ordertrack.core.trading_calendar import MissingRules
from ordertrack.timeutil import show

_RANK = {Status.PENDING: 0, Status.PARTIALLY_FILLED: 1}


_NEVER = datetime.min.replace(tzinfo=UTC)


def most_advanced(rows: Sequence[BrokerOrder]) -> BrokerOrder:
    """One order's rows (history, or duplicates in one book) → the state it is really in.

    No row order and no reply-time stamp is trusted: a terminal row wins over any working one;
    among rows of the same rank the latest `state_at`, then the earliest in the list. The filled
    quantity is the largest any row reports (fills never un-happen), with the average price of
    the row that carries it; the reason comes only from a terminal row.
    """

    def key(item: tuple[int, BrokerOrder]) -> tuple[int, datetime, int]:
        index, row = item
        terminal = row.state in TERMINAL_STATES
        return (1 if terminal else 0, row.state_at or _NEVER, -index)

    best = max(enumerate(rows), key=key)[1]
    filled = max((r.filled_qty for r in rows if r.filled_qty is not None), default=None)
    priced = [r for r in (best, *rows) if r.avg_price and (r.filled_qty or 0) == (filled or 0)]
    avg = priced[0].avg_price if priced else best.avg_price
    terminal = best.state in TERMINAL_STATES
    return replace(best, filled_qty=filled, avg_price=avg, reason=best.reason if terminal else None)


def _filled_from(order: Order, row: BrokerOrder, state: BrokerState) -> int:
    reported = row.filled_qty or 0
    if state is BrokerState.COMPLETE and reported <= 0:
        reported = row.qty or order.qty  # 'complete' means fully filled
    # Never more than the order's quantity (the broker's, if the order was modified upwards).
    reported = min(reported, max(order.qty, row.qty or 0))
    return max(order.filled_qty, reported)  # a fill never un-happens


def _target(order: Order, state: BrokerState, filled: int) -> Status:
    if state is BrokerState.COMPLETE:
        return Status.EXECUTED
    if state is BrokerState.REJECTED:
        return Status.REJECTED
    if state is BrokerState.CANCELLED:
        return Status.CANCELLED
    if filled > 0:
        return Status.PARTIALLY_FILLED
    return Status.PENDING if order.status is Status.PENDING else order.status


def _moved(
    order: Order,
    status: Status,
    filled: int,
    avg: float | None,
    reason: str | None,
    broker_status: str | None,
) -> Order:
    """The order with what the broker says; the same object when nothing differs (most rows of
    an idle run: no copy to make)."""
    if (status, filled, avg, reason, broker_status, order.missing_count, order.missing_since) == (
        order.status,
        order.filled_qty,
        order.avg_price,
        order.reason,
        order.broker_status,
        0,
        None,
    ):
        return order
    return replace(
        order,
        status=status,
        filled_qty=filled,
        avg_price=avg,
        reason=reason,
        broker_status=broker_status,
        missing_count=0,
        missing_since=None,
    )


def observe(order: Order, row: BrokerOrder) -> Change:
    """Advance an order by what the broker's row says. Terminal orders never move."""
    if not order.status.is_open:
        return Change(order, order)
    state = row.state
    filled = _filled_from(order, row, state)
    target = _target(order, state, filled)
    if target.is_open and _RANK[target] < _RANK[order.status]:
        target = order.status
    delta = filled - order.filled_qty
    avg = row.avg_price if row.avg_price and row.avg_price > 0 else order.avg_price
    reason = row.reason if state in (BrokerState.REJECTED, BrokerState.CANCELLED) else order.reason
    after = _moved(order, target, filled, avg, reason, row.status_text or order.broker_status)
    ref = order.ref

    def event(
        kind: EventKind,
        key: str,
        status: Status,
        delta_qty: int = 0,
        notify: bool = True,
        why: str | None = None,
    ) -> Event:
        return Event(
            kind,
            f"{ref}:{key}",
            status,
            filled,
            delta_qty,
            avg,
            why,
            row.status_text,
            row.raw,
            notify,
            row.updated_at,
        )

    events: list[Event] = []
    if state is BrokerState.UNKNOWN and row.status_text != order.broker_status:
        events.append(
            event(EventKind.UNKNOWN_STATUS, f"unknown:{row.status_text}", target, notify=False)
        )
    if target is Status.EXECUTED:
        events.append(event(EventKind.EXECUTED, "EXECUTED", target, delta))
    elif delta > 0:
        events.append(
            event(EventKind.PARTIAL_FILL, f"fill:{filled}", Status.PARTIALLY_FILLED, delta)
        )
    if target in (Status.REJECTED, Status.CANCELLED):
        events.append(event(EventKind(target.value), target.value, target, why=reason))
    return Change(order, after, tuple(events))


def miss(order: Order, now: datetime, history: Fetch | None, rules: MissingRules) -> Change:
    """The order was absent from a successful order-book fetch.

    It becomes EXPIRED only when missed on `rules.runs` successful fetches, past its deadline
    (`MissingRules.deadline`), and an order-history lookup (when the broker offers one) does not
    know it. If history does know it, the newest history row advances it instead.
    """
    if not order.status.is_open:
        return Change(order, order)
    counted = replace(
        order, missing_count=order.missing_count + 1, missing_since=order.missing_since or now
    )
    if not expiry_due(counted, now, rules):
        return Change(order, counted)
    if history is None or history.outcome is Outcome.FAILED:
        return Change(order, counted)
    if history.outcome is Outcome.OK:
        return _from_history(counted, history.items[0])
    valid = f"valid until {show(rules.deadline(order))}"
    reason = (
        f"not in the broker's order book on {counted.missing_count} successful checks"
        + (" and unknown to its order history" if history.outcome is Outcome.EMPTY else "")
        if order.order_id
        else f"never appeared in the broker's order book ({counted.missing_count} checks)"
    )
    return expire(counted, f"{reason}; {valid}")


def _from_history(counted: Order, row: BrokerOrder) -> Change:
    """Advance a missing order by its history. A history that only shows it working does not
    make it seen again: it stays missing (counted), so it can still be settled."""
    change = observe(counted, row)
    after = change.after
    if after.status.is_open:
        after = replace(
            after, missing_count=counted.missing_count, missing_since=counted.missing_since
        )
    return Change(counted, after, change.events)


def expiry_due(order: Order, now: datetime, rules: MissingRules) -> bool:
    return order.missing_count >= rules.runs and now >= rules.deadline(order)


def expire(order: Order, reason: str) -> Change:
    after = replace(order, status=Status.EXPIRED, reason=reason)
    ref = order.ref
    event = Event(
        EventKind.EXPIRED, f"{ref}:EXPIRED", Status.EXPIRED, order.filled_qty, reason=reason
    )
    return Change(order, after, (event,))


# ---- end of day: orders past their validity ---------------------------------------------------

# The start of an expiry reason given without the broker's confirmation (its history failed).
UNCONFIRMED = "final state unconfirmed"


def settle_dead(order: Order, now: datetime, history: Fetch | None, valid: datetime) -> Change:
    """eod: an open order past its validity (`MissingRules.deadline`, passed as `valid`) that
    this run's order book did not list, however few runs have missed it.

    History decides when it can (a terminal row settles it as the broker says); otherwise it
    is EXPIRED with a reason saying what was seen. A failed history expires it all the same,
    as "final state unconfirmed", so a dead order never stays PENDING; `correct` puts it right
    if fills show up later.
    """
    if not order.status.is_open:
        return Change(order, order)
    if order.order_id is None:
        return expire(
            order, f"never appeared in the broker's order book; valid until {show(valid)}"
        )
    seen = f"not in the order book since {show(order.missing_since or now)}"
    base = Change(order, order)
    if history is not None and history.outcome is Outcome.OK:
        base = _from_history(order, history.items[0])
        if not base.after.status.is_open:
            return base
        detail = f"history: last state {history.items[0].status_text!r}"
    elif history is not None and history.outcome is Outcome.EMPTY:
        detail = "history: no data"
    elif history is not None and history.outcome is Outcome.FAILED:
        return expire(
            order,
            f"{UNCONFIRMED}: {seen}; history failed ({history.error}); valid until {show(valid)}",
        )
    else:
        detail = "history: not offered by this broker"
    expired = expire(base.after, f"{seen}; {detail}; valid until {show(valid)}")
    return Change(order, expired.after, base.events + expired.events)


def correct(order: Order, row: BrokerOrder, withdrawn: bool = False) -> Change:
    """An EXPIRED order the broker later shows with fills (in its book or history): the fills
    count after all. EXECUTED when the broker says complete, CANCELLED when it says cancelled
    (keeping the fills), otherwise still EXPIRED with the fills; one CORRECTED event.

    With `withdrawn`, the same for an order the user withdrew (`pending cancel`, CANCELLED
    locally): a withdrawal never erases a fill. It stays CANCELLED, with the fills, unless the
    broker says complete."""
    if order.status is not (Status.CANCELLED if withdrawn else Status.EXPIRED):
        return Change(order, order)
    state = row.state
    filled = _filled_from(order, row, state)
    if filled <= order.filled_qty:
        return Change(order, order)
    status = {BrokerState.COMPLETE: Status.EXECUTED, BrokerState.CANCELLED: Status.CANCELLED}.get(
        state, order.status
    )
    avg = row.avg_price if row.avg_price and row.avg_price > 0 else order.avg_price
    was = "withdrawn" if withdrawn else "expired"
    why = f"was {was} ({order.reason}); the broker reports it {row.status_text or 'filled'}"
    after = replace(
        order,
        status=status,
        filled_qty=filled,
        avg_price=avg,
        reason=why,
        broker_status=row.status_text or order.broker_status,
    )
    ref = order.ref
    event = Event(
        EventKind.CORRECTED,
        f"{ref}:CORRECTED:{filled}",
        status,
        filled,
        filled - order.filled_qty,
        avg,
        why,
        row.status_text,
        row.raw,
        broker_time=row.updated_at,
    )
    return Change(order, after, (event,))


def confirm_expiry(order: Order, history: Fetch) -> Change:
    """A later history answer for an order expired unconfirmed: fills correct it; an answer
    without fills confirms the expiry (the reason loses its "unconfirmed"), silently."""
    if history.outcome is Outcome.OK:
        change = correct(order, history.items[0])
        if change.changed:
            return change
        detail = f"history: last state {history.items[0].status_text!r}"
    elif history.outcome is Outcome.EMPTY:
        detail = "history: no data"
    else:
        return Change(order, order)
    seen = (order.reason or "").removeprefix(f"{UNCONFIRMED}: ").split("; history failed")[0]
    reason = f"{seen}; {detail} (asked again later)"
    ref = order.ref
    event = Event(
        EventKind.EXPIRY_CONFIRMED,
        f"{ref}:EXPIRY_CONFIRMED",
        Status.EXPIRED,
        order.filled_qty,
        reason=reason,
        notify=False,
    )
    return Change(order, replace(order, reason=reason), (event,))
