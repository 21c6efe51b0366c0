"""Fills, the broker's holdings marks and what sells realised (migration m015_fills): the SQL
behind P&L. Prices are kept as exact decimal text and read back as Fractions."""

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ordertrack.core.book import BrokerFill, Holding, Position
from ordertrack.core.models import FILL_KINDS, Side
from ordertrack.core.pnl import Basis, Fill, Mark, price
from ordertrack.core.trading_calendar import ist_date
from ordertrack.store.db import Database
from ordertrack.timeutil import from_db, to_db


def _text(value: float | Fraction | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, Fraction):
        return str(float(value)) if value.denominator != 1 else str(value.numerator)
    return repr(float(value))


def save_fills(db: Database, fills: tuple[BrokerFill, ...], now: datetime) -> int:
    """Record trade-book fills not seen before (by fill id); a fill whose order ordertrack
    did not register is manual. Returns how many were new."""
    registered = {
        r[0]
        for r in db.execute(
            "SELECT order_id FROM orders WHERE order_id IN (SELECT value FROM json_each(?))",
            (_json([f.order_id for f in fills]),),
        )
    }
    new = 0
    for f in fills:
        at = f.at or now
        cursor = db.execute(
            "INSERT OR IGNORE INTO fills (fill_id, order_id, symbol, side, qty, price, at, day,"
            " manual, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f"{f.order_id}:{f.fill_id}",
                f.order_id,
                f.symbol,
                f.side.value,
                f.qty,
                _text(f.price),
                to_db(at),
                ist_date(at).isoformat(),
                int(f.order_id not in registered),
                to_db(now),
            ),
        )
        new += cursor.rowcount
    return new


def _json(values: list[Any]) -> str:
    import json

    return json.dumps(values)


def save_marks(db: Database, day: date, holdings: tuple[Holding, ...], now: datetime) -> None:
    """What the broker says each holding cost and is worth today (the latest read wins)."""
    for h in holdings:
        mark, source = (
            (h.last_price, "last_price")
            if h.last_price
            else (h.close_price, "previous close")
            if h.close_price
            else (None, None)
        )
        db.execute(
            "INSERT OR REPLACE INTO pnl_marks (day, symbol, qty, avg_price, price, price_source,"
            " broker_cost, broker_value, broker_pnl, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                day.isoformat(),
                h.symbol,
                h.qty + h.t1_qty,
                _text(h.avg_price),
                _text(mark),
                source,
                _text(h.cost),
                _text(h.value),
                _text(h.pnl),
                to_db(now),
            ),
        )


def _fill(row: dict[str, Any], manual: bool | None = None) -> Fill:
    at = from_db(row["at"])
    assert at is not None
    return Fill(
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=price(row["price"]),
        at=at,
        day=date.fromisoformat(row["day"]),
        fill_id=row["fill_id"],
        order_id=row["order_id"],
        manual=bool(row["manual"]) if manual is None else manual,
    )


def fills_between(db: Database, first: date, last: date, symbol: str | None = None) -> list[Fill]:
    """Every fill of the IST days [first, last] (of one symbol, when given): the trade
    book's, then (for orders it does not list) the order book's average price, tracked
    orders' and manual orders' alike."""
    only = " AND symbol = ?" if symbol else ""
    params = (first.isoformat(), last.isoformat(), *((symbol,) if symbol else ()))
    rows = [
        _fill(r)
        for r in db.query(
            "SELECT fill_id, order_id, symbol, side, qty, price, at, day, manual FROM fills"
            f" WHERE day >= ? AND day <= ?{only} ORDER BY at, id",
            params,
        )
    ]
    found = [*rows, *[f for f in _order_book_fills(db, symbol) if first <= f.day <= last]]
    return _priced_from_positions(db, found)


