"""The life of a broker-facing run (verify, reconcile, eod): the ping to the monitor, the run
log (both around loading the settings and opening the database: a run that cannot start is not
silent), the single-flight lock, and the system alerts for a broker outage or a run cron missed.
Delivery of what the outbox holds after a run is here too, so the run records its exit code."""

import contextlib
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from ordertrack import net
from ordertrack.config import Settings
from ordertrack.core import health, payloads
from ordertrack.core.models import EventKind
from ordertrack.errors import (
    BrokerUnavailable,
    ConfigError,
    DatabaseError,
    ExitCode,
    LockHeld,
    OrdertrackError,
    Undelivered,
)
from ordertrack.notify import delivery
from ordertrack.store import db as store_db
from ordertrack.store import outbox, runs
from ordertrack.store.db import Database, transaction
from ordertrack.store.locks import single_flight
from ordertrack.text import redact
from ordertrack.timeutil import utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class Start:
    """How a scheduled run gets going. Each step may fail before the run's work; such a
    failure is not silent (see jobs/unstarted.py)."""

    command: str
    settings: Callable[[], Settings]  # the full settings, or ConfigError
    salvage: Callable[[], Settings]  # what a broken configuration still tells
    open_db: Callable[[], Database]  # the database, or DatabaseError
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def broker_run(
    start: Start,
    body: Callable[[Settings, Database, int], T],
    warn: Callable[[str], None],
    trigger: str | None = None,
) -> tuple[T, Database]:
    """Run `body(settings, db, run_id)` under the single-flight lock, recording the run: the
    ping and the run log wrap everything, settings and database included. `warn` shows a
    problem that does not stop the run (the monitor could not be pinged). A push-triggered run
    (`listen`) never pings the monitor: if cron stops, listen must not hide it."""
    command = start.command
    trigger = trigger or runs.trigger_of_process()
    settings = _settings(start, warn)
    if trigger != "push" and (note := _ping_start(settings.ping_url, command)):
        warn(note)
    db, run_id = _open(start, settings, warn, trigger)
    raise_overdue(db, settings, run_id)
    try:
        with (
            single_flight(
                db,
                command,
                settings.lock_wait_seconds,
                timedelta(minutes=settings.lock_lease_minutes),
                warn,
            ),
            net.budget(),
        ):
            result = body(settings, db, run_id)
    except BaseException as exc:
        _record_failure(db, settings, command, run_id, exc)
        raise
    counts = getattr(result, "counts", None)
    error = getattr(result, "broker_error", None)  # eod goes on without the broker, then fails
    if error:
        runs.finish(db, run_id, "failed", int(ExitCode.BROKER), counts, redact(error))
        broker_down(db, settings, command, error, run_id, deliver=False)  # eod delivers itself
    else:
        runs.finish(db, run_id, "ok", 0, counts)
    return result, db


def _ping_start(url: str | None, command: str) -> str | None:
    """ping.begin, loading the pinger (and its HTTP policy) only when a monitor is set: the
    CLI pings the end of the run only if the module was loaded."""
    if not url:
        return None
    from ordertrack.notify import ping

    return ping.begin(url, command)


def _settings(start: Start, warn: Callable[[str], None]) -> Settings:
    """The settings; when they cannot be loaded, what is left of them still pings, records
    the run and alerts before the ConfigError goes on to its exit code (3)."""
    try:
        return start.settings()
    except ConfigError as exc:
        from ordertrack.jobs import unstarted  # only a run that cannot start needs it

        fallback = start.salvage()
        if note := _ping_start(fallback.ping_url, start.command):
            warn(note)
        reason = unstarted.reason_of(exc)
        try:
            db = (
                store_db.open_db(fallback.db_path, create=False)
                if fallback.db_path != Path()
                else None
            )
        except (DatabaseError, sqlite3.Error):
            db = None
        if db is None:
            unstarted.send_directly(fallback, start.command, reason, utcnow(), start.env, warn)
            raise
        try:
            unstarted.record(db, start.command, int(exc.exit_code), reason, utcnow())
            _deliver_quietly(db, fallback)
        except sqlite3.Error:
            unstarted.send_directly(fallback, start.command, reason, utcnow(), start.env, warn)
        finally:
            db.close()
        raise


