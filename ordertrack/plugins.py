"""The plugin door: brokers from other packages, found through the entry-point group
`ordertrack.brokers` (docs/plugins.md). Built-in names are looked up first; the entry points
are scanned only for a name ordertrack does not know, since a scan costs ~20 ms at start."""

import re
from typing import Any

from ordertrack.core.book import (  # noqa: F401 (the public plugin API: docs/plugins.md)
    BrokerOrder,
    BrokerState,
    Fetch,
    Holding,
    Outcome,
    Position,
)
from ordertrack.core.models import Side  # noqa: F401 (the public plugin API)
from ordertrack.errors import ConfigError

# The plugin contract's version: the normalised types above and the Broker protocol
# (order_book, order_history, holdings, positions; from_settings(settings, db)). A change that
# breaks a plugin raises it, and the CHANGELOG says so.
API_VERSION = 1
GROUP = "ordertrack.brokers"
BUILT_IN = ("kotak", "kite", "angel", "fyers", "file")
# A name safe to show and to look up: a plugin's entry-point name must match it too.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for point in entry_points(group=GROUP):
        name = point.name.strip().lower()
        if NAME.fullmatch(name) and name not in BUILT_IN:  # a built-in name is never taken
            found.setdefault(name, point)
    return found


def available() -> tuple[str, ...]:
    """Every broker name that would work now: the built-in ones, then the installed plugins."""
    return BUILT_IN + tuple(sorted(_entry_points()))


def unknown(name: str) -> ConfigError:
    shown = name if NAME.fullmatch(name) else repr(name)
    return ConfigError(
        f"ORDERTRACK_BROKER={shown} is not one of: {', '.join(available())}"
        " (a plugin broker is a package installed beside ordertrack;"
        " docs/plugins.md)"
    )


def check_name(name: str) -> None:
    """ConfigError listing the names available, unless `name` is an installed plugin."""
    if not NAME.fullmatch(name) or name not in _entry_points():
        raise unknown(name)


def load(name: str) -> Any:
    """The class the plugin's entry point names. Raises ConfigError when it cannot be loaded
    or does not offer `from_settings`: a broken plugin is a configuration problem, exit 3."""
    point = _entry_points().get(name)
    if point is None:
        raise unknown(name)
    try:
        cls = point.load()
    except Exception as exc:  # a plugin's import may fail any way it likes
        raise ConfigError(
            f"broker plugin {name!r} ({point.value}) cannot be loaded:"
            f" {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    if not callable(getattr(cls, "from_settings", None)):
        raise ConfigError(
            f"broker plugin {name!r} ({point.value}) has no from_settings(settings,"
            " db): see docs/plugins.md for the contract"
        )
    return cls
