"""`ordertrack notify-test` (and doctor's --send check): getMe, then a real test message to every
configured chat, each failure diagnosed with its cause and fix."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ordertrack.config import Settings
from ordertrack.errors import ConfigError, ExitCode
from ordertrack.notify import messages
from ordertrack.notify.delivery import send_part
from ordertrack.notify.telegram import Bot, SendOutcome, explain


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
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set — create a bot with @BotFather and "
            "export TELEGRAM_BOT_TOKEN=<its token>"
        )
    if not settings.telegram_chats:
        raise ConfigError(
            "TELEGRAM_CHAT_ID is not set — export TELEGRAM_CHAT_ID=<chat id>, "
            "several separated by commas"
        )
    bot = bot or Bot(
        settings.telegram_token, settings.telegram_api_url, read_timeout=settings.telegram_timeout
    )
    me = bot.get_me()
    if me.outcome is not SendOutcome.SENT:
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
    if answer.outcome is SendOutcome.MIGRATE and answer.migrate_to:
        target = answer.migrate_to
        answer = send_part(bot, target, part, silent=False, again=False)
    if answer.outcome is not SendOutcome.SENT:
        diagnosis = explain(answer)
        return Check(chat, False, diagnosis.line(), diagnosis.config)
    moved = (
        f"; the group became supergroup {target}: set TELEGRAM_CHAT_ID to {target}"
        if target != chat
        else ""
    )
    return Check(chat, True, f"test message delivered (message {answer.message_id}){moved}")
