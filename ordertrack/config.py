"""Settings: environment first, then an optional TOML file for non-secret settings.

Secrets (broker login, bot token) come only from the environment and are never printed.
"""

import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ordertrack.errors import ConfigError
from ordertrack.lifecycle import MissingRules

BROKERS = ("kotak", "file")

# TOML: section → key → (type, default). Unknown keys are refused, so a typo is not silent.
_TOML_KEYS: dict[str, dict[str, tuple[type, Any]]] = {
    "verify": {
        "missing_runs": (int, 3),
        "protect_minutes": (int, 30),
        "history_lookups": (int, 50),
    },
    "lock": {"wait_seconds": (int, 120), "lease_minutes": (int, 30)},
}


def default_db_path(env: Mapping[str, str]) -> Path:
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ordertrack" / "ordertrack.db"


@dataclass(frozen=True)
class Settings:
    db_path: Path
    broker: str = "kotak"
    broker_dir: Path | None = None
    telegram_token: str | None = field(default=None, repr=False)
    telegram_chats: tuple[str, ...] = ()
    telegram_api_url: str = "https://api.telegram.org"
    kotak_login_url: str = "https://mis.kotaksecurities.com"
    missing: MissingRules = MissingRules()
    history_lookups: int = 50
    lock_wait_seconds: int = 120
    lock_lease_minutes: int = 30


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, dict[str, Any]] = {}
    for section, body in data.items():
        known = _TOML_KEYS.get(section)
        if known is None or not isinstance(body, dict):
            raise ConfigError(f"config file {path}: unknown section [{section}]")
        for key, value in body.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {section}.{key}")
            kind = known[key][0]
            if not isinstance(value, kind) or isinstance(value, bool) or value < 0:
                raise ConfigError(
                    f"config file {path}: {section}.{key} must be a non-negative {kind.__name__}"
                )
        values[section] = body
    return values


def _setting(toml: dict[str, dict[str, Any]], section: str, key: str) -> Any:
    return toml.get(section, {}).get(key, _TOML_KEYS[section][key][1])


def load(
    env: Mapping[str, str], db: Path | None = None, config: Path | None = None
) -> Settings:
    config = config or (Path(env["ORDERTRACK_CONFIG"]) if env.get("ORDERTRACK_CONFIG") else None)
    toml = _read_toml(config.expanduser()) if config else {}
    broker = env.get("ORDERTRACK_BROKER", "kotak").strip().lower() or "kotak"
    if broker not in BROKERS:
        raise ConfigError(f"ORDERTRACK_BROKER={broker!r} is not one of: {', '.join(BROKERS)}")
    chats = tuple(c.strip() for c in env.get("TELEGRAM_CHAT_ID", "").split(",") if c.strip())
    return Settings(
        db_path=db or Path(env.get("ORDERTRACK_DB") or default_db_path(env)),
        broker=broker,
        broker_dir=Path(env["ORDERTRACK_BROKER_DIR"]) if env.get("ORDERTRACK_BROKER_DIR") else None,
        telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
        telegram_chats=chats,
        telegram_api_url=env.get("TELEGRAM_API_URL") or "https://api.telegram.org",
        kotak_login_url=env.get("ORDERTRACK_KOTAK_LOGIN_URL") or "https://mis.kotaksecurities.com",
        missing=MissingRules(
            runs=max(1, _setting(toml, "verify", "missing_runs")),
            protect=timedelta(minutes=_setting(toml, "verify", "protect_minutes")),
        ),
        history_lookups=_setting(toml, "verify", "history_lookups"),
        lock_wait_seconds=_setting(toml, "lock", "wait_seconds"),
        lock_lease_minutes=_setting(toml, "lock", "lease_minutes"),
    )


def make_broker(settings: Settings) -> Any:
    """The broker the settings name, or ConfigError saying what is missing."""
    if settings.broker == "file":
        from ordertrack.broker.filebroker import FileBroker

        folder = settings.broker_dir
        if folder is None:
            raise ConfigError("ORDERTRACK_BROKER=file needs ORDERTRACK_BROKER_DIR (a folder)")
        if not folder.is_dir():
            raise ConfigError(f"ORDERTRACK_BROKER_DIR {folder} is not a folder")
        return FileBroker(folder)
    raise ConfigError(
        "ORDERTRACK_BROKER=kotak is not available in this version yet; "
        "set ORDERTRACK_BROKER=file and ORDERTRACK_BROKER_DIR"
    )
