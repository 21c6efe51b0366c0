"""The one place that picks a broker's order-update stream from the settings (the streams and
their protocol: broker/ws.py and each broker's stream module)."""

from collections.abc import Callable

from ordertrack.broker.ws import OrderStream
from ordertrack.config import Settings
from ordertrack.core.listen import Timing
from ordertrack.errors import ConfigError
from ordertrack.store.db import Database


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
    from ordertrack.broker.kotak.client import KotakClient
    from ordertrack.broker.kotak.stream import KotakStream

    kotak = KotakClient.from_settings(settings, db)
    source: Callable[[bool], tuple[str, str, str]] = kotak.stream_session
    return KotakStream(settings.kotak_ws_url, source, timing)
