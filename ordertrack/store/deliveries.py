"""Every SQL statement of Telegram delivery: one `deliveries` row per notification and chat, the
chats' pauses and migrations, and each outbox row's status as its deliveries make it.

Callers own the transactions (notify/delivery.py keeps them short, around a claim or a result).
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ordertrack.store.db import Database
from ordertrack.timeutil import to_db

WAITING = ("PENDING", "UNKNOWN")  # due for a send (again) at next_attempt_at
_DONE = "claimed_by = NULL, claimed_until = NULL"


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


# ---- chats -----------------------------------------------------------------------------------


def migrated_to(db: Database, chat: str) -> str | None:
    row = db.execute("SELECT migrated_to FROM telegram_chats WHERE chat_id = ?", (chat,)).fetchone()
    return row[0] if row and row[0] else None


def pause(db: Database, chat: str, until: datetime, now: datetime) -> None:
    db.execute(
        "INSERT INTO telegram_chats (chat_id, paused_until, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (chat_id) DO UPDATE SET paused_until = excluded.paused_until,"
        " updated_at = excluded.updated_at",
        (chat, to_db(until), to_db(now)),
    )


def clamp(db: Database, latest: datetime, now: datetime) -> None:
    """Next attempts and chat pauses later than `latest` become `now`."""
    stamp, limit = to_db(now), to_db(latest)
    db.execute(
        "UPDATE deliveries SET next_attempt_at = ? WHERE next_attempt_at > ?"
        f" AND status IN ({_marks(WAITING)})",
        (stamp, limit, *WAITING),
    )
    db.execute("UPDATE telegram_chats SET paused_until = ? WHERE paused_until > ?", (stamp, limit))


def move_chat(db: Database, old: str, new: str, now: datetime) -> list[dict[str, Any]]:
    """Remember that `old` became `new` and move every unsent delivery there; returns the
    deliveries dropped because their notification already had one for `new`."""
    db.execute(
        "INSERT INTO telegram_chats (chat_id, migrated_to, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (chat_id) DO UPDATE SET migrated_to = excluded.migrated_to,"
        " updated_at = excluded.updated_at",
        (old, new, to_db(now)),
    )
    db.execute(
        "UPDATE OR IGNORE deliveries SET chat_id = ? WHERE chat_id = ? AND status != 'SENT'",
        (new, old),
    )
    left = list(
        db.query(
            "SELECT id, outbox_id FROM deliveries WHERE chat_id = ? AND status != 'SENT'", (old,)
        )
    )
    db.execute("DELETE FROM deliveries WHERE chat_id = ? AND status != 'SENT'", (old,))
    return left


# ---- taking notifications up -----------------------------------------------------------------


def untaken(db: Database) -> list[dict[str, Any]]:
    """PENDING outbox rows that have no delivery yet (payload decoded), oldest first."""
    rows = list(
        db.query(
            "SELECT id, kind, payload, run_id FROM outbox o"
            " WHERE status = 'PENDING' AND NOT EXISTS"
            " (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id) ORDER BY id"
        )
    )
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


def mute(db: Database, outbox_ids: Sequence[int]) -> None:
    db.execute(
        f"UPDATE outbox SET status = 'OFF' WHERE id IN ({_marks(outbox_ids)})", tuple(outbox_ids)
    )


def fold(db: Database, outbox_ids: Sequence[int], digest_id: int | None) -> None:
    """These rows travel inside the digest row `digest_id`."""
    db.execute(
        f"UPDATE outbox SET status = 'DIGESTED', digest_id = ? WHERE id IN ({_marks(outbox_ids)})",
        (digest_id, *outbox_ids),
    )


def open_for(db: Database, chat: str, now: datetime) -> None:
    """One delivery to `chat` for every PENDING outbox row that has none there yet (a bot's
    answer has its one delivery, to the asking chat, from the start: store/bot.py)."""
    db.execute(
        "INSERT OR IGNORE INTO deliveries (outbox_id, chat_id, created_at)"
        " SELECT id, ?, ? FROM outbox WHERE status = 'PENDING' AND kind != 'ANSWER'",
        (chat, to_db(now)),
    )


# ---- claiming --------------------------------------------------------------------------------


def next_due(
    db: Database, chats: Sequence[str], skip: Sequence[int], now: datetime
) -> dict[str, Any] | None:
    """The next due delivery to one of `chats` (not in `skip`, chat not paused) with its
    notification's kind, payload (as stored) and queued_at."""
    stamp = to_db(now)
    found = list(
        db.query(
            "SELECT d.*, o.kind, o.payload, o.created_at AS queued_at"
            " FROM deliveries d JOIN outbox o ON o.id = d.outbox_id"
            " LEFT JOIN telegram_chats c ON c.chat_id = d.chat_id"
            f" WHERE d.status IN ({_marks(WAITING)})"
            f" AND d.chat_id IN ({_marks(chats)}) AND d.id NOT IN ({_marks(skip)})"
            " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
            " AND (c.paused_until IS NULL OR c.paused_until <= ?)"
            " ORDER BY d.outbox_id, d.id LIMIT 1",
            (*WAITING, *chats, *skip, stamp, stamp),
        )
    )
    return found[0] if found else None


