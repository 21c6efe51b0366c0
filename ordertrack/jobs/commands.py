"""One entry per command (pipx's `commands/`): each assembles its run from the settings and the
database and returns a `Result`; the CLI parses, calls one entry, renders and exits, and `demo`
calls the same entries. A broker-facing entry goes through `runner.broker_run`, which wraps the
ping and the run log around loading the settings and opening the database (a run that cannot
start is never silent).

Start-up matters (an engine runs `pending add` per order; cron runs an idle `verify` every few
minutes): what pulls in the HTTP stack, the broker clients or the notifiers is imported inside
the entry that uses it."""

import os
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordertrack import config
from ordertrack.core import symbols
from ordertrack.core.models import Order, Status
from ordertrack.core.schedule_plan import DEFAULT_ENV_FILE
from ordertrack.errors import BrokerUnavailable, DatabaseError, ExitCode, UsageError
from ordertrack.jobs import register, result
from ordertrack.jobs.register import IMPORT_FIELDS, MAX_QTY
from ordertrack.jobs.result import MAX_LINES, Result
from ordertrack.store import orders, tracking
from ordertrack.store.db import MAX_INT, open_db, schema_version
from ordertrack.text import redact
from ordertrack.timeutil import from_db, show_iso, utcnow

# Handed on: what the CLI's option declarations name, so it needs this module alone.
__all__ = ["DEFAULT_ENV_FILE", "IMPORT_FIELDS", "MAX_INT", "MAX_QTY", "Result", "Shell", "Status"]

if TYPE_CHECKING:
    from ordertrack.jobs import bot as bot_job
    from ordertrack.jobs import runner, schedule
    from ordertrack.store.db import Database

Warn = Callable[[str], None]


class Shell:
    """What every command needs: settings (read lazily, so --help needs none) and the db, from
    the --db/--config options and the environment. `warn` shows a problem that does not stop
    the command (the CLI's, which respects the log-line prefix)."""

    def __init__(
        self,
        db: Path | None,
        config_path: Path | None,
        warn: Warn,
        env: Mapping[str, str] | None = None,
    ):
        self.db_path, self.config_path, self.warn = db, config_path, warn
        self.env = os.environ if env is None else env
        self._settings: config.Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.load(self.env, self.db_path, self.config_path)
        return self._settings

    def open_for_registration(self) -> "Database":
        """The database, even when a setting registration does not use is bad (a warning)."""
        if self._settings is None:
            self._settings, problem = config.load_for_registration(
                self.env, self.db_path, self.config_path
            )
            if problem:
                self.warn(problem)
        return self.open()

    def open(self, create: bool = True) -> "Database":
        """The database; a read-only command passes create=False and never makes one."""
        if self._db is None:
            self._db = open_db(self.settings.db_path, create=create, warn=self.warn)
        return self._db

    @classmethod
    def of(cls, settings: config.Settings, warn: Warn) -> "Shell":
        """A shell over settings made in code (the demo's), not read from the environment."""
        shell = cls(settings.db_path, None, warn, env={})
        shell._settings = settings
        return shell

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def start(self, command: str) -> "runner.Start":
        """How a scheduled run of `command` gets going (jobs/runner.py)."""
        from ordertrack.jobs import runner

        return runner.Start(command, lambda: self.settings, self._salvage, self.open, self.env)

    def _salvage(self) -> config.Settings:
        """What a broken configuration still tells (only a run that cannot start asks)."""
        from ordertrack.jobs import unstarted

        return unstarted.salvage(self.env, self.db_path, self.config_path)


# ---- broker-facing runs ------------------------------------------------------------------------


