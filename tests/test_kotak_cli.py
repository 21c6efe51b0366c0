"""`verify` and `broker check` end to end against a fake Kotak Neo on loopback."""

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from tests.fake_kotak import (
    HOLDINGS,
    HTML_502,
    IP_REFUSED,
    LOGIN,
    MOBILE,
    ORDERS,
    POSITIONS,
    POSITIONS_V2,
    SECRETS,
    SESSION_EXPIRED,
    SLOW,
    VALIDATE,
    Scripted,
    ist,
)
from tests.helpers import NO_DATA, book, kotak_row
from tests.webhook_receiver import bomb

COMMANDS = {"verify": ("verify",), "check": ("broker", "check")}
USER_TABLES = ("orders", "events", "outbox", "tracking", "tracking_changes")


@pytest.fixture
def registered(cli) -> None:
    """An open order that the fake's default book shows as executed."""
    assert (
        cli(
            "pending", "add", "250122000624384", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )


def snapshot(sql: Callable[..., list[tuple]]) -> dict[str, list[tuple]]:
    """User data, leaving out the one broker alert a failure queues (tested on its own)."""
    return {
        table: sql(
            f"SELECT * FROM {table}"
            + (" WHERE kind != 'SYSTEM_ALERT'" if table == "outbox" else "")
        )
        for table in USER_TABLES
    }


# ---- success ---------------------------------------------------------------------------------


def test_verify_logs_in_and_applies_the_order_book(cli, kotak, registered, sql):
    result = cli("verify")
    assert result.code == 0, result.err
    assert "Executed: BUY IDEA 1/1" in result.out
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]
    assert kotak.logins == 1


def test_the_login_sends_what_kotak_expects(cli, kotak):
    assert cli("broker", "check").code == 0
    login, validate, orders = kotak.requests[:3]
    assert login.headers["authorization"] == SECRETS["KOTAK_CONSUMER_KEY"]
    assert login.headers["neo-fin-key"] == "neotradeapi"
    body = json.loads(login.body)
    assert (body["mobileNumber"], body["ucc"]) == (MOBILE, SECRETS["KOTAK_UCC"])
    assert len(body["totp"]) == 6 and body["totp"].isdigit()
    assert validate.path == VALIDATE and json.loads(validate.body) == {
        "mpin": SECRETS["KOTAK_MPIN"]
    }
    assert validate.headers["sid"] and validate.headers["auth"].count(".") == 2
    assert orders.path == ORDERS
    assert {"auth", "sid", "neo-fin-key"} <= set(orders.headers)


def test_broker_check_prints_counts_and_the_session_expiry(cli, kotak):
    with freeze_time(ist("2026-11-24 09:20")):
        result = cli("broker", "check")
    assert result.code == 0, result.err
    assert result.out == (
        "Session: logged in now (since 24 Nov 2026 09:20 IST), valid until"
        " 24 Nov 2026 17:20 IST\nOrder book: 2, Holdings: 1, Positions: 1\n"
    )


def test_broker_check_json(cli, kotak):
    kotak.token_ttl = None
    with freeze_time(ist("2026-11-24 09:20")):
        cli("broker", "check")
        result = cli("broker", "check", "--json")
    assert json.loads(result.out) == {
        "broker": "kotak",
        "order_book": 2,
        "holdings": 1,
        "positions": 1,
        "session": {
            "logged_in_now": False,
            "logged_in_at": "2026-11-24T09:20:00+05:30",
            "expires_at": None,
        },
    }


def test_an_empty_order_book_5203_is_not_a_failure(cli, kotak, registered, sql):
    kotak.orders = NO_DATA
    result = cli("verify", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["book"] == "empty"
    assert cli("broker", "check").out.endswith("Order book: 0, Holdings: 1, Positions: 1\n")


def test_positions_fall_back_to_the_v2_path_on_404(cli, kotak):
    kotak.positions_v1 = False
    assert cli("broker", "check").code == 0
    assert kotak.paths()[-2:] == [POSITIONS, POSITIONS_V2]


# ---- session reuse ---------------------------------------------------------------------------


def test_consecutive_runs_log_in_once(cli, kotak, registered):
    with freeze_time(ist("2026-11-24 09:45")):
        assert cli("verify").code == 0
    with freeze_time(ist("2026-11-24 10:15")):
        assert cli("verify").code == 0
        assert cli("broker", "check").out.startswith("Session: reused")
    assert kotak.logins == 1
    assert kotak.paths().count(LOGIN) == 1


def test_a_run_on_the_next_ist_day_logs_in_again(cli, kotak):
    kotak.token_ttl = None  # only the IST-day rule can end the session
    with freeze_time(ist("2026-11-24 23:50")):
        assert cli("verify").code == 0
    with freeze_time(ist("2026-11-25 00:20")):  # same UTC date, next IST day
        assert cli("verify").code == 0
    assert kotak.logins == 2


def test_a_token_about_to_expire_is_replaced_before_use(cli, kotak):
    kotak.token_ttl = timedelta(hours=1)
    with freeze_time(ist("2026-11-24 09:15")):
        assert cli("verify").code == 0
    with freeze_time(ist("2026-11-24 10:14")):
        assert cli("verify").code == 0
    assert kotak.logins == 2


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS)
def test_session_expiry_mid_run_logs_in_once_more_and_retries(cli, kotak, registered, sql, command):
    cli("broker", "check")  # a stored session from an earlier run
    kotak.script(ORDERS, Scripted(200, SESSION_EXPIRED, expire=True))
    result = cli(*command)
    assert result.code == 0, result.err
    assert kotak.logins == 2
    first, retry = [r for r in kotak.requests if r.path == ORDERS][-2:]
    assert first.headers["auth"] != retry.headers["auth"]


