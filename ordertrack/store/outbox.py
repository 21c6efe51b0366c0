"""The persistent outbox: every notification is a row written with the change that caused it.

Rows are delivered after the transaction commits; until a channel is configured they wait here.
What a row says is notify/messages.py's to word.
"""

import json
from datetime import datetime
from typing import Any

from ordertrack.store import deliveries
from ordertrack.store.db import Database
from ordertrack.timeutil import to_db

# PENDING until delivered; DIGESTED rows travel inside a DIGEST row; OFF ones are muted;
# HELD ones wait for the bot's /mute to end (store/bot_state.py), then travel in a digest.
STATUSES = ("PENDING", "SENT", "FAILED", "DIGESTED", "OFF", "HELD")


_ENQUEUE = (
    "INSERT OR IGNORE INTO outbox (key, kind, payload, created_at, run_id) VALUES (?, ?, ?, ?, ?)"
)


ANSWER = "ANSWER"  # a bot command's answer (jobs/bot.py): in the outbox, not a notification


def enqueue(
    db: Database, key: str, kind: str, payload: dict[str, Any], now: datetime, run_id: int | None
) -> bool:
    """Queue a notification once per key; False if it was already queued (a re-run)."""
    cursor = db.execute(
        _ENQUEUE, (key, kind, json.dumps(payload, sort_keys=True), to_db(now), run_id)
    )
    return cursor.rowcount == 1


def enqueue_many(
    db: Database, items: list[tuple[str, str, dict[str, Any]]], now: datetime, run_id: int | None
) -> None:
    """enqueue() for many (key, kind, payload), in order, as one statement."""
    stamp = to_db(now)
    db.executemany(
        _ENQUEUE,
        [
            (key, kind, json.dumps(payload, sort_keys=True), stamp, run_id)
            for key, kind, payload in items
        ],
    )


def listing(
    db: Database,
    status: str | None = None,
    run_id: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status = ?")
        params.append(status)
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    sql = "SELECT * FROM outbox" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += (
        " ORDER BY id"
        + (" DESC" if newest_first else "")
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    return [{**row, "payload": json.loads(row["payload"])} for row in db.query(sql, params)]


def run_count(db: Database, run_id: int | None) -> int:
    """How many notifications a run queued (without rendering them, as listing() does)."""
    return int(db.execute("SELECT count(*) FROM outbox WHERE run_id = ?", (run_id,)).fetchone()[0])


def mute_pending(db: Database) -> int:
    """Mark every waiting notification OFF (never to be sent): the demo's, already shown on
    the terminal, must not reach a real chat once its kept database is used with Telegram."""
    with db.conn:
        return db.execute("UPDATE outbox SET status = 'OFF' WHERE status = 'PENDING'").rowcount


def count(db: Database, status: str, except_kind: str | None = None) -> int:
    """Rows in `status`; with `except_kind`, not counting that kind (the bot's answers, which
    are not notifications)."""
    return int(
        db.execute(
            "SELECT count(*) FROM outbox WHERE status = ? AND kind IS NOT ?", (status, except_kind)
        ).fetchone()[0]
    )


def find(db: Database, key: str) -> int | None:
    row = db.execute("SELECT id FROM outbox WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def with_deliveries(db: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach each row's Telegram deliveries (one per chat) as row['deliveries']."""
    found = deliveries.of_outbox(db, [row["id"] for row in rows])
    return [{**row, "deliveries": found[row["id"]]} for row in rows]
