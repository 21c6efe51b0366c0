"""The one HTTP retry policy, used by every client (Kotak Neo, Telegram).

Connect errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter, bounded
by attempts and by total time so a cron run stays inside its slot. Other replies come back to
the caller to classify. Error texts name the host only: a URL can hold a secret (the bot token).

Every reply body is read with a size cap (`limit`, set per client: BOOK_REPLY for a broker,
SMALL_REPLY for Telegram, webhooks and pings), counted while streaming and after decompression:
ordertrack inflates gzip/deflate itself, a chunk at a time, so a small gzip bomb stops at the
cap instead of being inflated whole.

Two clocks bound the waiting, both monotonic: every reply has a total deadline (connect, headers
and the whole body: a server dripping one byte at a time cannot stretch it), and every run a
budget (`budget()`), which no request, retry or backoff pause crosses.
"""

import json
import math
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


MiB = 1024 * 1024
# A 10,000-order Kotak book is ~2.8 MiB of JSON (scripts/bench_verify.py): 64 MiB holds ~20
# times that, and is the file broker's cap too. The other replies are a few hundred bytes.
BOOK_REPLY = 64 * MiB
SMALL_REPLY = 1 * MiB
ACCEPT_ENCODING = "gzip, deflate"  # the encodings _Inflater decodes: never br or zstd
RUN_SECONDS = 240.0  # a run's budget for HTTP: well inside the 30-minute cron slot and lease
CHUNK = 65536
# monotonic() when the current budget runs out; per thread (a ContextVar), so listen's delivery
# thread and its verifies each keep their own budget
_run_ends: ContextVar[float | None] = ContextVar("run_ends", default=None)


@contextmanager
def budget(seconds: float | None = None) -> Iterator[None]:
    """Bound every request inside the block by one time budget (RUN_SECONDS by default). An
    inner budget never extends an outer one."""
    outer = _run_ends.get()
    ends = monotonic() + (RUN_SECONDS if seconds is None else seconds)
    token = _run_ends.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _run_ends.reset(token)


def run_seconds_left() -> float:
    ends = _run_ends.get()
    return math.inf if ends is None else ends - monotonic()


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

    _TEXT = {
        "connect": "cannot connect to",
        "timeout": "no reply in time from",
        "cut": "the connection broke before a reply from",
        "budget": "the run's time budget ran out before a request to",
        "large": "reply larger than {limit} from",
    }

    def __init__(self, kind: str, host: str, limit: int = 0):
        super().__init__(self._TEXT[kind].format(limit=size(limit)) + f" {host}")
        self.kind, self.host = kind, host

    @property
    def outcome_unknown(self) -> bool:
        return self.kind not in ("connect", "budget")


class _Retry(Exception):
    def __init__(self, reply: Reply | None = None, failure: HttpFailure | None = None):
        self.reply, self.failure = reply, failure


def size(limit: int) -> str:
    """A cap as people read it: '64 MiB', '512 KiB'."""
    return f"{limit / MiB:g} MiB" if limit >= MiB else f"{limit / 1024:g} KiB"


def session() -> "requests.Session":
    """A new HTTP session (connection pool) for one client."""
    import requests

    client = requests.Session()
    client.headers["Accept-Encoding"] = ACCEPT_ENCODING
    return client


class _TooLarge(Exception):
    pass


class _Inflater:
    """Decodes a gzip or deflate body piece by piece, no piece larger than CHUNK, so a body
    that inflates a thousandfold is never held whole. Any other encoding passes as it is."""

    def __init__(self, encoding: str):
        encoding = encoding.strip().lower()
        self._wbits = {
            "gzip": 16 + zlib.MAX_WBITS,
            "x-gzip": 16 + zlib.MAX_WBITS,
            "deflate": zlib.MAX_WBITS,
        }.get(encoding, 0)
        self._zlib = self._wbits == zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(self._wbits) if self._wbits else None

    def pieces(self, data: bytes) -> Iterator[bytes]:
        if self._decoder is None:
            yield data
            return
        while data:
            try:
                piece = self._decoder.decompress(data, CHUNK)
            except zlib.error:
                if not self._zlib:
                    raise
                # "deflate" sent raw, without its zlib header, as some servers do
                self._zlib, self._decoder = False, zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._zlib = False
            yield piece
            data = self._decoder.unconsumed_tail
            if self._decoder.eof and self._decoder.unused_data:  # another gzip member
                data, self._decoder = self._decoder.unused_data, zlib.decompressobj(self._wbits)

    def rest(self) -> bytes:
        """What the decoder still holds once the body has ended (at most its 32 KiB window)."""
        return self._decoder.flush() if self._decoder is not None else b""


