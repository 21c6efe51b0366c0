"""Delivering the outbox to Telegram: nothing lost, nothing sent twice.

Every notification gets one delivery per chat (table `deliveries`), made when it is first taken
up for sending; each chat succeeds or fails on its own. A sender claims one delivery at a time
in a short write transaction (status SENDING, with a lease), sends with no transaction open, and
records the result in another short transaction, so overlapping runs never send the same
delivery twice. An outbox row's status follows its deliveries: SENT when all are sent, FAILED
when any failed for good, otherwise PENDING.

  PENDING  due at next_attempt_at: connect errors and 5xx back off (1, 2, 4 … 60 minutes); a
           429 waits its retry_after and pauses the whole chat for that long.
  SENDING  claimed. A claim whose lease ran out belonged to a sender that died mid-send: its
           outcome is unknown, exactly as after a read timeout.
  SENT     delivered; message_id holds Telegram's id of each part.
  UNKNOWN  the request went out but no reply came. Policy: send it once more on a later run,
           with a line saying it may be a duplicate; a second unknown outcome makes it FAILED
           rather than risk a third copy. At least once, at most two copies.
  FAILED   permanent (bad token, chat not found, bot blocked or not in the group, message
           refused): kept with its reason, reported, re-queued by `outbox flush --retry-failed`.

When one batch holds more than [notify] digest_after events, the routine ones (fills,
cancellations, expiries) travel as one DIGEST row; rejections, manual trades (and the tracking
they stop), summaries and alerts still go on their own. Events set to `off` are marked OFF and
never sent.
"""

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ordertrack.store.db import Database

from ordertrack.notify import messages
from ordertrack.store import outbox
from ordertrack.config import Settings
from ordertrack.store.db import transaction
from ordertrack.errors import ConfigError, OrdertrackError
from ordertrack.errors import ExitCode
from ordertrack.store.runs import pid_alive
from ordertrack.text import storable
from ordertrack.notify.telegram import Answer, Bot, Outcome, Scope, explain
from ordertrack.timeutil import from_db, show, to_db

LEASE = timedelta(minutes=15)  # far longer than one send with its retries and parts
MAX_BACKOFF = timedelta(hours=1)
DOCUMENT = "DAILY_REPORT"  # travels as a file (sendDocument), not as message parts
RETRY_HINT = "after the fix, run 'ordertrack outbox flush --retry-failed'"
_SETTING_OF = {"EXECUTED": "executed", "PARTIAL_FILL": "partial_fill", "REJECTED": "rejected",
               "CANCELLED": "cancelled", "EXPIRED": "expired", "MANUAL_TRADE": "manual_trade",
               "DAILY_SUMMARY": "daily_summary", "DAILY_REPORT": "daily_summary"}
# What may travel in a digest; everything else (rejections, manual trades, summaries, alerts)
# is always a message of its own.
ROUTINE = ("EXECUTED", "PARTIAL_FILL", "CANCELLED", "EXPIRED")
Clock = Callable[[], datetime]


class Undelivered(OrdertrackError):
    exit_code = ExitCode.UNDELIVERED


# ---- pure rules ------------------------------------------------------------------------------


def level(settings: Settings, kind: str, payload: dict[str, Any]) -> str:
    """on | silent | off for one notification; a digest is silent only if all it holds are."""
    if kind == "DIGEST":
        levels = {level(settings, i["kind"], i["payload"]) for i in payload.get("items", [])}
        return "silent" if levels == {"silent"} else "on"
    name = _SETTING_OF.get(kind, "alerts")
    if kind == "MANUAL_TRADE" and payload.get("action") == "manual_sell" \
            and payload.get("new_qty") == 0:
        name = "tracking_stopped"  # a manual sell of everything ends tracking
    return settings.notify_levels.get(name, "on")


@dataclass(frozen=True)
class Batch:
    off: tuple[int, ...] = ()
    digest: tuple[int, ...] = ()
    alone: tuple[int, ...] = ()


