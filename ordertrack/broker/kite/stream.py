"""Kite's order updates over its WebSocket (wss://ws.kite.trade?api_key=…&access_token=…).

Text frames are JSON: {"type": "order", "data": <the postback payload>} is an order update,
{"type": "error", …} and {"type": "message", …} are notes. Binary frames are market ticks and
the 1-byte heartbeat Kite sends about every second: signs of life, nothing more. Kite does not
replay what it sent while we were away, so `listen` verifies the book after every connect."""

import json
from collections.abc import Callable
from urllib.parse import urlencode

from ordertrack.broker.kite import format as kite_format
from ordertrack.broker.ws import SessionRefused, StreamDown, ws_connect, ws_recv
from ordertrack.core.listen import Push, Timing

SHOWN = "Kite's order stream"


class KiteStream:
    name = "kite"
    renewable = True

    def __init__(self, root: str, api_key: str, token: Callable[[], str | None], timing: Timing):
        self._root, self._key, self._token = root.rstrip("/"), api_key, token
        self.watchdog: float | None = timing.data_watchdog
        self._ws: object | None = None
        self._refused: str | None = None

    def open(self) -> None:
        token = self._token()
        if token is None:
            self._refused = ""
            raise SessionRefused("Kite has no valid access token for today")
        url = f"{self._root}?{urlencode({'api_key': self._key, 'access_token': token})}"
        try:
            self._ws = ws_connect(url, SHOWN, ping=None)  # Kite heartbeats; we count those
        except SessionRefused:
            self._refused = token
            raise

    def next(self, timeout: float) -> list[Push] | None:
        if self._ws is None:
            raise StreamDown(f"{SHOWN} is not open")
        frame = ws_recv(self._ws, timeout, SHOWN)
        if frame is None:
            return None
        if isinstance(frame, bytes):
            return []
        return _pushes(frame)

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()  # type: ignore[attr-defined]

    def session_renewed(self) -> bool:
        token = self._token()
        return token is not None and token != self._refused


def _pushes(text: str) -> list[Push]:
    try:
        message = json.loads(text)
    except ValueError:
        return []
    if not isinstance(message, dict) or message.get("type") != "order":
        return []
    data = message.get("data")
    if not isinstance(data, dict):
        return []
    return [Push(kite_format.row_order_id(data), data)]
