"""No Kite secret reaches stdout, stderr, a log or the database: KITE_API_SECRET never, and the
access token only in its one column (broker_sessions.token), even when Kite echoes them."""

import logging
from pathlib import Path

import pytest

from tests.fake_kite import (
    ACCESS_TOKEN_PREFIX,
    GARBAGE,
    HTML_5XX,
    ORDERS,
    SECRETS,
    SESSION,
    TOKEN_EXCEPTION,
    Scripted,
)

COMMANDS = (
    ("verify",),
    ("reconcile",),
    ("eod",),
    ("broker", "check"),
    ("broker", "check", "--json"),
    ("status", "--json"),
)


def echo(text: str) -> dict:
    return {
        "status": "error",
        "message": f"bad request {text}",
        "error_type": "InputException",
        "data": None,
    }


def database_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def test_no_secret_or_access_token_in_any_output(cli, kite, db_path, sql, caplog):
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    # a refused exchange that echoes the secret, then a good one
    kite.script(SESSION, Scripted(403, echo(SECRETS["KITE_API_SECRET"])))
    refused = cli("broker", "login", kite.request_token())
    assert refused.code == 4 and "InputException" in refused.err
    accepted = cli("broker", "login", kite.request_token())
    assert accepted.code == 0, accepted.err
    outputs += [str(vars(refused)), str(vars(accepted))]
    [(token,)] = sql("SELECT token FROM broker_sessions WHERE broker = 'kite'")
    assert token.startswith(ACCESS_TOKEN_PREFIX)
    for replies in (
        [Scripted(400, echo(token))],
        [Scripted(400, echo(SECRETS["KITE_API_SECRET"]))],
        [Scripted(502, HTML_5XX)] * 3,
        [Scripted(200, GARBAGE)],
        [Scripted(403, TOKEN_EXCEPTION)],
        [],
    ):
        for command in COMMANDS:
            kite.script(ORDERS, *replies)
            outputs.append(str(vars(cli(*command))))
    outputs.append(caplog.text)
    for text in outputs:
        assert SECRETS["KITE_API_SECRET"] not in text
        assert ACCESS_TOKEN_PREFIX not in text
    assert SECRETS["KITE_API_SECRET"].encode() not in database_bytes(db_path)
    for (table,) in sql("SELECT name FROM sqlite_master WHERE type = 'table'"):
        rows = sql(f"SELECT * FROM {table}")
        found = [row for row in rows if ACCESS_TOKEN_PREFIX in str(row)]
        assert not found or table == "broker_sessions", table


def test_kite_api_secret_is_redacted_by_name():
    from ordertrack.text import redact

    assert redact(f"x {SECRETS['KITE_API_SECRET']} y", env=SECRETS) == "x <KITE_API_SECRET> y"


@pytest.mark.parametrize("attr", ["kite_api_key", "kite_api_secret"])
def test_settings_repr_holds_no_kite_credential(attr, monkeypatch):
    from ordertrack.config import load

    settings = load({**SECRETS, "ORDERTRACK_BROKER": "kite", "ORDERTRACK_DB": "x.db"})
    assert getattr(settings, attr) and getattr(settings, attr) not in repr(settings)
