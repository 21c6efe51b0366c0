"""`listen`: hold the broker's order-update stream until the end of the session and turn what
it hears into `verify` runs (rule 14: a push is a hint, the order book is the truth).

One thread. Frames are read with a timeout no longer than the nearest deadline (debounce,
watchdog, end of session); a verify runs under the same run lock as cron's, taken only for that
verify, never while waiting for frames, so cron's `verify` lines keep running beside us."""

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

from ordertrack.broker.ws import OrderStream, SessionRefused, StreamDown
from ordertrack.config import Settings
from ordertrack.core import payloads
from ordertrack.core.listen import Backoff, Debounce, Push, Timing, Watchdog, calls_for_verify
from ordertrack.core.listen import wait_for as next_wait
from ordertrack.core.models import EventKind
from ordertrack.errors import BrokerUnavailable, LockHeld, OrdertrackError
from ordertrack.store import listens, outbox
from ordertrack.store.db import Database, transaction
from ordertrack.text import redact
from ordertrack.timeutil import to_ist, utcnow

TIMING = Timing()  # tests shrink these
FINAL_DELIVERY = 60.0  # seconds listen waits at its end for the courier's last pass
PAUSE_STEP = 0.1  # seconds: how soon a pause notices a stop or a ripe verify
STATE_EVERY = 5.0  # seconds between writes of `last_frame_at` (Kite heartbeats every second)
REFUSED = {
    "kite": "listen: the broker refused the session — run `ordertrack broker login`",
    "kotak": "listen: Kotak Neo refused the session, even after a fresh login",
}


def clock() -> datetime:
    return utcnow()


