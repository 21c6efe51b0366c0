"""The command line: parse, open, call the core, render, exit. No logic of its own.

Start-up matters (an engine runs `pending add` per order): modules that pull in requests,
rich tables or the broker clients are imported inside the commands that use them."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ordertrack import __version__, config
from ordertrack.cli import render
from ordertrack.core import symbols
from ordertrack.core.models import Status
from ordertrack.core.trading_calendar import ist_date
from ordertrack.errors import (
    BrokerUnavailable,
    DatabaseProblem,
    ExitCode,
    OrdertrackError,
    UsageProblem,
)
from ordertrack.jobs import register, schedule
from ordertrack.store import listens, orders, outbox, runs, tracking
from ordertrack.store.db import open_db, schema_version
from ordertrack.store.events import MAX_INT
from ordertrack.text import one_line, redact
from ordertrack.timeutil import show, show_iso, utcnow

if TYPE_CHECKING:
    from ordertrack.store.db import Database

T = TypeVar("T")

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="ordertrack", add_completion=True, no_args_is_help=True, rich_markup_mode=None,
    pretty_exceptions_enable=False, context_settings=HELP_OPTIONS,
    help="Track the orders a trading engine places with the broker, and tell the trader. "
         "Shell completion: ordertrack --install-completion.",
)
pending_app = typer.Typer(no_args_is_help=True, context_settings=HELP_OPTIONS,
                          help="Orders the engine placed.")
track_app = typer.Typer(no_args_is_help=True, context_settings=HELP_OPTIONS,
                        help="The tracking scope: symbols and quantities.")
outbox_app = typer.Typer(no_args_is_help=True, context_settings=HELP_OPTIONS,
                         help="Notifications: waiting, sent, failed.")
app.add_typer(pending_app, name="pending")
app.add_typer(track_app, name="track")
app.add_typer(outbox_app, name="outbox")
broker_app = typer.Typer(no_args_is_help=True, context_settings=HELP_OPTIONS,
                         help="The broker connection.")
app.add_typer(broker_app, name="broker")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]


class Shell:
    """What every command needs: settings (read lazily, so --help needs none) and the db."""

    def __init__(self, db: Path | None, config_path: Path | None):
        self._db_path, self._config = db, config_path
        self._settings: config.Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.load(os.environ, self._db_path, self._config)
        return self._settings

    def open_for_registration(self) -> Database:
        """The database, even when a setting registration does not use is bad (a warning)."""
        if self._settings is None:
            self._settings, problem = config.load_for_registration(
                os.environ, self._db_path, self._config)
            if problem:
                render.warn(problem)
        return self.open()

    def open(self, create: bool = True) -> Database:
        """The database; a read-only command passes create=False and never makes one."""
        if self._db is None:
            self._db = open_db(self.settings.db_path, create=create)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _version(value: bool) -> None:
    if value:
        print(f"ordertrack {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[Path | None, typer.Option("--db", help="Database file [env ORDERTRACK_DB].")]
    = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="TOML settings file [env ORDERTRACK_CONFIG].")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    ctx.obj = Shell(db, config_file)
    render.COMMAND[0] = ctx.invoked_subcommand or "ordertrack"
    ctx.call_on_close(ctx.obj.close)


def _shell(ctx: typer.Context) -> Shell:
    return ctx.find_root().obj  # type: ignore[no-any-return]


# ---- pending ---------------------------------------------------------------------------------

# A constant, not an f-string in the annotation: annotations are evaluated from strings here.
FROM_HELP = (
    "Import many orders from a JSON-lines or .csv file ('-': JSON lines on stdin), all or "
    f"nothing. Fields: {', '.join(register.IMPORT_FIELDS)} (symbol, side and qty required). "
    'JSON line: {"order_id": "261130000012345", "symbol": "INFY", "side": "buy", '
    '"qty": 10, "price": 1520.5}. CSV: a header line "order_id,symbol,side,qty,price", '
    'then "261130000012345,INFY,buy,10,1520.5".')


def _broker_run(shell: Shell, command: str,
                body: Callable[[Database, int], T]) -> tuple[T, Database]:
    from ordertrack.jobs import runner

    return runner.broker_run(shell.settings, shell.open, command, body, render.warn)


@pending_app.command("add")
def pending_add(
    ctx: typer.Context,
    order_id: Annotated[str | None, typer.Argument(help="Broker order id, if known.")]
    = None,
    symbol: Annotated[str | None, typer.Option(help="Trading symbol, e.g. INFY or INFY-EQ.")]
    = None,
    side: Annotated[str | None, typer.Option(help="buy or sell.")] = None,
    qty: Annotated[int | None, typer.Option(help="Quantity ordered.")] = None,
    price: Annotated[float | None, typer.Option(help="Limit price.")] = None,
    amo: Annotated[bool, typer.Option("--amo", help="An after-market order.")] = False,
    placed_at: Annotated[str | None, typer.Option(
        help="When it was placed, ISO 8601 (no offset = IST). Default: now.")] = None,
    tag: Annotated[str | None, typer.Option(help="The tag sent with the order (Kotak 'ig').")]
    = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from", help=FROM_HELP)]
    = None,
    completes: Annotated[str | None, typer.Option(
        "--completes", metavar="#N",
        help="The unconfirmed order #N this broker order id belongs to.")] = None,
) -> None:
    """Register an order the engine placed. Re-adding the same order is a no-op.

    Example: ordertrack pending add 250122000700111 --symbol INFY --side buy --qty 100
    """
    if from_file is None:
        _required(symbol=symbol, side=side, qty=qty)
    db = _shell(ctx).open_for_registration()
    if from_file is not None:
        if any(v is not None for v in (order_id, symbol, side, qty, price, placed_at, tag,
                                       completes)) or amo:
            raise UsageProblem("--from cannot be combined with an order id or order options")
        counts = register.import_file(db, from_file, utcnow())
        render.console.print(f"Imported {render.plural(counts['added'], 'order')} "
                             f"({counts['unchanged']} already registered).")
        return
    outcome, local_id = register.register_order(
        db, utcnow(), symbol=symbol, side=side, qty=qty, order_id=order_id, price=price,
        amo=amo, placed_at=placed_at, tag=tag, completes=completes)
    name = order_id or f"#{local_id} (unconfirmed: verify will find its broker id)"
    said = {"added": "registered", "unchanged": "already registered",
            "resolved": f"registered: it completes unconfirmed order #{local_id}"}
    render.console.print(f"Order {name} {said[outcome]}.")


def _required(**given: object) -> None:
    """The first missing option of an order, by its flag."""
    examples = {"symbol": "--symbol INFY", "side": "--side buy", "qty": "--qty 10"}
    for name, value in given.items():
        if value is None:
            raise UsageProblem(f"--{name} is required (e.g. {examples[name]})")


@pending_app.command("cancel")
def pending_cancel(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="Broker order id, or #N for an unconfirmed one.")],
    reason: Annotated[str | None, typer.Option(help="Why, kept with the order.")] = None,
) -> None:
    """Withdraw a mistaken registration: it ends locally as CANCELLED ("withdrawn by user").

    Nothing is sent to the broker. An order with fills is refused (it is real).
    Example: ordertrack pending cancel '#3' --reason "engine retried"
    """
    shell = _shell(ctx)
    row = register.withdraw(shell.open(), order_id, reason, utcnow(),
                            shell.settings.lock_wait_seconds,
                            timedelta(minutes=shell.settings.lock_lease_minutes))
    render.console.print(f"Order {order_id} withdrawn: CANCELLED ({row['reason']}).")


@pending_app.command("list")
def pending_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include finished orders.")] = False,
    status: Annotated[str | None, typer.Option(
        help=f"Only this status: {', '.join(Status.__members__)}.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Open orders (all with --all) as a table, or JSON."""
    if status is not None:
        status = status.strip().upper()
        if status not in Status.__members__:
            raise UsageProblem(f"--status must be one of {', '.join(Status.__members__)}")
    sym = symbols.normalise(symbol) if symbol else None
    rows = orders.query_orders(_shell(ctx).open(create=False), all_=all_, status=status,
                              symbol=sym)
    if json_:
        render.emit_json([render.order_json(r) for r in rows])
    else:
        render.orders_table(rows, "Orders" if all_ or status else "Open orders")