def plan(rows: Sequence[tuple[int, str, str]], digest_after: int) -> Batch:
    """(id, kind, level) of notifications not yet taken up → what is muted, what goes in one
    digest and what is sent on its own. 0 for `digest_after` means never digest."""
    off = tuple(i for i, _, lv in rows if lv == "off")
    live = [(i, k) for i, k, lv in rows if lv != "off"]
    routine = tuple(i for i, k in live if k in ROUTINE)
    if digest_after <= 0 or len(live) <= digest_after or len(routine) < 2:
        return Batch(off, (), tuple(i for i, _ in live))
    return Batch(off, routine, tuple(i for i, k in live if k not in ROUTINE))


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before the next attempt: what Telegram asked for, else 1, 2, 4 … 60 minutes."""
    if retry_after is not None:
        return min(timedelta(seconds=max(retry_after, 1.0)), MAX_BACKOFF)
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def clamp_schedule(db: Database, now: datetime) -> None:
    """No next attempt (nor chat pause) further ahead than the longest backoff from now: one
    written while the clock was ahead would otherwise strand its notification until then. No
    wait is ever chosen that long, so such a time is the clock's error: it is due now."""
    latest, stamp = to_db(now + MAX_BACKOFF), to_db(now)
    db.execute("UPDATE deliveries SET next_attempt_at = ? WHERE next_attempt_at > ?"
               " AND status IN ('PENDING', 'UNKNOWN')", (stamp, latest))
    db.execute("UPDATE telegram_chats SET paused_until = ? WHERE paused_until > ?",
               (stamp, latest))


def error_text(answer: Answer) -> str:
    """What is stored as last_error: the cause, the fix and Telegram's own words."""
    diagnosis = explain(answer)
    said = f" [Telegram {answer.status}: {answer.description}]" if answer.status else ""
    return storable(f"{diagnosis.line()}{said}")


# ---- report ----------------------------------------------------------------------------------


@dataclass
class Report:
    enabled: bool
    sent: int = 0  # deliveries completed by this pass
    failed: int = 0  # deliveries that failed for good in this pass
    waiting: int = 0  # deliveries kept for a later run
    failed_before: int = 0  # deliveries that failed for good in earlier passes, still kept
    problems: dict[str, str] = field(default_factory=dict)  # chat ('' = all) → cause and fix
    notes: list[str] = field(default_factory=list)

    @property
    def undelivered(self) -> bool:
        return self.enabled and (self.failed > 0 or self.waiting > 0)

    def error_line(self) -> str:
        counts = [f"{n} {what}" for n, what in ((self.failed, "failed for good"),
                                               (self.waiting, "waiting for a later run")) if n]
        causes = "; ".join(f"chat {chat}: {line}" if chat else line
                           for chat, line in self.problems.items())
        hint = f"; {RETRY_HINT}" if self.failed else ""
        return ("notifications not delivered, kept in the outbox: " + ", ".join(counts)
                + (f" — {causes}" if causes else "") + hint)


# ---- chats -----------------------------------------------------------------------------------


def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, tuple(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor.fetchall()]


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def resolve(db: Database, chat: str) -> str:
    """Where a configured chat id now leads (a group that became a supergroup moved)."""
    for _ in range(5):
        row = db.execute("SELECT migrated_to FROM telegram_chats WHERE chat_id = ?",
                         (chat,)).fetchone()
        if not row or not row[0]:
            break
        chat = row[0]
    return chat


def effective_chats(db: Database, configured: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(resolve(db, chat) for chat in configured))


def migration_notes(db: Database, configured: Sequence[str]) -> list[str]:
    return [f"chat {chat} became supergroup {resolve(db, chat)}: messages follow it; set "
            f"TELEGRAM_CHAT_ID to {resolve(db, chat)}"
            for chat in configured if resolve(db, chat) != chat]


# ---- taking notifications up: mute, digest, one delivery per chat ---------------------------


def _collate(db: Database, settings: Settings, chats: Sequence[str], now: datetime) -> None:
    fresh = _rows(db, "SELECT id, kind, payload, run_id FROM outbox o"
                      " WHERE status = 'PENDING' AND NOT EXISTS"
                      " (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id) ORDER BY id")
    for row in fresh:
        row["payload"] = json.loads(row["payload"])
    batch = plan([(r["id"], r["kind"], level(settings, r["kind"], r["payload"])) for r in fresh],
                 settings.notify_digest_after)
    if batch.off:
        db.execute(f"UPDATE outbox SET status = 'OFF' WHERE id IN ({_marks(batch.off)})",
                   batch.off)
    if batch.digest:
        _digest(db, [r for r in fresh if r["id"] in batch.digest], now)
    for chat in chats:
        db.execute("INSERT OR IGNORE INTO deliveries (outbox_id, chat_id, created_at)"
                   " SELECT id, ?, ? FROM outbox WHERE status = 'PENDING'", (chat, to_db(now)))


