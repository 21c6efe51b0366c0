"""What happens to a notification, decided without I/O: its level (on, silent or off), whether
it travels in a digest, how long to wait before trying again, and what an unknown outcome
leads to.

When one batch holds more than [notify] digest_after events, the routine ones (fills,
cancellations, expiries) travel as one DIGEST row; rejections, manual trades (and the tracking
they stop), summaries and alerts still go on their own. Events set to `off` are never sent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ordertrack.config import Settings
from ordertrack.core.models import EventKind

LEASE = timedelta(minutes=15)  # far longer than one send with its retries and parts
MAX_BACKOFF = timedelta(hours=1)
RETRY_HINT = "after the fix, run 'ordertrack outbox flush --retry-failed'"
_SETTING_OF: dict[str, str] = {
    EventKind.EXECUTED: "executed",
    EventKind.PARTIAL_FILL: "partial_fill",
    EventKind.REJECTED: "rejected",
    EventKind.CANCELLED: "cancelled",
    EventKind.EXPIRED: "expired",
    EventKind.MANUAL_TRADE: "manual_trade",
    "DAILY_SUMMARY": "daily_summary",
    "DAILY_REPORT": "daily_summary",
}
# What may travel in a digest; everything else (rejections, manual trades, summaries, alerts)
# is always a message of its own.
ROUTINE = (EventKind.EXECUTED, EventKind.PARTIAL_FILL, EventKind.CANCELLED, EventKind.EXPIRED)


def level(settings: Settings, kind: str, payload: dict[str, Any]) -> str:
    """on | silent | off for one notification; a digest is silent only if all it holds are."""
    if kind == "ANSWER":  # a bot command's answer is not a notification: no level applies
        return "on"
    if kind == "DIGEST":
        levels = {level(settings, i["kind"], i["payload"]) for i in payload.get("items", [])}
        return "silent" if levels == {"silent"} else "on"
    name = _SETTING_OF.get(kind, "alerts")
    if (
        kind == EventKind.MANUAL_TRADE
        and payload.get("action") == "manual_sell"
        and payload.get("new_qty") == 0
    ):
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


def digest_key(first_id: int, last_id: int) -> str:
    return f"digest:{first_id}-{last_id}"


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before the next attempt: what Telegram asked for, else 1, 2, 4 … 60 minutes."""
    if retry_after is not None:
        return min(timedelta(seconds=max(retry_after, 1.0)), MAX_BACKOFF)
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def latest_schedule(now: datetime) -> datetime:
    """No wait is ever chosen longer than MAX_BACKOFF, so a next attempt (or chat pause) later
    than this was written while the clock was ahead: it is due now."""
    return now + MAX_BACKOFF


def after_unknown(uncertain: int, why: str) -> tuple[str, str]:
    """The status and error of a delivery whose outcome is unknown (`uncertain` times before):
    one more send marked as a possible duplicate, then FAILED rather than risk a third copy."""
    if uncertain + 1 >= 2:
        return "FAILED", (
            f"{why}, for the second time: not sent again, to avoid duplicates — "
            "check the chat; 'ordertrack outbox flush --retry-failed' sends it "
            "once more"
        )
    return "UNKNOWN", (
        f"{why} (outcome unknown): sent once more on the next run, marked as a possible duplicate"
    )


def describe(settings: Settings) -> str:
    """Where notifications go, as `status` shows it."""
    if not settings.telegram_token:
        return "off (no TELEGRAM_BOT_TOKEN)"
    if not settings.telegram_chats:
        return "telegram, but TELEGRAM_CHAT_ID is not set: nothing is sent"
    count = len(settings.telegram_chats)
    return f"telegram ({count} chat{'s' if count > 1 else ''})"
