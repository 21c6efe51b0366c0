"""`ordertrack bot --all-accounts` (issue 29 §4): one bot serves every account that shares its
token, because a token has one reader.

The accounts with `[bot] enabled = true` and a TELEGRAM_BOT_TOKEN are grouped by that token;
each group is polled once (jobs/bot.serve). The poll's own state — offset, claimed updates,
strangers, registered command list, a 409 episode — and the queued answers live in one "home"
database per group: the first account by name whose database already holds a poll's offset, or
the first by name when none does. So adding an account never moves the home (a new account has
no offset); removing the home's account, or turning its bot off, does (docs/accounts.md).

A command may name an account (`/status b`); without one, every account the asking chat may
see answers, one named section each. A chat sees an account only when that account's own
TELEGRAM_CHAT_ID lists it; an unknown name and one the chat may not see get the same answer, so
names cannot be probed. Each account's answer is built inside that account's environment
(jobs/accounts.entered) from its own database and settings, as `--account NAME` would.

This module also writes the schedule's one `bot --all-accounts` line (cron) or unit (systemd).
"""

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from ordertrack import config
from ordertrack.core import bot_commands
from ordertrack.core.accounts import Folders
from ordertrack.errors import ConfigError, DatabaseError, OrdertrackError
from ordertrack.jobs import accounts, bot, commands, schedule
from ordertrack.jobs.commands import Result, Shell, Warn
from ordertrack.store import bot_state
from ordertrack.store.db import Database, private_dirs, transaction
from ordertrack.text import redact

BEGIN, END = "# >>> ordertrack-bot:all-accounts >>>", "# <<< ordertrack-bot:all-accounts <<<"
# A dot, which no account name has: never one account's unit (jobs/accounts.unit_stem), and
# ending in "-bot", the default schedule's `remove` leaves it (jobs/schedule._account_unit).
UNIT = "ordertrack-all.accounts-bot"
COMMAND = "bot --all-accounts"

Lines = bot.Lines


@dataclass
class Member:
    """One account the bot answers for: its shell (not entered: `entered` wraps each use)."""

    where: Folders
    env: dict[str, str]
    shell: Shell
    chats: set[str] = field(default_factory=set)  # its TELEGRAM_CHAT_ID, migrations followed

    @property
    def name(self) -> str:
        return self.where.name

    @property
    def db(self) -> Database:
        return self.shell.open()

    @property
    def token(self) -> str:
        return self.shell.settings.telegram_token or ""


@dataclass(frozen=True)
class Group:
    """The accounts sharing one token; `home` holds the poll's state and its lock."""

    home: Member
    members: list[Member]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]


# ---- who is served ---------------------------------------------------------------------------


def gather(warn: Warn) -> list[Member]:
    """Every account with [bot] enabled and a token, by name; an account whose settings
    cannot be read is said and left out (the others are still served)."""
    found = []
    everyone = accounts.every(os.environ)
    keys = {w.name: set(schedule.read_env_file(w.env_file)) for w in everyone}
    for where in everyone:
        try:
            env = _environment(where, keys)
            toml = where.toml if where.toml.is_file() else None
            shell = Shell(where.db, toml, warn, env=env)
            if not (shell.settings.bot_enabled and shell.settings.telegram_token):
                continue
            private_dirs(where.folder)
            with accounts.entered(env):
                shell.open()  # a broken or locked database leaves this account out, alone
        except (OrdertrackError, sqlite3.Error) as exc:
            said = exc.message if isinstance(exc, OrdertrackError) else f"database error: {exc}"
            warn(f"account {where.name}: {redact(said)}; its commands are not answered")
            continue
        found.append(Member(where, env, shell))
    return found


def _environment(where: Folders, keys: dict[str, set[str]]) -> dict[str, str]:
    """jobs/accounts.environment with every env file's names read once for all accounts, not
    once per account (50 accounts: 50 reads, not 2,500; scripts/bench_bot.py --accounts)."""
    return accounts.environment(os.environ, where, keys)


def groups(members: list[Member]) -> list[Group]:
    """One group per token, in the order of its first account's name."""
    by_token: dict[str, list[Member]] = {}
    for m in members:
        by_token.setdefault(m.token, []).append(m)
    return [Group(home(group), group) for group in by_token.values()]


def home(members: list[Member]) -> Member:
    """The first by name whose database already has a poll's offset, else the first by name:
    adding an account (no offset yet) never moves the poll's state."""
    polled = [m for m in members if bot_state.get(m.db, bot_state.OFFSET) is not None]
    return (polled or members)[0]


# ---- the entry -------------------------------------------------------------------------------


