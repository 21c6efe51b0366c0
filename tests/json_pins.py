"""One fixed day run through the real CLI, capturing every `--json` output (issue 24: the
restructure must leave each byte as it is). `scripts/pin_json.py` writes the goldens from it;
`tests/test_json_pins.py` compares against them.

The day: the file broker, a frozen clock, five orders (one unconfirmed), two tracked symbols, a
manual trade for reconcile, a failed fetch, then the close of the day. Only the temporary folder
differs between machines, so only it is replaced (by `<tmp>`) in what is pinned.
"""

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from freezegun import freeze_time

from ordertrack.timeutil import IST
from tests.helpers import SESSION_EXPIRED, BrokerFiles, kotak_row

GOLDEN = Path(__file__).parent / "golden"
TMP = "<tmp>"


@dataclass(frozen=True)
class Output:
    name: str  # the golden file's stem
    argv: tuple[str, ...]
    code: int
    out: str


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@contextlib.contextmanager
def _environment(tmp: Path) -> Iterator[BrokerFiles]:
    """What tests/conftest.py's clean_env gives a test, for a run outside pytest as well."""
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith(("ORDERTRACK_", "KOTAK_", "KITE_", "TELEGRAM_")):
                del os.environ[name]
        files = BrokerFiles(tmp / "broker")
        os.environ.update(
            {
                "ORDERTRACK_DB": str(tmp / "ordertrack.db"),
                "COLUMNS": "200",
                "ORDERTRACK_CRONTAB": str(tmp / "no-crontab"),
                "HOME": str(tmp / "home"),
                "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
                "ORDERTRACK_BROKER": "file",
                "ORDERTRACK_BROKER_DIR": str(files.folder),
            }
        )
        yield files
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Runner:
    def __init__(self, tmp: Path) -> None:
        self.tmp = str(tmp)
        self.outputs: list[Output] = []

    def __call__(self, *argv: str) -> str:
        """Run a command that sets the day up; it must succeed."""
        code, out, err = self._run(argv)
        if code != 0:
            raise AssertionError(f"ordertrack {' '.join(argv)} exited {code}: {err}")
        return out

    def pin(self, name: str, *argv: str) -> None:
        code, out, _ = self._run(argv)
        self.outputs.append(Output(name, argv, code, out.replace(self.tmp, TMP)))

    @staticmethod
    def _run(argv: tuple[str, ...]) -> tuple[int, str, str]:
        from ordertrack.cli.app import run

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(argv))
        return code, out.getvalue(), err.getvalue()


def _register(cli: _Runner) -> None:
    cli("track", "add", "INFY", "--qty", "10")
    cli("track", "add", "ITC", "--qty", "40")
    cli("track", "add", "HDFCBANK", "--qty", "30")
    cli("track", "add", "TATAPOWER", "--qty", "5")
    for order_id, symbol, side, qty, price in [
        ("261123000000001", "INFY", "buy", "10", "1520.5"),
        ("261123000000002", "TCS", "sell", "5", "4100"),
        ("261123000000003", "SBIN", "buy", "100", "812"),
        ("261123000000004", "ITC", "buy", "40", "455.2"),
    ]:
        cli(
            "pending",
            "add",
            order_id,
            "--symbol",
            symbol,
            "--side",
            side,
            "--qty",
            qty,
            "--price",
            price,
        )
    cli(
        "pending",
        "add",
        "--symbol",
        "WIPRO",
        "--side",
        "buy",
        "--qty",
        "7",
        "--tag",
        "eng-42",
        "--amo",
        "--placed-at",
        "2026-11-22T20:25:02",
    )


# The broker stamps a row when it last changed (epoch ns, 09:59 IST that day): fixed per order
# here, where helpers.kotak_row would count on from whatever other tests built before.
STAMP = 1795408140000000000


