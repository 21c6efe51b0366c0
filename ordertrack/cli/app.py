"""The command line: parse, open, call the core, render, exit. No logic of its own.

Start-up matters (an engine runs `pending add` per order): modules that pull in requests,
rich tables or the broker clients are imported inside the commands that use them."""

# No `from __future__ import annotations` here: Typer reads every command's signature on each
# start, and a string annotation costs a compile and an eval (~10 ms a call; issue 24).

import copy
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ordertrack import __version__
from ordertrack.cli import render
from ordertrack.errors import BrokerUnavailable, ExitCode, OrdertrackError, UsageError
from ordertrack.jobs import commands
from ordertrack.jobs.commands import (
    DEFAULT_ENV_FILE,
    IMPORT_FIELDS,
    MAX_INT,
    MAX_QTY,
    Status,
)
from ordertrack.text import one_line, redact
from ordertrack.timeutil import show

if TYPE_CHECKING:
    from typer._click import Command  # Typer's own copy of click, as get_command returns

T = TypeVar("T")

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="ordertrack",
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
    help="Track the orders a trading engine places with the broker, and tell the trader. "
    "Shell completion: ordertrack --install-completion.",
)
pending_app = typer.Typer(
    no_args_is_help=True, context_settings=HELP_OPTIONS, help="Orders the engine placed."
)
track_app = typer.Typer(
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
    help="The tracking scope: symbols and quantities.",
)
outbox_app = typer.Typer(
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
    help="Notifications: waiting, sent, failed.",
)
app.add_typer(pending_app, name="pending")
app.add_typer(track_app, name="track")
app.add_typer(outbox_app, name="outbox")
broker_app = typer.Typer(
    no_args_is_help=True, context_settings=HELP_OPTIONS, help="The broker connection."
)
app.add_typer(broker_app, name="broker")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print data as JSON.")]
AllAccounts = Annotated[
    bool, typer.Option("--all-accounts", help="Every account, one after the other (issue 29).")
]
AccountOption = Annotated[
    str | None, typer.Option("--account", metavar="NAME", help="This account only.")
]


def _version(value: bool) -> None:
    if value:
        print(f"ordertrack {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        Path | None, typer.Option("--db", help="Database file [env ORDERTRACK_DB].")
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file [env ORDERTRACK_CONFIG].")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            envvar="ORDERTRACK_ACCOUNT",
            metavar="NAME",
            help="Use account NAME's env file, TOML and database (docs/accounts.md)"
            " [env ORDERTRACK_ACCOUNT].",
        ),
    ] = None,
) -> None:
    render.COMMAND[0] = ctx.invoked_subcommand or "ordertrack"
    ctx.obj = (
        _account_shell(account, db, config_file)
        if account
        else commands.Shell(db, config_file, render.warn)
    )
    ctx.call_on_close(ctx.obj.close)


def _shell(ctx: typer.Context) -> commands.Shell:
    return ctx.find_root().obj  # type: ignore[no-any-return]


# ---- pending ---------------------------------------------------------------------------------

# A constant, not an f-string in the annotation: annotations are evaluated from strings here.
FROM_HELP = (
    "Import many orders from a JSON-lines or .csv file ('-': JSON lines on stdin), all or "
    f"nothing. Fields: {', '.join(IMPORT_FIELDS)} (symbol, side and qty required). "
    'JSON line: {"order_id": "261130000012345", "symbol": "INFY", "side": "buy", '
    '"qty": 10, "price": 1520.5}. CSV: a header line "order_id,symbol,side,qty,price", '
    'then "261130000012345,INFY,buy,10,1520.5".'
)