def bot_all(wait: int, warn: Warn) -> Result:
    """One poll per token; a group another `bot` is polling is left to it (nothing said)."""
    if not 0 <= wait <= bot.MAX_WAIT:
        raise ConfigError(f"--wait must be 0 to {bot.MAX_WAIT} seconds")
    members = gather(warn)
    rows: list[dict[str, Any]] = []
    views: list[tuple[Group, bot.Outcome | None, OrdertrackError | None]] = []
    problem: OrdertrackError | None = None
    try:
        for group in groups(members):
            done, failed = _poll(group, wait, warn)
            problem = problem or (done.problem if done else None) or failed
            error = failed.message if failed else None
            row: dict[str, Any] = {"home": group.home.name, "accounts": group.names}
            row.update(done.json() if done else {"busy": error is None})
            if error:
                row["error"] = error
            rows.append(row)
            views.append((group, done, failed))
    finally:
        for m in members:
            m.shell.close()
    return Result({"groups": rows}, views, problem=problem)


def _poll(group: Group, wait: int, warn: Warn) -> tuple[bot.Outcome | None, OrdertrackError | None]:
    """The group's one poll, in its home account's environment; its failure is its own (with
    its own exit code, the accounts named, redacted in there)."""
    home_ = group.home
    with accounts.entered(home_.env):  # redaction too knows the home's secrets in here
        try:
            if not any(m.shell.settings.telegram_chats for m in group.members):
                raise ConfigError("no account of this bot sets TELEGRAM_CHAT_ID")
            done = bot.serve(home_.shell.settings, home_.db, wait, desk(group), warn)
        except (OrdertrackError, OSError, sqlite3.Error) as exc:
            return None, _failure(group, exc)
    if done is not None and done.conflict and done.report is not None:  # a 409's first run
        _tell_the_others(group, done, warn)
    return done, None


def _failure(group: Group, exc: BaseException) -> OrdertrackError:
    """The group's failure, with its own exit code, the accounts named, redacted."""
    kind: type[OrdertrackError] = (
        type(exc)
        if isinstance(exc, OrdertrackError)
        else DatabaseError
        if isinstance(exc, sqlite3.Error)
        else ConfigError
    )
    said = exc.message if isinstance(exc, OrdertrackError) else f"{exc}"
    return kind(redact(f"bot for {', '.join(group.names)}: {said}"))


def _tell_the_others(group: Group, done: bot.Outcome, warn: Warn) -> None:
    """A 409 stops the bot for every account on the token: the alert the home queued for its
    own chats goes to the other accounts' chats too, each from its own outbox (and so signed
    with its name). An account whose chats only partly overlap those already told sends to all
    of its own: a second copy in a shared chat rather than none in its own. One account's
    database or delivery failing is said, and leaves the others and the run alone."""
    told = set(group.home.shell.settings.telegram_chats)
    text = done.problem.message if done.problem else "Telegram answered 409 Conflict"
    for m in group.members:
        chats = set(m.shell.settings.telegram_chats)
        if m is group.home or chats <= told:
            continue
        told |= chats
        try:
            with _inside(m):
                _alert(m, text)
        except (OrdertrackError, sqlite3.Error, OSError) as exc:
            said = exc.message if isinstance(exc, OrdertrackError) else f"{exc}"
            warn(f"account {m.name}: the 409 alert waits in its outbox: {redact(said)}")


def _alert(m: Member, text: str) -> None:
    from ordertrack.notify import delivery
    from ordertrack.timeutil import utcnow

    now = utcnow()
    with transaction(m.db):
        bot.queue_conflict_alert(m.db, text, now)
    delivery.deliver(m.db, m.shell.settings, now)


# ---- the answers -----------------------------------------------------------------------------


def desk(group: Group) -> bot.Desk:
    def allowed() -> set[str]:
        for m in group.members:
            m.chats = set(bot.allowed(m.db, m.shell.settings))
        return set().union(*(m.chats for m in group.members))

    def answer(
        ask: bot_commands.Ask | bot_commands.Refusal, message: bot_commands.Message, now: datetime
    ) -> tuple[bot.Payloads, bot.Effect]:
        return _answer(group, ask, str(message.chat), message.update_id, now)

    def others() -> list[str]:
        allowed()  # also when this run answered nothing: a killed run's answers wait
        chats = set().union(*(m.chats for m in group.members if m is not group.home))
        return sorted(chats - group.home.chats)

    return bot.Desk(allowed, answer, accounts=True, others=others)


