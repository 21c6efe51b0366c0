"""ordertrack's unrealised P&L on a holding beside the broker's own figure (issue 26 §5):
Kite's holdings `pnl`, Kotak's `mktValue` − `holdingCost`. When the two differ, the difference
is split exactly into what explains it — the price each side used, the average cost, the
quantity — and what is left, so the summary says why instead of silently disagreeing:

    ours − theirs = (p_ours − p_broker) × q_ours − (c_ours − c_broker) × q_ours
                    + (p_broker − c_broker) × (q_ours − q_broker)

A part whose broker side is unknown is left in the rest. Pure: no I/O."""

from dataclasses import dataclass
from fractions import Fraction

# Brokers round the prices they show: a paisa a share is agreement.
TOLERANCE = Fraction(1, 100)


@dataclass(frozen=True, slots=True)
class BrokerHolding:
    """What the broker said about one holding. `price`: the price its P&L used (Kite's
    `last_price`, Kotak's `mktValue` ÷ quantity), None when it does not say."""

    qty: int
    pnl: Fraction | None
    price: Fraction | None
    unit_cost: Fraction | None  # its average cost a share (Kotak: holdingCost ÷ quantity)


@dataclass(frozen=True, slots=True)
class Difference:
    symbol: str
    ours: Fraction
    theirs: Fraction
    parts: tuple[tuple[str, Fraction], ...]  # (what, amount), largest first; "rest" last

    @property
    def amount(self) -> Fraction:
        return self.ours - self.theirs


def compare(
    symbol: str,
    qty: int,
    avg_cost: Fraction | None,
    price: Fraction | None,
    broker: BrokerHolding,
) -> Difference | None:
    """None when the broker gives no figure, ours cannot be worked out, or they agree."""
    if broker.pnl is None or avg_cost is None or price is None:
        return None
    ours = (price - avg_cost) * qty
    gap = ours - broker.pnl
    tolerance = TOLERANCE * max(qty, broker.qty, 1)
    if abs(gap) <= tolerance:
        return None
    parts: list[tuple[str, Fraction]] = []
    if broker.price is not None:
        parts.append(("price", (price - broker.price) * qty))
    if broker.unit_cost is not None:
        parts.append(("average cost", -(avg_cost - broker.unit_cost) * qty))
    if qty != broker.qty and broker.price is not None and broker.unit_cost is not None:
        parts.append(("quantity", (broker.price - broker.unit_cost) * (qty - broker.qty)))
    rest = gap - sum((amount for _, amount in parts), Fraction(0))
    shown = sorted(
        ((what, amount) for what, amount in parts if abs(amount) > tolerance),
        key=lambda part: -abs(part[1]),
    )
    if abs(rest) > tolerance:
        shown.append(("rest", rest))
    return Difference(symbol, ours, broker.pnl, tuple(shown))
