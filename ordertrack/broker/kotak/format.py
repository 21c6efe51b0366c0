"""Parsing Kotak Neo replies: envelopes and rows, exactly as the REST API sends them.

Both the `file` broker and the HTTP client use this module, so a fixture file and a live reply
go through the same code. Types in Kotak rows are inconsistent (numbers as strings, sentinels
such as "NA" and "--"), so every field is read defensively.
"""

import re
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
from ordertrack.timeutil import IST, UTC, from_epoch_ns

NO_DATA = 5203
_SENTINELS = {"", "NA", "N/A", "--", "-", "- ", "NULL", "NONE"}


# Kotak Neo `ordSt` values (broker-apis.md §5), lower-case with single spaces. Kite's upper-case
# names fold to the same strings. Anything else is UNKNOWN: kept open, never read as filled.
ORD_ST: dict[str, BrokerState] = {
    "put order req received": BrokerState.WORKING,
    "validation pending": BrokerState.WORKING,
    "open pending": BrokerState.WORKING,
    "open": BrokerState.WORKING,
    "trigger pending": BrokerState.WORKING,
    "modified": BrokerState.WORKING,
    "modify validation pending": BrokerState.WORKING,
    "modify pending": BrokerState.WORKING,
    "not modified": BrokerState.WORKING,
    "cancel pending": BrokerState.WORKING,
    "not cancelled": BrokerState.WORKING,
    "after market order req received": BrokerState.WORKING,
    "modify after market order req received": BrokerState.WORKING,
    "amo req received": BrokerState.WORKING,
    "complete": BrokerState.COMPLETE,
    "rejected": BrokerState.REJECTED,
    "cancelled": BrokerState.CANCELLED,
    "canceled": BrokerState.CANCELLED,
    "cancelled after market order": BrokerState.CANCELLED,
}


def broker_state(status_text: str) -> BrokerState:
    return ORD_ST.get(" ".join(status_text.lower().split()), BrokerState.UNKNOWN)


_TIME_FORMATS = ("%d-%b-%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%d-%b-%Y")
# The order book's own shape ('24-Nov-2026 09:20:00'), read without strptime: a 10,000-row book
# has 30,000 times and strptime was a fifth of verify. Anything else takes the strptime path.
_BOOK_TIME = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{1,2}):(\d{1,2})")
_MONTHS = {
    m: n
    for n, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_STRAY_SPACES = re.compile(r":\s+")


def parse_time(text: object) -> datetime | None:
    """Kotak's IST wall-clock strings ('22-Jan-2025 14: 32: 53' has stray spaces in samples)."""
    if not isinstance(text, str):
        return None
    cleaned = _STRAY_SPACES.sub(":", text.strip())
    fast = _BOOK_TIME.fullmatch(cleaned)
    month = _MONTHS.get(fast.group(2).upper()) if fast else None
    if fast and month:
        day, _, year, hour, minute, second = fast.groups()
        try:
            return datetime(
                int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=IST
            ).astimezone(UTC)
        except ValueError:
            pass  # 31-Feb and the like: strptime below says no as well
        except OverflowError:
            return None  # 01-Jan-0001 in IST is before the first UTC instant Python can hold
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=IST).astimezone(UTC)
        except ValueError:
            continue
        except OverflowError:
            return None
    return None


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().upper() in _SENTINELS)


def epoch_ns(value: Any) -> int:
    """`updRecvTm`: epoch nanoseconds (about 1.7e18), the best ordering key; 0 when unusable."""
    try:
        return max(0, min(value if type(value) is int else int(str(value).strip()), 2**63 - 1))
    except ValueError:
        return 0


def to_float(value: Any) -> float | None:
    """A finite number within MAX_NUMBER (Kotak sends "1,849.50", 1849.5 or "--"), else None."""
    if type(value) in (int, float, str):  # most values: no sentinel or commas to clean
        try:
            return bounded(float(value))
        except ValueError:
            pass
    if blank(value) or isinstance(value, bool):
        return None
    try:
        return bounded(float(str(value).replace(",", "").strip()))
    except ValueError:
        return None


def to_int(value: Any) -> int | None:
    return whole(to_float(value))


def to_text(value: Any) -> str | None:
    if blank(value):
        return None
    return storable(str(value).strip())


def _error_text(payload: dict[str, Any]) -> str:
    code = payload.get("stCode") or payload.get("code")
    message = next(
        (payload[k] for k in ("errMsg", "emsg", "desc", "message", "Error") if payload.get(k)),
        None,
    )
    if isinstance(payload.get("error"), list) and payload["error"]:
        first = payload["error"][0]
        if isinstance(first, dict):
            code, message = first.get("code", code), first.get("message", message)
    parts = [str(p) for p in (message, f"code {code}" if code is not None else None) if p]
    return ", ".join(parts) or "unexpected reply"


