"""`ordertrack demo`: the whole lifecycle on a throw-away database, no credentials, no network.

A scripted broker writes Kotak Neo order-book replies into a folder, and the real `verify`
reads them through the `file` broker, so the demo runs exactly the code a cron job runs.
"""

import json
import tempfile
import time as clock
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

from ordertrack.broker.kotak.format import sample_order_row
from ordertrack.cli import render
from ordertrack.config import Settings
from ordertrack.core.trading_calendar import Calendar, ist_date
from ordertrack.errors import UsageError
from ordertrack.jobs import commands, register
from ordertrack.timeutil import IST, utcnow

REJECTION = (
    "RMS:Margin Exceeds,Cash Available:5000.00,Additional margin required:"
    "890560.00 for entity account-XXXXX across exchange across segment across product"
)
Step = tuple[str, datetime, list[dict[str, Any]], list[dict[str, Any]]]


def _script(today: datetime, evening_before: datetime) -> list[Step]:
    """(title, time, orders the engine registers then, the order book then): `today` is a
    trading day's midnight, `evening_before` the previous trading day's."""
    amo = evening_before + timedelta(hours=20, minutes=25)
    opening = today + timedelta(hours=9, minutes=15)
    itbees = dict(
        order_id="260101000000001",
        symbol="ITBEES",
        side="buy",
        qty=45,
        price=38.75,
        amo=True,
        placed_at=amo.isoformat(),
    )
    infy = dict(
        order_id="260101000000002",
        symbol="INFY-EQ",
        side="buy",
        qty=100,
        price=1850,
        placed_at=opening.isoformat(),
    )
    tata = dict(
        order_id="260101000000003",
        symbol="TATASTEEL",
        side="buy",
        qty=30000,
        placed_at=opening.isoformat(),
    )
    row = sample_order_row
    queued = row(
        "260101000000001", "ITBEES", "after market order req received", 45, 0, "0.00", amo, amo=True
    )
    done = row("260101000000001", "ITBEES", "complete", 45, 45, "38.72", amo, amo=True)
    rejected = row("260101000000003", "TATASTEEL", "rejected", 30000, 0, "0.00", opening, REJECTION)
    return [
        (
            f"{amo:%a %d %b} 20:25, the trading day before: the engine places an after-market"
            " order (AMO) for ITBEES",
            amo + timedelta(minutes=1),
            [itbees],
            [queued],
        ),
        (
            f"{today:%a %d %b} 09:16: the market opens; the AMO executes; the engine buys INFY"
            " and TATASTEEL",
            opening + timedelta(minutes=1),
            [infy, tata],
            [done, row("260101000000002", "INFY", "open", 100, 40, "1849.85", opening), rejected],
        ),
        (
            "09:40: the rest of INFY fills",
            opening + timedelta(minutes=25),
            [],
            [
                done,
                row("260101000000002", "INFY", "complete", 100, 100, "1849.90", opening),
                rejected,
            ],
        ),
    ]


class Printer(Protocol):
    def print(self, *objects: Any, **kwargs: Any) -> None: ...


