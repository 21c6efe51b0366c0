"""The data the functional core works on. Plain frozen dataclasses, no I/O."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any


class Status(str, Enum):
    PENDING = "PENDING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (Status.PENDING, Status.PARTIALLY_FILLED)


class EventKind(StrEnum):
    """What a recorded event says happened: to one order (ORDER_KINDS) or to the tracking,
    the account or a run. The feed, the webhooks' `kinds` and docs/events.md use these words;
    a StrEnum, so each is its word wherever it is written, stored or compared."""

    REGISTERED = "REGISTERED"
    RESOLVED = "RESOLVED"
    WITHDRAWN = "WITHDRAWN"
    PARTIAL_FILL = "PARTIAL_FILL"
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    EXPIRY_CONFIRMED = "EXPIRY_CONFIRMED"
    CORRECTED = "CORRECTED"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    TRACKING_CHANGE = "TRACKING_CHANGE"
    MANUAL_TRADE = "MANUAL_TRADE"
    SYSTEM_ALERT = "SYSTEM_ALERT"


KINDS = tuple(EventKind)
ORDER_KINDS = KINDS[: KINDS.index(EventKind.TRACKING_CHANGE)]
FILL_KINDS = (EventKind.EXECUTED, EventKind.PARTIAL_FILL)  # the events a fill can make


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class BrokerState(Enum):
    """What a broker's status word means; each broker's parser maps its own words to these."""

    WORKING = "working"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # kept open, never read as filled


TERMINAL_STATES = (BrokerState.COMPLETE, BrokerState.REJECTED, BrokerState.CANCELLED)


class Outcome(str, Enum):
    """What a broker fetch established. Only OK and EMPTY are facts to act on."""

    OK = "ok"
    EMPTY = "empty"  # confirmed: the broker says there is nothing (Kotak stCode 5203)
    FAILED = "failed"
    UNSUPPORTED = "unsupported"  # this broker offers no such lookup


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """One order-book (or history) row, normalised. `raw` is the row as the broker sent it.

    `status_text` is the broker's own word (shown and stored), `state` what it means.
    `state_at` is when the row's state happened (orders one order's rows); `updated_at` the
    broker's time of its last change (when a fill happened, for reconcile)."""

    order_id: str
    status_text: str
    state: BrokerState
    symbol: str
    side: Side | None
    qty: int | None
    filled_qty: int | None
    avg_price: float | None
    reason: str | None
    tag: str | None
    placed_at: datetime | None
    updated_ns: int
    state_at: datetime | None
    updated_at: datetime | None
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Holding:
    """One settled holding. `t1_qty`: bought but not yet settled, when the broker says so."""

    symbol: str
    qty: int
    t1_qty: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # What the broker says the holding cost and is worth, for P&L (None: it does not say).
    avg_price: float | None = None
    last_price: float | None = None  # the latest traded price
    close_price: float | None = None  # the previous session's close
    cost: float | None = None  # the broker's own total cost
    value: float | None = None  # the broker's own market value
    pnl: float | None = None  # the broker's own unrealised P&L


@dataclass(frozen=True, slots=True)
class Position:
    """Today's net quantity in one symbol (bought − sold)."""

    symbol: str
    net_qty: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # today's traded amounts, when the broker gives them: the price of a manual trade that has
    # no other (P&L)
    bought_qty: int = 0
    bought_value: float | None = None
    sold_qty: int = 0
    sold_value: float | None = None


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One trade-book row: a fill's quantity and price (None when 0 or missing)."""

    order_id: str
    fill_id: str
    symbol: str
    side: Side
    qty: int
    price: float | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Fetch:
    """`items` are BrokerOrder, Holding or Position, by the call that made it."""

    outcome: Outcome
    items: tuple[Any, ...] = ()
    error: str | None = None
    skipped: int = 0  # rows that could not be parsed

    @property
    def usable(self) -> bool:
        return self.outcome in (Outcome.OK, Outcome.EMPTY)


def local_ref(local_id: int) -> str:
    """How event and notification keys name an order without a broker id. '#' never appears
    in a registered id (letters, digits, _ and -), so a real order id such as 'local-5' cannot
    collide with it."""
    return f"#{local_id}"


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    order_id: str | None
    symbol: str
    side: Side
    qty: int
    price: float | None
    amo: bool
    tag: str | None
    placed_at: datetime
    status: Status
    filled_qty: int = 0
    avg_price: float | None = None
    reason: str | None = None
    broker_status: str | None = None
    missing_count: int = 0
    missing_since: datetime | None = None  # first successful fetch that did not list it
    # when the stored row last changed, as read (shown by `pending list/show`); not part of
    # the order's state, so a Change never counts it
    updated_at: datetime | None = field(default=None, compare=False)

    @property
    def ref(self) -> str:
        return self.order_id or local_ref(self.id)


@dataclass(frozen=True, slots=True)
class Event:
    """A fact about one order. `key` makes it unique, so a re-run cannot record it twice."""

    kind: EventKind
    key: str
    status: Status
    filled_qty: int
    delta_qty: int = 0
    avg_price: float | None = None
    reason: str | None = None
    broker_status: str | None = None
    raw: dict[str, Any] | None = None
    notify: bool = True
    broker_time: datetime | None = None  # the broker's time of the change, when it says


@dataclass(frozen=True, slots=True)
class Change:
    before: Order
    after: Order
    events: tuple[Event, ...] = ()

    @property
    def changed(self) -> bool:
        return self.before != self.after or bool(self.events)
