"""Kite Connect rows into the normalised types (broker-apis.md §11–12)."""

from datetime import UTC

import pytest

from ordertrack.broker.kite import format as kite
from ordertrack.core.book import BrokerState, Outcome
from ordertrack.core.models import Side
from tests.fake_kite import kite_row, ok


@pytest.mark.parametrize(
    "status, state",
    [
        ("OPEN", BrokerState.WORKING),
        ("COMPLETE", BrokerState.COMPLETE),
        ("REJECTED", BrokerState.REJECTED),
        ("CANCELLED", BrokerState.CANCELLED),
        ("AMO REQ RECEIVED", BrokerState.WORKING),
        ("PUT ORDER REQ RECEIVED", BrokerState.WORKING),
        ("VALIDATION PENDING", BrokerState.WORKING),
        ("TRIGGER PENDING", BrokerState.WORKING),
        ("MODIFY PENDING", BrokerState.WORKING),
        ("CANCEL PENDING", BrokerState.WORKING),
        ("SOMETHING NEW", BrokerState.WORKING),
        ("", BrokerState.UNKNOWN),
    ],
)
def test_anything_not_final_is_working(status, state):
    assert kite.broker_state(status) is state


def test_an_order_row_is_normalised():
    row = kite_row(
        "1",
        "OPEN",
        symbol="INFY",
        qty=10,
        filled=4,
        avg=1849.5,
        tag="bot-7",
        reason="partially filled",
        updated="2026-11-24 09:31:05",
    )
    order = kite.order_row(row)
    assert order is not None
    assert (order.order_id, order.status_text, order.state) == ("1", "open", BrokerState.WORKING)
    assert (order.symbol, order.side, order.qty, order.filled_qty) == ("INFY", Side.BUY, 10, 4)
    assert (order.avg_price, order.tag, order.reason) == (1849.5, "bot-7", "partially filled")
    assert order.placed_at and order.placed_at.isoformat() == "2026-11-24T04:00:00+00:00"
    assert order.updated_at and order.updated_at.isoformat() == "2026-11-24T04:01:05+00:00"


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": -1},
        {"quantity": 0},
        {"filled_quantity": 11},
        {"average_price": "abc"},
        {"order_id": None},
    ],
)
def test_rows_that_cannot_be_true_are_skipped(change):
    fetch = kite.order_book(ok([{**kite_row("1", "COMPLETE", filled=10), **change}, kite_row("2")]))
    assert [o.order_id for o in fetch.items] == ["2"] and fetch.skipped == 1


def test_amo_is_recognised_by_variety_or_status():
    assert kite.is_amo(kite_row("1", "OPEN", variety="amo"))
    assert kite.is_amo(kite_row("1", "AMO REQ RECEIVED"))
    assert not kite.is_amo(kite_row("1", "OPEN"))


@pytest.mark.parametrize(
    "payload, outcome",
    [
        (ok([]), Outcome.EMPTY),
        (
            {"status": "error", "error_type": "TokenException", "message": "expired", "data": None},
            Outcome.FAILED,
        ),
        ([], Outcome.FAILED),
        ({"status": "success"}, Outcome.FAILED),
    ],
)
def test_the_envelope(payload, outcome):
    assert kite.order_book(payload).outcome is outcome


def test_an_error_envelope_is_one_line_naming_its_type():
    line = kite.error_line(
        {
            "status": "error",
            "error_type": "OrderException",
            "message": "Order\nnot found",
            "data": None,
        }
    )
    assert line == "OrderException: Order not found"


def test_holdings_carry_t1_quantity():
    fetch = kite.holdings(
        ok([{"tradingsymbol": "ITBEES", "quantity": 40, "t1_quantity": 5}, {"quantity": 3}])
    )
    [holding] = fetch.items
    assert (holding.symbol, holding.qty, holding.t1_qty) == ("ITBEES", 40, 5)


def test_positions_read_the_day_list_else_net():
    both = kite.positions(
        ok(
            {
                "net": [{"tradingsymbol": "IDEA", "quantity": 7}],
                "day": [{"tradingsymbol": "IDEA", "quantity": 2}],
            }
        )
    )
    assert [(p.symbol, p.net_qty) for p in both.items] == [("IDEA", 2)]
    net_only = kite.positions(ok({"net": [{"tradingsymbol": "IDEA", "quantity": -3}]}))
    assert [(p.symbol, p.net_qty) for p in net_only.items] == [("IDEA", -3)]
    assert kite.positions(ok({"net": [], "day": []})).outcome is Outcome.EMPTY
    assert kite.positions(ok([])).outcome is Outcome.FAILED


def test_request_token_from_a_redirect_url_or_bare():
    from datetime import datetime

    from ordertrack.broker.daily_token import next_morning as token_expiry
    from ordertrack.broker.kite.client import request_token

    assert (
        request_token("https://x.example/cb?action=login&request_token=abc123&status=success")
        == "abc123"
    )
    assert request_token("  abc123\n") == "abc123"
    ends = token_expiry(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))  # 08:00 IST
    assert ends.isoformat() == "2026-11-25T00:30:00+00:00"  # 06:00 IST next day


def test_a_zero_average_price_is_no_reason_to_skip_a_row():
    fetch = kite.order_book(ok([kite_row("1", "REJECTED", avg=0.0, reason="RMS")]))
    assert [o.reason for o in fetch.items] == ["RMS"]
