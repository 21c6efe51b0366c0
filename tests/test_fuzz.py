"""Fuzzing the two places where text from outside meets ordertrack's logic.

1. The Kotak reply parser (broker/kotak_format.py), with arbitrary JSON-like values and with
   envelopes and rows that are nearly right: it never raises, every outcome is an Outcome, and a
   reply is usable (OK or EMPTY) only when it has the shape that makes it so.
2. The message renderer (messages.py: `render` for the terminal, `message` for Telegram HTML),
   with arbitrary strings in every payload field: it never raises, the HTML shows exactly the
   plain words (so every dynamic value was escaped: a raw `<` or `&` would either be refused by
   the Bot API's parser or change what the chat shows), and no part exceeds Telegram's 4096.
"""

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ordertrack.broker import rows as broker_rows
from ordertrack.broker.kotak import format as kf
from ordertrack.core.book import BrokerOrder, Holding, Outcome, Position
from ordertrack.core.models import Side
from ordertrack.notify.messages import DUPLICATE_NOTE, Part, message, plain_text, setup_check, units
from tests.fake_telegram import visible_text

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TELEGRAM_LIMIT = 4096

# ---- JSON-like values ------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=20)
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
# What Kotak really puts in its fields, and the near misses: sentinels, numbers as text.
kotak_text = st.sampled_from(
    [
        "",
        " ",
        "NA",
        "N/A",
        "--",
        "-",
        "- ",
        "null",
        "None",
        "0",
        "1",
        "40.0",
        "2.5",
        "-3",
        "1,000",
        " 7 ",
        "1e3",
        "1e400",
        "nan",
        "inf",
        "-inf",
        "0x10",
        "1_000",
        "١٢٣",
        "9" * 30,
        "9" * 5000,
        "complete",
        "open",
        "rejected",
        "cancelled",
        "after market order req received",
        "B",
        "S",
        "BUY",
        "sell",
        "INFY-EQ",
        "M&M",
        "<b>",
        "24-Nov-2026 09:20:00",
        "2026/11/24 09:20:00",
        "22-Jan-2025 14: 32: 53",
        "31-Feb-2026 25:61:61",
        "1737536606366027474",
        "99999999999999999999999",
    ]
)
field_value = kotak_text | scalars | json_like
ROW_KEYS = [
    "nOrdNo",
    "ordSt",
    "stat",
    "trdSym",
    "sym",
    "trnsTp",
    "qty",
    "fldQty",
    "avgPrc",
    "rejRsn",
    "rejLongDesc",
    "GuiOrdId",
    "ordDtTm",
    "flDtTm",
    "updRecvTm",
    "prc",
]
rows = st.dictionaries(st.sampled_from(ROW_KEYS), field_value, max_size=len(ROW_KEYS)) | json_like
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "stat": st.sampled_from(["Ok", "ok", " OK ", "Not_Ok", "NOT_OK", "", "Error"]) | scalars,
        "stCode": st.sampled_from([200, 5203, "5203", " 5203 ", 5203.0, 100022, 1003, None])
        | scalars,
        "data": st.lists(rows, max_size=5) | json_like,
        "errMsg": field_value,
        "emsg": field_value,
        "message": field_value,
        "error": st.lists(
            st.dictionaries(st.sampled_from(["code", "message"]), field_value), max_size=2
        )
        | json_like,
        "fault": st.dictionaries(st.sampled_from(["code", "message", "description"]), field_value)
        | json_like,
    },
)
payloads = envelopes | json_like


def _stat(payload: dict[str, Any]) -> str:
    return str(payload.get("stat", "")).strip().lower()


def check_order(order: Any, row: Any) -> None:
    """What the rest of ordertrack relies on in a parsed row."""
    assert isinstance(order, BrokerOrder)
    assert isinstance(order.order_id, str) and order.order_id.strip() == order.order_id != ""
    assert isinstance(order.status_text, str) and order.status_text == order.status_text.lower()
    assert isinstance(order.symbol, str)
    assert order.side is None or isinstance(order.side, Side)
    for number in (order.qty, order.filled_qty):
        assert number is None or (type(number) is int and abs(number) <= broker_rows.MAX_NUMBER)
    assert order.avg_price is None or (
        isinstance(order.avg_price, float) and math.isfinite(order.avg_price)
    )
    assert type(order.updated_ns) is int and 0 <= order.updated_ns <= 2**63 - 1
    assert order.placed_at is None or order.placed_at.tzinfo is not None
    assert order.raw is row


