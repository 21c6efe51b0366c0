"""Parsing Kite Connect v3 replies (broker-apis.md §11): the envelope and the rows of the order
book, order history, trades, holdings and positions, into the normalised core types.

The `file` broker (ORDERTRACK_BROKER_FORMAT=kite) and the HTTP client both use this module, so a
fixture file and a live reply go through the same code. Kite sends real numbers and nulls, but
every field is still read defensively: a row that cannot be believed is skipped, never guessed.
"""

from datetime import datetime
from typing import Any

from ordertrack.broker import rows
from ordertrack.broker.rows import ABSURD_QTY, bounded, whole
from ordertrack.core import symbols
from ordertrack.core.book import (
    BrokerFill,
    BrokerOrder,
    BrokerState,
    Fetch,
    Holding,
    Outcome,
    Position,
)
from ordertrack.core.models import Side
from ordertrack.text import storable
from ordertrack.timeutil import IST, UTC

# Zerodha's rule: anything not COMPLETE/REJECTED/CANCELLED is still working (an interim state
# such as "AMO REQ RECEIVED", "TRIGGER PENDING", or OPEN with a partial fill).
FINAL = {
    "COMPLETE": BrokerState.COMPLETE,
    "REJECTED": BrokerState.REJECTED,
    "CANCELLED": BrokerState.CANCELLED,
}
AMO_STATUS = "AMO REQ RECEIVED"


def broker_state(status: str) -> BrokerState:
    return FINAL.get(status, BrokerState.WORKING) if status else BrokerState.UNKNOWN


def parse_time(text: object) -> datetime | None:
    """Kite's IST wall-clock 'YYYY-MM-DD HH:MM:SS' (null until the exchange has it)."""
    if not isinstance(text, str):
        return None
    try:
        return (
            datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST).astimezone(UTC)
        )
    except ValueError:
        return None


def to_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return bounded(float(value))
    except (TypeError, ValueError):
        return None


def to_int(value: Any) -> int | None:
    return whole(to_number(value))


def to_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = storable(str(value).strip())
    return text or None


# ---- envelope --------------------------------------------------------------------------------


def error_line(payload: Any) -> str:
    """An error envelope as one line naming Kite's error type ('TokenException: …')."""
    if not isinstance(payload, dict):
        return "reply is not a JSON object"
    kind = to_text(payload.get("error_type")) or "error"
    message = " ".join((to_text(payload.get("message")) or "no message").split())
    return f"{kind}: {message}"


def error_type(payload: Any) -> str | None:
    return to_text(payload.get("error_type")) if isinstance(payload, dict) else None


def envelope(payload: Any, want: type = list) -> Fetch:
    """{"status":"success","data":…} → OK/EMPTY; an error envelope or any other shape → FAILED.
    An empty data list is Kite's empty book (no code for it, unlike Kotak)."""
    if not isinstance(payload, dict):
        return Fetch(Outcome.FAILED, error="reply is not a JSON object")
    if payload.get("status") != "success":
        return Fetch(Outcome.FAILED, error=error_line(payload))
    data = payload.get("data")
    if not isinstance(data, want):
        return Fetch(Outcome.FAILED, error=f"reply has no 'data' {want.__name__}")
    if isinstance(data, dict):
        return Fetch(Outcome.OK, items=(data,))  # the caller reads what is inside
    if not isinstance(data, list) or not data:
        return Fetch(Outcome.EMPTY)
    return Fetch(Outcome.OK, items=tuple(data))


# ---- orders ----------------------------------------------------------------------------------


def _side(value: Any) -> Side | None:
    return {"BUY": Side.BUY, "SELL": Side.SELL}.get(str(value or "").strip().upper())


def _bad(value: Any, limit: float) -> bool:
    """There, but not a whole number in 0..limit."""
    if value is None:
        return False
    number = to_int(value)
    return number is None or not 0 <= number <= limit


def malformed(row: dict[str, Any]) -> bool:
    """Numbers that cannot be true: believing them could settle an order wrongly."""
    qty = to_int(row.get("quantity"))
    if _bad(row.get("quantity"), ABSURD_QTY) or qty == 0:
        return True
    if _bad(row.get("filled_quantity"), qty if qty is not None else ABSURD_QTY):
        return True
    prices = [to_number(row[k]) for k in ("price", "average_price") if row.get(k) is not None]
    return any(price is None or price < 0 for price in prices)