def verify(
    shell: Shell,
    order_id: str | None = None,
    now: datetime | None = None,
    trigger: str | None = None,
    deliver: bool = True,
) -> Result:
    """Fetch the order book once, advance every open order, queue notifications, deliver
    (unless `deliver` is False: `listen` delivers from its own thread, jobs/listen.Courier)."""
    from ordertrack.broker.base import make_broker
    from ordertrack.jobs import runner
    from ordertrack.jobs import verify as verify_job
    from ordertrack.store import outbox

    def body(settings: config.Settings, db: "Database", run_id: int) -> Any:
        return verify_job.run(
            db, make_broker(settings, db, shell.warn), settings, now or utcnow(), order_id, run_id
        )

    done, db = runner.broker_run(shell.start("verify"), body, shell.warn, trigger)
    queued = outbox.run_count(db, done.run_id)  # 10,000 rendered texts took 0.7 s
    out = Result(
        {
            "book": done.book,
            **done.counts,
            "notifications": queued,
            "skipped_rows": done.skipped_rows,
        },
        done,
        outbox.listing(db, run_id=done.run_id, limit=MAX_LINES),
        queued,
    )
    return _delivered(shell, db, out, done.run_id) if deliver else out


def reconcile(shell: Shell, dry_run: bool = False) -> Result:
    """Compare broker holdings (+ today's positions) with tracked quantities; apply manual
    trades unless `dry_run`."""
    from ordertrack.broker.base import make_broker
    from ordertrack.jobs import reconcile as reconcile_job
    from ordertrack.jobs import runner
    from ordertrack.store import outbox

    command = "reconcile --dry-run" if dry_run else "reconcile"

    def body(settings: config.Settings, db: "Database", run_id: int) -> Any:
        return reconcile_job.run(
            db, make_broker(settings, db, shell.warn), settings, utcnow(), dry_run, run_id
        )

    done, db = runner.broker_run(shell.start(command), body, shell.warn)
    out = Result(
        {
            "dry_run": dry_run,
            **done.counts,
            "decisions": [result.decision_json(d) for d in done.decisions],
        },
        done,
    )
    if dry_run:
        return out
    out.notices = outbox.listing(db, run_id=done.run_id)
    out.queued = len(out.notices)
    return _delivered(shell, db, out, done.run_id)


def eod(shell: Shell) -> Result:
    """Force-verify, expire stale orders, the daily summary, archive, check and back up; the
    summary goes out now, not with tomorrow's first verify."""
    from ordertrack.broker.base import make_broker
    from ordertrack.jobs import eod as eod_job
    from ordertrack.jobs import runner
    from ordertrack.store import outbox

    done, db = runner.broker_run(
        shell.start("eod"),
        lambda settings, db, run_id: eod_job.run(
            db, make_broker(settings, db, shell.warn), settings, utcnow(), run_id
        ),
        shell.warn,
    )
    alerts = [r for r in outbox.listing(db, run_id=done.run_id) if r["kind"] != "DAILY_SUMMARY"]
    report, undelivered = runner.deliver(
        db, shell.settings, None if done.broker_error else done.run_id
    )
    return Result(
        result.eod_json(done), done, alerts, len(alerts), report, done.failure(undelivered)
    )


def _delivered(shell: Shell, db: "Database", out: Result, run_id: int | None) -> Result:
    """Deliver what the outbox holds; what is kept for later becomes the exit (6)."""
    from ordertrack.jobs import runner

    out.report, out.problem = runner.deliver(db, shell.settings, run_id)
    return out


def listen(shell: Shell, until: str | None, emit: Callable[[dict[str, Any]], None]) -> Result:
    """Hold the broker's order-update stream until `until` (IST HH:MM): each push about a
    tracked order triggers a verify entry run recorded as 'push', exactly as cron's."""
    from ordertrack.jobs import listen as listen_job

    end = listen_job.parse_until(until, utcnow())

    def once() -> dict[str, Any]:
        out = verify(shell, trigger="push", deliver=False)  # the Courier delivers
        summary = {
            "outcome": "ok",
            "run_id": out.view.run_id,
            "notifications": out.queued,
            **{k: v for k, v in out.view.counts.items() if v},
        }
        if out.problem is not None:
            summary["undelivered"] = redact(out.problem.message)
        return summary

    listen_job.serve(shell.settings, shell.open, end, emit, shell.warn, once)
    return Result()


