"""Parsing Fyers API v3 replies (docs/fyers.md, tests/fixtures/fyers/SOURCE.md): the envelope
and the rows of the order book, trade book, holdings and positions, into the normalised core
types.

The `file` broker (ORDERTRACK_BROKER_FORMAT=fyers) and the HTTP client both use this module.
Fyers' envelope is {"s": "ok" | "error", "code": …, "message": …} with the data beside it
under a name per call (`orderBook`, `tradeBook`, `holdings`, `netPositions`); statuses are
numbers. Every field is read defensively: a row that cannot be believed is skipped.
"""

from datetime import datetime
from typing import Any

from ordertrack.broker import rows
from ordertrack.broker.kite.format import to_int, to_number, to_text
from ordertrack.broker.rows import ABSURD_QTY
from ordertrack.core import symbols
from ordertrack.core.book import BrokerOrder, BrokerState, Fetch, Holding, Outcome, Position
from ordertrack.core.models import Side
from ordertrack.timeutil import IST, UTC

# Every documented order status code. 7 (expired: a day order the exchange dropped at the
# close) ends the order like a cancellation; 4 (transit: on its way to the exchange) and 6
# (pending) are working. 3 is documented as "not used currently": unknown, kept open.
STATES = {
    1: BrokerState.CANCELLED,
    2: BrokerState.COMPLETE,
    4: BrokerState.WORKING,
    5: BrokerState.REJECTED,
    6: BrokerState.WORKING,
    7: BrokerState.CANCELLED,
}
WORDS = {
    1: "cancelled",
    2: "traded",
    3: "not used",
    4: "transit",
    5: "rejected",
    6: "pending",
    7: "expired",
}
SIDES = {1: Side.BUY, -1: Side.SELL}
T1 = "T1"  # holdingType of bought shares not yet delivered; "HLD" rows are settled
# Codes of a token Fyers no longer accepts: the user logs in again (`ordertrack broker login`).
TOKEN_CODES = {-8, -15, -16, -17}


