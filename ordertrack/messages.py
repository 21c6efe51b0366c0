"""What a notification says, as plain text, from the payload stored in the outbox."""

from typing import Any


def inr(amount: float | None) -> str:
    """₹ with Indian digit grouping: 1234567.5 → ₹12,34,567.50."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    whole, frac = f"{abs(amount):.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return f"{sign}₹{','.join([*groups, tail])}.{frac}"


def _order_line(p: dict[str, Any]) -> str:
    return f"{p['side']} {p['symbol']} {p['filled_qty']}/{p['qty']} (order {p['order_id']})"


def render(kind: str, p: dict[str, Any]) -> str:
    avg = p.get("avg_price")
    if kind == "EXECUTED":
        value = avg * p["filled_qty"] if avg else None
        return f"Executed: {_order_line(p)} at {inr(avg)}, value {inr(value)}"
    if kind == "PARTIAL_FILL":
        remaining = p["qty"] - p["filled_qty"]
        return f"Partially filled: {_order_line(p)} at {inr(avg)}, {remaining} remaining"
    if kind == "REJECTED":
        return f"Rejected: {_order_line(p)}: {p.get('reason') or 'no reason given'}"
    if kind == "CANCELLED":
        return f"Cancelled: {_order_line(p)}" + (f": {p['reason']}" if p.get("reason") else "")
    if kind == "EXPIRED":
        return f"Expired: {_order_line(p)}: {p.get('reason')}"
    if kind == "UNKNOWN_STATUS":
        return (f"Unknown broker status {p['broker_status']!r} on order {p['order_id']} "
                f"({p['symbol']}); the order stays open")
    if kind == "AMBIGUOUS_MATCH":
        return (f"Cannot tell which broker order is {p['side']} {p['symbol']} {p['qty']} "
                f"(registered without an id): candidates {', '.join(p['candidates'])}")
    return f"{kind}: {p}"
