"""Delivering the outbox to Telegram: nothing lost, nothing sent twice.

Every notification gets one delivery per chat (store/deliveries.py), made when it is first taken
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

What is muted, digested or silent, and how long to wait, is notify/policy.py's to decide.
"""

# The Telegram client, the message writer and the webhook senders load only when there is
# something to send (an idle cron run has nothing: start-up, issue 24).
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordertrack import net
from ordertrack.config import Settings, Webhook
from ordertrack.notify.policy import (
    LEASE,
    RETRY_HINT,
    ROUTINE,
    after_unknown,
    backoff,
    digest_key,
    latest_schedule,
    level,
    plan,
)
from ordertrack.store import deliveries, outbox
from ordertrack.store.db import Database, transaction
from ordertrack.store.locks import claimant, claimant_gone
from ordertrack.text import storable
from ordertrack.timeutil import from_db, show, to_db

if TYPE_CHECKING:
    from ordertrack.notify import messages, webhook
    from ordertrack.notify.telegram import Answer, Bot

    Passes = list[tuple[webhook.Channel, webhook.Outcome]]

DOCUMENT = "DAILY_REPORT"  # travels as a file (sendDocument), not as message parts
Clock = Callable[[], datetime]


def error_text(answer: Answer) -> str:
    """What is stored as last_error: the cause, the fix and Telegram's own words."""
    from ordertrack.notify.telegram import explain

    diagnosis = explain(answer)
    said = f" [Telegram {answer.status}: {answer.description}]" if answer.status else ""
    return storable(f"{diagnosis.line()}{said}")


# ---- report ----------------------------------------------------------------------------------


@dataclass
class Counts:
    """One channel's share of a pass: Telegram, or a webhook or hook by its label."""

    name: str
    sent: int = 0
    waiting: int = 0
    failed: int = 0
    held: bool = False  # its configuration keeps it from sending: its deliveries wait


@dataclass
class Report:
    enabled: bool
    sent: int = 0  # deliveries completed by this pass
    failed: int = 0  # deliveries that failed for good in this pass
    waiting: int = 0  # deliveries kept for a later run
    failed_before: int = 0  # deliveries that failed for good in earlier passes, still kept
    problems: dict[str, str] = field(default_factory=dict)  # chat ('' = all) → cause and fix
    notes: list[str] = field(default_factory=list)
    channels: list[Counts] = field(default_factory=list)  # per channel, Telegram first
    muted_until: datetime | None = None  # the bot's /mute, while it lasts
    held: int = 0  # notifications that mute holds (sent as one digest when it ends)

    @property
    def undelivered(self) -> bool:
        held = any(c.held for c in self.channels)
        return self.enabled and (self.failed > 0 or self.waiting > 0 or held)

    def error_line(self) -> str:
        counts = [
            f"{n} {what}"
            for n, what in (
                (self.failed, "failed for good"),
                (self.waiting, "waiting for a later run"),
            )
            if n
        ]
        causes = "; ".join(
            f"{_where(chat)}: {line}" if chat else line for chat, line in self.problems.items()
        )
        hint = f"; {RETRY_HINT}" if self.failed else ""
        head = (
            "notifications not delivered, kept in the outbox: " + ", ".join(counts)
            if counts
            else "a notification channel is held"
        )
        return head + (f" — {causes}" if causes else "") + hint


def _where(destination: str) -> str:
    return destination if destination.startswith(("webhook", "hook")) else f"chat {destination}"


# ---- chats -----------------------------------------------------------------------------------


def resolve(db: Database, chat: str) -> str:
    """Where a configured chat id now leads (a group that became a supergroup moved)."""
    for _ in range(5):
        moved = deliveries.migrated_to(db, chat)
        if not moved:
            break
        chat = moved
    return chat


def effective_chats(db: Database, configured: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(resolve(db, chat) for chat in configured))


def migration_notes(db: Database, configured: Sequence[str]) -> list[str]:
    return [
        f"chat {chat} became supergroup {resolve(db, chat)}: messages follow it; set "
        f"TELEGRAM_CHAT_ID to {resolve(db, chat)}"
        for chat in configured
        if resolve(db, chat) != chat
    ]


# ---- taking notifications up: mute, digest, one delivery per chat ---------------------------


