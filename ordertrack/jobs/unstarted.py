"""A scheduled run that cannot start is not silent (issue 22).

When verify, reconcile or eod stops before its work (its settings or its database unusable),
what can still be read tells the outside: the ping URL (ORDERTRACK_PING_URL, or the TOML's
[health] ping_url when the file parses), Telegram (TELEGRAM_* from the environment) and the
database path. The run is recorded and its alert queued when the database opens; otherwise the
alert goes straight to Telegram. Either way at most once per reason per IST day: the outbox's
key enforces it, or a small state file beside the log remembers what was sent."""

import hashlib
import json
import os
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ordertrack import files
from ordertrack.config import Settings, default_db_path
from ordertrack.core import payloads
from ordertrack.core.models import EventKind
from ordertrack.core.trading_calendar import ist_date
from ordertrack.errors import OrdertrackError
from ordertrack.store import outbox, runs
from ordertrack.store.db import Database, transaction
from ordertrack.text import one_line, redact

STATE_NAME = "ordertrack-start-alerts.json"
KIND = EventKind.SYSTEM_ALERT
ALERTING = ("verify", "reconcile", "eod")  # the scheduled commands


def salvage(env: Mapping[str, str], db: Path | None, config: Path | None) -> Settings:
    """The settings a failed load still allows: ping, Telegram and the database path. Never
    raises: every part that cannot be read is left out."""
    toml = _loose_toml(
        config or (Path(env["ORDERTRACK_CONFIG"]) if env.get("ORDERTRACK_CONFIG") else None)
    )
    health, notify = toml.get("health"), toml.get("notify")
    ping_url = env.get("ORDERTRACK_PING_URL") or (
        health.get("ping_url") if isinstance(health, dict) else None
    )
    alerts = notify.get("alerts") if isinstance(notify, dict) else None
    return Settings(
        db_path=_db_path(env, db),
        telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
        telegram_chats=tuple(
            c.strip() for c in env.get("TELEGRAM_CHAT_ID", "").split(",") if c.strip()
        ),
        telegram_api_url=env.get("TELEGRAM_API_URL") or "https://api.telegram.org",
        ping_url=ping_url if _is_url(ping_url) else None,
        notify_levels={"alerts": alerts} if alerts in ("on", "silent", "off") else {},
    )


def _loose_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return {}


def _db_path(env: Mapping[str, str], db: Path | None) -> Path:
    """An empty path when the database setting itself is what is broken (nothing to open)."""
    if db is not None:
        return db
    value = env.get("ORDERTRACK_DB")
    if value is None:
        try:
            return default_db_path(env)
        except (RuntimeError, KeyError):  # no home folder to find it in
            return Path()
    return Path(value) if value.strip() else Path()


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8


def reason_of(exc: BaseException) -> str:
    """The one-line reason, as the log shows it, without any secret."""
    text = exc.message if isinstance(exc, OrdertrackError) else f"database error: {exc}"
    return one_line(redact(text))


def alert_text(command: str, reason: str) -> str:
    return f"{command.split()[0]} could not start: {reason}"


def alert_key(reason: str, now: datetime) -> str:
    """Once per reason per IST day, whichever scheduled command meets it first."""
    digest = hashlib.sha256(reason.encode("utf-8")).hexdigest()[:16]
    return f"could-not-start:{ist_date(now)}:{digest}"


def record(db: Database, command: str, exit_code: int, reason: str, now: datetime) -> int:
    """A run that never started its work, as `status` shows it: failed, with its reason."""
    run_id = runs.begin(db, command)
    runs.finish(db, run_id, "failed", exit_code, error=reason)
    queue(db, command, reason, now, run_id)
    return run_id


def queue(db: Database, command: str, reason: str, now: datetime, run_id: int | None) -> bool:
    """The alert, through the outbox; False when this reason was already queued today (or the
    run was a manual `reconcile --dry-run`, whose user reads the error in the terminal)."""
    if command not in ALERTING:
        return False
    with transaction(db):
        return outbox.enqueue(
            db,
            alert_key(reason, now),
            KIND,
            payloads.system_alert(command.split()[0], alert_text(command, reason)),
            now,
            run_id,
        )


# ---- without a database: straight to Telegram, remembered in a state file -------------------


def state_file(db_path: Path, env: Mapping[str, str]) -> Path:
    """Beside the log: the folder of the file stderr appends to (cron's `>> log 2>&1`). With no
    log (a terminal, /dev/null), the database's folder, where `schedule install` puts the log;
    if that folder does not exist either, $XDG_STATE_HOME/ordertrack (~/.local/state)."""
    log = _log_file()
    if log is not None:
        return log.parent / STATE_NAME
    if db_path != Path() and db_path.expanduser().parent.is_dir():
        return db_path.expanduser().parent / STATE_NAME
    home = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return home / "ordertrack" / STATE_NAME


def _log_file() -> Path | None:
    try:
        fd = sys.stderr.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
    except (AttributeError, OSError, ValueError):
        return None
    return path if path.is_file() else None


def _already_sent(state: Path, key: str) -> bool:
    return key in _read_state(state)


def _read_state(state: Path) -> list[str]:
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    sent = data.get("sent") if isinstance(data, dict) else None
    return [k for k in sent if isinstance(k, str)] if isinstance(sent, list) else []


def _remember(state: Path, key: str) -> None:
    """Only today's keys are kept: the file never grows past a few lines."""
    today = key.split(":")[1]
    kept = [k for k in _read_state(state) if k.split(":")[1:2] == [today]]
    state.parent.mkdir(parents=True, exist_ok=True)
    files.replace_whole(state, json.dumps({"sent": [*kept, key]}, indent=1) + "\n")


def send_directly(
    settings: Settings,
    command: str,
    reason: str,
    now: datetime,
    env: Mapping[str, str],
    warn: Callable[[str], None],
) -> bool:
    """Tell Telegram without the outbox (the database is unusable), once per reason per day.
    True when it was sent now. A failure is a warning: the exit code says the rest."""
    from ordertrack.notify import delivery, messages, policy, telegram

    payload = payloads.system_alert(command.split()[0], alert_text(command, reason))
    level = policy.level(settings, KIND, payload)
    if (
        command not in ALERTING
        or not settings.telegram_token
        or not settings.telegram_chats
        or level == "off"
    ):
        return False
    state, key = state_file(settings.db_path, env), alert_key(reason, now)
    if _already_sent(state, key):
        return False
    try:
        bot = telegram.Bot(
            settings.telegram_token,
            settings.telegram_api_url,
            read_timeout=settings.telegram_timeout,
        )
    except OrdertrackError as exc:
        warn(f"could-not-start alert not sent: {exc.message}")
        return False
    sent = False
    try:
        for chat in settings.telegram_chats:
            for part in messages.message(KIND, payload, now):
                answer = delivery.send_part(bot, chat, part, level == "silent", again=False)
                if answer.outcome is not telegram.SendOutcome.SENT:
                    warn(
                        f"could-not-start alert not sent to {chat}: "
                        f"{telegram.explain(answer).line()}"
                    )
                    break
            else:
                sent = True
    except Exception as exc:  # noqa: BLE001 - the alert must not change the run's exit code
        warn(f"could-not-start alert not sent: {type(exc).__name__}")
    finally:
        bot.close()
    if sent:
        try:
            _remember(state, key)
        except OSError as exc:
            warn(
                f"cannot write {state} ({exc.strerror or exc}): the next run that cannot "
                "start sends this alert again"
            )
    return sent
