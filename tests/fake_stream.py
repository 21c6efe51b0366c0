"""Loopback WebSocket servers speaking the brokers' order-update protocols (websockets' own
server in a thread, 127.0.0.1), for `listen` and the latency benchmark.

Kite (broker-apis.md §11, KiteTicker): the session rides in the query string
(`?api_key=…&access_token=…`), a bad one is refused at the handshake with 403; order updates are
text frames {"type": "order", "data": <postback payload>}; a 1-byte binary heartbeat about every
second. Kotak Neo (§Order/position websocket): the first frame is {"type":"cn","Authorization":…,
"Sid":…,"src":"WEB"} (or its raw-string form), acknowledged {"ak":"ok","type":"cn",…}; then
{"type":"order","data":{…}} frames."""

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.sync.server import Server, ServerConnection, serve


@dataclass
class FakeStream:
    """What both fakes share: the live connections, scripted pushes, forced drops."""

    heartbeat: float | None = 0.2  # seconds between binary heartbeats (None: silent server)
    refuse: int | None = None  # answer every handshake with this HTTP status
    url: str = ""
    connects: int = 0
    handshakes: list[str] = field(default_factory=list)
    _live: list[ServerConnection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Server | None = None

    def push(self, data: dict[str, Any]) -> None:
        """An order update to every connection, as the broker sends it."""
        frame = json.dumps({"type": "order", "data": data})
        for ws in self.live():
            with contextlib.suppress(Exception):  # a connection closing under us
                ws.send(frame)

    def live(self) -> list[ServerConnection]:
        with self._lock:
            return list(self._live)

    def drop(self) -> None:
        """Cut every connection (the network hiccup Kotak's feed has every few minutes)."""
        for ws in self.live():
            ws.close(1011, "gone")

    def wait_connected(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connects < count or not self.live():
            assert time.monotonic() < deadline, f"{self.connects} connects, wanted {count}"
            time.sleep(0.02)

    def wait_closed(self, timeout: float = 10) -> bool:
        """True once no connection is live: the server's side learns of a client's close a
        moment after the client returns (its handler's next read), later on a busy machine."""
        deadline = time.monotonic() + timeout
        while self.live() and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.live()

    def _refused(self, status: int) -> Response:
        return Response(
            status,
            "Forbidden" if status == 403 else "Refused",
            Headers([("Content-Type", "application/json")]),
            json.dumps({"status": "error", "message": "Invalid session"}).encode(),
        )

    def _serve_connection(self, ws: ServerConnection, authorised: bool = True) -> None:
        with self._lock:
            self._live.append(ws)
            self.connects += 1
        try:
            while True:
                if self.heartbeat is None:
                    ws.recv(timeout=None)
                    continue
                try:
                    ws.recv(timeout=self.heartbeat)
                except TimeoutError:
                    ws.send(b"\x00")
        except Exception:  # noqa: BLE001 - the client went away
            pass
        finally:
            with self._lock:
                if ws in self._live:
                    self._live.remove(ws)

    def start(
        self,
        handler: Callable[[ServerConnection], None],
        process_request: Callable[[ServerConnection, Any], Response | None],
    ) -> None:
        self._server = serve(
            handler, "127.0.0.1", 0, process_request=process_request, compression=None
        )
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()


class FakeKiteTicker(FakeStream):
    """Kite's WebSocket. `valid(api_key, access_token)` decides a handshake."""

    def __init__(self, valid: Callable[[str, str], bool], **kwargs: Any):
        super().__init__(**kwargs)
        self.valid = valid

    def _check(self, ws: ServerConnection, request: Any) -> Response | None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        self.handshakes.append(request.path)
        if self.refuse:
            return self._refused(self.refuse)
        if not self.valid(query.get("api_key", ""), query.get("access_token", "")):
            return self._refused(403)
        return None

    def begin(self) -> "FakeKiteTicker":
        self.start(self._serve_connection, self._check)
        return self


class FakeKotakFeed(FakeStream):
    """Kotak Neo's order feed. `ack`: 'ok' (acknowledge), 'none' (stay silent, as Kotak
    sometimes does), 'json-only' (acknowledge only the JSON form) or 'raw-only'."""

    def __init__(self, valid: Callable[[str], bool], ack: str = "ok", **kwargs: Any):
        super().__init__(heartbeat=None, **kwargs)
        self.valid, self.ack = valid, ack
        self.first_frames: list[str] = []

    def _check(self, ws: ServerConnection, request: Any) -> Response | None:
        self.handshakes.append(request.path)
        return self._refused(self.refuse) if self.refuse else None

    def _handler(self, ws: ServerConnection) -> None:
        try:
            first = ws.recv(timeout=5)
        except Exception:  # noqa: BLE001
            return
        text = first if isinstance(first, str) else first.decode()
        self.first_frames.append(text)
        is_json = text.startswith('{"')
        if (
            self.ack == "none"
            or (self.ack == "json-only" and not is_json)
            or (self.ack == "raw-only" and is_json)
        ):
            self._serve_connection(ws)  # held open, never authenticated
            return
        if not self.valid(text):
            ws.send(json.dumps({"ak": "nk", "type": "cn", "msg": "Invalid session"}))
            ws.close(4001, "unauthorised")
            return
        ws.send(json.dumps({"ak": "ok", "type": "cn", "msg": "connected"}))
        self._serve_connection(ws)

    def begin(self) -> "FakeKotakFeed":
        self.start(self._handler, self._check)
        return self
