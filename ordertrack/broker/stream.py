"""The one place that picks a broker's order-update stream from the settings (the streams and
their protocol: broker/ws.py and each broker's stream module), and says which brokers have one:
Kotak, Kite, the file broker and a plugin whose class offers `order_stream` (docs/plugins.md).
Angel One and Fyers have none here; cron's `verify` lines poll their book."""

from collections.abc import Callable
from typing import Any

from ordertrack.broker.ws import OrderStream
from ordertrack.config import Settings
from ordertrack.core.listen import Timing
from ordertrack.errors import ConfigError
from ordertrack.store.db import Database

STREAMS = ("kotak", "kite", "file")  # the built-in brokers with a push stream
POLLED = ("angel", "fyers")  # built in, no push stream here


def _plugin_stream(broker: str) -> Callable[..., OrderStream] | None:
    """A plugin's `order_stream(settings, db, timing)`, if its class declares one."""
    from ordertrack import plugins

    factory: Any = getattr(plugins.load(broker), "order_stream", None)
    return factory if callable(factory) else None


def has_stream(broker: str) -> bool:
    """Whether `listen` can hear this broker's order updates (ConfigError: a broken plugin)."""
    if broker in STREAMS:
        return True
    if broker in POLLED:
        return False
    return _plugin_stream(broker) is not None


def no_stream(broker: str) -> ConfigError:
    return ConfigError(
        f"listen: the {broker} broker has no order-update stream here; cron's verify lines"
        " poll its order book (schedule install --every N sets how often; docs/listen.md)"
    )


def make_stream(settings: Settings, db: Database, timing: Timing) -> OrderStream:
    if settings.broker == "file":
        from ordertrack.broker.file import FileStream

        if settings.broker_dir is None or not settings.broker_dir.is_dir():
            raise ConfigError("ORDERTRACK_BROKER=file needs ORDERTRACK_BROKER_DIR (a folder)")
        return FileStream(settings.broker_dir, settings.broker_format, timing)
    if settings.broker == "kite":
        from ordertrack.broker.kite.client import KiteClient
        from ordertrack.broker.kite.stream import KiteStream

        client = KiteClient.from_settings(settings, db)
        return KiteStream(settings.kite_ws_url, client.api_key, client.stored_token, timing)
    if settings.broker == "kotak":
        from ordertrack.broker.kotak.client import KotakClient
        from ordertrack.broker.kotak.stream import KotakStream

        kotak = KotakClient.from_settings(settings, db)
        source: Callable[[bool], tuple[str, str, str]] = kotak.stream_session
        return KotakStream(settings.kotak_ws_url, source, timing)
    factory = None if settings.broker in POLLED else _plugin_stream(settings.broker)
    if factory is None:
        raise no_stream(settings.broker)
    stream: OrderStream = factory(settings, db, timing)
    return stream