def _collate(
    db: Database, settings: Settings, chats: Sequence[str], now: datetime
) -> tuple[datetime | None, int]:
    """Take up what the outbox holds; returns the bot's mute (until when, how many it holds)
    while one lasts, else (None, 0)."""
    fresh, mute = _muted(db, settings, deliveries.untaken(db), now)
    batch = plan(
        [(r["id"], r["kind"], level(settings, r["kind"], r["payload"])) for r in fresh],
        settings.notify_digest_after,
    )
    if batch.off:
        deliveries.mute(db, batch.off)
    if batch.digest:
        _digest(db, [r for r in fresh if r["id"] in batch.digest], now)
    for chat in chats:
        deliveries.open_for(db, chat, now)
    return mute


def _muted(
    db: Database, settings: Settings, fresh: list[dict[str, Any]], now: datetime
) -> tuple[list[dict[str, Any]], tuple[datetime | None, int]]:
    """The bot's /mute: while it lasts, digestible notifications are HELD (never dropped); the
    first pass after it ends sends what it held as one digest. Others are not touched. Returns
    what is left to send, and the mute (until, held) while it lasts."""
    from ordertrack.store import bot_state

    until = bot_state.mute_until(db)
    if until is None:
        return fresh, (None, 0)
    if until > now:
        held = [r["id"] for r in fresh if r["kind"] in ROUTINE]
        if held:
            bot_state.hold(db, held)
        return [r for r in fresh if r["kind"] not in ROUTINE], (until, bot_state.held_count(db))
    bot_state.drop(db, bot_state.MUTE_UNTIL)
    released = [{**r, "payload": json.loads(str(r["payload"]))} for r in bot_state.release(db)]
    off = [r["id"] for r in released if level(settings, r["kind"], r["payload"]) == "off"]
    if off:
        deliveries.mute(db, off)
    members = [r for r in released if r["id"] not in off]
    if members:
        _digest(db, members, now)
    return fresh, (None, 0)


def _digest(db: Database, members: list[dict[str, Any]], now: datetime) -> None:
    items = [{"kind": r["kind"], "payload": r["payload"]} for r in members]
    key = digest_key(members[0]["id"], members[-1]["id"])
    runs = [r["run_id"] for r in members if r["run_id"] is not None]
    outbox.enqueue(db, key, "DIGEST", {"items": items}, now, max(runs) if runs else None)
    deliveries.fold(db, [r["id"] for r in members], outbox.find(db, key))


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


def _claim(
    db: Database, sender: str, chats: Sequence[str], skip: Sequence[int], now: datetime
) -> Claim | None:
    """Take the next due delivery for one of `chats`, or None. Other senders skip it now."""
    with transaction(db):
        _recover(db, now)
        row = deliveries.next_due(db, chats, skip, now)
        if row is None:
            return None
        deliveries.claim(db, row["id"], sender, now + LEASE)
    return Claim(
        row["id"],
        row["outbox_id"],
        row["chat_id"],
        row["kind"],
        json.loads(row["payload"]),
        from_db(row["queued_at"]),
        row["attempts"] + 1,
        row["uncertain"],
        row["parts_sent"],
        row["message_id"].split(",") if row["message_id"] else [],
        sender,
    )


def _recover(db: Database, now: datetime) -> None:
    """Claims whose sender died (lease ran out, or its process is gone), maybe after sending:
    outcome unknown."""
    stale = [
        r
        for r in deliveries.sending(db)
        if r["claimed_until"] <= to_db(now) or claimant_gone(r["claimed_by"])
    ]
    for row in stale:
        _unknown(db, row["id"], row["uncertain"], "the sender stopped while sending", now)
    deliveries.refresh(db, {row["outbox_id"] for row in stale})


def _unknown(db: Database, delivery: int, uncertain: int, why: str, now: datetime) -> str:
    status, error = after_unknown(uncertain, why)
    deliveries.uncertain(db, delivery, status, storable(error), now)
    return status


def _progress(db: Database, claim: Claim, parts_sent: int, message_id: int | None) -> None:
    """Record each delivered part at once, so a retry resumes after it instead of repeating it."""
    claim.parts_sent = parts_sent
    claim.message_ids.append(str(message_id if message_id is not None else "?"))
    with transaction(db):
        deliveries.progress(db, claim.id, claim.sender, parts_sent, claim.message_ids)


