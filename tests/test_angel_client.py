"""Angel One SmartAPI end to end on loopback: the login and its renewal, the calls, the
documented statuses and replies, and the faults with their request counts."""

import json

import pytest

from ordertrack.broker.angel import format as angel_format
from ordertrack.core.book import BrokerState, Outcome
from ordertrack.core.models import Side
from ordertrack.errors import ExitCode
from tests.fake_angel import (
    DETAILS,
    GARBAGE,
    HTML_5XX,
    LOGIN,
    ORDERS,
    RATE_LIMIT,
    SECRETS,
    TOKENS,
    Scripted,
    fixture,
)


@pytest.fixture
def registered(cli) -> None:
    assert (
        cli(
            "pending", "add", "201020000000081", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )


# ---- the documented replies ------------------------------------------------------------------


def test_every_documented_status_word_is_mapped():
    book = angel_format.order_book(fixture("order-book.json"))
    states = {o.order_id[-2:]: (o.status_text, o.state) for o in book.items}
    assert states == {
        "80": ("cancelled", BrokerState.CANCELLED),
        "81": ("complete", BrokerState.COMPLETE),
        "82": ("rejected", BrokerState.REJECTED),
        "83": ("open", BrokerState.WORKING),
        "84": ("after market order req received", BrokerState.WORKING),
        "85": ("trigger pending", BrokerState.WORKING),
    }
    assert angel_format.broker_state("cancelled after market order") is BrokerState.CANCELLED
    assert angel_format.broker_state("some new word") is BrokerState.UNKNOWN
    assert all(state is not BrokerState.UNKNOWN for state in angel_format.STATES.values())


def test_order_rows_read_fills_reason_side_and_amo():
    rows = {o.order_id[-2:]: o for o in angel_format.order_book(fixture("order-book.json")).items}
    assert (rows["81"].symbol, rows["81"].filled_qty, rows["81"].avg_price) == ("IDEA", 1, 9.39)
    assert rows["82"].reason.startswith("RMS:Rule") and rows["82"].side is Side.SELL
    assert (rows["83"].qty, rows["83"].filled_qty) == (10, 4)
    raw = fixture("order-book.json")["data"]
    assert [angel_format.is_amo(r) for r in raw] == [False, False, False, False, True, False]


def test_an_empty_book_is_data_null():
    assert angel_format.order_book(fixture("order-book-empty.json")).outcome is Outcome.EMPTY


def test_holdings_read_t1_beside_the_settled_quantity():
    items = {
        h.symbol: (h.qty, h.t1_qty) for h in angel_format.holdings(fixture("holdings.json")).items
    }
    assert items == {"TATASTEEL": (2, 0), "SBIN": (10, 5)}


def test_positions_are_the_days_buys_less_sells():
    (position,) = angel_format.positions(fixture("positions.json")).items
    assert (position.symbol, position.net_qty) == ("RELIANCE", 1)


def test_the_error_envelope_is_one_line_in_both_shapes():
    assert angel_format.error_line(fixture("error-AB1050.json")["body"]) == "AB1050: Invalid totp"
    assert angel_format.error_line(fixture("error-AG8001.json")["body"]) == "AG8001: Invalid Token"


# ---- login, session reuse and renewal --------------------------------------------------------


def test_login_once_then_reuse_the_stored_session(cli, angel, sql):
    first = cli("broker", "check", "--json")
    assert first.code == 0, first.err
    assert json.loads(first.out)["session"]["logged_in_now"] is True
    second = cli("broker", "check", "--json")
    assert json.loads(second.out)["session"]["logged_in_now"] is False
    assert angel.logins == 1 and angel.count(LOGIN) == 1
    assert sql("SELECT broker FROM broker_sessions") == [("angel",)]
    login = json.loads(angel.requests[0].body)
    assert set(login) == {"clientcode", "password", "totp"}


def test_every_call_sends_the_sdk_headers(cli, angel):
    assert cli("broker", "check").code == 0
    for seen in angel.requests:
        assert seen.headers["x-privatekey"] == SECRETS["ANGEL_API_KEY"]
        assert (seen.headers["x-usertype"], seen.headers["x-sourceid"]) == ("USER", "WEB")
        if seen.path != LOGIN:
            assert seen.headers["authorization"].startswith("Bearer ")


def test_a_refused_session_is_renewed_with_the_refresh_token_first(cli, angel):
    assert cli("broker", "check").code == 0
    angel.expire_sessions()
    assert cli("broker", "check").code == 0
    assert (angel.refreshes, angel.logins) == (1, 1)
    (renewal,) = [seen for seen in angel.requests if seen.path == TOKENS]
    assert list(json.loads(renewal.body)) == ["refreshToken"]


def test_a_refused_refresh_is_followed_by_one_full_login(cli, angel):
    assert cli("broker", "check").code == 0
    angel.expire_sessions(refresh_too=True)
    assert cli("broker", "check").code == 0
    assert (angel.refreshes, angel.logins, angel.count(TOKENS)) == (0, 2, 1)


def test_a_wrong_pin_is_exit_4_naming_it_after_one_attempt(cli, angel, monkeypatch):
    monkeypatch.setenv("ANGEL_PIN", "0000")
    result = cli("broker", "check")
    assert result.code == ExitCode.BROKER
    assert "PIN was refused" in result.err and "ANGEL_PIN" in result.err
    assert angel.count(LOGIN) == 1 and "0000" not in result.err


def test_a_wrong_totp_is_exit_4_naming_it_after_two_attempts(cli, angel, monkeypatch):
    monkeypatch.setenv("ANGEL_TOTP_SECRET", "JBSWY3DPEHPK3PXPWRONGWRONGWR")
    result = cli("broker", "check")
    assert result.code == ExitCode.BROKER
    assert "TOTP was refused" in result.err and "ANGEL_TOTP_SECRET" in result.err
    assert angel.count(LOGIN) == 2


def test_the_rate_limit_403_is_retried_not_a_refused_session(cli, angel):
    angel.script(ORDERS, Scripted(403, RATE_LIMIT), Scripted(403, RATE_LIMIT))
    result = cli("broker", "check")
    assert result.code == 0, result.err
    assert angel.count(ORDERS) == 3 and angel.logins == 1 and angel.count(TOKENS) == 0


def test_a_lasting_rate_limit_says_so_after_the_policys_attempts(cli, angel):
    angel.script(ORDERS, *[Scripted(403, RATE_LIMIT)] * 3)
    result = cli("broker", "check")
    assert result.code == ExitCode.BROKER
    assert "exceeding access rate" in result.err and angel.count(ORDERS) == 3
    assert angel.count(TOKENS) == 0 and angel.logins == 1


def test_order_details_use_the_unique_order_id_from_the_book(angel, tmp_path):
    import os

    from ordertrack.broker.base import make_broker
    from ordertrack.config import load
    from ordertrack.store.db import open_db

    broker = make_broker(load(os.environ), open_db(tmp_path / "d.db"))
    fetch = broker.order_history("201020000000081")
    assert fetch.outcome is Outcome.OK and fetch.items[0].state is BrokerState.COMPLETE
    unique = fixture("order-book.json")["data"][1]["uniqueorderid"]
    assert angel.paths()[-1] == DETAILS + unique
    assert broker.order_history("999").outcome is Outcome.UNSUPPORTED


def test_verify_applies_the_angel_order_book(cli, angel, registered, sql):
    result = cli("verify")
    assert result.code == 0, result.err
    assert sql("SELECT status, filled_qty FROM orders") == [("EXECUTED", 1)]


# ---- the fault table -------------------------------------------------------------------------

# (name, replies scripted on the order book, exit code, words on stderr, order-book requests)
FAULTS = [
    ("5xx", [Scripted(503, HTML_5XX)] * 3, ExitCode.BROKER, "unavailable (HTTP 503)", 3),
    (
        "429",
        [Scripted(429, {"status": False, "message": "Too many requests"})] * 3,
        ExitCode.BROKER,
        "limiting requests (HTTP 429",
        3,
    ),
    (
        "html",
        [Scripted(200, "<html><body>Maintenance</body></html>")],
        ExitCode.BROKER,
        "not JSON (HTTP 200)",
        1,
    ),
    ("garbage", [Scripted(200, GARBAGE)], ExitCode.BROKER, "not JSON", 1),
    ("expired", [Scripted(403, fixture("error-AG8001.json")["body"], expire=True)], 0, "", 2),
]


@pytest.mark.parametrize("name,replies,code,says,asked", FAULTS, ids=[f[0] for f in FAULTS])
def test_angel_fault(cli, angel, registered, sql, name, replies, code, says, asked):
    angel.script(ORDERS, *replies)
    result = cli("verify")
    assert result.code == code, result.err
    assert says in result.err
    assert angel.count(ORDERS) == asked
    expected = "EXECUTED" if code == 0 else "PENDING"
    assert sql("SELECT status FROM orders") == [(expected,)]
    if name == "expired":
        assert angel.refreshes == 1 and angel.logins == 1


def test_angel_fault_wrong_credentials(cli, angel, registered, sql, monkeypatch):
    monkeypatch.setenv("ANGEL_CLIENT_CODE", "X00000")
    result = cli("verify")
    assert result.code == ExitCode.BROKER and "ANGEL_PIN" in result.err
    assert angel.count(LOGIN) == 1 and angel.count(ORDERS) == 0
    assert sql("SELECT status FROM orders") == [("PENDING",)]


def test_the_docs_show_this_fault_table():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "angel.md").read_text()
    for name, *_ in FAULTS:
        assert f"| `{name}`" in doc, name
    assert "| `wrong-credentials` (PIN) | 1 login, no data call |" in doc