def broker_check(shell: Shell) -> Result:
    """Log in (or reuse today's session), then count the order book, holdings and positions."""
    from ordertrack.broker.base import make_broker

    broker = make_broker(shell.settings, shell.open(), shell.warn)
    counts = {}
    for name, fetch in (
        ("order_book", broker.order_book),
        ("holdings", broker.holdings),
        ("positions", broker.positions),
    ):
        fetched = fetch()
        if not fetched.usable:
            raise BrokerUnavailable(f"{name.replace('_', ' ')} fetch failed: {fetched.error}")
        counts[name] = len(fetched.items)
    session = getattr(broker, "session", None)  # the file broker has none
    fresh = getattr(broker, "logged_in_now", False)  # a broker with a session says how it got it
    return Result(
        {
            "broker": broker.name,
            **counts,
            "session": session
            and {
                "logged_in_now": fresh,
                "logged_in_at": show_iso(session.created_at),
                "expires_at": show_iso(session.expires_at),
            },
        },
        {"counts": counts, "session": session, "fresh": fresh},
    )


def outbox_flush(shell: Shell, retry_failed: bool = False) -> Result:
    """Deliver waiting notifications now, first re-queueing the failed ones if asked."""
    from ordertrack.notify import delivery

    db = shell.open()
    requeued = delivery.requeue_failed(db, shell.settings) if retry_failed else None
    return _delivered(shell, db, Result(view=requeued), None)


def notify_test(shell: Shell) -> Result:
    """getMe, then a real test message to every chat; exit 3 or 6 on a failure."""
    from ordertrack import net
    from ordertrack.notify import selftest

    with net.budget():
        checks = selftest.self_test(shell.settings, utcnow())
    code = selftest.exit_code(checks)
    return Result(view=checks, exit=int(code))


def bot(shell: Shell, wait: int) -> Result:
    """One getUpdates long poll; each command from an allowed chat answered once (issue 27).
    Nothing to show (exit 0) when another `bot` run holds the bot's lock."""
    from ordertrack.jobs import bot as bot_job

    bot_job.check(shell.settings, wait)  # before the database is opened (or made)
    done = bot_job.run(shell.settings, shell.open(), wait, bot_reads(shell), shell.warn)
    if done is None:
        return Result()
    return Result(done.json(), done, report=done.report, problem=done.problem)


def bot_reads(shell: Shell) -> "bot_job.Reads":
    """What the bot's answers are built from: this CLI's own entries over `shell`."""
    from ordertrack.jobs import bot as bot_job

    return bot_job.Reads(
        status=lambda: status(shell),
        pending=lambda: pending_list(shell, False, None, None),
        order=lambda order_id: pending_show(shell, order_id),
        pnl=lambda span: pnl(shell, None, span == "week", span == "month", None, None),
        report=lambda path: report(shell, None, False, None, None, path),
    )


# ---- reading what is recorded --------------------------------------------------------------------


def status(shell: Shell) -> Result:
    """Last run of each command and its outcome; open orders; the outbox."""
    from ordertrack.jobs import runner
    from ordertrack.notify import delivery, policy
    from ordertrack.store import listens, outbox, runs, summary

    db = shell.open(create=False)
    settings = shell.settings
    order_counts = orders.count_by_status(db)
    data: dict[str, Any] = {
        "database": str(settings.db_path),
        "schema": schema_version(db),
        "broker": settings.broker,
        "notifications": policy.describe(settings),
        "telegram_chats": delivery.chat_summary(db),
        "orders": {s.value: order_counts.get(s.value, 0) for s in Status},
        "tracked_symbols": len(tracking.listing(db, all_=False)),
        # notifications: a bot's answer waiting to go is not one (/status would count itself)
        "outbox": {s: outbox.count(db, s, outbox.ANSWER) for s in ("PENDING", "SENT", "FAILED")},
        "runs": runs.last_runs(db),
        "overdue": [late.text for late in runner.overdue(db, settings)],
        "last_closed_day": summary.last_closed(db),
    }
    if listen_row := listens.latest(db):  # only once `listen` has run: older outputs unchanged
        data["listen"] = listen_row
    if bot := _bot_status(db):  # only while a mute or a 409 is on: older outputs unchanged
        data["bot"] = bot
    return Result({**data, "runs": [result.run_json(r) for r in data["runs"]]}, data)


