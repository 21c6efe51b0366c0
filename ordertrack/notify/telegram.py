"""Telegram Bot API client: getMe, sendMessage, sendDocument and the bot's calls (getUpdates,
setMyCommands, getWebhookInfo), over the project's one HTTP retry policy.

Every reply is classified (the pure `classify`) into what the sender does next: done, try again
later, follow a group that became a supergroup, resend as plain text, give up until someone fixes
something, or "outcome unknown" (no usable reply after the request went out, so the message may
have arrived). The token sits in the URL path: it never reaches an Answer, an error or a log.
"""

import logging
import re
import time
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ordertrack import net
from ordertrack.errors import ConfigError
from ordertrack.text import redact
from ordertrack.text import url as redact_url

if TYPE_CHECKING:
    import requests

# In-run retries for connect errors, 429 and 5xx; later runs retry from the outbox. Short
# connect timeout (a refused connection was certainly not delivered), long read timeout (a slow
# reply may still mean delivered) — the read timeout comes from [notify] timeout_seconds.
POLICY = net.RetryPolicy(
    attempts=3,
    total_seconds=30.0,
    first_wait=1.0,
    max_wait=10.0,
    connect_timeout=5.0,
    read_timeout=30.0,
)
POLL_MARGIN_SECONDS = 15.0  # a long poll's read timeout: its `timeout` and this much more
CHAT_GAP_SECONDS = 1.0  # Telegram asks for at most about one message per second per chat


class SendOutcome(str, Enum):
    SENT = "sent"
    TRANSIENT = "transient"  # not delivered; safe to send again later
    MIGRATE = "migrate"  # the group became a supergroup: send to `migrate_to` instead
    PARSE_ERROR = "parse_error"  # the markup was refused: send the same words as plain text
    PERMANENT = "permanent"  # fails the same way until someone fixes something
    UNKNOWN = "unknown"  # the request went out but no usable reply came: maybe delivered


class Scope(str, Enum):
    """How far a failure reaches: this message only, every message to the chat, or the bot."""

    MESSAGE = "message"
    CHAT = "chat"
    BOT = "bot"


