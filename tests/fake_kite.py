"""A fake Kite Connect v3 on 127.0.0.1, shaped by broker-apis.md §11.

It checks what the real one checks (X-Kite-Version: 3, `Authorization: token key:access_token`,
the SHA-256 checksum of the session exchange, single-use request tokens), records every request,
and serves scripted faults per path: `kite.script(ORDERS, Scripted(429), Scripted(200, ...))`.
"""

import hashlib
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest

from ordertrack.broker.kite import client as kite_client
from tests.fake_kotak import HTML_502, Scripted, Seen, serve

ORDERS, TRADES = "/orders", "/trades"
HOLDINGS, POSITIONS = "/portfolio/holdings", "/portfolio/positions"
SESSION = "/session/token"
SECRETS = {"KITE_API_KEY": "kiteapikey7q2x", "KITE_API_SECRET": "kite-SECRET-9d41b7e2c0a5"}
ACCESS_TOKEN_PREFIX = "kiteaccessSECRET"
TOKEN_EXCEPTION = {
    "status": "error",
    "message": "Incorrect `api_key` or `access_token`.",
    "error_type": "TokenException",
    "data": None,
}
HTML_5XX = HTML_502
GARBAGE = '{"status": "success", "data": [ {"order_id": '


def ok(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def kite_row(
    order_id: str,
    status: str = "OPEN",
    *,
    symbol: str = "INFY",
    side: str = "BUY",
    qty: int = 10,
    filled: int = 0,
    avg: float = 0.0,
    reason: str | None = None,
    tag: str | None = None,
    variety: str = "regular",
    placed: str = "2026-11-24 09:30:00",
    updated: str | None = None,
) -> dict[str, Any]:
    """An order row as Kite sends it."""
    return {
        "order_id": order_id,
        "exchange_order_id": None,
        "status": status,
        "status_message": reason,
        "variety": variety,
        "exchange": "NSE",
        "tradingsymbol": symbol,
        "transaction_type": side,
        "order_type": "LIMIT",
        "product": "CNC",
        "validity": "DAY",
        "quantity": qty,
        "filled_quantity": filled,
        "pending_quantity": qty - filled if status == "OPEN" else 0,
        "cancelled_quantity": qty - filled if status == "CANCELLED" else 0,
        "price": 100.0,
        "average_price": avg,
        "tag": tag,
        "order_timestamp": placed,
        "exchange_timestamp": updated,
        "exchange_update_timestamp": updated,
    }


@dataclass
class FakeKite:
    url: str = ""
    orders: Any = field(
        default_factory=lambda: ok(
            [
                kite_row("220303000308932", "COMPLETE", symbol="IDEA", qty=1, filled=1, avg=9.39),
                kite_row("220303000308933", "OPEN"),
            ]
        )
    )
    histories: dict[str, Any] = field(default_factory=dict)
    trades: Any = field(
        default_factory=lambda: ok(
            [
                {
                    "trade_id": "1",
                    "order_id": "220303000308932",
                    "exchange_order_id": "1100000059569867",
                    "tradingsymbol": "IDEA",
                    "exchange": "NSE",
                    "instrument_token": 3677697,
                    "transaction_type": "BUY",
                    "product": "CNC",
                    "quantity": 1,
                    "average_price": 9.39,
                    "fill_timestamp": "2026-11-24 09:30:05",
                    "order_timestamp": "09:30:05",
                    "exchange_timestamp": "2026-11-24 09:30:05",
                }
            ]
        )
    )
    holdings: Any = field(
        default_factory=lambda: ok(
            [{"tradingsymbol": "ITBEES", "exchange": "NSE", "quantity": 45, "t1_quantity": 0}]
        )
    )
    positions: Any = field(
        default_factory=lambda: ok(
            {
                "net": [{"tradingsymbol": "IDEA", "quantity": 1}],
                "day": [{"tradingsymbol": "IDEA", "quantity": 1}],
            }
        )
    )
    requests: list[Seen] = field(default_factory=list)
    exchanges: int = 0
    _script: dict[str, list[Scripted]] = field(default_factory=lambda: defaultdict(list))
    _request_tokens: set[str] = field(default_factory=set)
    _access: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Scripted) -> None:
        self._script[path].extend(replies)

    def request_token(self) -> str:
        """What Kite appends to the redirect URL after a browser login (single use)."""
        token = secrets.token_hex(16)
        self._request_tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def handle(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        with self._lock:
            self.requests.append(Seen(method, path, headers, body))
            if self._script[path]:
                return self._script[path].pop(0)
        if headers.get("x-kite-version") != "3":
            return Scripted(
                400,
                {
                    "status": "error",
                    "message": "Invalid API version",
                    "error_type": "InputException",
                    "data": None,
                },
            )
        if (method, path) == ("POST", SESSION):
            return self._exchange(body)
        return self._data(method, path, headers)

    def _exchange(self, body: str) -> Scripted:
        form = {k: v[0] for k, v in parse_qs(body).items()}
        key, token = form.get("api_key", ""), form.get("request_token", "")
        want = hashlib.sha256((key + token + SECRETS["KITE_API_SECRET"]).encode()).hexdigest()
        if key != SECRETS["KITE_API_KEY"] or form.get("checksum") != want:
            return Scripted(
                403,
                {
                    "status": "error",
                    "message": "Invalid `checksum`.",
                    "error_type": "TokenException",
                    "data": None,
                },
            )
        with self._lock:
            if token not in self._request_tokens:
                return Scripted(
                    403,
                    {
                        "status": "error",
                        "data": None,
                        "message": "Token is invalid or has expired.",
                        "error_type": "TokenException",
                    },
                )
            self._request_tokens.discard(token)
            access = ACCESS_TOKEN_PREFIX + secrets.token_hex(8)
            self._access.add(access)
            self.exchanges += 1
        return Scripted(
            200,
            ok(
                {
                    "user_id": "AB1234",
                    "access_token": access,
                    "public_token": "pub",
                    "login_time": "2026-11-24 08:00:00",
                }
            ),
        )

    def _data(self, method: str, path: str, headers: dict[str, str]) -> Scripted:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        key, _, access = credential.partition(":")
        if scheme != "token" or key != SECRETS["KITE_API_KEY"] or access not in self._access:
            return Scripted(403, TOKEN_EXCEPTION)
        routes = {
            ORDERS: lambda: self.orders,
            TRADES: lambda: self.trades,
            HOLDINGS: lambda: self.holdings,
            POSITIONS: lambda: self.positions,
        }
        if method == "GET" and path in routes:
            return Scripted(200, routes[path]())
        order_id = path.removeprefix(ORDERS + "/")
        if method == "GET" and path.startswith(ORDERS + "/") and "/" not in order_id:
            found = self.histories.get(order_id)
            if found is None:
                return Scripted(
                    400,
                    {
                        "status": "error",
                        "message": "Couldn't find that order.",
                        "error_type": "OrderException",
                        "data": None,
                    },
                )
            return Scripted(200, ok(list(found)) if isinstance(found, (list, tuple)) else found)
        return Scripted(
            404,
            {
                "status": "error",
                "message": "Route not found",
                "error_type": "GeneralException",
                "data": None,
            },
        )


def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKite]:
    """A running fake Kite, with ordertrack configured to use it (no token stored yet)."""
    monkeypatch.setattr(kite_client, "MIN_INTERVAL", 0.0)
    yield from serve(
        monkeypatch, FakeKite(), "kite", kite_client, SECRETS, "ORDERTRACK_KITE_URL", clear="KITE_"
    )
