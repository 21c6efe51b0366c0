"""Reading Kotak replies: session expiry, error classification, login success, credentials."""

from pathlib import Path

import pytest

from ordertrack.broker.kotak import format as kotak_format
from ordertrack.broker.kotak.client import (
    LOGIN,
    VALIDATE,
    Credentials,
    credentials,
    interpret,
    login_data,
    login_problem,
    mobile_number,
    session_expired,
)
from ordertrack.config import Settings
from ordertrack.core.book import Outcome
from ordertrack.errors import ConfigError
from ordertrack.net import Reply
from tests.fake_kotak import HTML_502, IP_REFUSED, SESSION_EXPIRED
from tests.helpers import NO_DATA, book, kotak_row


def reply(status: int, text: str) -> Reply:
    return Reply(status, text, {})


# ---- session expiry (broker-apis.md §8.3) ----------------------------------------------------


@pytest.mark.parametrize(
    "status, body",
    [
        (401, None),
        (403, {"message": "Invalid session, please re-login to continue"}),
        (200, SESSION_EXPIRED),
        (200, {"stat": "Not_Ok", "stCode": 1003, "errMsg": "x"}),
        (200, {"fault": {"code": 900901, "message": "Invalid Credentials"}}),
        (200, {"code": "900901", "message": "Invalid Credentials"}),
        (200, {"stat": "Not_Ok", "stCode": 1, "errMsg": "JWT signature does not match"}),
        (200, {"stat": "Not_Ok", "errMsg": "Token expired"}),
        (
            200,
            {"stat": "Not_Ok", "stCode": 1, "desc": "error in neo-login-check-api: session token"},
        ),
    ],
)
def test_session_expiry_is_recognised(status, body):
    assert session_expired(status, body)


@pytest.mark.parametrize(
    "status, body",
    [
        (200, book(kotak_row("1", "rejected", reason="RMS: jwt token expired in remarks"))),
        (200, NO_DATA),
        (403, IP_REFUSED),
        (200, IP_REFUSED),
        (500, None),
        (404, None),
        (400, {"stat": "Not_Ok", "stCode": 1002, "errMsg": "invalid input parameters"}),
    ],
)
def test_other_replies_are_not_session_expiry(status, body):
    assert not session_expired(status, body)


# ---- data replies ----------------------------------------------------------------------------


def test_a_book_is_data_and_5203_is_confirmed_empty_whatever_the_status():
    assert (
        interpret(
            reply(200, '{"stat":"Ok","data":[{"nOrdNo":"1"}]}'), kotak_format.order_book
        ).outcome
        is Outcome.OK
    )
    assert (
        interpret(
            reply(200, '{"stat":"Not_Ok","stCode":5203,"errMsg":"No Data"}'),
            kotak_format.order_book,
        ).outcome
        is Outcome.EMPTY
    )
    assert (
        interpret(
            reply(404, '{"stat":"Not_Ok","stCode":5203,"errMsg":"No Data"}'),
            kotak_format.order_book,
        ).outcome
        is Outcome.EMPTY
    )


@pytest.mark.parametrize(
    "status, text, expected",
    [
        (502, HTML_502, "Kotak Neo sent a reply that is not JSON (HTTP 502)"),
        (200, "", "not JSON (HTTP 200)"),
        (200, '{"stat": "Ok", "data": [', "not JSON (HTTP 200)"),
        (
            200,
            '{"stat":"Not_Ok","stCode":100008,"errMsg":"Unauthorized"}',
            "refused this machine's IP address (code 100008): register this server's static public IP",
        ),
        (
            200,
            '{"stat":"Not_Ok","stCode":100022,"errMsg":"invalid session token"}',
            "refused the session even after a fresh login (invalid session token, code 100022)",
        ),
        (
            400,
            '{"stat":"Not_Ok","stCode":1002,"errMsg":"invalid input parameters"}',
            "answered with an error (invalid input parameters, code 1002, HTTP 400)",
        ),
        (200, '{"stat":"Ok"}', "answered with an error (reply has no 'data' list, HTTP 200)"),
    ],
)
def test_a_failed_data_reply_says_why(status, text, expected):
    fetch = interpret(reply(status, text), kotak_format.order_book)
    assert fetch.outcome is Outcome.FAILED
    assert expected in fetch.error
    assert "\n" not in fetch.error


def test_holdings_have_no_stat_envelope():
    fetch = interpret(
        reply(200, '{"data":[{"symbol":"IDEA","quantity":35}]}'), kotak_format.holdings
    )
    assert (fetch.outcome, len(fetch.items)) == (Outcome.OK, 1)


def test_broker_error_text_is_cut_to_one_short_line():
    long = '{"stat":"Not_Ok","stCode":1,"errMsg":"bad\\n' + "x" * 500 + '"}'
    error = interpret(reply(200, long), kotak_format.order_book).error
    assert "\n" not in error and len(error) < 400


# ---- error codes in every shape (kotak_format, additive) -------------------------------------


@pytest.mark.parametrize(
    "body, code",
    [
        ({"stat": "Not_Ok", "stCode": 5203}, 5203),
        ({"error": [{"code": "10512"}]}, 10512),
        ({"fault": {"code": 900901}}, 900901),
        ({"code": "100008"}, 100008),
        ({"data": []}, None),
        ("text", None),
        ({"error": ["odd"]}, None),
    ],
)
def test_error_code(body, code):
    assert kotak_format.error_code(body) == code


def test_error_text_reads_the_legacy_fault_shape():
    text = kotak_format.error_text({"fault": {"code": 900901, "message": "Invalid Credentials"}})
    assert text == "Invalid Credentials, code 900901"


