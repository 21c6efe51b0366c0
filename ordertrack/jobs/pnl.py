"""P&L from the broker's own fills (issue 26): reading the trade book and the holdings' cost,
what one sell realised (verify's execution notification), the day's figures (eod's summary)
and any period's (`ordertrack pnl`, the report). The rules are core/pnl.py's."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ordertrack.broker.base import Broker
from ordertrack.core import charges as charges_core
from ordertrack.core import pnl as core
from ordertrack.core.book import BrokerOrder, Fetch, Outcome
from ordertrack.core.models import FILL_KINDS, Event, EventKind, Order, Side
from ordertrack.core.trading_calendar import ist_date
from ordertrack.jobs import period as periods
from ordertrack.store import fills as fill_store
from ordertrack.store.db import Database
from ordertrack.store.report_data import Period

BEFORE_CHARGES = "before charges"
# How far back a period's starting cost is looked for before it is called unknown.
BASIS_LOOKBACK = timedelta(days=400)
FILL_IN = timedelta(days=7)  # how far back eod gives sells seen without a trade book a figure


def saw_fill(db: Database, book: tuple[BrokerOrder, ...]) -> bool:
    """Whether the order book shows a fill of a registered order that ordertrack has not
    recorded yet (only then does verify read the trade book)."""
    shown = {row.order_id: row.filled_qty for row in book if row.filled_qty}
    if not shown:
        return False
    recorded = fill_store.filled_of(db, list(shown))
    return any(qty > recorded[oid] for oid, qty in shown.items() if oid in recorded and qty)


def read_trade_book(broker: Broker) -> Fetch:
    try:
        return broker.trade_book()
    except AttributeError:  # a broker without a trade book
        return Fetch(Outcome.UNSUPPORTED)


def keep_fills(db: Database, fetch: Fetch | None, now: datetime) -> int:
    """Record a usable trade book's fills (in the caller's transaction)."""
    if fetch is None or fetch.outcome is not Outcome.OK:
        return 0
    return fill_store.save_fills(db, fetch.items, now)


def sell_figures(
    db: Database, order: Order, event: Event, event_id: int, now: datetime
) -> dict[str, Any]:
    """What a SELL fill event realised and against what average cost, for its notification;
    {} when the trade book does not (yet) list all of the order's fills, or any is unpriced."""
    if order.side is not Side.SELL or event.kind not in FILL_KINDS or not order.order_id:
        return {}
    today = ist_date(now)
    day_fills = fill_store.fills_between(db, today - BASIS_LOOKBACK, today, order.symbol)
    mine = [
        f
        for f in day_fills
        if f.order_id == order.order_id and not f.fill_id.startswith(("order:", "manual:"))
    ]
    if sum(f.qty for f in mine) < event.filled_qty:
        return {}  # the trade book is behind the order book: eod fills it in
    result = _order_realised(db, order.order_id, day_fills, today)
    if result is None:
        return {}
    realised, avg = result
    already = sum(
        (
            Fraction(Decimal(v))
            for v in fill_store.realised_of_order(db, order.order_id, event_id).values()
        ),
        Fraction(0),
    )
    fill_store.save_sell(db, event_id, realised - already, avg, now)
    return {"realised": _money(realised - already), "avg_cost": _money(avg)}


def _order_realised(
    db: Database, order_id: str, fills: list[core.Fill], today: date
) -> tuple[Fraction, Fraction | None] | None:
    first = min((f.day for f in fills if f.order_id == order_id), default=today)
    basis_day, bases = fill_store.bases(db, first)
    before = [f for f in fills if basis_day is not None and basis_day <= f.day < first]
    period = [f for f in fills if f.day >= first]
    return core.sell_realised(bases, before, period, order_id)


def fill_in_sells(db: Database, since: datetime, now: datetime) -> int:
    """Sells seen while the trade book could not be read get their realised figure now."""
    done = 0
    for row in fill_store.unpriced_sells(db, since):
        order = _order_of(db, row["order_id"])
        if order is None:
            continue
        event = Event(EventKind(row["kind"]), "", order.status, row["filled_qty"])
        done += bool(sell_figures(db, order, event, row["id"], now))
    return done


def _order_of(db: Database, order_id: str) -> Order | None:
    from ordertrack.store import orders

    return orders.find_order(db, order_id)


def refresh(db: Database, broker: Broker, now: datetime) -> str | None:
    """eod's read: the trade book's fills and the holdings' cost and prices for today. Returns
    what failed, or None."""
    trades, holdings = read_trade_book(broker), broker.holdings()
    problems = []
    from ordertrack.store.db import transaction

    with transaction(db):
        if trades.outcome is Outcome.FAILED:
            problems.append(f"trade book: {trades.error}")
        keep_fills(db, trades, now)
        if holdings.outcome is Outcome.FAILED:
            problems.append(f"holdings: {holdings.error}")
        elif holdings.usable:
            fill_store.save_marks(db, ist_date(now), holdings.items, now)
    return "; ".join(problems) or None