def parse_time(text: object) -> datetime | None:
    """Fyers' IST wall clock, '04-Aug-2023 10:19:01' (or epoch seconds in some replies)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and 1e9 < text < 1e10:
        return datetime.fromtimestamp(text, UTC)
    if not isinstance(text, str) or not text.strip():
        return None
    for shape in ("%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), shape).replace(tzinfo=IST).astimezone(UTC)
        except ValueError:
            continue
    return None


# ---- envelope --------------------------------------------------------------------------------


def error_code(payload: Any) -> int | None:
    return to_int(payload.get("code")) if isinstance(payload, dict) else None


def error_line(payload: Any) -> str:
    """An error envelope as one line: 'code -16: Could not authenticate the user'."""
    if not isinstance(payload, dict):
        return "reply is not a JSON object"
    message = " ".join((to_text(payload.get("message")) or "no message").split())
    code = error_code(payload)
    return f"code {code}: {message}" if code is not None else message


def token_refused(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and payload.get("s") != "ok"
        and error_code(payload) in TOKEN_CODES
    )


def envelope(payload: Any, key: str) -> Fetch:
    """{"s": "ok", key: [...]} → OK/EMPTY; an error envelope or any other shape → FAILED."""
    if not isinstance(payload, dict):
        return Fetch(Outcome.FAILED, error="reply is not a JSON object")
    if payload.get("s") != "ok":
        return Fetch(Outcome.FAILED, error=error_line(payload))
    data = payload.get(key)
    if data is None or data == []:
        return Fetch(Outcome.EMPTY)
    if not isinstance(data, list):
        return Fetch(Outcome.FAILED, error=f"reply has no '{key}' list")
    return Fetch(Outcome.OK, items=tuple(data))


# ---- orders ----------------------------------------------------------------------------------


def _bad(value: Any, limit: float) -> bool:
    if value is None:
        return False
    number = to_int(value)
    return number is None or not 0 <= number <= limit


def malformed(row: dict[str, Any]) -> bool:
    qty = to_int(row.get("qty"))
    if _bad(row.get("qty"), ABSURD_QTY) or qty == 0:
        return True
    if _bad(row.get("filledQty"), qty if qty is not None else ABSURD_QTY):
        return True
    prices = [to_number(row[k]) for k in ("limitPrice", "tradedPrice") if row.get(k) is not None]
    return any(price is None or price < 0 for price in prices)


def symbol(text: Any) -> str:
    """'NSE:SBIN-EQ' → 'SBIN'."""
    name = to_text(text) or ""
    return symbols.normalise(name.rpartition(":")[2]) if name else ""


def order_row(row: Any) -> BrokerOrder | None:
    if not isinstance(row, dict):
        return None
    order_id = to_text(row.get("id"))
    if order_id is None or malformed(row):
        return None
    code = to_int(row.get("status"))
    filled = to_int(row.get("filledQty"))
    return BrokerOrder(
        order_id=order_id,
        status_text=WORDS.get(code, f"status {code}") if code is not None else "",
        state=STATES.get(code, BrokerState.UNKNOWN) if code is not None else BrokerState.UNKNOWN,
        symbol=symbol(row.get("symbol")),
        side=SIDES.get(to_int(row.get("side")) or 0),
        qty=to_int(row.get("qty")),
        filled_qty=filled,
        avg_price=to_number(row.get("tradedPrice")) if filled else None,
        reason=to_text(row.get("message")) if code in (1, 5, 7) else None,
        tag=to_text(row.get("orderTag")),
        placed_at=parse_time(row.get("orderDateTime")),
        updated_ns=0,
        state_at=parse_time(row.get("orderDateTime")),
        updated_at=None,  # the book has no time of the last change
        raw=row,
    )


def is_amo(row: dict[str, Any]) -> bool:
    return bool(row.get("offlineOrder"))


def order_book(payload: Any) -> Fetch:
    """`GET /orders` → one BrokerOrder per order id."""
    return rows.book(*rows.parse(envelope(payload, "orderBook"), order_row))


def order_history(payload: Any, order_id: str) -> Fetch:
    """A file of order-book rows for one order (the file broker's history/<id>.json): Fyers
    has no per-order history endpoint (the SDK's get_orders filters the whole book)."""
    return rows.history(*rows.parse(envelope(payload, "orderBook"), order_row), order_id)


def trades(payload: Any) -> Fetch:
    """`GET /tradebook` → raw fill rows."""
    return envelope(payload, "tradeBook")


# ---- portfolio -------------------------------------------------------------------------------


def holdings(payload: Any) -> Fetch:
    """`GET /holdings`: one row per symbol and holdingType; "T1" rows are bought and not yet
    delivered, every other type (HLD) is settled. Rows of one symbol are added up."""
    fetch = envelope(payload, "holdings")
    if fetch.outcome is not Outcome.OK:
        return fetch
    found: dict[str, list[int]] = {}
    raw: dict[str, dict[str, Any]] = {}
    for row in fetch.items:
        if not isinstance(row, dict) or not symbol(row.get("symbol")):
            continue
        name = symbol(row.get("symbol"))
        qty = to_int(row.get("quantity")) or 0
        pair = found.setdefault(name, [0, 0])
        pair[1 if str(row.get("holdingType", "")).upper() == T1 else 0] += qty
        raw.setdefault(name, row)
    return Fetch(
        Outcome.OK,
        items=tuple(
            Holding(name, settled, t1, raw=raw[name]) for name, (settled, t1) in found.items()
        ),
    )


def position_row(row: Any) -> Position | None:
    """Today's net: `dayBuyQty` − `daySellQty` when given, else `netQty`."""
    if not isinstance(row, dict) or not symbol(row.get("symbol")):
        return None
    bought, sold = to_int(row.get("dayBuyQty")), to_int(row.get("daySellQty"))
    net = bought - sold if bought is not None and sold is not None else to_int(row.get("netQty"))
    return Position(symbol(row.get("symbol")), net or 0, raw=row)


def positions(payload: Any) -> Fetch:
    """`GET /positions` → `netPositions`."""
    fetch = envelope(payload, "netPositions")
    if fetch.outcome is not Outcome.OK:
        return fetch
    items = tuple(p for p in map(position_row, fetch.items) if p)
    return Fetch(Outcome.OK if items else Outcome.EMPTY, items=items)


def row_order_id(row: Any) -> str | None:
    """The order id of one order-book row (None when it has none): the file stream's key."""
    return to_text(row.get("id")) if isinstance(row, dict) else None