# ---- login -----------------------------------------------------------------------------------


def test_login_succeeds_only_with_every_field():
    good = {"data": {"token": "t", "sid": "s", "baseUrl": "https://e43.kotaksecurities.com"}}
    assert login_data(200, good, ("token", "sid", "baseUrl")) == good["data"]
    assert login_data(200, {"data": {"token": "t"}}, ("token", "sid")) is None
    assert login_data(200, {"data": {"token": "", "sid": "s"}}, ("token", "sid")) is None
    assert (
        login_data(200, {"error": [{"code": "10004", "message": "Invalid UCC"}]}, ("token",))
        is None
    )
    assert login_data(401, good, ("token", "sid")) is None
    assert (
        login_data(200, {"data": {**good["data"], "baseUrl": "e43"}}, ("token", "sid", "baseUrl"))
        is None
    )
    assert login_data(200, None, ("token",)) is None


def hide(text: str) -> str:
    return text


@pytest.mark.parametrize(
    "step, status, body, expected",
    [
        (
            LOGIN,
            400,
            {"error": [{"code": "10522", "message": "Invalid TOTP"}]},
            "the TOTP was refused (Invalid TOTP, code 10522): check that KOTAK_TOTP_SECRET",
        ),
        (
            LOGIN,
            200,
            {"data": {"status": "error", "message": "OTP expired"}},
            "the TOTP was refused",
        ),
        (
            VALIDATE,
            401,
            {"error": [{"code": "10401", "message": "Invalid MPIN"}]},
            "the MPIN was refused (Invalid MPIN, code 10401): check KOTAK_MPIN",
        ),
        (
            LOGIN,
            401,
            {"error": [{"code": "401", "message": "Invalid access token"}]},
            "the consumer key was refused (Invalid access token, code 401): copy the application",
        ),
        (
            LOGIN,
            200,
            {"error": [{"code": "10004", "message": "Invalid ucc or mobile number"}]},
            "login failed (Invalid ucc or mobile number, code 10004): check KOTAK_MOBILE",
        ),
        (
            LOGIN,
            403,
            {"error": [{"code": "100008", "message": "Unauthorized"}]},
            "login failed: Kotak Neo refused this machine's IP address (code 100008)",
        ),
        (
            VALIDATE,
            200,
            {"data": {"token": "t", "sid": "s"}},
            "the tradeApiValidate reply (HTTP 200) lacked the token, sid or baseUrl",
        ),
        (LOGIN, 200, [], "the tradeApiLogin reply (HTTP 200) lacked the token, sid or baseUrl"),
        (LOGIN, 429, None, "login failed: Kotak Neo is limiting requests (HTTP 429"),
        (LOGIN, 503, None, "login failed: Kotak Neo is unavailable (HTTP 503): try again later"),
        (LOGIN, 200, None, "login failed: Kotak Neo sent a reply that is not JSON (HTTP 200)"),
    ],
)
def test_a_refused_login_names_the_cause_and_the_fix(step, status, body, expected):
    message = login_problem(step, status, body, hide)
    assert message.startswith("Kotak Neo login failed")
    assert expected in message


# ---- credentials -----------------------------------------------------------------------------


def test_a_totp_secret_too_short_for_pyotp_is_a_config_error():
    with pytest.raises(ConfigError, match="KOTAK_TOTP_SECRET is not a usable TOTP secret"):
        credentials(settings(kotak_totp_secret="JBSWY3DPEHPK3PXP"))


@pytest.mark.parametrize(
    "given, sent",
    [
        ("9812345670", "+919812345670"),
        ("98123 45670", "+919812345670"),
        ("919812345670", "+919812345670"),
        ("+919812345670", "+919812345670"),
        ("+14155550100", "+14155550100"),
    ],
)
def test_mobile_numbers_get_the_country_code(given, sent):
    assert mobile_number(given) == sent


def settings(**kotak: str) -> Settings:
    values = dict(
        kotak_consumer_key="ck-1234",
        kotak_mobile="9812345670",
        kotak_ucc="ABC12",
        kotak_mpin="123456",
        kotak_totp_secret="jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp",
    )
    values.update(kotak)
    return Settings(db_path=Path("x.db"), **values)  # type: ignore[arg-type]


def test_credentials_normalise_the_totp_secret():
    assert credentials(settings()).totp_secret == "JBSWY3DPEHPK3PXP" * 2


def test_missing_credentials_are_named():
    with pytest.raises(ConfigError) as raised:
        credentials(settings(kotak_mpin="", kotak_ucc=" "))
    assert raised.value.message == (
        "ORDERTRACK_BROKER=kotak needs KOTAK_UCC, KOTAK_MPIN in the environment"
    )


def test_a_totp_secret_that_is_not_base32_is_a_config_error_that_does_not_echo_it():
    with pytest.raises(ConfigError) as raised:
        credentials(settings(kotak_totp_secret="not-base32-0189!"))
    assert raised.value.message.startswith("KOTAK_TOTP_SECRET is not a usable TOTP secret")
    assert "0189" not in raised.value.message


def test_credentials_never_show_in_a_repr():
    text = repr(credentials(settings())) + repr(settings())
    assert not any(s in text for s in ("ck-1234", "9812345670", "ABC12", "123456", "JBSW"))


def test_hide_cuts_our_credentials_out_of_broker_text():
    creds = Credentials("ck-1234", "+919812345670", "ABC12", "582914", "JBSWY3DPEHPK3PXP")
    text = creds.hide("user abc12 / 9812345670 / +919812345670 mpin 582914 key ck-1234")
    assert text == ("user <hidden> / <hidden> / <hidden> mpin <hidden> key <hidden>")