def _answer(
    group: Group,
    ask: bot_commands.Ask | bot_commands.Refusal,
    chat: str,
    update_id: int,
    now: datetime,
) -> tuple[bot.Payloads, bot.Effect]:
    from ordertrack.notify import answers

    if isinstance(ask, bot_commands.Refusal):
        return [bot.payload(chat, "refused", answers.text(ask.text))], None
    mine = [m for m in group.members if chat in m.chats]  # what this chat may see, no more
    if ask.name == "help":
        return [bot.payload(chat, "help", answers.help_answer() + _help(mine))], None
    if ask.account is not None:
        mine = [m for m in mine if m.name == ask.account]
        if not mine:  # unknown, or not this chat's: the same words, so names cannot be probed
            said = f"No account {ask.account} here. /help lists yours."
            return [bot.payload(chat, ask.name, answers.text(said))], None
    if ask.name == "report":
        return [_report(m, chat, update_id, now) for m in mine], None
    if ask.name in ("mute", "unmute"):
        return _mute(group, mine, chat, ask, now)
    if ask.name == "order" and ask.account is None:
        return [bot.payload(chat, "order", _order_anywhere(mine, ask, now))], None
    parts = [(m, _part(m, partial(_lines, m, ask, now))) for m in mine]
    return [bot.payload(chat, ask.name, sections(parts))], None


def _help(mine: list["Member"]) -> Lines:
    from ordertrack.notify import answers

    return answers.text(
        f"Accounts here: {', '.join(m.name for m in mine)}.",
        "Name one to ask it alone: /status NAME, /order NAME ID, /pnl NAME week,"
        " /mute NAME 30. Without a name, each of them answers.",
    )


def _lines(m: Member, ask: bot_commands.Ask, now: datetime) -> Lines:
    return bot.lines(m.db, m.shell.settings, ask, commands.bot_reads(m.shell), now)


def sections(parts: list[tuple[Member, Lines]]) -> Lines:
    """One section per account, each headed by its name."""
    from ordertrack.notify.messages import escape

    out: Lines = []
    for m, lines in parts:
        if out:
            out.append(("", ""))
        out += [(f"<b>▸ {escape(m.name)}</b>", f"▸ {m.name}"), *lines]
    return out


@contextmanager
def _inside(m: Member) -> Iterator[None]:
    with accounts.entered(m.env):
        yield


def _part(m: Member, build: Callable[[], Lines]) -> Lines:
    """One account's lines, built in its environment; its failure is its own section."""
    from ordertrack.notify import answers

    with _inside(m):
        try:
            return build()
        except OrdertrackError as exc:
            return answers.text(redact(exc.message))
        except Exception as exc:  # one account's bug must not stop the others' answers
            return answers.text(f"failed: internal error ({type(exc).__name__}); see the log")


def _order_anywhere(mine: list[Member], ask: bot_commands.Ask, now: datetime) -> Lines:
    """`/order ID` without a name: the chat's accounts that know the order."""
    from ordertrack.notify import answers

    found: list[tuple[Member, Lines]] = []
    missing = ""
    for m in mine:
        with _inside(m):
            try:
                found.append((m, _lines(m, ask, now)))
            except OrdertrackError as exc:
                missing = missing or redact(exc.message)
    if found:
        return sections(found)
    return answers.text(missing or f"order {ask.arg} is not registered")


def _report(m: Member, chat: str, update_id: int, now: datetime) -> dict[str, Any]:
    """The account's report so far, as a document captioned with its name."""
    from ordertrack.notify import answers

    with _inside(m):
        try:
            said = bot.report(
                m.db, m.shell.settings, chat, update_id, commands.bot_reads(m.shell), now
            )
        except OrdertrackError as exc:
            return bot.payload(chat, "report", sections([(m, answers.text(redact(exc.message)))]))
    return {**said, "caption": f"{m.name}: {said['caption']}"}


def _mute(
    group: Group, mine: list[Member], chat: str, ask: bot_commands.Ask, now: datetime
) -> tuple[bot.Payloads, bot.Effect]:
    """Each account's mute in its own database. The home's is written in the claim's
    transaction; another account's in its own, just before: a run killed between the two
    leaves the update unclaimed, and the next run sets that mute again, from its own now —
    at most a few seconds later, never a second mute."""
    parts: list[tuple[Member, Lines]] = []
    effects: list[Callable[[], None]] = []
    for m in mine:
        said, effect = bot.mute(m.db, chat, ask, now)
        parts.append((m, list(zip(said["html"], said["plain"], strict=True))))
        effects.append(effect if m is group.home else _apart(m.db, effect))

    def apply() -> None:
        for effect in effects:
            effect()

    return [bot.payload(chat, ask.name, sections(parts))], apply