def envelope(payload: Any, *, has_stat: bool = True) -> Fetch:
    """Classify a reply: data, confirmed empty, or failed. Never guess 'empty' from an error."""
    if not isinstance(payload, dict):
        return Fetch(Outcome.FAILED, error="reply is not a JSON object")
    stat = str(payload.get("stat", "")).strip().lower()
    data = payload.get("data")
    if has_stat and stat == "not_ok" and to_int(payload.get("stCode")) == NO_DATA:
        return Fetch(Outcome.EMPTY)
    if (stat == "ok" or not has_stat) and isinstance(data, list):
        if not data:
            return Fetch(Outcome.EMPTY)
        return Fetch(Outcome.OK, items=tuple(data))
    if stat == "ok" or (not has_stat and "data" in payload):
        return Fetch(Outcome.FAILED, error="reply has no 'data' list")
    return Fetch(Outcome.FAILED, error=_error_text(payload))


def _side(value: Any) -> Side | None:
    text = str(value or "").strip().upper()
    if text in ("B", "BUY"):
        return Side.BUY
    if text in ("S", "SELL"):
        return Side.SELL
    return None


def _bad_qty(value: Any, limit: int) -> bool:
    """A quantity that is there but cannot be believed: not a whole number, negative, or
    beyond `limit`."""
    if blank(value):
        return False
    number = to_int(value)
    return number is None or not 0 <= number <= limit


def _bad_price(value: Any) -> bool:
    if blank(value):
        return False
    number = to_float(value)
    return number is None or number < 0


def malformed(row: dict[str, Any]) -> bool:
    """A row whose numbers cannot be true: believing it could settle an order wrongly (a
    'complete' row with a negative quantity, more filled than ordered, a price that is text)."""
    qty = to_int(row.get("qty"))
    if _bad_qty(row.get("qty"), ABSURD_QTY) or qty == 0:
        return True
    if _bad_qty(row.get("fldQty"), qty if qty is not None else ABSURD_QTY):
        return True
    return any(_bad_price(row.get(k)) for k in ("prc", "avgPrc"))


def order_row(row: Any) -> BrokerOrder | None:
    """One order-book or history row; None when it has no usable order id or is malformed."""
    if not isinstance(row, dict):
        return None
    order_id = to_text(row.get("nOrdNo"))
    if order_id is None or malformed(row):
        return None
    reason = to_text(row.get("rejRsn")) or to_text(row.get("rejLongDesc"))
    symbol = to_text(row.get("trdSym")) or to_text(row.get("sym")) or ""
    status_text = storable(" ".join(str(row.get("ordSt") or "").lower().split()))
    return BrokerOrder(
        order_id=order_id,
        status_text=status_text,
        state=broker_state(status_text),
        symbol=symbols.normalise(symbol) if symbol else "",
        side=_side(row.get("trnsTp")),
        qty=to_int(row.get("qty")),
        filled_qty=to_int(row.get("fldQty")),
        avg_price=to_float(row.get("avgPrc")),
        reason=reason,
        tag=to_text(row.get("GuiOrdId")),
        placed_at=parse_time(row.get("ordDtTm")) or parse_time(row.get("flDtTm")),
        updated_ns=epoch_ns(row.get("updRecvTm")),
        state_at=state_time(row),
        updated_at=(
            from_epoch_ns(row.get("updRecvTm"))
            or parse_time(row.get("hsUpTm"))
            or parse_time(row.get("exCfmTm"))
        ),
        raw=row,
    )


def state_time(row: dict[str, Any]) -> datetime | None:
    """When the row's state happened: `flDtTm` (stray spaces and all), else the book's
    `hsUpTm`. Never `updRecvTm`/`boeSec`: those stamp when the reply was put together."""
    return parse_time(row.get("flDtTm")) or parse_time(row.get("hsUpTm"))


def order_book(payload: Any) -> Fetch:
    """Order book reply → Fetch of BrokerOrder, one per order id (an id listed twice is
    resolved by the lifecycle, not by position). Rows without an order id or with numbers
    that cannot be true are counted in `skipped`, not kept."""
    return rows.book(*rows.parse(envelope(payload), order_row))


def order_history(payload: Any, order_id: str) -> Fetch:
    """History reply → this order's current state as one row. Kotak lists history newest
    first but stamps `updRecvTm` rising down the list, so neither is trusted."""
    return rows.history(*rows.parse(envelope(payload), order_row), order_id)


_ERROR_KEYS = ("error", "fault", "Error", "Error Message", "errMsg", "emsg")


def holdings(payload: Any) -> Fetch:
    """Holdings have no stat/stCode envelope: {"data": [...]}. A reply that carries an error
    (or a stat other than ok) is a failure even with an empty data list: reading it as "no
    holdings" would look like a manual sale of everything."""
    if isinstance(payload, dict) and (
        any(payload.get(k) for k in _ERROR_KEYS)
        or str(payload.get("stat", "ok")).strip().lower() != "ok"
    ):
        return Fetch(Outcome.FAILED, error=_error_text(payload))
    fetch = envelope(payload, has_stat=False)
    if fetch.outcome is not Outcome.OK:
        return fetch
    return Fetch(Outcome.OK, items=tuple(h for h in map(holding_row, fetch.items) if h))


