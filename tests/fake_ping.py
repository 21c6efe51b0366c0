"""A healthchecks.io-style ping server on 127.0.0.1: records each path it is pinged on, and
answers at once, late (`delay`), or with a scripted status."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.webhook_receiver import huge

UUID = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"


class FakePing:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.delay = 0.0
        self.status = 200
        self.size = 0  # > 0: answer with this many bytes of body (a monitor gone wrong)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/{UUID}"

    def start(self) -> "FakePing":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def seen(self) -> list[str]:
        """The paths pinged, without the uuid: ['/start', '', '/6'] …"""
        return [p.split(UUID, 1)[1] for p in self.paths]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        fake: FakePing = self.server.fake  # type: ignore[attr-defined]
        fake.paths.append(self.path)
        if fake.delay:
            fake.released.wait(fake.delay)
        headers, pieces = (
            huge(fake.size, False) if fake.size else ({"Content-Length": "2"}, [b"OK"])
        )
        try:
            self.send_response(fake.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for piece in pieces:
                self.wfile.write(piece)
        except OSError:
            pass  # the client gave up waiting (the slow-monitor test)

    def log_message(self, *args: Any) -> None:
        pass


def running() -> Iterator[FakePing]:
    fake = FakePing().start()
    yield fake
    fake.stop()
