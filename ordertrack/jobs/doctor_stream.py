"""doctor's stream check (issue 25): open the broker's order-update stream with the session
`listen` would use, wait a bounded time for its first sign of life (Kotak's `cn`
acknowledgement, a Kite frame — it heartbeats every second), close. Kept apart from
jobs/doctor.py, which wraps the answer in its own result with the broker's fix."""

import contextlib
import time
from dataclasses import dataclass

from ordertrack.broker.stream import has_stream, make_stream
from ordertrack.broker.ws import OrderStream, SessionRefused, StreamDown
from ordertrack.config import Settings
from ordertrack.core.listen import Timing
from ordertrack.errors import OrdertrackError
from ordertrack.store.db import Database
from ordertrack.text import redact

WAIT = 5.0  # seconds for each sign of life; tests shrink it
DOWN_FIX = (
    "listen reconnects by itself and cron's verify lines keep polling meanwhile; if this"
    " persists, check the network and any ORDERTRACK_*_WS_URL setting; docs/listen.md#brokers"
)


@dataclass(frozen=True)
class Probe:
    """What the stream did: `refused` means the session itself was turned down (the broker's
    login fix applies), `skipped` that the broker has no stream here."""

    ok: bool
    detail: str
    refused: bool = False
    skipped: bool = False


def probe(settings: Settings, db: Database, wait: float | None = None) -> Probe:
    wait = WAIT if wait is None else wait
    broker = settings.broker
    if not has_stream(broker):
        return Probe(
            True, f"{broker} has no push stream here: cron's verify lines poll", skipped=True
        )
    timing = Timing(ack_timeout=wait, ping_timeout=max(wait, 1.0))
    started = time.monotonic()
    try:
        stream = make_stream(settings, db, timing)
        _open(stream)
        try:
            return _first_sign(stream, wait, started)
        finally:
            with contextlib.suppress(Exception):
                stream.close()
    except SessionRefused as exc:
        return Probe(False, redact(str(exc)), refused=True)
    except StreamDown as exc:
        return Probe(False, redact(str(exc)))
    except OrdertrackError as exc:
        return Probe(False, redact(exc.message))


def _open(stream: OrderStream) -> None:
    """One retry after a stream that went down or never answered: Kotak's feed wants its
    first frame in one of two forms (its stream switches after an attempt with no ack), and
    drops now and then; a refused session is final."""
    try:
        stream.open()
    except StreamDown:
        stream.open()


def _first_sign(stream: OrderStream, wait: float, started: float) -> Probe:
    if stream.watchdog is not None:  # a stream that sends data frames (Kite's heartbeat)
        if stream.next(wait) is None:
            return Probe(
                False,
                f"{stream.name}: the stream opened but sent no frame within {wait:g} s"
                " (listen would reconnect in a loop)",
            )
        seen = "accepted the session and sent its first frame"
    elif stream.name == "file":
        return Probe(True, "file: orders.json is watched for changes (every 0.5 s)")
    else:
        seen = "acknowledged the session"
    took = time.monotonic() - started
    return Probe(True, f"{stream.name}: the order stream {seen} ({took:.1f} s)")
