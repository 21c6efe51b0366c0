"""The order state machine, without HTTP or a database."""

from datetime import UTC, datetime, timedelta

import pytest

from ordertrack.broker.kotak.format import broker_state, order_row
from ordertrack.core import lifecycle
from ordertrack.core.book import Fetch, Outcome
from ordertrack.core.lifecycle import BrokerState
from ordertrack.core.models import Order, Side, Status
from ordertrack.core.trading_calendar import MissingRules
from tests.helpers import kotak_row

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # Thursday 11:30 IST
MONDAY = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 09:30 IST


def order(status: Status = Status.PENDING, filled: int = 0, qty: int = 100, **kw) -> Order:
    values = dict(
        id=1,
        order_id="250122000700111",
        symbol="INFY",
        side=Side.BUY,
        qty=qty,
        price=1850.0,
        amo=False,
        tag=None,
        placed_at=MONDAY,
        status=status,
        filled_qty=filled,
    )
    values.update(kw)
    return Order(**values)


def seen(status: str, filled=0, qty=100, **kw):
    return order_row(kotak_row("250122000700111", status, qty=qty, filled=filled, **kw))


# Every ordSt value in broker-apis.md §5, with what it means for an order with nothing filled.
VOCABULARY = [
    ("put order req received", Status.PENDING),
    ("validation pending", Status.PENDING),
    ("open pending", Status.PENDING),
    ("open", Status.PENDING),
    ("trigger pending", Status.PENDING),
    ("complete", Status.EXECUTED),
    ("rejected", Status.REJECTED),
    ("cancelled", Status.CANCELLED),
    ("modified", Status.PENDING),
    ("after market order req received", Status.PENDING),
    ("modify after market order req received", Status.PENDING),
    ("cancelled after market order", Status.CANCELLED),
    ("modify validation pending", Status.PENDING),
    ("modify pending", Status.PENDING),
    ("cancel pending", Status.PENDING),
    ("not modified", Status.PENDING),
    ("not cancelled", Status.PENDING),
]


@pytest.mark.parametrize(("ord_st", "expected"), VOCABULARY)
def test_every_documented_ordst_maps(ord_st, expected):
    change = lifecycle.observe(order(), seen(ord_st, filled=100 if ord_st == "complete" else 0))
    assert change.after.status is expected
    assert broker_state(ord_st) is not BrokerState.UNKNOWN


@pytest.mark.parametrize(
    "spelling",
    [
        "COMPLETE",
        "Complete",
        "  complete ",
        "After Market Order Req Received",
        "CANCELED",
        "Cancelled  After Market  Order",
    ],
)
def test_status_is_compared_case_and_space_insensitively(spelling):
    assert broker_state(spelling) is not BrokerState.UNKNOWN


def test_complete_executes_with_fill_event_and_delta():
    change = lifecycle.observe(order(), seen("complete", filled=100, avg="1849.90"))
    assert change.after.status is Status.EXECUTED
    assert change.after.avg_price == 1849.90
    [event] = change.events
    assert (event.kind, event.delta_qty, event.filled_qty) == ("EXECUTED", 100, 100)


def test_complete_without_filled_quantity_means_fully_filled():
    change = lifecycle.observe(order(), seen("complete", filled="NA"))
    assert change.after.filled_qty == 100


def test_open_with_partial_quantity_is_partially_filled():
    change = lifecycle.observe(order(), seen("open", filled=40, avg="1849.85"))
    assert change.after.status is Status.PARTIALLY_FILLED
    [event] = change.events
    assert (event.kind, event.delta_qty, event.filled_qty) == ("PARTIAL_FILL", 40, 40)


def test_each_increase_of_filled_quantity_is_one_event():
    first = lifecycle.observe(order(), seen("open", filled=40)).after
    second = lifecycle.observe(first, seen("open", filled=70))
    assert [(e.kind, e.delta_qty) for e in second.events] == [("PARTIAL_FILL", 30)]
    final = lifecycle.observe(second.after, seen("complete", filled=100))
    assert [(e.kind, e.delta_qty) for e in final.events] == [("EXECUTED", 30)]


def test_same_data_again_changes_nothing():
    after = lifecycle.observe(order(), seen("open", filled=40)).after
    again = lifecycle.observe(after, seen("open", filled=40))
    assert not again.changed


def test_partial_then_cancelled_keeps_its_fills():
    partial = lifecycle.observe(order(), seen("open", filled=40)).after
    change = lifecycle.observe(partial, seen("cancelled", filled=40, reason="Cancelled by user"))
    assert change.after.status is Status.CANCELLED
    assert change.after.filled_qty == 40
    assert [e.kind for e in change.events] == ["CANCELLED"]
    assert change.after.reason == "Cancelled by user"


def test_fills_first_seen_on_a_cancelled_order_are_recorded_before_the_cancel():
    change = lifecycle.observe(order(), seen("cancelled", filled=25))
    assert [(e.kind, e.delta_qty) for e in change.events] == [
        ("PARTIAL_FILL", 25),
        ("CANCELLED", 0),
    ]


def test_rejection_keeps_the_reason_and_dashes_mean_none():
    rejected = lifecycle.observe(order(), seen("rejected", reason="RMS:Margin Exceeds"))
    assert rejected.after.status is Status.REJECTED
    assert rejected.events[0].reason == "RMS:Margin Exceeds"
    no_reason = lifecycle.observe(order(), seen("rejected", reason="--"))
    assert no_reason.after.reason is None


