"""Kite Connect end to end on loopback: the daily login, the calls, and the documented faults."""

import json

import pytest

from ordertrack.errors import ExitCode
from tests.fake_kite import (
    ACCESS_TOKEN_PREFIX,
    GARBAGE,
    HOLDINGS,
    HTML_5XX,
    ORDERS,
    POSITIONS,
    SECRETS,
    SESSION,
    TOKEN_EXCEPTION,
    Scripted,
    kite_row,
    ok,
)


@pytest.fixture
def registered(cli) -> None:
    assert (
        cli(
            "pending", "add", "220303000308932", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )


# ---- the daily login ---------------------------------------------------------------------------


def test_login_exchanges_the_request_token_with_its_checksum(cli, kite, sql):
    token = kite.request_token()
    result = cli(
        "broker",
        "login",
        "--json",
        f"https://example.com/cb?action=login&type=login&status=success&request_token={token}",
    )
    assert result.code == 0, result.err
    assert f"kite.zerodha.com/connect/login?v=3&api_key={SECRETS['KITE_API_KEY']}" in result.err
    assert json.loads(result.out)["user_id"] == "AB1234"
    exchange = kite.requests[-1]
    assert exchange.path == SESSION and exchange.headers["x-kite-version"] == "3"
    assert "checksum=" in exchange.body and SECRETS["KITE_API_SECRET"] not in exchange.body
    assert sql("SELECT broker, sid FROM broker_sessions") == [("kite", "AB1234")]


def test_login_reads_a_bare_request_token_from_stdin(cli, kite, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(kite.request_token() + "\n"))
    assert cli("broker", "login").code == 0
    assert kite.exchanges == 1


def test_a_used_request_token_is_refused_naming_the_error_type(cli, kite):
    token = kite.request_token()
    assert cli("broker", "login", token).code == 0
    again = cli("broker", "login", token)
    assert again.code == ExitCode.BROKER
    assert "TokenException" in again.err and "connect/login" in again.err


def test_login_refuses_text_without_a_request_token(cli, kite):
    result = cli("broker", "login", "https://example.com/?status=cancelled")
    assert result.code == ExitCode.USAGE and kite.exchanges == 0


def test_broker_login_is_only_for_kite(cli, broker):
    assert cli("broker", "login", "abc").code == ExitCode.USAGE


def test_every_call_sends_the_version_and_token_headers(cli, kite_login):
    result = cli("broker", "check", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["broker"] == "kite"
    calls = [seen for seen in kite_login.requests if seen.path != SESSION]
    assert {seen.path for seen in calls} == {ORDERS, HOLDINGS, POSITIONS}
    for seen in calls:
        assert seen.headers["x-kite-version"] == "3"
        key, access = seen.headers["authorization"].removeprefix("token ").split(":")
        assert key == SECRETS["KITE_API_KEY"] and access.startswith(ACCESS_TOKEN_PREFIX)


def test_verify_applies_the_kite_order_book(cli, kite_login, registered, sql):
    result = cli("verify")
    assert result.code == 0, result.err
    assert sql("SELECT status, filled_qty FROM orders") == [("EXECUTED", 1)]


# ---- no valid token: one alert, exit 4, no storm -------------------------------------------


def alerts(sql) -> list[str]:
    return [
        json.loads(p)["text"]
        for (p,) in sql("SELECT payload FROM outbox WHERE kind = 'SYSTEM_ALERT'")
    ]


def test_a_run_without_a_token_alerts_once_with_the_login_url(cli, kite, registered, sql):
    first, second = cli("verify"), cli("verify")
    assert first.code == second.code == ExitCode.BROKER
    assert "connect/login?v=3&api_key=" in first.err and "broker login" in first.err
    assert kite.requests == []  # nothing is asked without a token
    texts = alerts(sql)
    assert len(texts) == 1 and f"api_key={SECRETS['KITE_API_KEY']}" in texts[0]


def test_token_exception_stops_the_run_after_one_request(cli, kite_login, registered, sql):
    kite_login.expire_tokens()
    before = len(kite_login.requests)
    result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert "TokenException" in result.err and "connect/login" in result.err
    assert len(kite_login.requests) - before == 1
    assert sql("SELECT status FROM orders") == [("PENDING",)]
    assert len(alerts(sql)) == 1


def test_the_daily_login_end_to_end(cli, kite, registered, sql):
    from datetime import datetime

    from freezegun import freeze_time

    from ordertrack.timeutil import IST

    with freeze_time(datetime(2026, 11, 24, 8, 0, tzinfo=IST)) as clock:
        assert cli("broker", "login", kite.request_token()).code == 0
        clock.move_to(datetime(2026, 11, 25, 5, 50, tzinfo=IST))  # the token still holds
        assert cli("broker", "check").code == 0
        clock.move_to(datetime(2026, 11, 25, 6, 5, tzinfo=IST))  # past 06:00 IST: gone
        asked = len(kite.requests)
        assert cli("verify").code == cli("verify").code == ExitCode.BROKER
        assert len(kite.requests) == asked and len(alerts(sql)) == 1
        assert cli("broker", "login", kite.request_token()).code == 0
        assert cli("verify").code == 0
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]


# ---- faults -------------------------------------------------------------------------------------


# The Kite column of the fault matrix: fault, what stderr says, requests to the endpoint
# (TEST_POLICY allows 3 attempts: 429 and 5xx are retried, nothing else is).
@pytest.mark.parametrize(
    "replies, words, attempts",
    [
        (
            [
                Scripted(
                    429,
                    {
                        "status": "error",
                        "message": "Too many requests",
                        "error_type": "NetworkException",
                        "data": None,
                    },
                )
            ]
            * 3,
            "HTTP 429",
            3,
        ),
        ([Scripted(502, HTML_5XX)] * 3, "HTTP 502", 3),
        ([Scripted(200, GARBAGE)], "not JSON", 1),
        ([Scripted(403, TOKEN_EXCEPTION)], "TokenException", 1),
        (
            [
                Scripted(
                    400,
                    {
                        "status": "error",
                        "message": "Bad\nthing",
                        "error_type": "InputException",
                        "data": None,
                    },
                )
            ],
            "InputException: Bad thing",
            1,
        ),
        ([Scripted(200, {"status": "success", "data": {"not": "a list"}})], "no 'data' list", 1),
    ],
    ids=["429", "5xx-html", "garbage", "403-token", "error-envelope", "wrong-shape"],
)
def test_faults_fail_the_run_with_one_line_and_change_nothing(
    cli, kite_login, registered, sql, replies, words, attempts
):
    kite_login.script(ORDERS, *replies)
    before = kite_login.paths().count(ORDERS)
    result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert words in result.err and len(result.err.strip().splitlines()) == 1
    assert kite_login.paths().count(ORDERS) - before == attempts
    assert sql("SELECT status FROM orders") == [("PENDING",)]
    assert len(alerts(sql)) == 1
    assert cli("verify").code == 0  # the fault gone, the next run catches up
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]