def _digest(db: Database, members: list[dict[str, Any]], now: datetime) -> None:
    items = [{"kind": r["kind"], "payload": r["payload"]} for r in members]
    key = f"digest:{members[0]['id']}-{members[-1]['id']}"
    runs = [r["run_id"] for r in members if r["run_id"] is not None]
    outbox.enqueue(db, key, "DIGEST", {"items": items}, now, max(runs) if runs else None)
    ids = [r["id"] for r in members]
    db.execute(f"UPDATE outbox SET status = 'DIGESTED', digest_id = ? WHERE id IN ({_marks(ids)})",
               (outbox.find(db, key), *ids))


# ---- claiming and recording ------------------------------------------------------------------


@dataclass
class Claim:
    id: int
    outbox_id: int
    chat: str
    kind: str
    payload: dict[str, Any]
    queued_at: datetime | None
    attempts: int
    uncertain: int
    parts_sent: int
    message_ids: list[str]
    sender: str


def _claim(db: Database, sender: str, chats: Sequence[str], skip: Sequence[int],
           now: datetime) -> Claim | None:
    """Take the next due delivery for one of `chats`, or None. Other senders skip it now."""
    stamp = to_db(now)
    with transaction(db):
        _recover(db, now)
        found = _rows(db, "SELECT d.*, o.kind, o.payload, o.created_at AS queued_at"
                          " FROM deliveries d JOIN outbox o ON o.id = d.outbox_id"
                          " LEFT JOIN telegram_chats c ON c.chat_id = d.chat_id"
                          " WHERE d.status IN ('PENDING', 'UNKNOWN')"
                          f" AND d.chat_id IN ({_marks(chats)}) AND d.id NOT IN ({_marks(skip)})"
                          " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
                          " AND (c.paused_until IS NULL OR c.paused_until <= ?)"
                          " ORDER BY d.outbox_id, d.id LIMIT 1", (*chats, *skip, stamp, stamp))
        if not found:
            return None
        row = found[0]
        db.execute("UPDATE deliveries SET status = 'SENDING', claimed_by = ?, claimed_until = ?,"
                   " attempts = attempts + 1 WHERE id = ?", (sender, to_db(now + LEASE), row["id"]))
    return Claim(row["id"], row["outbox_id"], row["chat_id"], row["kind"],
                 json.loads(row["payload"]), from_db(row["queued_at"]), row["attempts"] + 1,
                 row["uncertain"], row["parts_sent"],
                 row["message_id"].split(",") if row["message_id"] else [], sender)


def _sender_id() -> str:
    """host:pid:random — so a claim whose sender process is gone can be recovered at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _sender_gone(claimed_by: str | None) -> bool:
    parts = (claimed_by or "").split(":")
    if len(parts) < 3 or not parts[-2].isdigit():
        return False
    host, pid = ":".join(parts[:-2]), int(parts[-2])
    return host == socket.gethostname() and not pid_alive(pid)


def _recover(db: Database, now: datetime) -> None:
    """Claims whose sender died (lease ran out, or its process is gone), maybe after sending:
    outcome unknown."""
    stale = [r for r in _rows(db, "SELECT id, outbox_id, uncertain, claimed_by, claimed_until"
                                  " FROM deliveries WHERE status = 'SENDING'")
             if r["claimed_until"] <= to_db(now) or _sender_gone(r["claimed_by"])]
    for row in stale:
        _unknown(db, row["id"], row["uncertain"], "the sender stopped while sending", now)
    _refresh(db, {row["outbox_id"] for row in stale})


def _unknown(db: Database, delivery: int, uncertain: int, why: str, now: datetime) -> str:
    if uncertain + 1 >= 2:
        status, error = "FAILED", (f"{why}, for the second time: not sent again, to avoid "
                                   "duplicates — check the chat; 'ordertrack outbox flush "
                                   "--retry-failed' sends it once more")
    else:
        status, error = "UNKNOWN", (f"{why} (outcome unknown): sent once more on the next run, "
                                    "marked as a possible duplicate")
    db.execute("UPDATE deliveries SET status = ?, uncertain = uncertain + 1, last_error = ?,"
               " next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
               (status, storable(error), to_db(now), delivery))
    return status


def _progress(db: Database, claim: Claim, parts_sent: int, message_id: int | None) -> None:
    """Record each delivered part at once, so a retry resumes after it instead of repeating it."""
    claim.parts_sent = parts_sent
    claim.message_ids.append(str(message_id if message_id is not None else "?"))
    with transaction(db):
        db.execute("UPDATE deliveries SET parts_sent = ?, message_id = ? WHERE id = ?"
                   " AND claimed_by = ?", (parts_sent, ",".join(claim.message_ids), claim.id,
                                           claim.sender))


def _finish(db: Database, claim: Claim, answer: Answer, chats: Sequence[str],
            now: datetime) -> tuple[str, int]:
    """Record the outcome; returns the delivery's status and how many deliveries failed."""
    with transaction(db):
        owned = db.execute("SELECT 1 FROM deliveries WHERE id = ? AND claimed_by = ?",
                           (claim.id, claim.sender)).fetchone()
        if not owned:
            return "SENDING", 0  # another sender took the claim over (lease ran out)
        status, failed, touched = _apply(db, claim, answer, chats, now)
        _refresh(db, {claim.outbox_id, *touched})
    return status, failed


