"""Charges on a period's fills, from the optional `[charges]` table: worked out when shown, so
a changed table applies to the past too.

A fill is intraday when the same symbol is bought and sold on the same day, delivery
otherwise; manual trades are charged alike. Percentages are per cent of the traded value.
"""

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date
from fractions import Fraction
from typing import Any

from ordertrack.core.models import Side
from ordertrack.core.pnl import Fill

CRORE = 10_000_000


@dataclass(frozen=True, slots=True)
class Charges:
    delivery_brokerage_per_order: Fraction = Fraction(0)
    intraday_brokerage_per_order: Fraction = Fraction(0)
    intraday_brokerage_pct: Fraction = Fraction(0)
    stt_delivery_pct: Fraction = Fraction(0)
    stt_intraday_sell_pct: Fraction = Fraction(0)
    exchange_pct: Fraction = Fraction(0)
    sebi_per_crore: Fraction = Fraction(0)
    stamp_buy_delivery_pct: Fraction = Fraction(0)
    stamp_buy_intraday_pct: Fraction = Fraction(0)
    gst_pct: Fraction = Fraction(0)


KEYS = tuple(f.name for f in fields(Charges))


def parse(table: dict[str, Any]) -> Charges:
    """The `[charges]` table → Charges; ValueError naming the first key that is unknown or
    not a number (at least 0)."""
    values: dict[str, Fraction] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise ValueError(f"[charges] has no key {key!r} (known: {', '.join(KEYS)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"[charges] {key} must be a number of at least 0, not {value!r}")
        values[key] = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    return Charges(**values)


def intraday_days(fills: list[Fill]) -> set[tuple[str, date]]:
    """(symbol, day) pairs both bought and sold that day."""
    sides: dict[tuple[str, date], set[Side]] = defaultdict(set)
    for fill in fills:
        sides[(fill.symbol, fill.day)].add(fill.side)
    return {key for key, seen in sides.items() if len(seen) == 2}


def _brokerage(c: Charges, value: Fraction, intraday: bool) -> Fraction:
    if not intraday:
        return c.delivery_brokerage_per_order
    offered = [
        x for x in (c.intraday_brokerage_per_order, c.intraday_brokerage_pct * value / 100) if x > 0
    ]
    return min(offered, default=Fraction(0))


def total(c: Charges, fills: list[Fill]) -> Fraction:
    """What the period's priced fills cost in charges. Brokerage is per order (the fills of
    one order are one order); the rest is on traded value."""
    intraday = intraday_days(fills)
    orders: dict[tuple[str, bool], Fraction] = defaultdict(Fraction)
    amount = Fraction(0)
    for fill in fills:
        if fill.price is None:
            continue
        value = fill.price * fill.qty
        is_intraday = (fill.symbol, fill.day) in intraday
        orders[(fill.order_id or fill.fill_id, is_intraday)] += value
        amount += _value_charges(c, value, fill.side, is_intraday)
    brokerage = sum((_brokerage(c, v, i) for (_, i), v in orders.items()), Fraction(0))
    turnover = sum((f.price * f.qty for f in fills if f.price is not None), Fraction(0))
    fees = turnover * c.exchange_pct / 100 + turnover * c.sebi_per_crore / CRORE
    gst = (brokerage + fees) * c.gst_pct / 100
    return amount + brokerage + fees + gst


def _value_charges(c: Charges, value: Fraction, side: Side, intraday: bool) -> Fraction:
    """STT and stamp duty on one fill's value."""
    if intraday:
        stt = c.stt_intraday_sell_pct if side is Side.SELL else Fraction(0)
        stamp = c.stamp_buy_intraday_pct if side is Side.BUY else Fraction(0)
    else:
        stt = c.stt_delivery_pct
        stamp = c.stamp_buy_delivery_pct if side is Side.BUY else Fraction(0)
    return value * (stt + stamp) / 100