def _bot_status(db: "Database") -> dict[str, Any] | None:
    """The bot's mute (until when, how many held) and an open 409 episode, when either is on."""
    from ordertrack.store import bot_state

    until = bot_state.mute_until(db)
    muted = until is not None and until > utcnow()
    conflict = from_db(bot_state.get(db, bot_state.CONFLICT))
    if not muted and conflict is None:
        return None
    return {
        "muted_until": show_iso(until) if muted else None,
        "held": bot_state.held_count(db),
        "conflict_since": show_iso(conflict),
    }


def pending_list(shell: Shell, all_: bool, status: str | None, symbol: str | None) -> Result:
    """Open orders (all with `all_`), maybe of one status or symbol."""
    if status is not None:
        status = status.strip().upper()
        if status not in Status.__members__:
            raise UsageError(f"--status must be one of {', '.join(Status.__members__)}")
    sym = symbols.normalise(symbol) if symbol else None
    found = orders.query_orders(shell.open(create=False), all_=all_, status=status, symbol=sym)
    return Result([result.order_json(o) for o in found], found)


def pending_show(shell: Shell, order_id: str) -> Result:
    """One order with its full event history; an open one with how many successful fetches
    have missed it and when it may expire."""
    db = shell.open(create=False)
    order = orders.find_order(db, order_id)
    if order is None:
        raise UsageError(f"order {order_id} is not registered" + _local_hint(db, order_id))
    events = orders.events_of(db, order.id)
    expiry = _expiry(order, shell.settings)
    return Result(
        {
            "order": result.order_json(order),
            "events": [result.event_json(e) for e in events],
            "expiry": expiry,
        },
        (order, events, expiry),
    )


def _expiry(order: Order, settings: config.Settings) -> dict[str, Any] | None:
    """For an open order: the fetches that missed it, and when it becomes eligible for expiry."""
    if not order.status.is_open:
        return None
    rules = settings.missing
    return {
        "missed_fetches": order.missing_count,
        "fetches_needed": rules.runs,
        "missing_since": show_iso(order.missing_since),
        "eligible_from": show_iso(rules.deadline(order)),
    }


def _local_hint(db: "Database", order_id: str) -> str:
    """'3' was most likely meant as the unconfirmed order #3."""
    if order_id.isdigit() and orders.find_order(db, f"#{order_id}") is not None:
        return f"; did you mean '#{order_id}' (an order without a broker id yet)?"
    return ""


def pending_add(shell: Shell, **order: Any) -> Result:
    """Register one order (register.register_order's fields); `view` is (outcome, local id)."""
    db = shell.open_for_registration()
    return Result(view=register.register_order(db, utcnow(), **order))


def pending_import(shell: Shell, path: Path, mixed: bool) -> Result:
    """Register every order of a file, all or nothing; `mixed`: order options were given too
    (refused). `view` holds the counts, added and unchanged."""
    db = shell.open_for_registration()
    if mixed:
        raise UsageError("--from cannot be combined with an order id or order options")
    return Result(view=register.import_file(db, path, utcnow()))


def pending_cancel(shell: Shell, order_id: str, reason: str | None) -> Result:
    """Withdraw a mistaken registration (nothing is sent to the broker)."""
    settings = shell.settings
    order = register.withdraw(
        shell.open(),
        order_id,
        reason,
        utcnow(),
        settings.lock_wait_seconds,
        timedelta(minutes=settings.lock_lease_minutes),
    )
    return Result(view=order)


def track_list(shell: Shell, all_: bool) -> Result:
    rows = tracking.listing(shell.open(create=False), all_=all_)
    return Result([result.tracking_json(r) for r in rows], rows)


def track_add(shell: Shell, symbol: str, qty: int) -> Result:
    """Start tracking a symbol; `view` is (its name, added or unchanged)."""
    db = shell.open()
    name = register.checked_symbol(symbol)
    return Result(view=(name, register.track(db, name, qty, utcnow())))