@dataclass(frozen=True)
class Answer:
    outcome: SendOutcome
    scope: Scope = Scope.MESSAGE
    status: int | None = None  # HTTP status; None when no reply came at all
    description: str = ""
    retry_after: float | None = None
    migrate_to: str | None = None
    result: Any = None

    @property
    def message_id(self) -> int | None:
        value = self.result.get("message_id") if isinstance(self.result, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


# Descriptions (lower case) that mean "every message to this chat will fail the same way".
_CHAT_DEAD = (
    "chat not found",
    "blocked by the user",
    "can't initiate conversation",
    "not a member",
    "was kicked",
    "chat was deleted",
    "is deactivated",
    "not enough rights",
    "need administrator rights",
    "have no rights",
    "can't send messages to bots",
    "message thread not found",
)


def _number(value: Any) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond a float: as good as forever
        return float("inf")


def _describe_body(status: int, body: Any, text: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("description"), str):
        return str(body["description"])
    title = re.search(r"<title>(.*?)</title>", text or "", re.I | re.S)
    shown = title.group(1) if title else re.sub(r"<[^>]*>", " ", text or "")
    shown = " ".join(shown.split())[:80]
    return f"HTTP {status}, not a Bot API reply" + (f" ({shown})" if shown else "")


def classify(status: int, body: Any, text: str = "") -> Answer:
    """What a Bot API reply means. Order as the API advises: `parameters` first, then the HTTP
    status, then the description (server text, matched on stable lower-case fragments)."""
    description = _describe_body(status, body, text)
    params = body.get("parameters") if isinstance(body, dict) else None
    params = params if isinstance(params, dict) else {}
    asked = _number(params.get("retry_after"))
    retry_after = None if asked is None else net.asked_wait(asked)
    if retry_after is not None:
        return Answer(
            SendOutcome.TRANSIENT, Scope.CHAT, status, description, retry_after=retry_after
        )
    migrate_to = params.get("migrate_to_chat_id")
    if isinstance(migrate_to, (int, str)) and not isinstance(migrate_to, bool) and migrate_to:
        return Answer(
            SendOutcome.MIGRATE, Scope.CHAT, status, description, migrate_to=str(migrate_to)
        )
    if 200 <= status < 300:
        if isinstance(body, dict) and body.get("ok") is True:
            return Answer(SendOutcome.SENT, status=status, result=body.get("result"))
        return Answer(SendOutcome.UNKNOWN, Scope.BOT, status, description)
    if status == 429:
        return Answer(SendOutcome.TRANSIENT, Scope.CHAT, status, description)
    if status >= 500:
        return Answer(SendOutcome.TRANSIENT, Scope.BOT, status, description)
    if status in (401, 404):
        return Answer(SendOutcome.PERMANENT, Scope.BOT, status, description)
    low = description.lower()
    if "can't parse entities" in low:
        return Answer(SendOutcome.PARSE_ERROR, Scope.MESSAGE, status, description)
    if status == 403 or any(fragment in low for fragment in _CHAT_DEAD):
        return Answer(SendOutcome.PERMANENT, Scope.CHAT, status, description)
    return Answer(SendOutcome.PERMANENT, Scope.MESSAGE, status, description)


def _no_reply(failure: net.HttpFailure) -> Answer:
    if failure.outcome_unknown:
        return Answer(SendOutcome.UNKNOWN, Scope.BOT, None, str(failure))
    return Answer(SendOutcome.TRANSIENT, Scope.BOT, None, str(failure))


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    fix: str
    config: bool  # a set-up problem (exit 3) rather than a delivery problem (exit 6)

    def line(self) -> str:
        return f"{self.cause} — {self.fix}"


def explain(answer: Answer) -> Diagnosis:
    """The cause of a failed answer in the trader's words, and what to do about it."""
    low, status = answer.description.lower(), answer.status
    if status is None and answer.outcome is SendOutcome.PERMANENT:
        return Diagnosis(
            answer.description, "a bug: please report it; other messages are still sent", False
        )
    if status is None:
        return Diagnosis(
            f"network: {answer.description}",
            "check the internet connection, proxy and firewall, and TELEGRAM_API_URL",
            False,
        )
    if status == 401:
        return Diagnosis(
            "token invalid: Telegram answered 401 Unauthorized (wrong or revoked token)",
            "copy the token again from @BotFather (/mybots → API Token) into TELEGRAM_BOT_TOKEN",
            True,
        )
    if status == 404:
        return Diagnosis(
            "token invalid: Telegram answered 404 Not Found (malformed token or "
            "wrong TELEGRAM_API_URL)",
            "TELEGRAM_BOT_TOKEN must be the whole token "
            "(digits, a colon, then letters), TELEGRAM_API_URL a Bot API server",
            True,
        )
    if answer.retry_after is not None or status == 429:
        wait = f" for {answer.retry_after:g} s" if answer.retry_after is not None else ""
        return Diagnosis(
            f"rate limited by Telegram{wait}",
            "nothing to fix: sending to this chat pauses and resumes on a later run",
            False,
        )
    if status >= 500:
        return Diagnosis(
            f"Telegram server error (HTTP {status})", "usually brief: retried on a later run", False
        )
    for fragments, cause, fix in _CHAT_FIXES:
        if any(f in low for f in fragments):
            return Diagnosis(cause, fix, True)
    if answer.outcome is SendOutcome.UNKNOWN:
        return Diagnosis(
            f"reply not understood ({answer.description})",
            "check that TELEGRAM_API_URL points at a Bot API server",
            False,
        )
    if answer.scope is Scope.CHAT:
        return Diagnosis(
            f"Telegram refuses messages to this chat ({status}: {answer.description})",
            "check this chat in TELEGRAM_CHAT_ID",
            True,
        )
    return Diagnosis(
        f"Telegram refused the message ({status}: {answer.description})",
        "see the description; other messages are still sent",
        False,
    )


_CHAT_FIXES = (
    (
        ("chat not found",),
        "chat not found",
        "check TELEGRAM_CHAT_ID (a user id is positive, a "
        "group negative, a supergroup or channel starts with -100) and that the user has messaged "
        "the bot or the bot was added to the group",
    ),
    (
        ("can't initiate conversation",),
        "bot not started by the user",
        "open the bot in Telegram and press Start (or send it /start)",
    ),
    (
        ("blocked by the user",),
        "bot blocked by the user",
        "unblock the bot in Telegram: open its chat and press Restart",
    ),
    (
        ("not a member", "was kicked"),
        "bot not in the group",
        "add the bot to the group (to a channel: as an administrator allowed to post)",
    ),
    (
        ("deactivated", "chat was deleted"),
        "chat no longer exists",
        "remove it from TELEGRAM_CHAT_ID",
    ),
    (
        ("rights",),
        "bot may not post in this chat",
        "allow it to send messages there (in a channel: make it an administrator)",
    ),
    (("message thread not found",), "forum topic not found", "check the chat's topics"),
)


def _quiet_urllib3() -> None:
    """urllib3 logs each request line ("POST /bot<token>/sendMessage") at DEBUG: keep it above."""
    logger = logging.getLogger("urllib3")
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)


def api_chat_id(chat: str) -> int | str:
    """Numeric ids go as numbers (they can exceed 32 bits); @channelname stays a string."""
    return int(chat) if re.fullmatch(r"-?\d+", chat) else chat