def positions(payload: Any) -> Fetch:
    """Positions reply → Fetch of Position (today's bought − sold per row). Rows without a
    symbol are dropped, as before."""
    fetch = envelope(payload)
    if fetch.outcome is not Outcome.OK:
        return fetch
    return Fetch(Outcome.OK, items=tuple(p for p in map(position_row, fetch.items) if p))


def position_row(row: Any) -> Position | None:
    if not isinstance(row, dict):
        return None
    name = to_text(row.get("trdSym")) or to_text(row.get("sym"))
    if not name:
        return None
    bought, sold = to_int(row.get("flBuyQty")) or 0, to_int(row.get("flSellQty")) or 0
    return Position(
        symbols.normalise(name),
        bought - sold,
        raw=row,
        bought_qty=bought,
        bought_value=to_float(row.get("buyAmt")),
        sold_qty=sold,
        sold_value=to_float(row.get("sellAmt")),
    )


def holding_row(row: Any) -> Holding | None:
    if not isinstance(row, dict):
        return None
    name = to_text(row.get("displaySymbol")) or to_text(row.get("symbol"))
    if not name:
        return None
    return Holding(
        symbols.normalise(name),
        to_int(row.get("quantity")) or 0,
        raw=row,
        avg_price=to_float(row.get("averagePrice")),
        close_price=to_float(row.get("closingPrice")),
        cost=to_float(row.get("holdingCost")),
        value=to_float(row.get("mktValue")),
    )


def trades(payload: Any) -> Fetch:
    """Trade book reply → Fetch of raw fill rows (one per fill)."""
    return envelope(payload)


def trade_book(payload: Any) -> Fetch:
    """`/quick/user/trades` → Fetch of BrokerFill: `avgPrc` is the fill's price, `flDt` +
    `flTm` its time. Rows without an order id, side or positive quantity are skipped."""
    return rows.items(envelope(payload), fill_row)


def fill_row(row: Any) -> BrokerFill | None:
    if not isinstance(row, dict):
        return None
    order_id, side, qty = (
        to_text(row.get("nOrdNo")),
        _side(row.get("trnsTp")),
        to_int(row.get("fldQty")),
    )
    symbol = to_text(row.get("trdSym")) or to_text(row.get("sym"))
    if order_id is None or side is None or not qty or qty < 0 or not symbol:
        return None
    price = to_float(row.get("avgPrc"))
    when = parse_time(f"{row.get('flDt')} {row.get('flTm')}") or parse_time(row.get("exTm"))
    return BrokerFill(
        order_id=order_id,
        fill_id=to_text(row.get("flId")) or order_id,
        symbol=symbols.normalise(symbol),
        side=side,
        qty=qty,
        price=price if price and price > 0 else None,
        at=when,
    )


def error_code(payload: Any) -> int | None:
    """The numeric error code of a reply in any of Kotak's error shapes (stCode, code,
    error[0].code, fault.code), or None."""
    if not isinstance(payload, dict):
        return None
    nested = [payload]
    for key in ("fault", "data"):  # the SDK's replies nest errors: {"data": {"stCode": …}}
        if isinstance(payload.get(key), dict):
            nested.append(payload[key])
    if isinstance(payload.get("error"), list) and payload["error"]:
        nested.extend(e for e in payload["error"][:1] if isinstance(e, dict))
    for part in reversed(nested):
        for key in ("stCode", "code"):
            code = to_int(part.get(key))
            if code is not None:
                return code
    return None


def error_text(payload: Any) -> str:
    """The error message and code of a reply as one short line ('unexpected reply' if none)."""
    if not isinstance(payload, dict):
        return "unexpected reply"
    for key in ("fault", "data"):
        if isinstance(payload.get(key), dict):
            payload = {**payload, **payload[key]}
    return _error_text(payload)


def sample_order_row(
    order_id: str,
    symbol: str,
    status: str,
    qty: int,
    filled: int,
    avg: str,
    placed: datetime,
    reason: str = "--",
    amo: bool = False,
) -> dict[str, Any]:
    """An order-book row as Kotak Neo sends it (the demo's scripted broker writes these)."""
    return {
        "nOrdNo": order_id,
        "ordSt": status,
        "stat": "Ok",
        "trdSym": f"{symbol}-EQ",
        "sym": symbol,
        "exSeg": "nse_cm",
        "trnsTp": "B",
        "prod": "CNC",
        "prcTp": "L",
        "qty": qty,
        "fldQty": filled,
        "unFldSz": qty - filled if status == "open" else 0,
        "avgPrc": avg,
        "rejRsn": reason,
        "ordGenTp": "AMO" if amo else "NA",
        "ordDtTm": placed.astimezone(IST).strftime("%d-%b-%Y %H:%M:%S"),
    }


def row_order_id(row: Any) -> str | None:
    """The order id of one order-book row or order-feed frame (None when it has none)."""
    return to_text(row.get("nOrdNo")) if isinstance(row, dict) else None
