"""The P&L rules of core/pnl.py and core/charges.py: the issue's worked examples and a property
that holds for any sequence of fills."""

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrack.core import charges, pnl
from ordertrack.core.models import Side
from ordertrack.core.pnl import Basis, Fill, Mark

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
_n = iter(range(10**6))


def fill(
    side: str,
    qty: int,
    price: float | None,
    symbol: str = "INFY",
    day: date = DAY,
    order: str | None = None,
    manual: bool = False,
) -> Fill:
    n = next(_n)
    return Fill(
        symbol,
        Side(side),
        qty,
        pnl.price(price),
        T0 + timedelta(seconds=n),
        day,
        f"f{n}",
        order or f"o{n}",
        manual,
    )


def test_two_buys_average_and_a_sell_realises_against_it() -> None:
    result = pnl.compute(
        {},
        [],
        [fill("BUY", 10, 100), fill("BUY", 10, 110), fill("SELL", 5, 120)],
        {"INFY": Mark(Fraction(130), "x")},
    )
    row = result.symbols[0]
    assert row.avg_cost == 105
    assert row.realised == 75
    assert (row.bought_qty, row.sold_qty, row.open_qty) == (20, 5, 15)
    assert row.unrealised == (130 - 105) * 15


def test_partial_fills_of_one_order_realise_in_parts() -> None:
    bases = {"INFY": Basis("INFY", 10, Fraction(100))}
    parts = [fill("SELL", 3, 110, order="S1"), fill("SELL", 7, 112, order="S1")]
    assert pnl.sell_realised(bases, [], parts, "S1") == (3 * 10 + 7 * 12, Fraction(100))
    row = pnl.compute(bases, [], parts, {}).symbols[0]
    assert row.realised == 114 and row.open_qty == 0 and row.unrealised == 0


def test_intraday_round_trip_realises_against_the_days_buys() -> None:
    bases = {"INFY": Basis("INFY", 10, Fraction(100))}  # held at 100 when the day began
    row = pnl.compute(bases, [], [fill("BUY", 4, 200), fill("SELL", 4, 195)], {}).symbols[0]
    assert row.realised == -20  # against the day's buy at 200, not the average with holdings
    assert row.open_qty == 10 and row.avg_cost == 100


def test_next_day_the_days_buys_join_the_average() -> None:
    bases = {"INFY": Basis("INFY", 10, Fraction(100))}
    fills = [fill("BUY", 10, 110), fill("SELL", 5, 120, day=DAY + timedelta(days=1))]
    row = pnl.compute(bases, [], fills, {}).symbols[0]
    assert row.realised == 5 * (120 - 105) and row.avg_cost == 105


def test_short_covered_the_same_day() -> None:
    row = pnl.compute({}, [], [fill("SELL", 5, 200), fill("BUY", 5, 190)], {}).symbols[0]
    assert row.realised == 50 and row.open_qty == 0


def test_day_starts_from_the_holdings_average() -> None:
    bases = {"TCS": Basis("TCS", 10, Fraction("1820.10"))}
    row = pnl.compute(bases, [], [fill("SELL", 5, 1902.60, symbol="TCS")], {}).symbols[0]
    assert pnl.rupees(row.realised) == pnl.rupees(Fraction("412.50"))


def test_manual_sell_counts_and_is_marked() -> None:
    bases = {"INFY": Basis("INFY", 10, Fraction(100))}
    row = pnl.compute(
        bases, [], [fill("SELL", 4, 105, manual=True), fill("SELL", 2, 90)], {}
    ).symbols[0]
    assert row.realised == 20 - 20 and row.manual == 20


def test_zero_price_is_never_believed() -> None:
    assert pnl.price(0) is None and pnl.price("0.00") is None and pnl.price("--") is None
    bases = {"INFY": Basis("INFY", 10, Fraction(100))}
    row = pnl.compute(bases, [], [fill("SELL", 4, 0)], {}).symbols[0]
    assert row.realised == 0 and row.unknown_fills == 1 and row.open_qty == 6


def test_unknown_cost_gives_no_number_not_zero() -> None:
    bases = {"INFY": Basis("INFY", 10, None)}
    result = pnl.compute(bases, [], [], {"INFY": Mark(Fraction(100), "last_price")})
    assert result.symbols[0].unrealised is None
    assert (
        pnl.compute({"INFY": Basis("INFY", 10, Fraction(90))}, [], [], {}).symbols[0].unrealised
        is None
    )  # no close price: null, never 0


def test_fills_before_the_period_move_the_position_without_counting() -> None:
    before = [fill("BUY", 10, 100, day=DAY - timedelta(days=1))]
    row = pnl.compute({}, before, [fill("SELL", 10, 90)], {}).symbols[0]
    assert row.realised == -100 and row.bought_qty == 0 and row.sold_qty == 10