def _apply(db: Database, claim: Claim, answer: Answer, chats: Sequence[str],
           now: datetime) -> tuple[str, int, set[int]]:
    done = "claimed_by = NULL, claimed_until = NULL"
    if answer.outcome is Outcome.SENT:
        db.execute(f"UPDATE deliveries SET status = 'SENT', sent_at = ?, last_error = NULL,"
                   f" next_attempt_at = NULL, {done} WHERE id = ?", (to_db(now), claim.id))
        return "SENT", 0, set()
    if answer.outcome is Outcome.UNKNOWN:
        status = _unknown(db, claim.id, claim.uncertain, f"no usable reply from Telegram "
                          f"({answer.description})", now)
        return status, int(status == "FAILED"), set()
    error = error_text(answer)
    if answer.outcome is Outcome.TRANSIENT:
        db.execute(f"UPDATE deliveries SET status = 'PENDING', next_attempt_at = ?, last_error = ?,"
                   f" {done} WHERE id = ?",
                   (to_db(now + backoff(claim.attempts, answer.retry_after)), error, claim.id))
        if answer.retry_after is not None:
            _pause(db, claim.chat, now + backoff(claim.attempts, answer.retry_after), now)
        return "PENDING", 0, set()
    db.execute(f"UPDATE deliveries SET status = 'FAILED', last_error = ?, {done} WHERE id = ?",
               (error, claim.id))
    reach = {Scope.CHAT: [claim.chat], Scope.BOT: list(chats)}.get(answer.scope, [])
    failed, touched = _fail_all(db, reach, error)
    return "FAILED", 1 + failed, touched


def _fail_all(db: Database, chats: Sequence[str], error: str) -> tuple[int, set[int]]:
    """Everything still waiting for these chats would fail the same way: say so now."""
    if not chats:
        return 0, set()
    where = f"chat_id IN ({_marks(chats)}) AND status IN ('PENDING', 'UNKNOWN')"
    touched = {r[0] for r in db.execute(f"SELECT outbox_id FROM deliveries WHERE {where}",
                                        tuple(chats))}
    cursor = db.execute(f"UPDATE deliveries SET status = 'FAILED', last_error = ? WHERE {where}",
                        (error, *chats))
    return cursor.rowcount, touched


def _pause(db: Database, chat: str, until: datetime, now: datetime) -> None:
    db.execute("INSERT INTO telegram_chats (chat_id, paused_until, updated_at) VALUES (?, ?, ?)"
               " ON CONFLICT (chat_id) DO UPDATE SET paused_until = excluded.paused_until,"
               " updated_at = excluded.updated_at", (chat, to_db(until), to_db(now)))