def _read_body(response: "requests.Response", ends: float, limit: int, cut: bool) -> bytes:
    """The body by chunks as they arrive, decoded, or TimeoutError once `ends` has passed.
    Past `limit` bytes (decoded): _TooLarge, or with `cut` the first `limit` bytes, the rest
    left unread."""
    import urllib3

    encoding = response.headers.get("Content-Encoding", "")
    declared = response.headers.get("Content-Length", "")
    if not cut and not encoding and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    inflater, body = _Inflater(encoding), _Body(limit, cut)
    while not body.full:
        if monotonic() > ends:
            raise TimeoutError
        chunk = response.raw.read1(CHUNK, decode_content=False)
        try:
            for piece in inflater.pieces(chunk) if chunk else (inflater.rest(),):
                body.add(piece)  # piece by piece: a bomb's pieces never pile up
                if body.full:
                    break
        except zlib.error as exc:  # classified as urllib3's own decoding error was
            raise urllib3.exceptions.DecodeError(str(exc)) from None
        if not chunk:
            break
    return b"".join(body.chunks)


class _Body:
    def __init__(self, limit: int, cut: bool):
        self.limit, self.cut = limit, cut
        self.chunks: list[bytes] = []
        self.kept = 0
        self.full = False

    def add(self, piece: bytes) -> None:
        if self.kept + len(piece) > self.limit:
            if not self.cut:
                raise _TooLarge
            piece, self.full = piece[: self.limit - self.kept], True
        self.chunks.append(piece)
        self.kept += len(piece)


def _timeouts(policy: RetryPolicy, ends: float) -> tuple[float, float]:
    left = max(0.001, ends - monotonic())
    return min(policy.connect_timeout, left), min(policy.read_timeout, left)


def _once(
    session: "requests.Session",
    method: str,
    url: str,
    policy: RetryPolicy,
    retry_timeouts: bool,
    limit: int,
    cut: bool,
    kwargs: dict[str, Any],
    busy: Callable[[Reply], bool] | None = None,
) -> Reply:
    import requests
    import urllib3

    host = urlsplit(url).netloc.rpartition("@")[2]
    if run_seconds_left() <= 0:
        raise HttpFailure("budget", host)
    ends = monotonic() + min(policy.reply_seconds, run_seconds_left())
    try:
        response = session.request(
            method, url, timeout=_timeouts(policy, ends), stream=True, **kwargs
        )
        with response:
            body = _read_body(response, ends, limit, cut)
    except _TooLarge:  # not retried: the same request would bring the same reply
        raise HttpFailure("large", host, limit) from None
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
            exc.args[0] if exc.args else None, urllib3.exceptions.ProtocolError
        ):
            if not retry_timeouts:
                raise HttpFailure("cut", host) from None
            raise _Retry(failure=HttpFailure("cut", host)) from None
        raise _Retry(failure=HttpFailure("connect", host)) from None
    except requests.exceptions.RequestException:
        raise _Retry(failure=HttpFailure("connect", host)) from None
    response._content = body  # so .text decodes it with the reply's charset
    reply = Reply(response.status_code, response.text, dict(response.headers))
    if reply.transient or (busy is not None and busy(reply)):
        raise _Retry(reply=reply)
    return reply


PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
)


def stdlib_usable() -> bool:
    """Whether a JSON request may go over http.client instead of requests: not when a proxy
    is configured (requests honours it, http.client would not)."""
    import os

    return not any(os.environ.get(name) for name in PROXY_VARIABLES)


