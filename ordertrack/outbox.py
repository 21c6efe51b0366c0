"""The persistent outbox: every notification is a row written with the change that caused it.

Rows are delivered after the transaction commits; until a channel is configured they wait here.
"""

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from ordertrack.messages import render
from ordertrack.timeutil import to_db


def enqueue(db: Database, key: str, kind: str, payload: dict[str, Any], now: datetime,
            run_id: int | None) -> bool:
    """Queue a notification once per key; False if it was already queued (a re-run)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO outbox (key, kind, payload, created_at, run_id)"
        " VALUES (?, ?, ?, ?, ?)",
        (key, kind, json.dumps(payload, sort_keys=True), to_db(now), run_id),
    )
    return cursor.rowcount == 1


def listing(db: Database, status: str | None = None, run_id: int | None = None,
            limit: int | None = None) -> list[dict[str, Any]]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    sql = "SELECT * FROM outbox" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit else "")
    cursor = db.execute(sql, tuple(params))
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
        row["text"] = render(row["kind"], row["payload"])
    return rows


def count(db: Database, status: str) -> int:
    return db.execute("SELECT count(*) FROM outbox WHERE status = ?", (status,)).fetchone()[0]