def _open(
    start: Start, settings: Settings, warn: Callable[[str], None], trigger: str = "cron"
) -> tuple[Database, int]:
    """The database and this run's row; when it is unusable (not when another program holds
    it: that is a normal wait), the alert goes straight to Telegram."""
    try:
        db = start.open_db()
        return db, runs.begin(db, start.command, trigger)
    except (DatabaseError, sqlite3.DatabaseError) as exc:
        from ordertrack.jobs import unstarted

        reason = unstarted.reason_of(exc)
        if not any(word in reason for word in ("locked", "busy")):
            unstarted.send_directly(settings, start.command, reason, utcnow(), start.env, warn)
        raise


def _deliver_quietly(db: Database, settings: Settings) -> None:
    """Deliver now; a delivery problem changes nothing (the run already has its exit code)."""
    with contextlib.suppress(OrdertrackError), net.budget():
        delivery.deliver(db, settings, utcnow())


def _record_failure(
    db: Database, settings: Settings, command: str, run_id: int, exc: BaseException
) -> None:
    if isinstance(exc, OrdertrackError):
        outcome = "locked" if isinstance(exc, LockHeld) else "failed"
        runs.finish(db, run_id, outcome, int(exc.exit_code), error=redact(exc.message))
        if isinstance(exc, BrokerUnavailable):
            broker_down(db, settings, command, exc.message, run_id)
        elif isinstance(exc, ConfigError):  # e.g. the file broker's folder is gone
            from ordertrack.jobs import unstarted

            unstarted.queue(db, command, unstarted.reason_of(exc), utcnow(), run_id)
            _deliver_quietly(db, settings)
        return
    # The database itself may be what failed: the run's own row is then left as it is.
    with contextlib.suppress(sqlite3.Error):
        if isinstance(exc, KeyboardInterrupt):
            runs.finish(db, run_id, "interrupted", int(ExitCode.INTERRUPTED), error="interrupted")
        else:
            code = (
                ExitCode.DATABASE if isinstance(exc, sqlite3.DatabaseError) else ExitCode.INTERNAL
            )
            runs.finish(
                db, run_id, "crashed", int(code), error=redact(f"{type(exc).__name__}: {exc}")
            )


def broker_down(
    db: Database, settings: Settings, command: str, error: str, run_id: int, deliver: bool = True
) -> None:
    """One system alert per outage (until a broker command succeeds again), then deliver what
    the outbox holds anyway: the broker being down does not stop Telegram. Exit stays 4."""
    from ordertrack.broker import static_ip

    key = f"broker-down:after-run-{runs.last_broker_success(db)}"
    text = static_ip.alert(settings, redact(error)) or f"broker unavailable: {redact(error)}"
    with transaction(db):
        outbox.enqueue(
            db,
            key,
            EventKind.SYSTEM_ALERT,
            payloads.system_alert(command.split()[0], text),
            utcnow(),
            run_id,
        )
    if deliver:
        _deliver_quietly(db, settings)


def overdue(db: Database, settings: Settings, run_id: int | None = None) -> list[health.Overdue]:
    """Runs cron should have made by now and did not (`run_id`, the current one, aside)."""
    # a tighter installed cadence (`schedule install --every N`) tightens the check: 3 missed
    window = min(settings.overdue, timedelta(minutes=3 * runs.cadence(db)))
    return health.overdue(
        runs.history(db, run_id),
        utcnow(),
        settings.missing.calendar,
        window,
        runs.first_runs(db, run_id),
    )


def raise_overdue(db: Database, settings: Settings, run_id: int) -> None:
    """A run cron missed is noticed by the next run: one system alert per missed run."""
    with transaction(db):
        for late in overdue(db, settings, run_id):
            outbox.enqueue(
                db,
                late.key,
                EventKind.SYSTEM_ALERT,
                payloads.system_alert(late.command, late.text),
                utcnow(),
                run_id,
            )


def deliver(
    db: Database, settings: Settings, run_id: int | None = None
) -> tuple[delivery.Report, Undelivered | None]:
    """Deliver what the outbox holds (outside any transaction). When some is kept for later,
    the error to exit with; the run (its work done and recorded) shows that exit code."""
    with net.budget():
        report = delivery.deliver(db, settings, utcnow())
    if not report.undelivered:
        return report, None
    error = Undelivered(report.error_line())
    if run_id is not None:
        runs.note_exit(db, run_id, int(error.exit_code), redact(error.message))
    return report, error
