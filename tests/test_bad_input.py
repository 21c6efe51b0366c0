"""Bad input, for every command: missing, malformed and hostile arguments, files and databases.

Each case must end with exactly one clear line on stderr (short, no control characters, no
traceback), an exit code from the README's table, and nothing already stored lost: every table
is read before and after, and every row that was there is still there (a failed run changes no
order, event or tracking row at all).

The command list is derived from the Typer app, as in test_cli.py, so a new command fails
test_every_command_is_covered until it gets its cases here.
"""

import gc
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from freezegun import freeze_time

from ordertrack.cli.app import app, run
from ordertrack.errors import ExitCode
from ordertrack.store import db as db_module
from tests.fake_kotak import ist
from tests.helpers import BrokerFiles, book, kotak_row


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


COMMANDS = list(_commands(typer.main.get_command(app)))
README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
DOCUMENTED = {
    int(code)
    for code in re.findall(
        r"^\| (\d+) \|", README.split("## Exit codes")[1].split("\n## ")[0], re.M
    )
}
MAX_LINE = 500  # characters: one line a person reads in a cron log
NOW = ist("2026-11-25 11:00")  # Wednesday, a trading day, in session
MB = 1024 * 1024
HOSTILE = "'; DROP TABLE orders; -- $(rm -rf ~) `reboot` ☠ \u202eevil"
SQL = "x'); DELETE FROM orders; --"
KEPT = (
    "orders",
    "events",
    "tracking",
    "tracking_changes",
    "outbox",
    "adjustments",
    "manual_orders",
)  # what the trader's history is made of


# ---- the stored state every case starts from and must keep -----------------------------------


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


def _fill_broker(broker: BrokerFiles) -> None:
    broker.orders(kotak_row("1", "open", qty=10, filled=4, avg="1850.00", updRecvTm=1))
    broker.write("holdings.json", {"data": [{"symbol": "INFY", "quantity": 14}]})
    broker.write("positions.json", book())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: a confirmed order partly filled, an unconfirmed one, a tracked symbol, a
    queued notification and a logged run — something to lose."""
    folder = tmp_path_factory.mktemp("template")
    broker = BrokerFiles(folder / "broker")
    _fill_broker(broker)
    with pytest.MonkeyPatch.context() as m, freeze_time(NOW):
        for name in list(os.environ):
            if name.startswith(("ORDERTRACK_", "KOTAK_", "TELEGRAM_")):
                m.delenv(name)
        m.setenv("ORDERTRACK_DB", str(folder / "ordertrack.db"))
        m.setenv("ORDERTRACK_BROKER", "file")
        m.setenv("ORDERTRACK_BROKER_DIR", str(broker.folder))
        for args in (
            (
                "pending",
                "add",
                "1",
                "--symbol",
                "INFY",
                "--side",
                "buy",
                "--qty",
                "10",
                "--price",
                "1850",
            ),
            (
                "pending",
                "add",
                "--symbol",
                "TCS",
                "--side",
                "sell",
                "--qty",
                "5",
                "--tag",
                "eng-42",
            ),
            ("track", "add", "INFY", "--qty", "10"),
            ("verify",),
        ):
            assert run(list(args)) == 0, args
    assert not (folder / "ordertrack.db-wal").exists()  # closed and checkpointed
    return folder / "ordertrack.db"


@pytest.fixture
def stored(template, broker, db_path):
    """This test's copy of the template database, and its broker files."""
    shutil.copy2(template, db_path)
    _fill_broker(broker)
    return broker


def tables(db_path: Path) -> dict[str, list[tuple]]:
    """Every table, every row, each led by its rowid. The connection is closed at once: one left
    open in this process would let SQLite hand ordertrack its file descriptor, opened before the
    file was made read-only."""
    with closing(sqlite3.connect(db_path)) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: conn.execute(f"SELECT rowid, * FROM {name} ORDER BY rowid").fetchall()
            for name in names
        }


def one_clear_line(result: Any, code: int, says: str) -> None:
    assert result.code == code, (result.code, result.err[:MAX_LINE])
    assert code in DOCUMENTED
    assert "Traceback" not in result.out + result.err
    if code == 0:
        assert result.err == ""
        return
    err = result.err
    assert err.startswith("ordertrack: ") and err.endswith("\n"), err[:MAX_LINE]
    assert says in err, err[:MAX_LINE]
    assert not [c for c in err[:-1] if unicodedata.category(c) == "Cc"], repr(err[:MAX_LINE])
    assert len(err) <= MAX_LINE, f"{len(err)} characters: {err[:200]}…"


def nothing_lost(
    before: dict[str, list[tuple]], after: dict[str, list[tuple]], failed: bool
) -> None:
    """No row of the trader's history disappears; a failed command changes none of them (it
    may only add: eod queues its 'incomplete' summary, every run logs itself)."""
    for table in KEPT:
        gone = {row[0] for row in before[table]} - {row[0] for row in after[table]}
        assert not gone, (table, gone)
        if failed:
            changed = Counter(before[table]) - Counter(after[table])
            assert not changed, (table, changed)


@pytest.fixture
def run_case(cli, stored, db_path):
    """Run the CLI and check the three promises; returns the result for more checks."""

    def invoke(args: tuple[str, ...], code: int, says: str = "") -> Any:
        before = tables(db_path)
        result = cli(*args)
        one_clear_line(result, code, says)
        nothing_lost(before, tables(db_path), failed=code != 0)
        return result

    return invoke


