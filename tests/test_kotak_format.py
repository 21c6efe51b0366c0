"""Parsing Kotak Neo replies: the same code serves the file broker and the HTTP client."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrack.broker.kotak import format as kf
from ordertrack.core.book import BrokerState, Outcome
from ordertrack.core.models import Side
from tests.helpers import NO_DATA, SESSION_EXPIRED, book, kotak_row


def test_order_book_with_rows_is_data():
    fetch = kf.order_book(book(kotak_row("1", "open"), kotak_row("2", "complete")))
    assert fetch.outcome is Outcome.OK
    assert [o.order_id for o in fetch.items] == ["1", "2"]


def test_no_data_5203_is_confirmed_empty():
    assert kf.order_book(NO_DATA).outcome is Outcome.EMPTY


def test_ok_with_empty_list_is_empty():
    assert kf.order_book(book()).outcome is Outcome.EMPTY


@pytest.mark.parametrize(
    "payload",
    [
        SESSION_EXPIRED,
        {"stat": "Not_Ok", "stCode": 1005, "errMsg": "internal server error"},
        {"stat": "Not_Ok"},
        {"stat": "Ok", "stCode": 200},  # no data list
        {"stat": "Ok", "data": {"not": "a list"}},
        {"error": [{"code": "10512", "message": "Required header not found."}]},
        [],
        "html",
        None,
    ],
)
def test_anything_else_is_a_failure_never_empty(payload):
    fetch = kf.order_book(payload)
    assert fetch.outcome is Outcome.FAILED
    assert fetch.error


def test_failure_message_names_code_and_text():
    assert kf.order_book(SESSION_EXPIRED).error == "invalid session token, code 100022"
    login = kf.envelope({"error": [{"code": "10512", "message": "Required header not found."}]})
    assert login.error == "Required header not found., code 10512"


def test_stat_casing_varies():
    assert kf.order_book({"stat": "ok", "data": [kotak_row("1")]}).outcome is Outcome.OK
    assert kf.order_book({"stat": "NOT_OK", "stCode": "5203"}).outcome is Outcome.EMPTY


def test_rows_without_order_id_are_counted_and_skipped():
    fetch = kf.order_book(book(kotak_row("1"), {"ordSt": "open"}, "junk", kotak_row("NA")))
    assert [o.order_id for o in fetch.items] == ["1"]
    assert fetch.skipped == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        ("5", 5),
        ("1,000", 1000),
        ("40.0", 40),
        ("NA", None),
        ("--", None),
        ("- ", None),
        ("", None),
        (None, None),
        ("abc", None),
        ("2.5", None),
        (True, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_integers_parsed_defensively(value, expected):
    assert kf.to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1849.85", 1849.85),
        (9.39, 9.39),
        ("0.00", 0.0),
        ("NA", None),
        ("--", None),
        ("1,849.85", 1849.85),
        ("nan", None),
    ],
)
def test_prices_parsed_defensively(value, expected):
    assert kf.to_float(value) == expected


def test_row_fields_are_normalised():
    row = kf.order_row(
        kotak_row(
            "250122000700111",
            "  Open ",
            symbol="INFY",
            side="S",
            qty="100",
            filled="40",
            avg="1849.85",
            tag="cli-7f3a",
            placed="22-Jan-2025 10:05:12",
        )
    )
    assert row.status_text == "open"
    assert row.symbol == "INFY"
    assert row.side is Side.SELL
    assert (row.qty, row.filled_qty, row.avg_price) == (100, 40, 1849.85)
    assert row.tag == "cli-7f3a"
    assert row.placed_at.isoformat() == "2025-01-22T04:35:12+00:00"  # IST → UTC


def test_history_sample_time_with_stray_spaces_parses():
    row = kf.order_row({"nOrdNo": "1", "ordSt": "complete", "flDtTm": "22-Jan-2025 14: 32: 53"})
    assert row.placed_at.isoformat() == "2025-01-22T09:02:53+00:00"


def test_history_resolves_to_one_current_row_of_the_order():
    rows = [
        {"nOrdNo": "7", "ordSt": "open", "updRecvTm": 2},
        {"nOrdNo": "7", "ordSt": "complete", "updRecvTm": 3},
        {"nOrdNo": "8", "ordSt": "rejected", "updRecvTm": 9},
        {"nOrdNo": "7", "ordSt": "put order req received", "updRecvTm": 1},
    ]
    fetch = kf.order_history(book(*rows), "7")
    assert [(o.order_id, o.status_text) for o in fetch.items] == [("7", "complete")]


def test_history_without_this_order_is_empty():
    assert kf.order_history(book({"nOrdNo": "8", "ordSt": "open"}), "7").outcome is Outcome.EMPTY


def test_holdings_have_no_stat_envelope():
    fetch = kf.holdings({"data": [{"symbol": "IDEA", "quantity": 35}]})
    assert fetch.outcome is Outcome.OK
    assert kf.holdings({"Error": "Unexpected response format"}).outcome is Outcome.FAILED


def test_a_row_carries_its_meaning_and_times_normalised():
    row = kf.order_row(
        kotak_row(
            "1",
            "Complete ",
            filled=100,
            updRecvTm="1764052200000000000",
            flDtTm="25-Nov-2025 11: 59: 00",
        )
    )
    assert row is not None and row.state is BrokerState.COMPLETE
    assert row.state_at == datetime(2025, 11, 25, 6, 29, tzinfo=UTC)  # 11:59 IST
    assert row.updated_at == datetime(2025, 11, 25, 6, 30, tzinfo=UTC)  # updRecvTm


def test_updated_at_falls_back_to_the_books_times():
    row = kf.order_row(kotak_row("1", "open", updRecvTm="NA", hsUpTm="2026/11/24 09:20:00"))
    assert row is not None and row.state is BrokerState.WORKING
    assert row.updated_at == datetime(2026, 11, 24, 3, 50, tzinfo=UTC)
    bare = kf.order_row(
        kotak_row("1", "odd new word", updRecvTm="NA", hsUpTm="--", exCfmTm="24-Nov-2026 09:21:00")
    )
    assert bare is not None and bare.state is BrokerState.UNKNOWN
    assert bare.updated_at == datetime(2026, 11, 24, 3, 51, tzinfo=UTC)


def _strptime_only(text: object) -> datetime | None:
    """parse_time as it was before its fast path: the reference the fast path must equal."""
    if not isinstance(text, str):
        return None
    import re

    cleaned = re.sub(r":\s+", ":", text.strip())
    for fmt in ("%d-%b-%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%d-%b-%Y"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=kf.IST).astimezone(UTC)
        except ValueError:
            continue
        except OverflowError:  # year 1 in IST: no time at all, never a crash
            return None
    return None


_MONTH_NAMES = [
    "Jan",
    "FEB",
    "mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
    "Foo",
    "Sept",
]


@given(
    day=st.integers(0, 32),
    month=st.sampled_from(_MONTH_NAMES),
    year=st.integers(1, 9999),
    hour=st.integers(0, 25),
    minute=st.integers(0, 61),
    second=st.integers(0, 62),
    pad=st.booleans(),
    stray=st.sampled_from(["", " ", "  "]),
    gap=st.sampled_from([" ", "  ", "\t", "T"]),
)
def test_book_time_fast_path_reads_exactly_what_strptime_reads(
    day, month, year, hour, minute, second, pad, stray, gap
):
    d = f"{day:02d}" if pad else str(day)
    text = f"{d}-{month}-{year:04d}{gap}{hour}:{stray}{minute:02d}:{stray}{second}"
    assert kf.parse_time(text) == _strptime_only(text)


@given(st.text(alphabet="0123456789-: ADFJMNOSabceglnoprtuvy/", max_size=24))
def test_any_text_reads_as_strptime_reads_it(text):
    assert kf.parse_time(text) == _strptime_only(text)


def test_a_time_before_the_first_utc_instant_is_no_time_not_a_crash():
    row = kotak_row("1", "open")
    row["ordDtTm"] = row["flDtTm"] = "01-Jan-0001 00:00:00"
    (order,) = kf.order_book(book(row)).items
    assert order.placed_at is None