def claim(db: Database, delivery: int, sender: str, until: datetime) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'SENDING', claimed_by = ?, claimed_until = ?,"
        " attempts = attempts + 1 WHERE id = ?",
        (sender, to_db(until), delivery),
    )


def sending(db: Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT id, outbox_id, uncertain, claimed_by, claimed_until"
            " FROM deliveries WHERE status = 'SENDING'"
        )
    )


def owned(db: Database, delivery: int, sender: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM deliveries WHERE id = ? AND claimed_by = ?", (delivery, sender)
        ).fetchone()
        is not None
    )


# ---- recording -------------------------------------------------------------------------------


def progress(
    db: Database, delivery: int, sender: str, parts_sent: int, message_ids: Sequence[str]
) -> None:
    db.execute(
        "UPDATE deliveries SET parts_sent = ?, message_id = ? WHERE id = ? AND claimed_by = ?",
        (parts_sent, ",".join(message_ids), delivery, sender),
    )


def sent(db: Database, delivery: int, now: datetime) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'SENT', sent_at = ?, last_error = NULL,"
        f" next_attempt_at = NULL, {_DONE} WHERE id = ?",
        (to_db(now), delivery),
    )


def retry_at(db: Database, delivery: int, when: datetime, error: str) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'PENDING', next_attempt_at = ?, last_error = ?,"
        f" {_DONE} WHERE id = ?",
        (to_db(when), error, delivery),
    )


def uncertain(db: Database, delivery: int, status: str, error: str, now: datetime) -> None:
    """The outcome of a send is unknown: `status` is UNKNOWN (send again) or FAILED."""
    db.execute(
        "UPDATE deliveries SET status = ?, uncertain = uncertain + 1, last_error = ?,"
        f" next_attempt_at = ?, {_DONE} WHERE id = ?",
        (status, error, to_db(now), delivery),
    )


def failed(db: Database, delivery: int, error: str) -> None:
    db.execute(
        f"UPDATE deliveries SET status = 'FAILED', last_error = ?, {_DONE} WHERE id = ?",
        (error, delivery),
    )


def fail_waiting(db: Database, chats: Sequence[str], error: str) -> tuple[int, set[int]]:
    """Every waiting delivery to `chats` fails with `error`: how many, and their outbox rows."""
    where = f"chat_id IN ({_marks(chats)}) AND status IN ({_marks(WAITING)})"
    params = (*chats, *WAITING)
    touched = {
        r["outbox_id"] for r in db.query(f"SELECT outbox_id FROM deliveries WHERE {where}", params)
    }
    cursor = db.execute(
        f"UPDATE deliveries SET status = 'FAILED', last_error = ? WHERE {where}", (error, *params)
    )
    return cursor.rowcount, touched


def refresh(db: Database, outbox_ids: set[int]) -> None:
    """An outbox row's status, attempts and last error, from its deliveries: SENT when all are
    sent, FAILED when any failed for good, otherwise PENDING."""
    for outbox_id in outbox_ids:
        rows = list(
            db.query(
                "SELECT chat_id, status, attempts, last_error, sent_at"
                " FROM deliveries WHERE outbox_id = ?",
                (outbox_id,),
            )
        )
        if not rows:
            continue
        statuses = {r["status"] for r in rows}
        status = "SENT" if statuses == {"SENT"} else "FAILED" if "FAILED" in statuses else "PENDING"
        errors = [
            f"chat {r['chat_id']}: {r['last_error']}"
            for r in rows
            if r["last_error"] and r["status"] != "SENT"
        ]
        db.execute(
            "UPDATE outbox SET status = ?, attempts = ?, last_error = ?, sent_at = ?,"
            " destination = 'telegram' WHERE id = ? AND status IN ('PENDING', 'SENT',"
            " 'FAILED')",
            (
                status,
                sum(r["attempts"] for r in rows),
                "; ".join(errors) or None,
                max(r["sent_at"] for r in rows) if status == "SENT" else None,
                outbox_id,
            ),
        )