@pending_app.command("show")
def pending_show(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="Broker order id, or #N for an unconfirmed one.")],
    json_: JsonFlag = False,
) -> None:
    """One order with its full event history; an open one with how many successful fetches
    have missed it and when it may expire."""
    shell = _shell(ctx)
    db = shell.open(create=False)
    row = orders.find_order(db, order_id)
    if row is None:
        raise UsageProblem(f"order {order_id} is not registered" + _local_hint(db, order_id))
    events = orders.events_of(db, row["id"])
    expiry = _expiry(row, shell.settings)
    if json_:
        render.emit_json({"order": render.order_json(row),
                          "events": [render.event_json(e) for e in events], "expiry": expiry})
    else:
        render.order_detail(row, events)
        render.expiry_line(expiry)


def _expiry(row: dict[str, Any], settings: config.Settings) -> dict[str, Any] | None:
    """For an open order: the fetches that missed it, and when it becomes eligible for expiry."""
    order = orders.order_from_row(row)
    if not order.status.is_open:
        return None
    rules = settings.missing
    return {"missed_fetches": order.missing_count, "fetches_needed": rules.runs,
            "missing_since": show_iso(order.missing_since),
            "eligible_from": show_iso(rules.deadline(order))}


def _local_hint(db: Database, order_id: str) -> str:
    """'3' was most likely meant as the unconfirmed order #3."""
    if order_id.isdigit() and orders.find_order(db, f"#{order_id}") is not None:
        return f"; did you mean '#{order_id}' (an order without a broker id yet)?"
    return ""


