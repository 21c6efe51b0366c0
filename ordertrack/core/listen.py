"""The decisions `listen` makes, with `now` passed in: which pushes call for a verify, when a
burst of them is ripe (debounce), how long to wait before reconnecting (backoff) and when a
silent stream counts as dead (watchdog). No I/O here."""

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Push:
    """One order update heard on a stream: the broker's order id (None when the frame had
    none) and the frame's payload as received, for the audit trail."""

    order_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Timing:
    """Every interval `listen` waits on; tests shrink them."""

    debounce: float = 0.5  # a verify follows the first push of a burst by this much (<= 1 s)
    backoff_first: float = 1.0
    backoff_max: float = 30.0
    data_watchdog: float = 30.0  # Kite: no data frame (it heartbeats every second) -> dead
    ack_timeout: float = 10.0  # Kotak: no `cn` acknowledgement -> dead
    ping_timeout: float = 30.0  # Kotak: no pong to a protocol ping -> dead
    token_check: float = 60.0  # Kite: how often to look for a fresh token after a refusal
    file_poll: float = 0.5  # file broker: how often orders.json is looked at


def calls_for_verify(push: Push, open_ids: Collection[str], idless_open: bool) -> bool:
    """A push about an order we track, or any push while an order without id is open (it may
    be the one that resolves it). Other pushes send nothing."""
    if push.order_id is not None and push.order_id in open_ids:
        return True
    return idless_open


@dataclass
class Debounce:
    """Pushes collected into one verify: ripe `window` seconds after the first of a burst, so
    a burst of 20 costs one to three book fetches, not 20, and no push waits over `window`.
    `leading`: a push after a quiet spell (no verify for `window`) is ripe at once — a lone
    change waits for nothing, and what follows it during or just after that verify gathers."""

    window: float
    leading: bool = False
    since: datetime | None = None
    due: datetime | None = None
    last_done: datetime | None = None

    def hit(self, now: datetime) -> None:
        if self.since is not None:
            return
        self.since = now
        quiet = self.last_done is None or now - self.last_done >= timedelta(seconds=self.window)
        self.due = now if self.leading and quiet else now + timedelta(seconds=self.window)

    @property
    def waiting(self) -> bool:
        return self.since is not None

    def ripe(self, now: datetime) -> bool:
        return self.due is not None and now >= self.due

    def due_in(self, now: datetime) -> float | None:
        if self.due is None:
            return None
        return max(0.0, (self.due - now).total_seconds())

    def taken(self) -> None:
        self.since = self.due = None

    def done(self, now: datetime) -> None:
        """The verify it called for has ended: the quiet spell counts from here."""
        self.last_done = now


@dataclass
class Backoff:
    """1 s doubling to 30 s, with jitter (so many hosts do not reconnect in step); reset once
    a connection has worked."""

    first: float
    most: float
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def next_delay(self) -> float:
        base = min(self.most, self.first * float(2 ** min(self.failures, 30)))
        self.failures += 1
        return min(self.most, base * (0.75 + 0.5 * self.rand()))

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Watchdog:
    """Dead after `limit` seconds without a sign of life (None: the transport's own pings
    watch the line instead)."""

    limit: float | None
    last: datetime

    def alive(self, now: datetime) -> None:
        self.last = now

    def expired(self, now: datetime) -> bool:
        return self.limit is not None and now - self.last > timedelta(seconds=self.limit)

    def due_in(self, now: datetime) -> float | None:
        if self.limit is None:
            return None
        return max(0.0, (self.last + timedelta(seconds=self.limit) - now).total_seconds())


def wait_for(now: datetime, until: datetime, *deadlines: float | None, most: float = 1.0) -> float:
    """How long to wait for the next frame: no longer than the nearest deadline, the end of
    the session, or `most` (so a signal or a stop is noticed soon)."""
    left = max(0.0, (until - now).total_seconds())
    return min([most, left, *[d for d in deadlines if d is not None]])