def _once_stdlib(
    session: None,
    method: str,
    url: str,
    policy: RetryPolicy,
    retry_timeouts: bool,
    limit: int,
    cut: bool,
    kwargs: dict[str, Any],
    busy: Callable[[Reply], bool] | None = None,
) -> Reply:
    """_once over http.client, for a JSON request whose reply is small (the bot's idle poll:
    requests and urllib3 cost more CPU than the whole rest of the run). Same deadlines, cap
    and failure kinds; the body is sent as `kwargs['json']`."""
    import http.client

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    if run_seconds_left() <= 0:
        raise HttpFailure("budget", host)
    ends = monotonic() + min(policy.reply_seconds, run_seconds_left())
    connect, read = _timeouts(policy, ends)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=connect, context=_tls_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=connect)
    data = json.dumps(kwargs.get("json", {})).encode()
    try:
        try:
            conn.connect()
        except OSError:
            raise _Retry(failure=HttpFailure("connect", host)) from None
        assert conn.sock is not None
        conn.sock.settimeout(read)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            body = _read_stdlib(response, ends, limit, host)
        except TimeoutError:
            if retry_timeouts:
                raise _Retry(failure=HttpFailure("timeout", host)) from None
            raise HttpFailure("timeout", host) from None
        except (OSError, http.client.HTTPException):
            if retry_timeouts:
                raise _Retry(failure=HttpFailure("cut", host)) from None
            raise HttpFailure("cut", host) from None
    finally:
        conn.close()
    reply = Reply(response.status, body.decode("utf-8", "replace"), dict(response.getheaders()))
    if reply.transient or (busy is not None and busy(reply)):
        raise _Retry(reply=reply)
    return reply


def ca_bundle() -> str | None:
    """The certificates requests would trust: REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else
    certifi's (a host without a system CA store must not fail here and work there)."""
    import os

    chosen = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if chosen:
        return chosen
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def _tls_context() -> Any:
    import ssl

    return ssl.create_default_context(cafile=ca_bundle())


def _read_stdlib(response: Any, ends: float, limit: int, host: str) -> bytes:
    chunks, size_read = [], 0
    while piece := response.read1(CHUNK):
        size_read += len(piece)
        if size_read > limit:
            raise HttpFailure("large", host, limit)
        if monotonic() > ends:
            raise TimeoutError
        chunks.append(piece)
    return b"".join(chunks)


def send(
    session: "requests.Session | None",
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    retry_timeouts: bool = True,
    limit: int = SMALL_REPLY,
    cut: bool = False,
    busy: Callable[[Reply], bool] | None = None,
    **kwargs: Any,
) -> Reply:
    """Send with the retry policy. Returns the last reply (which may be a 429 or 5xx once the
    retries are spent) or raises HttpFailure when no reply came at all.

    Pass retry_timeouts=False for requests that must not be repeated blindly (sending a message):
    a read timeout or a connection cut after sending then raises at once, and the caller records
    the outcome as unknown.

    `limit`: the most bytes of (decoded) body read; a bigger reply raises HttpFailure('large'),
    or with `cut=True` comes back holding its first `limit` bytes.

    `busy`: a broker's own way of saying "too many requests" besides 429 (Angel One's HTTP 403
    "exceeding access rate"), retried like a 429.

    `session` None: a JSON request over http.client (`_once_stdlib`), without loading requests.
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
        0, policy.first_wait
    )

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
        return monotonic() - started + pause > policy.total_seconds or pause >= run_seconds_left()

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts)
        | stop_after_delay(policy.total_seconds)
        | budget_left,  # type: ignore[operator]  # tenacity accepts any callable as a stop
        wait=wait,
        retry=retry_if_exception_type(_Retry),
        sleep=policy.sleep,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                once = _once if session is not None else _once_stdlib
                return once(session, method, url, policy, retry_timeouts, limit, cut, kwargs, busy)  # type: ignore[arg-type]
    except _Retry as last:
        if last.reply is not None:
            return last.reply
        raise last.failure from None  # type: ignore[misc]
    raise AssertionError("unreachable")