def _refresh(db: Database, outbox_ids: set[int]) -> None:
    """An outbox row's status, attempts and last error, from its deliveries."""
    for outbox_id in outbox_ids:
        rows = _rows(db, "SELECT chat_id, status, attempts, last_error, sent_at FROM deliveries"
                         " WHERE outbox_id = ?", (outbox_id,))
        if not rows:
            continue
        statuses = {r["status"] for r in rows}
        status = "SENT" if statuses == {"SENT"} else "FAILED" if "FAILED" in statuses else "PENDING"
        errors = [f"chat {r['chat_id']}: {r['last_error']}" for r in rows
                  if r["last_error"] and r["status"] != "SENT"]
        db.execute("UPDATE outbox SET status = ?, attempts = ?, last_error = ?, sent_at = ?,"
                   " destination = 'telegram' WHERE id = ? AND status IN ('PENDING', 'SENT',"
                   " 'FAILED')", (status, sum(r["attempts"] for r in rows),
                                  "; ".join(errors) or None,
                                  max(r["sent_at"] for r in rows) if status == "SENT" else None,
                                  outbox_id))


def _follow(db: Database, old: str, new: str, claim: Claim, now: datetime) -> bool:
    """The group became a supergroup: remember it and move every unsent delivery there. False
    when this claim's row already had a delivery to the new chat (it goes there instead)."""
    with transaction(db):
        db.execute("INSERT INTO telegram_chats (chat_id, migrated_to, updated_at) VALUES (?, ?, ?)"
                   " ON CONFLICT (chat_id) DO UPDATE SET migrated_to = excluded.migrated_to,"
                   " updated_at = excluded.updated_at", (old, new, to_db(now)))
        db.execute("UPDATE OR IGNORE deliveries SET chat_id = ? WHERE chat_id = ?"
                   " AND status != 'SENT'", (new, old))
        left = _rows(db, "SELECT id, outbox_id FROM deliveries WHERE chat_id = ?"
                         " AND status != 'SENT'", (old,))
        db.execute("DELETE FROM deliveries WHERE chat_id = ? AND status != 'SENT'", (old,))
        _refresh(db, {r["outbox_id"] for r in left})
    claim.chat = new
    return all(r["id"] != claim.id for r in left)


# ---- sending ---------------------------------------------------------------------------------


def send_part(bot: Bot, chat: str, part: messages.Part, silent: bool, again: bool) -> Answer:
    """One part as HTML; if Telegram cannot parse it, the same words as plain text (nothing
    was delivered, so that is safe)."""
    note = f"\n{messages.DUPLICATE_NOTE}" if again else ""
    answer = bot.send_message(chat, part.html + messages.escape(note), silent=silent)
    if answer.outcome is Outcome.PARSE_ERROR:
        answer = bot.send_message(chat, part.plain + note, html=False, silent=silent)
    return answer


def _send(db: Database, bot: Bot, claim: Claim, silent: bool, clock: Clock,
          moved: Callable[[str, str], None]) -> Answer | None:
    """Send a claimed delivery's remaining parts in order. None if a migration made it moot."""
    if claim.kind == DOCUMENT:
        return _send_document(db, bot, claim, silent, clock, moved)
    try:
        parts = messages.message(claim.kind, claim.payload, claim.queued_at)
    except Exception as exc:  # a bug in one message must not hold up every later one
        return Answer(Outcome.PERMANENT, Scope.MESSAGE, None,
                      f"cannot write this message ({type(exc).__name__}: {exc})")
    again, answer = claim.uncertain > 0, Answer(Outcome.SENT)
    for index in range(claim.parts_sent, len(parts)):
        answer = send_part(bot, claim.chat, parts[index], silent, again)
        if answer.outcome is Outcome.MIGRATE and answer.migrate_to:
            old = claim.chat
            if not _follow(db, old, answer.migrate_to, claim, clock()):
                return None
            moved(old, claim.chat)
            answer = send_part(bot, claim.chat, parts[index], silent, again)
        if answer.outcome is not Outcome.SENT:
            return answer
        _progress(db, claim, index + 1, answer.message_id)
        again = False
    return answer


