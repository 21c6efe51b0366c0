"""No secret, anywhere, on any failure path: one test drives every failure it can reach with
recognisable fake secrets, then searches every byte ordertrack wrote for them — stdout, stderr,
log records (every logger, DEBUG and up) and the database files (the database, its -wal and
-shm, and the eod backups), read after every single command.

The secrets: TELEGRAM_BOT_TOKEN (whole, and its secret half), KOTAK_CONSUMER_KEY, KOTAK_MOBILE
(bare and with +91), KOTAK_UCC, KOTAK_MPIN, KOTAK_TOTP_SECRET and the TOTP codes made from it —
every value each of them held during the test, wrong ones included (a mistyped secret is still
a secret). The fake Kotak echoes what it was sent in its error texts, and a fake proxy echoes
the request path (the bot token sits in it), as careless servers do.

Kotak's session credential is kept on purpose (README, "Session reuse"): the session token is
stored in broker_sessions.token for the rest of its IST day. So that one column is the only
place a session token may be; it must appear nowhere else — no other column or table, no
output, no log. (The raw file bytes necessarily hold that column, so session tokens are looked
for in the database row by row instead.)
"""

import contextlib
import itertools
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
from freezegun import freeze_time

from ordertrack.store import locks
from tests import fake_telegram as tg
from tests.fake_kotak import (
    HOLDINGS,
    HTML_502,
    IP_REFUSED,
    LOGIN,
    ORDERS,
    SECRETS,
    SESSION_EXPIRED,
    SLOW,
    Scripted,
    ist,
)
from tests.helpers import book, kotak_row

SECRET_VARS = (
    "TELEGRAM_BOT_TOKEN",
    "KOTAK_CONSUMER_KEY",
    "KOTAK_MOBILE",
    "KOTAK_UCC",
    "KOTAK_MPIN",
    "KOTAK_TOTP_SECRET",
)
COMMANDS = (
    ("verify",),
    ("reconcile",),
    ("eod",),
    ("broker", "check"),
    ("broker", "check", "--json"),
    ("status",),
    ("status", "--json"),
)


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def kotak_scenarios() -> list[tuple[str, dict[str, str], dict[str, list[Scripted]]]]:
    """(name, environment changes, replies scripted before each command) — login failures
    first: they need the login to happen, so no session may be stored yet."""
    said = f"{SECRETS['KOTAK_UCC']} {SECRETS['KOTAK_MOBILE']} {SECRETS['KOTAK_CONSUMER_KEY']}"
    return [
        ("wrong MPIN", {"KOTAK_MPIN": "771133"}, {}),
        ("wrong UCC", {"KOTAK_UCC": "UCCWRONG9"}, {}),
        ("wrong mobile", {"KOTAK_MOBILE": "9000011111"}, {}),
        ("wrong consumer key", {"KOTAK_CONSUMER_KEY": "ck-SECRET-wrong-4242"}, {}),
        ("wrong TOTP secret", {"KOTAK_TOTP_SECRET": "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"}, {}),
        ("unusable TOTP secret", {"KOTAK_TOTP_SECRET": "not-base32-SECRET-!!"}, {}),
        ("missing MPIN", {"KOTAK_MPIN": ""}, {}),
        ("login URL not http", {"ORDERTRACK_KOTAK_LOGIN_URL": "mis.kotak-SECRET.com"}, {}),
        (
            "login error quoting the secrets",
            {},
            {
                LOGIN: [
                    Scripted(
                        200,
                        {
                            "error": [
                                {"code": "1", "message": f"bad request for {said} {said.lower()}"}
                            ]
                        },
                    )
                ]
            },
        ),
        ("login timeout", {}, {LOGIN: [Scripted(200, {}, delay=SLOW)] * 3}),
        ("Kotak refuses connections", {"ORDERTRACK_KOTAK_LOGIN_URL": closed_url()}, {}),
        ("login 502", {}, {LOGIN: [Scripted(502, HTML_502)] * 3}),
        # from here on a session is stored and reused
        ("all well", {}, {}),
        ("IP refused", {}, {ORDERS: [Scripted(200, IP_REFUSED)]}),
        ("Kotak down", {}, {ORDERS: [Scripted(502, HTML_502)] * 3}),
        ("Kotak slow", {}, {ORDERS: [Scripted(200, {}, delay=SLOW)] * 3}),
        ("truncated JSON", {}, {ORDERS: [Scripted(200, '{"stat": "Ok", "data": [')]}),
        ("session expiry mid-run", {}, {ORDERS: [Scripted(200, SESSION_EXPIRED, expire=True)]}),
        ("session refused twice", {}, {ORDERS: [Scripted(200, SESSION_EXPIRED, expire=True)] * 2}),
        (
            "error quoting the consumer key",
            {},
            {
                HOLDINGS: [
                    Scripted(400, {"message": f"bad sid for {SECRETS['KOTAK_CONSUMER_KEY']}"})
                ]
            },
        ),
    ]


