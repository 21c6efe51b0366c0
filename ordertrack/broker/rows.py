"""What every broker's parser does alike once a reply is read: believable numbers, and an
order book or history resolved by the lifecycle, never by row position."""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ordertrack.core import lifecycle
from ordertrack.core.book import BrokerOrder, Fetch, Outcome
from ordertrack.errors import ConfigError

if TYPE_CHECKING:
    from ordertrack.config import Settings
    from ordertrack.net import HttpFailure

T = TypeVar("T")

# Beyond any real quantity or price; also keeps a corrupt value from overflowing SQLite's integers.
MAX_NUMBER = 10**12
# No real order is this large (the bound `pending add` accepts): a row claiming more is corrupt.
ABSURD_QTY = 10**9


def bounded(number: float) -> float | None:
    """A finite number within MAX_NUMBER, else None."""
    return number if math.isfinite(number) and abs(number) <= MAX_NUMBER else None


def whole(number: float | None) -> int | None:
    return int(number) if number is not None and number == int(number) else None


def parse(fetch: Fetch, row_of: Callable[[Any], T | None]) -> tuple[Fetch, list[T]]:
    """The rows of a usable reply as orders (or fills); rows that cannot be believed are
    counted in `skipped`. A reply that is not OK comes back as it is, with no rows."""
    if fetch.outcome is not Outcome.OK:
        return fetch, []
    parsed = [row_of(row) for row in fetch.items]
    kept = [o for o in parsed if o is not None]
    return Fetch(Outcome.OK, skipped=len(parsed) - len(kept)), kept


def items(fetch: Fetch, row_of: Callable[[Any], Any]) -> Fetch:
    """A reply's believable rows as its items (a trade book's fills), the others skipped."""
    fetch, kept = parse(fetch, row_of)
    if fetch.outcome is not Outcome.OK:
        return fetch
    return Fetch(Outcome.OK, items=tuple(kept), skipped=fetch.skipped)


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


# ---- what a failed call says, in the broker's name -------------------------------------------


def unreachable(name: str, failure: "HttpFailure", service: str | None = None) -> str:
    """A call that got no usable answer; `service`: what may be down, when not `name`."""
    owner = f"{name}'" if name.endswith("s") else f"{name}'s"
    if failure.kind == "large":
        return f"{owner} answer is unusable: {failure}; try again later"
    if failure.kind == "budget":
        return (
            f"{name} ({failure.host}) is too slow: the run's time budget ran out; try again later"
        )
    if failure.outcome_unknown:
        return f"{name} ({failure.host}) did not answer in time; try again later"
    return (
        f"cannot connect to {name} ({failure.host}): check this machine's internet"
        f" connection, or {service or name} may be down; try again later"
    )


def overloaded(name: str, status: int) -> str:
    """A 429 or a 5xx."""
    if status == 429:
        return (
            f"{name} is limiting requests (HTTP 429, too many requests): wait a few minutes;"
            " if it keeps happening, run ordertrack less often"
        )
    return f"{name} is unavailable (HTTP {status}): try again later"


def missing_settings(settings: "Settings", names: list[str]) -> ConfigError:
    """What a broker needs and was not given, naming where it is read from (never a value)."""
    place = f"account {settings.account}'s env file" if settings.account else "the environment"
    return ConfigError(f"ORDERTRACK_BROKER={settings.broker} needs {', '.join(names)} in {place}")
