"""core/payloads: the notification payloads verify, listen and reconcile queue (issue 24), key
for key and in order: they are stored in the outbox, sent to webhooks and read back by
notify/messages, so a renamed or reordered key is a change of contract."""

from datetime import UTC, datetime

from ordertrack.core import payloads
from ordertrack.core.models import Event, EventKind, Order, Side, Status
from ordertrack.core.reconcile_plan import Decision

AT = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
ORDER = Order(7, "261130000012345", "INFY", Side.SELL, 10, 1850.5, True, "t-1", AT, Status.PENDING)


def test_an_order_event_is_the_order_after_it_with_the_event_figures():
    event = Event(
        EventKind.PARTIAL_FILL,
        "261130000012345:PARTIAL_FILL:4",
        Status.PARTIALLY_FILLED,
        4,
        delta_qty=4,
        avg_price=1851.0,
        broker_status="open",
    )
    payload = payloads.order_event(ORDER, event)
    assert list(payload.items()) == [
        ("order_id", "261130000012345"),
        ("symbol", "INFY"),
        ("side", "SELL"),
        ("qty", 10),
        ("price", 1850.5),
        ("amo", True),
        ("filled_qty", 4),
        ("avg_price", 1851.0),
        ("reason", None),
        ("status", "PARTIALLY_FILLED"),
        ("broker_status", "open"),
    ]
    assert type(payload["side"]) is str and type(payload["status"]) is str  # stored as words


def test_an_unconfirmed_order_is_named_by_its_local_number():
    unconfirmed = Order(3, None, "TCS", Side.BUY, 5, None, False, None, AT, Status.PENDING)
    payload = payloads.ambiguous_match(unconfirmed, ("A1", "A2"))
    assert payload["order_id"] == "#3"
    assert list(payload)[-2:] == ["broker_status", "candidates"]
    assert payload["candidates"] == ["A1", "A2"] and payload["filled_qty"] == 0


def test_a_manual_trade_names_the_tracking_days_only_when_it_stops_the_tracking():
    decision = Decision("INFY", "manual_sell", 10, 0, 0, manual_orders=("M1",))
    assert payloads.manual_trade(decision) == {
        "symbol": "INFY",
        "action": "manual_sell",
        "tracked": 10,
        "owned": 0,
        "new_qty": 0,
        "manual_orders": ["M1"],
    }
    assert list(payloads.manual_trade(decision, 12))[-1] == "tracked_days"


def test_a_system_alert_names_its_command():
    assert payloads.system_alert("verify", "broker unavailable") == {
        "command": "verify",
        "text": "broker unavailable",
    }
