"""Settings: environment first, then an optional TOML file for non-secret settings.

Secrets (broker login, bot token) come only from the environment and are never printed.
"""

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ordertrack.core.models import KINDS
from ordertrack.core.trading_calendar import NSE_HOLIDAYS_2026, Calendar, MissingRules
from ordertrack.errors import ConfigError

BROKERS = ("kotak", "kite", "angel", "fyers", "file")  # built in; plugins add more (broker.base)
BROKER_FORMATS = ("kotak", "kite", "angel", "fyers")  # what the file broker's files look like
# [notify]: one on | silent | off setting per kind of event ("alerts" covers system alerts).
NOTIFY_EVENTS = (
    "executed",
    "partial_fill",
    "rejected",
    "cancelled",
    "expired",
    "manual_trade",
    "tracking_stopped",
    "daily_summary",
    "alerts",
)
LEVELS = ("on", "silent", "off")


class Level(str):
    """A TOML value that must be one of LEVELS."""


class Url(str):
    """A TOML value that must be an http(s) URL."""


# TOML: section → key → (type, default). Unknown keys are refused, so a typo is not silent.
_TOML_KEYS: dict[str, dict[str, tuple[type, Any]]] = {
    "verify": {
        "missing_runs": (int, 3),
        "stale_hours": (int, 24),
        "history_lookups": (int, 50),
        "overdue_minutes": (int, 90),
    },
    "calendar": {"holidays": (list, []), "nse_holidays": (bool, True)},
    "eod": {"retention_days": (int, 90), "backups": (int, 7), "delivered_keep_days": (int, 90)},
    "reconcile": {"manual_buys": (str, "absorb"), "settle_minutes": (int, 10)},
    "lock": {"wait_seconds": (int, 120), "lease_minutes": (int, 30)},
    "notify": {
        **{event: (Level, "on") for event in NOTIFY_EVENTS},
        "digest_after": (int, 5),
        "timeout_seconds": (float, 30.0),
    },
    "report": {"keep": (int, 7), "telegram": (bool, False)},
    "health": {"ping_url": (Url, "")},
    "bot": {"enabled": (bool, False)},
}


# Upper bounds: far beyond any sensible setting, low enough that the dates and durations built
# from them stay in range (retention_days = 3000000 overflowed a date).
_MAXIMA: dict[str, float] = {
    "verify.missing_runs": 1000,
    "verify.stale_hours": 8784,
    "verify.history_lookups": 100000,
    "verify.overdue_minutes": 10080,
    "eod.retention_days": 36600,
    "eod.backups": 10000,
    "reconcile.settle_minutes": 10080,
    "lock.wait_seconds": 86400,
    "lock.lease_minutes": 10080,
    "notify.digest_after": 100000,
    "notify.timeout_seconds": 600,
    "eod.delivered_keep_days": 36600,
}
# Lower bounds above 0: deleting deliveries the day they are made would hide today's failures.
_MINIMA: dict[str, int] = {"eod.delivered_keep_days": 1}


def default_db_path(env: Mapping[str, str]) -> Path:
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ordertrack" / "ordertrack.db"


