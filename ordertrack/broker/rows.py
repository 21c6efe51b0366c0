"""What every broker's parser does alike once a reply is read: believable numbers, and an
order book or history resolved by the lifecycle, never by row position."""

import math
from collections.abc import Callable
from typing import Any

from ordertrack.core import lifecycle
from ordertrack.core.models import BrokerOrder, Fetch, Outcome

# Beyond any real quantity or price; also keeps a corrupt value from overflowing SQLite's integers.
MAX_NUMBER = 10**12
# No real order is this large (the bound `pending add` accepts): a row claiming more is corrupt.
ABSURD_QTY = 10**9


def bounded(number: float) -> float | None:
    """A finite number within MAX_NUMBER, else None."""
    return number if math.isfinite(number) and abs(number) <= MAX_NUMBER else None


def whole(number: float | None) -> int | None:
    return int(number) if number is not None and number == int(number) else None


def parse(
    fetch: Fetch, order_row: Callable[[Any], BrokerOrder | None]
) -> tuple[Fetch, list[BrokerOrder]]:
    """The rows of a usable reply as orders; rows that cannot be believed are counted in
    `skipped`. A reply that is not OK comes back as it is, with no rows."""
    if fetch.outcome is not Outcome.OK:
        return fetch, []
    parsed = [order_row(row) for row in fetch.items]
    kept = [o for o in parsed if o is not None]
    return Fetch(Outcome.OK, skipped=len(parsed) - len(kept)), kept


def book(fetch: Fetch, rows: list[BrokerOrder]) -> Fetch:
    """One order per order id: an id listed twice is resolved by the lifecycle."""
    if fetch.outcome is not Outcome.OK:
        return fetch
    by_id: dict[str, list[BrokerOrder]] = {}
    for row in rows:
        by_id.setdefault(row.order_id, []).append(row)
    items = tuple(
        lifecycle.most_advanced(group) if len(group) > 1 else group[0] for group in by_id.values()
    )
    return Fetch(Outcome.OK, items=items, skipped=fetch.skipped)


def history(fetch: Fetch, rows: list[BrokerOrder], order_id: str) -> Fetch:
    """This order's current state as one row, or EMPTY when the history does not know it."""
    if fetch.outcome is not Outcome.OK:
        return fetch
    mine = [o for o in rows if o.order_id == order_id]
    if not mine:
        return Fetch(Outcome.EMPTY, skipped=fetch.skipped)
    return Fetch(Outcome.OK, items=(lifecycle.most_advanced(mine),), skipped=fetch.skipped)
