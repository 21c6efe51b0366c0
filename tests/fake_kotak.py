"""A fake Kotak Neo Trade API on 127.0.0.1, shaped by broker-apis.md §2–§9 and §14.

It checks what the real one checks (login headers and body, a TOTP valid for the secret, the
MPIN, the Auth/Sid of every later call), keeps one session per account (a new login ends the
previous one, as Kotak does), counts logins and records every request. Tests script faults
per path: `kotak.script(ORDERS, Scripted(429), Scripted(200, book(...)))`.
"""

import base64
import json
import os
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from ordertrack.broker.kotak import client as kotak_client
from ordertrack.net import RetryPolicy
from ordertrack.timeutil import IST, UTC
from tests.helpers import NO_DATA, book, history_reply, kotak_row
from tests.webhook_receiver import huge

LOGIN = "/login/1.0/tradeApiLogin"
VALIDATE = "/login/1.0/tradeApiValidate"
ORDERS = "/quick/user/orders"
HISTORY = "/quick/order/history"
TRADES = "/quick/user/trades"
HOLDINGS = "/portfolio/v1/holdings"
POSITIONS = "/quick/user/positions"
POSITIONS_V2 = "/portfolio/v2/positions"

# Recognisable fake secrets: the secrets test looks for every one of them in every output.
SECRETS = {
    "KOTAK_CONSUMER_KEY": "ck-SECRET-5f0c1a9e7d",
    "KOTAK_MOBILE": "9812345670",
    "KOTAK_UCC": "UCCQ7ZX",
    "KOTAK_MPIN": "582914",
    "KOTAK_TOTP_SECRET": "KOTAKSECRETTOTPABCDEFGH234567XYZ",
}
MOBILE = "+91" + SECRETS["KOTAK_MOBILE"]
SLOW = 0.6  # seconds: longer than TEST_POLICY's read timeout
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
SESSION_EXPIRED = {"stCode": 100022, "errMsg": "invalid session token", "stat": "Not_Ok"}
IP_REFUSED = {"stat": "Not_Ok", "stCode": 100008, "errMsg": "Unauthorized"}
# Retries without sleeping, and a read timeout short enough for the timeout scenario.
TEST_POLICY = RetryPolicy(
    attempts=3,
    total_seconds=10,
    first_wait=0,
    max_wait=0,
    connect_timeout=2,
    read_timeout=0.3,
    sleep=lambda seconds: None,
)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": [{"code": code, "message": message}]}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@dataclass
class Scripted:
    """One canned reply. `body` is JSON-encoded unless it is a str (sent as is)."""

    status: int = 200
    body: Any = None
    delay: float = 0.0
    expire: bool = False  # end every session first (a mid-run session expiry)
    drip: float = 0.0  # send the body one byte at a time, this many seconds apart
    hold: threading.Event | None = None  # answer only once the test sets it (at most 30 s)
    size: int = 0  # > 0: instead of `body`, this many bytes of filler (a huge reply)
    gzip: bool = False  # with `size`: sent as a gzip bomb, `size` bytes once inflated


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: str