def track_stop(shell: Shell, symbol: str) -> Result:
    """Stop tracking a symbol (its history is kept); `view` is its name."""
    db = shell.open()
    name = register.checked_symbol(symbol)
    register.untrack(db, name, utcnow())
    return Result(view=name)


def track_show(shell: Shell, symbol: str) -> Result:
    """One symbol with every change of its tracked quantity and what caused it."""
    db = shell.open(create=False)
    name = register.checked_symbol(symbol)
    row = tracking.get(db, name)
    if row is None:
        raise UsageError(f"{name} has never been tracked")
    history = tracking.changes(db, name)
    return Result(
        {**result.tracking_json(row), "changes": [result.change_json(c) for c in history]},
        (row, history),
    )


def mute_waiting(shell: Shell) -> int:
    """The demo's notifications, shown on the terminal, are kept OFF: a kept demo database
    later used with Telegram must not send them to a real chat."""
    from ordertrack.store import outbox

    return outbox.mute_pending(shell.open())


def outbox_list(shell: Shell, status: str | None, limit: int, oldest: bool) -> Result:
    """Notifications waiting, sent and failed, with each chat's delivery and last error."""
    from ordertrack.store import outbox

    if status is not None and status.upper() not in outbox.STATUSES:
        raise UsageError(f"--status must be one of {', '.join(outbox.STATUSES)}")
    db = shell.open(create=False)
    rows = outbox.with_deliveries(
        db,
        outbox.listing(
            db, status.upper() if status else None, limit=limit, newest_first=not oldest
        ),
    )
    return Result([result.outbox_json(r) for r in rows], rows)


def report(
    shell: Shell,
    day: str | None,
    week: bool,
    first: str | None,
    last: str | None,
    out: Path | None,
    month: bool = False,
) -> Result:
    """The HTML report of a period: `view` is the page and `json` where it goes (None: stdout).
    The target is refused before any work."""
    from ordertrack import files
    from ordertrack.core.trading_calendar import ist_date
    from ordertrack.jobs import period as periods
    from ordertrack.jobs import pnl_report
    from ordertrack.jobs import report as report_job
    from ordertrack.store import report_data

    period = periods.period(ist_date(utcnow()), day, week, first, last, month)
    target = None if str(out) == "-" else out or Path(report_job.default_name(period))
    if target is not None:  # refused before any work; write() checks again
        _writing(target, lambda: files.check_target(target))
    if not shell.settings.db_path.expanduser().exists():
        raise DatabaseError(f"no database at {shell.settings.db_path}: nothing to report")
    data = report_data.gather(shell.open(), period, shell.settings.missing.calendar, utcnow())
    data.pnl = pnl_report.block(shell.open(), period, shell.settings.charges)
    page = report_job.page(data)
    if target is not None:
        _writing(target, lambda: report_job.write(page, target))
    return Result(target, page)


def _writing(target: Path, write: Callable[[], object]) -> None:
    """A file the user named: a refusal or an OS error is theirs to fix (exit 2, one line)."""
    try:
        write()
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def datasette_metadata(shell: Shell) -> Result:
    from ordertrack.store import datasette

    return Result(datasette.metadata(shell.settings.db_path.stem))


def doctor(shell: Shell, env_file: Path | None, offline: bool, send: bool) -> Result:
    """Every deployment check as cron will see it; exit 3 unless all pass."""
    from ordertrack.jobs import doctor as doctor_job

    checks = doctor_job.run(
        doctor_job.context(
            shell.env, shell.db_path, shell.config_path, env_file, offline, send, utcnow()
        )
    )
    passed = all(r.ok for r in checks)
    return Result(
        {"ok": passed, "checks": [r.json() for r in checks]},
        checks,
        exit=0 if passed else int(ExitCode.CONFIG),
    )


def events(shell: Shell, since: int, kind: str | None, limit: int | None, follow: int) -> Result:
    """Every recorded event after `since`, oldest first; `view` yields them as they come
    (for up to `follow` seconds more)."""
    from ordertrack.store import feed

    kinds = feed.checked_kinds((kind or "").split(","))
    return Result(view=feed.follow(shell.open(create=False), since, kinds, limit, follow))


