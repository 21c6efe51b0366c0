"""The run log: one row per broker-facing run, its outcome and counts."""

import json
import os
import sys
from datetime import datetime
from typing import Any

from ordertrack.store.db import Database, transaction
from ordertrack.text import storable
from ordertrack.timeutil import from_db, to_db, utcnow


def trigger_of_process() -> str:
    """A run started from a terminal is a person's ('manual'); anything else is cron's."""
    return "manual" if sys.stdin is not None and sys.stdin.isatty() else "cron"


def begin(db: Database, command: str, trigger: str = "cron") -> int:
    """Record a run as started; returns its id for finish(). `trigger`: cron, manual or push."""
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO runs (command, pid, started_at, outcome, trigger)"
            " VALUES (?, ?, ?, 'running', ?)",
            (command, os.getpid(), to_db(utcnow()), trigger),
        )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def finish(
    db: Database,
    run_id: int,
    outcome: str,
    exit_code: int,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    with transaction(db):
        db.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ?, counts = ?, error = ?"
            " WHERE id = ?",
            (
                to_db(utcnow()),
                outcome,
                exit_code,
                json.dumps(counts) if counts else None,
                storable(error) if error else None,
                run_id,
            ),
        )


def last_broker_success(db: Database) -> int:
    """Id of the last successful broker-facing run (0 if none): an outage is what follows it."""
    row = db.execute(
        "SELECT max(id) FROM runs WHERE outcome = 'ok' AND command IN"
        " ('verify', 'reconcile', 'eod')"
    ).fetchone()
    return int(row[0] or 0)


def note_exit(db: Database, run_id: int, exit_code: int, error: str) -> None:
    """A finished run's exit code changed after its work was recorded (undelivered mail)."""
    with transaction(db):
        db.execute(
            "UPDATE runs SET exit_code = ?, error = ? WHERE id = ?",
            (exit_code, storable(error), run_id),
        )


# Push-triggered runs are shown apart from the scheduled ones they must not stand in for.
_SHOWN = "r.command || CASE WHEN r.trigger = 'push' THEN ' (push)' ELSE '' END"
_SCHEDULED = "trigger != 'push'"


def last_runs(db: Database) -> list[dict[str, Any]]:
    """The latest run of each command, with when it last succeeded."""
    rows = list(
        db.query(
            f"SELECT {_SHOWN} AS command, r.started_at, r.ended_at, r.outcome, r.exit_code,"
            " r.counts, r.error, h.last_ok FROM runs r JOIN (SELECT max(id) AS last_id,"
            " max(CASE WHEN outcome = 'ok' THEN started_at END) AS last_ok FROM runs r"
            f" GROUP BY {_SHOWN}) h ON r.id = h.last_id ORDER BY 1"
        )
    )
    for row in rows:
        row["counts"] = json.loads(row["counts"]) if row["counts"] else None
    return rows


def history(
    db: Database, exclude_run: int | None = None
) -> dict[str, tuple[datetime | None, bool]]:
    """For each command: (start of its last successful run, whether it ever ran)."""
    cursor = db.execute(
        "SELECT command, max(CASE WHEN outcome = 'ok' THEN started_at END) FROM runs"
        f" WHERE id IS NOT ? AND {_SCHEDULED} GROUP BY command",
        (exclude_run,),
    )
    return {command: (from_db(last_ok), True) for command, last_ok in cursor.fetchall()}


def first_runs(db: Database, exclude_run: int | None = None) -> dict[str, datetime]:
    """For each command: when it first ran (overdue checks start there, never before)."""
    cursor = db.execute(
        "SELECT command, min(started_at) FROM runs WHERE id IS NOT ?"
        f" AND {_SCHEDULED} GROUP BY command",
        (exclude_run,),
    )
    return {command: from_db(first) for command, first in cursor.fetchall()}  # type: ignore[misc]


def record_cadence(db: Database, minutes: int) -> None:
    """The verify cadence `schedule install --every` wrote."""
    with transaction(db):
        db.execute(
            "INSERT INTO schedule_settings (name, value) VALUES ('verify_every', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (str(minutes),),
        )


def cadence(db: Database) -> int:
    """Minutes between scheduled verifies (30 unless `schedule install --every` said else)."""
    row = db.execute("SELECT value FROM schedule_settings WHERE name = 'verify_every'").fetchone()
    try:
        return max(1, min(30, int(row[0]))) if row else 30
    except ValueError:
        return 30