@pending_app.command("add")
def pending_add(
    ctx: typer.Context,
    order_id: Annotated[str | None, typer.Argument(help="Broker order id, if known.")] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Trading symbol, e.g. INFY or INFY-EQ.")
    ] = None,
    side: Annotated[str | None, typer.Option(help="buy or sell.")] = None,
    qty: Annotated[int | None, typer.Option(help="Quantity ordered.")] = None,
    price: Annotated[float | None, typer.Option(help="Limit price.")] = None,
    amo: Annotated[bool, typer.Option("--amo", help="An after-market order.")] = False,
    placed_at: Annotated[
        str | None,
        typer.Option(help="When it was placed, ISO 8601 (no offset = IST). Default: now."),
    ] = None,
    tag: Annotated[
        str | None, typer.Option(help="The tag sent with the order (Kotak 'ig').")
    ] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help=FROM_HELP)] = None,
    completes: Annotated[
        str | None,
        typer.Option(
            "--completes",
            metavar="#N",
            help="The unconfirmed order #N this broker order id belongs to.",
        ),
    ] = None,
) -> None:
    """Register an order the engine placed. Re-adding the same order is a no-op.

    Example: ordertrack pending add 250122000700111 --symbol INFY --side buy --qty 100
    """
    if from_file is None:
        _required(symbol=symbol, side=side, qty=qty)
    shell = _shell(ctx)
    if from_file is not None:
        mixed = (
            any(
                v is not None
                for v in (order_id, symbol, side, qty, price, placed_at, tag, completes)
            )
            or amo
        )
        counts = commands.pending_import(shell, from_file, mixed).view
        render.console.print(
            f"Imported {render.plural(counts['added'], 'order')} "
            f"({counts['unchanged']} already registered)."
        )
        return
    outcome, local_id = commands.pending_add(
        shell,
        symbol=symbol,
        side=side,
        qty=qty,
        order_id=order_id,
        price=price,
        amo=amo,
        placed_at=placed_at,
        tag=tag,
        completes=completes,
    ).view
    name = order_id or f"#{local_id} (unconfirmed: verify will find its broker id)"
    said = {
        "added": "registered",
        "unchanged": "already registered",
        "resolved": f"registered: it completes unconfirmed order #{local_id}",
    }
    render.console.print(f"Order {name} {said[outcome]}.")


def _required(**given: object) -> None:
    """The first missing option of an order, by its flag."""
    examples = {"symbol": "--symbol INFY", "side": "--side buy", "qty": "--qty 10"}
    for name, value in given.items():
        if value is None:
            raise UsageError(f"--{name} is required (e.g. {examples[name]})")


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
    order = commands.pending_cancel(_shell(ctx), order_id, reason).view
    render.console.print(f"Order {order_id} withdrawn: CANCELLED ({order.reason}).")


@pending_app.command("list")
def pending_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include finished orders.")] = False,
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(Status.__members__)}.")
    ] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Open orders (all with --all) as a table, or JSON."""
    result = commands.pending_list(_shell(ctx), all_, status, symbol)
    if json_:
        render.emit_json(result.json)
    else:
        render.orders_table(result.view, "Orders" if all_ or status else "Open orders")


@pending_app.command("show")
def pending_show(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="Broker order id, or #N for an unconfirmed one.")],
    json_: JsonFlag = False,
) -> None:
    """One order with its full event history; an open one with how many successful fetches
    have missed it and when it may expire."""
    result = commands.pending_show(_shell(ctx), order_id)
    if json_:
        render.emit_json(result.json)
    else:
        row, events, expiry = result.view
        render.order_detail(row, events)
        render.expiry_line(expiry)


# ---- track -----------------------------------------------------------------------------------


@track_app.command("list")
def track_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include stopped symbols.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Symbols the system owns, with the quantity it owns."""
    result = commands.track_list(_shell(ctx), all_)
    if json_:
        render.emit_json(result.json)
    else:
        render.tracking_table(result.view)


@track_app.command("add")
def track_add(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol to track.")],
    qty: Annotated[int, typer.Option(min=0, max=MAX_QTY, help="Quantity the system owns now.")] = 0,
) -> None:
    """Start tracking a symbol (fills of system orders keep its quantity up to date)."""
    name, outcome = commands.track_add(_shell(ctx), symbol, qty).view
    render.console.print(
        f"{name}: {'now tracked' if outcome == 'added' else 'already tracked'} with quantity {qty}."
    )


@track_app.command("show")
def track_show(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Tracked symbol.")],
    json_: JsonFlag = False,
) -> None:
    """One symbol with every change of its tracked quantity and what caused it."""
    result = commands.track_show(_shell(ctx), symbol)
    if json_:
        render.emit_json(result.json)
    else:
        row, history = result.view
        render.tracking_table([row])
        render.changes_table(history)


@track_app.command("stop")
def track_stop(
    ctx: typer.Context, symbol: Annotated[str, typer.Argument(help="Symbol to stop tracking.")]
) -> None:
    """Stop tracking a symbol (its history is kept)."""
    name = commands.track_stop(_shell(ctx), symbol).view
    render.console.print(f"{name}: tracking stopped.")


