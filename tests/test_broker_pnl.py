"""ordertrack's unrealised P&L beside the broker's own figure (issue 26 §5: Kite's holdings
`pnl`, Kotak's `mktValue` − `holdingCost`): worked examples of the split into price, average
cost, quantity and the rest, a property that the parts add up, and the daily summary through
the real CLI and the file broker in Kite's and Kotak's formats."""

import json
from datetime import datetime
from fractions import Fraction

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from ordertrack.core.broker_pnl import BrokerHolding, compare
from ordertrack.notify.messages import plain_text
from ordertrack.timeutil import IST

F = Fraction


def test_agreeing_figures_say_nothing():
    assert compare("INFY", 10, F(100), F(120), BrokerHolding(10, F(200), F(120), F(100))) is None
    # a paisa a share is rounding
    assert compare("INFY", 10, F(100), F(120), BrokerHolding(10, F("200.09"), None, None)) is None


def test_a_different_average_cost_is_named():
    found = compare("INFY", 10, F(105), F(120), BrokerHolding(10, F(200), F(120), F(100)))
    assert found is not None and found.amount == -50
    assert found.parts == (("average cost", F(-50)),)


def test_the_price_each_used_and_charges_in_the_broker_cost():
    # Kotak: ours at the previous close 118; the broker's value at 120 and a cost with charges
    found = compare("INFY", 10, F(100), F(118), BrokerHolding(10, F(190), F(120), F(101)))
    assert found is not None and (found.ours, found.theirs) == (180, 190)
    assert found.parts == (("price", F(-20)), ("average cost", F(10)))


def test_what_price_and_cost_do_not_explain_is_the_rest():
    found = compare("INFY", 10, F(100), F(120), BrokerHolding(10, F(150), F(120), F(100)))
    assert found is not None and found.parts == (("rest", F(50)),)
    # without the broker's price or cost, all of it is the rest
    found = compare("INFY", 10, F(100), F(120), BrokerHolding(10, F(150), None, None))
    assert found is not None and found.parts == (("rest", F(50)),)


def test_no_broker_figure_or_no_cost_of_ours_compares_nothing():
    assert compare("INFY", 10, F(100), F(120), BrokerHolding(10, None, F(120), F(100))) is None
    assert compare("INFY", 10, None, F(120), BrokerHolding(10, F(1), F(120), F(100))) is None


prices = st.fractions(min_value=1, max_value=5000, max_denominator=100)


@given(
    qty=st.integers(1, 10_000),
    their_qty=st.integers(1, 10_000),
    cost=prices,
    their_cost=prices,
    price=prices,
    their_price=prices,
    noise=st.fractions(min_value=-1000, max_value=1000, max_denominator=100),
)
def test_the_parts_add_up_to_the_difference(
    qty, their_qty, cost, their_cost, price, their_price, noise
):
    theirs = (their_price - their_cost) * their_qty + noise
    found = compare(
        "X", qty, cost, price, BrokerHolding(their_qty, theirs, their_price, their_cost)
    )
    if found is None:
        assert abs((price - cost) * qty - theirs) <= F(1, 100) * max(qty, their_qty)
        return
    # parts under the tolerance are left out; what is shown is within that of the whole
    shown = sum((amount for _, amount in found.parts), F(0))
    assert abs(shown - found.amount) <= 4 * F(1, 100) * max(qty, their_qty)


# ---- through the CLI ---------------------------------------------------------------------------


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "ordertrack.toml"
    path.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(path))
    return path


def eod_summary(cli) -> dict:
    result = cli("eod", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)["summary"]


def kite_files(broker, pnl: float, last: float = 120.0) -> None:
    broker.write(
        "holdings.json",
        {
            "status": "success",
            "data": [
                {
                    "tradingsymbol": "INFY",
                    "exchange": "NSE",
                    "quantity": 10,
                    "t1_quantity": 0,
                    "average_price": 100.0,
                    "last_price": last,
                    "close_price": 118.0,
                    "pnl": pnl,
                }
            ],
        },
    )
    for name in ("orders.json", "positions.json", "trades.json"):
        broker.write(
            name,
            {"status": "success", "data": {"net": [], "day": []}}
            if name == "positions.json"
            else {"status": "success", "data": []},
        )


def test_kite_pnl_that_agrees_adds_no_line(cli, broker, config, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_BROKER_FORMAT", "kite")
    kite_files(broker, pnl=200.0)
    with freeze_time(ist(2026, 11, 24, 18, 30)):
        summary = eod_summary(cli)
    assert summary["pnl"]["broker_pnl"] == []
    assert "P&L vs broker" not in plain_text("DAILY_SUMMARY", summary)


def test_kite_pnl_that_disagrees_is_said_with_the_difference(cli, broker, config, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_BROKER_FORMAT", "kite")
    kite_files(broker, pnl=150.0)  # Kite's own figure; ours is (120 - 100) x 10 = 200
    with freeze_time(ist(2026, 11, 24, 18, 30)):
        summary = eod_summary(cli)
    (diff,) = summary["pnl"]["broker_pnl"]
    assert (diff["symbol"], diff["ours"], diff["broker"], diff["difference"]) == (
        "INFY",
        200.0,
        150.0,
        50.0,
    )
    assert diff["parts"] == [{"what": "rest", "amount": 50.0}]
    text = plain_text("DAILY_SUMMARY", summary)
    assert text.count("P&L vs broker") == 1
    assert (
        "P&L vs broker: INFY unrealised ₹+200.00 here, ₹+150.00 by the broker (₹+50.00:"
        " ₹+50.00 not explained by price, cost or quantity (charges?))"
    ) in text


def test_kotak_value_and_cost_explain_by_price_and_cost(cli, broker, config):
    broker.write(
        "holdings.json",
        {
            "data": [
                {
                    "displaySymbol": "INFY",
                    "quantity": 10,
                    "averagePrice": 100,
                    "closingPrice": 118,
                    "holdingCost": 1010,  # charges in the broker's cost
                    "mktValue": 1200,  # at 120 a share
                }
            ]
        },
    )
    broker.write("positions.json", {"stat": "Ok", "stCode": 5203, "errMsg": "No Data"})
    broker.orders()
    with freeze_time(ist(2026, 11, 24, 18, 30)):
        summary = eod_summary(cli)
    (diff,) = summary["pnl"]["broker_pnl"]
    assert (diff["ours"], diff["broker"]) == (180.0, 190.0)
    assert [p["what"] for p in diff["parts"]] == ["price", "average cost"]
    text = plain_text("DAILY_SUMMARY", summary)
    assert (
        "P&L vs broker: INFY unrealised ₹+180.00 here, ₹+190.00 by the broker (₹−10.00: the"
        " price ₹−20.00: ordertrack's ₹118.00 (previous close), the broker's ₹120.00; the"
        " average cost ₹+10.00: ordertrack's ₹100.00, the broker's ₹101.00)"
    ) in text


def test_kotak_price_alone_differing_at_the_previous_close_is_not_repeated(cli, broker, config):
    broker.write(
        "holdings.json",
        {
            "data": [
                {
                    "displaySymbol": "INFY",
                    "quantity": 10,
                    "averagePrice": 100,
                    "closingPrice": 118,
                    "holdingCost": 1000,
                    "mktValue": 1200,
                }
            ]
        },
    )
    broker.write("positions.json", {"stat": "Ok", "stCode": 5203, "errMsg": "No Data"})
    broker.orders()
    with freeze_time(ist(2026, 11, 24, 18, 30)):
        summary = eod_summary(cli)
    assert summary["pnl"]["broker_pnl"] == []