def test_long_rejection_description_is_used_when_short_reason_is_missing():
    change = lifecycle.observe(
        order(), seen("rejected", reason="--", rejLongDesc="Insufficient funds")
    )
    assert change.after.reason == "Insufficient funds"


@pytest.mark.parametrize(
    "terminal", [Status.EXECUTED, Status.REJECTED, Status.CANCELLED, Status.EXPIRED]
)
@pytest.mark.parametrize("ord_st", ["open", "complete", "rejected", "cancelled", "weird"])
def test_terminal_orders_never_move(terminal, ord_st):
    """Peer bug: 'removing' an executed order marked it cancelled."""
    change = lifecycle.observe(order(terminal, filled=100), seen(ord_st, filled=0))
    assert not change.changed


def test_state_never_moves_backwards_to_pending():
    partial = lifecycle.observe(order(), seen("open", filled=40)).after
    stale = lifecycle.observe(partial, seen("open", filled=0))
    assert stale.after.status is Status.PARTIALLY_FILLED
    assert stale.after.filled_qty == 40
    assert not stale.events


def test_unknown_status_keeps_order_open_and_records_raw_row():
    change = lifecycle.observe(order(), seen("frozen by exchange"))
    assert change.after.status is Status.PENDING
    [event] = change.events
    assert event.kind == "UNKNOWN_STATUS"
    assert event.raw["ordSt"] == "frozen by exchange"


def test_unknown_status_with_full_quantity_is_never_called_executed():
    change = lifecycle.observe(order(), seen("traded maybe", filled=100))
    assert change.after.status is Status.PARTIALLY_FILLED
    assert "EXECUTED" not in [e.kind for e in change.events]


def test_unknown_status_reported_once_per_order():
    first = lifecycle.observe(order(), seen("frozen")).after
    assert not lifecycle.observe(first, seen("frozen")).events


def test_per_row_stat_is_never_read_as_the_order_status():
    row = kotak_row("250122000700111", "", stat="complete", filled=100)
    change = lifecycle.observe(order(), order_row(row))
    assert change.after.status is not Status.EXECUTED


# ---- orders missing from the order book --------------------------------------------------

RULES = MissingRules(runs=3)
EMPTY_HISTORY = Fetch(Outcome.EMPTY)


def test_missing_order_is_counted_not_expired_at_first():
    change = lifecycle.miss(order(), NOW, EMPTY_HISTORY, RULES)
    assert change.after.status is Status.PENDING
    assert change.after.missing_count == 1
    assert not change.events


def test_missing_order_expires_after_enough_misses_with_history_confirming():
    change = lifecycle.miss(order(missing_count=2), NOW, EMPTY_HISTORY, RULES)
    assert change.after.status is Status.EXPIRED
    assert "3 successful checks" in change.after.reason
    assert "order history" in change.after.reason


def test_orders_younger_than_a_day_are_protected():
    young = order(missing_count=5, placed_at=NOW - timedelta(hours=23))
    assert lifecycle.miss(young, NOW, EMPTY_HISTORY, RULES).after.status is Status.PENDING
    day_old = order(missing_count=5, placed_at=NOW - timedelta(hours=24, minutes=1))
    assert lifecycle.miss(day_old, NOW, EMPTY_HISTORY, RULES).after.status is Status.EXPIRED


@pytest.mark.parametrize("history", [None, Fetch(Outcome.FAILED, error="timeout")])
def test_failed_or_missing_history_lookup_never_expires(history):
    change = lifecycle.miss(order(missing_count=9), NOW, history, RULES)
    assert change.after.status is Status.PENDING


def test_history_that_knows_the_order_advances_it_instead():
    history = Fetch(Outcome.OK, items=(seen("complete", filled=100),))
    change = lifecycle.miss(order(missing_count=2), NOW, history, RULES)
    assert change.after.status is Status.EXECUTED


def test_broker_without_history_expires_on_misses_and_age_alone():
    change = lifecycle.miss(order(missing_count=2), NOW, Fetch(Outcome.UNSUPPORTED), RULES)
    assert change.after.status is Status.EXPIRED
    assert "order history" not in change.after.reason


def test_seen_again_resets_the_missing_count():
    change = lifecycle.observe(order(missing_count=2), seen("open"))
    assert change.after.missing_count == 0


def test_a_withdrawn_order_shown_with_fills_is_corrected_a_broker_cancelled_one_is_not():
    withdrawn = order(Status.CANCELLED, reason="withdrawn by user")
    change = lifecycle.correct(withdrawn, seen("open", filled=40, avg="1850.00"), withdrawn=True)
    assert (change.after.status, change.after.filled_qty) == (Status.CANCELLED, 40)
    [event] = change.events
    assert (event.kind, event.delta_qty, event.key) == (
        "CORRECTED",
        40,
        "250122000700111:CORRECTED:40",
    )
    assert change.after.reason.startswith("was withdrawn (withdrawn by user)")
    done = lifecycle.correct(change.after, seen("complete", filled=100), withdrawn=True)
    assert (done.after.status, done.events[0].delta_qty) == (Status.EXECUTED, 60)
    assert not lifecycle.correct(done.after, seen("complete", filled=100), withdrawn=True).changed
    assert not lifecycle.correct(withdrawn, seen("complete", filled=100)).changed  # not flagged
    assert not lifecycle.correct(
        order(Status.PENDING), seen("complete", filled=100), withdrawn=True
    ).changed