# ---- outbox ----------------------------------------------------------------------------------


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="PENDING, SENT, FAILED, DIGESTED, OFF or HELD.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="At most this many rows.")] = 200,
    oldest: Annotated[
        bool,
        typer.Option(
            "--oldest",
            help="Oldest first (default: newest first, so recent ones are within --limit).",
        ),
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Notifications waiting, sent and failed, newest first, with each chat's delivery and last
    error."""
    result = commands.outbox_list(_shell(ctx), status, limit, oldest)
    if json_:
        render.emit_json(result.json)
    else:
        render.outbox_table(result.view)


@outbox_app.command("flush")
def outbox_flush(
    ctx: typer.Context,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="First re-queue deliveries that failed for good (after a fix)."
        ),
    ] = False,
) -> None:
    """Deliver waiting notifications to Telegram now. Exit 6 if any could not be delivered.

    Example: ordertrack outbox flush --retry-failed
    """
    result = commands.outbox_flush(_shell(ctx), retry_failed)
    if result.view is not None:
        said = render.plural(result.view, "failed delivery", "failed deliveries")
        render.console.print(f"Re-queued {said}.")
    _finish(result, json_=False, always=True)


@app.command("notify-test")
def notify_test(ctx: typer.Context) -> None:
    """Prove the Telegram set-up: check the token (getMe), then send a test message to every
    chat. A failure names its cause and fix; exit 3 for set-up problems, 6 for delivery ones.

    Example: ordertrack notify-test
    """
    result = commands.notify_test(_shell(ctx))
    render.self_test(result.view)
    _exit(result)


# ---- broker ----------------------------------------------------------------------------------


@broker_app.command("check")
def broker_check(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Log in (or reuse today's session), then read the order book, holdings and positions
    and print their counts. Changes no order. Exit code 4 when the broker fails.

    Example: ordertrack broker check --json
    """
    result = commands.broker_check(_shell(ctx))
    if json_:
        render.emit_json(result.json)
        return
    session, fresh = result.view["session"], result.view["fresh"]
    if session is not None:
        until = show(session.expires_at) if session.expires_at else "the end of the IST day"
        render.console.print(
            f"Session: {'logged in now' if fresh else 'reused'}"
            f" (since {show(session.created_at)}), valid until {until}"
        )
    render.console.print(
        ", ".join(
            f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in result.view["counts"].items()
        )
    )


@broker_app.command("login")
def broker_login(
    ctx: typer.Context,
    redirect: Annotated[
        str | None,
        typer.Argument(
            help="The URL your browser lands on after the Kite or Fyers login, or the bare"
            " request_token (Kite) / auth_code (Fyers); read from stdin when left out."
        ),
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Kite and Fyers: the daily login. Prints the login URL; give it the redirect URL (or the
    bare request_token or auth_code) and it stores today's access token for the scheduled runs.

    Example: ordertrack broker login 'https://example.com/?request_token=abc123&status=success'
    """
    result = commands.broker_login(_shell(ctx), redirect, _tell_login_url, _ask_redirect)
    if json_:
        render.emit_json(result.json)
        return
    token = result.view
    broker = result.json["broker"]
    render.console.print(
        f"{broker.capitalize()} access token stored (user"
        f" {token.user_id or 'unknown'}), valid until {show(token.expires_at)}"
    )


def _tell_login_url(login_url: str) -> None:
    sys.stderr.write(f"Log in at: {login_url}\n")


def _ask_redirect(limit: int) -> str:
    if sys.stdin.isatty():
        sys.stderr.write("Paste the URL your browser lands on (or the bare code): ")
        sys.stderr.flush()
    return sys.stdin.readline(limit)  # more is refused, never read whole


# ---- verify, status, demo ------------------------------------------------------------------


@app.command()
def verify(
    ctx: typer.Context,
    order_id: Annotated[
        str | None, typer.Option("--order-id", help="Check only this order.")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Fetch the order book once, advance every open order, queue notifications and deliver
    them. Exit 6 when a notification could not be delivered (it is kept for the next run)."""
    result = _json_on_broker_error(json_, lambda: commands.verify(_shell(ctx), order_id))
    if not json_:
        render.counts_line("Verify", result.view.counts)
        if result.view.skipped_rows:
            render.console.print(
                f"{result.view.skipped_rows} order-book rows had no order id or"
                " numbers that cannot be true, and were ignored"
            )
    _finish(result, json_)


@app.command()
def reconcile(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Compare broker holdings (+ today's positions) with tracked quantities; detect and apply
    manual trades."""
    result = _json_on_broker_error(json_, lambda: commands.reconcile(_shell(ctx), dry_run))
    if not json_:
        render.decisions_table(result.view.decisions, dry_run)
    _finish(result, json_)


@app.command()
def eod(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """End of day: force-verify, expire stale orders, daily summary (once per trading day),
    archive finished tracking, check and back up the database."""
    result = commands.eod(_shell(ctx))
    if not json_:
        render.console.print(result.view.closing_line(commands.today()))
        render.eod_view(result.view)
    _finish(result, json_)


def _finish(result: commands.Result, json_: bool, always: bool = False) -> None:
    """The end of a command that queued or delivered notifications: its JSON, or this run's
    notifications and what delivery did; then its exit."""
    if json_:
        render.emit_json(result.json)
    else:
        render.notifications(result.notices, result.queued)
        if result.report is not None:
            render.delivery(result.report, always)
    _exit(result)


def _exit(result: commands.Result) -> None:
    """Exit as the command's result says, once everything is shown."""
    if result.problem is not None:
        raise result.problem
    if result.exit:
        raise typer.Exit(result.exit)


def _json_on_broker_error(json_: bool, body: Callable[[], T]) -> T:
    """Monitoring parses every --json run: a broker failure (exit 4) is JSON too, as eod's."""
    try:
        return body()
    except BrokerUnavailable as exc:
        if json_:
            render.emit_json(
                {
                    "broker": "failed",
                    "broker_error": redact(exc.message),
                    "exit_code": int(exc.exit_code),
                }
            )
        raise


@app.command()
def status(ctx: typer.Context, json_: JsonFlag = False, all_accounts: AllAccounts = False) -> None:
    """Last run of each command and its outcome; open orders; the outbox."""
    if _every(ctx, all_accounts):
        return _status_all(json_)
    result = commands.status(_shell(ctx))
    if json_:
        render.emit_json(result.json)
    else:
        render.status_view(result.view)


@app.command()
def demo(
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep",
            metavar="DIR",
            help="Leave the broker folder and database in DIR to play with "
            "(see docs/file-broker.md).",
        ),
    ] = None,
) -> None:
    """A full order lifecycle on a throw-away database with a simulated broker."""
    from ordertrack.cli.demo import run_demo

    run_demo(render.console, keep)


# ---- entry point -----------------------------------------------------------------------------


def _fail(message: str, code: ExitCode) -> int:
    prefix = f"{render.log_prefix()} " if render.log_mode() else ""
    sys.stderr.write(f"{prefix}ordertrack: {one_line(redact(message))}\n")
    return int(code)


_ROOT_OPTIONS = ("--db", "--config", "--account")


def _usage(exc: typer.TyperException) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        sys.stdout.write(exc.format_message() + "\n")
        return int(ExitCode.OK)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    name = getattr(exc, "option_name", "")
    if type(exc).__name__ == "NoSuchOption" and name in _ROOT_OPTIONS and ctx is not None:
        hint = (
            f": {name} belongs before the command, e.g. "
            f"'ordertrack {name} ... {ctx.command_path.removeprefix('ordertrack ')} ...'"
        )
    return _fail(exc.format_message().replace("\n", " ") + hint, ExitCode.USAGE)


def run(argv: list[str] | None = None) -> int:
    code = _run(argv)
    # Last, so the monitor learns the real exit code; only a run that began a ping loaded it.
    ping = sys.modules.get("ordertrack.notify.ping")
    if ping is not None and (note := ping.end(code)):
        render.warn(note)
    return code


def _invoked(argv: list[str]) -> int | None:
    """Where argv's command word is, past the root's --db/--config; None when a root option
    such as --help or --version comes first, or there is no command."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _ROOT_OPTIONS:
            i += 2
        elif word.startswith(tuple(f"{o}=" for o in _ROOT_OPTIONS)):
            i += 1
        else:
            return None if word.startswith("-") else i
    return None


def _command(argv: list[str] | None) -> "Command":
    """The click command to run: only the invoked command's branch of the app when the word
    names one (Typer reads every command's signature to build its tree: ~1 ms a command on
    each start). Help, completion and an unknown word get the whole tree, so they read the
    same as ever."""
    words = sys.argv[1:] if argv is None else argv
    at = _invoked(words)
    if at is None or any(k.startswith("_ORDERTRACK_COMPLETE") for k in os.environ):
        return typer.main.get_command(app)
    branch = _branch(app, words[at])
    if branch is None:
        return typer.main.get_command(app)
    if branch.registered_groups:  # `pending add`: only add, of pending's commands
        group = branch.registered_groups[0]
        after = words[at + 1 :]
        leaf = _branch(group.typer_instance, after[0]) if after and group.typer_instance else None
        if leaf is not None:
            branch.registered_groups = [copy.copy(group)]
            branch.registered_groups[0].typer_instance = leaf
    return typer.main.get_command(branch)


def _branch(parent: typer.Typer, name: str) -> typer.Typer | None:
    """A copy of `parent` holding only its command or group called `name` (None: no such)."""
    commands_ = [
        c
        for c in parent.registered_commands
        if (c.name or typer.main.get_command_name(getattr(c.callback, "__name__", ""))) == name
    ]
    groups = [g for g in parent.registered_groups if g.name == name]
    if not commands_ and not groups:
        return None
    branch = copy.copy(parent)
    branch.registered_commands, branch.registered_groups = commands_, groups
    return branch


def _run(argv: list[str] | None) -> int:
    command = _command(argv)
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
            return _fail(
                "the database stayed locked by another program; try again", ExitCode.LOCKED
            )
        return _fail(f"database error: {exc}", ExitCode.DATABASE)
    except sqlite3.DatabaseError as exc:
        return _fail(f"database error: {exc}", ExitCode.DATABASE)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("ORDERTRACK_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (set ORDERTRACK_DEBUG=1 for a traceback)",
            ExitCode.INTERNAL,
        )


def main() -> None:
    sys.exit(run())


# ---- report (issue 18) -----------------------------------------------------------------------


@app.command("report")
def report_command(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--day", help="One IST day, YYYY-MM-DD [default: today].")
    ] = None,
    week: Annotated[bool, typer.Option("--week", help="The seven days ending today.")] = False,
    month: Annotated[bool, typer.Option("--month", help="The thirty days ending today.")] = False,
    first: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day [default: today].")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write, '-' for stdout [default: ordertrack-report-<period>.html "
            "in the current folder].",
        ),
    ] = None,
    all_accounts: AllAccounts = False,
) -> None:
    """A self-contained HTML report: the day at a glance, order timeline, rejections, tracked
    quantities, run health and notifications."""
    result = (
        _accounts().report_all(render.warn, day, week, first, last, out, month)
        if _every(ctx, all_accounts)
        else commands.report(_shell(ctx), day, week, first, last, out, month)
    )
    if result.json is None:
        sys.stdout.write(result.view)
        return
    print(f"report written to {result.json}")


@app.command("datasette-metadata")
def datasette_metadata(ctx: typer.Context) -> None:
    """Print a datasette metadata file: table descriptions and canned queries (datasette is not
    a dependency: `datasette ordertrack.db --metadata FILE`)."""
    render.emit_json(commands.datasette_metadata(_shell(ctx)).json)


# ---- schedule, doctor (issue 11) -------------------------------------------------------------

schedule_app = typer.Typer(
    no_args_is_help=True,
    help="The cron lines or systemd timers that run "
    "verify, reconcile and eod at IST times on this host.",
)
app.add_typer(schedule_app, name="schedule")

SystemdFlag = Annotated[
    bool, typer.Option("--systemd", help="systemd user timers instead of crontab lines.")
]
EnvFileOption = Annotated[
    Path, typer.Option("--env-file", help="Settings and secrets the jobs source (chmod 600).")
]
LogOption = Annotated[
    Path | None,
    typer.Option("--log", help="Log file the jobs append to. Default: beside the database."),
]
EveryOption = Annotated[
    int,
    typer.Option(
        "--every",
        min=1,
        max=30,
        metavar="N",
        help="Run verify every N minutes (1-30) in the session; default 30.",
    ),
]


@schedule_app.command("print")
def schedule_print(
    ctx: typer.Context,
    systemd: SystemdFlag = False,
    env_file: EnvFileOption = Path(DEFAULT_ENV_FILE),
    log: LogOption = None,
    every: EveryOption = 30,
    all_accounts: AllAccounts = False,
    account: AccountOption = None,
) -> None:
    """Show what 'install' would write, each cron line with its next firing in IST."""
    if _every(ctx, all_accounts) or (account := account or _accounts().selected(_shell(ctx))):
        result = _accounts().schedule_print(account, all_accounts, systemd, every)
    else:
        result = commands.schedule_print(_shell(ctx), systemd, env_file, log, every)
    if systemd:
        for path, text in result.view.items():
            sys.stdout.write(f"# {path}\n{text}\n")
        return
    for line, when in result.view:
        if line.startswith("#"):
            sys.stdout.write(line + "\n")  # data to paste, never log-prefixed
            continue
        sys.stdout.write(f"{line}\n#   next: {show(when) if when else 'never'}\n")


@schedule_app.command("install")
def schedule_install(
    ctx: typer.Context,
    systemd: SystemdFlag = False,
    env_file: EnvFileOption = Path(DEFAULT_ENV_FILE),
    log: LogOption = None,
    every: EveryOption = 30,
    all_accounts: AllAccounts = False,
    account: AccountOption = None,
) -> None:
    """Install the schedule: ordertrack's block in your crontab (the rest is left as it is), or
    systemd user timers with --systemd. Idempotent. Refuses an env file others can read."""
    if _every(ctx, all_accounts) or (account := account or _accounts().selected(_shell(ctx))):
        result = _accounts().schedule_install(account, all_accounts, systemd, every)
    else:
        result = commands.schedule_install(_shell(ctx), systemd, env_file, log, every)
    render.console.print(result.view)
    for line in result.notices:
        render.warn(line)


@schedule_app.command("remove")
def schedule_remove(
    ctx: typer.Context,
    systemd: SystemdFlag = False,
    all_accounts: AllAccounts = False,
    account: AccountOption = None,
) -> None:
    """Remove ordertrack's crontab block (or its systemd user units)."""
    if _every(ctx, all_accounts) or (account := account or _accounts().selected(_shell(ctx))):
        render.console.print(_accounts().schedule_remove(account, all_accounts, systemd).view)
        return
    render.console.print(commands.schedule_remove(systemd).view)


@app.command()
def doctor(
    ctx: typer.Context,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Skip the checks that need the network: broker, Telegram, clock, ping URL.",
        ),
    ] = False,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send a real test message to every "
            "chat (as notify-test) instead of only reaching it.",
        ),
    ] = False,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="The env file the scheduled runs source: checked, and read into a "
            "bare environment as cron does. Default: the installed schedule's, else "
            "~/.config/ordertrack/env.",
        ),
    ] = None,
    json_: JsonFlag = False,
    all_accounts: AllAccounts = False,
) -> None:
    """Check the deployment as cron will see it (the env file in a bare environment, not this
    shell): settings, database, env file, broker, Telegram, the installed schedule and whether
    anything will run it, the clock, the ping URL. One line per check; exit 0 only when all
    pass, else 3.

    Example: ordertrack doctor --offline
    """
    if _every(ctx, all_accounts) or (only := _accounts().selected(_shell(ctx))):
        return _doctor_all(json_, offline, send, None if all_accounts else only)
    result = commands.doctor(_shell(ctx), env_file, offline, send)
    if json_:
        render.emit_json(result.json)
    else:
        for r in result.view:
            label, line = (
                ("skipped", f"{r.check}: {r.detail.removeprefix('skipped: ')}")
                if r.skipped
                else ("ok", f"{r.check}: {r.detail}")
                if r.ok
                else ("PROBLEM", f"{r.check}: {r.detail} — fix: {r.fix}")
            )
            render.hanging(f"{label:<9}", line)
    _exit(result)