# eq=False: settings are never compared, and a generated __eq__ and __hash__ over 48 fields is
# compiled on every start (issue 24).
@dataclass(frozen=True, eq=False)
class Settings:
    db_path: Path
    broker: str = "kotak"
    broker_dir: Path | None = None
    telegram_token: str | None = field(default=None, repr=False)
    telegram_chats: tuple[str, ...] = ()
    telegram_api_url: str = "https://api.telegram.org"
    kotak_login_url: str = "https://mis.kotaksecurities.com"
    kotak_consumer_key: str | None = field(default=None, repr=False)
    kotak_mobile: str | None = field(default=None, repr=False)
    kotak_ucc: str | None = field(default=None, repr=False)
    kotak_mpin: str | None = field(default=None, repr=False)
    kotak_totp_secret: str | None = field(default=None, repr=False)
    broker_format: str = "kotak"
    kite_url: str = "https://api.kite.trade"
    kite_ws_url: str = "wss://ws.kite.trade"
    kotak_ws_url: str | None = None  # default: wss://<baseUrl host>/realtime
    kite_api_key: str | None = field(default=None, repr=False)
    kite_api_secret: str | None = field(default=None, repr=False)
    angel_url: str = "https://apiconnect.angelone.in"
    angel_api_key: str | None = field(default=None, repr=False)
    angel_client_code: str | None = field(default=None, repr=False)
    angel_pin: str | None = field(default=None, repr=False)
    angel_totp_secret: str | None = field(default=None, repr=False)
    fyers_url: str = "https://api-t1.fyers.in/api/v3"
    fyers_app_id: str | None = field(default=None, repr=False)
    fyers_secret_key: str | None = field(default=None, repr=False)
    fyers_redirect_url: str | None = field(default=None, repr=False)
    missing: MissingRules = MissingRules()
    history_lookups: int = 50
    overdue: timedelta = timedelta(minutes=90)
    retention_days: int = 90
    backups: int = 7
    delivered_keep_days: int = 90  # eod deletes finished deliveries older than this
    manual_buys: str = "absorb"
    settle: timedelta = timedelta(minutes=10)
    lock_wait_seconds: int = 120
    lock_lease_minutes: int = 30
    notify_levels: dict[str, str] = field(default_factory=dict, hash=False)
    notify_digest_after: int = 5
    telegram_timeout: float = 30.0
    report_keep: int = 7  # daily HTML reports kept in reports/ (0: eod writes none)
    report_telegram: bool = False
    ping_url: str | None = field(default=None, repr=False)  # its path is a secret
    webhooks: tuple["Webhook", ...] = ()
    hooks: tuple["Hook", ...] = ()
    charges: dict[str, Any] | None = field(default=None, hash=False)  # [charges]; None: none
    account: str = ""  # --account NAME (issue 29); '' for the set-up without one
    bot_enabled: bool = False  # [bot] enabled: `schedule install` adds `bot` every minute


@dataclass(frozen=True)
class Webhook:
    """One [[webhook]]: where feed events are POSTed, which kinds, and the signing secret (read
    from the environment variable `secret_env`, never from the file).

    A webhook that cannot send (its secret unset, its table broken) is `held`, not a
    configuration error: its deliveries wait while order tracking goes on."""

    destination: str  # 'webhook:<n>', n counting the [[webhook]] tables from 1
    url: str = field(repr=False)  # its path or query may hold a token
    kinds: tuple[str, ...]
    secret_env: str
    secret: str = field(repr=False)
    name: str = ""
    held: str = ""  # why it cannot send now, with the fix ('' = it can)
    kinds_known: bool = True  # False when the table is broken: nothing is opened for it yet

    @property
    def label(self) -> str:
        """How output names it: its name, else its URL without userinfo or query."""
        from ordertrack.text import url

        return f"webhook {self.name or url(self.url) or self.destination.split(':')[1]}"


@dataclass(frozen=True)
class Hook:
    """One [[hook]]: a command run (no shell) with each feed event of `kinds` on its stdin."""

    destination: str  # 'hook:<n>', n counting the [[hook]] tables from 1
    command: tuple[str, ...]
    kinds: tuple[str, ...]
    name: str = ""
    held: str = ""  # why it cannot run now ('' = it can)
    kinds_known: bool = True

    @property
    def label(self) -> str:
        """Its name, else its program (arguments may hold a token)."""
        program = self.command[0] if self.command else self.destination.split(":")[1]
        return f"hook {self.name or program}"


_WEBHOOK_KEYS = ("name", "url", "kinds", "secret_env")
_HOOK_KEYS = ("name", "command", "kinds")