def requeue_failed(db: Database, chats: Sequence[str]) -> int:
    """FAILED deliveries to `chats` become PENDING again; an uncertain one keeps one more try,
    still marked as a possible duplicate."""
    rows = list(
        db.query(
            f"SELECT id, outbox_id FROM deliveries WHERE status = 'FAILED'"
            f" AND chat_id IN ({_marks(chats)})",
            tuple(chats),
        )
    )
    ids = [r["id"] for r in rows]
    if ids:
        db.execute(
            "UPDATE deliveries SET status = 'PENDING', next_attempt_at = NULL,"
            f" uncertain = min(uncertain, 1) WHERE id IN ({_marks(ids)})",
            ids,
        )
        refresh(db, {r["outbox_id"] for r in rows})
    return len(ids)


# ---- listing ---------------------------------------------------------------------------------


def tally(db: Database, chats: Sequence[str], now: datetime) -> tuple[int, int, str | None]:
    """Deliveries to `chats` still to send (live claims aside), those failed, the next due time."""
    waiting, failed_, due = db.execute(
        "SELECT sum(status IN ('PENDING', 'UNKNOWN') OR (status = 'SENDING' AND claimed_until"
        " <= ?)), sum(status = 'FAILED'), min(CASE WHEN status IN ('PENDING', 'UNKNOWN')"
        f" THEN next_attempt_at END) FROM deliveries WHERE chat_id IN ({_marks(chats)})",
        (to_db(now), *chats),
    ).fetchone()
    return waiting or 0, failed_ or 0, due


def per_chat(db: Database) -> list[dict[str, Any]]:
    """Per chat: deliveries sent, waiting and failed, and the latest error of an unsent one."""
    return list(
        db.query(
            "SELECT chat_id, sum(status = 'SENT') AS sent,"
            " sum(status IN ('PENDING', 'UNKNOWN', 'SENDING')) AS waiting,"
            " sum(status = 'FAILED') AS failed, (SELECT last_error FROM deliveries e"
            " WHERE e.chat_id = d.chat_id AND e.status != 'SENT' AND e.last_error"
            " IS NOT NULL ORDER BY e.id DESC LIMIT 1) AS last_error"
            " FROM deliveries d GROUP BY chat_id ORDER BY chat_id"
        )
    )


def of_outbox(db: Database, outbox_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Each outbox row's deliveries (one per chat), in order."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in outbox_ids}
    for start in range(0, len(outbox_ids), 500):
        chunk = tuple(outbox_ids[start : start + 500])
        for row in db.query(
            "SELECT outbox_id, chat_id, status, attempts, next_attempt_at,"
            " last_error, message_id, sent_at FROM deliveries"
            f" WHERE outbox_id IN ({_marks(chunk)}) ORDER BY id",
            chunk,
        ):
            found[row.pop("outbox_id")].append(row)
        for row in db.query(_WEBHOOKS_OF_OUTBOX.format(marks=_marks(chunk)), chunk * 3):
            found[row.pop("outbox_id")].append(row)
    return found


# The feed event an outbox row announces: an order event with the same key, the manual trade
# reconcile queued as 'reconcile:<key>', or the row itself (a run alert).
_WEBHOOK_COLUMNS = (
    "o.id AS outbox_id, w.destination AS chat_id, w.status, w.attempts,"
    " w.next_attempt_at, w.last_error, NULL AS message_id, w.sent_at"
)
_WEBHOOKS_OF_OUTBOX = " UNION ALL ".join(
    f"SELECT {_WEBHOOK_COLUMNS} FROM outbox o {join}"
    " JOIN webhook_deliveries w ON w.feed_id = f.id WHERE o.id IN ({marks})"
    for join in (
        "JOIN events e ON e.key = o.key JOIN feed f ON f.source = 'events' AND f.source_id = e.id",
        "JOIN adjustments a ON o.key LIKE 'reconcile:%' AND a.key = substr(o.key, 11) JOIN feed f"
        " ON f.source = 'adjustments' AND f.source_id = a.id",
        "JOIN feed f ON f.source = 'outbox' AND f.source_id = o.id",
    )
)


# ---- webhooks: one delivery per feed event and webhook ---------------------------------------


def open_webhook(db: Database, destination: str, kinds: Sequence[str], now: datetime) -> int:
    """One delivery to `destination` for every feed event of `kinds` (all when empty) recorded
    since its last opening; a webhook seen for the first time starts at the feed's end. Returns
    how many were opened."""
    stamp = to_db(now)
    db.execute(
        "INSERT OR IGNORE INTO webhooks (destination, opened_to, created_at)"
        " SELECT ?, coalesce(max(id), 0), ? FROM feed",
        (destination, stamp),
    )
    where = f" AND f.kind IN ({_marks(kinds)})" if kinds else ""
    cursor = db.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (feed_id, destination, created_at)"
        " SELECT f.id, ?, ? FROM feed f WHERE f.id > (SELECT opened_to FROM webhooks"
        f" WHERE destination = ?){where} ORDER BY f.id",
        (destination, stamp, destination, *kinds),
    )
    db.execute(
        "UPDATE webhooks SET opened_to = max(opened_to, (SELECT coalesce(max(id), 0)"
        " FROM feed)) WHERE destination = ?",
        (destination,),
    )
    return cursor.rowcount