# ---- events ----------------------------------------------------------------------------------


@app.command("events")
def events_cmd(
    ctx: typer.Context,
    since: Annotated[
        int,
        typer.Option(
            "--since",
            min=0,
            max=MAX_INT,
            help="Only events after this id (the last one you handled).",
        ),
    ] = 0,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only these kinds, comma-separated: EXECUTED,REJECTED,…"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, max=MAX_INT, help="At most this many events.")
    ] = None,
    follow: Annotated[
        int,
        typer.Option(
            "--follow-up-to",
            min=0,
            max=3600,
            metavar="SECONDS",
            help="Then keep printing new events as they are recorded, for up to this many seconds"
            " (0-3600).",
        ),
    ] = 0,
    json_: Annotated[
        bool, typer.Option("--json", help="Print JSON lines (docs/events.md).")
    ] = False,
) -> None:
    """Every recorded event, oldest first: order changes, tracking changes, manual trades, run
    alerts. Each has an increasing id; pass the last one handled as --since to resume after it.

    Example: ordertrack events --since 41 --kind EXECUTED,REJECTED --json
    Example: ordertrack events --since 41 --follow-up-to 300 --json   (like tail -f, 5 minutes)
    """
    import json  # imported here to keep this command in one block (an easy merge)

    for event in commands.events(_shell(ctx), since, kind, limit, follow).view:
        if json_:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        else:
            render.hanging(f"{event['id']:>6}  ", _event_line(event))
        if follow:
            sys.stdout.flush()  # a reader on a pipe sees each event as it is recorded


