"""No Angel One or Fyers secret reaches stdout, stderr, a log or the database, on the failure
paths each can reach, even when the broker echoes what it was sent: the PIN, the TOTP secret
(and the codes made from it), the API key and the Fyers secret never; session tokens only in
their one column (broker_sessions.token / .sid), as Kotak's and Kite's."""

import logging
from pathlib import Path

import pytest

from tests import fake_angel, fake_fyers
from tests.fake_kotak import Scripted

COMMANDS = (
    ("verify",),
    ("reconcile",),
    ("eod",),
    ("broker", "check"),
    ("broker", "check", "--json"),
    ("status", "--json"),
)


def database_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def tokens_only_in_sessions(sql, tokens: set[str]) -> None:
    for (table,) in sql("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in sql(f"SELECT * FROM {table}"):
            if any(token in str(row) for token in tokens):
                assert table == "broker_sessions", table


def test_no_angel_secret_in_any_output(cli, angel, db_path, sql, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    secret = fake_angel.SECRETS
    said = f"{secret['ANGEL_PIN']} {secret['ANGEL_API_KEY']} {secret['ANGEL_TOTP_SECRET']}"
    echo = {"status": False, "message": f"bad request {said}", "errorcode": "AB2000", "data": None}
    outputs = []
    angel.echo_secrets = True
    for name, value in (("ANGEL_PIN", "9913"), ("ANGEL_API_KEY", "wrongKEYzz99")):
        monkeypatch.setenv(name, value)
        outputs.append(str(vars(cli("broker", "check"))))
        monkeypatch.setenv(name, secret[name])
    angel.script(fake_angel.LOGIN, Scripted(200, echo))
    outputs.append(str(vars(cli("broker", "check"))))
    for replies in (
        [Scripted(400, echo)],
        [Scripted(502, fake_angel.HTML_5XX)] * 3,
        [Scripted(200, fake_angel.GARBAGE)],
        [Scripted(403, fake_angel.fixture("error-AG8001.json")["body"], expire=True)],
        [],
    ):
        for command in COMMANDS:
            angel.script(fake_angel.ORDERS, *replies)
            outputs.append(str(vars(cli(*command))))
    outputs.append(caplog.text)
    import json

    codes = {
        json.loads(s.body).get("totp")
        for s in angel.requests
        if s.path == fake_angel.LOGIN and s.body
    }
    tokens = {t for (t,) in sql("SELECT token FROM broker_sessions")} | {
        t for (t,) in sql("SELECT sid FROM broker_sessions")
    }
    assert angel.logins >= 1 and tokens
    banned = [
        secret["ANGEL_PIN"],
        secret["ANGEL_API_KEY"],
        secret["ANGEL_TOTP_SECRET"],
        "9913",
        "wrongKEYzz99",
        *codes,
        *tokens,
    ]
    for text in outputs:
        for value in banned:
            assert value not in text, value
    data = database_bytes(db_path)
    for value in banned[:5]:
        assert not _stored(value, data), value
    tokens_only_in_sessions(sql, tokens)


def test_no_fyers_secret_in_any_output(cli, fyers, db_path, sql, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    secret = fake_fyers.SECRETS["FYERS_SECRET_KEY"]
    echo = {"s": "error", "code": -99, "message": f"bad request {secret}"}
    outputs = []
    fyers.script(fake_fyers.VALIDATE, Scripted(400, echo))
    refused = cli("broker", "login", fyers.auth_code())
    assert refused.code == 4
    monkeypatch.setenv("FYERS_SECRET_KEY", "wrongSECRET777")
    outputs += [str(vars(refused)), str(vars(cli("broker", "login", fyers.auth_code())))]
    monkeypatch.setenv("FYERS_SECRET_KEY", secret)
    accepted = cli("broker", "login", fyers.auth_code())
    assert accepted.code == 0, accepted.err
    outputs.append(str(vars(accepted)))
    [(token,)] = sql("SELECT token FROM broker_sessions WHERE broker = 'fyers'")
    token_echo = {"s": "error", "code": -16, "message": f"bad token {token}"}
    for replies in (
        [Scripted(400, echo)],
        [Scripted(401, token_echo)],
        [Scripted(502, fake_fyers.HTML_5XX)] * 3,
        [Scripted(200, fake_fyers.GARBAGE)],
        [],
    ):
        for command in COMMANDS:
            fyers.script(fake_fyers.ORDERS, *replies)
            outputs.append(str(vars(cli(*command))))
    outputs.append(caplog.text)
    # a token cut short is still a token: no 16 characters of its claims may show
    claims = token.split(".")[1][:16]
    for text in outputs:
        for value in (secret, "wrongSECRET777", token, claims):
            assert value not in text, value
    assert secret.encode() not in database_bytes(db_path)
    tokens_only_in_sessions(sql, {token})


@pytest.mark.parametrize(
    "attr", ["angel_api_key", "angel_pin", "angel_totp_secret", "fyers_secret_key", "fyers_app_id"]
)
def test_settings_repr_holds_no_angel_or_fyers_credential(attr):
    from ordertrack.config import load

    settings = load({**fake_angel.SECRETS, **fake_fyers.SECRETS, "ORDERTRACK_DB": "x.db"})
    assert getattr(settings, attr) and getattr(settings, attr) not in repr(settings)


def test_the_new_secrets_are_redacted_by_name():
    from ordertrack.text import redact

    env = {**fake_angel.SECRETS, **fake_fyers.SECRETS}
    text = f"a {env['ANGEL_TOTP_SECRET']} b {env['FYERS_SECRET_KEY']} c {env['ANGEL_API_KEY']}"
    assert redact(text, env=env) == ("a <ANGEL_TOTP_SECRET> b <FYERS_SECRET_KEY> c <ANGEL_API_KEY>")


def _stored(value: str, data: bytes) -> bool:
    """Whether the database holds `value`. A 4-digit PIN also turns up by chance inside longer
    numbers (a timestamp's microseconds, a page of integers), so a number counts only whole."""
    import re

    if value.isdigit():
        return re.search(rb"(?<![0-9])" + value.encode() + rb"(?![0-9])", data) is not None
    return value.encode() in data
