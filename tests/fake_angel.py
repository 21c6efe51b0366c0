"""A fake Angel One SmartAPI on 127.0.0.1, serving the documented replies
(tests/fixtures/angel/SOURCE.md).

It checks what the real one checks, as the official SDK (smartapi-python) sends it: the
X-PrivateKey / X-UserType / X-SourceID headers, `Authorization: Bearer <jwtToken>` on secure
routes, the client code, PIN and TOTP of a login, the refresh token of generateTokens. It
records every request and serves scripted faults per path:
`angel.script(ORDERS, Scripted(403, RATE_LIMIT), Scripted(200, ...))`.
"""

import copy
import json
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest

from ordertrack.broker.angel import client as angel_client
from tests.fake_kotak import HTML_502, Scripted, Seen, _b64, serve

FIXTURES = Path(__file__).parent / "fixtures" / "angel"
LOGIN = "/rest/auth/angelbroking/user/v1/loginByPassword"
TOKENS = "/rest/auth/angelbroking/jwt/v1/generateTokens"
PROFILE = "/rest/secure/angelbroking/user/v1/getProfile"
ORDERS = "/rest/secure/angelbroking/order/v1/getOrderBook"
DETAILS = "/rest/secure/angelbroking/order/v1/details/"
TRADES = "/rest/secure/angelbroking/order/v1/getTradeBook"
HOLDINGS = "/rest/secure/angelbroking/portfolio/v1/getHolding"
POSITIONS = "/rest/secure/angelbroking/order/v1/getPosition"
SECRETS = {
    "ANGEL_API_KEY": "angelKEYx7Q2",
    "ANGEL_CLIENT_CODE": "D88311",
    "ANGEL_PIN": "4729",
    "ANGEL_TOTP_SECRET": "JBSWY3DPEHPK3PXPANGELSECRETQ",
}
RATE_LIMIT = (FIXTURES / "rate-limit-403.txt").read_text()
HTML_5XX = HTML_502
GARBAGE = '{"status": true, "data": [ {"orderid": '


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def error_body(name: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of one documented error fixture."""
    sample = fixture(name)
    return sample["http"], sample["body"]


def ok(data: Any) -> dict[str, Any]:
    return {"status": True, "message": "SUCCESS", "errorcode": "", "data": data}


def angel_row(
    order_id: str,
    status: str = "open",
    *,
    symbol: str = "INFY-EQ",
    side: str = "BUY",
    qty: int = 10,
    filled: int = 0,
    avg: float = 0.0,
    reason: str = "",
    variety: str = "NORMAL",
    updated: str = "24-Nov-2026 09:30:00",
) -> dict[str, Any]:
    """An order-book row in the documented shape (quantities as strings)."""
    row = copy.deepcopy(fixture("order-book.json")["data"][0])
    row.update(
        {
            "orderid": order_id,
            "status": status,
            "orderstatus": status,
            "tradingsymbol": symbol,
            "transactiontype": side,
            "quantity": str(qty),
            "filledshares": str(filled),
            "unfilledshares": str(qty - filled),
            "averageprice": avg,
            "text": reason,
            "variety": variety,
            "updatetime": updated,
            "exchtime": updated,
            "exchorderupdatetime": updated,
            "uniqueorderid": f"uid-{order_id}",
        }
    )
    return row


@dataclass
class FakeAngel:
    url: str = ""
    orders: Any = field(default_factory=lambda: fixture("order-book.json"))
    trades: Any = field(default_factory=lambda: fixture("trade-book.json"))
    holdings: Any = field(default_factory=lambda: fixture("holdings.json"))
    positions: Any = field(default_factory=lambda: fixture("positions.json"))
    token_ttl: int = 8 * 3600
    echo_secrets: bool = False  # error texts quote what the client sent
    logins: int = 0  # successful logins
    refreshes: int = 0  # successful generateTokens
    requests: list[Seen] = field(default_factory=list)
    _script: dict[str, list[Scripted]] = field(default_factory=lambda: defaultdict(list))
    _jwts: set[str] = field(default_factory=set)
    _refresh: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Scripted) -> None:
        self._script[path].extend(replies)

    def expire_sessions(self, refresh_too: bool = False) -> None:
        with self._lock:
            self._jwts.clear()
            if refresh_too:
                self._refresh.clear()

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def count(self, path: str) -> int:
        return sum(1 for seen in self.requests if seen.path == path)

    def handle(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        with self._lock:
            self.requests.append(Seen(method, path, headers, body))
            if self._script[path]:
                reply = self._script[path].pop(0)
                if reply.expire:
                    self._jwts.clear()
                return reply
        if (
            headers.get("x-privatekey") != SECRETS["ANGEL_API_KEY"]
            or headers.get("x-usertype") != "USER"
            or headers.get("x-sourceid") != "WEB"
        ):
            said = f" {headers.get('x-privatekey')}" if self.echo_secrets else ""
            return Scripted(
                200,
                {
                    "status": False,
                    "message": f"Invalid API Key{said}",
                    "errorcode": "AG8004",
                    "data": None,
                },
            )
        if (method, path) == ("POST", LOGIN):
            return self._login(body)
        if (method, path) == ("POST", TOKENS):
            return self._tokens(headers, body)
        return self._data(method, path, headers)

    def _jwt(self) -> str:
        now = int(time.time())
        claims = {
            "username": SECRETS["ANGEL_CLIENT_CODE"],
            "iat": now,
            "exp": now + self.token_ttl,
            "jti": secrets.token_hex(8),
        }
        return ".".join((_b64({"alg": "HS512"}), _b64(claims), "c2lnbmF0dXJl"))

    def _issue(self, keep_refresh: str | None = None) -> dict[str, Any]:
        jwt = self._jwt()
        refresh = keep_refresh or "refresh" + secrets.token_hex(12)
        with self._lock:
            self._jwts.add(jwt)
            self._refresh.add(refresh)
        return {
            "jwtToken": jwt,
            "refreshToken": refresh,
            "feedToken": "feed" + secrets.token_hex(6),
        }

    def _login(self, body: str) -> Scripted:
        try:
            form = json.loads(body)
        except ValueError:
            return Scripted(
                400,
                {
                    "status": False,
                    "message": "Invalid request",
                    "errorcode": "AB2001",
                    "data": None,
                },
            )
        if (
            form.get("clientcode") != SECRETS["ANGEL_CLIENT_CODE"]
            or form.get("password") != SECRETS["ANGEL_PIN"]
        ):
            said = f" ({form.get('password')})" if self.echo_secrets else ""
            return (
                Scripted(*error_body("error-AB1048.json"))
                if not said
                else Scripted(
                    200,
                    {
                        "status": False,
                        "message": f"Invalid Client Code or PIN{said}",
                        "errorcode": "AB1048",
                        "data": None,
                    },
                )
            )
        if not pyotp.TOTP(SECRETS["ANGEL_TOTP_SECRET"]).verify(
            str(form.get("totp")), valid_window=1
        ):
            return Scripted(*error_body("error-AB1050.json"))
        self.logins += 1
        return Scripted(200, ok({**self._issue(), "state": "live"}))

    def _tokens(self, headers: dict[str, str], body: str) -> Scripted:
        try:
            refresh = json.loads(body).get("refreshToken")
        except (ValueError, AttributeError):
            refresh = None
        if refresh not in self._refresh:
            return Scripted(*error_body("error-AB8050.json"))
        self.refreshes += 1
        return Scripted(200, ok(self._issue(keep_refresh=refresh)))

    def _data(self, method: str, path: str, headers: dict[str, str]) -> Scripted:
        scheme, _, jwt = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or jwt not in self._jwts:
            return Scripted(*error_body("error-AG8001.json"))
        if path == PROFILE:
            return Scripted(
                200,
                ok(
                    {
                        "clientcode": SECRETS["ANGEL_CLIENT_CODE"],
                        "name": "TEST",
                        "exchanges": ["NSE"],
                        "products": ["DELIVERY"],
                    }
                ),
            )
        routes = {
            ORDERS: lambda: self.orders,
            TRADES: lambda: self.trades,
            HOLDINGS: lambda: self.holdings,
            POSITIONS: lambda: self.positions,
        }
        if method == "GET" and path in routes:
            return Scripted(200, routes[path]())
        if method == "GET" and path.startswith(DETAILS):
            unique = path.removeprefix(DETAILS)
            rows = (self.orders.get("data") or []) if isinstance(self.orders, dict) else []
            found = [r for r in rows if isinstance(r, dict) and r.get("uniqueorderid") == unique]
            if not found:
                return Scripted(*error_body("error-AB1013.json"))
            return Scripted(200, ok(found[-1]))
        return Scripted(
            404, {"status": False, "message": "Route not found", "errorcode": "", "data": None}
        )


def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAngel]:
    """A running fake SmartAPI, with ordertrack configured to use it (no session stored)."""
    yield from serve(
        monkeypatch,
        FakeAngel(),
        "angel",
        angel_client,
        SECRETS,
        "ORDERTRACK_ANGEL_URL",
        clear="ANGEL_",
    )