def _priced_from_positions(db: Database, fills: list[Fill]) -> list[Fill]:
    """A manual fill without a price takes the day's average price of its side from the
    positions' traded amounts, when reconcile saw them."""
    wanted = {id(f) for f in fills if f.manual and f.price is None}
    if not wanted:
        return fills
    prices = {
        (r["day"], r["symbol"]): r
        for r in db.query("SELECT day, symbol, buy_avg, sell_avg FROM position_prices")
    }
    out = []
    for f in fills:
        row = prices.get((f.day.isoformat(), f.symbol)) if id(f) in wanted else None
        if row is not None:
            f = replace(f, price=price(row["buy_avg" if f.side is Side.BUY else "sell_avg"]))
        out.append(f)
    return out


def save_position_prices(
    db: Database, day: date, positions: tuple[Position, ...], now: datetime
) -> None:
    for p in positions:
        buy = (
            Fraction(Decimal(str(p.bought_value))) / p.bought_qty
            if p.bought_qty and p.bought_value
            else None
        )
        sell = (
            Fraction(Decimal(str(p.sold_value))) / p.sold_qty
            if p.sold_qty and p.sold_value
            else None
        )
        if buy is None and sell is None:
            continue
        db.execute(
            "INSERT OR REPLACE INTO position_prices (day, symbol, buy_avg, sell_avg, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (day.isoformat(), p.symbol, _exact(buy), _exact(sell), to_db(now)),
        )


def _exact(amount: Fraction | None) -> str | None:
    """Enough decimals that an average of paise amounts comes back as it was."""
    return None if amount is None else f"{Decimal(amount.numerator) / amount.denominator:.10f}"


def _order_book_fills(db: Database, symbol: str | None) -> list[Fill]:
    """An order the trade book never listed counts once at its order-book average price (0 is
    no price), at the time its last fill was recorded."""
    only, params = (" AND symbol = ?", (symbol,)) if symbol else ("", ())
    out = []
    for r in db.query(
        "SELECT o.order_id, o.id, o.symbol, o.side, o.filled_qty AS qty, o.avg_price,"
        # the broker's time of the fill when it is believable (after the order was placed,
        # before ordertrack saw it), else when ordertrack saw it
        " (SELECT max(CASE WHEN e.broker_time >= o.placed_at AND e.broker_time <= e.at"
        "  THEN e.broker_time ELSE e.at END) FROM events e WHERE e.order_ref = o.id"
        "  AND e.delta_qty != 0) AS at FROM orders o WHERE o.filled_qty > 0 AND"
        " (o.order_id IS NULL OR o.order_id NOT IN (SELECT order_id FROM fills))"
        + only.replace("symbol", "o.symbol"),
        params,
    ):
        at = from_db(r["at"])
        if at is not None:
            out.append(
                Fill(
                    r["symbol"],
                    Side(r["side"]),
                    r["qty"],
                    price(r["avg_price"]),
                    at,
                    ist_date(at),
                    f"order:{r['id']}",
                    r["order_id"],
                )
            )
    for r in db.query(
        "SELECT order_id, symbol, side, filled_qty, avg_price, updated_at FROM manual_orders"
        " WHERE filled_qty > 0 AND side IN ('BUY', 'SELL')"
        " AND order_id NOT IN (SELECT order_id FROM fills)" + only,
        params,
    ):
        at = from_db(r["updated_at"])
        if at is not None:
            out.append(
                Fill(
                    r["symbol"],
                    Side(r["side"]),
                    r["filled_qty"],
                    price(r["avg_price"]),
                    at,
                    ist_date(at),
                    f"manual:{r['order_id']}",
                    r["order_id"],
                    manual=True,
                )
            )
    return out


def bases(db: Database, first: date) -> tuple[date | None, dict[str, Basis]]:
    """The holdings a period starting on `first` starts from: the latest marks of a day up to
    `first` (holdings read on a day are what was owned when it began: trades settle T+1), else
    the first marks ever read (P&L counts from the first day the holdings' cost was read)."""
    row = db.execute(
        "SELECT max(day) FROM pnl_marks WHERE day <= ?", (first.isoformat(),)
    ).fetchone()
    if row[0] is None:
        row = db.execute("SELECT min(day) FROM pnl_marks").fetchone()
    if row[0] is None:
        return None, {}
    day = date.fromisoformat(row[0])
    return day, {
        r["symbol"]: Basis(r["symbol"], r["qty"], price(r["avg_price"]))
        for r in db.query("SELECT symbol, qty, avg_price FROM pnl_marks WHERE day = ?", (row[0],))
    }