def check_fetch(fetch: Any) -> None:
    assert fetch.outcome in set(Outcome) - {Outcome.UNSUPPORTED}
    if fetch.outcome is Outcome.FAILED:
        assert isinstance(fetch.error, str) and fetch.error and fetch.items == ()
    else:
        assert fetch.error is None


def usable_shape(payload: Any, fetch: Any, *, has_stat: bool = True) -> None:
    """Usable only for the right shapes: never for a non-object, an error, or a missing list."""
    if not fetch.usable:
        return
    assert isinstance(payload, dict)
    data = payload.get("data")
    if fetch.outcome is Outcome.OK:
        assert isinstance(data, list) and data
        assert _stat(payload) == "ok" or not has_stat
    else:  # EMPTY: an empty list, or the broker's own "No Data" (5203)
        assert data == [] or (
            has_stat
            and _stat(payload) == "not_ok"
            and kf.to_int(payload.get("stCode")) == kf.NO_DATA
        )


@FUZZ
@given(payloads)
@example({"stat": "Ok", "data": []})
@example({"stat": "Not_Ok", "stCode": "5203"})
@example({"stat": "Ok", "data": [{"nOrdNo": "1"}, "junk", {"nOrdNo": "NA"}]})
def test_order_book(payload):
    fetch = kf.order_book(payload)
    check_fetch(fetch)
    usable_shape(payload, fetch)
    if fetch.outcome is Outcome.OK:
        # every row is read or counted as skipped; rows of one order id resolve to one order
        kept = [row for row in payload["data"] if kf.order_row(row) is not None]
        assert len(kept) + fetch.skipped == len(payload["data"])
        ids = [kf.order_row(row).order_id for row in kept]  # type: ignore[union-attr]
        assert [o.order_id for o in fetch.items] == list(dict.fromkeys(ids))
        for order in fetch.items:
            rows = [row for row, i in zip(kept, ids, strict=True) if i == order.order_id]
            if len(rows) == 1:
                check_order(order, rows[0])


@FUZZ
@given(payloads, st.sampled_from(["1", "250122000624384", "NA"]) | st.text(max_size=10))
def test_order_history(payload, order_id):
    fetch = kf.order_history(payload, order_id)
    check_fetch(fetch)
    if fetch.outcome is Outcome.EMPTY and kf.order_book(payload).outcome is Outcome.OK:
        # the history holds rows, none of them this order's: it knows nothing of it
        assert all(
            kf.order_row(r) is None or kf.order_row(r).order_id != order_id  # type: ignore
            for r in payload["data"]
        )
    else:
        usable_shape(payload, fetch)
    if fetch.outcome is Outcome.OK:
        assert all(o.order_id == order_id for o in fetch.items)
        stamps = [o.updated_ns for o in fetch.items]
        assert stamps == sorted(stamps, reverse=True)


ERROR_KEYS = ("error", "fault", "Error", "Error Message", "errMsg", "emsg")


@FUZZ
@given(
    payloads
    | st.fixed_dictionaries(
        {"data": st.lists(json_like, max_size=4)},
        optional={"stat": scalars, "Error Message": field_value},
    )
)
def test_holdings(payload):
    fetch = kf.holdings(payload)
    check_fetch(fetch)
    usable_shape(payload, fetch, has_stat=False)
    if fetch.usable:  # an error beside an empty list is never "owns nothing"
        assert not any(payload.get(k) for k in ERROR_KEYS)
        assert str(payload.get("stat", "ok")).strip().lower() == "ok"
    if fetch.outcome is Outcome.OK:
        assert all(isinstance(h, Holding) and h.symbol and type(h.qty) is int for h in fetch.items)
        kept = [r for r in payload["data"] if kf.holding_row(r) is not None]
        assert [h.raw for h in fetch.items] == kept  # every row with a symbol, in order


@FUZZ
@given(payloads)
def test_positions_and_trades(payload):
    fetch = kf.positions(payload)
    check_fetch(fetch)
    usable_shape(payload, fetch)
    if fetch.outcome is Outcome.OK:
        assert all(
            isinstance(p, Position) and p.symbol and type(p.net_qty) is int for p in fetch.items
        )
        kept = [r for r in payload["data"] if kf.position_row(r) is not None]
        assert [p.raw for p in fetch.items] == kept
    fetch = kf.trades(payload)
    check_fetch(fetch)
    usable_shape(payload, fetch)
    if fetch.outcome is Outcome.OK:
        assert fetch.items == tuple(payload["data"])