def _event_line(e: dict[str, Any]) -> str:
    from ordertrack.timeutil import from_db

    what = " ".join(str(e[k]) for k in ("side", "qty", "symbol") if e[k] is not None)
    extra = ", ".join(
        f"{k} {e[k]}"
        for k in ("order_id", "filled_qty", "avg_price", "tracked_qty", "reason")
        if e[k] is not None
    )
    return one_line(
        f"{show(from_db(e['at']))}  {e['kind']:<16} {what}" + (f" — {extra}" if extra else "")
    )


# ---- pnl (issue 26) --------------------------------------------------------------------------


@app.command("pnl")
def pnl_command(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--day", help="One IST day, YYYY-MM-DD [default: today].")
    ] = None,
    week: Annotated[bool, typer.Option("--week", help="The seven days ending today.")] = False,
    month: Annotated[bool, typer.Option("--month", help="The thirty days ending today.")] = False,
    first: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day [default: today].")] = None,
    json_: JsonFlag = False,
    all_accounts: AllAccounts = False,
) -> None:
    """Realised and unrealised P&L from the broker's own fills, per symbol, before charges
    unless [charges] is configured."""
    if _every(ctx, all_accounts):
        return _pnl_all(json_, day, week, month, first, last)
    result = commands.pnl(_shell(ctx), day, week, month, first, last)
    if json_:
        render.emit_money_json(result.json)
        return
    render.pnl_table(result.json, *result.view)


