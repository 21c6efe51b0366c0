"""The fault matrix: every broker and Telegram fault, met by every command that talks to it.

MATRIX is the one table. Each row is a cell: a fault, the command that meets it, and what that
command must do — its exit code, the one line it prints on stderr, how many HTTP requests it makes
to the failing endpoint in that run (1 = not retried), what the database holds afterwards, and
what happens once the fault is gone. One test per cell runs the real CLI against the loopback
fakes (tests/fake_kotak.py, tests/fake_telegram.py) and checks exactly that row, so the table
cannot drift from the behaviour. `markdown()` renders the same table for docs/reliability.md,
where a test keeps it equal:

    python scripts/fault_matrix.py --write

Every cell starts from the same day (Wed 25 Nov 2026, 10:00 IST, frozen): for Kotak, an open
order the order book shows executed, ITBEES tracked at 50 while the account holds 45 (a manual
sell for reconcile to find), and today's session stored by an earlier `broker check`; for
Telegram, an executed order whose notification is due to chat 1001.
"""

import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from freezegun import freeze_time

from ordertrack import net as http
from ordertrack.broker.kotak import client as kotak_client
from ordertrack.notify import telegram as telegram_client
from ordertrack.notify.messages import DUPLICATE_NOTE
from tests import fake_telegram as tg
from tests.fake_kotak import (
    HOLDINGS,
    HTML_502,
    ORDERS,
    POSITIONS,
    SESSION_EXPIRED,
    SLOW,
    TEST_POLICY,
    Scripted,
    ist,
)
from tests.fake_telegram import TOKEN
from tests.helpers import NO_DATA, kotak_row

KOTAK, TELEGRAM = "Kotak", "Telegram"
NOW = ist("2026-11-25 10:00")  # a Wednesday, a trading day, in session
CLOSED = "2026-11-23"  # what an eod at NOW closes: before 18:00, the previous trading day (Mon)


@dataclass(frozen=True)
class Cell:
    side: str  # KOTAK or TELEGRAM
    fault: str
    command: str
    at: str  # the endpoint that fails (last segment of its URL path)
    exit: int
    says: str  # a fragment of the one line on stderr ("" = stderr stays empty)
    attempts: int  # HTTP requests to `at` in the faulty run
    retried: str
    after: str  # what the database holds after the faulty run: a key of AFTER
    later: str  # what happens once the fault is gone: a key of LATER

    def name(self) -> str:
        return f"{self.side}/{self.fault}/{self.command}".replace(" ", "-")


AFTER = {
    "unchanged": "unchanged but for one broker alert queued (the failed run is logged in `runs`)",
    "applied": "the run's changes committed",
    "summary incomplete": "orders unchanged; the daily summary is queued marked incomplete, "
    "with one broker alert",
    "PENDING": "the change committed; its delivery PENDING, next attempt after the backoff",
    "PENDING, chat paused": "the change committed; its delivery PENDING, the chat paused for "
    "retry_after",
    "UNKNOWN": "the change committed; its delivery UNKNOWN (it may have arrived)",
    "FAILED": "the change committed; its delivery FAILED with the reason",
    "kept PENDING": "the notification kept: delivery PENDING, next attempt after the backoff",
    "kept PENDING, chat paused": "the notification kept: delivery PENDING, the chat paused for "
    "retry_after",
    "kept UNKNOWN": "the notification kept: delivery UNKNOWN (it may have arrived)",
    "kept FAILED": "the notification kept: delivery FAILED with the reason",
    "nothing stored": "unchanged (notify-test stores nothing)",
}
LATER = {
    "catches up": "the next run applies everything, exit 0",
    "no-op": "the next run changes nothing more, exit 0",
    "delivered": "the next run after the backoff delivers it, once",
    "resent": "the next run sends it once more, marked as a possible duplicate",
    "retry-failed": "kept as FAILED: after fixing the token, `outbox flush --retry-failed` "
    "delivers it",
    "passes": "notify-test passes",
}

