"""`ordertrack bot`: read the trader's commands with getUpdates and answer them, once.

One run: take the bot's own lock (another `bot` holding it: this one ends at once, saying
nothing), register the command list if it changed, long-poll getUpdates from the stored offset,
and handle each update in order. An update is claimed in the same transaction that queues its
answer in the outbox (with its one delivery, to the asking chat) and moves the offset past it,
so a run killed at any point leaves it either unclaimed (Telegram hands it out again) or claimed
with its answer waiting in the outbox, which this run or the next delivers with the outbox's
retries. Answers are not notifications: no [notify] level or digest applies to them.

A 409 Conflict (another poller, or a webhook set on the token: getWebhookInfo tells which) is
one alert per episode and exit 3 until it clears.

The entry takes its settings and database as arguments, and what it answers as a `Desk`: one
account's (`run`), or several accounts sharing the token (jobs/account_bot.py), whose poll state
lives in one "home" database.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordertrack.config import Settings
from ordertrack.core import bot_commands, payloads
from ordertrack.core.models import EventKind
from ordertrack.errors import ConfigError, OrdertrackError, Undelivered, Warn
from ordertrack.store import bot_state, outbox
from ordertrack.store.db import Database, transaction
from ordertrack.text import redact
from ordertrack.timeutil import from_db, show, to_db, to_ist, utcnow

if TYPE_CHECKING:
    from ordertrack.jobs.result import Result
    from ordertrack.notify.delivery import Report
    from ordertrack.notify.telegram import Answer, Bot

Lines = list[tuple[str, str]]  # (html, plain) lines of an answer: notify/answers.py
ANSWER = "ANSWER"  # the outbox kind of an answer (notify/messages.py words it from its lines)
DEFAULT_WAIT = 50
MAX_WAIT = 120
ASKED_REPORTS_KEPT = 20


@dataclass(frozen=True)
class Reads:
    """What the answers are built from: the CLI's own entries (jobs/commands.py), so /status
    says what `ordertrack status` says."""

    status: Callable[[], "Result"]
    pending: Callable[[], "Result"]
    order: Callable[[str], "Result"]
    pnl: Callable[[str], "Result"]  # 'today' | 'week' | 'month'
    report: Callable[[Path], "Result"]  # today's report written to that path


Payloads = list[dict[str, Any]]  # an answer's outbox rows (a /report per account: several)
Effect = Callable[[], None] | None  # what a command changes, applied with its claim


@dataclass(frozen=True)
class Desk:
    """Who may ask, and what they are answered. `accounts`: commands may name an account."""

    allowed: Callable[[], set[str]]
    answer: Callable[
        [bot_commands.Ask | bot_commands.Refusal, bot_commands.Message, datetime],
        tuple[Payloads, Effect],
    ]
    accounts: bool = False
    others: Callable[[], list[str]] = list  # chats answered that the token's settings do not list


@dataclass
class Outcome:
    updates: int = 0
    answered: int = 0
    ignored: int = 0  # not a command, or already answered by an earlier run
    strangers: int = 0  # messages from chats not in TELEGRAM_CHAT_ID (never answered)
    registered: bool = False  # setMyCommands was called (the list changed)
    conflict: str | None = None
    report: "Report | None" = None
    problem: OrdertrackError | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """The run in numbers, for its one log line."""
        return {
            "updates": self.updates,
            "answered": self.answered,
            "ignored": self.ignored,
            "strangers": self.strangers,
        }

    def json(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "answered": self.answered,
            "ignored": self.ignored,
            "strangers": self.strangers,
            "commands_registered": self.registered,
            "conflict": self.conflict,
        }


def run(
    settings: Settings,
    db: Database,
    wait: int,
    reads: Reads,
    warn: Warn,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome | None:
    """One poll and its answers; None when another `bot` run holds the bot's lock."""
    check(settings, wait)
    return serve(settings, db, wait, desk(db, settings, reads), warn, clock)