def _apart(db: Database, effect: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        with transaction(db):
            effect()

    return run


# ---- the schedule: one line (or unit) for every account's bot --------------------------------


def wanted() -> bool:
    """Some account enables [bot], as its scheduled runs will read it."""
    for where in accounts.every(os.environ):
        try:
            env = accounts.environment(os.environ, where)
            toml = where.toml if where.toml.is_file() else None
            if config.load(env, where.db, toml).bot_enabled:
                return True
        except OrdertrackError:
            continue
    return False


def log_path() -> Path:
    return accounts.data_dir(os.environ) / "accounts" / "bot-all-accounts.log"


def cron_block(p: accounts.Plan) -> str:
    q = schedule._cron_quote  # noqa: SLF001 - the one quoting rule for crontab lines
    carried = "".join(f"{k}={q(Path(v))} " for k, v in p.carried)
    return (
        f"{BEGIN}\n"
        "# Telegram commands for every account with [bot] enabled = true: one poll per bot"
        " token, every minute. Written by 'ordertrack schedule install --all-accounts'.\n"
        f"* * * * *  {carried}{q(p.executable)} {COMMAND} >> {q(log_path())} 2>&1\n"
        f"{END}\n"
    )


def install_cron(p: accounts.Plan) -> bool:
    """The block written when some account enables [bot], taken out when none does."""
    on = wanted()
    text = schedule.read_crontab()
    if on or BEGIN in text:
        schedule.write_crontab(
            schedule.replace_block(text, cron_block(p) if on else "", BEGIN, END)
        )
    return on


def remove_cron() -> bool:
    text = schedule.read_crontab()
    if BEGIN not in text:
        return False
    schedule.write_crontab(schedule.replace_block(text, "", BEGIN, END))
    return True


def systemd_units(p: accounts.Plan) -> dict[str, str]:
    environment = "".join(
        f"Environment={k}={schedule._unit_path(Path(v))}\n"  # noqa: SLF001
        for k, v in p.carried
    )
    exe = schedule._unit_word(str(p.executable), executable=True)  # noqa: SLF001
    log = schedule._unit_path(log_path())  # noqa: SLF001
    return {
        f"{UNIT}.service": (
            "[Unit]\nDescription=ordertrack bot for every account\n\n"
            f"[Service]\nType=oneshot\n{environment}ExecStart={exe} {COMMAND}\n"
            f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
        ),
        f"{UNIT}.timer": (
            "[Unit]\nDescription=ordertrack bot for every account (every minute)\n\n"
            "[Timer]\nOnCalendar=*-*-* *:*:00\nPersistent=false\n\n"
            "[Install]\nWantedBy=timers.target\n"
        ),
    }


def install_systemd(p: accounts.Plan) -> list[str]:
    """The timer to enable ([] when no account enables [bot]: then none is left behind)."""
    folder = schedule.systemd_dir()
    if not wanted():
        remove_systemd()
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for unit, text in systemd_units(p).items():
        (folder / unit).write_text(text, encoding="utf-8")
    return [f"{UNIT}.timer"]


def remove_systemd() -> int:
    gone = [schedule.systemd_dir() / f"{UNIT}.{s}" for s in ("service", "timer")]
    gone = [p for p in gone if p.exists()]
    for path in gone:
        path.unlink()
    return len(gone)


def schedule_trouble(where: Folders, now: datetime) -> tuple[bool, str, str]:
    """The account's own schedule (jobs/accounts.schedule_trouble), then, when it enables
    [bot], the one `bot --all-accounts` line or unit that answers for it."""
    ok, detail, fix = accounts.schedule_trouble(where, now)
    if not ok or not _enabled(where):
        return ok, detail, fix
    if (schedule.systemd_dir() / f"{UNIT}.timer").is_file():
        return ok, f"{detail}; bot: the all-accounts timer", ""
    try:
        block = schedule.our_block(schedule.read_crontab(), BEGIN, END)
    except ConfigError:
        block = []
    if any(COMMAND in line and not line.startswith("#") for line in block):
        return ok, f"{detail}; bot: every minute (bot --all-accounts)", ""
    return (
        False,
        f"[bot] enabled, but no '{COMMAND}' line or unit answers its commands",
        "ordertrack schedule install --all-accounts",
    )


def _enabled(where: Folders) -> bool:
    """[bot] enabled, read in the account's environment (doctor checks inside it)."""
    try:
        toml = where.toml if where.toml.is_file() else None
        return config.load(os.environ, where.db, toml).bot_enabled
    except OrdertrackError:
        return False