def test_a_stored_session_the_broker_has_ended_is_replaced(cli, kotak, registered, sql):
    assert cli("broker", "check").code == 0
    kotak.expire_sessions()  # e.g. the token was reset in the Neo app: HTTP 403 from now on
    assert cli("verify").code == 0
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]
    assert kotak.logins == 2


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS)
def test_a_session_refused_twice_fails_without_looping(cli, kotak, registered, sql, command):
    kotak.script(ORDERS, *[Scripted(200, SESSION_EXPIRED, expire=True)] * 2)
    before = snapshot(sql)
    result = cli(*command)
    assert result.code == ExitCode.BROKER
    assert "refused the session even after a fresh login" in result.err
    assert kotak.logins == 2
    assert snapshot(sql) == before


# ---- transient faults that retries absorb ----------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS)
@pytest.mark.parametrize(
    "fault",
    [
        Scripted(429, {"message": "Too many requests"}),
        Scripted(500, "<html>Internal Server Error</html>"),
        Scripted(502, HTML_502),
    ],
    ids=["429", "500", "502"],
)
def test_a_transient_fault_then_success(cli, kotak, registered, command, fault):
    kotak.script(ORDERS, fault)
    result = cli(*command)
    assert result.code == 0, result.err
    assert kotak.paths().count(ORDERS) == 2
    assert kotak.logins == 1


def test_a_transient_login_fault_is_retried(cli, kotak):
    kotak.script(LOGIN, Scripted(503, HTML_502))
    assert cli("broker", "check").code == 0
    assert kotak.paths().count(LOGIN) == 2


# ---- failures: exit 4, one line, nothing changed ---------------------------------------------

DATA_FAILURES = {
    "502 html": (
        [Scripted(502, HTML_502)] * 3,
        "Kotak Neo is unavailable (HTTP 502): try again later",
    ),
    "429": (
        [Scripted(429, {"message": "Too many requests"})] * 3,
        "Kotak Neo is limiting requests (HTTP 429, too many requests): wait a few minutes",
    ),
    "timeout": (
        [Scripted(200, NO_DATA, delay=SLOW)] * 3,
        "did not answer in time: it may be slow or down; try again later",
    ),
    "malformed json": (
        [Scripted(200, '{"stat": "Ok", "data": [{"nOrdNo": "1"')],
        "Kotak Neo sent a reply that is not JSON (HTTP 200)",
    ),
    "empty body": ([Scripted(200, "")], "Kotak Neo sent a reply that is not JSON (HTTP 200)"),
    # #23 row 6: refused at the cap, neither read whole nor inflated whole
    "past the cap": (
        [Scripted(200, size=64 * 1024 * 1024 + 1)],
        "Kotak Neo's answer is unusable: reply larger than 64 MiB from 127.0.0.1:",
    ),
    "gzip bomb": (
        [Scripted(200, size=65 * 1024 * 1024, gzip=True)],
        "Kotak Neo's answer is unusable: reply larger than 64 MiB from 127.0.0.1:",
    ),
    "100008": (
        [Scripted(200, IP_REFUSED)],
        "Kotak Neo refused this machine's IP address (code 100008): register this"
        " server's static public IP in the Neo app",
    ),
    "other error": (
        [Scripted(200, {"stat": "Not_Ok", "stCode": 1005, "errMsg": "internal server error"})],
        "Kotak Neo answered with an error (internal server error, code 1005, HTTP 200)",
    ),
}
PREFIX = {
    "verify": "ordertrack: order book fetch failed, nothing was changed: ",
    "check": "ordertrack: order book fetch failed: ",
}


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS)
@pytest.mark.parametrize("scenario", DATA_FAILURES)
def test_a_failed_order_book_exits_4_with_one_line_and_changes_nothing(
    cli, kotak, registered, sql, command, scenario
):
    replies, cause = DATA_FAILURES[scenario]
    for reply in replies:  # a bomb is built now, not inside the client's 0.3 s read timeout
        if reply.gzip:
            bomb(reply.size)
    kotak.script(ORDERS, *replies)
    before = snapshot(sql)
    result = cli(*COMMANDS[command])
    assert result.code == ExitCode.BROKER
    assert result.err.startswith(PREFIX[command])
    assert cause in result.err
    assert result.err.count("\n") == 1
    assert snapshot(sql) == before
    assert kotak.logins == 1  # none of these is cured by logging in again


