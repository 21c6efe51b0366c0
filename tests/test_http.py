"""The one HTTP retry policy, against a real local server on 127.0.0.1."""

import gzip
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ordertrack import net
from ordertrack.net import HttpFailure, RetryPolicy, send
from tests import webhook_receiver


class Script(BaseHTTPRequestHandler):
    replies: list[tuple[int, dict, bytes, float]] = []
    hits = 0
    drip = 0.0  # seconds between the body's bytes

    def do_GET(self) -> None:
        type(self).hits += 1
        status, headers, body, delay = self.replies.pop(0) if self.replies else (200, {}, b"{}", 0)
        time.sleep(delay)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for part in [body[i : i + 1] for i in range(len(body))] if self.drip else [body]:
                self.wfile.write(part)
                self.wfile.flush()
                time.sleep(self.drip)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    Script.replies, Script.hits = [], 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def policy(sleeps: list[float], **kw) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, **{"read_timeout": 2.0, **kw})


def test_5xx_and_429_are_retried_then_succeed(server):
    Script.replies = [
        (502, {}, b"<html>Bad Gateway</html>", 0),
        (429, {}, b"", 0),
        (200, {}, b'{"ok": true}', 0),
    ]
    sleeps: list[float] = []
    reply = send(requests.Session(), "GET", server, policy=policy(sleeps))
    assert (reply.status, reply.json()) == (200, {"ok": True})
    assert Script.hits == 3 and len(sleeps) == 2


def test_retries_are_bounded_and_the_last_reply_comes_back(server):
    Script.replies = [(503, {}, b"down", 0)] * 10
    sleeps: list[float] = []
    reply = send(requests.Session(), "GET", server, policy=policy(sleeps, attempts=3))
    assert reply.status == 503 and reply.json() is None
    assert Script.hits == 3


def test_4xx_is_not_retried(server):
    Script.replies = [(403, {}, b'{"stCode": 1003}', 0)]
    reply = send(requests.Session(), "GET", server, policy=policy([]))
    assert reply.status == 403 and Script.hits == 1


def test_retry_after_is_honoured_up_to_the_maximum(server):
    Script.replies = [(429, {"Retry-After": "7"}, b"", 0), (200, {}, b"{}", 0)]
    sleeps: list[float] = []
    send(requests.Session(), "GET", server, policy=policy(sleeps))
    assert sleeps == [7.0]
    Script.replies = [(429, {}, b'{"ok": false, "parameters": {"retry_after": 500}}', 0)]
    sleeps.clear()
    reply = send(requests.Session(), "GET", server, policy=policy(sleeps, total_seconds=60))
    assert reply.status == 429 and sleeps == []  # longer than one run waits: left to a later run


def test_refused_connection_names_the_host_only():
    with pytest.raises(HttpFailure) as failure:
        send(
            requests.Session(),
            "GET",
            "http://127.0.0.1:9/bot123:SECRET/getMe",
            policy=policy([], attempts=2),
        )
    assert failure.value.kind == "connect"
    assert str(failure.value) == "cannot connect to 127.0.0.1:9"


def test_read_timeout_is_not_repeated_when_the_caller_says_so(server):
    Script.replies = [(200, {}, b"{}", 1.0)] * 3
    with pytest.raises(HttpFailure) as failure:
        send(
            requests.Session(),
            "GET",
            server,
            policy=policy([], read_timeout=0.2),
            retry_timeouts=False,
        )
    assert failure.value.kind == "timeout" and Script.hits == 1


def test_read_timeout_is_retried_by_default(server):
    Script.replies = [(200, {}, b"{}", 1.0), (200, {}, b'{"late": false}', 0)]
    reply = send(requests.Session(), "GET", server, policy=policy([], read_timeout=0.5))
    assert reply.json() == {"late": False}


class Cut(BaseHTTPRequestHandler):
    """Reads the request, then closes the connection without a reply."""

    hits = 0

    def do_POST(self) -> None:
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(2)

    def log_message(self, *args: object) -> None:
        pass