class Bot:
    """One bot token against one Bot API server. Never prints or reprs its token."""

    def __init__(
        self,
        token: str,
        api_url: str,
        *,
        read_timeout: float | None = None,
        session: "requests.Session | None" = None,
    ):
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"TELEGRAM_API_URL {redact_url(api_url)!r} is not an http(s) URL")
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self._token = token
        self._given = session
        self._made: requests.Session | None = None  # made on the first request that needs it
        self._policy = replace(POLICY, read_timeout=read_timeout or POLICY.read_timeout)
        self._last_sent: dict[str, float] = {}
        _quiet_urllib3()

    def __repr__(self) -> str:
        return "Bot(token=<redacted>)"

    @property
    def _session(self) -> "requests.Session":
        if self._given is not None:
            return self._given
        if self._made is None:
            self._made = net.session()
        return self._made

    def close(self) -> None:
        if self._given is not None:
            self._given.close()
        elif self._made is not None:
            self._made.close()

    def _scrub(self, text: str) -> str:
        return redact(text.replace(self._token, "<TELEGRAM_BOT_TOKEN>"))

    def _call(
        self,
        method: str,
        body: dict[str, Any],
        retry_timeouts: bool,
        policy: net.RetryPolicy | None = None,
        light: bool = False,
    ) -> Answer:
        try:
            reply = net.send(
                None if light else self._session,
                "POST",
                f"{self._base}/{method}",
                policy=policy or self._policy,
                retry_timeouts=retry_timeouts,
                json=body,
            )
        except net.HttpFailure as failure:
            answer = _no_reply(failure)
        else:
            answer = classify(reply.status, reply.json(), reply.text)
        return replace(answer, description=self._scrub(answer.description))

    def get_me(self) -> Answer:
        return self._call("getMe", {}, retry_timeouts=True)

    def get_chat(self, chat: str) -> Answer:
        """Whether the bot can reach a chat, without sending to it (doctor)."""
        return self._call("getChat", {"chat_id": api_chat_id(chat)}, retry_timeouts=True)

    def get_updates(self, offset: int | None, wait: float) -> Answer:
        """One getUpdates long poll (up to `wait` seconds); repeating it is harmless, so a
        timeout is retried. The read timeout outlasts the poll, or every idle poll would end
        in a client-side timeout."""
        body: dict[str, Any] = {"timeout": int(wait), "allowed_updates": ["message"]}
        if offset is not None:
            body["offset"] = offset
        policy = replace(self._policy, read_timeout=wait + POLL_MARGIN_SECONDS)
        light = self._given is None and net.stdlib_usable()  # an idle poll loads no requests
        return self._call("getUpdates", body, retry_timeouts=True, policy=policy, light=light)

    def set_my_commands(self, commands: list[dict[str, str]]) -> Answer:
        return self._call("setMyCommands", {"commands": commands}, retry_timeouts=True)

    def get_webhook_info(self) -> Answer:
        """Whether a webhook is set on the token (result.url non-empty): it blocks getUpdates."""
        return self._call("getWebhookInfo", {}, retry_timeouts=True)

    def send_message(
        self, chat: str, text: str, *, html: bool = True, silent: bool = False
    ) -> Answer:
        """One sendMessage. A read timeout is not repeated here: its outcome is unknown."""
        self._pace(chat)
        body: dict[str, Any] = {
            "chat_id": api_chat_id(chat),
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if html:
            body["parse_mode"] = "HTML"
        if silent:
            body["disable_notification"] = True
        return self._call("sendMessage", body, retry_timeouts=False)

    def send_document(
        self, chat: str, name: str, content: bytes, caption: str, *, silent: bool = False
    ) -> Answer:
        """One sendDocument (multipart upload). Like sendMessage, a read timeout is not
        repeated here: its outcome is unknown."""
        self._pace(chat)
        form = {"chat_id": str(api_chat_id(chat)), "caption": caption}
        if silent:
            form["disable_notification"] = "true"
        try:
            reply = net.send(
                self._session,
                "POST",
                f"{self._base}/sendDocument",
                policy=self._policy,
                retry_timeouts=False,
                data=form,
                files={"document": (name, content, "text/html")},
            )
        except net.HttpFailure as failure:
            answer = _no_reply(failure)
        else:
            answer = classify(reply.status, reply.json(), reply.text)
        return replace(answer, description=self._scrub(answer.description))

    def _pace(self, chat: str) -> None:
        """At most one send starts per CHAT_GAP_SECONDS per chat, counted from the start of
        the last one (counted from its end, a 0.3 s call made the pace 1.3 s a message)."""
        last = self._last_sent.get(chat)
        if last is not None:
            gap = CHAT_GAP_SECONDS - (time.monotonic() - last)
            if gap > 0:
                self._policy.sleep(gap)
        self._last_sent[chat] = time.monotonic()