def save_marks(db: Database, holdings: Fetch, positions: Fetch, now: datetime) -> None:
    """reconcile's holdings, kept as the cost the day starts from, and the positions' traded
    amounts, the price of a manual trade that has no other (caller's transaction)."""
    if holdings.usable:
        fill_store.save_marks(db, ist_date(now), holdings.items, now)
    if positions.usable:
        fill_store.save_position_prices(db, ist_date(now), positions.items, now)


# ---- a period's figures -----------------------------------------------------------------------


def period(
    today: date,
    day: str | None = None,
    week: bool = False,
    month: bool = False,
    first: str | None = None,
    last: str | None = None,
) -> Period:
    """`--day D` (default today), `--week`/`--month` (the 7 and 30 IST days ending today), or
    `--from D [--to D]`, read as `report` reads them."""
    return periods.period(today, day, week, first, last, month)


def _compute(db: Database, p: Period) -> tuple[list[core.Fill], list[core.Fill], core.Pnl]:
    """The period's fills before it (from its starting cost on) and in it, and its P&L."""
    basis_day, bases = fill_store.bases(db, p.first)
    start = max(basis_day or p.first, p.first)
    fills = fill_store.fills_between(db, min(basis_day or p.first, p.first), p.last)
    before = [f for f in fills if f.day < p.first and (basis_day is None or f.day >= basis_day)]
    inside = [f for f in fills if f.day >= start]
    return before, inside, core.compute(bases, before, inside, fill_store.marks(db, p.last))


def figures(db: Database, p: Period, charges_table: dict[str, Any] | None) -> dict[str, Any]:
    """The period's P&L as `pnl --json` shows it."""
    before, inside, result = _compute(db, p)
    cost = (
        charges_core.total(charges_core.parse(charges_table), inside)
        if charges_table is not None
        else None
    )
    return {
        "from": p.first.isoformat(),
        "to": p.last.isoformat(),
        "realised": _money(result.realised),
        "unrealised": _money(result.unrealised),
        "charges": _money(cost),
        "net": _money(result.realised - cost) if cost is not None else None,
        "before_charges": cost is None,
        "symbols": [_symbol(s) for s in result.symbols],
    }


def _symbol(s: core.SymbolPnl) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "bought_qty": s.bought_qty,
        "sold_qty": s.sold_qty,
        "avg_cost": _money(s.avg_cost),
        "realised": _money(s.realised),
        "open_qty": s.open_qty,
        "close_price": _money(s.close_price),
        "unrealised": _money(s.unrealised),
        "manual": _money(s.manual),
    }


def extras(db: Database, p: Period) -> dict[str, Any]:
    """What the table and the report add to the JSON: price sources, unpriced fills and the
    realised P&L of each day with its running total (for the cumulative chart)."""
    before, inside, result = _compute(db, p)
    by_day = core.realised_by_day(fill_store.bases(db, p.first)[1], before, inside)
    running, days = Fraction(0), []
    for day in p.days:
        amount = by_day.get(day, Fraction(0))
        running += amount
        days.append(
            {"day": day.isoformat(), "realised": _money(amount), "cumulative": _money(running)}
        )
    return {
        "sources": {s.symbol: s.price_source for s in result.symbols},
        "unknown": {s.symbol: s.unknown_fills for s in result.symbols if s.unknown_fills},
        "days": days,
    }


def _money(amount: Fraction | None) -> float | None:
    value = core.rupees(amount)
    return None if value is None else float(value)


def mismatches(db: Database, day: date) -> list[str]:
    """Where the broker's holdings on `day` disagree with what ordertrack's figures say they
    should be (the previous holdings it read, moved by the fills since): a corporate action,
    a trade outside the account's view. Said on the day it shows, instead of a confident
    wrong number; the next day starts again from the broker's own cost."""
    previous = fill_store.previous_marks_day(db, day)
    if previous is None:
        return []
    _, bases = fill_store.bases(db, previous)
    fills = [f for f in fill_store.fills_between(db, previous, day) if f.day < day]
    expected = {s.symbol: s for s in core.compute(bases, [], fills, {}).symbols}
    out = []
    for row in fill_store.broker_figures(db, day):
        mine, theirs = expected.get(row["symbol"]), core.price(row["avg_price"])
        if mine is None or not mine.open_qty and not row["qty"]:
            continue
        if mine.open_qty != row["qty"]:
            out.append(
                f"{row['symbol']}: the broker holds {row['qty']}, the fills ordertrack"
                f" knows leave {mine.open_qty}"
            )
        elif not core.agrees(mine.avg_cost, theirs, 1):
            out.append(
                f"{row['symbol']}: the broker's average cost is"
                f" {float(theirs or 0):.2f}, ordertrack's {float(mine.avg_cost or 0):.2f}"
            )
    return out