def test_a_connection_cut_after_sending_is_an_unknown_outcome_not_a_retry():
    Cut.hits = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(HttpFailure) as failure:
            send(
                requests.Session(),
                "POST",
                f"http://127.0.0.1:{httpd.server_port}/send",
                policy=policy([]),
                retry_timeouts=False,
                json={"text": "hi"},
            )
        assert failure.value.kind == "cut" and failure.value.outcome_unknown
        assert Cut.hits == 1
        send_again = policy([], attempts=3)
        with pytest.raises(HttpFailure):
            send(
                requests.Session(),
                "POST",
                f"http://127.0.0.1:{httpd.server_port}/send",
                policy=send_again,
                json={"text": "hi"},
            )
        assert Cut.hits == 4  # an idempotent call is retried
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("asked", ["-1", "nan", "-inf"])
def test_a_negative_or_absurd_retry_after_is_not_a_wait(server, asked):
    """time.sleep(-1) raises: a server asking for a negative pause got an internal error."""
    Script.replies = [(429, {"Retry-After": asked}, b"", 0), (200, {}, b"{}", 0)]
    reply = send(
        requests.Session(),
        "GET",
        server,
        policy=RetryPolicy(first_wait=0, max_wait=0, read_timeout=2.0),
    )
    assert reply.status == 200 and Script.hits == 2


def test_a_dripping_body_ends_at_the_reply_deadline(server):
    """One byte every 0.2 s never trips a 1 s read timeout; the reply's deadline stops it."""
    Script.replies = [(200, {}, b"x" * 100, 0)] * 3
    Script.drip = 0.2
    started = time.monotonic()
    try:
        with pytest.raises(HttpFailure) as caught:
            send(
                requests.Session(),
                "GET",
                server,
                retry_timeouts=False,
                policy=RetryPolicy(connect_timeout=1, read_timeout=1, sleep=lambda s: None),
            )
    finally:
        Script.drip = 0.0
    assert caught.value.kind == "timeout" and time.monotonic() - started < 5


# ---- bounded replies (#23 item 4) -------------------------------------------------------------

MiB = 1024 * 1024


def gzipped(data: bytes, members: int = 1) -> bytes:
    return b"".join(gzip.compress(data) for _ in range(members))


def test_a_reply_past_its_cap_fails_unread_and_is_not_retried(server):
    Script.replies = [(200, {}, b" " * (2 * MiB), 0)] * 3
    with pytest.raises(HttpFailure) as caught:
        send(requests.Session(), "GET", server, policy=policy([]), limit=MiB)
    host = server.removeprefix("http://")
    assert str(caught.value) == f"reply larger than 1 MiB from {host}"
    assert caught.value.kind == "large" and caught.value.outcome_unknown
    assert Script.hits == 1  # the same request would bring the same reply


def test_a_gzip_bomb_stops_at_the_cap_before_it_is_inflated(server):
    """60 KiB on the wire, 64 MiB inflated: the cap counts what inflating gives, as it comes."""
    bomb = webhook_receiver.bomb(64 * MiB)
    Script.replies = [(200, {"Content-Encoding": "gzip"}, bomb, 0)]
    tracemalloc.start()
    try:
        with pytest.raises(HttpFailure) as caught:
            send(requests.Session(), "GET", server, policy=policy([]), limit=MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(bomb) < 100 * 1024 and caught.value.kind == "large"
    assert peak < 8 * MiB, peak


def test_cut_keeps_the_first_bytes_and_leaves_the_rest_unread(server):
    Script.replies = [(200, {}, b"a" * 10 + b"b" * (3 * MiB), 0)]
    reply = send(requests.Session(), "GET", server, policy=policy([]), limit=16, cut=True)
    assert (reply.status, reply.text) == (200, "a" * 10 + "b" * 6)


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("gzip", gzipped(b'{"ok": true}')),
        ("deflate", zlib.compress(b'{"ok": true}')),
        ("deflate", zlib.compress(b'{"ok": true}')[2:-4]),  # raw deflate, as some servers send
        ("", b'{"ok": true}'),
    ],
)
def test_compressed_replies_still_read_as_before(server, encoding, body):
    Script.replies = [(200, {"Content-Encoding": encoding} if encoding else {}, body, 0)]
    reply = send(net.session(), "GET", server, policy=policy([]))
    assert reply.json() == {"ok": True}


def test_a_multi_member_gzip_body_is_read_whole(server):
    Script.replies = [(200, {"Content-Encoding": "gzip"}, gzipped(b"ab", members=3), 0)]
    assert send(net.session(), "GET", server, policy=policy([])).text == "ababab"


def test_the_session_asks_only_for_encodings_it_decodes():
    assert net.session().headers["Accept-Encoding"] == "gzip, deflate"