TELEGRAM_SCENARIOS: list[tuple[str, dict[str, str], tg.Reply | None]] = [
    ("401 revoked token", {"TELEGRAM_BOT_TOKEN": "987654321:AAH-SECRET-revoked-token-x"}, None),
    ("404 malformed token", {"TELEGRAM_BOT_TOKEN": "SECRET-half-a-token-x"}, None),
    ("404 page echoing the path", {}, tg.NOT_FOUND_ECHO),
    ("403 blocked", {}, tg.BLOCKED),
    ("timeout", {}, tg.slow(0.5)),
    ("502", {}, tg.BAD_GATEWAY),
    ("truncated reply", {}, tg.MALFORMED),
    ("refused connection", {"TELEGRAM_API_URL": "closed"}, None),
    ("chat not found", {}, tg.CHAT_NOT_FOUND),
]
TELEGRAM_COMMANDS = (
    ("verify",),
    ("notify-test",),
    ("outbox", "flush", "--retry-failed"),
    ("outbox", "list"),
    ("outbox", "list", "--json"),
    ("status",),
    ("status", "--json"),
    ("pending", "show", "1", "--json"),
)


def secret_values(env: dict[str, str]) -> set[str]:
    found = set()
    for name in SECRET_VARS:
        value = env.get(name, "")
        if len(value) >= 4:
            found.add(value)
    if env.get("KOTAK_MOBILE"):
        found.add("+91" + env["KOTAK_MOBILE"])
    if ":" in env.get("TELEGRAM_BOT_TOKEN", ""):
        found.add(env["TELEGRAM_BOT_TOKEN"].split(":", 1)[1])
    # the one-time code a login sends is made from the secret: it is one too (an unusable
    # secret makes no code)
    with contextlib.suppress(Exception):
        found.add(pyotp.TOTP(env.get("KOTAK_TOTP_SECRET", "").upper()).now())
    return found


def letters_only(counter: "itertools.count[int]") -> Callable[[int], str]:
    """secrets.token_hex, unique but spelt with the letters a-f only."""

    def token_hex(nbytes: int = 32) -> str:
        k, spelt = next(counter), []
        while k:
            k, digit = divmod(k, 6)
            spelt.append("abcdef"[digit])
        return "".join(spelt).ljust(2 * nbytes, "a")

    return token_hex


def database_files(db_path: Path) -> list[Path]:
    folder = db_path.parent
    return [*folder.glob(db_path.name + "*"), *(folder / "backups").glob("*")]


