"""Kotak Neo's order feed: wss://<baseUrl host>/realtime.

The first frame carries the session, {"type":"cn","Authorization":<token>,"Sid":<sid>,
"src":"WEB"}; the server acknowledges {"ak":"ok","type":"cn",…}; then order frames
{"type":"order","data":{…order-book fields…}} (position frames are ignored). Kotak's docs send
that first frame as a raw, unquoted string, its own vendored client sends JSON: like OpenAlgo,
we start with JSON and switch form after an attempt that got no acknowledgement. There is no
application heartbeat, so a protocol ping every 30 s watches the line. Unverified without a
live account: the exact frame shapes (docs/listen.md)."""

import json
from collections.abc import Callable
from urllib.parse import urlsplit

from ordertrack.broker.kotak import format as kotak_format
from ordertrack.broker.ws import SessionRefused, StreamDown, ws_connect, ws_recv
from ordertrack.core.listen import Push, Timing

SHOWN = "Kotak Neo's order feed"


def feed_url(root: str | None, base_url: str) -> str:
    if root:
        return root
    return f"wss://{urlsplit(base_url).netloc}/realtime"


def connect_frame(token: str, sid: str, as_json: bool) -> str:
    if as_json:
        return json.dumps({"type": "cn", "Authorization": token, "Sid": sid, "src": "WEB"})
    return f"{{type:cn,Authorization:{token},Sid:{sid},src:WEB}}"


class KotakStream:
    name = "kotak"
    watchdog: float | None = None  # the protocol ping watches the line
    renewable = False  # one fresh login is tried inside open()

    def __init__(
        self, root: str | None, session: Callable[[bool], tuple[str, str, str]], timing: Timing
    ):
        self._root, self._session, self._timing = root, session, timing
        self._ws: object | None = None
        self.as_json = True
        self.sent_frames = 0

    def open(self) -> None:
        """Connect and authenticate; a refusal gets one fresh login before it is final."""
        try:
            self._attempt(fresh=False)
        except SessionRefused:
            self._attempt(fresh=True)

    def _attempt(self, fresh: bool) -> None:
        token, sid, base = self._session(fresh)
        ws = ws_connect(feed_url(self._root, base), SHOWN, ping=self._timing.ping_timeout)
        self._ws = ws
        ws.send(connect_frame(token, sid, self.as_json))  # type: ignore[attr-defined]
        self.sent_frames += 1
        try:
            self._await_ack(ws)
        except (StreamDown, SessionRefused):
            self.close()
            raise

    def _await_ack(self, ws: object) -> None:
        frame = ws_recv(ws, self._timing.ack_timeout, SHOWN)
        message = _json(frame)
        if frame is None or message is None or message.get("type") != "cn":
            self.as_json = not self.as_json  # the other form next time (see above)
            raise StreamDown(
                f"{SHOWN} did not acknowledge the session within {self._timing.ack_timeout:g} s"
            )
        if str(message.get("ak", "")).lower() != "ok":
            raise SessionRefused(f"{SHOWN} refused the session")

    def next(self, timeout: float) -> list[Push] | None:
        if self._ws is None:
            raise StreamDown(f"{SHOWN} is not open")
        frame = ws_recv(self._ws, timeout, SHOWN)
        if frame is None:
            return None
        message = _json(frame)
        if message is None or message.get("type") != "order":
            return []
        data = message.get("data")
        return [Push(kotak_format.row_order_id(data), data)] if isinstance(data, dict) else []

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()  # type: ignore[attr-defined]

    def session_renewed(self) -> bool:
        return False  # the fresh login was already tried


def _json(frame: str | bytes | None) -> dict[str, object] | None:
    if frame is None:
        return None
    try:
        message = json.loads(frame)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