def marks(db: Database, last: date) -> dict[str, Mark]:
    """Each symbol's latest price known by the end of `last`, and where it came from."""
    return {
        r["symbol"]: Mark(price(r["price"]), r["price_source"] or "")
        for r in db.query(
            "SELECT m.symbol, m.price, m.price_source FROM pnl_marks m WHERE m.day = (SELECT"
            " max(day) FROM pnl_marks n WHERE n.symbol = m.symbol AND n.day <= ?)",
            (last.isoformat(),),
        )
    }


def broker_figures(db: Database, day: date) -> list[dict[str, Any]]:
    """The broker's own cost and average price for the day's marks (the checks compare)."""
    return list(
        db.query(
            "SELECT symbol, qty, avg_price, broker_cost, broker_value, broker_pnl"
            " FROM pnl_marks WHERE day = ?",
            (day.isoformat(),),
        )
    )


def save_sell(
    db: Database, event_id: int, realised: Fraction, avg_cost: Fraction | None, now: datetime
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO sell_pnl (event_id, realised, avg_cost, at) VALUES (?, ?, ?, ?)",
        (event_id, _decimal(realised), _decimal(avg_cost), to_db(now)),
    )


def _decimal(amount: Fraction | None) -> str | None:
    from ordertrack.core.pnl import rupees

    value = rupees(amount)
    return None if value is None else str(value)


_FILL_KINDS = str(tuple(k.value for k in FILL_KINDS))  # in SQL: ('EXECUTED', 'PARTIAL_FILL')


def unpriced_sells(db: Database, since: datetime) -> list[dict[str, Any]]:
    """Sell fill events since `since` with no realised figure yet (the trade book was not
    read when they were seen): eod fills them in."""
    return list(
        db.query(
            "SELECT e.id, e.kind, e.filled_qty, o.order_id FROM events e"
            " JOIN orders o ON o.id = e.order_ref"
            f" WHERE o.side = '{Side.SELL.value}' AND e.kind IN {_FILL_KINDS} AND e.at >= ?"
            " AND o.order_id IS NOT NULL AND e.id NOT IN (SELECT event_id FROM sell_pnl)"
            " ORDER BY e.id",
            (to_db(since),),
        )
    )


def realised_by_event(db: Database, event_ids: list[int]) -> dict[int, str]:
    return {
        r[0]: r[1]
        for r in db.execute(
            "SELECT event_id, realised FROM sell_pnl WHERE event_id IN"
            " (SELECT value FROM json_each(?))",
            (_json(event_ids),),
        )
    }


def realised_of_order(db: Database, order_id: str, but: int) -> dict[int, str]:
    """What the order's other fill events realised already (a partial fill, then the rest)."""
    return {
        r[0]: r[1]
        for r in db.execute(
            "SELECT s.event_id, s.realised FROM sell_pnl s JOIN events e ON e.id = s.event_id"
            " JOIN orders o ON o.id = e.order_ref WHERE o.order_id = ? AND s.event_id != ?",
            (order_id, but),
        )
    }


def filled_of(db: Database, order_ids: list[str]) -> dict[str, int]:
    """The filled quantity recorded for each of these broker order ids that is registered."""
    return {
        r[0]: r[1]
        for r in db.execute(
            "SELECT order_id, filled_qty FROM orders WHERE order_id IN"
            " (SELECT value FROM json_each(?))",
            (_json(order_ids),),
        )
    }


def previous_marks_day(db: Database, day: date) -> date | None:
    row = db.execute("SELECT max(day) FROM pnl_marks WHERE day < ?", (day.isoformat(),)).fetchone()
    return date.fromisoformat(row[0]) if row[0] else None