NEVER = "no"
THREE = "yes, 3 attempts"
K_RETRY = "yes, with backoff (4 attempts within 90 s; 3 under the tests' policy)"
RELOGIN = "once more, after one fresh login"
BUDGETED = (
    "yes, until the run's budget (240 s) is spent: each reply ends at its deadline "
    "(connect + read timeout, 35 s); 2 attempts under the tests' 3 s budget"
)
T_BUDGETED = "no: the reply's deadline met the run's budget (240 s; 2 s under the tests)"
SLOW_BOOK = "did not answer in time: it may be slow or down"
WAITED = "yes, 3 attempts, waiting retry_after between them"
REFUSED = "cannot connect to Kotak Neo (127.0.0.1:"
BOOK = "order book fetch failed, nothing was changed: "
T_LATER = "notifications not delivered, kept in the outbox: 1 waiting for a later run — chat 1001: "
T_REFUSED = "network: cannot connect to 127.0.0.1:"
T_SLOW = "network: no reply in time from 127.0.0.1:"
T_ODD = "reply not understood (HTTP 200, not a Bot API reply ("
T_401 = (
    "notifications not delivered, kept in the outbox: 1 failed for good — token invalid: "
    "Telegram answered 401 Unauthorized (wrong or revoked token)"
)

MATRIX = [
    # Kotak Neo: the fault lasts the whole run; `at` is where the run meets it.
    Cell(
        KOTAK,
        "refused connection",
        "verify",
        "orders",
        4,
        BOOK + REFUSED,
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "refused connection",
        "reconcile",
        "holdings",
        4,
        "holdings fetch failed, nothing was changed: " + REFUSED,
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "refused connection",
        "eod",
        "orders",
        4,
        BOOK + REFUSED,
        3,
        K_RETRY,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "timeout",
        "verify",
        "orders",
        4,
        "did not answer in time: it may be slow or down",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "timeout",
        "reconcile",
        "orders",
        4,
        "did not answer in time: it may be slow or down",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "timeout",
        "eod",
        "orders",
        4,
        "did not answer in time: it may be slow or down",
        3,
        K_RETRY,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "429",
        "verify",
        "orders",
        4,
        BOOK + "Kotak Neo is limiting requests (HTTP 429, too many requests)",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "429",
        "reconcile",
        "orders",
        4,
        BOOK + "Kotak Neo is limiting requests (HTTP 429",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "429",
        "eod",
        "orders",
        4,
        BOOK + "Kotak Neo is limiting requests (HTTP 429",
        3,
        K_RETRY,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "500",
        "verify",
        "orders",
        4,
        BOOK + "Kotak Neo is unavailable (HTTP 500)",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "500",
        "reconcile",
        "orders",
        4,
        BOOK + "Kotak Neo is unavailable (HTTP 500)",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "500",
        "eod",
        "orders",
        4,
        BOOK + "Kotak Neo is unavailable (HTTP 500)",
        3,
        K_RETRY,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "502 HTML page",
        "verify",
        "orders",
        4,
        BOOK + "Kotak Neo is unavailable (HTTP 502)",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "502 HTML page",
        "reconcile",
        "orders",
        4,
        BOOK + "Kotak Neo is unavailable (HTTP 502)",
        3,
        K_RETRY,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "502 HTML page",
        "eod",
        "orders",
        4,
        BOOK + "Kotak Neo is unavailable (HTTP 502)",
        3,
        K_RETRY,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "truncated JSON",
        "verify",
        "orders",
        4,
        BOOK + "Kotak Neo sent a reply that is not JSON (HTTP 200)",
        1,
        NEVER,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "truncated JSON",
        "reconcile",
        "orders",
        4,
        BOOK + "Kotak Neo sent a reply that is not JSON (HTTP 200)",
        1,
        NEVER,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "truncated JSON",
        "eod",
        "orders",
        4,
        BOOK + "Kotak Neo sent a reply that is not JSON (HTTP 200)",
        1,
        NEVER,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "JSON of the wrong shape",
        "verify",
        "orders",
        4,
        BOOK + "Kotak Neo answered with an error (reply has no 'data' list, HTTP 200)",
        1,
        NEVER,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "JSON of the wrong shape",
        "reconcile",
        "orders",
        4,
        BOOK + "Kotak Neo answered with an error (reply has no 'data' list, HTTP 200)",
        1,
        NEVER,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "JSON of the wrong shape",
        "eod",
        "orders",
        4,
        BOOK + "Kotak Neo answered with an error (reply has no 'data' list, HTTP 200)",
        1,
        NEVER,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "slow drip (1 byte / 0.2 s)",
        "verify",
        "orders",
        4,
        SLOW_BOOK,
        2,
        BUDGETED,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "slow drip (1 byte / 0.2 s)",
        "reconcile",
        "orders",
        4,
        SLOW_BOOK,
        2,
        BUDGETED,
        "unchanged",
        "catches up",
    ),
    Cell(
        KOTAK,
        "slow drip (1 byte / 0.2 s)",
        "eod",
        "orders",
        4,
        SLOW_BOOK,
        2,
        BUDGETED,
        "summary incomplete",
        "catches up",
    ),
    Cell(
        KOTAK,
        "session expiry (100022) mid-run",
        "verify",
        "orders",
        0,
        "",
        2,
        RELOGIN,
        "applied",
        "no-op",
    ),
    Cell(
        KOTAK,
        "session expiry (100022) mid-run",
        "reconcile",
        "positions",
        0,
        "",
        2,
        RELOGIN,
        "applied",
        "no-op",
    ),
    Cell(
        KOTAK,
        "session expiry (100022) mid-run",
        "eod",
        "orders",
        0,
        "",
        2,
        RELOGIN,
        "applied",
        "no-op",
    ),
    # Telegram: the fault lasts the whole run and meets every Bot API call.
    Cell(
        TELEGRAM,
        "refused connection",
        "verify",
        "sendMessage",
        6,
        T_LATER + T_REFUSED,
        3,
        THREE,
        "PENDING",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "refused connection",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + T_REFUSED,
        3,
        THREE,
        "kept PENDING",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "refused connection",
        "notify-test",
        "getMe",
        6,
        "bot: " + T_REFUSED,
        3,
        THREE,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "timeout",
        "verify",
        "sendMessage",
        6,
        T_LATER + T_SLOW,
        1,
        NEVER,
        "UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "timeout",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + T_SLOW,
        1,
        NEVER,
        "kept UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "timeout",
        "notify-test",
        "getMe",
        6,
        "bot: " + T_SLOW,
        3,
        THREE,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "slow drip (message arrived)",
        "verify",
        "sendMessage",
        6,
        T_LATER + T_SLOW,
        1,
        NEVER,
        "UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "slow drip (message arrived)",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + T_SLOW,
        1,
        NEVER,
        "kept UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "slow drip (message arrived)",
        "notify-test",
        "getMe",
        6,
        "bot: " + T_SLOW,
        1,
        T_BUDGETED,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "429 (retry_after 5)",
        "verify",
        "sendMessage",
        6,
        T_LATER + "rate limited by Telegram for 5 s",
        3,
        WAITED,
        "PENDING, chat paused",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "429 (retry_after 5)",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + "rate limited by Telegram for 5 s",
        3,
        WAITED,
        "kept PENDING, chat paused",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "429 (retry_after 5)",
        "notify-test",
        "getMe",
        6,
        "bot: rate limited by Telegram for 5 s",
        3,
        WAITED,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "500",
        "verify",
        "sendMessage",
        6,
        T_LATER + "Telegram server error (HTTP 500)",
        3,
        THREE,
        "PENDING",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "500",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + "Telegram server error (HTTP 500)",
        3,
        THREE,
        "kept PENDING",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "500",
        "notify-test",
        "getMe",
        6,
        "bot: Telegram server error (HTTP 500)",
        3,
        THREE,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "502 HTML page",
        "verify",
        "sendMessage",
        6,
        T_LATER + "Telegram server error (HTTP 502)",
        3,
        THREE,
        "PENDING",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "502 HTML page",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + "Telegram server error (HTTP 502)",
        3,
        THREE,
        "kept PENDING",
        "delivered",
    ),
    Cell(
        TELEGRAM,
        "502 HTML page",
        "notify-test",
        "getMe",
        6,
        "bot: Telegram server error (HTTP 502)",
        3,
        THREE,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "truncated JSON (message arrived)",
        "verify",
        "sendMessage",
        6,
        T_LATER + T_ODD,
        1,
        NEVER,
        "UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "truncated JSON (message arrived)",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + T_ODD,
        1,
        NEVER,
        "kept UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "truncated JSON (message arrived)",
        "notify-test",
        "getMe",
        6,
        "bot: " + T_ODD,
        1,
        NEVER,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "JSON of the wrong shape",
        "verify",
        "sendMessage",
        6,
        T_LATER + T_ODD,
        1,
        NEVER,
        "UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "JSON of the wrong shape",
        "outbox flush",
        "sendMessage",
        6,
        T_LATER + T_ODD,
        1,
        NEVER,
        "kept UNKNOWN",
        "resent",
    ),
    Cell(
        TELEGRAM,
        "JSON of the wrong shape",
        "notify-test",
        "getMe",
        6,
        "bot: " + T_ODD,
        1,
        NEVER,
        "nothing stored",
        "passes",
    ),
    Cell(
        TELEGRAM,
        "401 (token revoked)",
        "verify",
        "sendMessage",
        6,
        T_401,
        1,
        NEVER,
        "FAILED",
        "retry-failed",
    ),
    Cell(
        TELEGRAM,
        "401 (token revoked)",
        "outbox flush",
        "sendMessage",
        6,
        T_401,
        1,
        NEVER,
        "kept FAILED",
        "retry-failed",
    ),
    Cell(
        TELEGRAM,
        "401 (token revoked)",
        "notify-test",
        "getMe",
        3,
        "bot: token invalid: "
        "Telegram answered 401 Unauthorized (wrong or revoked token) — copy the token again",
        1,
        NEVER,
        "nothing stored",
        "passes",
    ),
]


