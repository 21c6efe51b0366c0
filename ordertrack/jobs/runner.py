"""The life of a broker-facing run (verify, reconcile, eod): the ping to the monitor, the run
log, the single-flight lock, and the system alerts for a broker outage or a run cron missed.
Delivery of what the outbox holds after a run is here too, so the run records its exit code."""

import contextlib
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from ordertrack import net
from ordertrack.config import Settings
from ordertrack.core import health
from ordertrack.errors import BrokerUnavailable, ExitCode, LockHeld, OrdertrackError, Undelivered
from ordertrack.notify import delivery, ping
from ordertrack.store import outbox, runs
from ordertrack.store.db import Database, transaction
from ordertrack.store.locks import single_flight
from ordertrack.text import redact
from ordertrack.timeutil import utcnow

T = TypeVar("T")


def broker_run(settings: Settings, open_db: Callable[[], Database], command: str,
               body: Callable[[Database, int], T],
               warn: Callable[[str], None], trigger: str | None = None) -> tuple[T, Database]:
    """Run `body(db, run_id)` under the single-flight lock, recording the run. `warn` shows a
    problem that does not stop the run (the monitor could not be pinged). A push-triggered run
    (`listen`) never pings the monitor: if cron stops, listen must not hide it."""
    trigger = trigger or runs.trigger_of_process()
    if trigger != "push" and (note := ping.begin(settings.ping_url, command)):
        warn(note)
    db = open_db()
    run_id = runs.begin(db, command, trigger)
    raise_overdue(db, settings, run_id)
    try:
        with single_flight(db, command, settings.lock_wait_seconds,
                           timedelta(minutes=settings.lock_lease_minutes)), net.budget():
            result = body(db, run_id)
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


def _record_failure(db: Database, settings: Settings, command: str, run_id: int,
                    exc: BaseException) -> None:
    if isinstance(exc, OrdertrackError):
        outcome = "locked" if isinstance(exc, LockHeld) else "failed"
        runs.finish(db, run_id, outcome, int(exc.exit_code), error=redact(exc.message))
        if isinstance(exc, BrokerUnavailable):
            broker_down(db, settings, command, exc.message, run_id)
        return
    # The database itself may be what failed: the run's own row is then left as it is.
    with contextlib.suppress(sqlite3.Error):
        if isinstance(exc, KeyboardInterrupt):
            runs.finish(db, run_id, "interrupted", int(ExitCode.INTERRUPTED),
                        error="interrupted")
        else:
            code = (ExitCode.DATABASE if isinstance(exc, sqlite3.DatabaseError)
                    else ExitCode.INTERNAL)
            runs.finish(db, run_id, "crashed", int(code),
                        error=redact(f"{type(exc).__name__}: {exc}"))


def broker_down(db: Database, settings: Settings, command: str, error: str, run_id: int,
                deliver: bool = True) -> None:
    """One system alert per outage (until a broker command succeeds again), then deliver what
    the outbox holds anyway: the broker being down does not stop Telegram. Exit stays 4."""
    key = f"broker-down:after-run-{runs.last_broker_success(db)}"
    with transaction(db):
        outbox.enqueue(db, key, "SYSTEM_ALERT", {"command": command.split()[0],
                                                 "text": f"broker unavailable: {redact(error)}"},
                       utcnow(), run_id)
    if deliver:
        with contextlib.suppress(OrdertrackError), net.budget():
            delivery.deliver(db, settings, utcnow())


def overdue(db: Database, settings: Settings, run_id: int | None = None) -> list[health.Overdue]:
    """Runs cron should have made by now and did not (`run_id`, the current one, aside)."""
    # a tighter installed cadence (`schedule install --every N`) tightens the check: 3 missed
    window = min(settings.overdue, timedelta(minutes=3 * runs.cadence(db)))
    return health.overdue(runs.history(db, run_id), utcnow(), settings.missing.calendar,
                          window, runs.first_runs(db, run_id))


def raise_overdue(db: Database, settings: Settings, run_id: int) -> None:
    """A run cron missed is noticed by the next run: one system alert per missed run."""
    with transaction(db):
        for late in overdue(db, settings, run_id):
            outbox.enqueue(db, late.key, "SYSTEM_ALERT", {"command": late.command,
                                                         "text": late.text}, utcnow(), run_id)


def deliver(db: Database, settings: Settings,
            run_id: int | None = None) -> tuple[delivery.Report, Undelivered | None]:
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
