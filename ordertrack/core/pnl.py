"""Realised and unrealised P&L the way Indian brokers show it: a weighted average cost per
symbol, started from the holdings' average price and moved by each buy; a sell realises
(fill price − average cost) × quantity. Shorts (a sell beyond what is held, covered later)
work the same way mirrored.

Pure functions over dataclasses. Amounts are exact (fractions of rupees) while they are
worked out and rounded to paise only when shown, so sums agree to the paisa wherever they
are added up.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from ordertrack.core.models import Side

PAISA = Decimal("0.01")


def rupees(amount: Fraction | None) -> Decimal | None:
    """An exact amount as rupees with two decimals (banker's rounding), or None."""
    if amount is None:
        return None
    return (Decimal(amount.numerator) / Decimal(amount.denominator)).quantize(
        PAISA, rounding=ROUND_HALF_EVEN
    )


def price(value: float | str | Decimal | None) -> Fraction | None:
    """A broker's price as an exact amount; 0, negative or missing is no price at all
    (Kotak shows an average price of 0 the next day: never believed)."""
    if value is None:
        return None
    try:
        amount = Fraction(Decimal(str(value)))
    except (ValueError, ArithmeticError):
        return None
    return amount if amount > 0 else None


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill. `price` None: no believable price anywhere ("price unknown")."""

    symbol: str
    side: Side
    qty: int
    price: Fraction | None
    at: datetime
    day: date  # its IST trading day
    fill_id: str = ""
    order_id: str | None = None
    manual: bool = False


@dataclass(frozen=True, slots=True)
class Basis:
    """Where a symbol starts: quantity held (negative: short) at an average cost."""

    symbol: str
    qty: int
    avg_cost: Fraction | None


@dataclass(frozen=True, slots=True)
class Mark:
    """The latest price known for a symbol and where it came from ('last_price',
    'closing_price', ...)."""

    price: Fraction | None
    source: str


@dataclass
class Pool:
    """A quantity held (negative: short) and its total cost (for a short, what it was sold
    for), both positive amounts; `unknown` when some of it came at no known price."""

    qty: int = 0
    cost: Fraction = Fraction(0)
    unknown: bool = False

    def take(self, m: int) -> Fraction | None:
        """Remove `m` (≤ |qty|) at the pool's average; the cost removed, None if unknown."""
        cost = None if self.unknown else self.cost * m / abs(self.qty)
        self.cost -= cost or 0
        self.qty -= m if self.qty > 0 else -m
        if self.qty == 0:
            self.cost, self.unknown = Fraction(0), False
        return cost


@dataclass
class Book:
    """One symbol: what was held when the day began (`carry`, at the holdings' average) and
    the day's own buys or shorts (`today`). A sell closes the day's buys first (an intraday
    round trip realises against the day's buys), then the holdings; a buy covers shorts the
    same way. A new day merges `today` into `carry`, moving its average."""

    symbol: str
    carry: Pool = field(default_factory=Pool)
    today: Pool = field(default_factory=Pool)
    day: date | None = None
    bought_qty: int = 0
    sold_qty: int = 0
    realised: Fraction = Fraction(0)
    manual: Fraction = Fraction(0)  # the part of `realised` from manual trades
    unknown: int = 0  # fills whose P&L cannot be known (no price, or no cost): left out
    buy_value: Fraction = Fraction(0)
    sell_value: Fraction = Fraction(0)

    @property
    def qty(self) -> int:
        return self.carry.qty + self.today.qty

    @property
    def avg_cost(self) -> Fraction | None:
        pools = [p for p in (self.carry, self.today) if p.qty]
        if not pools or any(p.unknown for p in pools) or self.qty == 0:
            return None
        return sum((p.cost for p in pools), Fraction(0)) / abs(self.qty)


def start(basis: Basis) -> Book:
    cost = basis.avg_cost * abs(basis.qty) if basis.avg_cost is not None else Fraction(0)
    return Book(
        basis.symbol,
        carry=Pool(basis.qty, cost, unknown=bool(basis.qty) and basis.avg_cost is None),
    )


def _new_day(book: Book, day: date) -> None:
    if book.day is not None and book.day != day and book.today.qty:
        carry, today = book.carry, book.today
        if carry.qty * today.qty < 0:  # cannot happen by the rules above; never guess
            carry.unknown = True
        carry.qty, carry.cost = carry.qty + today.qty, carry.cost + today.cost
        carry.unknown = carry.unknown or today.unknown
        if carry.qty == 0:
            carry.cost, carry.unknown = Fraction(0), False
        book.today = Pool()
    book.day = day


def apply(book: Book, fill: Fill, count: bool = True) -> tuple[Fraction | None, Fraction, int]:
    """Move `book` by one fill. Returns what it realised (0 when it closed nothing; None when
    its price or the cost it closed is unknown), the cost it closed and how many. With
    count False the fill only moves the position (a fill before the period)."""
    _new_day(book, fill.day)
    if count:
        _tally(book, fill)
    sign = 1 if fill.side is Side.BUY else -1
    rest, gain, closed, closed_cost, unknown = fill.qty, Fraction(0), 0, Fraction(0), False
    for pool in (book.today, book.carry):
        if rest and pool.qty * sign < 0:
            m, long = min(rest, abs(pool.qty)), pool.qty > 0
            cost = pool.take(m)
            if cost is None or fill.price is None:
                unknown = True
            else:
                gain += (fill.price * m - cost) if long else (cost - fill.price * m)
                closed_cost += cost
            rest, closed = rest - m, closed + m
    if rest:
        book.today.qty += sign * rest
        if fill.price is None:
            book.today.unknown = True
        else:
            book.today.cost += fill.price * rest
    realised = None if unknown else gain
    if count:
        book.unknown += unknown or fill.price is None
        if realised is not None:
            book.realised += realised
            book.manual += realised if fill.manual else 0
    return realised, closed_cost, closed


def _tally(book: Book, fill: Fill) -> None:
    value = (fill.price or 0) * fill.qty
    if fill.side is Side.BUY:
        book.bought_qty, book.buy_value = book.bought_qty + fill.qty, book.buy_value + value
    else:
        book.sold_qty, book.sell_value = book.sold_qty + fill.qty, book.sell_value + value


@dataclass(frozen=True, slots=True)
class SymbolPnl:
    symbol: str
    bought_qty: int
    sold_qty: int
    avg_cost: Fraction | None
    realised: Fraction
    open_qty: int
    close_price: Fraction | None
    price_source: str | None
    unrealised: Fraction | None
    manual: Fraction
    unknown_fills: int
    buy_value: Fraction
    sell_value: Fraction


@dataclass(frozen=True, slots=True)
class Pnl:
    symbols: tuple[SymbolPnl, ...]

    @property
    def realised(self) -> Fraction:
        return sum((s.realised for s in self.symbols), Fraction(0))

    @property
    def unrealised(self) -> Fraction:
        return sum((s.unrealised or Fraction(0) for s in self.symbols), Fraction(0))

    @property
    def holdings_valued(self) -> int:
        return sum(1 for s in self.symbols if s.open_qty and s.unrealised is not None)


def unrealised(book: Book, mark: Mark | None) -> Fraction | None:
    """(price − average cost) × open quantity; None (never 0) without a price or a cost."""
    if book.qty == 0:
        return Fraction(0)
    if mark is None or mark.price is None or book.avg_cost is None:
        return None
    return (mark.price - book.avg_cost) * book.qty


def compute(
    bases: dict[str, Basis], before: list[Fill], fills: list[Fill], marks: dict[str, Mark]
) -> Pnl:
    """The period's P&L: each symbol starts from its basis, moved by `before` (fills between
    the basis and the period's start, not counted), then by the period's `fills`."""
    books: dict[str, Book] = {s: start(b) for s, b in bases.items()}
    for fill in sorted(before, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill, count=False)
    touched = set()
    for fill in sorted(fills, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill)
        touched.add(fill.symbol)
    rows = [_row(b, marks.get(s)) for s, b in sorted(books.items()) if s in touched or b.qty]
    return Pnl(tuple(rows))


def _order(fill: Fill) -> tuple[datetime, str]:
    return fill.at, fill.fill_id


def _row(book: Book, mark: Mark | None) -> SymbolPnl:
    value = unrealised(book, mark)
    return SymbolPnl(
        symbol=book.symbol,
        bought_qty=book.bought_qty,
        sold_qty=book.sold_qty,
        avg_cost=book.avg_cost,
        realised=book.realised,
        open_qty=book.qty,
        close_price=mark.price if mark else None,
        price_source=mark.source if mark and mark.price is not None else None,
        unrealised=value,
        manual=book.manual,
        unknown_fills=book.unknown,
        buy_value=book.buy_value,
        sell_value=book.sell_value,
    )


def sell_realised(
    bases: dict[str, Basis], before: list[Fill], fills: list[Fill], order_id: str
) -> tuple[Fraction, Fraction | None] | None:
    """What one order's fills realised and the average cost they closed against, or None
    when any of its fills has no price (or closed a cost nobody knows)."""
    books: dict[str, Book] = {s: start(b) for s, b in bases.items()}
    for fill in sorted(before, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill, count=False)
    total, cost, closed, seen = Fraction(0), Fraction(0), 0, False
    for fill in sorted(fills, key=_order):
        realised, closed_cost, n = apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill)
        if fill.order_id == order_id:
            seen = True
            if realised is None:
                return None
            total, cost, closed = total + realised, cost + closed_cost, closed + n
    return (total, cost / closed if closed else None) if seen else None


def realised_by_day(
    bases: dict[str, Basis], before: list[Fill], fills: list[Fill]
) -> dict[date, Fraction]:
    """What the period's fills realised on each day (unknown figures left out), in one pass."""
    books: dict[str, Book] = {s: start(b) for s, b in bases.items()}
    for fill in sorted(before, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill, count=False)
    days: dict[date, Fraction] = {}
    for fill in sorted(fills, key=_order):
        realised = apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill)[0]
        days[fill.day] = days.get(fill.day, Fraction(0)) + (realised or 0)
    return days


def agrees(ours: Fraction | None, theirs: Fraction | None, qty: int) -> bool:
    """Whether our cost and the broker's agree to within half a paisa a share (brokers round
    the average price they show)."""
    if ours is None or theirs is None:
        return True
    return abs(ours - theirs) <= Fraction(1, 200) * max(qty, 1)
