"""Reconciliation as a pure function: what the broker says the account owns vs what is tracked.

owned = holdings quantity (settled + T1) + today's net position (bought − sold): holdings
settle T+1, so a buy that executed today is in positions, not yet in holdings. Nothing is
decided on doubt: a symbol with a system order in flight, a system fill too recent for
positions to show it, or a fill today that positions do not show at all, is deferred with the
reason.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ordertrack.core.book import BrokerOrder, Holding, Position

ABSORB, IGNORE = "absorb", "ignore"


@dataclass(frozen=True)
class Facts:
    """What ordertrack knows about one tracked symbol, from its own database."""

    symbol: str
    tracked: int
    in_flight: tuple[str, ...] = ()  # open system orders (ids, or '#N' when unconfirmed)
    last_fill: datetime | None = None  # broker's time of the latest system fill
    filled_today: bool = False  # a system fill today (IST)


@dataclass(frozen=True)
class Decision:
    symbol: str
    action: str  # none | deferred | manual_sell | manual_buy | manual_buy_ignored
    tracked: int
    owned: int | None
    new_qty: int
    reason: str = ""
    manual_orders: tuple[str, ...] = field(default=())

    @property
    def stops_tracking(self) -> bool:
        return self.action == "manual_sell" and self.new_qty == 0


def holdings_qty(rows: tuple[Holding, ...]) -> dict[str, int]:
    owned: dict[str, int] = defaultdict(int)
    for row in rows:
        owned[row.symbol] += row.qty + row.t1_qty  # bought, not yet settled, is still owned
    return owned


def net_positions(rows: tuple[Position, ...]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for row in rows:
        net[row.symbol] += row.net_qty
    return net


def manual_orders(book: tuple[BrokerOrder, ...], claimed: set[str]) -> dict[str, tuple[str, ...]]:
    """Filled broker orders ordertrack did not place, by symbol."""
    found: dict[str, list[str]] = defaultdict(list)
    for row in book:
        if row.order_id not in claimed and (row.filled_qty or 0) > 0:
            found[row.symbol].append(row.order_id)
    return {s: tuple(sorted(ids)) for s, ids in found.items()}


def _deferral(
    facts: Facts, positions: dict[str, int], now: datetime, settle: timedelta
) -> str | None:
    if facts.in_flight:
        return f"system order {', '.join(facts.in_flight)} still in flight"
    if facts.last_fill is not None and now - facts.last_fill < settle:
        return "a system fill is too recent for positions to show it"
    if facts.filled_today and facts.symbol not in positions:
        return "positions do not show today's system fill"
    return None


def decide(
    facts: Facts,
    holdings: dict[str, int],
    positions: dict[str, int],
    manual: dict[str, tuple[str, ...]],
    now: datetime,
    settle: timedelta,
    manual_buys: str,
) -> Decision:
    ids = manual.get(facts.symbol, ())
    reason = _deferral(facts, positions, now, settle)
    if reason:
        return Decision(facts.symbol, "deferred", facts.tracked, None, facts.tracked, reason, ids)
    owned = holdings.get(facts.symbol, 0) + positions.get(facts.symbol, 0)
    if owned < 0:
        return Decision(
            facts.symbol,
            "deferred",
            facts.tracked,
            owned,
            facts.tracked,
            "holdings and positions disagree (owned below zero)",
            ids,
        )
    if owned < facts.tracked:
        return Decision(
            facts.symbol,
            "manual_sell",
            facts.tracked,
            owned,
            owned,
            f"owned {owned} < tracked {facts.tracked}",
            ids,
        )
    if owned > facts.tracked:
        if manual_buys == IGNORE:
            return Decision(
                facts.symbol,
                "manual_buy_ignored",
                facts.tracked,
                owned,
                facts.tracked,
                f"owned {owned} > tracked {facts.tracked}",
                ids,
            )
        return Decision(
            facts.symbol,
            "manual_buy",
            facts.tracked,
            owned,
            owned,
            f"owned {owned} > tracked {facts.tracked}",
            ids,
        )
    return Decision(facts.symbol, "none", facts.tracked, owned, owned, "", ids)
