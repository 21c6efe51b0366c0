"""No Kotak secret reaches stdout, stderr or any byte of the database, on any failure path —
even when the broker echoes what it was sent."""

import os
from pathlib import Path

import pytest

from ordertrack.broker.kotak.client import KotakClient, credentials
from ordertrack.config import load
from ordertrack.core.book import Outcome
from ordertrack.errors import BrokerUnavailable
from ordertrack.store.db import open_db
from tests.fake_kotak import (
    HISTORY,
    HOLDINGS,
    HTML_502,
    IP_REFUSED,
    LOGIN,
    MOBILE,
    ORDERS,
    SESSION_EXPIRED,
    SLOW,
    TEST_POLICY,
    Scripted,
)

WRONG = {
    "KOTAK_MPIN": "771133",
    "KOTAK_UCC": "UCCWRONG9",
    "KOTAK_MOBILE": "9000011111",
    "KOTAK_CONSUMER_KEY": "ck-SECRET-wrong-4242",
}

# (environment changes, scripted replies) for each failure path.
SCENARIOS = {
    "wrong mpin": ({"KOTAK_MPIN": WRONG["KOTAK_MPIN"]}, {}),
    "wrong ucc": ({"KOTAK_UCC": WRONG["KOTAK_UCC"]}, {}),
    "wrong mobile": ({"KOTAK_MOBILE": WRONG["KOTAK_MOBILE"]}, {}),
    "wrong consumer key": ({"KOTAK_CONSUMER_KEY": WRONG["KOTAK_CONSUMER_KEY"]}, {}),
    "wrong totp": ({"KOTAK_TOTP_SECRET": "B" * 32}, {}),
    "ip refused": ({}, {ORDERS: [Scripted(200, IP_REFUSED)]}),
    "session refused twice": ({}, {ORDERS: [Scripted(200, SESSION_EXPIRED, expire=True)] * 2}),
    "kotak down": ({}, {ORDERS: [Scripted(502, HTML_502)] * 3}),
    "timeout": ({}, {ORDERS: [Scripted(200, {}, delay=SLOW)] * 3}),
    "malformed": ({}, {ORDERS: [Scripted(200, '{"stat":"Ok","data":[')]}),
    "login error text": (
        {},
        {LOGIN: [Scripted(200, {"error": [{"code": "1", "message": "bad request"}]})]},
    ),
}


def secret_values(env: dict[str, str]) -> list[str]:
    names = ("KOTAK_CONSUMER_KEY", "KOTAK_MOBILE", "KOTAK_UCC", "KOTAK_MPIN", "KOTAK_TOTP_SECRET")
    return [env[n] for n in names] + ["+91" + env["KOTAK_MOBILE"]]


def database_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def test_no_secret_in_any_output_or_stored_byte(cli, kotak, db_path, monkeypatch):
    kotak.echo_secrets = True
    assert (
        cli(
            "pending", "add", "250122000624384", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )
    seen_secrets, output = set(), []
    for scenario, (env, script) in SCENARIOS.items():
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            seen_secrets.update(secret_values(dict(os.environ)))
            for command in (("verify",), ("broker", "check")):
                for path, replies in script.items():
                    kotak.script(path, *replies)
                result = cli(*command)
                assert result.code == 4, (scenario, result)
                output.append(result.out + result.err)
    text = "\n".join(output)
    assert "<hidden>" in text  # the fake did echo secrets, and they were cut out
    assert "<KOTAK_" not in text  # ...by the client itself, not by the last-resort redaction
    stored = database_bytes(db_path)
    for secret in seen_secrets:
        assert secret not in text
        assert secret.encode() not in stored


def test_the_clients_own_messages_carry_no_secret(kotak, db_path, monkeypatch):
    """Without the environment (so the CLI's redaction cannot help), straight from the client."""
    kotak.echo_secrets = True
    settings = load(os.environ)
    client = KotakClient(credentials(settings), kotak.url, open_db(db_path), TEST_POLICY)
    secrets = secret_values(dict(os.environ)) + [MOBILE]
    for name in list(os.environ):
        if name.startswith("KOTAK_"):
            monkeypatch.delenv(name)
    kotak.script(
        LOGIN,
        Scripted(
            200,
            {
                "error": [
                    {
                        "code": "7",
                        "message": (
                            f"user {secrets[2]} with {secrets[1]} key {secrets[0]} mpin {secrets[3]}"
                        ),
                    }
                ]
            },
        ),
    )
    with pytest.raises(BrokerUnavailable) as raised:
        client.order_book()
    messages = [raised.value.message]
    kotak.script(
        HISTORY,
        Scripted(
            200, {"stat": "Not_Ok", "stCode": 9, "errMsg": f"no order for {secrets[2].lower()}"}
        ),
    )
    kotak.script(HOLDINGS, Scripted(400, {"message": f"bad sid for {secrets[0]}"}))
    for fetch in (client.order_history("1"), client.holdings()):
        assert fetch.outcome is Outcome.FAILED
        messages.append(fetch.error or "")
    for message in messages:
        assert "<hidden>" in message
        assert not any(secret in message for secret in secrets), message
        assert client.session is None or client.session.token not in message
