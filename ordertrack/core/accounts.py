"""Accounts (issue 29): the rules for an account's name and where its files live. Pure: the
environment and the home folder are parameters, nothing here touches the disk."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ordertrack.errors import UsageError

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # not "-x": it would read as an option
RESERVED = frozenset({"default"})  # today's unnamed set-up
# Run settings an account takes from its own files only; the shell's are ignored (a shell that
# sourced account a's env file must not leak it into account b's run).
RUN_PREFIXES = ("ORDERTRACK_", "KOTAK_", "KITE_", "ANGEL_", "FYERS_", "TELEGRAM_")
# The tool's own knobs for a person at a shell, not settings of an account.
TOOL_VARIABLES = frozenset(
    {"ORDERTRACK_CRONTAB", "ORDERTRACK_OUTPUT", "ORDERTRACK_DEBUG", "ORDERTRACK_ACCOUNT"}
)
# An account's database and TOML are its own: these may not point elsewhere.
FIXED = ("ORDERTRACK_DB", "ORDERTRACK_CONFIG")
STAGGER_SECONDS = 5  # between accounts' runs of one firing, so they do not hit a broker at once
STAGGER_SLOTS = 12  # 12 x 5 s: the stagger stays within the minute cron fires in


def checked(name: str) -> str:
    """The account name, or UsageError saying what a name may be."""
    if name in RESERVED:
        raise UsageError(
            f"'{name}' is reserved: it is the set-up without --account; choose another name"
        )
    if not NAME.fullmatch(name):
        shown = name if len(name) <= 40 else name[:39] + "…"
        raise UsageError(
            f"account name {shown!r} is not allowed: use 1-32 lower-case letters,"
            " digits, '-' and '_', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Folders:
    """Where one account's files are: its env file and TOML (settings), and its own folder for
    the database, reports/, backups/ and the log (nothing shared with another account)."""

    name: str
    env_file: Path
    toml: Path
    folder: Path

    @property
    def db(self) -> Path:
        return self.folder / f"{self.name}.db"

    @property
    def log(self) -> Path:
        return self.folder / "ordertrack.log"


def config_root(env: Mapping[str, str], home: Path) -> Path:
    """$XDG_CONFIG_HOME/ordertrack/accounts (default ~/.config)."""
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "ordertrack" / "accounts"


def folders(name: str, config_dir: Path, data_dir: Path) -> Folders:
    """`data_dir` is the folder of the default database (config.default_db_path's)."""
    return Folders(
        name,
        config_dir / f"{name}.env",
        config_dir / f"{name}.toml",
        data_dir / "accounts" / name,
    )


def name_of_env_file(path: Path) -> str | None:
    """The account an env file in the accounts folder belongs to (None: not one)."""
    if path.suffix != ".env" or not NAME.fullmatch(path.stem) or path.stem in RESERVED:
        return None
    return path.stem


def is_run_setting(name: str) -> bool:
    return name.startswith(RUN_PREFIXES) and name not in TOOL_VARIABLES


def account_environment(
    shell: Mapping[str, str], own: Mapping[str, str], others: set[str], name: str
) -> dict[str, str]:
    """The environment an account's run sees: the shell's without any run setting and without
    any variable another account's env file sets (secret or not), then the account's own."""
    kept = {k: v for k, v in shell.items() if not is_run_setting(k) and k not in others}
    return {**kept, **own, "ORDERTRACK_ACCOUNT": name}


def stagger(position: int) -> int:
    """Seconds account number `position` (0-based, by name) waits after each firing."""
    return (position % STAGGER_SLOTS) * STAGGER_SECONDS
