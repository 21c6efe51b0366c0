"""Fyers API v3 end to end on loopback: the daily auth-code login, the calls, the documented
statuses and replies, and the faults with their request counts."""

import hashlib
import json

import pytest

from ordertrack.broker.fyers import client as fyers_client
from ordertrack.broker.fyers import format as fyers_format
from ordertrack.core.book import BrokerState, Outcome
from ordertrack.core.models import Side
from ordertrack.errors import ExitCode
from tests.fake_fyers import (
    GARBAGE,
    HOLDINGS,
    HTML_5XX,
    ORDERS,
    POSITIONS,
    SECRETS,
    VALIDATE,
    Scripted,
    fixture,
)


@pytest.fixture
def registered(cli) -> None:
    assert (
        cli(
            "pending", "add", "23080400089344", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )


# ---- the documented replies ------------------------------------------------------------------


def test_every_documented_status_code_is_mapped():
    book = fyers_format.order_book(fixture("orderbook.json"))
    states = {o.order_id[-2:]: (o.status_text, o.state) for o in book.items}
    assert states == {
        "44": ("traded", BrokerState.COMPLETE),
        "45": ("cancelled", BrokerState.CANCELLED),
        "46": ("rejected", BrokerState.REJECTED),
        "47": ("pending", BrokerState.WORKING),
        "48": ("transit", BrokerState.WORKING),
        "49": ("expired", BrokerState.CANCELLED),
    }
    assert set(fyers_format.WORDS) == {1, 2, 3, 4, 5, 6, 7}


def test_order_rows_read_fills_reason_side_and_amo():
    rows = {o.order_id[-2:]: o for o in fyers_format.order_book(fixture("orderbook.json")).items}
    assert (rows["44"].symbol, rows["44"].filled_qty, rows["44"].avg_price) == ("IDEA", 1, 9.39)
    assert rows["46"].reason == "RMS:Margin Exceeds" and rows["46"].side is Side.SELL
    assert rows["49"].reason == "Order expired at end of day"
    assert rows["47"].reason is None  # a working order's message is not a reason
    raw = fixture("orderbook.json")["orderBook"]
    assert [fyers_format.is_amo(r) for r in raw] == [False, False, False, False, True, False]


def test_holdings_add_t1_rows_beside_settled_ones():
    items = {
        h.symbol: (h.qty, h.t1_qty) for h in fyers_format.holdings(fixture("holdings.json")).items
    }
    assert items == {"SBIN": (10, 5), "TATASTEEL": (2, 0)}


def test_positions_and_empty_book():
    (position,) = fyers_format.positions(fixture("positions.json")).items
    assert (position.symbol, position.net_qty) == ("RELIANCE", 1)
    assert fyers_format.order_book(fixture("orderbook-empty.json")).outcome is Outcome.EMPTY


def test_the_app_id_hash_is_sha256_of_app_id_colon_secret():
    assert (
        fyers_client.app_id_hash("XC4EOD67IM-100", "s3cr")
        == hashlib.sha256(b"XC4EOD67IM-100:s3cr").hexdigest()
    )


# ---- the daily login ---------------------------------------------------------------------------


def test_login_prints_the_authcode_url_and_exchanges_the_code(cli, fyers, sql):
    code = fyers.auth_code()
    result = cli(
        "broker",
        "login",
        "--json",
        f"{SECRETS['FYERS_REDIRECT_URL']}?s=ok&code=200&auth_code={code}&state=x",
    )
    assert result.code == 0, result.err
    assert f"{fyers.base}/generate-authcode?client_id={SECRETS['FYERS_APP_ID']}" in result.err
    assert "response_type=code" in result.err
    assert json.loads(result.out)["broker"] == "fyers"
    sent = json.loads(fyers.requests[-1].body)
    assert sent["appIdHash"] == fyers_client.app_id_hash(
        SECRETS["FYERS_APP_ID"], SECRETS["FYERS_SECRET_KEY"]
    )
    assert SECRETS["FYERS_SECRET_KEY"] not in fyers.requests[-1].body
    assert sql("SELECT broker FROM broker_sessions") == [("fyers",)]


def test_login_takes_the_bare_auth_code_and_refuses_a_used_one(cli, fyers):
    code = fyers.auth_code()
    assert cli("broker", "login", code).code == 0
    again = cli("broker", "login", code)
    assert again.code == ExitCode.BROKER and "Invalid auth code" in again.err
    assert "generate-authcode" in again.err


def test_login_refuses_a_redirect_that_did_not_complete(cli, fyers):
    result = cli("broker", "login", "https://x.example/?s=error&code=-1")
    assert result.code == ExitCode.USAGE and fyers.exchanges == 0


def test_a_wrong_secret_is_refused_by_the_app_id_hash(cli, fyers, monkeypatch):
    monkeypatch.setenv("FYERS_SECRET_KEY", "wrongSECRETvalue")
    result = cli("broker", "login", fyers.auth_code())
    assert result.code == ExitCode.BROKER
    assert "Invalid appIdHash" in result.err and "FYERS_SECRET_KEY" in result.err
    assert "wrongSECRETvalue" not in result.err


def test_every_call_sends_app_id_colon_token_and_version(cli, fyers_login):
    result = cli("broker", "check", "--json")
    assert result.code == 0, result.err
    calls = [seen for seen in fyers_login.requests if seen.path != VALIDATE]
    assert {seen.path for seen in calls} == {ORDERS, HOLDINGS, POSITIONS}
    for seen in calls:
        app, _, token = seen.headers["authorization"].partition(":")
        assert app == SECRETS["FYERS_APP_ID"] and token and seen.headers["version"] == "3"


def test_verify_applies_the_fyers_order_book(cli, fyers_login, registered, sql):
    result = cli("verify")
    assert result.code == 0, result.err
    assert sql("SELECT status, filled_qty FROM orders") == [("EXECUTED", 1)]


def test_a_run_without_a_token_asks_nothing_and_names_the_login(cli, fyers, registered):
    result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert "prints the login URL" in result.err and "broker login" in result.err
    assert fyers.requests == []


# ---- the fault table -------------------------------------------------------------------------

FAULTS = [
    ("5xx", [Scripted(502, HTML_5XX)] * 3, ExitCode.BROKER, "unavailable (HTTP 502)", 3),
    (
        "429",
        [Scripted(429, fixture("error-429.json")["body"])] * 3,
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
    (
        "expired",
        [Scripted(401, fixture("error--8.json")["body"])],
        ExitCode.BROKER,
        "Your token has expired",
        1,
    ),
    (
        "wrong-token",
        [Scripted(401, fixture("error--16.json")["body"])],
        ExitCode.BROKER,
        "Could not authenticate",
        1,
    ),
]


@pytest.mark.parametrize("name,replies,code,says,asked", FAULTS, ids=[f[0] for f in FAULTS])
def test_fyers_fault(cli, fyers_login, registered, sql, name, replies, code, says, asked):
    fyers_login.script(ORDERS, *replies)
    result = cli("verify")
    assert result.code == code, result.err
    assert says in result.err
    assert fyers_login.count(ORDERS) == asked
    assert sql("SELECT status FROM orders") == [("PENDING",)]


def test_the_docs_show_this_fault_table():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "fyers.md").read_text()
    for name, *_ in FAULTS:
        assert f"| `{name}`" in doc, name