def run_demo(console: Printer, keep: Path | None = None) -> None:
    """With `keep`, the broker folder and database stay there to play with."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="ordertrack-demo-") as tmp:
            _play(console, Path(tmp))
        console.print("Demo finished; its database has been removed.")
        return
    _play(console, keep)
    _owned_now(keep / "broker")
    console.print(
        f"Demo finished; kept in {keep}. Try it:\n"
        f"  export ORDERTRACK_DB={keep / 'demo.db'} ORDERTRACK_BROKER=file "
        f"ORDERTRACK_BROKER_DIR={keep / 'broker'}\n"
        "  ordertrack pending list --all; ordertrack reconcile --dry-run\n"
        "The files are described in docs/file-broker.md.",
        soft_wrap=True,
    )


def _owned_now(folder: Path) -> None:
    """What the account owns after the demo's fills, so reconcile agrees. As holdings, with
    no positions: the holdings reply's generic field names keep Kotak's own in broker/kotak."""
    holdings = [{"symbol": "ITBEES", "quantity": 45}, {"symbol": "INFY", "quantity": 100}]
    (folder / "holdings.json").write_text(json.dumps({"data": holdings}), encoding="utf-8")
    (folder / "positions.json").write_text(
        json.dumps({"stat": "Ok", "stCode": 200, "data": []}), encoding="utf-8"
    )


def _play(console: Printer, base: Path) -> None:
    if (base / "demo.db").exists():
        raise UsageError(f"{base / 'demo.db'} exists already; choose an empty folder")
    folder = base / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    shell = commands.Shell.of(
        Settings(db_path=base / "demo.db", broker="file", broker_dir=folder), render.warn
    )
    try:
        _steps(console, shell, folder)
        commands.mute_waiting(shell)
    finally:
        shell.close()


def _session_day(console: Printer, calendar: Calendar) -> tuple[datetime, datetime]:
    """Today when it has a session, else the last trading day, said so: the demo never dates
    an order on a day the market is shut."""
    today = ist_date(utcnow())
    day = today if calendar.is_trading_day(today) else calendar.previous_trading_day(today)
    if day != today:
        console.print(
            f"No trading session today ({today:%a %d %b %Y}): simulating the last "
            f"trading day, {day:%a %d %b %Y}."
        )
    before = calendar.previous_trading_day(day)
    return (datetime.combine(day, time(), tzinfo=IST), datetime.combine(before, time(), tzinfo=IST))


def _steps(console: Printer, shell: commands.Shell, folder: Path) -> None:
    """Each step registers its orders, writes the order book, and runs the real verify entry
    at the step's moment."""
    db, settings = shell.open(), shell.settings
    day, evening_before = _session_day(console, settings.missing.calendar)
    console.print(f"Database: {settings.db_path}")
    for title, now, orders, rows in _script(day, evening_before):
        console.print(f"\n{title}")
        for raw in orders:
            register.register(db, raw, now)
            console.print(
                f"  pending add: {raw['order_id']} {raw['symbol']} {raw['side']} {raw['qty']}"
            )
        (folder / "orders.json").write_text(
            json.dumps({"stat": "Ok", "stCode": 200, "data": rows}), encoding="utf-8"
        )
        result = commands.verify(shell, now=now)
        for change in result.view.changes:
            after = change.after
            console.print(
                f"  verify: {after.symbol} is {after.status.value} "
                f"{after.filled_qty}/{after.qty} (broker: {after.broker_status})"
            )
        render.notifications(result.notices, result.queued)
    _listen(console, shell, folder, day)
    console.print()
    render.orders_table(commands.pending_list(shell, True, None, None).view, "All orders")
    render.tracking_table(commands.track_list(shell, False).view)


def _listen(console: Printer, shell: commands.Shell, folder: Path, day: date) -> None:
    """`listen` on the file broker: the broker's change to orders.json is heard within half a
    second and verified at once, instead of at the next 30-minute verify."""
    import threading

    from ordertrack.broker.file import FileStream
    from ordertrack.core.listen import Timing
    from ordertrack.jobs.listen import Listener

    console.print(
        "\nLater: `ordertrack listen` holds the broker's stream (here: orders.json);"
        " the engine sells 10 SBIN and the broker rejects it"
    )
    db, settings = shell.open(), shell.settings
    now = datetime.combine(day, time(11, 0), tzinfo=IST)  # the session being played, not today
    order_id = "260101000000004"
    sbin = dict(order_id=order_id, symbol="SBIN", side="sell", qty=10, placed_at=now.isoformat())
    register.register(db, sbin, now)
    book = json.loads((folder / "orders.json").read_text(encoding="utf-8"))["data"]

    def write(rows: list[dict[str, Any]]) -> None:
        (folder / "orders.json").write_text(
            json.dumps({"stat": "Ok", "stCode": 200, "data": rows}), encoding="utf-8"
        )

    write([*book, sample_order_row(order_id, "SBIN", "open", 10, 0, "0.00", now)])
    verified = threading.Semaphore(0)

    def once() -> dict[str, Any]:
        result = commands.verify(shell, trigger="push")
        for change in result.view.changes:
            console.print(
                f"  verify: {change.after.symbol} is {change.after.status.value}"
                f" (broker: {change.after.broker_status})"
            )
        if result.queued:
            render.notifications(result.notices, result.queued)
        verified.release()
        return {"outcome": "ok"}

    def emit(event: dict[str, Any]) -> None:
        if event["event"] == "push":
            console.print(f"  listen: heard an update for {event['order_id']}")
        elif event["event"] in ("connect", "verify"):
            console.print(
                f"  listen: {event['event']}"
                + (f" ({event['trigger']})" if event["event"] == "verify" else "")
            )

    timing = Timing(debounce=0.0, file_poll=0.05)  # one change: nothing to gather
    listener = Listener(
        settings,
        lambda: db,
        FileStream(folder, "kotak", timing),
        once,
        emit,
        utcnow() + timedelta(seconds=30),
        timing,
    )

    def broker() -> None:
        try:
            verified.acquire(timeout=10)  # the catch-up verify on connect
            clock.sleep(0.2)
            write(
                [
                    *book,
                    sample_order_row(order_id, "SBIN", "rejected", 10, 0, "0.00", now, REJECTION),
                ]
            )
            verified.acquire(timeout=10)
        finally:
            listener.stopping = True

    thread = threading.Thread(target=broker, daemon=True)
    thread.start()
    listener.run()
    thread.join(5)