# ---- track -----------------------------------------------------------------------------------


@track_app.command("list")
def track_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include stopped symbols.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Symbols the system owns, with the quantity it owns."""
    rows = tracking.listing(_shell(ctx).open(create=False), all_=all_)
    if json_:
        render.emit_json([render.tracking_json(r) for r in rows])
    else:
        render.tracking_table(rows)


@track_app.command("add")
def track_add(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol to track.")],
    qty: Annotated[int, typer.Option(min=0, max=register.MAX_QTY,
                                     help="Quantity the system owns now.")] = 0,
) -> None:
    """Start tracking a symbol (fills of system orders keep its quantity up to date)."""
    db = _shell(ctx).open()
    name = register.checked_symbol(symbol)
    outcome = register.track(db, name, qty, utcnow())
    render.console.print(f"{name}: {'now tracked' if outcome == 'added' else 'already tracked'}"
                         f" with quantity {qty}.")


@track_app.command("show")
def track_show(
    ctx: typer.Context, symbol: Annotated[str, typer.Argument(help="Tracked symbol.")],
    json_: JsonFlag = False,
) -> None:
    """One symbol with every change of its tracked quantity and what caused it."""
    db = _shell(ctx).open(create=False)
    name = register.checked_symbol(symbol)
    row = tracking.get(db, name)
    if row is None:
        raise UsageProblem(f"{name} has never been tracked")
    history = tracking.changes(db, name)
    if json_:
        render.emit_json({**render.tracking_json(row),
                          "changes": [render.change_json(c) for c in history]})
    else:
        render.tracking_table([row])
        render.changes_table(history)


@track_app.command("stop")
def track_stop(
    ctx: typer.Context, symbol: Annotated[str, typer.Argument(help="Symbol to stop tracking.")]
) -> None:
    """Stop tracking a symbol (its history is kept)."""
    db = _shell(ctx).open()
    name = register.checked_symbol(symbol)
    register.untrack(db, name, utcnow())
    render.console.print(f"{name}: tracking stopped.")


# ---- outbox ----------------------------------------------------------------------------------


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        help="PENDING, SENT, FAILED, DIGESTED or OFF.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="At most this many rows.")] = 200,
    oldest: Annotated[bool, typer.Option("--oldest", help="Oldest first (default: newest "
                                         "first, so recent ones are within --limit).")] = False,
    json_: JsonFlag = False,
) -> None:
    """Notifications waiting, sent and failed, newest first, with each chat's delivery and last
    error."""
    if status is not None and status.upper() not in outbox.STATUSES:
        raise UsageProblem(f"--status must be one of {', '.join(outbox.STATUSES)}")
    db = _shell(ctx).open(create=False)
    rows = outbox.with_deliveries(db, outbox.listing(db, status.upper() if status else None,
                                                     limit=limit, newest_first=not oldest))
    if json_:
        render.emit_json([render.outbox_json(r) for r in rows])
    else:
        render.outbox_table(rows)


def _deliver(shell: Shell, db: Database, show_summary: bool = True, always: bool = False,
             run_id: int | None = None) -> None:
    """Deliver what the outbox holds; exit 6 if any is kept."""
    from ordertrack.jobs import runner

    report, undelivered = runner.deliver(db, shell.settings, run_id)
    if show_summary:
        render.delivery(report, always)
    if undelivered is not None:
        raise undelivered


@outbox_app.command("flush")
def outbox_flush(
    ctx: typer.Context,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="First re-queue deliveries that failed for good (after a fix).")]
    = False,
) -> None:
    """Deliver waiting notifications to Telegram now. Exit 6 if any could not be delivered.

    Example: ordertrack outbox flush --retry-failed
    """
    from ordertrack.notify import delivery

    shell = _shell(ctx)
    db = shell.open()
    if retry_failed:
        requeued = delivery.requeue_failed(db, shell.settings)
        said = render.plural(requeued, "failed delivery", "failed deliveries")
        render.console.print(f"Re-queued {said}.")
    _deliver(shell, db, always=True)


@app.command("notify-test")
def notify_test(ctx: typer.Context) -> None:
    """Prove the Telegram set-up: check the token (getMe), then send a test message to every
    chat. A failure names its cause and fix; exit 3 for set-up problems, 6 for delivery ones.

    Example: ordertrack notify-test
    """
    from ordertrack import net
    from ordertrack.notify import selftest

    with net.budget():
        checks = selftest.self_test(_shell(ctx).settings, utcnow())
    render.self_test(checks)
    if code := selftest.exit_code(checks):
        raise typer.Exit(int(code))


# ---- broker ----------------------------------------------------------------------------------


@broker_app.command("check")
def broker_check(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Log in (or reuse today's session), then read the order book, holdings and positions
    and print their counts. Changes no order. Exit code 4 when the broker fails.

    Example: ordertrack broker check --json
    """
    from ordertrack.broker.base import make_broker

    shell = _shell(ctx)
    broker = make_broker(shell.settings, shell.open())
    counts = {}
    for name, fetch in (("order_book", broker.order_book), ("holdings", broker.holdings),
                        ("positions", broker.positions)):
        result = fetch()
        if not result.usable:
            raise BrokerUnavailable(f"{name.replace('_', ' ')} fetch failed: {result.error}")
        counts[name] = len(result.items)
    session = getattr(broker, "session", None)  # the file broker has none
    fresh = getattr(broker, "logged_in_now", False)  # a broker with a session says how it got it
    if json_:
        render.emit_json({"broker": broker.name, **counts, "session": session and {
            "logged_in_now": fresh, "logged_in_at": show_iso(session.created_at),
            "expires_at": show_iso(session.expires_at)}})
        return
    if session is not None:
        until = show(session.expires_at) if session.expires_at else "the end of the IST day"
        render.console.print(f"Session: {'logged in now' if fresh else 'reused'}"
                             f" (since {show(session.created_at)}), valid until {until}")
    render.console.print(", ".join(f"{k.replace('_', ' ').capitalize()}: {v}"
                                   for k, v in counts.items()))


