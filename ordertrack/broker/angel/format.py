"""Parsing Angel One SmartAPI replies (docs/angel.md, tests/fixtures/angel/SOURCE.md): the
envelope and the rows of the order book, one order's details, trades, holdings and positions,
into the normalised core types.

The `file` broker (ORDERTRACK_BROKER_FORMAT=angel) and the HTTP client both use this module.
SmartAPI sends most numbers as strings ("1", "161.70") and an empty book as `data: null`; every
field is read defensively: a row that cannot be believed is skipped, never guessed.
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

# Every order-status word SmartAPI documents (the Omnesys/NEST words it shares with Kite),
# lower case as it sends them. An unlisted word is UNKNOWN: kept open, never read as filled.
STATES = {
    "complete": BrokerState.COMPLETE,
    "rejected": BrokerState.REJECTED,
    "cancelled": BrokerState.CANCELLED,
    "cancelled after market order": BrokerState.CANCELLED,
    "open": BrokerState.WORKING,
    "pending": BrokerState.WORKING,
    "open pending": BrokerState.WORKING,
    "trigger pending": BrokerState.WORKING,
    "validation pending": BrokerState.WORKING,
    "put order req received": BrokerState.WORKING,
    "modify validation pending": BrokerState.WORKING,
    "modify pending": BrokerState.WORKING,
    "modified": BrokerState.WORKING,
    "not modified": BrokerState.WORKING,
    "modify order req received": BrokerState.WORKING,
    "cancel pending": BrokerState.WORKING,
    "cancel order req received": BrokerState.WORKING,
    "not cancelled": BrokerState.WORKING,
    "after market order req received": BrokerState.WORKING,
    "modify after market order req received": BrokerState.WORKING,
    "amo req received": BrokerState.WORKING,
}
AMO_VARIETY = "AMO"
# Login refusals, by what the user must fix (docs/angel.md#wrong-credentials).
WRONG_TOTP = {"AB1050"}
WRONG_PIN = {"AB1000", "AB1002", "AB1048"}
REFUSED_SESSION = {"AG8001", "AG8002", "AG8003", "AB1010", "AB1011"}
REFUSED_REFRESH = {"AB8050", "AB8051"}


def broker_state(status: str) -> BrokerState:
    return STATES.get(status, BrokerState.UNKNOWN) if status else BrokerState.UNKNOWN


def parse_time(text: object) -> datetime | None:
    """SmartAPI's IST wall clock, '20-Oct-2020 13:10:59' (empty until the exchange has it)."""
    if not isinstance(text, str) or not text.strip():
        return None
    for shape in ("%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), shape).replace(tzinfo=IST).astimezone(UTC)
        except ValueError:
            continue
    return None


# ---- envelope --------------------------------------------------------------------------------


def error_code(payload: Any) -> str:
    """`errorcode` of the envelope, or `errorCode` of the gateway's shape ({"success": false,
    "message": "Invalid Token", "errorCode": "AG8001"})."""
    if not isinstance(payload, dict):
        return ""
    return (to_text(payload.get("errorcode")) or to_text(payload.get("errorCode")) or "").upper()


def error_line(payload: Any) -> str:
    """An error envelope as one line: 'AG8001: Invalid Token'."""
    if not isinstance(payload, dict):
        return "reply is not a JSON object"
    message = " ".join((to_text(payload.get("message")) or "no message").split())
    code = error_code(payload)
    return f"{code}: {message}" if code else message


def succeeded(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("status") is True


def envelope(payload: Any, want: type | tuple[type, ...] = list) -> Fetch:
    """{"status": true, "data": …} → OK/EMPTY (`data: null` or [] is SmartAPI's empty book);
    an error envelope or any other shape → FAILED."""
    if not isinstance(payload, dict):
        return Fetch(Outcome.FAILED, error="reply is not a JSON object")
    if not succeeded(payload):
        return Fetch(Outcome.FAILED, error=error_line(payload))
    data = payload.get("data")
    if data is None or data == []:
        return Fetch(Outcome.EMPTY)
    if not isinstance(data, want):
        return Fetch(Outcome.FAILED, error="reply has no usable 'data'")
    if isinstance(data, dict):
        return Fetch(Outcome.OK, items=(data,))
    assert isinstance(data, list)
    return Fetch(Outcome.OK, items=tuple(data))


# ---- orders ----------------------------------------------------------------------------------


def _side(value: Any) -> Side | None:
    return {"BUY": Side.BUY, "SELL": Side.SELL}.get(str(value or "").strip().upper())


def _bad(value: Any, limit: float) -> bool:
    if value is None or value == "":
        return False
    number = to_int(value)
    return number is None or not 0 <= number <= limit


def malformed(row: dict[str, Any]) -> bool:
    qty = to_int(row.get("quantity"))
    if _bad(row.get("quantity"), ABSURD_QTY) or qty == 0:
        return True
    if _bad(row.get("filledshares"), qty if qty is not None else ABSURD_QTY):
        return True
    prices = [to_number(row[k]) for k in ("price", "averageprice") if row.get(k) not in (None, "")]
    return any(price is None or price < 0 for price in prices)


def status_word(row: dict[str, Any]) -> str:
    return " ".join(
        (to_text(row.get("orderstatus")) or to_text(row.get("status")) or "").lower().split()
    )


def order_row(row: Any) -> BrokerOrder | None:
    """One order-book or details row; None when it has no order id or is malformed."""
    if not isinstance(row, dict):
        return None
    order_id = to_text(row.get("orderid"))
    if order_id is None or malformed(row):
        return None
    status = status_word(row)
    symbol = to_text(row.get("tradingsymbol")) or ""
    filled = to_int(row.get("filledshares"))
    changed = parse_time(row.get("exchorderupdatetime")) or parse_time(row.get("updatetime"))
    return BrokerOrder(
        order_id=order_id,
        status_text=status,
        state=broker_state(status),
        symbol=symbols.normalise(symbol) if symbol else "",
        side=_side(row.get("transactiontype")),
        qty=to_int(row.get("quantity")),
        filled_qty=filled,
        avg_price=to_number(row.get("averageprice")) if filled else None,
        reason=to_text(row.get("text")),
        tag=to_text(row.get("ordertag")),
        placed_at=None,  # not in the book: `updatetime` moves with every change
        updated_ns=0,
        state_at=changed or parse_time(row.get("exchtime")),
        updated_at=changed or parse_time(row.get("exchtime")),
        raw=row,
    )


def is_amo(row: dict[str, Any]) -> bool:
    return str(
        row.get("variety", "")
    ).upper() == AMO_VARIETY or "after market order" in status_word(row)


def unique_ids(payload: Any) -> dict[str, str]:
    """orderid → uniqueorderid from an order book: the details endpoint wants the latter."""
    fetch = envelope(payload)
    found: dict[str, str] = {}
    for row in fetch.items if fetch.outcome is Outcome.OK else ():
        if isinstance(row, dict):
            order_id, unique = to_text(row.get("orderid")), to_text(row.get("uniqueorderid"))
            if order_id and unique:
                found[order_id] = unique
    return found


def order_book(payload: Any) -> Fetch:
    """`GET …/order/v1/getOrderBook` → one BrokerOrder per order id."""
    return rows.book(*rows.parse(envelope(payload), order_row))


def order_history(payload: Any, order_id: str) -> Fetch:
    """`GET …/order/v1/details/{uniqueorderid}` (one order, `data` an object), or a file of
    rows: this order's current state."""
    return rows.history(*rows.parse(envelope(payload, want=(dict, list)), order_row), order_id)


def trades(payload: Any) -> Fetch:
    """`GET …/order/v1/getTradeBook` → raw fill rows (one per fill)."""
    return envelope(payload)


# ---- portfolio -------------------------------------------------------------------------------


def holding_row(row: Any) -> Holding | None:
    """Settled shares are `realisedquantity` (documented beside `quantity`, which the samples
    show equal to it when nothing is unsettled); `t1quantity` is bought, not yet delivered."""
    if not isinstance(row, dict) or not to_text(row.get("tradingsymbol")):
        return None
    settled = to_int(row.get("realisedquantity"))
    if settled is None:
        settled = to_int(row.get("quantity")) or 0
    return Holding(
        symbols.normalise(to_text(row["tradingsymbol"]) or ""),
        settled,
        to_int(row.get("t1quantity")) or 0,
        raw=row,
    )


def holdings(payload: Any) -> Fetch:
    """`GET …/portfolio/v1/getHolding`."""
    fetch = envelope(payload)
    if fetch.outcome is not Outcome.OK:
        return fetch
    return Fetch(Outcome.OK, items=tuple(h for h in map(holding_row, fetch.items) if h))


def position_row(row: Any) -> Position | None:
    """Today's net: `buyqty` − `sellqty` (the day's); `netqty` also holds carried-forward F&O
    (`cfbuyqty`/`cfsellqty`), which holdings hold for delivery. Without them, `netqty`."""
    if not isinstance(row, dict) or not to_text(row.get("tradingsymbol")):
        return None
    bought, sold = to_int(row.get("buyqty")), to_int(row.get("sellqty"))
    net = bought - sold if bought is not None and sold is not None else to_int(row.get("netqty"))
    return Position(symbols.normalise(to_text(row["tradingsymbol"]) or ""), net or 0, raw=row)


def positions(payload: Any) -> Fetch:
    """`GET …/order/v1/getPosition`."""
    fetch = envelope(payload)
    if fetch.outcome is not Outcome.OK:
        return fetch
    items = tuple(p for p in map(position_row, fetch.items) if p)
    return Fetch(Outcome.OK if items else Outcome.EMPTY, items=items)


def row_order_id(row: Any) -> str | None:
    """The order id of one order-book row (None when it has none): the file stream's key."""
    return to_text(row.get("orderid")) if isinstance(row, dict) else None