def _finish(
    db: Database, claim: Claim, answer: Answer, chats: Sequence[str], now: datetime
) -> tuple[str, int]:
    """Record the outcome; returns the delivery's status and how many deliveries failed."""
    with transaction(db):
        if not deliveries.owned(db, claim.id, claim.sender):
            return "SENDING", 0  # another sender took the claim over (lease ran out)
        status, failed, touched = _apply(db, claim, answer, chats, now)
        deliveries.refresh(db, {claim.outbox_id, *touched})
    return status, failed


def _apply(
    db: Database, claim: Claim, answer: Answer, chats: Sequence[str], now: datetime
) -> tuple[str, int, set[int]]:
    from ordertrack.notify.telegram import Scope, SendOutcome

    if answer.outcome is SendOutcome.SENT:
        deliveries.sent(db, claim.id, now)
        return "SENT", 0, set()
    if answer.outcome is SendOutcome.UNKNOWN:
        status = _unknown(
            db,
            claim.id,
            claim.uncertain,
            f"no usable reply from Telegram ({answer.description})",
            now,
        )
        return status, int(status == "FAILED"), set()
    error = error_text(answer)
    if answer.outcome is SendOutcome.TRANSIENT:
        wait = backoff(claim.attempts, answer.retry_after)
        deliveries.retry_at(db, claim.id, now + wait, error)
        if answer.retry_after is not None:
            deliveries.pause(db, claim.chat, now + wait, now)
        return "PENDING", 0, set()
    deliveries.failed(db, claim.id, error)
    reach = {Scope.CHAT: [claim.chat], Scope.BOT: list(chats)}.get(answer.scope, [])
    # everything still waiting for these chats would fail the same way: say so now
    failed, touched = deliveries.fail_waiting(db, reach, error) if reach else (0, set())
    return "FAILED", 1 + failed, touched


def _follow(db: Database, old: str, new: str, claim: Claim, now: datetime) -> bool:
    """The group became a supergroup: remember it and move every unsent delivery there. False
    when this claim's row already had a delivery to the new chat (it goes there instead)."""
    with transaction(db):
        left = deliveries.move_chat(db, old, new, now)
        deliveries.refresh(db, {r["outbox_id"] for r in left})
    claim.chat = new
    return all(r["id"] != claim.id for r in left)


# ---- sending ---------------------------------------------------------------------------------


def send_part(bot: Bot, chat: str, part: messages.Part, silent: bool, again: bool) -> Answer:
    """One part as HTML; if Telegram cannot parse it, the same words as plain text (nothing
    was delivered, so that is safe)."""
    from ordertrack.notify import messages
    from ordertrack.notify.telegram import SendOutcome

    note = f"\n{messages.DUPLICATE_NOTE}" if again else ""
    answer = bot.send_message(chat, part.html + messages.escape(note), silent=silent)
    if answer.outcome is SendOutcome.PARSE_ERROR:
        answer = bot.send_message(chat, part.plain + note, html=False, silent=silent)
    return answer


def _send(
    db: Database,
    bot: Bot,
    claim: Claim,
    silent: bool,
    clock: Clock,
    moved: Callable[[str, str], None],
) -> Answer | None:
    """Send a claimed delivery's remaining parts in order. None if a migration made it moot."""
    from ordertrack.notify import messages
    from ordertrack.notify.telegram import Answer, Scope, SendOutcome

    if claim.kind == DOCUMENT or (claim.kind == "ANSWER" and claim.payload.get("path")):
        return _send_document(db, bot, claim, silent, clock, moved)
    try:
        account = os.environ.get("ORDERTRACK_ACCOUNT")  # an account's run: its name is shown
        parts = messages.message(claim.kind, claim.payload, claim.queued_at, account=account)
    except Exception as exc:  # a bug in one message must not hold up every later one
        return Answer(
            SendOutcome.PERMANENT,
            Scope.MESSAGE,
            None,
            f"cannot write this message ({type(exc).__name__}: {exc})",
        )
    again, answer = claim.uncertain > 0, Answer(SendOutcome.SENT)
    for index in range(claim.parts_sent, len(parts)):
        answer = send_part(bot, claim.chat, parts[index], silent, again)
        if answer.outcome is SendOutcome.MIGRATE and answer.migrate_to:
            old = claim.chat
            if not _follow(db, old, answer.migrate_to, claim, clock()):
                return None
            moved(old, claim.chat)
            answer = send_part(bot, claim.chat, parts[index], silent, again)
        if answer.outcome is not SendOutcome.SENT:
            return answer
        _progress(db, claim, index + 1, answer.message_id)
        again = False
    return answer


