"""Resolve orders registered without a broker id, from the order book. Never guess.

An unconfirmed order matches an unclaimed book row by tag (Kotak echoes it as GuiOrdId) when it
has one, otherwise by symbol, side, quantity and a placement time close to the registration.
A match is made only when exactly one row fits and no other unconfirmed order wants that row.
"""

from dataclasses import dataclass
from datetime import timedelta

from ordertrack.core.book import BrokerOrder
from ordertrack.core.models import Order

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Resolution:
    matched: dict[int, BrokerOrder]  # local id → broker row
    ambiguous: dict[int, tuple[str, ...]]  # local id → candidate broker ids


def _fits(order: Order, row: BrokerOrder) -> bool:
    if order.tag:  # the tag picks the order; symbol and side must still agree
        return row.tag == order.tag and (row.symbol, row.side) == (order.symbol, order.side)
    if (row.symbol, row.side, row.qty) != (order.symbol, order.side, order.qty):
        return False
    return row.placed_at is None or abs(row.placed_at - order.placed_at) <= WINDOW


def resolve(
    unconfirmed: list[Order], book: tuple[BrokerOrder, ...], claimed: set[str]
) -> Resolution:
    free = [row for row in book if row.order_id not in claimed]
    candidates = {o.id: [row for row in free if _fits(o, row)] for o in unconfirmed}
    wanted: dict[str, int] = {}
    for rows in candidates.values():
        for row in rows:
            wanted[row.order_id] = wanted.get(row.order_id, 0) + 1
    matched: dict[int, BrokerOrder] = {}
    ambiguous: dict[int, tuple[str, ...]] = {}
    for local_id, rows in candidates.items():
        if len(rows) == 1 and wanted[rows[0].order_id] == 1:
            matched[local_id] = rows[0]
        elif rows:
            ambiguous[local_id] = tuple(sorted(r.order_id for r in rows))
    return Resolution(matched, ambiguous)
