"""The broker's books as ordertrack reads them: order-book and trade-book rows, holdings and
positions, normalised by each broker's parser, and what a fetch of one established. Plain
frozen dataclasses, no I/O. A module of their own so a command that never reads a book
(`pending add`) does not build them at start (issue 24)."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ordertrack.core.models import Side


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
