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
        PAISA, rounding=ROUND_HALF_EVEN)


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
class Book:
    """One symbol's running position and what its sells realised."""

    symbol: str
    qty: int = 0
    cost: Fraction = Fraction(0)  # total cost of `qty` (negative qty: proceeds of the short)
    bought_qty: int = 0
    sold_qty: int = 0
    realised: Fraction = Fraction(0)
    manual: Fraction = Fraction(0)  # the part of `realised` from manual trades
    unknown: int = 0  # fills counted with no price: the figures leave them out
    cost_unknown: bool = False  # the starting cost is not known
    buy_value: Fraction = Fraction(0)
    sell_value: Fraction = Fraction(0)
    events: list[tuple[Fill, Fraction | None, Fraction | None]] = field(default_factory=list)

    @property
    def avg_cost(self) -> Fraction | None:
        return None if self.qty == 0 or self.cost_unknown else self.cost / self.qty


def start(basis: Basis) -> Book:
    book = Book(basis.symbol, qty=basis.qty)
    if basis.qty and basis.avg_cost is None:
        book.cost_unknown = True
    elif basis.avg_cost is not None:
        book.cost = basis.avg_cost * basis.qty
    return book


def apply(book: Book, fill: Fill, count: bool = True) -> Fraction | None:
    """Move `book` by one fill; returns what it realised (None: price or cost unknown).
    With count False the fill only moves the position (a fill before the period)."""
    if fill.price is None:
        book.unknown += count
        _move_unpriced(book, fill)
        return None
    signed = fill.qty if fill.side is Side.BUY else -fill.qty
    if count:
        _tally(book, fill)
    closing = min(abs(signed), abs(book.qty)) if book.qty * signed < 0 else 0
    realised: Fraction | None = None
    if closing:
        avg = book.avg_cost
        if avg is not None:
            direction = 1 if book.qty > 0 else -1
            realised = (fill.price - avg) * closing * direction
            if count:
                book.realised += realised
                book.manual += realised if fill.manual else 0
        elif count:
            book.unknown += 1  # a sell against a cost nobody knows realises nothing we can say
        book.cost -= (avg or 0) * closing * (1 if book.qty > 0 else -1)
        book.qty += closing if signed > 0 else -closing
    rest = abs(signed) - closing
    if rest:
        if book.qty == 0:
            book.cost_unknown = False
        book.qty += rest if signed > 0 else -rest
        book.cost += fill.price * rest * (1 if signed > 0 else -1)
    if book.qty == 0:
        book.cost, book.cost_unknown = Fraction(0), False
    if count:
        book.events.append((fill, realised, book.avg_cost))
    return realised


def _tally(book: Book, fill: Fill) -> None:
    value = (fill.price or 0) * fill.qty
    if fill.side is Side.BUY:
        book.bought_qty, book.buy_value = book.bought_qty + fill.qty, book.buy_value + value
    else:
        book.sold_qty, book.sell_value = book.sold_qty + fill.qty, book.sell_value + value


def _move_unpriced(book: Book, fill: Fill) -> None:
    """A fill without a price still moves the quantity; the cost from then on is unknown."""
    book.qty += fill.qty if fill.side is Side.BUY else -fill.qty
    book.cost_unknown = book.qty != 0
    if book.qty == 0:
        book.cost = Fraction(0)


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


def compute(bases: dict[str, Basis], before: list[Fill], fills: list[Fill],
            marks: dict[str, Mark]) -> Pnl:
    """The period's P&L: each symbol starts from its basis, moved by `before` (fills between
    the basis and the period's start, not counted), then by the period's `fills`."""
    books: dict[str, Book] = {s: start(b) for s, b in bases.items()}
    for fill in sorted(before, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill, count=False)
    touched = set()
    for fill in sorted(fills, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill)
        touched.add(fill.symbol)
    rows = [_row(b, marks.get(s)) for s, b in sorted(books.items())
            if s in touched or b.qty]
    return Pnl(tuple(rows))


def _order(fill: Fill) -> tuple[datetime, str]:
    return fill.at, fill.fill_id


def _row(book: Book, mark: Mark | None) -> SymbolPnl:
    value = unrealised(book, mark)
    return SymbolPnl(
        symbol=book.symbol, bought_qty=book.bought_qty, sold_qty=book.sold_qty,
        avg_cost=book.avg_cost, realised=book.realised, open_qty=book.qty,
        close_price=mark.price if mark else None,
        price_source=mark.source if mark and mark.price is not None else None,
        unrealised=value, manual=book.manual, unknown_fills=book.unknown,
        buy_value=book.buy_value, sell_value=book.sell_value)


def sell_realised(bases: dict[str, Basis], before: list[Fill], fills: list[Fill],
                  order_id: str) -> tuple[Fraction, Fraction | None] | None:
    """What one order's fills realised and the average cost they sold against, or None when
    any of its fills has no price (or its cost is unknown)."""
    books: dict[str, Book] = {s: start(b) for s, b in bases.items()}
    for fill in sorted(before, key=_order):
        apply(books.setdefault(fill.symbol, Book(fill.symbol)), fill, count=False)
    total, avg, seen = Fraction(0), None, False
    for fill in sorted(fills, key=_order):
        book = books.setdefault(fill.symbol, Book(fill.symbol))
        cost_before = book.avg_cost
        realised = apply(book, fill)
        if fill.order_id == order_id:
            seen = True
            if realised is None:
                return None
            total += realised
            avg = avg if avg is not None else cost_before
    return (total, avg) if seen else None


def cumulative(pnl_by_day: list[tuple[date, Fraction]]) -> list[tuple[date, Fraction]]:
    """Running total of realised P&L, day by day."""
    total, out = Fraction(0), []
    for day, amount in sorted(pnl_by_day):
        total += amount
        out.append((day, total))
    return out


def agrees(ours: Fraction | None, theirs: Fraction | None, qty: int) -> bool:
    """Whether our cost and the broker's agree to within half a paisa a share (brokers round
    the average price they show)."""
    if ours is None or theirs is None:
        return True
    return abs(ours - theirs) <= Fraction(1, 200) * max(qty, 1)