# ---- listen (issue 25) -----------------------------------------------------------------------


@app.command("listen")
def listen_command(
    ctx: typer.Context,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="HH:MM", help="Today's IST time to stop at (default 15:35)."
        ),
    ] = None,
    json_: Annotated[
        bool,
        typer.Option(
            "--json", help="One JSON object a line for each connect, disconnect, push and verify."
        ),
    ] = False,
) -> None:
    """Hold the broker's order-update stream until --until: each update about a tracked order
    triggers a verify of the order book (debounced), and every (re)connect a full one. Exit 4
    when the broker refuses the session; SIGTERM ends it (0), Ctrl-C too (130)."""
    commands.listen(_shell(ctx), until, render.listen_json_line if json_ else render.listen_line)


def _bot_all(wait: int, json_: bool) -> None:
    from ordertrack.jobs import account_bot

    result = account_bot.bot_all(wait, render.warn)
    if json_:
        render.emit_json(result.json)
    for group, done, failed in [] if json_ else result.view:
        if failed is not None and failed is not result.problem:  # that one ends the run, below
            render.warn(failed.message)
        if done is None:
            continue
        for note in done.notes:
            render.warn(note)
        if done.updates:
            render.counts_line(f"Bot ({', '.join(group.names)})", done.counts)
        if done.report is not None:
            render.delivery(done.report)
    if not result.json["groups"] and not json_:
        render.warn("no account has [bot] enabled = true and a TELEGRAM_BOT_TOKEN: nothing to poll")
    _exit(result)


