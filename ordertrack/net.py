"""The one HTTP retry policy, used by every client (Kotak Neo, Telegram).

Connect errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter, bounded
by attempts and by total time so a cron run stays inside its slot. Other replies come back to
the caller to classify. Error texts name the host only: a URL can hold a secret (the bot token).

Two clocks bound the waiting, both monotonic: every reply has a total deadline (connect, headers
and the whole body: a server dripping one byte at a time cannot stretch it), and every run a
budget (`budget()`), which no request, retry or backoff pause crosses.
"""

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # requests, urllib3 and tenacity load on the first request: a run that sends
    import requests  # nothing (an idle verify) starts ~50 ms sooner without them



@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    total_seconds: float = 90.0
    first_wait: float = 1.0
    max_wait: float = 20.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    @property
    def reply_seconds(self) -> float:
        """The total deadline of one reply: connecting, then the whole body."""
        return self.connect_timeout + self.read_timeout


def monotonic() -> float:
    """Seconds on the OS's monotonic clock, read directly: a library that fakes time.monotonic
    (a test's frozen clock) must not make a deadline endless."""
    if hasattr(time, "clock_gettime"):
        return time.clock_gettime(time.CLOCK_MONOTONIC)
    return time.monotonic()


RUN_SECONDS = 240.0  # a run's budget for HTTP: well inside the 30-minute cron slot and lease
CHUNK = 65536
_run_ends: float | None = None  # monotonic() when the current budget runs out


@contextmanager
def budget(seconds: float | None = None) -> Iterator[None]:
    """Bound every request inside the block by one time budget (RUN_SECONDS by default). An
    inner budget never extends an outer one."""
    global _run_ends
    outer = _run_ends
    ends = monotonic() + (RUN_SECONDS if seconds is None else seconds)
    _run_ends = ends if outer is None else min(outer, ends)
    try:
        yield
    finally:
        _run_ends = outer


def run_seconds_left() -> float:
    return math.inf if _run_ends is None else _run_ends - monotonic()


