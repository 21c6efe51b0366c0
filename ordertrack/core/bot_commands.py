"""The bot's commands, decided without I/O: the list Telegram's menu shows, and what one
message asks for, every argument checked. No command runs a program or takes a path."""

import json
import re
from dataclasses import dataclass, replace
from typing import Any

# (command, description) in menu order; setMyCommands takes 1–32 of [a-z0-9_] and 1–256 chars.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "Last runs, open orders, outbox, anything overdue"),
    ("pending", "Open orders, newest first"),
    ("order", "One order and its events: /order ID"),
    ("today", "Today's summary so far"),
    ("pnl", "P&L today, or /pnl week, /pnl month"),
    ("report", "Today's HTML report as a file"),
    ("mute", "Hold routine notifications: /mute MINUTES"),
    ("unmute", "End the mute: what was held comes as one digest"),
    ("help", "What each command does"),
)
NAMES = frozenset(name for name, _ in COMMANDS)
MAX_MUTE_MINUTES = 24 * 60
ORDER_ID = re.compile(r"#?[A-Za-z0-9._:/-]{1,64}")  # an order id's characters, nothing else
PNL_SPANS = ("today", "week", "month")
MUTE_SPAN = re.compile(r"([0-9]{1,5})(m|min|mins|minutes?|h|hr|hrs|hours?)?")
PENDING_LINES = 20


@dataclass(frozen=True)
class Ask:
    """A command understood: its name and its checked argument ('' when none)."""

    name: str
    arg: str = ""
    account: str | None = None  # `/status b` when one bot serves several accounts


@dataclass(frozen=True)
class Refusal:
    """A command that cannot run as written: what to say back."""

    text: str


def menu() -> list[dict[str, str]]:
    """setMyCommands' `commands`."""
    return [{"command": name, "description": text} for name, text in COMMANDS]


def menu_key() -> str:
    """What the registered list is remembered by: it is registered again only when this changes."""
    return json.dumps(menu(), sort_keys=True, ensure_ascii=False)


def parse(
    text: str, bot_username: str | None = None, *, group: bool = False, accounts: bool = False
) -> Ask | Refusal | None:
    """A message's text → the command it asks (None: not a command, or one for another bot).
    In a group an unknown command (or `/start`) is another bot's unless addressed to this one
    (`/weather@ordertrack_bot`): answering every other bot's commands there is noise. With
    `accounts` (one bot serving several accounts) a command may name one first: `/status b`,
    `/order b ID`, `/pnl b week`, `/mute b 30`."""
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        return None
    head, args = words[0][1:], words[1:]
    name, _, to = head.partition("@")
    if to and bot_username and to.lower() != bot_username.lower():
        return None  # `/status@OtherBot` in a group is another bot's
    name = name.lower()
    if group and not to and (name == "start" or name not in NAMES):
        return None
    if name == "start":
        name = "help"
    if name not in NAMES:
        return Refusal(f"Unknown command /{name[:32]}. /help lists what I answer.")
    account, args = split_account(name, args) if accounts else (None, args)
    ask = _checked(name, args)
    return replace(ask, account=account) if isinstance(ask, Ask) and account else ask


def split_account(name: str, args: list[str]) -> tuple[str | None, list[str]]:
    """The account a command names, if any, and the arguments left: a command's own argument
    wins where both could be meant (`/pnl week` is a span, `/order ID` an id, `/mute 30`
    minutes), so the account comes first and only when the command has room for it."""
    own = {"order": 1, "mute": 1, "pnl": 1}.get(name, 0)
    if name == "mute" and _minutes("".join(args).lower()) is not None:
        return None, args  # `/mute 30 min` is a duration in two words, not account 30
    if name == "help" or len(args) != own + 1:
        if name == "pnl" and len(args) == 1 and args[0].lower() not in PNL_SPANS:
            return args[0].lower()[:32], []
        return None, args
    return args[0].lower()[:32], args[1:]


def _checked(name: str, args: list[str]) -> Ask | Refusal:
    if name == "order":
        if len(args) != 1 or not ORDER_ID.fullmatch(args[0]):
            return Refusal("Usage: /order ID (the broker's order id, or #N for a local one).")
        return Ask(name, args[0])
    if name == "pnl":
        span = args[0].lower() if args else "today"
        if len(args) > 1 or span not in PNL_SPANS:
            return Refusal("Usage: /pnl, /pnl week or /pnl month.")
        return Ask(name, span)
    if name == "mute":
        minutes = _minutes("".join(args).lower()) if len(args) <= 2 else None
        if minutes is None or not 1 <= minutes <= MAX_MUTE_MINUTES:
            return Refusal(f"Usage: /mute MINUTES (1 to {MAX_MUTE_MINUTES}), or /mute 2h.")
        return Ask(name, str(minutes))
    if args:
        return Refusal(f"/{name} takes no arguments.")
    return Ask(name)


def _minutes(text: str) -> int | None:
    """`30`, `30m`, `30 min`, `2h`: what a trader types on a phone (None: none of these)."""
    found = MUTE_SPAN.fullmatch(text)
    if found is None:
        return None
    number, unit = int(found.group(1)), found.group(2) or "m"
    return number * 60 if unit.startswith("h") else number


@dataclass(frozen=True)
class Message:
    """What the bot reads of one update: its id, and the chat and text of a message (None for
    an update that is not a text message: an edit, a member change)."""

    update_id: int
    chat: str | None = None
    text: str | None = None
    sent: str = ""  # the message's id and date: with update_id, what tells one update
    group: bool = False  # a group or supergroup, where other bots may share the commands

    @property
    def key(self) -> str:
        """After a quiet week Telegram picks update ids at random: an old id may come back on a
        new message, so an update is known by its id and its message."""
        return f"{self.update_id}:{self.chat or ''}:{self.sent}"


def read_update(update: Any) -> Message | None:
    """One getUpdates entry; None when it has no usable update_id."""
    if not isinstance(update, dict):
        return None
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    message = update.get("message")
    if not isinstance(message, dict):
        return Message(update_id)
    chat = message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not isinstance(chat_id, (int, str)) or isinstance(chat_id, bool):
        return Message(update_id)
    text = message.get("text")
    sent = f"{message.get('message_id', '')}:{message.get('date', '')}"
    group = isinstance(chat, dict) and chat.get("type") in ("group", "supergroup")
    return Message(update_id, str(chat_id), text if isinstance(text, str) else None, sent, group)


def help_lines() -> list[str]:
    return ["Commands:", *(f"/{name} — {text}" for name, text in COMMANDS)]