def _table(where: str, body: Any, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A [[webhook]] or [[hook]] table's keys checked; returns its event kinds."""
    if not isinstance(body, dict):
        raise ConfigError(f"{where} must be a table")
    for key in body:
        if key in ("notify", *NOTIFY_EVENTS):  # [notify]'s words, written in the wrong place
            raise ConfigError(
                f"{where}: {key} is not a setting here: [notify] levels are"
                " Telegram's; choose this channel's events with kinds = [...]"
                " (docs/events.md, Routing)"
            )
        if key not in keys:
            raise ConfigError(f"{where}: unknown setting {key}")
    kinds = body.get("kinds", [])
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k in KINDS for k in kinds):
        raise ConfigError(f"{where}: kinds must be a list of event kinds: {', '.join(KINDS)}")
    name = body.get("name", "x")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name must be a word or two naming this channel")
    return tuple(dict.fromkeys(kinds))


def _hook(path: Path, n: int, body: Any) -> Hook:
    where = f"config file {path}: [[hook]] {n}"
    try:
        kinds = _table(where, body, _HOOK_KEYS)
    except ConfigError as exc:
        return Hook(f"hook:{n}", (), (), held=exc.message, kinds_known=False)
    command = body.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(part, str) and part for part in command)
    ):
        return Hook(
            f"hook:{n}",
            (),
            kinds,
            body.get("name", ""),
            held=(f'{where}: command must be a list like ["/path/to/program", "--flag"]'),
        )
    return Hook(f"hook:{n}", tuple(command), kinds, body.get("name", ""))


def _webhook(path: Path, n: int, body: Any, env: Mapping[str, str]) -> Webhook:
    from ordertrack.text import add_secret_var

    where = f"config file {path}: [[webhook]] {n}"
    try:
        kinds = _table(where, body, _WEBHOOK_KEYS)
    except ConfigError as exc:
        return Webhook(f"webhook:{n}", "", (), "", "", held=exc.message, kinds_known=False)
    url, name = body.get("url"), body.get("name", "")
    if not _is_url(url):
        return Webhook(
            f"webhook:{n}",
            "",
            kinds,
            "",
            "",
            name,
            f"{where}: url must be an http:// or https:// URL",
        )
    secret_env = body.get("secret_env")
    if not isinstance(secret_env, str) or not secret_env.strip():
        return Webhook(
            f"webhook:{n}",
            url,
            kinds,
            "",
            "",
            name,
            f"{where}: secret_env must name the environment variable holding the signing secret",
        )
    add_secret_var(secret_env)
    secret = env.get(secret_env, "")
    held = (
        ""
        if len(secret) >= 16
        else (
            f"{where}: set {secret_env} in the environment to the"
            " signing secret (16 characters or more)"
        )
    )
    return Webhook(f"webhook:{n}", url, kinds, secret_env, secret, name, held)


def _webhooks(path: Path | None, tables: Any, env: Mapping[str, str]) -> tuple[Webhook, ...]:
    if tables is None or path is None:
        return ()
    if not isinstance(tables, list):
        raise ConfigError(f"config file {path}: webhooks are [[webhook]] tables")
    return tuple(_webhook(path, n, body, env) for n, body in enumerate(tables, 1))


def _hooks(path: Path | None, tables: Any) -> tuple[Hook, ...]:
    if tables is None or path is None:
        return ()
    if not isinstance(tables, list):
        raise ConfigError(f"config file {path}: hooks are [[hook]] tables")
    return tuple(_hook(path, n, body) for n, body in enumerate(tables, 1))