def serve(
    settings: Settings,
    db: Database,
    wait: int,
    answering: Desk,
    warn: Warn,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome | None:
    """One poll of `settings`' token, its state in `db` and its lock beside `db`; None when
    another `bot` run holds that lock."""
    with _only_one(settings) as mine:
        return _run(settings, db, wait, answering, warn, clock) if mine else None


def desk(db: Database, settings: Settings, reads: Reads) -> Desk:
    """One account's: its chats ask, its data answers."""

    def answer(
        ask: bot_commands.Ask | bot_commands.Refusal, message: bot_commands.Message, now: datetime
    ) -> tuple[Payloads, Effect]:
        said, effect = _answer(db, settings, ask, message, reads, now)
        return [said], effect

    return Desk(allowed=lambda: allowed(db, settings), answer=answer)


def check(settings: Settings, wait: int) -> None:
    """What the bot needs before it opens anything (exit 3 without it)."""
    if not settings.telegram_token:
        raise ConfigError("the bot needs TELEGRAM_BOT_TOKEN (the token from @BotFather)")
    if not settings.telegram_chats:
        raise ConfigError("the bot answers only the chats in TELEGRAM_CHAT_ID, and it is not set")
    if not 0 <= wait <= MAX_WAIT:
        raise ConfigError(f"--wait must be 0 to {MAX_WAIT} seconds")


@contextmanager
def _only_one(settings: Settings) -> Iterator[bool]:
    """The bot's own lock, beside its database (not the run lock: a verify may run while the
    bot polls): an flock, so a SIGKILLed holder releases it with its last breath. Yields
    whether this run holds it."""
    import fcntl
    import os

    db_path = settings.db_path.expanduser()
    fd = os.open(f"{db_path}.bot-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _client(settings: Settings) -> "Bot":
    from ordertrack.notify.telegram import Bot

    return Bot(
        settings.telegram_token or "",
        settings.telegram_api_url,
        read_timeout=settings.telegram_timeout,
    )


def _run(
    settings: Settings,
    db: Database,
    wait: int,
    answering: Desk,
    warn: Warn,
    clock: Callable[[], datetime],
) -> Outcome:
    from ordertrack import net
    from ordertrack.notify.telegram import SendOutcome

    done = Outcome()
    client = _client(settings)
    try:
        with net.budget(wait + 240.0):
            done.registered = register(db, client, warn)
            polled = client.get_updates(bot_state.offset(db, clock()), wait)
            if polled.status == 409:
                return _conflict(db, settings, client, polled, clock(), done)
            if polled.outcome is not SendOutcome.SENT:
                raise _poll_problem(polled)
            _cleared(db, done)
            _handle_all(db, polled.result, answering, warn, clock, done)
            if done.answered or _due(db, clock()):
                done.report, done.problem = _deliver(
                    db, settings, client, clock(), answering.others()
                )
    finally:
        client.close()
    return done


def _handle_all(
    db: Database,
    result: Any,
    answering: Desk,
    warn: Warn,
    clock: Callable[[], datetime],
    done: Outcome,
) -> None:
    """Each update of a getUpdates reply, oldest first."""
    found = [bot_commands.read_update(u) for u in (result if isinstance(result, list) else [])]
    messages = sorted((m for m in found if m is not None), key=lambda m: m.update_id)
    allowed = answering.allowed() if messages else set()
    for message in messages:
        _handle(db, message, allowed, answering, clock(), warn, done)
    done.updates = len(messages)


def _poll_problem(answer: "Answer") -> OrdertrackError:
    from ordertrack.notify.telegram import explain

    diagnosis = explain(answer)
    line = f"getUpdates failed: {diagnosis.line()}"
    return ConfigError(line) if diagnosis.config else Undelivered(line)


def register(db: Database, client: "Bot", warn: Warn) -> bool:
    """setMyCommands when the list differs from the one last registered (and getMe, for the
    bot's name: `/status@OtherBot` in a group is not ours). True when it was called."""
    from ordertrack.notify.telegram import SendOutcome

    key = bot_commands.menu_key()
    if bot_state.get(db, bot_state.COMMANDS) == key:
        return False
    me = client.get_me()
    said = client.set_my_commands(bot_commands.menu())
    if said.outcome is not SendOutcome.SENT:
        warn(f"setMyCommands failed ({said.description}); tried again on the next run")
        return True
    with transaction(db):
        bot_state.put(db, bot_state.COMMANDS, key)
        if isinstance(me.result, dict) and isinstance(me.result.get("username"), str):
            bot_state.put(db, "username", me.result["username"])
    return True


def allowed(db: Database, settings: Settings) -> set[str]:
    from ordertrack.notify.delivery import effective_chats

    return {*settings.telegram_chats, *effective_chats(db, settings.telegram_chats)}


def _due(db: Database, now: datetime) -> bool:
    """Something the bot should deliver although it answered nothing now: an answer a killed
    run queued, or a mute that ended (its digest is due)."""
    ended = bot_state.mute_until(db)
    return bot_state.answers_waiting(db) > 0 or (ended is not None and ended <= now)


def _deliver(
    db: Database, settings: Settings, client: "Bot", now: datetime, others: list[str] | None = None
) -> tuple["Report", OrdertrackError | None]:
    from ordertrack.notify import delivery

    report = delivery.deliver(db, settings, now, client, others or ())
    return report, Undelivered(report.error_line()) if report.undelivered else None


# ---- one update --------------------------------------------------------------------------------


def _handle(
    db: Database,
    message: bot_commands.Message,
    allowed: set[str],
    answering: Desk,
    now: datetime,
    warn: Warn,
    done: Outcome,
) -> None:
    if bot_state.claimed(db, message.key):
        _skip(db, message, now)
        done.ignored += 1
        return
    if message.chat is not None and message.chat not in allowed:
        _stranger(db, message, now, warn)
        done.strangers += 1
        return
    ask = (
        bot_commands.parse(
            message.text,
            bot_state.get(db, "username"),
            group=message.group,
            accounts=answering.accounts,
        )
        if message.text
        else None
    )
    if ask is None or message.chat is None:
        _skip(db, message, now)
        done.ignored += 1
        return
    payloads, effect = answering.answer(ask, message, now)
    if _queue(db, message, _name(ask), payloads, effect, now):
        done.answered += 1
    else:
        done.ignored += 1


def _queue(
    db: Database,
    message: bot_commands.Message,
    command: str,
    payloads: Payloads,
    effect: Effect,
    now: datetime,
) -> bool:
    """Claim the update, apply what the command changes, queue its answer (each part with
    its one delivery) and move the offset past it: one transaction. False if it was claimed
    already."""
    with transaction(db):
        if bot_state.claimed(db, message.key):
            bot_state.advance(db, message.update_id, now)
            return False
        if effect is not None:
            effect()
        ids = []
        for part, payload in enumerate(payloads):
            key = f"bot:{message.key}" + (f":{part}" if part else "")
            outbox.enqueue(db, key, ANSWER, payload, now, None)
            ids.append(outbox.find(db, key))
            bot_state.answer_delivery(db, ids[-1] or 0, str(message.chat), now)
        first = ids[0] if ids else None
        bot_state.claim(db, message.key, message.update_id, message.chat, command, first, now)
        bot_state.advance(db, message.update_id, now)
    return True


def _stranger(db: Database, message: bot_commands.Message, now: datetime, warn: Warn) -> None:
    """Never answered; said once per chat."""
    chat = str(message.chat)
    with transaction(db):
        first = bot_state.claim(
            db, message.key, message.update_id, chat, None, None, now
        ) and bot_state.stranger(db, chat, now)
        bot_state.advance(db, message.update_id, now)
    if first:
        warn(
            f"a message from chat {chat}, which is not in TELEGRAM_CHAT_ID: not answered"
            " (said once per chat)"
        )


def _skip(db: Database, message: bot_commands.Message, now: datetime) -> None:
    with transaction(db):
        bot_state.claim(db, message.key, message.update_id, message.chat, None, None, now)
        bot_state.advance(db, message.update_id, now)


def _name(ask: bot_commands.Ask | bot_commands.Refusal) -> str:
    return ask.name if isinstance(ask, bot_commands.Ask) else "refused"


def payload(chat: str, command: str, lines: Lines) -> dict[str, Any]:
    return {
        "chat": chat,
        "command": command,
        "html": [h for h, _ in lines],
        "plain": [p for _, p in lines],
    }


def _answer(
    db: Database,
    settings: Settings,
    ask: bot_commands.Ask | bot_commands.Refusal,
    message: bot_commands.Message,
    reads: Reads,
    now: datetime,
) -> tuple[dict[str, Any], Callable[[], None] | None]:
    """The answer's outbox payload, and what the command changes (applied in the transaction
    that claims the update, so a repeated update never changes it twice)."""
    from ordertrack.notify import answers

    chat = str(message.chat)
    if isinstance(ask, bot_commands.Refusal):
        return payload(chat, "refused", answers.text(ask.text)), None
    try:
        if ask.name == "report":
            return report(db, settings, chat, message.update_id, reads, now), None
        if ask.name in ("mute", "unmute"):
            return mute(db, chat, ask, now)
        return payload(chat, ask.name, lines(db, settings, ask, reads, now)), None
    except OrdertrackError as exc:
        said = redact(exc.message)
        if ask.name == "order":  # on a phone, the way on is a command, not a CLI hint
            said = f"{said[:1].upper()}{said[1:]}. /pending lists the open orders."
        return payload(chat, ask.name, answers.text(said)), None
    except Exception as exc:  # one command's bug must not stop the bot at this update forever
        said = f"/{ask.name} failed: internal error ({type(exc).__name__}); see the log"
        return payload(chat, ask.name, answers.text(said)), None


def lines(
    db: Database, settings: Settings, ask: bot_commands.Ask, reads: Reads, now: datetime
) -> Lines:
    from ordertrack.notify import answers

    if ask.name == "status":
        until = bot_state.mute_until(db)
        muted = (
            answers.text(f"🔕 Muted until {show(until)}: {bot_state.held_count(db)} held")
            if until is not None and until > now
            else []
        )
        return answers.status(reads.status().json) + muted
    if ask.name == "pending":
        return answers.pending(reads.pending().json)
    if ask.name == "order":
        return answers.order(reads.order(ask.arg).json)
    if ask.name == "pnl":
        figures = reads.pnl(ask.arg)
        return answers.pnl(figures.json, str(figures.view[1]))
    if ask.name == "today":
        return answers.today(_today(db, settings, now))
    return answers.help_answer()


def _today(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    from ordertrack.core.trading_calendar import ist_date
    from ordertrack.store import summary

    calendar = settings.missing.calendar
    return summary.gather(db, ist_date(now), None, calendar, as_of=now)


def report(
    db: Database, settings: Settings, chat: str, update_id: int, reads: Reads, now: datetime
) -> dict[str, Any]:
    """Today's report written beside the database (the newest few asked for are kept), sent
    as a document from there."""
    import re

    from ordertrack.core.trading_calendar import ist_date
    from ordertrack.store import maintenance

    db_path = settings.db_path.expanduser()
    folder = maintenance.private_folder(db_path.parent / "reports")
    target = folder / f"{db_path.stem}-asked-{update_id}.html"
    reads.report(target)
    mine = re.compile(rf"{re.escape(db_path.stem)}-asked-\d+\.html")
    maintenance.prune(maintenance.owned_matching(folder, mine), target, ASKED_REPORTS_KEPT)
    day = ist_date(now)
    return {
        "chat": chat,
        "command": "report",
        "path": str(target),
        "trading_day": day.isoformat(),
        "caption": f"Report {day:%a %d %b %Y} so far ({to_ist(now):%H:%M} IST)",
    }


def mute(
    db: Database, chat: str, ask: bot_commands.Ask, now: datetime
) -> tuple[dict[str, Any], Callable[[], None]]:
    from ordertrack.notify import answers

    if ask.name == "mute":
        until = now + timedelta(minutes=int(ask.arg))
        said = answers.text(
            f"Muted for {ask.arg} minutes, until {show(until)}.",
            "Fills, cancellations and expiries are held and come as one digest then;"
            " rejections and alerts still come.",
            "/unmute ends it sooner.",
        )
        return payload(chat, "mute", said), lambda: bot_state.put(
            db, bot_state.MUTE_UNTIL, to_db(until)
        )
    muted = bot_state.mute_until(db)
    if muted is None or muted <= now:
        return payload(chat, "unmute", answers.text("Not muted.")), lambda: None
    held = bot_state.held_count(db)
    said = answers.text(
        f"Unmuted. {held} held notification{'s come' if held != 1 else ' comes'} now as one digest."
        if held
        else "Unmuted. Nothing was held."
    )
    return payload(chat, "unmute", said), lambda: bot_state.put(
        db, bot_state.MUTE_UNTIL, to_db(now)
    )


# ---- 409 Conflict --------------------------------------------------------------------------------


WEBHOOK_CAUSE = (
    "a webhook is set on this bot, so Telegram refuses getUpdates — remove it (deleteWebhook) "
    "if nothing uses it, or turn the bot off ([bot] enabled = false)"
)
POLLER_CAUSE = (
    "another program is reading this bot's updates (getUpdates) — a token can have only one "
    "reader: give ordertrack a bot of its own, or stop the other poller"
)


def _conflict(
    db: Database,
    settings: Settings,
    client: "Bot",
    polled: "Answer",
    now: datetime,
    done: Outcome,
) -> Outcome:
    """One alert per episode (until a getUpdates succeeds again), and exit 3 every run."""
    info = client.get_webhook_info()
    url = info.result.get("url") if isinstance(info.result, dict) else None
    cause = WEBHOOK_CAUSE if url else POLLER_CAUSE
    done.conflict = "webhook" if url else "poller"
    with transaction(db):
        first = bot_state.get(db, bot_state.CONFLICT) is None
        if first:
            bot_state.put(db, bot_state.CONFLICT, to_db(now))
            queue_conflict_alert(db, f"Telegram answered 409 Conflict: {cause}", now)
    if first:
        done.report, _ = _deliver(db, settings, client, now)
    done.problem = ConfigError(f"Telegram answered 409 Conflict: {cause}")
    return done


def queue_conflict_alert(db: Database, text: str, now: datetime) -> None:
    """The 409 episode's one alert, in this database's outbox (the caller's transaction)."""
    outbox.enqueue(
        db,
        f"bot-conflict:{to_db(now)}",
        EventKind.SYSTEM_ALERT,
        payloads.system_alert("bot", text),
        now,
        None,
    )


def _cleared(db: Database, done: Outcome) -> None:
    if bot_state.get(db, bot_state.CONFLICT) is not None:
        with transaction(db):
            bot_state.drop(db, bot_state.CONFLICT)
        done.notes.append("getUpdates works again: the 409 Conflict has cleared")


# ---- doctor ------------------------------------------------------------------------------------


def conflict_since(settings: Settings) -> datetime | None:
    """When the open 409 episode began, as the last `bot` run recorded it (None: none open, or
    no database yet: doctor never creates one)."""
    from ordertrack.store.db import open_db

    if not settings.db_path.is_file():
        return None
    db = open_db(settings.db_path)
    try:
        return from_db(bot_state.get(db, bot_state.CONFLICT))
    finally:
        db.close()


def doctor_lines(
    settings: Settings, send: bool, conflict: datetime | None = None
) -> list[tuple[bool, str, str]]:
    """(ok, what was seen, fix): no webhook set on the token, and no other poller as the last
    run found (`conflict`: when its 409 began); with `send`, setMyCommands."""
    from ordertrack.notify.telegram import SendOutcome, explain

    client = _client(settings)
    try:
        info = client.get_webhook_info()
        if info.outcome is not SendOutcome.SENT:
            return [
                (False, f"getWebhookInfo: {explain(info).line()}", "run 'ordertrack notify-test'")
            ]
        url = info.result.get("url") if isinstance(info.result, dict) else None
        lines = [
            (
                False,
                "a webhook is set on this bot: getUpdates, and so the bot, cannot work",
                "docs/telegram.md#commands-the-bot (deleteWebhook, or [bot] enabled = false)",
            )
            if url
            else (
                False,
                f"the last bot run got 409 Conflict (since {show(conflict)}): another program"
                " polls this token",
                "give ordertrack a bot of its own, or stop the other poller"
                " (docs/telegram.md#commands-the-bot)",
            )
            if conflict is not None
            else (True, "no webhook on the token: getUpdates can work", "")
        ]
        if send:
            said = client.set_my_commands(bot_commands.menu())
            lines.append(
                (True, f"{len(bot_commands.COMMANDS)} commands registered (setMyCommands)", "")
                if said.outcome is SendOutcome.SENT
                else (
                    False,
                    f"setMyCommands: {explain(said).line()}",
                    "run 'ordertrack notify-test'",
                )
            )
        return lines
    finally:
        client.close()
