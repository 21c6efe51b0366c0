"""ordertrack: track a trading engine's broker orders, reconcile holdings, tell the trader."""

from ordertrack.api import events, register_order, track_symbol

__version__ = "0.2.0"
__all__ = ["events", "register_order", "track_symbol", "__version__"]