@dataclass(frozen=True)
class Reply:
    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any | None:
        """The body as JSON, or None when it is not JSON (an HTML error page, an empty body)."""
        try:
            return json.loads(self.text)
        except (ValueError, TypeError):
            return None

    @property
    def transient(self) -> bool:
        return self.status == 429 or self.status >= 500

    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (Retry-After header or Telegram's retry_after)."""
        body = self.json()
        if isinstance(body, dict) and isinstance(body.get("parameters"), dict):
            value = body["parameters"].get("retry_after")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return asked_wait(min(value, MAX_ASKED_WAIT))
        try:
            return asked_wait(float(self.headers.get("Retry-After", "")))
        except (ValueError, OverflowError):
            return None


MAX_ASKED_WAIT = 86400.0  # a server asking for more than a day gets a day


def asked_wait(value: float) -> float | None:
    """A wait a server asked for, or None when it is no wait at all (negative, nan)."""
    if math.isnan(value) or value < 0:
        return None
    return min(value, MAX_ASKED_WAIT)


class HttpFailure(Exception):
    """No reply at all. `kind` is 'connect' (nothing reached the server), 'timeout' (no reply
    in time, or the reply's deadline passed mid-body), 'cut' (the connection broke after the
    request went out) or 'budget' (the run's budget was spent: nothing was sent). After a
    timeout or a cut the outcome of a POST is unknown: the server may have acted."""

    _TEXT = {"connect": "cannot connect to", "timeout": "no reply in time from",
             "cut": "the connection broke before a reply from",
             "budget": "the run's time budget ran out before a request to"}

    def __init__(self, kind: str, host: str):
        super().__init__(f"{self._TEXT[kind]} {host}")
        self.kind, self.host = kind, host

    @property
    def outcome_unknown(self) -> bool:
        return self.kind not in ("connect", "budget")


class _Retry(Exception):
    def __init__(self, reply: Reply | None = None, failure: HttpFailure | None = None):
        self.reply, self.failure = reply, failure


def session() -> "requests.Session":
    """A new HTTP session (connection pool) for one client."""
    import requests

    return requests.Session()


def _read_body(response: "requests.Response", ends: float) -> bytes:
    """The whole body by chunks as they arrive, or TimeoutError once `ends` has passed."""
    chunks: list[bytes] = []
    while True:
        if monotonic() > ends:
            raise TimeoutError
        chunk = response.raw.read1(CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _timeouts(policy: RetryPolicy, ends: float) -> tuple[float, float]:
    left = max(0.001, ends - monotonic())
    return min(policy.connect_timeout, left), min(policy.read_timeout, left)


def _once(session: "requests.Session", method: str, url: str, policy: RetryPolicy,
          retry_timeouts: bool, kwargs: dict[str, Any]) -> Reply:
    import requests
    import urllib3

    host = urlsplit(url).netloc.rpartition("@")[2]
    if run_seconds_left() <= 0:
        raise HttpFailure("budget", host)
    ends = monotonic() + min(policy.reply_seconds, run_seconds_left())
    try:
        response = session.request(method, url, timeout=_timeouts(policy, ends), stream=True,
                                   **kwargs)
        with response:
            body = _read_body(response, ends)
    except requests.exceptions.ConnectTimeout:
        raise _Retry(failure=HttpFailure("connect", host)) from None
    except (requests.exceptions.Timeout, TimeoutError, urllib3.exceptions.TimeoutError):
        failure = HttpFailure("timeout", host)
        if retry_timeouts:
            raise _Retry(failure=failure) from None
        raise failure from None
    except (requests.exceptions.ConnectionError, urllib3.exceptions.HTTPError) as exc:
        # urllib3 reports a connection that broke after sending as a ProtocolError; a refused or
        # unresolvable one comes wrapped in MaxRetryError.
        if isinstance(exc, urllib3.exceptions.HTTPError) or isinstance(
                exc.args[0] if exc.args else None, urllib3.exceptions.ProtocolError):
            if not retry_timeouts:
                raise HttpFailure("cut", host) from None
            raise _Retry(failure=HttpFailure("cut", host)) from None
        raise _Retry(failure=HttpFailure("connect", host)) from None
    except requests.exceptions.RequestException:
        raise _Retry(failure=HttpFailure("connect", host)) from None
    response._content = body  # so .text decodes it with the reply's charset
    reply = Reply(response.status_code, response.text, dict(response.headers))
    if reply.transient:
        raise _Retry(reply=reply)
    return reply


def send(session: "requests.Session", method: str, url: str, *, policy: RetryPolicy,
         retry_timeouts: bool = True, **kwargs: Any) -> Reply:
    """Send with the retry policy. Returns the last reply (which may be a 429 or 5xx once the
    retries are spent) or raises HttpFailure when no reply came at all.

    Pass retry_timeouts=False for requests that must not be repeated blindly (sending a message):
    a read timeout or a connection cut after sending then raises at once, and the caller records
    the outcome as unknown.
    """
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        stop_after_delay,
        wait_exponential,
        wait_random,
    )

    started = monotonic()
    backoff = wait_exponential(multiplier=policy.first_wait, max=policy.max_wait) + wait_random(
        0, policy.first_wait)

    def asked(state: Any) -> float | None:
        error = state.outcome.exception()
        return error.reply.retry_after() if isinstance(error, _Retry) and error.reply else None

    def wait(state: Any) -> float:
        seconds = asked(state)
        return backoff(state) if seconds is None else seconds

    def budget_left(state: Any) -> bool:
        # A server asking for a longer pause than we wait in one run gets it: the caller
        # sees the reply and tries again on a later run.
        seconds = asked(state)
        if seconds is not None and seconds > policy.max_wait:
            return True
        pause = wait(state)
        return (monotonic() - started + pause > policy.total_seconds
                or pause >= run_seconds_left())

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_seconds)
        | budget_left,  # type: ignore[operator]  # tenacity accepts any callable as a stop
        wait=wait, retry=retry_if_exception_type(_Retry), sleep=policy.sleep, reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                return _once(session, method, url, policy, retry_timeouts, kwargs)
    except _Retry as last:
        if last.reply is not None:
            return last.reply
        raise last.failure from None  # type: ignore[misc]
    raise AssertionError("unreachable")