def test_rupees_round_to_paise() -> None:
    assert str(pnl.rupees(Fraction(1, 3))) == "0.33"
    assert str(pnl.rupees(Fraction(-75))) == "-75.00"


prices = st.integers(min_value=1, max_value=500_000).map(lambda p: Fraction(p, 100))
steps = st.lists(
    st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 500), prices, st.booleans()),
    max_size=30,
)


@given(steps, st.integers(-200, 200), prices, prices)
def test_realised_plus_unrealised_is_value_minus_cost(
    seq: list[tuple[str, int, Fraction, bool]], start_qty: int, start_avg: Fraction, close: Fraction
) -> None:
    """Over any days of buys, sells, shorts and covers, from any starting holding."""
    bases = {"X": Basis("X", start_qty, start_avg)}
    days = [
        DAY + timedelta(days=sum(next_day for *_, next_day in seq[: i + 1]))
        for i in range(len(seq))
    ]
    fills = [
        Fill(
            "X", Side(s), q, p, T0 + timedelta(days=(d - DAY).days, seconds=i), d, f"f{i}", f"o{i}"
        )
        for i, ((s, q, p, _), d) in enumerate(zip(seq, days, strict=True))
    ]
    seq3 = [(s, q, p) for s, q, p, _ in seq]
    result = pnl.compute(bases, [], fills, {"X": Mark(close, "last_price")})
    row = result.symbols[0] if result.symbols else None
    realised = row.realised if row else Fraction(0)
    unrealised = (row.unrealised if row else Fraction(0)) or Fraction(0)
    cash_in = sum(q * p for s, q, p in seq3 if s == "SELL")
    cash_out = sum(q * p for s, q, p in seq3 if s == "BUY")
    end_qty = start_qty + sum(q if s == "BUY" else -q for s, q, _ in seq3)
    market_value = end_qty * close + cash_in
    cost = start_qty * start_avg + cash_out
    assert realised + unrealised == market_value - cost


def test_charges_from_the_table() -> None:
    table = charges.parse(
        {
            "delivery_brokerage_per_order": 0,
            "intraday_brokerage_per_order": 20,
            "intraday_brokerage_pct": 0.03,
            "stt_delivery_pct": 0.1,
            "stt_intraday_sell_pct": 0.025,
            "exchange_pct": 0.00297,
            "sebi_per_crore": 10,
            "stamp_buy_delivery_pct": 0.015,
            "stamp_buy_intraday_pct": 0.003,
            "gst_pct": 18,
        }
    )
    intraday = [fill("BUY", 10, 1000, order="A"), fill("SELL", 10, 1010, order="B")]
    # brokerage: lower of ₹20 and 0.03% per order → 3.00 + 3.03; STT 0.025% of 10,100 = 2.525;
    # stamp 0.003% of 10,000 = 0.30; exchange 0.00297% of 20,100 = 0.59697; SEBI 0.0201
    brokerage = Fraction(3) + Fraction("3.03")
    fees = Fraction("20100") * Fraction("0.00297") / 100 + Fraction(20100) * 10 / 10**7
    expected = (
        brokerage
        + Fraction("2.525")
        + Fraction("0.3")
        + fees
        + (brokerage + fees) * Fraction(18, 100)
    )
    assert charges.total(table, intraday) == expected
    delivery = [fill("BUY", 10, 1000, order="C", day=DAY - timedelta(days=1))]
    assert charges.total(table, delivery) > Fraction(10)  # 0.1% STT + stamp on delivery
    assert charges.total(charges.parse({}), intraday) == 0


@pytest.mark.parametrize(
    "table", [{"gst": 18}, {"gst_pct": "18"}, {"gst_pct": -1}, {"gst_pct": True}]
)
def test_charges_table_rejects_what_it_does_not_know(table: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\[charges\]"):
        charges.parse(table)


def test_realised_by_day_adds_up_to_the_periods_realised() -> None:
    bases = {"INFY": Basis("INFY", 10, Fraction(100))}
    monday, tuesday = DAY, DAY + timedelta(days=1)
    fills = [
        fill("SELL", 2, 110, day=monday),
        fill("BUY", 2, 90, day=tuesday),
        fill("SELL", 3, 80, day=tuesday),
    ]
    by_day = pnl.realised_by_day(bases, [], fills)
    # Tuesday: the sell closes that day's 2 bought at 90 first, then 1 held at 100
    assert by_day == {monday: 20, tuesday: 2 * (80 - 90) + (80 - 100)}
    assert sum(by_day.values()) == pnl.compute(bases, [], fills, {}).realised