def keep_place(db: Database, destination: str, now: datetime) -> None:
    """A webhook whose kinds are not known yet (its table is broken) starts where the feed is
    now, as open_webhook() would, but opens nothing: fixed, it opens every event since."""
    db.execute(
        "INSERT OR IGNORE INTO webhooks (destination, opened_to, created_at)"
        " SELECT ?, coalesce(max(id), 0), ? FROM feed",
        (destination, to_db(now)),
    )


def webhook_claims(db: Database) -> list[dict[str, Any]]:
    """Deliveries being sent: who claimed them and until when (notify/webhook.py decides which
    belong to a sender that died)."""
    return list(
        db.query(
            "SELECT id, claimed_by, claimed_until FROM webhook_deliveries WHERE status = 'SENDING'"
        )
    )


def webhook_head(db: Database, destination: str) -> dict[str, Any] | None:
    """The oldest delivery to `destination` not yet sent or failed: events go out in feed
    order, so a later one waits while this one does."""
    found = list(
        db.query(
            "SELECT * FROM webhook_deliveries WHERE destination = ?"
            " AND status IN ('PENDING', 'UNKNOWN', 'SENDING')"
            " ORDER BY feed_id LIMIT 1",
            (destination,),
        )
    )
    return found[0] if found else None


def webhook_claim(db: Database, delivery: int, sender: str, until: datetime) -> None:
    db.execute(
        "UPDATE webhook_deliveries SET status = 'SENDING', claimed_by = ?,"
        " claimed_until = ?, attempts = attempts + 1 WHERE id = ?",
        (sender, to_db(until), delivery),
    )


def webhook_owned(db: Database, delivery: int, sender: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM webhook_deliveries WHERE id = ? AND claimed_by = ?"
            " AND status = 'SENDING'",
            (delivery, sender),
        ).fetchone()
        is not None
    )


def webhook_result(
    db: Database,
    delivery: int,
    status: str,
    error: str | None,
    next_at: datetime | None,
    now: datetime,
    uncertain: bool = False,
) -> None:
    """Record a send's outcome: SENT, PENDING (retry at next_at), UNKNOWN (sent, no reply:
    retry at next_at) or FAILED (kept)."""
    db.execute(
        "UPDATE webhook_deliveries SET status = ?, last_error = ?, next_attempt_at = ?,"
        " sent_at = ?, uncertain = uncertain + ?, claimed_by = NULL, claimed_until = NULL"
        " WHERE id = ?",
        (
            status,
            error,
            to_db(next_at) if next_at else None,
            to_db(now) if status == "SENT" else None,
            int(uncertain),
            delivery,
        ),
    )


def webhook_requeue_failed(db: Database, destinations: Sequence[str]) -> int:
    if not destinations:
        return 0
    return db.execute(
        "UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = NULL"
        f" WHERE status = 'FAILED' AND destination IN ({_marks(destinations)})",
        tuple(destinations),
    ).rowcount


def webhook_tally(
    db: Database, destinations: Sequence[str], now: datetime
) -> tuple[int, int, str | None]:
    """Deliveries to `destinations` still to send (live claims aside), those failed, next due."""
    if not destinations:
        return 0, 0, None
    waiting, failed_, due = db.execute(
        "SELECT sum(status IN ('PENDING', 'UNKNOWN') OR (status = 'SENDING' AND claimed_until"
        " <= ?)), sum(status = 'FAILED'), min(CASE WHEN status IN ('PENDING', 'UNKNOWN')"
        " THEN next_attempt_at END) FROM webhook_deliveries"
        f" WHERE destination IN ({_marks(destinations)})",
        (to_db(now), *destinations),
    ).fetchone()
    return waiting or 0, failed_ or 0, due
