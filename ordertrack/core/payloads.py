"""What a notification says, as the outbox keeps it: pure functions from an order and its event
(or a reconcile decision, an alert) to the payload `notify/messages` words and webhooks send.

One place, so `verify` (cron's and `listen`'s push-triggered ones) and `reconcile` queue the same
shapes; the keys are a contract (docs/events.md, webhooks, outboxes already queued) and stay."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ordertrack.core.models import Event, Order

if TYPE_CHECKING:  # the reconcile plan loads only where reconcile runs
    from ordertrack.core.reconcile_plan import Decision


def order_facts(order: Order) -> dict[str, Any]:
    """The order itself: what every order notification starts with."""
    return {
        "order_id": order.ref,
        "symbol": order.symbol,
        "side": order.side.value,
        "qty": order.qty,
        "price": order.price,
        "amo": order.amo,
    }


def order_event(order: Order, event: Event) -> dict[str, Any]:
    """An order event's notification (EXECUTED, PARTIAL_FILL, REJECTED, …): the order as it is
    after the event, with the event's figures."""
    return {
        **order_facts(order),
        "filled_qty": event.filled_qty,
        "avg_price": event.avg_price,
        "reason": event.reason,
        "status": event.status.value,
        "broker_status": event.broker_status,
    }


def ambiguous_match(order: Order, candidates: Sequence[str]) -> dict[str, Any]:
    """An unconfirmed order that several broker orders fit: nothing happened to it yet."""
    return {
        **order_facts(order),
        "filled_qty": 0,
        "avg_price": None,
        "reason": None,
        "status": order.status.value,
        "broker_status": None,
        "candidates": list(candidates),
    }


def manual_trade(decision: "Decision", tracked_days: int | None = None) -> dict[str, Any]:
    """A manual trade reconcile found; `tracked_days` when it stops the tracking."""
    payload: dict[str, Any] = {
        "symbol": decision.symbol,
        "action": decision.action,
        "tracked": decision.tracked,
        "owned": decision.owned,
        "new_qty": decision.new_qty,
        "manual_orders": list(decision.manual_orders),
    }
    if tracked_days is not None:
        payload["tracked_days"] = tracked_days
    return payload


def system_alert(command: str, text: str) -> dict[str, Any]:
    """An alert about a run (`command`, its first word) rather than an order."""
    return {"command": command, "text": text}
