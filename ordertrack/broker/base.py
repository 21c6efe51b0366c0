"""What every broker offers, and the one place that picks a broker from the settings. Each
call returns a Fetch: data, confirmed empty, or failed; its items are normalised (BrokerOrder,
Holding, Position,
BrokerFill), so nothing past this boundary reads a broker's own field names."""

from typing import Protocol

from ordertrack.config import Settings
from ordertrack.core.book import Fetch
from ordertrack.errors import ConfigError, Warn, to_stderr
from ordertrack.store.db import Database

# The calls every broker answers, each with a Fetch: part of the plugin contract (docs/plugins.md).
CALLS = ("order_book", "order_history", "holdings", "positions")


class Broker(Protocol):
    name: str

    def order_book(self) -> Fetch: ...

    def order_history(self, order_id: str) -> Fetch: ...

    def holdings(self) -> Fetch: ...

    def positions(self) -> Fetch: ...

    def trade_book(self) -> Fetch: ...  # BrokerFill items


def make_broker(settings: Settings, db: Database, warn: Warn = to_stderr) -> Broker:
    """The broker the settings name, or ConfigError saying what is missing. `db` keeps the
    broker session between runs; `warn` shows what the broker mends on its way."""
    if settings.broker == "file":
        from ordertrack.broker.file import FileBroker

        folder = settings.broker_dir
        if folder is None:
            raise ConfigError("ORDERTRACK_BROKER=file needs ORDERTRACK_BROKER_DIR (a folder)")
        if not folder.is_dir():
            raise ConfigError(f"ORDERTRACK_BROKER_DIR {folder} is not a folder")
        return FileBroker(folder, settings.broker_format)
    if settings.broker == "kite":
        from ordertrack.broker.kite.client import KiteClient

        return KiteClient.from_settings(settings, db)
    if settings.broker == "angel":
        from ordertrack.broker.angel.client import AngelClient

        return AngelClient.from_settings(settings, db)
    if settings.broker == "fyers":
        from ordertrack.broker.fyers.client import FyersClient

        return FyersClient.from_settings(settings, db)
    if settings.broker == "kotak":
        from ordertrack.broker.kotak.client import KotakClient

        return KotakClient.from_settings(settings, db, warn)
    return _plugin(settings, db)


def _plugin(settings: Settings, db: Database) -> Broker:
    """A broker from another package (docs/plugins.md): what its class's from_settings makes."""
    from ordertrack import plugins

    broker: Broker = plugins.load(settings.broker).from_settings(settings, db)
    if not all(callable(getattr(broker, call, None)) for call in CALLS):
        raise ConfigError(
            f"broker plugin {settings.broker!r} does not offer "
            f"{', '.join(CALLS)}: see docs/plugins.md for the contract"
        )
    return broker