@FUZZ
@given(payloads, st.booleans())
def test_envelope_and_error_details(payload, has_stat):
    fetch = kf.envelope(payload, has_stat=has_stat)
    check_fetch(fetch)
    usable_shape(payload, fetch, has_stat=has_stat)
    code, text = kf.error_code(payload), kf.error_text(payload)
    assert code is None or type(code) is int
    assert isinstance(text, str) and text


@FUZZ
@given(rows)
@example(
    {
        "nOrdNo": " 5 ",
        "qty": "1e400",
        "fldQty": "nan",
        "avgPrc": "inf",
        "updRecvTm": "9" * 5000,
        "ordDtTm": "31-Feb-2026 25:61:61",
    }
)
@example({"nOrdNo": "0", "ordSt": None, "updRecvTm": float("inf")})  # JSON's 1e999
def test_order_row(row):
    order = kf.order_row(row)
    if order is None:  # no dict, no id, or numbers that cannot be true: refused
        assert (
            not isinstance(row, dict) or kf.to_text(row.get("nOrdNo")) is None or kf.malformed(row)
        )
    else:
        check_order(order, row)
        assert order.qty is None or 0 < order.qty <= broker_rows.ABSURD_QTY
        assert order.filled_qty is None or 0 <= order.filled_qty <= (
            order.qty or broker_rows.ABSURD_QTY
        )


@FUZZ
@given(
    st.fixed_dictionaries(
        {"nOrdNo": st.just("1")},
        optional={
            k: st.text(alphabet=st.characters(codec=None, categories=["Cs", "L", "P"]), max_size=5)
            for k in ("ordSt", "trdSym", "rejRsn", "GuiOrdId")
        },
    )
)
@example({"nOrdNo": "1", "ordSt": "rejected", "rejRsn": "RMS: margin \ud83d"})
def test_order_row_text_can_be_stored(row):
    order = kf.order_row(row)
    for text in (order.order_id, order.status_text, order.symbol, order.reason, order.tag):
        if text is not None:
            text.encode("utf-8")  # what sqlite3 does to every str it stores


# ---- the message renderer --------------------------------------------------------------------

# Any text (Telegram and SQLite both need well-formed Unicode: no lone surrogates), biased
# towards what HTML and Telegram treat specially.
nasty = st.sampled_from(
    [
        "<",
        ">",
        "&",
        "&amp;",
        "&lt;b&gt;",
        "<b>",
        "</b>",
        "<a href='x'>",
        "<tg-spoiler>",
        "*",
        "_",
        "`",
        "\n",
        "\r\n",
        " ",
        "🙂",
        "₹",
        "\u202e",
        "\u200b",
        "\x00",
        "'",
        '"',
    ]
)
text = st.lists(st.text(max_size=12) | nasty, max_size=8).map("".join)
long_text = st.one_of(
    text,
    st.builds(lambda t, n: (t + " ") * n, text, st.integers(0, 900)),
    st.builds(lambda t, n: t * n, nasty, st.integers(0, 5000)),
)
symbol = st.text(max_size=50) | nasty  # registered symbols are at most 50 characters
money = st.none() | st.floats(min_value=0, max_value=1e12, allow_nan=False)
quantity = st.integers(min_value=0, max_value=10**9)
when = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
ORDER_KINDS = [
    "EXECUTED",
    "PARTIAL_FILL",
    "REJECTED",
    "CANCELLED",
    "EXPIRED",
    "UNKNOWN_STATUS",
    "AMBIGUOUS_MATCH",
]


@st.composite
def order_payload(draw: Any) -> dict[str, Any]:
    qty = draw(st.integers(min_value=1, max_value=10**9))
    return {
        "order_id": draw(text | st.just("#7")),
        "symbol": draw(symbol),
        "side": draw(st.sampled_from(["BUY", "SELL"]) | text),
        "qty": qty,
        "price": draw(money),
        "filled_qty": draw(st.integers(0, qty)),
        "avg_price": draw(money),
        "reason": draw(st.none() | long_text),
        "status": draw(text),
        "broker_status": draw(st.none() | long_text),
        "amo": draw(st.booleans()),
        "candidates": draw(st.lists(text, max_size=4)),
    }