@dataclass
class FakeKotak:
    url: str = ""
    orders: Any = field(
        default_factory=lambda: book(
            kotak_row("250122000624384", "complete", symbol="IDEA", qty=1, filled=1, avg="9.39"),
            kotak_row("250122000700111", "open"),
        )
    )
    # order id → its history rows, newest first (served in the documented shape: updRecvTm
    # rising down the list), or a whole reply dict served as is.
    histories: dict[str, Any] = field(default_factory=dict)
    trades: Any = field(
        default_factory=lambda: {
            "stat": "ok",
            "stCode": 200,
            "data": [
                {
                    "nOrdNo": "250122000624384",
                    "flId": "1",
                    "fldQty": 1,
                    "avgPrc": "9.39",
                    "trnsTp": "B",
                    "trdSym": "IDEA-EQ",
                    "sym": "IDEA",
                    "exSeg": "nse_cm",
                    "prod": "CNC",
                    "flDt": "22-Jan-2025",
                    "flTm": "14:33:01",
                    "exTm": "22-Jan-2025 14:32:53",
                    "rptTp": "fill",
                }
            ],
        }
    )
    holdings: Any = field(
        default_factory=lambda: {
            "data": [
                {
                    "symbol": "ITBEES",
                    "displaySymbol": "ITBEES",
                    "quantity": 45,
                    "averagePrice": 38.7,
                }
            ]
        }
    )
    positions: Any = field(
        default_factory=lambda: {
            "stat": "Ok",
            "stCode": 200,
            "data": [{"trdSym": "IDEA-EQ", "flBuyQty": "1", "flSellQty": "0"}],
        }
    )
    positions_v1: bool = True  # False: the old positions path answers 404
    send_base_url: bool = True  # False: the validate reply lacks baseUrl
    token_ttl: timedelta | None = timedelta(hours=8)  # None: tokens carry no exp claim
    echo_secrets: bool = False  # error texts quote what the client sent, as a careless API might
    login_delay: float = 0.0
    logins: int = 0  # successful MPIN validations: one per session
    requests: list[Seen] = field(default_factory=list)
    _script: dict[str, list[Scripted]] = field(default_factory=lambda: defaultdict(list))
    _views: dict[str, str] = field(default_factory=dict)
    _sessions: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Scripted) -> None:
        self._script[path].extend(replies)

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    # -- the server side

    def handle(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        with self._lock:
            self.requests.append(Seen(method, path, headers, body))
            if self._script[path]:
                reply = self._script[path].pop(0)
                if reply.expire:
                    self._sessions.clear()
                return reply
        if path == LOGIN:
            return self._login(headers, body)
        if path == VALIDATE:
            return self._validate(headers, body)
        return self._data(method, path, headers, body)

    def _token(self, kind: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "fake-user",
            "iat": now,
            "kType": kind,
            "jti": secrets.token_hex(8),
        }
        if self.token_ttl is not None:
            claims["exp"] = now + int(self.token_ttl.total_seconds())
        return ".".join((_b64({"alg": "RS256", "typ": "JWT"}), _b64(claims), "c2lnbmF0dXJl"))

    def _login_headers(self, headers: dict[str, str]) -> Scripted | None:
        if headers.get("neo-fin-key") != "neotradeapi":
            return Scripted(400, _error("10512", "Required header not found."))
        if headers.get("authorization") != SECRETS["KOTAK_CONSUMER_KEY"]:
            said = f": {headers.get('authorization')}" if self.echo_secrets else ""
            return Scripted(401, _error("401", f"Invalid access token{said}"))
        return None

    def _login(self, headers: dict[str, str], body: str) -> Scripted:
        refused = self._login_headers(headers)
        if refused:
            return refused
        data = json.loads(body or "{}")
        for name in ("mobileNumber", "ucc", "totp"):
            if not data.get(name):
                return Scripted(400, _error("400", f"Missing required field '{name}'"))
        if data["mobileNumber"] != MOBILE or data["ucc"] != SECRETS["KOTAK_UCC"]:
            said = f" ({data['ucc']}, {data['mobileNumber']})" if self.echo_secrets else ""
            return Scripted(200, _error("10004", f"Invalid ucc or mobile number{said}"))
        if not pyotp.TOTP(SECRETS["KOTAK_TOTP_SECRET"]).verify(data["totp"], valid_window=1):
            return Scripted(400, _error("10522", "Invalid TOTP"))
        time.sleep(self.login_delay)
        view, sid = self._token("View"), secrets.token_hex(6)
        with self._lock:
            self._views[view] = sid
        return Scripted(
            200,
            {
                "data": {
                    "token": view,
                    "sid": sid,
                    "rid": "r1",
                    "ucc": data["ucc"],
                    "greetingName": "TEST",
                    "dataCenter": "E43",
                    "kType": "View",
                    "status": "success",
                }
            },
        )

    def _validate(self, headers: dict[str, str], body: str) -> Scripted:
        refused = self._login_headers(headers)
        if refused:
            return refused
        view, sid = headers.get("auth", ""), headers.get("sid", "")
        if not sid or self._views.get(view) != sid:
            return Scripted(400, _error("10512", "Required header not found."))
        mpin = json.loads(body or "{}").get("mpin")
        if not mpin:
            return Scripted(400, _error("400", "Missing required field 'Mpin'"))
        if mpin != SECRETS["KOTAK_MPIN"]:
            said = f" {mpin}" if self.echo_secrets else ""
            return Scripted(401, _error("10401", f"Invalid MPIN{said}"))
        token, sid = self._token("Trade"), secrets.token_hex(6)
        with self._lock:
            self._sessions = {token: sid}  # one session per account
            self.logins += 1
        data = {
            "token": token,
            "sid": sid,
            "baseUrl": self.url,
            "rid": "r2",
            "ucc": SECRETS["KOTAK_UCC"],
            "dataCenter": "E43",
            "kType": "Trade",
            "status": "success",
        }
        if not self.send_base_url:
            del data["baseUrl"]
        return Scripted(200, {"data": data})

    def _data(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        if self._sessions.get(headers.get("auth", "")) != headers.get("sid") or not headers.get(
            "sid"
        ):
            return Scripted(
                403,
                {
                    "stat": "Not_Ok",
                    "stCode": 1003,
                    "errMsg": "Invalid session, please re-login to continue",
                },
            )
        routes = {
            ("GET", ORDERS): lambda: self.orders,
            ("GET", TRADES): lambda: self.trades,
            ("GET", HOLDINGS): lambda: self.holdings,
            ("GET", POSITIONS_V2): lambda: self.positions,
            ("POST", HISTORY): lambda: self._history(body),
        }
        if (method, path) == ("GET", POSITIONS) and self.positions_v1:
            return Scripted(200, self.positions)
        if (method, path) not in routes:
            return Scripted(404, "<html><body>404 Not Found</body></html>")
        return Scripted(200, routes[(method, path)]())

    def _history(self, body: str) -> Any:
        order_id = json.loads(parse_qs(body)["jData"][0])["nOrdNo"]
        found = self.histories.get(order_id, NO_DATA)
        return history_reply(*found) if isinstance(found, (list, tuple)) else found


def write(out: Any, payload: bytes, drip: float) -> None:
    """The body at once, or (drip > 0) one byte every `drip` seconds: a slow-drip server."""
    if not drip:
        out.write(payload)
        return
    for byte in payload:
        out.write(bytes([byte]))
        out.flush()
        time.sleep(drip)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.fake.handle(self.command, urlsplit(self.path).path, headers, body)
        time.sleep(reply.delay)
        if reply.hold is not None:
            reply.hold.wait(30)
        text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        kind = "application/json" if not isinstance(reply.body, str) else "text/html"
        payload = text.encode() if reply.body is not None else b""
        headers, pieces = (
            huge(reply.size, reply.gzip)
            if reply.size
            else ({"Content-Length": str(len(payload))}, [payload])
        )
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", kind)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for piece in pieces:
                write(self.wfile, piece, reply.drip)
        except OSError:
            pass  # the client gave up waiting (the timeout scenario)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    fake: FakeKotak

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


F = TypeVar("F")


def serve(
    monkeypatch: pytest.MonkeyPatch,
    fake: F,
    broker: str,
    client: ModuleType,
    env_secrets: dict[str, str],
    url_setting: str,
    url: Callable[[F], str] = lambda fake: fake.url,  # type: ignore[attr-defined]
    clear: str | None = None,
) -> Iterator[F]:
    """Every broker fake's start-up: `fake` answered on a loopback port by the shared handler,
    and ordertrack configured to use it: ORDERTRACK_BROKER, the fake's address in
    `url_setting`, the broker's secrets (after removing every variable starting with `clear`),
    the client's test retry policy. Yields the fake; stops the server when the test ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake  # type: ignore[assignment]
    fake.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    if clear:
        for name in list(os.environ):
            if name.startswith(clear):
                monkeypatch.delenv(name)
    monkeypatch.setenv("ORDERTRACK_BROKER", broker)
    monkeypatch.setenv(url_setting, url(fake))
    for name, value in env_secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(client, "POLICY", TEST_POLICY)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKotak]:
    """A running fake Kotak Neo, with ordertrack configured to log in to it."""
    yield from serve(
        monkeypatch, FakeKotak(), "kotak", kotak_client, SECRETS, "ORDERTRACK_KOTAK_LOGIN_URL"
    )


def ist(text: str) -> datetime:
    """'2026-11-24 10:00' on the trader's clock, as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=IST).astimezone(UTC)
