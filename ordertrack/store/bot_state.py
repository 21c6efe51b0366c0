"""Every SQL statement of `ordertrack bot`: the getUpdates offset, the updates claimed (each
with the outbox row of its answer), single values (the command list registered, a 409
episode, the mute) and the strangers that wrote.

State is per database: a later step serving several accounts keeps one set per database.
Callers own the transactions (jobs/bot.py claims an update and queues its answer in one).
"""

from datetime import datetime, timedelta

from ordertrack.store.db import Database
from ordertrack.timeutil import from_db, to_db

OFFSET = "offset"
COMMANDS = "commands"  # the command list last registered with setMyCommands (its JSON)
CONFLICT = "conflict"  # an open 409 episode: its cause, as alerted
MUTE_UNTIL = "mute_until"  # digestible notifications are held until then
HELD = "HELD"  # the outbox status of a notification held by /mute


def get(db: Database, name: str) -> str | None:
    row = db.execute("SELECT value FROM bot_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def put(db: Database, name: str, value: str) -> None:
    db.execute(
        "INSERT INTO bot_state (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def drop(db: Database, name: str) -> None:
    db.execute("DELETE FROM bot_state WHERE name = ?", (name,))


OFFSET_AT = "offset_at"  # when the offset last moved
QUIET = timedelta(days=6)  # Telegram picks update ids at random after a week without updates


def offset(db: Database, now: datetime) -> int | None:
    """Where the next getUpdates starts; None (from the oldest update kept) after a quiet
    week, when a new update's random id may be below the stored offset. What was answered
    is known by the claimed keys, not by the offset."""
    value, moved = get(db, OFFSET), from_db(get(db, OFFSET_AT))
    if value is None or moved is None or now - moved > QUIET:
        return None
    return int(value)


def advance(db: Database, update_id: int, now: datetime) -> None:
    """The next getUpdates starts after `update_id` (never goes back within a week)."""
    current, moved = get(db, OFFSET), from_db(get(db, OFFSET_AT))
    stale = moved is None or now - moved > QUIET
    if current is None or stale or update_id + 1 > int(current):
        put(db, OFFSET, str(update_id + 1))
        put(db, OFFSET_AT, to_db(now))


def claimed(db: Database, key: str) -> bool:
    found = db.execute("SELECT 1 FROM bot_updates WHERE key = ?", (key,)).fetchone()
    return found is not None


def claim(
    db: Database,
    key: str,
    update_id: int,
    chat: str | None,
    command: str | None,
    outbox_id: int | None,
    now: datetime,
) -> bool:
    """Record an update (by its key: id and message) as handled; False if it was already."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO bot_updates"
        " (key, update_id, chat_id, command, outbox_id, claimed_at) VALUES (?, ?, ?, ?, ?, ?)",
        (key, update_id, chat, command, outbox_id, to_db(now)),
    )
    return cursor.rowcount == 1


def answer_delivery(db: Database, outbox_id: int, chat: str, now: datetime) -> None:
    """An answer's one delivery, to the asking chat only, opened with it (never collated)."""
    db.execute(
        "INSERT OR IGNORE INTO deliveries (outbox_id, chat_id, created_at) VALUES (?, ?, ?)",
        (outbox_id, chat, to_db(now)),
    )


def answers_waiting(db: Database) -> int:
    """Answer deliveries not yet sent or failed (a later bot run retries them)."""
    return int(
        db.execute(
            "SELECT count(*) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id"
            " WHERE o.kind = 'ANSWER' AND d.status IN ('PENDING', 'UNKNOWN', 'SENDING')"
        ).fetchone()[0]
    )


def stranger(db: Database, chat: str, now: datetime) -> bool:
    """Count a message from a chat not allowed; True the first time that chat writes."""
    stamp = to_db(now)
    cursor = db.execute(
        "INSERT OR IGNORE INTO bot_strangers (chat_id, first_seen_at, last_seen_at)"
        " VALUES (?, ?, ?)",
        (chat, stamp, stamp),
    )
    if cursor.rowcount == 1:
        return True
    db.execute(
        "UPDATE bot_strangers SET messages = messages + 1, last_seen_at = ? WHERE chat_id = ?",
        (stamp, chat),
    )
    return False


# ---- the mute --------------------------------------------------------------------------------


def mute_until(db: Database) -> datetime | None:
    value = get(db, MUTE_UNTIL)
    return from_db(value) if value else None


def hold(db: Database, outbox_ids: list[int]) -> None:
    """These notifications wait for the mute to end (never dropped)."""
    marks = ",".join("?" * len(outbox_ids))
    db.execute(f"UPDATE outbox SET status = '{HELD}' WHERE id IN ({marks})", tuple(outbox_ids))


def held_count(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM outbox WHERE status = ?", (HELD,)).fetchone()[0])


def release(db: Database) -> list[dict[str, object]]:
    """The held notifications, oldest first (payload as stored), made PENDING again."""
    rows = [
        dict(r)
        for r in db.query(
            "SELECT id, kind, payload, run_id FROM outbox WHERE status = ? ORDER BY id", (HELD,)
        )
    ]
    db.execute("UPDATE outbox SET status = 'PENDING' WHERE status = ?", (HELD,))
    return rows