def _broker_holding(row: dict[str, Any], price: Fraction | None, source: str | None) -> Any:
    """The broker's own figure for one mark row: Kite's `pnl` (at its `last_price`, our mark
    too), else Kotak's market value less its cost (at value ÷ quantity)."""
    from ordertrack.core.broker_pnl import BrokerHolding

    qty = int(row["qty"] or 0)
    value, cost = _amount(row["broker_value"]), _amount(row["broker_cost"])
    figure = _amount(row["broker_pnl"])
    their_price = value / qty if value is not None and qty else None
    if figure is None and value is not None and cost is not None:
        figure = value - cost
    if their_price is None and source == "last_price":
        their_price = price
    unit_cost = cost / qty if cost is not None and qty else core.price(row["avg_price"])
    return BrokerHolding(qty, figure, their_price, unit_cost)


def _amount(text: str | None) -> Fraction | None:
    """A stored amount that may be 0 or negative (a P&L), unlike a price."""
    if text is None:
        return None
    try:
        return Fraction(Decimal(str(text)))
    except (ValueError, ArithmeticError):
        return None


def broker_differences(db: Database, day: date) -> list[dict[str, Any]]:
    """Where the broker gives its own unrealised P&L for a tracked holding and ours differs:
    both figures and what explains the difference (core/broker_pnl.py). Two differences are
    expected and not repeated here: a quantity that differs on a day with fills in the symbol
    (the day's trades settle T+1, so the broker's holdings do not show them yet), and one
    made only of the price when ours is the previous close (Kotak: its line says so)."""
    from ordertrack.core.broker_pnl import compare

    _, _, result = _compute(db, Period(day, day))
    ours = {s.symbol: s for s in result.symbols if s.open_qty}
    out = []
    for row in fill_store.broker_figures(db, day):
        mine = ours.get(row["symbol"])
        if mine is None:
            continue
        broker = _broker_holding(row, mine.close_price, mine.price_source)
        if broker.qty != mine.open_qty and (mine.bought_qty or mine.sold_qty):
            continue
        found = compare(mine.symbol, mine.open_qty, mine.avg_cost, mine.close_price, broker)
        if found is None or (
            mine.price_source != "last_price" and [w for w, _ in found.parts] == ["price"]
        ):
            continue
        out.append(
            {
                "symbol": found.symbol,
                "ours": _money(found.ours),
                "broker": _money(found.theirs),
                "difference": _money(found.amount),
                "parts": [{"what": what, "amount": _money(amount)} for what, amount in found.parts],
                "price": _money(mine.close_price),
                "price_source": mine.price_source,
                "broker_price": _money(broker.price),
                "avg_cost": _money(mine.avg_cost),
                "broker_avg_cost": _money(broker.unit_cost),
                "qty": mine.open_qty,
                "broker_qty": broker.qty,
            }
        )
    return out


def day_block(db: Database, day: date, charges_table: dict[str, Any] | None) -> dict[str, Any]:
    """The daily summary's P&L: the day's figures and any disagreement with the broker."""
    block = figures(db, Period(day, day), charges_table)
    block["valued"] = sum(
        1 for s in block["symbols"] if s["open_qty"] and s["unrealised"] is not None
    )
    block["mismatches"] = mismatches(db, day)
    block["broker_pnl"] = broker_differences(db, day)
    more = extras(db, Period(day, day))
    block["sources"], block["unknown"] = more["sources"], more["unknown"]
    return block


def add_to_summary(
    db: Database,
    payload: dict[str, Any],
    day: date,
    charges_table: dict[str, Any] | None,
    now: datetime,
    problem: str | None = None,
) -> None:
    """eod: sells seen without a trade book get their figure, and the day's summary its P&L
    (only when the day has fills or valued holdings: a quiet day's summary is as before)."""
    from ordertrack.store.db import transaction

    with transaction(db):
        fill_in_sells(db, now - FILL_IN, now)
    block = day_block(db, day, charges_table)
    if (
        block["mismatches"]
        or block["broker_pnl"]
        or any(
            s["bought_qty"] or s["sold_qty"] or s["unrealised"] is not None and s["open_qty"]
            for s in block["symbols"]
        )
    ):
        payload["pnl"] = block
        if problem:  # the figures stand on the order book's prices: say so
            block["problem"] = problem