def _send_document(db: Database, bot: Bot, claim: Claim, silent: bool, clock: Clock,
                   moved: Callable[[str, str], None]) -> Answer | None:
    """The daily report as a file (sendDocument), read from where eod wrote it."""
    path = Path(str(claim.payload.get("path", "")))
    try:
        content = path.read_bytes()
    except OSError as exc:  # pruned by [report] keep, or removed by hand: it cannot come back
        return Answer(Outcome.PERMANENT, Scope.MESSAGE, None,
                      f"report file {path} cannot be read ({exc.strerror or exc})")
    note = f"\n{messages.DUPLICATE_NOTE}" if claim.uncertain > 0 else ""
    caption = f"📊 {messages.report_caption(claim.payload)}{note}"
    answer = bot.send_document(claim.chat, path.name, content, caption, silent=silent)
    if answer.outcome is Outcome.MIGRATE and answer.migrate_to:
        old = claim.chat
        if not _follow(db, old, answer.migrate_to, claim, clock()):
            return None
        moved(old, claim.chat)
        answer = bot.send_document(claim.chat, path.name, content, caption, silent=silent)
    if answer.outcome is Outcome.SENT:
        _progress(db, claim, 1, answer.message_id)
    return answer


def _waiting(db: Database, chats: Sequence[str], now: datetime) -> tuple[int, int, str | None]:
    """Deliveries still to send (not counting live claims), those failed, the next due time."""
    waiting, failed, due = db.execute(
        "SELECT sum(status IN ('PENDING', 'UNKNOWN') OR (status = 'SENDING' AND claimed_until"
        " <= ?)), sum(status = 'FAILED'), min(CASE WHEN status IN ('PENDING', 'UNKNOWN')"
        f" THEN next_attempt_at END) FROM deliveries WHERE chat_id IN ({_marks(chats)})",
        (to_db(now), *chats)).fetchone()
    return waiting or 0, failed or 0, due


def _disabled_report(db: Database, settings: Settings) -> Report | None:
    waiting = outbox.count(db, "PENDING")
    if not settings.telegram_token:
        return Report(enabled=False, waiting=waiting)
    if not settings.telegram_chats:
        return Report(enabled=True, waiting=waiting, problems={"": (
            "TELEGRAM_CHAT_ID is not set — set it to the chat id(s) to notify, comma-separated")})
    return None


def deliver(db: Database, settings: Settings, now: datetime, bot: Bot | None = None) -> Report:
    """Send what the outbox holds for every configured chat. Call it with no transaction open:
    it makes its own short ones around each claim and each result."""
    early = _disabled_report(db, settings)
    if early is not None:
        return early
    client = bot or Bot(settings.telegram_token or "", settings.telegram_api_url,
                        read_timeout=settings.telegram_timeout)
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    chats = effective_chats(db, settings.telegram_chats)
    report = Report(enabled=True, notes=migration_notes(db, settings.telegram_chats))
    with transaction(db):
        clamp_schedule(db, now)
        _collate(db, settings, chats, now)
    try:
        _run(db, client, settings, chats, clock, report)
    finally:
        if bot is None:
            client.close()
    report.waiting, failed, due = _waiting(db, chats, clock())
    report.failed_before = failed - report.failed
    if report.waiting and not report.problems and due:
        report.problems[""] = f"next attempt after {show(from_db(due))}"
    return report


def _run(db: Database, bot: Bot, settings: Settings, chats: list[str], clock: Clock,
         report: Report) -> None:
    sender, open_chats, tried = _sender_id(), list(chats), list[int]()

    def moved(old: str, new: str) -> None:
        for group in (chats, open_chats):
            group[:] = list(dict.fromkeys(new if c == old else c for c in group))
        report.notes.append(f"chat {old} became supergroup {new}: messages follow it; set "
                            f"TELEGRAM_CHAT_ID to {new}")

    while open_chats and (claim := _claim(db, sender, open_chats, tried, clock())):
        tried.append(claim.id)
        silent = level(settings, claim.kind, claim.payload) == "silent"
        answer = _send(db, bot, claim, silent, clock, moved)
        if answer is None:
            continue
        status, failed = _finish(db, claim, answer, chats, clock())
        report.sent += status == "SENT"
        report.failed += failed
        if status in ("SENT", "SENDING"):  # SENDING: another sender took the claim over
            continue
        token_problem = answer.scope is Scope.BOT and answer.outcome is Outcome.PERMANENT
        report.problems["" if token_problem else claim.chat] = explain(answer).line()
        if answer.scope is Scope.BOT:
            open_chats.clear()
        elif answer.scope is Scope.CHAT and claim.chat in open_chats:
            open_chats.remove(claim.chat)