# ---- the schedule ------------------------------------------------------------------------------


def schedule_paths(shell: Shell, env_file: Path, log: Path | None) -> "schedule.Paths":
    """Paths as cron will see them: --db/--config given here go on the line; otherwise the
    env file (which cron sources) decides the database, and the log sits beside it."""
    from ordertrack.jobs import schedule

    env_file = Path(os.path.abspath(env_file.expanduser()))
    sourced = schedule.read_env_file(env_file)
    db_path = shell.db_path or config.load(sourced).db_path

    def absolute(p: Path | None) -> Path | None:
        return None if p is None else Path(os.path.abspath(p.expanduser()))

    return schedule.Paths(
        schedule.this_executable(),
        env_file,
        absolute(log or db_path.parent / "ordertrack.log"),  # type: ignore
        absolute(shell.db_path),
        absolute(shell.config_path),
    )


def listens(env_file: Path) -> bool:
    """Whether the broker cron's env file names has a push stream, so `listen` is scheduled
    (Angel One and Fyers have none: cron's verify lines poll them)."""
    from ordertrack.broker.stream import has_stream
    from ordertrack.jobs import schedule

    named = schedule.read_env_file(env_file).get("ORDERTRACK_BROKER", "")
    return has_stream(named.strip().lower() or "kotak")


def _bot_wanted(paths: "schedule.Paths") -> bool:
    """[bot] enabled, as the scheduled runs will read it (the env file's settings)."""
    from ordertrack.jobs import schedule

    sourced = schedule.read_env_file(paths.env_file)
    return config.load(sourced, paths.db, paths.config).bot_enabled


def schedule_print(
    shell: Shell, systemd: bool, env_file: Path, log: Path | None, every: int = 30
) -> Result:
    """What install would write: the units by path, or each cron line with its next firing
    (None for a comment line)."""
    from ordertrack.jobs import schedule

    paths = schedule_paths(shell, env_file, log)
    jobs = schedule.jobs(every, listen=listens(paths.env_file), bot=_bot_wanted(paths))
    if systemd:
        return Result(
            view={
                schedule.systemd_dir() / name: text
                for name, text in schedule.systemd_units(paths, jobs).items()
            }
        )
    zone, name = schedule.host_zone()
    now = utcnow()
    lines = schedule.cron_block(paths, zone, name, now.astimezone(zone).date(), jobs).splitlines()
    return Result(
        view=[
            (line, None if line.startswith("#") else schedule.next_firing(line, zone, now))
            for line in lines
        ]
    )


def schedule_install(
    shell: Shell, systemd: bool, env_file: Path, log: Path | None, every: int = 30
) -> Result:
    """Write the schedule, verify every `every` minutes; the cadence goes in the database the
    jobs use, so the report's slots and the overdue checks follow what is installed. `view`
    holds what to tell, `notices` the warnings."""
    from ordertrack.jobs import schedule
    from ordertrack.store import runs
    from ordertrack.store.db import open_db

    paths = schedule_paths(shell, env_file, log)
    schedule.check_env_file(paths.env_file)
    paths.log_file.parent.mkdir(parents=True, exist_ok=True)
    jobs = schedule.jobs(every, listen=listens(paths.env_file), bot=_bot_wanted(paths))
    mine = paths.db or config.load(schedule.read_env_file(paths.env_file)).db_path
    db = open_db(mine, warn=shell.warn)
    try:
        runs.record_cadence(db, every)
    finally:
        db.close()
    home = _home_warning(paths, mine)
    if systemd:
        folder = schedule.install_systemd(paths, jobs)
        timers = " ".join(f"ordertrack-{job.command}.timer" for job in jobs)
        said = (
            f"Wrote {len(jobs) * 2} units to {folder}. Now run:\n"
            f"  systemctl --user daemon-reload\n"
            f"  systemctl --user enable --now {timers}\n"
            f"  loginctl enable-linger {shell.env.get('USER', '$USER')}"
            "   # so they run while you are logged out"
        )
        warnings = (
            []
            if schedule.HOST.systemd_running.is_dir()
            else [
                "systemd is not running on this host, so these timers will never fire: use cron "
                "('ordertrack schedule install' without --systemd)"
            ]
        )
        return Result(view=said, notices=warnings + home)
    lines, name, zone = schedule.install_cron(paths, utcnow(), jobs)
    said = (
        f"Installed {lines} cron lines (host zone {name}); log: {paths.log_file}. "
        "Check with 'ordertrack doctor'."
    )
    warnings = list(home)
    if trouble := schedule.cron_trouble():
        warnings.append(f"{trouble.detail}: {trouble.fix}")
    if schedule.has_dst(zone, utcnow().year):
        warnings.append(
            f"host zone {name} has daylight saving: these lines are right until the "
            "next change; re-run 'ordertrack schedule install' then, or use "
            "'ordertrack schedule install --systemd' (timers in Asia/Kolkata)"
        )
    return Result(view=said, notices=warnings)