def test_429_then_success_is_retried_by_the_one_policy(cli, kite_login, registered, sql):
    kite_login.script(
        ORDERS,
        Scripted(
            429,
            {
                "status": "error",
                "error_type": "NetworkException",
                "message": "Too many requests",
                "data": None,
            },
        ),
    )
    assert cli("verify").code == 0
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]


def test_a_403_token_exception_is_not_retried(cli, kite_login):
    kite_login.script(ORDERS, Scripted(403, TOKEN_EXCEPTION))
    before = len(kite_login.requests)
    assert cli("broker", "check").code == ExitCode.BROKER
    assert len(kite_login.requests) - before == 1


def test_an_empty_book_is_a_confirmed_empty(cli, kite_login):
    kite_login.orders = ok([])
    result = cli("broker", "check", "--json")
    assert result.code == 0 and json.loads(result.out)["order_book"] == 0


def test_missing_settings_name_the_variable(cli, kite, monkeypatch):
    monkeypatch.delenv("KITE_API_SECRET")
    result = cli("broker", "check")
    assert result.code == ExitCode.CONFIG and "KITE_API_SECRET" in result.err


def test_history_is_resolved_order_independently(cli, kite_login):
    from ordertrack.broker.kite.format import order_history

    rows = [
        kite_row("1", "COMPLETE", qty=5, filled=5, avg=10.0, updated="2026-11-24 10:00:05"),
        kite_row("1", "OPEN", qty=5, filled=2, avg=10.0, updated="2026-11-24 10:00:09"),
        kite_row("1", "AMO REQ RECEIVED", qty=5, variety="amo"),
    ]
    for order in (rows, rows[::-1]):
        fetch = order_history(ok(order), "1")
        assert fetch.items[0].status_text == "complete" and fetch.items[0].filled_qty == 5


@pytest.mark.parametrize("status", ["failure", "cancelled", "", "Success"])
def test_a_redirect_whose_status_is_not_success_is_refused_naming_it(cli, kite, status):
    token = kite.request_token()
    result = cli(
        "broker",
        "login",
        f"https://example.com/cb?action=login&type=login&status={status}&request_token={token}",
    )
    assert result.code == ExitCode.USAGE, result.err
    assert f"the redirect URL says status={status}, not success" in result.err
    assert result.err.count("\n") == 2  # the login URL, then the one error line
    assert kite.exchanges == 0


def test_login_reads_at_most_8_kib_from_stdin(cli, kite, monkeypatch):
    import io

    sent = io.StringIO("a" * 5_000_000 + "\n")
    monkeypatch.setattr("sys.stdin", sent)
    result = cli("broker", "login")
    assert result.code == ExitCode.USAGE and "longer than 8 KiB" in result.err
    assert sent.tell() <= 8 * 1024 + 1 and kite.exchanges == 0
    assert len(result.err) < 500