@st.composite
def summary_row(draw: Any) -> dict[str, Any]:
    return {
        "kind": "EXECUTED",
        "order_id": draw(text),
        "symbol": draw(symbol),
        "side": draw(text),
        "qty": draw(quantity),
        "filled_qty": draw(quantity),
        "avg_price": draw(money),
        "reason": draw(st.none() | long_text),
    }


@st.composite
def summary_payload(draw: Any) -> dict[str, Any]:
    rows = st.lists(summary_row(), max_size=30)
    return {
        "trading_day": draw(st.dates()).isoformat(),
        "complete": draw(st.booleans()),
        "broker_error": draw(long_text),
        "placed": draw(quantity),
        "executed": draw(rows),
        "rejected": draw(rows),
        "cancelled": draw(rows),
        "expired": draw(rows),
        "partially_filled": draw(quantity),
        "still_pending": draw(
            st.lists(
                st.builds(
                    lambda r, status: {**r, "status": status},
                    summary_row(),
                    st.sampled_from(["PENDING", "PARTIALLY_FILLED"]),
                ),
                max_size=30,
            )
        ),
        "tracked": draw(
            st.lists(
                st.fixed_dictionaries({"symbol": symbol, "tracked_qty": quantity}), max_size=60
            )
        ),
        "manual_trades": draw(quantity),
        "notifications_failed": draw(quantity),
    }


manual_payload = st.fixed_dictionaries(
    {
        "symbol": symbol,
        "action": st.sampled_from(["manual_sell", "manual_buy", "manual_buy_ignored"]),
        "tracked": quantity,
        "owned": quantity,
        "new_qty": quantity,
        "manual_orders": st.lists(text, max_size=40),
    },
    optional={"tracked_days": quantity},
)
alert_payload = st.fixed_dictionaries(
    {
        "command": st.sampled_from(["verify", "eod", "calendar"]) | text.map(lambda t: t[:30]),
        "text": long_text,
    }
)
notifications = st.one_of(
    st.tuples(st.sampled_from(ORDER_KINDS), order_payload()),
    st.tuples(st.just("DAILY_SUMMARY"), summary_payload()),
    st.tuples(st.just("MANUAL_TRADE"), manual_payload),
    st.tuples(st.just("SYSTEM_ALERT"), alert_payload),
    st.tuples(
        st.just("DIGEST"),
        st.fixed_dictionaries(
            {
                "items": st.lists(
                    st.builds(
                        lambda k, p: {"kind": k, "payload": p},
                        st.sampled_from(ORDER_KINDS[:5]),
                        order_payload(),
                    ),
                    min_size=2,
                    max_size=40,
                )
            }
        ),
    ),
)


def check_parts(parts: list[Part]) -> None:
    assert parts
    for part in parts:
        shown = visible_text(part.html)  # ValueError: Telegram would refuse the markup
        assert shown == part.plain, "the HTML does not show exactly the plain words"
        # and still fits when it is sent again, with the possible-duplicate note
        assert units(f"{part.plain}\n{DUPLICATE_NOTE}") <= TELEGRAM_LIMIT


@FUZZ
@given(notifications, when)
@example(
    (
        "REJECTED",
        {
            "order_id": "1",
            "symbol": "M&M",
            "side": "BUY",
            "qty": 5,
            "filled_qty": 0,
            "avg_price": None,
            "price": None,
            "amo": False,
            "reason": "<b>&amp;</b> " * 2000,
        },
    ),
    None,
)
def test_every_notification_renders_escaped_and_fits(notification, at):
    kind, payload = notification
    assert isinstance(plain_text(kind, payload), str)
    check_parts(message(kind, payload, at))


@FUZZ
@given(text, text | st.integers().map(str), when.filter(lambda at: at is not None))
def test_the_notify_test_message_renders_escaped_and_fits(bot, chat, at):
    check_parts(setup_check(bot, chat, at))


def test_the_checks_can_fail():
    """The renderer checks catch an unescaped value, a markup change and a part too long."""
    with pytest.raises(ValueError):
        check_parts([Part("a < b", "a < b")])
    with pytest.raises(AssertionError):
        check_parts([Part("<b>x</b>", "<b>x</b>")])
    with pytest.raises(AssertionError):
        check_parts([Part("x" * 4097, "x" * 4097)])