def order_row(row: Any) -> BrokerOrder | None:
    """One order-book or history row; None when it has no order id or is malformed."""
    if not isinstance(row, dict):
        return None
    order_id = to_text(row.get("order_id"))
    if order_id is None or malformed(row):
        return None
    status = " ".join((to_text(row.get("status")) or "").upper().split())
    symbol = to_text(row.get("tradingsymbol")) or ""
    filled = to_int(row.get("filled_quantity"))
    changed = parse_time(row.get("exchange_update_timestamp"))
    return BrokerOrder(
        order_id=order_id,
        status_text=status.lower(),
        state=broker_state(status),
        symbol=symbols.normalise(symbol) if symbol else "",
        side=_side(row.get("transaction_type")),
        qty=to_int(row.get("quantity")),
        filled_qty=filled,
        avg_price=to_number(row.get("average_price")) if filled else None,
        reason=to_text(row.get("status_message")) or to_text(row.get("status_message_raw")),
        tag=to_text(row.get("tag")),
        placed_at=parse_time(row.get("order_timestamp")),
        updated_ns=0,
        state_at=changed
        or parse_time(row.get("exchange_timestamp"))
        or parse_time(row.get("order_timestamp")),
        updated_at=changed or parse_time(row.get("exchange_timestamp")),
        raw=row,
    )


def is_amo(row: dict[str, Any]) -> bool:
    return row.get("variety") == "amo" or str(row.get("status", "")).upper() == AMO_STATUS


def order_book(payload: Any) -> Fetch:
    """`GET /orders` → one BrokerOrder per order id (an id listed twice is resolved by the
    lifecycle, not by position)."""
    return rows.book(*rows.parse(envelope(payload), order_row))


def order_history(payload: Any, order_id: str) -> Fetch:
    """`GET /orders/{id}` → this order's current state; Kite does not promise the list's order,
    so it is resolved by the lifecycle like Kotak's history."""
    return rows.history(*rows.parse(envelope(payload), order_row), order_id)


def trades(payload: Any) -> Fetch:
    """`GET /trades` → raw fill rows (one per fill)."""
    return envelope(payload)


def trade_book(payload: Any) -> Fetch:
    """`GET /trades` → Fetch of BrokerFill (`average_price` is the fill's price)."""
    return rows.items(envelope(payload), fill_row)


def fill_row(row: Any) -> BrokerFill | None:
    if not isinstance(row, dict):
        return None
    order_id, side, qty = (
        to_text(row.get("order_id")),
        _side(row.get("transaction_type")),
        to_int(row.get("quantity")),
    )
    symbol = to_text(row.get("tradingsymbol"))
    if order_id is None or side is None or not qty or qty < 0 or not symbol:
        return None
    price = to_number(row.get("average_price"))
    return BrokerFill(
        order_id=order_id,
        fill_id=to_text(row.get("trade_id")) or order_id,
        symbol=symbols.normalise(symbol),
        side=side,
        qty=qty,
        price=price if price and price > 0 else None,
        at=parse_time(row.get("fill_timestamp")) or parse_time(row.get("exchange_timestamp")),
    )


# ---- portfolio -------------------------------------------------------------------------------


def holding_row(row: Any) -> Holding | None:
    if not isinstance(row, dict) or not to_text(row.get("tradingsymbol")):
        return None
    return Holding(
        symbols.normalise(to_text(row["tradingsymbol"]) or ""),
        to_int(row.get("quantity")) or 0,
        to_int(row.get("t1_quantity")) or 0,
        raw=row,
        avg_price=to_number(row.get("average_price")),
        last_price=to_number(row.get("last_price")),
        close_price=to_number(row.get("close_price")),
        pnl=to_number(row.get("pnl")),
    )


def holdings(payload: Any) -> Fetch:
    """`GET /portfolio/holdings`: settled `quantity` and unsettled `t1_quantity` per row."""
    fetch = envelope(payload)
    if fetch.outcome is not Outcome.OK:
        return fetch
    return Fetch(Outcome.OK, items=tuple(h for h in map(holding_row, fetch.items) if h))


def position_row(row: Any) -> Position | None:
    if not isinstance(row, dict) or not to_text(row.get("tradingsymbol")):
        return None
    return Position(
        symbols.normalise(to_text(row["tradingsymbol"]) or ""),
        to_int(row.get("quantity")) or 0,
        raw=row,
        bought_qty=to_int(row.get("day_buy_quantity")) or 0,
        bought_value=to_number(row.get("day_buy_value")),
        sold_qty=to_int(row.get("day_sell_quantity")) or 0,
        sold_value=to_number(row.get("day_sell_value")),
    )


def positions(payload: Any) -> Fetch:
    """`GET /portfolio/positions` → today's net quantity per symbol, from the `day` list (what
    was bought − sold today; `net` also carries overnight F&O positions, which holdings hold
    for delivery). A reply without `day` falls back to `net`."""
    fetch = envelope(payload, want=dict)
    if fetch.outcome is not Outcome.OK:
        return fetch
    data = fetch.items[0]
    rows = data.get("day") if isinstance(data.get("day"), list) else data.get("net")
    if not isinstance(rows, list):
        return Fetch(Outcome.FAILED, error="reply has no 'day' or 'net' positions list")
    items = tuple(p for p in map(position_row, rows) if p)
    return Fetch(Outcome.OK if items else Outcome.EMPTY, items=items)


def row_order_id(row: Any) -> str | None:
    """The order id of one order-book row or order-update frame (None when it has none)."""
    return to_text(row.get("order_id")) if isinstance(row, dict) else None