def _check_value(path: Path, name: str, kind: type, value: Any) -> None:
    if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ConfigError(f"config file {path}: {name} must be a whole number, 0 or more")
    if kind is str and value not in ("absorb", "ignore"):  # the one text setting
        raise ConfigError(f'config file {path}: {name} must be "absorb" or "ignore"')
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"config file {path}: {name} must be true or false")
    if kind is list and (
        not isinstance(value, list)
        or not all(isinstance(v, date) and not isinstance(v, datetime) for v in value)
    ):
        raise ConfigError(f"config file {path}: {name} must be a list of dates like 2026-01-26")
    if kind is Level and value not in LEVELS:
        raise ConfigError(f"config file {path}: {name} must be one of {', '.join(LEVELS)}")
    if kind is Url and not _is_url(value):
        raise ConfigError(f"config file {path}: {name} must be an http:// or https:// URL")
    if kind is float and (
        not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < math.inf
    ):
        raise ConfigError(f"config file {path}: {name} must be a number above 0")
    if name in _MINIMA and value < _MINIMA[name]:
        raise ConfigError(
            f"config file {path}: {name} must be a whole number, {_MINIMA[name]} or more"
        )
    if name in _MAXIMA and value > _MAXIMA[name]:
        raise ConfigError(f"config file {path}: {name} must be at most {_MAXIMA[name]:g}")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    if path.exists() and not path.is_dir() and not path.is_file():
        raise ConfigError(f"config file {path} is not a regular file")
    import tomllib  # only a run with a config file parses TOML: spared on the hot path

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    values: dict[str, dict[str, Any]] = {}
    for section, body in data.items():
        if section in ("webhook", "hook"):  # arrays of tables, checked by _webhooks(), _hooks()
            values[section] = {"tables": body}
            continue
        if section == "charges":
            values[section] = _charges(path, body)
            continue
        known = _TOML_KEYS.get(section)
        if known is None or not isinstance(body, dict):
            raise ConfigError(f"config file {path}: unknown section [{section}]")
        for key, value in body.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {section}.{key}")
            _check_value(path, f"{section}.{key}", known[key][0], value)
        values[section] = body
    return values


def _charges(path: Path, body: Any) -> dict[str, Any]:
    from ordertrack.core import charges

    if not isinstance(body, dict):
        raise ConfigError(f"config file {path}: [charges] must be a table")
    try:
        charges.parse(body)
    except ValueError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    return body


def _setting(toml: dict[str, dict[str, Any]], section: str, key: str) -> Any:
    return toml.get(section, {}).get(key, _TOML_KEYS[section][key][1])


def _calendar(toml: dict[str, dict[str, Any]]) -> Calendar:
    holidays = set(_setting(toml, "calendar", "holidays"))
    if _setting(toml, "calendar", "nse_holidays"):
        holidays |= set(NSE_HOLIDAYS_2026)
    return Calendar(frozenset(holidays))


def _db_path(env: Mapping[str, str]) -> Path:
    """ORDERTRACK_DB, or the default when it is unset. Set but empty is a broken env file, not
    a wish for the default: running on another (empty) database would look like a quiet day."""
    value = env.get("ORDERTRACK_DB")
    if value is None:
        return default_db_path(env)
    if not value.strip():
        raise ConfigError(
            "ORDERTRACK_DB is set but empty: set it to the database file, or unset "
            "it to use the default"
        )
    return Path(value)