@broker_app.command("login")
def broker_login(
    ctx: typer.Context,
    redirect: Annotated[str | None, typer.Argument(
        help="The URL your browser lands on after the Kite login, or the bare request_token;"
             " read from stdin when left out.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Kite only: the daily login. Prints the login URL; give it the redirect URL (or the bare
    request_token) and it stores today's access token for the scheduled runs.

    Example: ordertrack broker login 'https://example.com/?request_token=abc123&status=success'
    """
    from ordertrack import net

    shell = _shell(ctx)
    if shell.settings.broker != "kite":
        raise UsageProblem("'broker login' is for ORDERTRACK_BROKER=kite; Kotak Neo logs in by"
                           " itself on each run")
    from ordertrack.broker.kite.client import MAX_REDIRECT, KiteClient

    client = KiteClient.from_settings(shell.settings, shell.open())
    sys.stderr.write(f"Log in at: https://{client.login_url}\n")
    if redirect is None:
        if sys.stdin.isatty():
            sys.stderr.write("Paste the URL your browser lands on (or the request_token): ")
            sys.stderr.flush()
        redirect = sys.stdin.readline(MAX_REDIRECT + 1)  # more is refused, never read whole
    with net.budget():
        token = client.exchange(redirect)
    if json_:
        render.emit_json({"broker": "kite", "user_id": token.user_id,
                          "logged_in_at": show_iso(token.created_at),
                          "expires_at": show_iso(token.expires_at)})
        return
    render.console.print(f"Kite access token stored (user {token.user_id or 'unknown'}),"
                         f" valid until {show(token.expires_at)}")


# ---- verify, status, demo ------------------------------------------------------------------


@app.command()
def verify(
    ctx: typer.Context,
    order_id: Annotated[str | None, typer.Option("--order-id", help="Check only this order.")]
    = None,
    json_: JsonFlag = False,
) -> None:
    """Fetch the order book once, advance every open order, queue notifications and deliver
    them. Exit 6 when a notification could not be delivered (it is kept for the next run)."""
    from ordertrack.broker.base import make_broker
    from ordertrack.jobs import verify as verify_job

    shell = _shell(ctx)

    def start() -> tuple[Any, Database]:
        broker = make_broker(shell.settings, shell.open())
        return _broker_run(shell, "verify", lambda db, run_id: verify_job.run(
            db, broker, shell.settings, utcnow(), order_id, run_id))

    result, db = _json_on_broker_error(json_, start)
    queued = outbox.run_count(db, result.run_id)  # 10,000 rendered texts took 0.7 s
    if json_:
        render.emit_json({"book": result.book, **result.counts, "notifications": queued,
                          "skipped_rows": result.skipped_rows})
    else:
        render.counts_line("Verify", result.counts)
        if result.skipped_rows:
            render.console.print(f"{result.skipped_rows} order-book rows had no order id or"
                                 " numbers that cannot be true, and were ignored")
        render.notifications(outbox.listing(db, run_id=result.run_id, limit=render.MAX_LINES),
                             queued)
    _deliver(shell, db, show_summary=not json_, run_id=result.run_id)


@app.command()
def reconcile(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write "
                                          "nothing.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Compare broker holdings (+ today's positions) with tracked quantities; detect and apply
    manual trades."""
    from ordertrack.broker.base import make_broker
    from ordertrack.jobs import reconcile as reconcile_job

    shell = _shell(ctx)
    command = "reconcile --dry-run" if dry_run else "reconcile"

    def start() -> tuple[Any, Database]:
        broker = make_broker(shell.settings, shell.open())
        return _broker_run(shell, command, lambda db, run_id: reconcile_job.run(
            db, broker, shell.settings, utcnow(), dry_run, run_id))

    result, db = _json_on_broker_error(json_, start)
    if json_:
        render.emit_json({"dry_run": dry_run, **result.counts,
                          "decisions": [render.decision_json(d) for d in result.decisions]})
    else:
        render.decisions_table(result.decisions, dry_run)
    if not dry_run:
        if not json_:
            queued = outbox.listing(db, run_id=result.run_id)
            render.notifications(queued, len(queued))
        _deliver(shell, db, show_summary=not json_, run_id=result.run_id)


@app.command()
def eod(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """End of day: force-verify, expire stale orders, daily summary (once per trading day),
    archive finished tracking, check and back up the database."""
    from ordertrack.broker.base import make_broker
    from ordertrack.jobs import eod as eod_job
    from ordertrack.jobs import runner

    shell = _shell(ctx)
    broker = make_broker(shell.settings, shell.open())
    result, db = _broker_run(shell, "eod", lambda db, run_id: eod_job.run(
        db, broker, shell.settings, utcnow(), run_id))
    if json_:
        render.emit_json(render.eod_json(result))
    else:
        render.console.print(result.closing_line(ist_date(utcnow())))
        render.eod_view(result)
        alerts = [r for r in outbox.listing(db, run_id=result.run_id)
                  if r["kind"] != "DAILY_SUMMARY"]
        render.notifications(alerts, len(alerts))
    # the summary goes out now, not with tomorrow's first verify
    report, undelivered = runner.deliver(db, shell.settings,
                                         None if result.broker_error else result.run_id)
    if not json_:
        render.delivery(report)
    if problem := result.failure(undelivered):
        raise problem


def _json_on_broker_error(json_: bool, body: Callable[[], T]) -> T:
    """Monitoring parses every --json run: a broker failure (exit 4) is JSON too, as eod's."""
    try:
        return body()
    except BrokerUnavailable as exc:
        if json_:
            render.emit_json({"broker": "failed", "broker_error": redact(exc.message),
                              "exit_code": int(exc.exit_code)})
        raise


@app.command()
def status(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Last run of each command and its outcome; open orders; the outbox."""
    from ordertrack.jobs import runner
    from ordertrack.notify import delivery, policy

    shell = _shell(ctx)
    db = shell.open(create=False)
    settings = shell.settings
    order_counts = orders.count_by_status(db)
    data: dict[str, Any] = {
        "database": str(settings.db_path), "schema": schema_version(db),
        "broker": settings.broker,
        "notifications": policy.describe(settings),
        "telegram_chats": delivery.chat_summary(db),
        "orders": {s.value: order_counts.get(s.value, 0) for s in Status},
        "tracked_symbols": len(tracking.listing(db, all_=False)),
        "outbox": {s: outbox.count(db, s) for s in ("PENDING", "SENT", "FAILED")},
        "runs": runs.last_runs(db),
        "overdue": [late.text for late in runner.overdue(db, settings)],
    }
    if listen_row := listens.latest(db):  # only once `listen` has run: older outputs unchanged
        data["listen"] = listen_row
    if json_:
        render.emit_json({**data, "runs": [render.run_json(r) for r in data["runs"]]})
    else:
        render.status_view(data)


@app.command()
def demo(keep: Annotated[Path | None, typer.Option(
        "--keep", metavar="DIR", help="Leave the broker folder and database in DIR to play with "
        "(see docs/file-broker.md).")] = None) -> None:
    """A full order lifecycle on a throw-away database with a simulated broker."""
    from ordertrack.cli.demo import run_demo

    run_demo(render.console, keep)


# ---- entry point -----------------------------------------------------------------------------


def _fail(message: str, code: ExitCode) -> int:
    prefix = f"{render.log_prefix()} " if render.log_mode() else ""
    sys.stderr.write(f"{prefix}ordertrack: {one_line(redact(message))}\n")
    return int(code)


_ROOT_OPTIONS = ("--db", "--config")


def _usage(exc: typer.TyperException) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        sys.stdout.write(exc.format_message() + "\n")
        return int(ExitCode.OK)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    name = getattr(exc, "option_name", "")
    if type(exc).__name__ == "NoSuchOption" and name in _ROOT_OPTIONS and ctx is not None:
        hint = (f": {name} belongs before the command, e.g. "
                f"'ordertrack {name} ... {ctx.command_path.removeprefix('ordertrack ')} ...'")
    return _fail(exc.format_message().replace("\n", " ") + hint, ExitCode.USAGE)


def run(argv: list[str] | None = None) -> int:
    code = _run(argv)
    # Last, so the monitor learns the real exit code; only a run that began a ping loaded it.
    ping = sys.modules.get("ordertrack.notify.ping")
    if ping is not None and (note := ping.end(code)):
        render.warn(note)
    return code


def _run(argv: list[str] | None) -> int:
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="ordertrack", standalone_mode=False)
        if rv == ExitCode.INTERRUPTED:  # typer turns Ctrl-C into a silent Exit(130)
            return _fail("interrupted", ExitCode.INTERRUPTED)
        return rv if isinstance(rv, int) else 0
    except typer.TyperException as exc:  # typer's own (vendored click) usage errors
        return _usage(exc)
    except typer.Abort:
        return _fail("interrupted", ExitCode.INTERRUPTED)
    except OrdertrackError as exc:
        return _fail(exc.message, exc.exit_code)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return _fail("the database stayed locked by another program; try again",
                         ExitCode.LOCKED)
        return _fail(f"database error: {exc}", ExitCode.DATABASE)
    except sqlite3.DatabaseError as exc:
        return _fail(f"database error: {exc}", ExitCode.DATABASE)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("ORDERTRACK_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} "
                     "(set ORDERTRACK_DEBUG=1 for a traceback)", ExitCode.INTERNAL)


def main() -> None:
    sys.exit(run())


# ---- report (issue 18) -----------------------------------------------------------------------


@app.command("report")
def report_command(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--day", help="One IST day, YYYY-MM-DD "
                                            "[default: today].")] = None,
    week: Annotated[bool, typer.Option("--week", help="The seven days ending today.")] = False,
    first: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day [default: today].")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="File to write, '-' for stdout [default: ordertrack-report-<period>.html "
        "in the current folder].")] = None,
) -> None:
    """A self-contained HTML report: the day at a glance, order timeline, rejections, tracked
    quantities, run health and notifications."""
    from ordertrack.jobs import report
    from ordertrack.store import report_data

    period = report_data.period(ist_date(utcnow()), day, week, first, last)
    shell = _shell(ctx)
    if not shell.settings.db_path.expanduser().exists():
        raise DatabaseProblem(f"no database at {shell.settings.db_path}: nothing to report")
    db = shell.open()
    data = report_data.gather(db, period, shell.settings.missing.calendar, utcnow())
    page = report.render(data)
    if str(out) == "-":
        sys.stdout.write(page)
        return
    target = out or Path(report.default_name(period))
    try:
        report.write(page, target)
    except OSError as exc:
        raise UsageProblem(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"report written to {target}")


@app.command("datasette-metadata")
def datasette_metadata(ctx: typer.Context) -> None:
    """Print a datasette metadata file: table descriptions and canned queries (datasette is not
    a dependency: `datasette ordertrack.db --metadata FILE`)."""
    from ordertrack.store import datasette

    render.emit_json(datasette.metadata(_shell(ctx).settings.db_path.stem))
# ---- schedule, doctor (issue 11) -------------------------------------------------------------

schedule_app = typer.Typer(no_args_is_help=True, help="The cron lines or systemd timers that run "
                           "verify, reconcile and eod at IST times on this host.")
app.add_typer(schedule_app, name="schedule")

SystemdFlag = Annotated[bool, typer.Option("--systemd", help="systemd user timers instead of "
                                           "crontab lines.")]
EnvFileOption = Annotated[Path, typer.Option(
    "--env-file", help="Settings and secrets the jobs source (chmod 600).")]
LogOption = Annotated[Path | None, typer.Option(
    "--log", help="Log file the jobs append to. Default: beside the database.")]
EveryOption = Annotated[int, typer.Option(
    "--every", min=1, max=30, metavar="N",
    help="Run verify every N minutes (1-30) in the session; default 30.")]


def _schedule_paths(ctx: typer.Context, env_file: Path, log: Path | None) -> schedule.Paths:
    """Paths as cron will see them: --db/--config given here go on the line; otherwise the
    env file (which cron sources) decides the database, and the log sits beside it."""
    shell = _shell(ctx)
    env_file = Path(os.path.abspath(env_file.expanduser()))
    sourced = schedule.read_env_file(env_file)
    db_path = shell._db_path or config.load(sourced).db_path

    def absolute(p: Path | None) -> Path | None:
        return None if p is None else Path(os.path.abspath(p.expanduser()))

    return schedule.Paths(schedule.this_executable(), env_file,
                          absolute(log or db_path.parent / "ordertrack.log"),  # type: ignore
                          absolute(shell._db_path), absolute(shell._config))


def _record_cadence(paths: schedule.Paths, every: int) -> None:
    """The polling cadence goes in the database the jobs will use, so the report's slots and
    the overdue checks follow what is installed."""
    target = paths.db or config.load(schedule.read_env_file(paths.env_file)).db_path
    db = open_db(target)
    try:
        runs.record_cadence(db, every)
    finally:
        db.close()


@schedule_app.command("print")
def schedule_print(ctx: typer.Context, systemd: SystemdFlag = False,
                   env_file: EnvFileOption = Path(schedule.DEFAULT_ENV_FILE),
                   log: LogOption = None, every: EveryOption = 30) -> None:
    """Show what 'install' would write, each cron line with its next firing in IST."""
    paths = _schedule_paths(ctx, env_file, log)
    jobs = schedule.jobs(every)
    if systemd:
        for name, text in schedule.systemd_units(paths, jobs).items():
            sys.stdout.write(f"# {schedule.systemd_dir() / name}\n{text}\n")
        return
    zone, name = schedule.host_zone()
    now = utcnow()
    for line in schedule.cron_block(paths, zone, name, now.astimezone(zone).date(),
                                    jobs).splitlines():
        if line.startswith("#"):
            sys.stdout.write(line + "\n")  # data to paste, never log-prefixed
            continue
        when = schedule.next_firing(line, zone, now)
        sys.stdout.write(f"{line}\n#   next: {show(when) if when else 'never'}\n")


@schedule_app.command("install")
def schedule_install(ctx: typer.Context, systemd: SystemdFlag = False,
                     env_file: EnvFileOption = Path(schedule.DEFAULT_ENV_FILE),
                     log: LogOption = None, every: EveryOption = 30) -> None:
    """Install the schedule: ordertrack's block in your crontab (the rest is left as it is), or
    systemd user timers with --systemd. Idempotent. Refuses an env file others can read."""
    paths = _schedule_paths(ctx, env_file, log)
    schedule.check_env_file(paths.env_file)
    paths.log_file.parent.mkdir(parents=True, exist_ok=True)
    jobs = schedule.jobs(every)
    _record_cadence(paths, every)
    if systemd:
        folder = schedule.systemd_dir()
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in schedule.systemd_units(paths, jobs).items():
            (folder / name).write_text(text, encoding="utf-8")
        timers = " ".join(f"ordertrack-{job.command}.timer" for job in schedule.JOBS)
        render.console.print(f"Wrote {len(schedule.JOBS) * 2} units to {folder}. Now run:\n"
                             f"  systemctl --user daemon-reload\n"
                             f"  systemctl --user enable --now {timers}\n"
                             f"  loginctl enable-linger {os.environ.get('USER', '$USER')}"
                             "   # so they run while you are logged out")
        if not schedule.HOST.systemd_running.is_dir():
            render.warn("systemd is not running on this host, so these timers will never "
                        "fire: use cron ('ordertrack schedule install' without --systemd)")
        return
    zone, name = schedule.host_zone()
    block = schedule.cron_block(paths, zone, name, utcnow().astimezone(zone).date(), jobs)
    schedule.write_crontab(schedule.replace_block(schedule.read_crontab(), block))
    lines = sum(1 for line in block.splitlines() if not line.startswith("#"))
    render.console.print(f"Installed {lines}"
                         f" cron lines (host zone {name}); log: {paths.log_file}. "
                         "Check with 'ordertrack doctor'.")
    trouble = schedule.cron_trouble()
    if trouble:
        render.warn(f"{trouble.detail}: {trouble.fix}")
    if schedule.has_dst(zone, utcnow().year):
        render.warn(f"host zone {name} has daylight saving: these lines are right until the "
                    "next change; re-run 'ordertrack schedule install' then, or use "
                    "'ordertrack schedule install --systemd' (timers in Asia/Kolkata)")


@schedule_app.command("remove")
def schedule_remove(ctx: typer.Context, systemd: SystemdFlag = False) -> None:
    """Remove ordertrack's crontab block (or its systemd user units)."""
    if systemd:
        folder = schedule.systemd_dir()
        removed = [p for p in folder.glob("ordertrack-*.*")
                   if p.suffix in (".service", ".timer")]
        for path in removed:
            path.unlink()
        render.console.print(f"Removed {len(removed)} units from {folder}; run "
                             "'systemctl --user daemon-reload'.")
        return
    current = schedule.read_crontab()
    if not schedule.our_block(current) and schedule.BEGIN not in current:
        render.console.print("No ordertrack lines in the crontab.")
        return
    schedule.write_crontab(schedule.replace_block(current, ""))
    render.console.print("Removed ordertrack's lines from the crontab.")


@app.command()
def doctor(
    ctx: typer.Context,
    offline: Annotated[bool, typer.Option("--offline", help="Skip the checks that need the "
                                          "network: broker, Telegram, clock, ping URL.")] = False,
    send: Annotated[bool, typer.Option("--send", help="Send a real test message to every "
                                       "chat (as notify-test) instead of only reaching it.")]
    = False,
    env_file: Annotated[Path | None, typer.Option(
        "--env-file", help="The env file the scheduled runs source: checked, and read into a "
        "bare environment as cron does. Default: the installed schedule's, else "
        "~/.config/ordertrack/env.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Check the deployment as cron will see it (the env file in a bare environment, not this
    shell): settings, database, env file, broker, Telegram, the installed schedule and whether
    anything will run it, the clock, the ping URL. One line per check; exit 0 only when all
    pass, else 3.

    Example: ordertrack doctor --offline
    """
    from ordertrack.jobs import doctor as doctor_core

    shell = _shell(ctx)
    results = doctor_core.run(doctor_core.context(os.environ, shell._db_path, shell._config,
                                                  env_file, offline, send, utcnow()))
    passed = all(r.ok for r in results)
    if json_:
        render.emit_json({"ok": passed, "checks": [r.json() for r in results]})
    else:
        for r in results:
            label, line = (("skipped", f"{r.check}: {r.detail.removeprefix('skipped: ')}")
                           if r.skipped else ("ok", f"{r.check}: {r.detail}") if r.ok else
                           ("PROBLEM", f"{r.check}: {r.detail} — fix: {r.fix}"))
            render.hanging(f"{label:<9}", line)
    if not passed:
        raise typer.Exit(int(ExitCode.CONFIG))


# ---- events ----------------------------------------------------------------------------------


@app.command("events")
def events_cmd(
    ctx: typer.Context,
    since: Annotated[int, typer.Option(
        "--since", min=0, max=MAX_INT,
        help="Only events after this id (the last one you handled).")] = 0,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Only these kinds, comma-separated: EXECUTED,REJECTED,…")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=MAX_INT,
                                              help="At most this many events.")] = None,
    follow: Annotated[int, typer.Option(
        "--follow-up-to", min=0, max=3600, metavar="SECONDS",
        help="Then keep printing new events as they are recorded, for up to this many seconds"
             " (0-3600).")] = 0,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON lines (docs/events.md).")]
    = False,
) -> None:
    """Every recorded event, oldest first: order changes, tracking changes, manual trades, run
    alerts. Each has an increasing id; pass the last one handled as --since to resume after it.

    Example: ordertrack events --since 41 --kind EXECUTED,REJECTED --json
    Example: ordertrack events --since 41 --follow-up-to 300 --json   (like tail -f, 5 minutes)
    """
    import json  # imported here to keep this command in one block (an easy merge)

    from ordertrack.store import events as feed

    kinds = feed.checked_kinds((kind or "").split(","))
    db = _shell(ctx).open(create=False)
    for event in feed.follow(db, since, kinds, limit, follow):
        if json_:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        else:
            render.hanging(f"{event['id']:>6}  ", _event_line(event))
        if follow:
            sys.stdout.flush()  # a reader on a pipe sees each event as it is recorded


def _event_line(e: dict[str, Any]) -> str:
    from ordertrack.timeutil import from_db

    what = " ".join(str(e[k]) for k in ("side", "qty", "symbol") if e[k] is not None)
    extra = ", ".join(f"{k} {e[k]}" for k in ("order_id", "filled_qty", "avg_price",
                                             "tracked_qty", "reason") if e[k] is not None)
    return one_line(f"{show(from_db(e['at']))}  {e['kind']:<16} {what}"
                    + (f" — {extra}" if extra else ""))


# ---- listen (issue 25) -----------------------------------------------------------------------


@app.command("listen")
def listen_command(
    ctx: typer.Context,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="HH:MM", help="Today's IST time to stop at (default 15:35).")] = None,
    json_: Annotated[bool, typer.Option(
        "--json", help="One JSON object a line for each connect, disconnect, push and verify.")]
    = False,
) -> None:
    """Hold the broker's order-update stream until --until: each update about a tracked order
    triggers a verify of the order book (debounced), and every (re)connect a full one. Exit 4
    when the broker refuses the session; SIGTERM ends it (0), Ctrl-C too (130)."""
    from ordertrack.jobs import listen as listen_job

    shell = _shell(ctx)
    end = listen_job.parse_until(until, utcnow())
    listen_job.serve(shell.settings, shell.open, end,
                     render.listen_json_line if json_ else render.listen_line, render.warn)
