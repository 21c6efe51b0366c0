"""What ordertrack tracks: an order, its events and their words. Plain frozen dataclasses, no
I/O. The broker's books as ordertrack reads them are in core/book.py."""

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