def load(env: Mapping[str, str], db: Path | None = None, config: Path | None = None) -> Settings:
    config = config or (Path(env["ORDERTRACK_CONFIG"]) if env.get("ORDERTRACK_CONFIG") else None)
    toml = _read_toml(config.expanduser()) if config else {}
    broker = env.get("ORDERTRACK_BROKER", "kotak").strip().lower() or "kotak"
    if broker not in BROKERS:
        from ordertrack.plugins import check_name

        check_name(broker)  # a plugin's name, or ConfigError listing the names available
    broker_format = env.get("ORDERTRACK_BROKER_FORMAT", "").strip().lower() or "kotak"
    if broker_format not in BROKER_FORMATS:
        raise ConfigError(
            f"ORDERTRACK_BROKER_FORMAT={broker_format!r} is not one of: {', '.join(BROKER_FORMATS)}"
        )
    ping_url = env.get("ORDERTRACK_PING_URL") or _setting(toml, "health", "ping_url") or None
    if ping_url is not None and not _is_url(ping_url):
        raise ConfigError("ORDERTRACK_PING_URL must be an http:// or https:// URL")
    chats = tuple(c.strip() for c in env.get("TELEGRAM_CHAT_ID", "").split(",") if c.strip())
    return Settings(
        db_path=db or _db_path(env),
        broker=broker,
        broker_dir=Path(env["ORDERTRACK_BROKER_DIR"]) if env.get("ORDERTRACK_BROKER_DIR") else None,
        telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
        telegram_chats=chats,
        telegram_api_url=env.get("TELEGRAM_API_URL") or "https://api.telegram.org",
        kotak_login_url=env.get("ORDERTRACK_KOTAK_LOGIN_URL") or "https://mis.kotaksecurities.com",
        kotak_consumer_key=env.get("KOTAK_CONSUMER_KEY") or None,
        kotak_mobile=env.get("KOTAK_MOBILE") or None,
        kotak_ucc=env.get("KOTAK_UCC") or None,
        kotak_mpin=env.get("KOTAK_MPIN") or None,
        kotak_totp_secret=env.get("KOTAK_TOTP_SECRET") or None,
        broker_format=broker_format,
        kite_url=env.get("ORDERTRACK_KITE_URL") or "https://api.kite.trade",
        kite_ws_url=env.get("ORDERTRACK_KITE_WS_URL") or "wss://ws.kite.trade",
        kotak_ws_url=env.get("ORDERTRACK_KOTAK_WS_URL") or None,
        kite_api_key=env.get("KITE_API_KEY") or None,
        kite_api_secret=env.get("KITE_API_SECRET") or None,
        angel_url=env.get("ORDERTRACK_ANGEL_URL") or "https://apiconnect.angelone.in",
        angel_api_key=env.get("ANGEL_API_KEY") or None,
        angel_client_code=env.get("ANGEL_CLIENT_CODE") or None,
        angel_pin=env.get("ANGEL_PIN") or None,
        angel_totp_secret=env.get("ANGEL_TOTP_SECRET") or None,
        fyers_url=env.get("ORDERTRACK_FYERS_URL") or "https://api-t1.fyers.in/api/v3",
        fyers_app_id=env.get("FYERS_APP_ID") or None,
        fyers_secret_key=env.get("FYERS_SECRET_KEY") or None,
        fyers_redirect_url=env.get("FYERS_REDIRECT_URL") or None,
        missing=MissingRules(
            runs=max(1, _setting(toml, "verify", "missing_runs")),
            stale_after=timedelta(hours=_setting(toml, "verify", "stale_hours")),
            calendar=_calendar(toml),
        ),
        history_lookups=_setting(toml, "verify", "history_lookups"),
        overdue=timedelta(minutes=_setting(toml, "verify", "overdue_minutes")),
        retention_days=_setting(toml, "eod", "retention_days"),
        backups=_setting(toml, "eod", "backups"),
        delivered_keep_days=_setting(toml, "eod", "delivered_keep_days"),
        manual_buys=_setting(toml, "reconcile", "manual_buys"),
        settle=timedelta(minutes=_setting(toml, "reconcile", "settle_minutes")),
        lock_wait_seconds=_setting(toml, "lock", "wait_seconds"),
        lock_lease_minutes=_setting(toml, "lock", "lease_minutes"),
        notify_levels={event: _setting(toml, "notify", event) for event in NOTIFY_EVENTS},
        notify_digest_after=_setting(toml, "notify", "digest_after"),
        telegram_timeout=float(_setting(toml, "notify", "timeout_seconds")),
        report_keep=_setting(toml, "report", "keep"),
        report_telegram=_setting(toml, "report", "telegram"),
        ping_url=ping_url,
        webhooks=_webhooks(config, toml.get("webhook", {}).get("tables"), env),
        hooks=_hooks(config, toml.get("hook", {}).get("tables")),
        charges=toml.get("charges"),
        account=env.get("ORDERTRACK_ACCOUNT", ""),
        bot_enabled=_setting(toml, "bot", "enabled"),
    )


def load_for_registration(
    env: Mapping[str, str], db: Path | None = None, config: Path | None = None
) -> tuple[Settings, str | None]:
    """Registering an order needs only the database: a bad setting it does not use becomes a
    warning (returned), never a refused order the engine might drop. Commands that use the
    setting still fail on it. A bad database setting itself still raises."""
    try:
        return load(env, db, config), None
    except ConfigError as exc:
        settings = Settings(db_path=db or _db_path(env))
        return settings, (
            f"{exc.message} (the order is registered anyway: registering needs "
            "only the database; commands that use this setting fail until it is "
            "fixed)"
        )
