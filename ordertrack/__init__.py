"""ordertrack: track a trading engine's broker orders, reconcile holdings, tell the trader."""

from typing import Any

__version__ = "0.2.0"
__all__ = ["events", "register_order", "registrations", "track_symbol", "__version__"]


def __getattr__(name: str) -> Any:
    # The API loads on first use: every CLI process imports this package, and most never
    # need the API's imports (settings, the store).
    if name in ("events", "register_order", "registrations", "track_symbol"):
        from ordertrack import api

        return getattr(api, name)
    raise AttributeError(f"module 'ordertrack' has no attribute {name!r}")