def _send_document(
    db: Database,
    bot: Bot,
    claim: Claim,
    silent: bool,
    clock: Clock,
    moved: Callable[[str, str], None],
) -> Answer | None:
    """The daily report as a file (sendDocument), read from where eod wrote it."""
    from ordertrack.notify import messages
    from ordertrack.notify.telegram import Answer, Scope, SendOutcome

    path = Path(str(claim.payload.get("path", "")))
    try:
        content = path.read_bytes()
    except OSError as exc:  # pruned by [report] keep, or removed by hand: it cannot come back
        return Answer(
            SendOutcome.PERMANENT,
            Scope.MESSAGE,
            None,
            f"report file {path} cannot be read ({exc.strerror or exc})",
        )
    note = f"\n{messages.DUPLICATE_NOTE}" if claim.uncertain > 0 else ""
    said = claim.payload.get("caption") or messages.report_caption(claim.payload)
    caption = f"📊 {said}{note}"
    answer = bot.send_document(claim.chat, path.name, content, caption, silent=silent)
    if answer.outcome is SendOutcome.MIGRATE and answer.migrate_to:
        old = claim.chat
        if not _follow(db, old, answer.migrate_to, claim, clock()):
            return None
        moved(old, claim.chat)
        answer = bot.send_document(claim.chat, path.name, content, caption, silent=silent)
    if answer.outcome is SendOutcome.SENT:
        _progress(db, claim, 1, answer.message_id)
    return answer


def _disabled_report(db: Database, settings: Settings) -> Report | None:
    waiting = outbox.count(db, "PENDING")
    if not settings.telegram_token:
        return Report(enabled=False, waiting=waiting)
    if not settings.telegram_chats:
        return Report(
            enabled=True,
            waiting=waiting,
            problems={
                "": (
                    "TELEGRAM_CHAT_ID is not set — set it to the chat id(s) to notify,"
                    " comma-separated"
                )
            },
            channels=[Counts("Telegram", waiting=waiting)],
        )
    return None


def deliver(
    db: Database,
    settings: Settings,
    now: datetime,
    bot: Bot | None = None,
    answers_to: Sequence[str] = (),
) -> Report:
    """Send what the outbox holds for every configured chat. Call it with no transaction open:
    it makes its own short ones around each claim and each result. `answers_to`: chats of the
    other accounts a shared bot answers (jobs/account_bot.py); nothing is collated for them,
    so only the bot's answers to them are sent from this database."""
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    hooks = _webhooks(db, settings, now, clock)
    early = _disabled_report(db, settings)
    if early is not None:
        return _with_webhooks(early, hooks) if hooks else early
    from ordertrack.notify.telegram import Bot

    client = bot or Bot(
        settings.telegram_token or "",
        settings.telegram_api_url,
        read_timeout=settings.telegram_timeout,
    )
    chats = effective_chats(db, settings.telegram_chats)
    report = Report(enabled=True, notes=migration_notes(db, settings.telegram_chats))
    with transaction(db):
        deliveries.clamp(db, latest_schedule(now), now)
        report.muted_until, report.held = _collate(db, settings, chats, now)
    sending = chats + [c for c in answers_to if c not in chats]
    try:
        _run(db, client, settings, sending, clock, report)
    finally:
        if bot is None:
            client.close()
    report.waiting, failed, due = deliveries.tally(db, chats, clock())
    report.failed_before = failed - report.failed
    report.channels.append(Counts("Telegram", report.sent, report.waiting, report.failed))
    if report.waiting and not report.problems and due:
        report.problems[""] = f"next attempt after {show(from_db(due))}"
    return _with_webhooks(report, hooks) if hooks else report