def markdown() -> str:
    """MATRIX as the table in docs/reliability.md."""
    rows = [
        "| | fault | command | exit | stderr says | retried in the run | database afterwards"
        " | once the fault is gone |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in MATRIX:
        says = f"`…{c.says.replace('|', '¦')}…`" if c.says else "(nothing)"
        rows.append(
            f"| {c.side} | {c.fault} | `{c.command}` | {c.exit} | {says} | {c.retried} |"
            f" {AFTER[c.after]} | {LATER[c.later]} |"
        )
    return "\n".join(rows)


def test_the_table_is_complete_and_consistent():
    """Every fault meets every command of its side, once; every row's words are defined."""
    for side, commands in (
        (KOTAK, {"verify", "reconcile", "eod"}),
        (TELEGRAM, {"verify", "outbox flush", "notify-test"}),
    ):
        cells = [c for c in MATRIX if c.side == side]
        faults = {c.fault for c in cells}
        assert len(faults) == 9
        assert sorted((c.fault, c.command) for c in cells) == sorted(
            (f, cmd) for f in faults for cmd in commands
        )
    assert all(c.after in AFTER and c.later in LATER for c in MATRIX)
    assert all((c.exit == 0) == (c.says == "") for c in MATRIX)


def test_the_retry_words_match_the_policies():
    assert (kotak_client.POLICY.attempts, kotak_client.POLICY.total_seconds) == (4, 90)
    assert TEST_POLICY.attempts == 3 and telegram_client.POLICY.attempts == 3


def test_the_docs_show_this_table():
    """scripts/fault_matrix.py prints this table, and docs/reliability.md holds what it prints."""
    script = Path(__file__).parent.parent / "scripts" / "fault_matrix.py"
    printed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert printed.stdout == markdown() + "\n", printed.stderr
    checked = subprocess.run(
        [sys.executable, str(script), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


# ---- shared machinery ------------------------------------------------------------------------

COMMANDS = {
    "verify": ("verify",),
    "reconcile": ("reconcile",),
    "eod": ("eod",),
    "outbox flush": ("outbox", "flush"),
    "notify-test": ("notify-test",),
}
DATA_TABLES = (
    "orders",
    "events",
    "outbox",
    "deliveries",
    "tracking",
    "tracking_changes",
    "adjustments",
    "manual_orders",
    "holdings_history",
    "seen_statuses",
    "telegram_chats",
)


ALERTS = "SELECT id FROM outbox WHERE kind = 'SYSTEM_ALERT'"
WITHOUT_ALERTS = {
    "outbox": f"WHERE id NOT IN ({ALERTS})",
    "deliveries": f"WHERE outbox_id NOT IN ({ALERTS})",
}


def snapshot(
    sql: Callable[..., list[tuple]], tables: tuple[str, ...] = DATA_TABLES
) -> dict[str, list[tuple]]:
    """The tables' rows, leaving out system alerts (checked on their own)."""
    return {
        table: sql(f"SELECT * FROM {table} {WITHOUT_ALERTS.get(table, '')} ORDER BY rowid")
        for table in tables
    }


def broker_alerts(sql: Callable[..., list[tuple]]) -> int:
    return sql(
        "SELECT count(*) FROM outbox WHERE kind = 'SYSTEM_ALERT' AND key LIKE 'broker-down:%'"
    )[0][0]


def every_table(sql: Callable[..., list[tuple]]) -> tuple[str, ...]:
    return tuple(name for (name,) in sql("SELECT name FROM sqlite_master WHERE type = 'table'"))


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request ordertrack makes (retries included), by the last segment of its path:
    a refused connection reaches no fake, so the count is taken on the client's side."""
    seen: list[str] = []
    real = http._once

    def counting(session: Any, method: str, url: str, *rest: Any) -> http.Reply:
        seen.append(urlsplit(url).path.rsplit("/", 1)[-1])
        return real(session, method, url, *rest)

    monkeypatch.setattr(http, "_once", counting)
    return seen


def timed(
    cli: Callable[..., Any], cell: Cell, monkeypatch: pytest.MonkeyPatch, budget: float
) -> tuple[Any, float]:
    """Run the cell's command; a slow-drip cell under a short run budget, which it must keep
    (the OS clock: freezegun stops time.monotonic)."""
    if cell.fault.startswith("slow drip"):
        monkeypatch.setattr(http, "RUN_SECONDS", budget)
    started = http.monotonic()
    result = cli(*COMMANDS[cell.command])
    seconds = http.monotonic() - started
    if cell.fault.startswith("slow drip"):
        assert seconds < budget + 2.5, f"the run took {seconds:.1f} s on a {budget} s budget"
        monkeypatch.setattr(http, "RUN_SECONDS", 240.0)
    return result, seconds


def one_line(result: Any, cell: Cell) -> None:
    assert result.code == cell.exit, result.err
    if cell.says:
        assert result.err.startswith("ordertrack: ") and result.err.count("\n") == 1, result.err
        assert cell.says in result.err, result.err
    else:
        assert result.err == ""
    assert "Traceback" not in result.err + result.out


# ---- Kotak Neo -------------------------------------------------------------------------------

ORDER = "250122000624384"  # the fake's default book shows it complete (IDEA, 1 @ 9.39)
KOTAK_REPLIES = {
    "timeout": [Scripted(200, NO_DATA, delay=SLOW)] * 3,
    "slow drip (1 byte / 0.2 s)": [Scripted(200, NO_DATA, drip=0.2)] * 2,
    "429": [Scripted(429, {"message": "Too many requests"})] * 3,
    "500": [Scripted(500, {"stat": "Not_Ok", "errMsg": "Internal Server Error"})] * 3,
    "502 HTML page": [Scripted(502, HTML_502)] * 3,
    "truncated JSON": [
        Scripted(
            200,
            '{"stat": "Ok", "stCode": 200, "data": [{"nOrdNo": "250122000624384", "ordSt": "comp',
        )
    ],
    "JSON of the wrong shape": [
        Scripted(200, {"stat": "Ok", "stCode": 200, "data": {"orders": []}})
    ],
    "session expiry (100022) mid-run": [Scripted(200, SESSION_EXPIRED, expire=True)],
}
KOTAK_PATHS = {"orders": ORDERS, "holdings": HOLDINGS, "positions": POSITIONS}


def kotak_state(sql: Callable[..., list[tuple]]) -> dict[str, Any]:
    return {
        "order": sql("SELECT status FROM orders")[0][0],
        "ITBEES": sql("SELECT tracked_qty FROM tracking WHERE symbol = 'ITBEES'")[0][0],
        "summaries": [
            k for (k,) in sql("SELECT key FROM outbox WHERE kind = 'DAILY_SUMMARY' ORDER BY id")
        ],
    }


def applied(command: str, state: dict[str, Any]) -> bool:
    """The command's own change is in: the order executed; the manual sell found; the day's
    final summary queued."""
    if command == "verify":
        return state["order"] == "EXECUTED"
    if command == "reconcile":
        return state["ITBEES"] == 45
    return state["order"] == "EXECUTED" and f"summary:{CLOSED}:final" in state["summaries"]


@pytest.mark.parametrize("cell", [c for c in MATRIX if c.side == KOTAK], ids=Cell.name)
def test_kotak_fault(cell, cli, kotak, sql, attempts, monkeypatch):
    with freeze_time(NOW):
        assert (
            cli("pending", "add", ORDER, "--symbol", "IDEA", "--side", "buy", "--qty", "1").code
            == 0
        )
        assert cli("track", "add", "ITBEES", "--qty", "50").code == 0
        assert cli("broker", "check").code == 0  # today's session, as an earlier run left it
        if cell.fault == "refused connection":  # Kotak's API host stops accepting connections
            sql("UPDATE broker_sessions SET base_url = ?", closed_url())
        else:
            kotak.script(KOTAK_PATHS[cell.at], *KOTAK_REPLIES[cell.fault])
        before, state_before = snapshot(sql), kotak_state(sql)
        attempts.clear()

        result, seconds = timed(cli, cell, monkeypatch, budget=3.0)

        one_line(result, cell)
        assert attempts.count(cell.at) == cell.attempts, attempts
        assert kotak.logins == (2 if cell.retried == RELOGIN else 1)  # only expiry logs in
        state = kotak_state(sql)
        if cell.after == "unchanged":
            assert snapshot(sql) == before
        elif cell.after == "summary incomplete":
            assert snapshot(
                sql, ("orders", "events", "tracking", "tracking_changes", "adjustments")
            ) == {
                k: before[k]
                for k in ("orders", "events", "tracking", "tracking_changes", "adjustments")
            }
            assert state == {**state_before, "summaries": [f"summary:{CLOSED}:incomplete"]}
        else:
            assert cell.after == "applied" and applied(cell.command, state), state
        assert broker_alerts(sql) == (1 if cell.exit else 0)
        run = sql("SELECT outcome, exit_code, error FROM runs ORDER BY id DESC LIMIT 1")[0]
        if cell.exit:
            assert run[:2] == ("failed", cell.exit) and cell.says in run[2]
        else:
            assert run[:2] == ("ok", 0)

        # The fault is gone: the next run (same day, same broker data).
        if cell.fault == "refused connection":
            sql("UPDATE broker_sessions SET base_url = ?", kotak.url)
        settled = snapshot(sql)
        again = cli(*COMMANDS[cell.command])
        assert (again.code, again.err) == (0, "")
        assert applied(cell.command, kotak_state(sql)), kotak_state(sql)
        if cell.later == "no-op":
            assert snapshot(sql) == settled
        else:
            assert cell.later == "catches up"


# ---- Telegram --------------------------------------------------------------------------------

BOT_OK = {"ok": True, "result": tg.BOT}
TELEGRAM_REPLIES = {  # (the reply to getMe, the reply to every sendMessage)
    "timeout": (tg.Reply(body=BOT_OK, delay=0.5), tg.slow(0.5)),
    "slow drip (message arrived)": (tg.dripping(0.1, BOT_OK), tg.dripping(0.1)),
    "429 (retry_after 5)": (tg.flood(5), tg.flood(5)),
    "500": (tg.SERVER_ERROR, tg.SERVER_ERROR),
    "502 HTML page": (tg.BAD_GATEWAY, tg.BAD_GATEWAY),
    "truncated JSON (message arrived)": (tg.MALFORMED, tg.MALFORMED),
    "JSON of the wrong shape": (
        tg.Reply(200, {"status": "ok", "data": []}),
        tg.Reply(200, {"status": "ok", "data": []}),
    ),
}


@pytest.fixture
def short_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ordertrack.toml"
    config.write_text("[notify]\ntimeout_seconds = 0.2\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))


def arm(cell: Cell, fake: tg.FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    if cell.fault == "refused connection":
        monkeypatch.setenv("TELEGRAM_API_URL", closed_url())
    elif cell.fault == "401 (token revoked)":
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:revoked-in-botfather")
    else:
        fake.me, fake.chats["1001"] = TELEGRAM_REPLIES[cell.fault]


def disarm(fake: tg.FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_API_URL", fake.url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    fake.me = None
    fake.chats.clear()


def delivery(sql: Callable[..., list[tuple]]) -> tuple[str, str]:
    [(status, outbox_status)] = sql(
        "SELECT d.status, o.status FROM deliveries d JOIN outbox o ON o.id = d.outbox_id"
    )
    return status, outbox_status


@pytest.mark.parametrize("cell", [c for c in MATRIX if c.side == TELEGRAM], ids=Cell.name)
def test_telegram_fault(cell, cli, broker, telegram, sql, attempts, monkeypatch, short_timeout):
    with freeze_time(NOW) as clock:
        assert (
            cli("pending", "add", "1", "--symbol", "M&M", "--side", "buy", "--qty", "10").code == 0
        )
        broker.orders(kotak_row("1", "complete", symbol="M&M", qty=10, filled=10, avg="2950.50"))
        if cell.command != "verify":  # verify ran while notifications were off: one waits
            with monkeypatch.context() as m:
                m.delenv("TELEGRAM_BOT_TOKEN")
                assert cli("verify").code == 0
        arm(cell, telegram, monkeypatch)
        before, every = snapshot(sql), snapshot(sql, every_table(sql))
        attempts.clear()

        result, seconds = timed(cli, cell, monkeypatch, budget=2.0)

        one_line(result, cell)
        assert attempts.count(cell.at) == cell.attempts, attempts
        arrived = len(telegram.messages)  # delivered although the reply was lost
        assert arrived == (
            1
            if cell.fault.startswith(("timeout", "truncated", "slow drip"))
            and cell.at == "sendMessage"
            else 0
        )
        if cell.after == "nothing stored":
            assert snapshot(sql, every_table(sql)) == every
        else:
            expected = cell.after.removeprefix("kept ").split(",")[0]
            assert delivery(sql) == (expected, "FAILED" if expected == "FAILED" else "PENDING")
            paused = sql("SELECT paused_until IS NOT NULL FROM telegram_chats")
            assert paused == ([(1,)] if cell.after.endswith("chat paused") else [])
            assert sql("SELECT status FROM orders") == [("EXECUTED",)]
            if cell.command == "outbox flush":  # nothing but the delivery moved
                assert snapshot(sql, ("orders", "events", "tracking")) == {
                    k: before[k] for k in ("orders", "events", "tracking")
                }

        # The fault is gone; cron's next run comes after the longest backoff.
        disarm(telegram, monkeypatch)
        clock.tick(timedelta(minutes=61))
        again = cli(*COMMANDS[cell.command])
        assert (again.code, again.err) == (0, ""), again.err
        if cell.later == "passes":
            assert "Bot: token accepted" in again.out
            return
        if cell.later == "retry-failed":  # a revoked token is not retried blindly
            assert telegram.messages == []
            fixed = cli("outbox", "flush", "--retry-failed")
            assert (fixed.code, fixed.err) == (0, "")
        texts = telegram.texts("1001")
        assert len(texts) == arrived + 1
        assert texts[-1].startswith("✅ Executed: BUY M&M\nFilled 10/10 at ₹2,950.50")
        assert texts[-1].endswith(DUPLICATE_NOTE) == (cell.later == "resent")
        assert delivery(sql) == ("SENT", "SENT")
        assert cli("outbox", "flush").code == 0 and len(telegram.messages) == arrived + 1