# ---- accounts (issue 29) ---------------------------------------------------------------------

accounts_app = typer.Typer(
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
    help="Several broker accounts on one server: each its own env file, TOML and database.",
)
app.add_typer(accounts_app, name="accounts")


def _account_shell(name: str, db: Path | None, config_file: Path | None) -> commands.Shell:
    shell: commands.Shell = _accounts().account_shell(name, db, config_file, render.warn)
    return shell


def _every(ctx: typer.Context, all_accounts: bool) -> bool:
    """--all-accounts, refused (exit 2) beside a root --account, --db or --config."""
    if all_accounts:
        _accounts().refuse_beside_all(_shell(ctx))
    return all_accounts


def _accounts() -> Any:
    """jobs/account_commands, imported only by a command that uses accounts (start-up)."""
    from ordertrack.jobs import account_commands

    return account_commands


@accounts_app.command("list")
def accounts_list(json_: JsonFlag = False) -> None:
    """Each account: its broker, its database and its last runs."""
    from ordertrack.cli import render_accounts

    result = _accounts().accounts_list()
    if json_:
        render.emit_json(result.json)
    else:
        render_accounts.accounts_table(result.view)


@accounts_app.command("add")
def accounts_add(
    name: Annotated[str, typer.Argument(help="Lower-case letters, digits, - and _; at most 32.")],
    broker: Annotated[
        str, typer.Option("--broker", help="kotak, kite, angel, fyers or file.")
    ] = "kotak",
) -> None:
    """Create the account's env file (chmod 600) with its broker's variable names to fill in.

    Example: ordertrack accounts add family --broker kite
    """
    where, fill = _accounts().accounts_add(name, broker).view
    render.console.print(f"Wrote {where.env_file} (chmod 600). Fill in: {', '.join(fill)}.")
    render.console.print(
        f"Its database will be {where.db}. Then: ordertrack --account {name} broker check;"
        f" ordertrack schedule install --account {name}"
    )


