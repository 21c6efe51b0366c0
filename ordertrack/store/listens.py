"""What `listen` records: the pushes it heard (the audit trail; a push never settles an order)
and its own state, for `status`."""

import json
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ordertrack.store.db import Database, transaction
from ordertrack.store.orders import IS_OPEN
from ordertrack.text import storable
from ordertrack.timeutil import to_db

if TYPE_CHECKING:  # `status` reads this module; only `listen` makes pushes
    from ordertrack.core.listen import Push


def open_refs(db: Database) -> tuple[set[str], bool]:
    """Broker ids of the open orders, and whether an open order has no id yet."""
    rows = db.execute(f"SELECT order_id FROM orders WHERE {IS_OPEN}").fetchall()
    return {r[0] for r in rows if r[0]}, any(not r[0] for r in rows)


def record_pushes(db: Database, broker: str, pushes: list["Push"], now: datetime) -> None:
    with transaction(db):
        db.executemany(
            "INSERT INTO pushes (at, broker, order_id, payload) VALUES (?, ?, ?, ?)",
            [
                (to_db(now), broker, p.order_id, storable(json.dumps(p.payload, default=str)))
                for p in pushes
            ],
        )


def begin(db: Database, broker: str, now: datetime) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO listens (pid, broker, started_at, state) VALUES (?, ?, ?, 'connecting')",
            (os.getpid(), broker, to_db(now)),
        )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def update(db: Database, listen_id: int, **values: Any) -> None:
    """Set columns of this listen's row (state, connected_since, last_frame_at, note, ended_at)
    or add to its counters (reconnects, pushes, verifies: pass the increment)."""
    counters = {k: v for k, v in values.items() if k in ("reconnects", "pushes", "verifies")}
    fields = {
        k: to_db(v) if isinstance(v, datetime) else v
        for k, v in values.items()
        if k not in counters
    }
    sets = [f"{k} = ?" for k in fields] + [f"{k} = {k} + ?" for k in counters]
    with transaction(db):
        db.execute(
            f"UPDATE listens SET {', '.join(sets)} WHERE id = ?",
            (*fields.values(), *counters.values(), listen_id),
        )


def latest(db: Database) -> dict[str, Any] | None:
    rows = list(
        db.query(
            "SELECT broker, pid, started_at, state, connected_since, last_frame_at,"
            " reconnects, pushes, verifies, ended_at, note FROM listens"
            " ORDER BY id DESC LIMIT 1"
        )
    )
    return rows[0] if rows else None