def test_no_secret_anywhere(cli, kotak, telegram, sql, db_path, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    config = tmp_path / "ordertrack.toml"
    config.write_text("[notify]\ntimeout_seconds = 0.2\n[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    kotak.echo_secrets = True
    # Random ids (claims, lock tokens, the fake's sids) made of letters only, so that a six-digit
    # secret (an MPIN, a TOTP code) cannot turn up in one by chance: the search stays exact.
    letters = letters_only(itertools.count(1))
    monkeypatch.setattr(secrets, "token_hex", letters)
    monkeypatch.setattr(locks, "_token", letters)  # the run locks' and claims' own
    known: set[str] = set()
    printed: list[str] = []
    stored: dict[Path, bytes] = {}  # every version of every database file, as it was seen
    runs = 0

    def run(*args: str) -> None:
        nonlocal runs
        known.update(secret_values(dict(os.environ)))
        result = cli(*args)
        assert "Traceback" not in result.err and result.code != 1, (args, result.err)
        printed.append(f"$ {' '.join(args)} -> {result.code}\n{result.out}{result.err}")
        for path in database_files(db_path):
            stored[Path(f"{path}@{runs}")] = path.read_bytes()
        runs += 1

    def order(n: int, status: str = "complete") -> dict[str, Any]:
        return kotak_row(
            f"2611250000{n:05d}",
            status,
            symbol="IDEA",
            qty=1,
            filled=1,
            avg="9.39",
            updRecvTm=1764043200000000000 + n,
        )

    with freeze_time(ist("2026-11-25 09:30")) as clock:
        run("pending", "add", "261125000000001", "--symbol", "IDEA", "--side", "buy", "--qty", "1")
        run("track", "add", "ITBEES", "--qty", "50")
        kotak.orders = book(order(1))
        for _name, env, script in kotak_scenarios():
            with monkeypatch.context() as m:
                for variable, value in env.items():
                    m.setenv(variable, value)
                slow = any(r.delay for replies in script.values() for r in replies)
                for command in COMMANDS[:1] if slow else COMMANDS:  # a timeout costs seconds
                    for path, replies in script.items():
                        kotak.script(path, *replies)
                    run(*command)
        assert sql("SELECT count(*) FROM broker_sessions") == [(1,)]  # the paths were reached

        for n, (_name, env, reply) in enumerate(TELEGRAM_SCENARIOS, start=2):
            clock.tick(timedelta(minutes=61))  # every backoff has run out
            run(
                "pending",
                "add",
                f"2611250000{n:05d}",
                "--symbol",
                "IDEA",
                "--side",
                "buy",
                "--qty",
                "1",
            )
            kotak.orders = book(*(order(k) for k in range(1, n + 1)))
            with monkeypatch.context() as m:
                for variable, value in env.items():
                    m.setenv(variable, closed_url() if value == "closed" else value)
                if reply is not None:
                    telegram.chats["1001"] = reply
                    telegram.me = (
                        reply
                        if reply.body is not None
                        else tg.Reply(body={"ok": True, "result": tg.BOT}, delay=reply.delay)
                    )
                for command in TELEGRAM_COMMANDS:
                    run(*command)
                telegram.chats.clear()
                telegram.me = None
        clock.tick(timedelta(hours=2))
        run("notify-test")  # and once the way it should be
        run("eod")  # a backup of everything above
        run("outbox", "flush", "--retry-failed")

    # The paths were reached: failures of every kind, and deliveries that worked.
    text = "\n".join(printed)
    for seen in (
        "MPIN was refused",
        "TOTP was refused",
        "consumer key was refused",
        "check KOTAK_MOBILE",
        "KOTAK_TOTP_SECRET is not a usable TOTP secret",
        "needs KOTAK_MPIN",
        "cannot connect to Kotak Neo",
        "did not answer in time",
        "is unavailable (HTTP 502)",
        "not JSON",
        "refused this machine's IP address",
        "refused the session even after a fresh login",
        "<hidden>",
        "token invalid: Telegram answered 401",
        "token invalid: Telegram answered 404",
        "bot blocked by the user",
        "network: no reply in time",
        "Telegram server error (HTTP 502)",
        "reply not understood",
        "network: cannot connect to",
        "chat not found",
        "test message delivered",
    ):
        assert seen in text, seen
    assert kotak.logins >= 3 and len(tg_sent := telegram.messages) >= 5, tg_sent
    assert list((db_path.parent / "backups").glob("*.db"))

    # No secret in any output, log record or stored byte (any case).
    logs = caplog.text
    assert len(known) >= 14
    for secret in known:
        assert secret.lower() not in text.lower(), secret
        assert secret.lower() not in logs.lower(), secret
        for path, data in stored.items():
            assert secret.lower().encode() not in data.lower(), (secret, path)

    # Row by row: no secret in any value, and session tokens only in broker_sessions.token.
    # Every token and sid Kotak issued, as the client sent them back (login's first step
    # included: those are never stored at all).
    tokens = {r.headers["auth"] for r in kotak.requests if r.headers.get("auth")}
    sids = {r.headers["sid"] for r in kotak.requests if r.headers.get("sid")}
    views = {
        r.headers["auth"]
        for r in kotak.requests
        if r.path != LOGIN and r.headers.get("auth") and r.path.endswith("tradeApiValidate")
    }
    assert len(tokens) >= 3 and all(len(t) > 40 for t in tokens) and views
    for credential in tokens | sids:
        assert credential not in text and credential not in logs, credential
    for view in views:
        assert all(view.encode() not in data for data in stored.values())
    for (table,) in sql("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = [c[1] for c in sql(f"PRAGMA table_info({table})")]
        for row in sql(f"SELECT * FROM {table}"):
            for column, value in zip(columns, row, strict=True):
                shown = str(value).lower()  # also numbers: an MPIN stored as an integer
                assert not [s for s in known if s.lower() in shown], (table, column)
                if (table, column) == ("broker_sessions", "token"):
                    continue  # the day's session token, kept on purpose (see the docstring)
                assert not [t for t in tokens if t in str(value)], (table, column)