def _webhooks(db: Database, settings: Settings, now: datetime, clock: Clock) -> Passes | None:
    """Webhook deliveries, opened from the feed before Telegram mutes or digests anything (an
    engine must hear every fill), then sent, channel by channel. A held channel's deliveries
    are opened and wait; one whose kinds are unknown (its table is broken) only keeps its
    place in the feed, so fixing it opens everything since."""
    if not (settings.webhooks or settings.hooks):
        return None
    from ordertrack.notify import webhook

    channels = webhook.channels(settings)
    with transaction(db):
        webhook.open_all(db, [c for c in channels if c.kinds_known], now)
        for channel in channels:
            if not channel.kinds_known:
                deliveries.keep_place(db, channel.destination, now)
    live = [c for c in channels if not c.held]
    session = net.session() if any(isinstance(c, Webhook) for c in live) else None
    try:
        return [
            (
                c,
                _held(db, c, clock())
                if c.held
                else webhook.deliver(db, _only(settings, c), claimant(), clock, session),
            )
            for c in channels
        ]
    finally:
        if session is not None:
            session.close()


def _only(settings: Settings, channel: webhook.Channel) -> Settings:
    """Settings with this one channel: webhook.deliver() sends to every channel it is given."""
    if isinstance(channel, Webhook):
        return replace(settings, webhooks=(channel,), hooks=())
    return replace(settings, webhooks=(), hooks=(channel,))


def _held(db: Database, channel: webhook.Channel, now: datetime) -> webhook.Outcome:
    from ordertrack.notify import webhook

    waiting, failed, _ = deliveries.webhook_tally(db, [channel.destination], now)
    return webhook.Outcome(
        waiting=waiting,
        failed_before=failed,
        problems={channel.destination: f"held: {channel.held}"},
    )


def _with_webhooks(report: Report, passes: Passes) -> Report:
    """Each webhook's and hook's counts and problems added to Telegram's report, under its own
    name. Without Telegram, the report is theirs alone (outbox rows waiting for Telegram are
    not theirs to count)."""
    if not report.enabled:
        report = Report(
            enabled=True,
            notes=[
                *report.notes,
                f"Telegram is not configured: {report.waiting} notifications wait in the outbox",
            ],
        )
    for channel, out in passes:
        report.sent += out.sent
        report.failed += out.failed
        report.waiting += out.waiting
        report.failed_before += out.failed_before
        report.channels.append(
            Counts(channel.label, out.sent, out.waiting, out.failed, bool(channel.held))
        )
        for line in out.problems.values():
            report.problems[channel.label] = line
        if out.waiting and not out.problems and out.next_due:
            report.problems[channel.label] = f"next attempt after {show(from_db(out.next_due))}"
    return report


def _run(
    db: Database, bot: Bot, settings: Settings, chats: list[str], clock: Clock, report: Report
) -> None:
    from ordertrack.notify.telegram import Scope, SendOutcome, explain

    sender, open_chats, tried = claimant(), list(chats), list[int]()

    def moved(old: str, new: str) -> None:
        for group in (chats, open_chats):
            group[:] = list(dict.fromkeys(new if c == old else c for c in group))
        report.notes.append(
            f"chat {old} became supergroup {new}: messages follow it; set TELEGRAM_CHAT_ID to {new}"
        )

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
        token_problem = answer.scope is Scope.BOT and answer.outcome is SendOutcome.PERMANENT
        report.problems["" if token_problem else claim.chat] = explain(answer).line()
        if answer.scope is Scope.BOT:
            open_chats.clear()
        elif answer.scope is Scope.CHAT and claim.chat in open_chats:
            open_chats.remove(claim.chat)


def requeue_failed(db: Database, settings: Settings) -> int:
    """FAILED deliveries to the configured chats become PENDING again (after a fix)."""
    chats = effective_chats(db, settings.telegram_chats)
    hooks = 0
    if settings.webhooks or settings.hooks:
        from ordertrack.notify import webhook

        hooks = webhook.requeue_failed(db, settings)
    if not chats:
        return hooks
    with transaction(db):
        return hooks + deliveries.requeue_failed(db, chats)


def chat_summary(db: Database) -> list[dict[str, Any]]:
    """Per chat: deliveries sent, waiting and failed, and the latest error of an unsent one."""
    return deliveries.per_chat(db)