def test_once_kotak_is_unreachable_the_run_stops_asking(cli, kotak):
    kotak.script(HOLDINGS, *[Scripted(200, NO_DATA, delay=SLOW)] * 3)
    result = cli("broker", "check")
    assert result.code == ExitCode.BROKER
    assert result.err.startswith("ordertrack: holdings fetch failed: Kotak Neo (127.0.0.1:")
    assert kotak.paths().count(HOLDINGS) == 3 and POSITIONS not in kotak.paths()


LOGIN_FAILURES = {
    "wrong mpin": (
        {"KOTAK_MPIN": "000000"},
        [],
        "Kotak Neo login failed: the MPIN was refused (Invalid MPIN, code 10401): check KOTAK_MPIN",
    ),
    "wrong totp secret": (
        {"KOTAK_TOTP_SECRET": "A" * 32},
        [],
        "Kotak Neo login failed: the TOTP was refused (Invalid TOTP, code"
        " 10522): check that KOTAK_TOTP_SECRET is the Base32 secret",
    ),
    "wrong ucc (HTTP 200)": (
        {"KOTAK_UCC": "ZZZ99"},
        [],
        "Kotak Neo login failed (Invalid ucc or mobile number, code 10004): check KOTAK_MOBILE",
    ),
    "wrong consumer key": (
        {"KOTAK_CONSUMER_KEY": "ck-wrong-000"},
        [],
        "Kotak Neo login failed: the consumer key was refused (Invalid access token, code 401)",
    ),
    "100008 at login": (
        {},
        [Scripted(403, {"error": [{"code": "100008", "message": "Unauthorized"}]})],
        "Kotak Neo login failed: Kotak Neo refused this machine's IP address (code 100008)",
    ),
    "kotak down": (
        {},
        [Scripted(502, HTML_502)] * 3,
        "Kotak Neo login failed: Kotak Neo is unavailable (HTTP 502): try again later",
    ),
    "login timeout": (
        {},
        [Scripted(200, {}, delay=SLOW)] * 3,
        "Kotak Neo login failed: Kotak Neo (127.0.0.1:",
    ),
}


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS)
@pytest.mark.parametrize("scenario", LOGIN_FAILURES)
def test_a_failed_login_exits_4_with_one_line_and_stores_nothing(
    cli, kotak, registered, sql, monkeypatch, command, scenario
):
    env, replies, message = LOGIN_FAILURES[scenario]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kotak.script(LOGIN, *replies)
    before = snapshot(sql)
    result = cli(*COMMANDS[command])
    assert result.code == ExitCode.BROKER
    assert result.err.startswith("ordertrack: " + message)
    assert result.err.count("\n") == 1
    assert snapshot(sql) == before
    assert sql("SELECT count(*) FROM broker_sessions") == [(0,)]
    assert kotak.logins == 0 and ORDERS not in kotak.paths()


def test_kotak_unreachable(cli, kotak, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_KOTAK_LOGIN_URL", "http://127.0.0.1:9")  # discard: closed
    result = cli("broker", "check")
    assert result.code == ExitCode.BROKER
    assert result.err == (
        "ordertrack: Kotak Neo login failed: cannot connect to Kotak Neo"
        " (127.0.0.1:9): check this machine's internet connection, or Kotak"
        " may be down; try again later\n"
    )


# ---- configuration: exit 3 -------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS)
def test_missing_credentials_are_named(cli, kotak, monkeypatch, command):
    monkeypatch.delenv("KOTAK_MPIN")
    monkeypatch.setenv("KOTAK_TOTP_SECRET", "")
    result = cli(*command)
    assert result.code == ExitCode.CONFIG
    assert result.err == (
        "ordertrack: ORDERTRACK_BROKER=kotak needs KOTAK_MPIN,"
        " KOTAK_TOTP_SECRET in the environment\n"
    )
    assert kotak.requests == []


def test_a_login_url_that_is_not_http_is_a_config_error(cli, kotak, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_KOTAK_LOGIN_URL", "mis.kotaksecurities.com")
    result = cli("broker", "check")
    assert result.code == ExitCode.CONFIG
    assert "ORDERTRACK_KOTAK_LOGIN_URL must be an http(s) URL" in result.err


def test_broker_check_works_with_the_file_broker_too(cli, broker):
    broker.orders(kotak_row("1"))
    broker.write("holdings.json", {"data": []})
    broker.write("positions.json", book())
    result = cli("broker", "check")
    assert result.code == 0, result.err
    assert result.out == "Order book: 1, Holdings: 0, Positions: 0\n"


def test_broker_check_without_a_subcommand_shows_help(cli):
    result = cli("broker")
    assert result.code == 0 and "check" in result.out