@accounts_app.command("remove")
def accounts_remove(
    name: Annotated[str, typer.Argument(help="The account.")],
    purge: Annotated[
        bool, typer.Option("--purge", help="Delete its env file, TOML and database too.")
    ] = False,
) -> None:
    """Take the account's crontab block and systemd units out; keep its files unless --purge."""
    for line in _accounts().accounts_remove(name, purge).view:
        render.console.print(line)


def _status_all(json_: bool) -> None:
    from ordertrack.cli import render_accounts

    result = _accounts().status_all(render.warn)
    if json_:
        render.emit_json(result.json)
    else:
        render_accounts.status_all(result.view)


def _pnl_all(
    json_: bool, day: str | None, week: bool, month: bool, first: str | None, last: str | None
) -> None:
    from ordertrack.cli import render_accounts

    result = _accounts().pnl_all(render.warn, day, week, month, first, last)
    if json_:
        render.emit_money_json(result.json)
    else:
        render_accounts.pnl_all(result.json, result.view)


def _doctor_all(json_: bool, offline: bool, send: bool, only: str | None = None) -> None:
    from ordertrack.cli import render_accounts

    result = _accounts().doctor_all(offline, send, only)
    if json_:
        render.emit_json(result.json)
    else:
        render_accounts.doctor_all(result.view)
    _exit(result)


# ---- bot (issue 27) --------------------------------------------------------------------------


@app.command("bot")
def bot_command(
    ctx: typer.Context,
    wait: Annotated[
        int,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            max=120,
            help="Long-poll getUpdates up to this long for the first command.",
        ),
    ] = 50,
    json_: JsonFlag = False,
    all_accounts: Annotated[
        bool,
        typer.Option(
            "--all-accounts",
            help="Every account with [bot] enabled: one poll per bot token, commands take an"
            " account name (/status NAME).",
        ),
    ] = False,
) -> None:
    """Answer the trader's Telegram commands (/status, /pending, /order ID, /today, /pnl,
    /report, /mute, /unmute, /help) from the chats in TELEGRAM_CHAT_ID, each once; meant for
    cron every minute. Another `bot` running: exit 0 at once, saying nothing. Exit 3 while
    Telegram answers 409 Conflict (another poller or a webhook on the token)."""
    if all_accounts:
        return _bot_all(wait, json_)
    result = commands.bot(_shell(ctx), wait)
    if result.view is None:
        return
    if json_:
        render.emit_json(result.json)
    else:
        for note in result.view.notes:
            render.warn(note)
        if result.view.updates:
            render.counts_line("Bot", result.view.counts)
        if result.report is not None:
            render.delivery(result.report)
    _exit(result)