# Bugs these tests found, each fixed with the test failing first: --limit beyond SQLite's
# integers, --placed-at at the edge of the datetime range, JSON integers over 4300 digits,
# control characters and 10 MB inputs echoed in error lines, deeply nested TOML, lone UTF-16
# surrogates in broker text, and devices or FIFOs read as files.


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    says: str = ""


def case(*args: str, code: int, says: str = "", marks: Any = ()) -> Any:
    return pytest.param(
        Case(args, code, says), marks=marks, id=" ".join(args)[:70].replace("\n", "\\n")
    )


ADD = ("pending", "add")
ORDER = ("--side", "buy", "--qty", "1")
USAGE, CONFIG, BROKER, DATABASE = 2, 3, 4, 7

CASES = [
    # pending add — missing
    case(*ADD, code=USAGE, says="symbol is required"),
    case(*ADD, "9", "--symbol", "INFY", "--qty", "1", code=USAGE, says="--side is required"),
    case(*ADD, "9", "--symbol", "INFY", "--side", "buy", code=USAGE, says="--qty is required"),
    case(*ADD, "9", "--symbol", code=USAGE, says="Option '--symbol' requires an argument"),
    # pending add — malformed
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        "--side",
        "hold",
        "--qty",
        "1",
        code=USAGE,
        says="side must be buy or sell, not 'hold'",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "ten",
        code=USAGE,
        says="Invalid value for '--qty'",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER[:-1],
        "0",
        code=USAGE,
        says="qty must be between 1 and 1000000000, not 0",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--price",
        "-5",
        code=USAGE,
        says="price must be above 0",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--price",
        "nan",
        code=USAGE,
        says="price must be above 0",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--placed-at",
        "yesterday",
        code=USAGE,
        says="not an ISO 8601 time: 'yesterday'",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--placed-at",
        "2026-13-45",
        code=USAGE,
        says="not an ISO 8601 time",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--placed-at",
        "2027-01-01T10:00",
        code=USAGE,
        says="is in the future",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--from",
        "x.jsonl",
        code=USAGE,
        says="--from cannot be combined",
    ),
    # pending add — hostile
    case(*ADD, HOSTILE, "--symbol", "INFY", *ORDER, code=USAGE, says="invalid order id"),
    case(*ADD, "1' OR '1'='1", "--symbol", "INFY", *ORDER, code=USAGE, says="invalid order id"),
    case(*ADD, "१२३", "--symbol", "INFY", *ORDER, code=USAGE, says="invalid order id"),
    case(*ADD, "9" * 41, "--symbol", "INFY", *ORDER, code=USAGE, says="(max 40)"),
    case(*ADD, "9", "--symbol", "$(rm -rf ~)", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "INFY; rm -rf /", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", SQL, *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "ИНФОСИС", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "ＩＮＦＹ", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "IN\u200bFY", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "\u202eYFNI", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "INFY\x1b[2J", *ORDER, code=USAGE, says="invalid symbol"),
    case(*ADD, "9", "--symbol", "A" * 51, *ORDER, code=USAGE, says="(at most 50)"),
    case(*ADD, "9", "--symbol", "A" * 10_000, *ORDER, code=USAGE, says="invalid symbol"),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "9" * 30,
        code=USAGE,
        says="qty must be between 1 and 1000000000",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "-1",
        code=USAGE,
        says="qty must be between 1 and 1000000000",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--price",
        "1e400",
        code=USAGE,
        says="price must be above 0 and below 1000000000, not inf",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--price",
        "9" * 400,
        code=USAGE,
        says="price must be above 0",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--tag",
        "line\nbreak",
        code=USAGE,
        says="tag must be printable",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--tag",
        "t" * 65,
        code=USAGE,
        says="at most 64 characters",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--placed-at",
        "0001-01-01T00:00:00",
        code=USAGE,
        says="0001-01-01",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--placed-at",
        "9999-12-31T23:59:59-12:00",
        code=USAGE,
        says="9999-12-31",
    ),
    case(*ADD, "--from", "/tmp/no\nsuch.jsonl", code=USAGE, says="does not exist"),
    case(
        *ADD,
        "1",
        "--symbol",
        "INFY",
        "--side",
        "sell",
        "--qty",
        "10",
        code=USAGE,
        says="already registered with other details: side 'BUY' ≠ 'SELL'",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--completes",
        "#99",
        code=USAGE,
        says="order #99 is not registered",
    ),
    case(
        *ADD,
        "9",
        "--symbol",
        "INFY",
        *ORDER,
        "--completes",
        HOSTILE,
        code=USAGE,
        says="local order number such as #3",
    ),
    case(
        *ADD,
        "--symbol",
        "INFY",
        *ORDER,
        "--completes",
        "#1",
        code=USAGE,
        says="--completes needs the broker order id",
    ),
    # pending cancel
    case("pending", "cancel", code=USAGE, says="Missing argument 'order_id'"),
    case("pending", "cancel", "#abc", code=USAGE, says="is not registered"),
    case("pending", "cancel", HOSTILE, code=USAGE, says="is not registered"),
    case("pending", "cancel", "1\nordertrack: all good", code=USAGE, says="is not registered"),
    case("pending", "cancel", "9" * 10_000, code=USAGE, says="order 999"),
    case(
        "pending",
        "cancel",
        "1",
        "--reason",
        "line\nbreak",
        code=USAGE,
        says="--reason must be printable",
    ),
    case(
        "pending", "cancel", "1", "--reason", "r" * 201, code=USAGE, says="at most 200 characters"
    ),
    # pending list
    case("pending", "list", "--status", code=USAGE, says="requires an argument"),
    case("pending", "list", "--status", "LOST", code=USAGE, says="--status must be one of"),
    case("pending", "list", "--status", SQL, code=USAGE, says="--status must be one of"),
    case("pending", "list", "--all=yes", code=USAGE, says="does not take a value"),
    # pending show
    case("pending", "show", code=USAGE, says="Missing argument 'order_id'"),
    case("pending", "show", "#abc", code=USAGE, says="is not registered"),
    case("pending", "show", "#99999999999999999999999", code=USAGE, says="is not registered"),
    case("pending", "show", "#-1", code=USAGE, says="is not registered"),
    case("pending", "show", HOSTILE, code=USAGE, says="is not registered"),
    case("pending", "show", "1' OR '1'='1", code=USAGE, says="is not registered"),
    case("pending", "show", "ℌ𝔢𝔩𝔩𝔬 🙂", code=USAGE, says="is not registered"),
    case("pending", "show", "1\nordertrack: all good", code=USAGE, says="is not registered"),
    case("pending", "show", "1\x1b[2J", code=USAGE, says="is not registered"),
    case("pending", "show", "9" * 10_000, code=USAGE, says="order 999"),
    # track add / show / stop / list
    case("track", "add", code=USAGE, says="Missing argument 'symbol'"),
    case("track", "add", "INFY", "--qty", code=USAGE, says="requires an argument"),
    case("track", "add", "TCS", "--qty", "-1", code=USAGE, says="Invalid value for '--qty'"),
    case("track", "add", "TCS", "--qty", "lots", code=USAGE, says="Invalid value for '--qty'"),
    case("track", "add", "TCS", "--qty", "9" * 30, code=USAGE, says="Invalid value for '--qty'"),
    case("track", "add", "INFY", "--qty", "99", code=USAGE, says="INFY"),
    case("track", "add", HOSTILE, code=USAGE, says="invalid symbol"),
    case("track", "add", "TCS; DROP TABLE tracking", code=USAGE, says="invalid symbol"),
    case("track", "add", "../../etc/passwd", code=USAGE, says="invalid symbol"),
    case("track", "show", code=USAGE, says="Missing argument 'symbol'"),
    case("track", "show", "NEVER", code=USAGE, says="NEVER has never been tracked"),
    case("track", "show", "ТСS", code=USAGE, says="invalid symbol"),
    case("track", "show", "INFY' OR '1'='1", code=USAGE, says="invalid symbol"),
    case("track", "stop", code=USAGE, says="Missing argument 'symbol'"),
    case("track", "stop", "NEVER", code=USAGE, says="NEVER is not tracked"),
    case("track", "stop", "*", code=USAGE, says="invalid symbol"),
    case("track", "stop", "%", code=USAGE, says="invalid symbol"),
    case("track", "list", "--all=1", code=USAGE, says="does not take a value"),
    case("track", "list", HOSTILE, code=USAGE, says="unexpected extra argument"),
    # outbox list / flush
    case("outbox", "list", "--status", code=USAGE, says="requires an argument"),
    case("outbox", "list", "--status", "LOST", code=USAGE, says="--status must be one of"),
    case("outbox", "list", "--status", "<script>", code=USAGE, says="--status must be one of"),
    case("outbox", "list", "--limit", "0", code=USAGE, says="Invalid value for '--limit'"),
    case("outbox", "list", "--limit", "many", code=USAGE, says="Invalid value for '--limit'"),
    case("outbox", "list", "--limit", "9" * 30, code=USAGE, says="--limit"),
    case("outbox", "list", "--limit", str(2**63), code=USAGE, says="--limit"),
    case("outbox", "flush", "--retry-failed=1", code=USAGE, says="does not take a value"),
    case("outbox", "flush", HOSTILE, code=USAGE, says="unexpected extra argument"),
    # verify / reconcile / eod / status / broker check / notify-test / demo
    case("verify", "--order-id", code=USAGE, says="requires an argument"),
    case("verify", "--order-id", "#x", code=USAGE, says="order #x is not registered"),
    case("verify", "--order-id", SQL, code=USAGE, says="is not registered"),
    case("verify", "--order-id", "1\n2", code=USAGE, says="is not registered"),
    case("verify", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("reconcile", "--dry-run=no", code=USAGE, says="does not take a value"),
    case("reconcile", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("eod", "--json", "--json=1", code=USAGE, says="does not take a value"),
    case("eod", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("status", "--jsn", code=USAGE, says="No such option: --jsn"),
    case("status", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("broker", "check", "--json=yes", code=USAGE, says="does not take a value"),
    case("broker", "check", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("broker", "login", "--json=yes", code=USAGE, says="does not take a value"),
    case("broker", "login", HOSTILE, code=USAGE, says="is for ORDERTRACK_BROKER=kite"),
    case("broker", code=0),
    case("notify-test", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("notify-test", "--token", "123:abc", code=USAGE, says="No such option: --token"),
    case("demo", "--json", code=USAGE, says="No such option: --json"),
    case("demo", HOSTILE, code=USAGE, says="unexpected extra argument"),
    # listen
    case("listen", "--until", "25:00", code=USAGE, says="--until wants HH:MM (IST)"),
    case("listen", "--until", HOSTILE, code=USAGE, says="--until wants HH:MM (IST)"),
    case("listen", "--until", "00:00", code=USAGE, says="--until 00:00 IST has already passed"),
    case("listen", HOSTILE, code=USAGE, says="unexpected extra argument"),
    # report / datasette-metadata
    case("report", "--day", "2026-02-30", code=USAGE, says="is not a date like 2026-11-30"),
    case("report", "--day", HOSTILE, code=USAGE, says="is not a date"),
    case(
        "report",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-01",
        code=USAGE,
        says="--from 2026-11-25 is after --to 2026-11-01",
    ),
    case("report", "--week", "--day", "2026-11-25", code=USAGE, says="choose one of"),
    case("report", "--out", code=USAGE, says="requires an argument"),
    case("report", "--month", "--week", code=USAGE, says="choose one of"),
    # pnl
    case("pnl", "--day", "2026-02-30", code=USAGE, says="is not a date like 2026-11-30"),
    case("pnl", "--day", HOSTILE, code=USAGE, says="is not a date"),
    case(
        "pnl",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-01",
        code=USAGE,
        says="--from 2026-11-25 is after --to 2026-11-01",
    ),
    case("pnl", "--month", "--from", "2026-11-01", code=USAGE, says="choose one of"),
    case("pnl", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("datasette-metadata", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("bot", "--wait", "-1", code=USAGE, says="'--wait': -1"),
    case("bot", "--wait", "121", code=USAGE, says="'--wait': 121"),
    case("bot", "--wait", HOSTILE, code=USAGE, says="Invalid value for '--wait'"),
    case("bot", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("schedule", "print", "--systemd=1", code=USAGE, says="does not take a value"),
    case("schedule", "install", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case(
        "schedule",
        "install",
        "--env-file",
        "/nonexistent/ot-env",
        code=CONFIG,
        says="env file /nonexistent/ot-env does not exist",
    ),
    case("schedule", "remove", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("doctor", "--offline=1", code=USAGE, says="does not take a value"),
    # accounts (issue 29)
    case("accounts", "add", "default", code=USAGE, says="'default' is reserved"),
    case("accounts", "add", HOSTILE, code=USAGE, says="is not allowed: use 1-32 lower-case"),
    case("accounts", "add", "x", "--broker", HOSTILE, code=USAGE, says="--broker must be one of"),
    case("accounts", "list", HOSTILE, code=USAGE, says="unexpected extra argument"),
    case("accounts", "remove", "ghost", code=CONFIG, says="unknown account ghost: no env file"),
    case("accounts", "remove", HOSTILE, code=USAGE, says="is not allowed"),
    case("--account", HOSTILE, "status", code=USAGE, says="is not allowed"),
    case("--account", "ghost", "verify", code=USAGE, says="ORDERTRACK_DB cannot be combined"),
    case("status", "--all-accounts", code=CONFIG, says="no accounts: no NAME.env in"),
    case("doctor", HOSTILE, code=USAGE, says="unexpected extra argument"),
    # events
    case("events", "--since", "-1", code=USAGE, says="'--since': -1"),
    case("events", "--since", HOSTILE, code=USAGE, says="Invalid value for '--since'"),
    case("events", "--kind", HOSTILE, code=USAGE, says="unknown event kind"),
    case("events", "--limit", "0", code=USAGE, says="'--limit': 0"),
    # beyond SQLite's integers (issue 23 row 10): exit 1 OverflowError, exit 7 before
    case("events", "--since", str(2**63), code=USAGE, says=f"'--since': {2**63}"),
    case("events", "--limit", str(2**63), code=USAGE, says=f"'--limit': {2**63}"),
    case("pending", "show", "#" + "9" * 30, code=USAGE, says="is not registered"),
    case("pending", "cancel", "#" + "9" * 30, code=USAGE, says="is not registered"),
    case(
        *ADD,
        "8",
        "--symbol",
        "INFY",
        *ORDER,
        "--completes",
        "#" + "9" * 30,
        code=USAGE,
        says="is not registered",
    ),
    case("events", "--follow-up-to", "3601", code=USAGE, says="'--follow-up-to': 3601"),
    case(
        "events", "--follow-up-to", HOSTILE, code=USAGE, says="Invalid value for '--follow-up-to'"
    ),
    # the root options
    case("--db", code=USAGE, says="Option '--db' requires an argument"),
    case("--config", code=USAGE, says="Option '--config' requires an argument"),
    case("nosuch", code=USAGE, says="No such command 'nosuch'"),
    case(HOSTILE, code=USAGE, says="No such command"),
]


@pytest.mark.parametrize("c", CASES)
def test_bad_argument(run_case, c):
    run_case(c.args, c.code, c.says)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unknown_option(run_case, command):
    run_case((*command, "--frobnicate-ünïcode"), USAGE, "No such option: --frobnicate-ünïcode")


def test_every_command_is_covered():
    """Every command has its own cases above (missing, malformed or hostile)."""
    covered = {cmd for cmd in COMMANDS for c in CASES if c.values[0].args[: len(cmd)] == cmd}
    assert covered == set(COMMANDS)


# ---- hostile values that are valid: stored and shown exactly, harming nothing -----------------


def test_sql_and_shell_text_in_a_tag_is_stored_literally(run_case, cli, sql):
    tag = "x'); DROP TABLE orders; -- $(reboot) `id` ☠"
    run_case((*ADD, "88", "--symbol", "M&M", *ORDER, "--tag", tag), 0)
    shown = json.loads(cli("pending", "show", "88", "--json").out)["order"]
    assert (shown["tag"], shown["symbol"]) == (tag, "M&M")
    assert sql("SELECT count(*) FROM orders") == [(3,)]


def test_sql_in_a_filter_matches_nothing(run_case):
    result = run_case(("pending", "list", "--all", "--symbol", "' OR 1=1 --", "--json"), 0)
    assert json.loads(result.out) == []


def test_a_broken_character_in_a_broker_reason_is_stored(run_case, stored, sql):
    stored.orders(
        kotak_row(
            "1", "cancelled", qty=10, filled=4, avg="1850.00", reason="Cancelled by RMS \ud83d"
        )
    )
    run_case(("verify",), 0)
    assert sql("SELECT status FROM orders WHERE order_id = '1'") == [("CANCELLED",)]


def test_a_hostile_broker_row_is_data(run_case, stored, sql):
    stored.orders(
        kotak_row("1", "open", qty=10, filled=4, avg="1850.00"),
        kotak_row(SQL, "complete", symbol="M&M", reason="<b>&amp;</b>\x1b[2J"),
    )
    stored.write(
        "holdings.json",
        {"data": [{"symbol": "INFY", "quantity": 14}, {"symbol": SQL, "quantity": 10**30}]},
    )
    run_case(("verify",), 0)
    run_case(("reconcile",), 0)
    assert sql("SELECT tracked_qty FROM tracking") == [(14,)]


# ---- files: 10 MB, empty, a directory, missing, binary ---------------------------------------


def _sparse(path: Path, size: int) -> None:
    path.touch()
    os.truncate(path, size)  # no disk used: a hole


def _directory_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _garbage(size: int) -> str:
    return ("not json, not csv; " * (size // 19 + 1))[:size]


@pytest.fixture(scope="module")
def ten_mb_jsonl() -> str:
    """10 MB of valid orders whose very last line is bad: nothing may be imported."""
    line = (
        json.dumps({"order_id": "X{}", "symbol": "INFY", "side": "buy", "qty": 1, "tag": "t" * 60})
        + "\n"
    )
    rows = [line.replace("X{}", f"X{i}") for i in range(10 * MB // len(line))]
    return "".join(rows) + '{"order_id": "LAST", "symbol": "INFY", "side": "hold", "qty": 1}\n'


IMPORTS: dict[str, tuple[Callable[[Path, str], Any], int, str]] = {
    "10 MB of garbage": (
        lambda p, _: p.write_text(_garbage(10 * MB)),
        USAGE,
        "line 1: not valid JSON",
    ),
    "10 MB of orders, last one bad": (
        lambda p, big: p.write_text(big),
        USAGE,
        "side must be buy or sell, not 'hold'; nothing was imported",
    ),
    "10 MB of nesting": (
        lambda p, _: p.write_text("[" * (10 * MB)),
        USAGE,
        "line 1: nested too deeply",
    ),
    "larger than 50 MB (sparse)": (lambda p, _: _sparse(p, 60 * MB), USAGE, "is larger than 50 MB"),
    "empty": (lambda p, _: p.write_text(""), USAGE, "holds no orders"),
    "blank lines": (lambda p, _: p.write_text("\n \n\t\n"), USAGE, "holds no orders"),
    "a directory": (lambda p, _: p.mkdir(), USAGE, "is a directory, not a file"),
    "missing": (lambda p, _: None, USAGE, "does not exist"),
    "binary": (lambda p, _: p.write_bytes(b"\xff\xfe\x00\x9c" * 1000), USAGE, "cannot read"),
    "a JSON array": (lambda p, _: p.write_text("[1, 2]\n"), USAGE, "expected a JSON object"),
    "SQL in every field": (
        lambda p, _: p.write_text(
            json.dumps({"order_id": SQL, "symbol": SQL, "side": SQL, "qty": SQL}) + "\n"
        ),
        USAGE,
        "invalid order id",
    ),
    "a 5000-digit number": (
        lambda p, _: p.write_text(
            '{"order_id": "5", "symbol": "INFY", "side": "buy", "qty": ' + "9" * 5000 + "}\n"
        ),
        USAGE,
        "orders.jsonl",
    ),
    "a 10 MB symbol": (
        lambda p, _: p.write_text(
            json.dumps({"order_id": "5", "symbol": "A" * (10 * MB), "side": "buy", "qty": 1}) + "\n"
        ),
        USAGE,
        "invalid symbol",
    ),
}


@pytest.mark.parametrize("name", list(IMPORTS))
def test_pending_add_from_a_bad_file(run_case, tmp_path, ten_mb_jsonl, sql, name):
    make, code, says = IMPORTS[name]
    path = tmp_path / "orders.jsonl"
    make(path, ten_mb_jsonl)
    run_case((*ADD, "--from", str(path)), code, says)
    assert sql("SELECT count(*) FROM orders") == [(2,)]


def test_pending_add_from_a_csv_with_a_bad_header(run_case, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,symbol,side,qty,evil'); DROP TABLE orders;--\n1,INFY,buy,1,x\n")
    run_case((*ADD, "--from", str(path)), USAGE, "CSV header must use the columns")


BROKER_FILES: dict[str, tuple[str, Callable[[Path], Any], int, str]] = {
    "10 MB of garbage": (
        "orders.json",
        lambda p: p.write_text(_garbage(10 * MB)),
        BROKER,
        "is not valid JSON (line 1",
    ),
    "10 MB of nesting": (
        "orders.json",
        lambda p: p.write_text("[" * (10 * MB)),
        BROKER,
        "is nested too deeply",
    ),
    "empty": ("orders.json", lambda p: p.write_text(""), BROKER, "is not valid JSON"),
    "a directory": (
        "orders.json",
        lambda p: _directory_instead(p),
        BROKER,
        "is a directory, not a file",
    ),
    "missing": ("orders.json", lambda p: p.unlink(), BROKER, "orders.json does not exist"),
    "binary": (
        "orders.json",
        lambda p: p.write_bytes(b"\xff\xfe\x00" * 100),
        BROKER,
        "cannot read",
    ),
    "wrong shape": (
        "orders.json",
        lambda p: p.write_text('{"stat": "Ok", "data": "rows"}'),
        BROKER,
        "reply has no 'data' list",
    ),
    "holdings missing": (
        "holdings.json",
        lambda p: p.unlink(),
        BROKER,
        "holdings.json does not exist",
    ),
    "a 5000-digit number": (
        "orders.json",
        lambda p: p.write_text(
            '{"stat": "Ok", "data": [{"nOrdNo": "1", "qty": ' + "9" * 5000 + "}]}"
        ),
        BROKER,
        "orders.json",
    ),
}
BROKER_COMMANDS = {
    "verify": ("verify",),
    "reconcile": ("reconcile",),
    "eod": ("eod",),
    "broker check": ("broker", "check"),
}


@pytest.mark.parametrize("command", BROKER_COMMANDS)
@pytest.mark.parametrize("name", list(BROKER_FILES))
def test_a_bad_broker_file(run_case, stored, sql, command, name):
    file, make, code, says = BROKER_FILES[name]
    if file == "holdings.json" and command in ("verify", "eod"):
        code, says = 0, ""  # they never read holdings
    make(stored.folder / file)
    run_case(BROKER_COMMANDS[command], code, says)
    assert sql("SELECT status, filled_qty FROM orders ORDER BY id") == [
        ("PARTIALLY_FILLED", 4),
        ("PENDING", 0),
    ]


def _little_memory() -> None:  # in the child, before it runs: 700 MB of address space
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (700 * MB, 700 * MB))


@pytest.mark.parametrize("where", ["pending add --from", "orders.json"])
def test_a_device_instead_of_a_file(stored, db_path, where):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    if where == "orders.json":
        (stored.folder / "orders.json").unlink()
        (stored.folder / "orders.json").symlink_to("/dev/zero")
        args, code = ["verify"], BROKER
    else:
        args, code = [*ADD, "--from", "/dev/zero"], USAGE
    before = tables(db_path)
    done = subprocess.run(
        [sys.executable, "-m", "ordertrack", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_little_memory,
        check=False,
        cwd=Path(__file__).parent.parent,
        env=dict(os.environ),
    )
    one_clear_line(
        SimpleNamespace(code=done.returncode, out=done.stdout, err=done.stderr),
        code,
        "/dev/zero" if code == USAGE else "orders.json",
    )
    nothing_lost(before, tables(db_path), failed=True)


def test_a_valid_10_mb_order_book_is_read(run_case, stored, sql):
    rows = [kotak_row(f"9{i:08d}", "open", symbol="TCS") for i in range(10 * MB // 440)]
    stored.orders(kotak_row("1", "complete", qty=10, filled=10, avg="1850.00"), *rows)
    assert (stored.folder / "orders.json").stat().st_size > 10 * MB
    run_case(("verify",), 0)
    assert sql("SELECT status FROM orders WHERE order_id = '1'") == [("EXECUTED",)]


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("ORDERTRACK_BROKER_DIR", None, "ORDERTRACK_BROKER=file needs ORDERTRACK_BROKER_DIR"),
        ("ORDERTRACK_BROKER_DIR", __file__, "is not a folder"),
        ("ORDERTRACK_BROKER", "kite; rm -rf /", "is not one of: kotak, kite, angel, fyers, file"),
    ],
)
@pytest.mark.parametrize("command", BROKER_COMMANDS)
def test_broker_settings_missing_or_hostile(run_case, monkeypatch, command, setting, value, says):
    if value is None:
        monkeypatch.delenv(setting)
    else:
        monkeypatch.setenv(setting, value)
    run_case(BROKER_COMMANDS[command], CONFIG, says)


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: p.mkdir(), "cannot read config file"),
        pytest.param(lambda p: p.write_text("x = " + "[" * 100_000), "config file"),
        (lambda p: p.write_bytes(b"\xff\xfe" * 10), "cannot read config file"),
        (lambda p: None, "does not exist"),
    ],
    ids=["a directory", "deep nesting", "binary", "missing"],
)
def test_a_bad_config_file(run_case, tmp_path, make, says):
    path = tmp_path / "ordertrack.toml"
    make(path)
    run_case(("--config", str(path), "status"), CONFIG, says)


@pytest.mark.parametrize(
    "variable, value, code, says",
    [
        ("TELEGRAM_BOT_TOKEN", None, CONFIG, "TELEGRAM_BOT_TOKEN is not set"),
        ("TELEGRAM_CHAT_ID", None, CONFIG, "TELEGRAM_CHAT_ID is not set"),
        ("TELEGRAM_API_URL", "file:///etc/passwd", CONFIG, "is not an http(s) URL"),
    ],
)
@pytest.mark.parametrize("command", [("notify-test",), ("outbox", "flush")], ids=" ".join)
def test_telegram_settings_missing_or_hostile(
    run_case, monkeypatch, command, variable, value, code, says
):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAFake-token-for-bad-input")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001")
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    if command == ("outbox", "flush") and variable == "TELEGRAM_CHAT_ID":
        code = int(ExitCode.UNDELIVERED)  # a notification waits, with nowhere to go
    if command == ("outbox", "flush") and variable == "TELEGRAM_BOT_TOKEN":
        code, says = 0, ""  # notifications are simply off
    run_case(command, code, says)


# ---- the database: a directory, unreadable, read-only, full -----------------------------------

MINIMAL = {  # a valid invocation of every command
    ("broker", "check"): ("broker", "check"),
    ("broker", "login"): ("broker", "login", "abc123"),
    ("demo",): ("demo",),
    ("eod",): ("eod",),
    ("notify-test",): ("notify-test",),
    ("outbox", "flush"): ("outbox", "flush"),
    ("outbox", "list"): ("outbox", "list"),
    ("pending", "add"): ("pending", "add", "77", "--symbol", "TCS", "--side", "sell", "--qty", "3"),
    ("pending", "cancel"): ("pending", "cancel", "#2"),
    ("pending", "list"): ("pending", "list"),
    ("pending", "show"): ("pending", "show", "1"),
    ("reconcile",): ("reconcile",),
    ("report",): ("report", "--out", "-"),
    ("pnl",): ("pnl", "--json"),
    ("datasette-metadata",): ("datasette-metadata",),
    ("status",): ("status",),
    ("track", "add"): ("track", "add", "TCS", "--qty", "5"),
    ("track", "list"): ("track", "list"),
    ("track", "show"): ("track", "show", "INFY"),
    ("track", "stop"): ("track", "stop", "INFY"),
    ("verify",): ("verify",),
    ("schedule", "print"): ("schedule", "print"),
    ("schedule", "install"): ("schedule", "install", "--env-file", "/nonexistent/ot-env"),
    ("schedule", "remove"): ("schedule", "remove"),
    ("doctor",): ("doctor", "--offline"),
    ("events",): ("events", "--json"),
    ("listen",): ("listen", "--until", "23:59"),  # each case fails at the database first
    ("accounts", "add"): ("accounts", "add", "fam"),
    ("accounts", "list"): ("accounts", "list"),
    ("accounts", "remove"): ("accounts", "remove", "fam"),
    ("bot",): ("bot", "--wait", "0"),
}
WRITERS = {
    ("eod",),
    ("pending", "add"),
    ("pending", "cancel"),
    ("reconcile",),
    ("track", "add"),
    ("track", "stop"),
    ("verify",),
    ("listen",),
}
NO_DATABASE = {
    ("demo",): 0,
    ("notify-test",): CONFIG,  # (no TELEGRAM_BOT_TOKEN: exit 3)
    ("bot",): CONFIG,  # no TELEGRAM_BOT_TOKEN: exit 3 before the database is opened
    ("datasette-metadata",): 0,  # prints metadata; never opens the database
    # never open the database; no env file, no crontab here: exit 3
    ("schedule", "print"): 0,
    ("schedule", "install"): CONFIG,
    ("schedule", "remove"): CONFIG,
    ("doctor",): CONFIG,
    # Kite only: with the file broker it refuses before opening the database
    ("broker", "login"): USAGE,
    # accounts live in their own folders: the --db given is not theirs
    ("accounts", "add"): 0,
    ("accounts", "list"): 0,
    ("accounts", "remove"): CONFIG,  # no such account here
}


def test_the_exit_codes_are_the_documented_ones():
    assert {int(code) for code in ExitCode} == DOCUMENTED


def test_minimal_invocations_cover_every_command():
    assert set(MINIMAL) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_directory_instead_of_the_database(cli, stored, tmp_path, command):
    result = cli("--db", str(tmp_path), *MINIMAL[command])
    if command in NO_DATABASE:
        assert result.code == NO_DATABASE[command]
        return
    one_clear_line(result, DATABASE, "is a directory, not a database file")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unreadable_database(cli, stored, db_path, monkeypatch, command):
    before = tables(db_path)
    if os.geteuid() == 0:  # root reads any file: make the check fail as it would for a user
        original = os.access

        def denied(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
            return False if Path(path) == db_path else original(path, mode, *args, **kwargs)

        with monkeypatch.context() as m:
            m.setattr(os, "access", denied)
            result = cli(*MINIMAL[command])
    else:
        db_path.chmod(0o000)
        try:
            result = cli(*MINIMAL[command])
        finally:
            db_path.chmod(0o600)
    if command in NO_DATABASE:
        assert result.code == NO_DATABASE[command]
    else:
        one_clear_line(result, DATABASE, "permission denied")
    assert tables(db_path) == before


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A file this process cannot write: chmod for users, the immutable flag for root."""
    gc.collect()  # no forgotten connection of this process may keep the file open for writing
    if os.geteuid() != 0:
        path.chmod(0o400)
        try:
            yield
        finally:
            path.chmod(0o600)
        return
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0
    ):
        pytest.skip("root cannot make a read-only file here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_read_only_database(cli, stored, db_path, command):
    before = tables(db_path)
    with read_only(db_path):
        result = cli(*MINIMAL[command])
    if command in NO_DATABASE:
        assert result.code == NO_DATABASE[command]
    elif command in WRITERS:
        one_clear_line(result, DATABASE, "readonly database")
    else:
        one_clear_line(result, 0, "")
    assert tables(db_path) == before


@contextmanager
def disk_full(monkeypatch: pytest.MonkeyPatch, headroom: int = 4) -> Iterator[None]:
    """Every connection ordertrack opens meanwhile may grow the file by only a few pages: what a
    full disk does to SQLite (SQLITE_FULL). A tiny tmpfs is not available in CI."""
    real = db_module.migrate

    def full(db: Any, path: Any = "database") -> None:
        real(db, path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + headroom}")

    with monkeypatch.context() as m:
        m.setattr(db_module, "migrate", full)
        yield


def test_disk_full_during_an_import_imports_nothing(run_case, tmp_path, sql, monkeypatch):
    path = tmp_path / "orders.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"order_id": f"F{i}", "symbol": "INFY", "side": "buy", "qty": 1, "tag": "t" * 60}
            )
            + "\n"
            for i in range(3000)
        )
    )
    with disk_full(monkeypatch):
        run_case((*ADD, "--from", str(path)), DATABASE, "database or disk is full")
    assert sql("SELECT count(*) FROM orders") == [(2,)]
    assert sql("PRAGMA integrity_check") == [("ok",)]


def test_disk_full_during_verify_changes_no_order(cli, stored, sql, db_path, tmp_path, monkeypatch):
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(
            json.dumps({"order_id": f"F{i}", "symbol": "INFY", "side": "buy", "qty": 1}) + "\n"
            for i in range(1500)
        )
    )
    assert cli(*ADD, "--from", str(path)).code == 0
    stored.orders(
        *[
            kotak_row(f"F{i}", "complete", qty=1, filled=1, avg="10.00", reason="x" * 200)
            for i in range(1500)
        ]
    )
    before = tables(db_path)
    with disk_full(monkeypatch):
        result = cli("verify")
    one_clear_line(result, DATABASE, "database or disk is full")
    nothing_lost(before, tables(db_path), failed=True)
    assert sql("SELECT outcome FROM runs ORDER BY id DESC LIMIT 1") != [("ok",)]
    assert sql("PRAGMA integrity_check") == [("ok",)]
    assert cli("verify").code == 0  # room again: the next run applies it all
    assert sql("SELECT count(*) FROM orders WHERE status = 'EXECUTED'") == [(1500,)]


# ---- issue 12: input that used to end in "internal error" ------------------------------------


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("eod", "retention_days", "3000000"),
        ("verify", "stale_hours", "10000000000"),
        ("verify", "overdue_minutes", "99999999999"),
        ("reconcile", "settle_minutes", "10000000000"),
        ("lock", "lease_minutes", "9223372036854775807"),
        ("notify", "timeout_seconds", "inf"),
        ("notify", "timeout_seconds", "nan"),
        ("notify", "timeout_seconds", "1e300"),
    ],
)
@pytest.mark.parametrize("command", [("status",), ("eod",)], ids=" ".join)
def test_a_huge_or_endless_setting_is_a_config_error(
    run_case, tmp_path, monkeypatch, command, section, key, value
):
    path = tmp_path / "ordertrack.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(path))
    run_case(command, CONFIG, f"{section}.{key} must be")


def test_a_broken_character_in_a_stored_broker_row_is_shown_as_json(run_case, stored):
    stored.orders(
        kotak_row(
            "1", "cancelled", qty=10, filled=4, avg="1850.00", reason="Cancelled by RMS \ud83d"
        )
    )
    run_case(("verify",), 0)
    result = run_case(("pending", "show", "1", "--json"), 0)
    shown = json.loads(result.out)
    assert any(
        "Cancelled by RMS \ufffd" in json.dumps(e, ensure_ascii=False) for e in shown["events"]
    )


def test_the_python_api_on_a_full_disk_raises_ordertracks_error(stored, db_path, monkeypatch):
    from ordertrack import api
    from ordertrack.errors import DatabaseError

    with disk_full(monkeypatch, headroom=0), pytest.raises(DatabaseError) as caught:
        for n in range(2000):
            api.register_order(
                "INFY", "buy", 1, order_id=f"FULL{n:05d}" + "9" * 30, tag="t" * 60, db_path=db_path
            )
    assert "database or disk is full" in caught.value.message
    assert caught.value.exit_code == DATABASE