class Courier:
    """Delivers the outbox from a thread of its own, woken after each verify. Telegram takes
    about one message a second per chat, so a verify that queued four messages used to keep
    the stream unread for five seconds and the next push waited behind them (the p95 of
    scripts/bench_latency.py); now the next push is read, and its book fetched, while they go
    out. One courier, so the per-chat pace holds; a cron run delivering beside it is kept from
    sending twice by the outbox's claims, as two cron runs are."""

    def __init__(self, settings: Settings, emit: Callable[[dict[str, Any]], None]):
        self.settings, self.emit = settings, emit
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="listen-courier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, wait: float) -> None:
        """One last pass, then end; `wait` bounds how long listen waits for it."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(wait)

    def _run(self) -> None:
        from ordertrack.store.db import open_again

        db = None
        try:
            db = open_again(self.settings.db_path)  # its own: sqlite's are per thread
            while True:
                self._wake.wait()
                last = self._stopping
                self._wake.clear()  # a wake while delivering asks for one more pass
                self._pass(db)
                if last:
                    return
        except Exception as exc:  # noqa: BLE001 - said, not swallowed: cron's runs deliver
            self.emit({"event": "deliver", "at": clock(), "error": f"{type(exc).__name__}"})
        finally:
            if db is not None:
                db.close()

    def _pass(self, db: Database) -> None:
        from ordertrack import net
        from ordertrack.notify import delivery

        try:
            with net.budget():
                report = delivery.deliver(db, self.settings, utcnow())
        except OrdertrackError as exc:
            self.emit({"event": "deliver", "at": clock(), "error": redact(exc.message)})
            return
        if report.sent or report.undelivered:
            event: dict[str, Any] = {"event": "deliver", "at": clock(), "sent": report.sent}
            if report.undelivered:
                event["undelivered"] = redact(report.error_line())
            self.emit(event)


@dataclass
class Listener:
    settings: Settings
    open_db: Callable[[], Database]
    stream: OrderStream
    verify: Callable[[], dict[str, Any]]  # one verify run (push-triggered); its summary
    emit: Callable[[dict[str, Any]], None]
    until: datetime
    timing: Timing = TIMING
    stopping: bool = False
    listen_id: int = 0
    debounce: Debounce = field(init=False)
    backoff: Backoff = field(init=False)
    courier: Courier = field(init=False)
    _state_at: float = 0.0

    def __post_init__(self) -> None:
        self.debounce = Debounce(self.timing.debounce, leading=True)
        self.backoff = Backoff(self.timing.backoff_first, self.timing.backoff_max)
        self.courier = Courier(self.settings, self.emit)

    @property
    def db(self) -> Database:
        return self.open_db()

    def run(self) -> None:
        """Until `until` or a stop; BrokerUnavailable when the session stays refused."""
        self.listen_id = listens.begin(self.db, self.stream.name, clock())
        self.courier.start()
        interrupted = False
        try:
            self._loop()
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C: leave what is queued to the outbox and the next run
            raise
        finally:
            with contextlib.suppress(Exception):
                self.stream.close()
            self.courier.stop(1.0 if interrupted else FINAL_DELIVERY)
            with contextlib.suppress(Exception):
                listens.update(self.db, self.listen_id, state="stopped", ended_at=clock())

    def _over(self) -> bool:
        return self.stopping or clock() >= self.until

    def _loop(self) -> None:
        first = True
        while not self._over():
            try:
                self.stream.open()
            except SessionRefused as exc:
                self._refused(str(exc))
                continue
            except (StreamDown, BrokerUnavailable) as exc:
                self._down(str(exc) if isinstance(exc, StreamDown) else exc.message)
                continue
            self.backoff.reset()
            if not first:
                listens.update(self.db, self.listen_id, reconnects=1)
            first = False
            self._connected()

    def _connected(self) -> None:
        now = clock()
        self.emit({"event": "connect", "at": now, "broker": self.stream.name})
        listens.update(
            self.db,
            self.listen_id,
            state="connected",
            connected_since=now,
            last_frame_at=now,
            note=None,
        )
        self._verify("connect")  # after the stream is open: nothing falls between the two
        watchdog = Watchdog(self.stream.watchdog, clock())
        while not self._over():
            now = clock()
            wait = next_wait(now, self.until, self.debounce.due_in(now), watchdog.due_in(now))
            try:
                pushes = self.stream.next(wait)
            except StreamDown as exc:
                self._lost(str(exc))
                return
            now = clock()
            if pushes is not None:
                watchdog.alive(now)
                self._note_frame()
                self._heard(pushes, now)
            if self.debounce.ripe(now):
                self._verify("push")
            if watchdog.expired(clock()):
                self._lost(f"no frame for {self.stream.watchdog:g} s")
                return
        self.stream.close()

    def _note_frame(self) -> None:
        if time.monotonic() - self._state_at >= STATE_EVERY:
            self._state_at = time.monotonic()
            listens.update(self.db, self.listen_id, last_frame_at=clock())

    def _heard(self, pushes: list[Push], now: datetime) -> None:
        if not pushes:
            return
        listens.record_pushes(self.db, self.stream.name, pushes, now)
        listens.update(self.db, self.listen_id, pushes=len(pushes))
        open_ids, idless = listens.open_refs(self.db)
        for push in pushes:
            wanted = calls_for_verify(push, open_ids, idless)
            self.emit({"event": "push", "at": now, "order_id": push.order_id, "verify": wanted})
            if wanted:
                self.debounce.hit(now)

    def _lost(self, why: str) -> None:
        self.stream.close()
        self.emit({"event": "disconnect", "at": clock(), "reason": why})
        listens.update(
            self.db, self.listen_id, state="reconnecting", connected_since=None, note=redact(why)
        )
        if self.debounce.waiting:  # heard just before the drop: verified now, not held
            self._verify("push")
        self._pause(self.backoff.next_delay())

    def _down(self, why: str) -> None:
        self.emit({"event": "disconnect", "at": clock(), "reason": why})
        listens.update(self.db, self.listen_id, state="reconnecting", note=redact(why))
        self._pause(self.backoff.next_delay())

    def _refused(self, why: str) -> None:
        """Say so once; Kite may get a fresh token later in the morning, so look for one every
        `token_check` seconds until the end; any other broker stops here."""
        text = REFUSED.get(self.stream.name, "listen: the broker refused the session")
        self.emit({"event": "disconnect", "at": clock(), "reason": why})
        listens.update(self.db, self.listen_id, state="refused", note=redact(why))
        day = to_ist(clock()).date().isoformat()
        with transaction(self.db):
            outbox.enqueue(
                self.db,
                f"listen-refused:{self.stream.name}:{day}",
                EventKind.SYSTEM_ALERT,
                payloads.system_alert("listen", text),
                clock(),
                None,
            )
        self._deliver()
        while self.stream.renewable and not self._over():
            self._pause(self.timing.token_check)
            if self.stream.session_renewed():
                return
        if not self.stopping:
            raise BrokerUnavailable(f"{text} ({why})")

    def _verify(self, trigger: str) -> None:
        self.debounce.taken()
        try:
            summary = self.verify()
        except LockHeld:  # a cron run holds it: that run reads the same book; try again soon
            self.debounce.done(clock())  # so the retry waits one window, not a quiet spell's 0
            self.debounce.hit(clock())
            summary = {"outcome": "locked"}
        except OrdertrackError as exc:  # recorded and alerted by the run itself
            summary = {"outcome": "failed", "error": redact(exc.message)}
        self.debounce.done(clock())
        listens.update(self.db, self.listen_id, verifies=1)
        self.emit({"event": "verify", "at": clock(), "trigger": trigger, **summary})
        self.courier.wake()

    def _deliver(self) -> None:
        self.courier.wake()

    def _pause(self, seconds: float) -> None:
        steps = max(1, math.ceil(seconds / PAUSE_STEP))  # counted, so a frozen clock cannot
        for _ in range(steps):  # hold us here
            if self._over():
                return
            if self.debounce.ripe(clock()):
                self._verify("push")
            time.sleep(min(seconds, PAUSE_STEP))


@contextlib.contextmanager
def sigterm_stops(listener: Listener) -> Iterator[None]:
    """SIGTERM ends `listen` cleanly at the next frame or tick (exit 0); SIGINT stays
    KeyboardInterrupt (exit 130)."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        listener.stopping = True

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an engine calling us from a worker)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