def _home_warning(paths: "schedule.Paths", mine: Path) -> list[str]:
    """A line without --db whose database cron's HOME (the passwd entry's) moves elsewhere."""
    from ordertrack.jobs import schedule

    if paths.db is not None:
        return []
    mine, theirs = mine.expanduser(), schedule.database_of(paths.env_file)
    why = schedule.home_differs(mine, theirs)
    if why is None:
        return []
    return [
        f"{why}: the scheduled runs will use database {theirs}; set ORDERTRACK_DB={mine} in "
        "the env file and install again, or install from a login shell"
    ]


def schedule_remove(systemd: bool) -> Result:
    """Remove ordertrack's crontab block (or its systemd user units); `view` says what."""
    from ordertrack.jobs import schedule

    if systemd:
        count, folder = schedule.remove_systemd()
        return Result(
            view=f"Removed {count} units from {folder}; run 'systemctl --user daemon-reload'."
        )
    if not schedule.remove_cron():
        return Result(view="No ordertrack lines in the crontab.")
    return Result(view="Removed ordertrack's lines from the crontab.")


def broker_login(
    shell: Shell, redirect: str | None, tell: Callable[[str], None], ask: Callable[[int], str]
) -> Result:
    """Kite's daily login: `tell` shows the login URL; `ask(limit)` reads the redirect URL (or
    the bare request_token) when it was not given. Today's access token is stored."""
    from ordertrack import net

    broker = shell.settings.broker
    if broker not in ("kite", "fyers"):
        raise UsageError(
            "'broker login' is for ORDERTRACK_BROKER=kite or fyers; Kotak Neo and"
            " Angel One log in by themselves on each run"
        )
    from ordertrack.broker.daily_token import MAX_REDIRECT
    from ordertrack.broker.kite.client import KiteClient

    client: Any
    if broker == "fyers":
        from ordertrack.broker.fyers.client import FyersClient

        client = FyersClient.from_settings(shell.settings, shell.open())
        tell(client.login_url)
    else:
        client = KiteClient.from_settings(shell.settings, shell.open())
        tell(f"https://{client.login_url}")
    answer = ask(MAX_REDIRECT + 1) if redirect is None else redirect
    with net.budget():
        token = client.exchange(answer)
    return Result(
        {
            "broker": broker,
            "user_id": token.user_id,
            "logged_in_at": show_iso(token.created_at),
            "expires_at": show_iso(token.expires_at),
        },
        token,
    )


def pnl(
    shell: Shell, day: str | None, week: bool, month: bool, first: str | None, last: str | None
) -> Result:
    """Realised and unrealised P&L of a period: `json` the figures, `view` (what the table
    adds: price sources and unknown prices, the period's label)."""
    from ordertrack.core.trading_calendar import ist_date
    from ordertrack.jobs import pnl as pnl_job

    period = pnl_job.period(ist_date(utcnow()), day, week, month, first, last)
    db = shell.open(create=False)
    figures = pnl_job.figures(db, period, shell.settings.charges)
    return Result(figures, (pnl_job.extras(db, period), period.label()))


def today() -> date:
    """Today's IST date, as the closing lines name it."""
    from ordertrack.core.trading_calendar import ist_date

    return ist_date(utcnow())