def requeue_failed(db: Database, settings: Settings) -> int:
    """FAILED deliveries to the configured chats become PENDING again (after a fix)."""
    chats = effective_chats(db, settings.telegram_chats)
    if not chats:
        return 0
    with transaction(db):
        rows = _rows(db, f"SELECT id, outbox_id FROM deliveries WHERE status = 'FAILED'"
                         f" AND chat_id IN ({_marks(chats)})", chats)
        ids = [r["id"] for r in rows]
        if ids:
            # one more try for an uncertain one, still marked as a possible duplicate
            db.execute("UPDATE deliveries SET status = 'PENDING', next_attempt_at = NULL,"
                       f" uncertain = min(uncertain, 1) WHERE id IN ({_marks(ids)})", ids)
            _refresh(db, {r["outbox_id"] for r in rows})
    return len(ids)


def chat_summary(db: Database) -> list[dict[str, Any]]:
    """Per chat: deliveries sent, waiting and failed, and the latest error of an unsent one."""
    rows = _rows(db, "SELECT chat_id, sum(status = 'SENT') AS sent,"
                     " sum(status IN ('PENDING', 'UNKNOWN', 'SENDING')) AS waiting,"
                     " sum(status = 'FAILED') AS failed, (SELECT last_error FROM deliveries e"
                     " WHERE e.chat_id = d.chat_id AND e.status != 'SENT' AND e.last_error"
                     " IS NOT NULL ORDER BY e.id DESC LIMIT 1) AS last_error"
                     " FROM deliveries d GROUP BY chat_id ORDER BY chat_id")
    return rows


def describe(settings: Settings) -> str:
    if not settings.telegram_token:
        return "off (no TELEGRAM_BOT_TOKEN)"
    if not settings.telegram_chats:
        return "telegram, but TELEGRAM_CHAT_ID is not set: nothing is sent"
    count = len(settings.telegram_chats)
    return f"telegram ({count} chat{'s' if count > 1 else ''})"


# ---- notify-test -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    target: str  # 'bot' or a chat id
    ok: bool
    text: str
    config: bool = False  # a failure that needs a set-up fix (exit 3) rather than a retry (6)


def exit_code(checks: Sequence[Check]) -> ExitCode:
    failed = [c for c in checks if not c.ok]
    if not failed:
        return ExitCode.OK
    return ExitCode.CONFIG if any(c.config for c in failed) else ExitCode.UNDELIVERED


def self_test(settings: Settings, now: datetime, bot: Bot | None = None) -> list[Check]:
    """getMe, then a real test message to every chat; each failure diagnosed."""
    if not settings.telegram_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set — create a bot with @BotFather and "
                          "export TELEGRAM_BOT_TOKEN=<its token>")
    if not settings.telegram_chats:
        raise ConfigError("TELEGRAM_CHAT_ID is not set — export TELEGRAM_CHAT_ID=<chat id>, "
                          "several separated by commas")
    bot = bot or Bot(settings.telegram_token, settings.telegram_api_url,
                     read_timeout=settings.telegram_timeout)
    me = bot.get_me()
    if me.outcome is not Outcome.SENT:
        diagnosis = explain(me)
        return [Check("bot", False, diagnosis.line(), diagnosis.config)]
    name = str(me.result.get("username", "?")) if isinstance(me.result, dict) else "?"
    checks = [Check("bot", True, f"token accepted: @{name}")]
    for chat in settings.telegram_chats:
        checks.append(_test_chat(bot, name, chat, now))
    return checks


def _test_chat(bot: Bot, name: str, chat: str, now: datetime) -> Check:
    [part] = messages.setup_check(name, chat, now)
    answer, target = send_part(bot, chat, part, silent=False, again=False), chat
    if answer.outcome is Outcome.MIGRATE and answer.migrate_to:
        target = answer.migrate_to
        answer = send_part(bot, target, part, silent=False, again=False)
    if answer.outcome is not Outcome.SENT:
        diagnosis = explain(answer)
        return Check(chat, False, diagnosis.line(), diagnosis.config)
    moved = (f"; the group became supergroup {target}: set TELEGRAM_CHAT_ID to {target}"
             if target != chat else "")
    return Check(chat, True, f"test message delivered (message {answer.message_id}){moved}")