DEFAULT_UNTIL = "15:35"


def parse_until(text: str | None, now: datetime) -> datetime:
    """--until HH:MM, today's IST time, as a UTC instant; one already past is a usage error."""
    from datetime import time as day_time

    from ordertrack.errors import UsageError
    from ordertrack.timeutil import IST

    given = text or DEFAULT_UNTIL
    try:
        hours, minutes = (int(part) for part in given.split(":"))
        at = day_time(hours, minutes)
    except ValueError:
        raise UsageError(f"--until wants HH:MM (IST), e.g. 15:35; got {given!r}") from None
    end = datetime.combine(to_ist(now).date(), at, tzinfo=IST)
    if end <= now:
        raise UsageError(f"--until {given} IST has already passed today")
    return end


def serve(
    settings: Settings,
    open_db: Callable[[], Database],
    until: datetime,
    emit: Callable[[dict[str, Any]], None],
    warn: Callable[[str], None],
    once: Callable[[], dict[str, Any]],
    timing: Timing | None = None,
) -> None:
    """`once` is one push-triggered verify (jobs/commands.listen passes the verify entry's)."""
    from ordertrack.broker.stream import has_stream, make_stream, no_stream

    if not has_stream(settings.broker):  # before the database: nothing to create for it
        raise no_stream(settings.broker)
    timing = timing or TIMING
    stream = make_stream(settings, open_db(), timing)
    said = threading.Lock()  # the courier speaks from its own thread

    def emit_one(event: dict[str, Any]) -> None:
        with said:
            emit(event)

    listener = Listener(settings, open_db, stream, once, emit_one, until, timing)
    with sigterm_stops(listener):
        listener.run()