def _row(order_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return kotak_row(order_id, status, updRecvTm=STAMP + int(order_id[-3:]) * 1000, **fields)


def _book(broker: BrokerFiles) -> None:
    placed = "23-Nov-2026 09:20:00"
    broker.orders(
        _row(
            "261123000000001",
            "complete",
            symbol="INFY",
            qty=10,
            filled=10,
            avg="1520.40",
            placed=placed,
        ),
        _row(
            "261123000000002",
            "rejected",
            side="S",
            symbol="TCS",
            qty=5,
            reason="RMS:Margin Exceeds,Cash Available:5000.00",
            placed=placed,
        ),
        _row(
            "261123000000003",
            "open",
            symbol="SBIN",
            qty=100,
            filled=40,
            avg="811.95",
            placed=placed,
        ),
        _row("261123000000004", "open", symbol="ITC", qty=40, placed=placed),
        _row(
            "261123000000005",
            "open",
            symbol="WIPRO",
            qty=7,
            tag="eng-42",
            placed="22-Nov-2026 20:25:02",
        ),
    )
    broker.history(
        "261123000000003",
        _row(
            "261123000000003",
            "open",
            symbol="SBIN",
            qty=100,
            filled=40,
            avg="811.95",
            placed=placed,
        ),
        _row("261123000000003", "open", symbol="SBIN", qty=100, placed=placed),
    )
    # INFY: 10 tracked + 10 bought today by the system; ITC: an order in flight; HDFCBANK: 10
    # sold by hand; TATAPOWER: 3 bought by hand; ONGC: owned, not tracked.
    broker.write(
        "holdings.json",
        {
            "data": [
                {"displaySymbol": "INFY", "quantity": 10},
                {"displaySymbol": "ITC", "quantity": 15},
                {"displaySymbol": "HDFCBANK", "quantity": 20},
                {"displaySymbol": "TATAPOWER", "quantity": 8},
                {"displaySymbol": "ONGC", "quantity": 12},
            ]
        },
    )
    broker.write(
        "positions.json",
        {
            "stat": "Ok",
            "stCode": 200,
            "data": [{"trdSym": "INFY-EQ", "flBuyQty": "10", "flSellQty": "0"}],
        },
    )


def _day(cli: _Runner, broker: BrokerFiles, tmp: Path) -> None:
    with freeze_time(ist(2026, 11, 23, 9, 25)) as clock:  # a Monday
        _register(cli)
        pin = cli.pin
        pin("pending-list-before-verify", "pending", "list", "--json")
        clock.move_to(ist(2026, 11, 23, 10, 0))
        _book(broker)
        pin("verify", "verify", "--json")
        clock.move_to(ist(2026, 11, 23, 10, 30))
        pin("verify-again", "verify", "--json")
        pin("verify-order-id", "verify", "--order-id", "261123000000003", "--json")
        pin("pending-list", "pending", "list", "--json")
        pin("pending-list-all", "pending", "list", "--all", "--json")
        pin("pending-list-status-rejected", "pending", "list", "--status", "rejected", "--json")
        pin("pending-list-all-symbol", "pending", "list", "--all", "--symbol", "INFY", "--json")
        pin("pending-show-partial", "pending", "show", "261123000000003", "--json")
        pin("pending-show-rejected", "pending", "show", "261123000000002", "--json")
        pin("pending-show-unconfirmed", "pending", "show", "#5", "--json")
        pin("track-list", "track", "list", "--json")
        pin("track-show", "track", "show", "INFY", "--json")
        pin("outbox-list", "outbox", "list", "--json")
        clock.move_to(ist(2026, 11, 23, 11, 0))
        pin("reconcile-dry-run", "reconcile", "--dry-run", "--json")
        pin("reconcile", "reconcile", "--json")
        pin("track-show-after-reconcile", "track", "show", "ITC", "--json")
        pin("track-list-all", "track", "list", "--all", "--json")
        pin("broker-check", "broker", "check", "--json")
        broker.write("orders.json", SESSION_EXPIRED)
        clock.move_to(ist(2026, 11, 23, 11, 30))
        pin("verify-broker-failed", "verify", "--json")
        pin("reconcile-broker-failed", "reconcile", "--json")
        pin("status", "status", "--json")
        pin("events", "events", "--json")
        pin("events-since-kind", "events", "--since", "3", "--kind", "EXECUTED,REJECTED", "--json")
        env_file = tmp / "home" / ".config" / "ordertrack" / "env"
        env_file.parent.mkdir(parents=True)
        # the settings the day runs with, as a deployment's env file would hold them for cron
        settings = ("ORDERTRACK_DB", "ORDERTRACK_BROKER", "ORDERTRACK_BROKER_DIR")
        env_file.write_text("".join(f"{k}={os.environ[k]}\n" for k in settings), encoding="utf-8")
        env_file.chmod(0o600)
        pin("doctor-offline", "doctor", "--offline", "--json")
        _book(broker)
        clock.move_to(ist(2026, 11, 23, 18, 0))
        pin("eod", "eod", "--json")
        pin("eod-again", "eod", "--json")
        pin("status-after-eod", "status", "--json")
        pin("outbox-list-after-eod", "outbox", "list", "--oldest", "--json")
        pin("outbox-list-sent", "outbox", "list", "--status", "SENT", "--json")
        pin("datasette-metadata", "datasette-metadata")
        pin("pnl", "pnl", "--json")
        _accounts(cli, broker, tmp)


def _accounts(cli: _Runner, broker: BrokerFiles, tmp: Path) -> None:
    """Issue 29: one account beside the day's set-up, its views pinned."""
    cli("accounts", "add", "family", "--broker", "file")
    env_file = tmp / "xdg-config" / "ordertrack" / "accounts" / "family.env"
    env_file.write_text(f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={broker.folder}\n")
    saved = os.environ.pop("ORDERTRACK_DB")  # with an account it is refused (exit 2)
    try:
        cli(
            "--account",
            "family",
            "pending",
            "add",
            "261123000000004",
            "--symbol",
            "ITC",
            "--side",
            "buy",
            "--qty",
            "40",
        )
        cli("--account", "family", "verify")
    finally:
        os.environ["ORDERTRACK_DB"] = saved
    cli.pin("accounts-list", "accounts", "list", "--json")
    cli.pin("status-all-accounts", "status", "--all-accounts", "--json")
    cli.pin("pnl-all-accounts", "pnl", "--all-accounts", "--json")
    cli.pin("doctor-all-accounts", "doctor", "--all-accounts", "--offline", "--json")


def collect() -> list[Output]:
    """Every pinned output of the day, in the order it ran."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(os.path.realpath(folder))
        with _environment(tmp) as broker:
            cli = _Runner(tmp)
            _day(cli, broker, tmp)
    return cli.outputs


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.json"


def codes(outputs: list[Output]) -> str:
    """The exit code and argv of each pinned run: a behaviour change there is one too."""
    table = {o.name: {"argv": list(o.argv), "exit_code": o.code} for o in outputs}
    return json.dumps(table, indent=2) + "\n"
