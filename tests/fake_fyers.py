"""A fake Fyers API v3 on 127.0.0.1, serving the documented replies
(tests/fixtures/fyers/SOURCE.md).

It checks what the real one checks, as the official SDK (fyers-apiv3) sends it:
`Authorization: <app id>:<access token>` and `version: 3` on data calls, and in the auth-code
exchange `appIdHash = sha256("<app id>:<secret>")` with a single-use auth code. It records
every request and serves scripted faults per path: `fyers.script(ORDERS, Scripted(429), …)`.
"""

import hashlib
import json
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ordertrack.broker.fyers import client as fyers_client
from tests.fake_kotak import HTML_502, Scripted, Seen, _b64, serve

FIXTURES = Path(__file__).parent / "fixtures" / "fyers"
PREFIX = "/api/v3"
VALIDATE = PREFIX + "/validate-authcode"
ORDERS, TRADES = PREFIX + "/orders", PREFIX + "/tradebook"
HOLDINGS, POSITIONS = PREFIX + "/holdings", PREFIX + "/positions"
SECRETS = {
    "FYERS_APP_ID": "XC4EOD67IM-100",
    "FYERS_SECRET_KEY": "fyersSECRETk3y9Q",
    "FYERS_REDIRECT_URL": "https://trade.example.com/fyers",
}
HTML_5XX = HTML_502
GARBAGE = '{"s": "ok", "orderBook": [ {"id": '


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def error_body(name: str) -> tuple[int, dict[str, Any]]:
    sample = fixture(name)
    return sample["http"], sample["body"]


def book(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"s": "ok", "code": 200, "message": "", "orderBook": list(rows)}


def fyers_row(
    order_id: str,
    status: int = 6,
    *,
    symbol: str = "NSE:INFY-EQ",
    side: int = 1,
    qty: int = 10,
    filled: int = 0,
    price: float = 0.0,
    message: str = "",
    offline: bool = False,
    placed: str = "24-Nov-2026 09:30:00",
) -> dict[str, Any]:
    """An order-book row in the documented shape (status and side are numbers)."""
    row = dict(fixture("orderbook.json")["orderBook"][0])
    row.update(
        {
            "id": order_id,
            "status": status,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "filledQty": filled,
            "remainingQuantity": qty - filled,
            "tradedPrice": price,
            "message": message,
            "offlineOrder": offline,
            "orderDateTime": placed,
            "orderNumStatus": f"{order_id}:{status}",
        }
    )
    return row


@dataclass
class FakeFyers:
    url: str = ""
    orders: Any = field(default_factory=lambda: fixture("orderbook.json"))
    trades: Any = field(default_factory=lambda: fixture("tradebook.json"))
    holdings: Any = field(default_factory=lambda: fixture("holdings.json"))
    positions: Any = field(default_factory=lambda: fixture("positions.json"))
    exchanges: int = 0
    echo_secrets: bool = False
    requests: list[Seen] = field(default_factory=list)
    _script: dict[str, list[Scripted]] = field(default_factory=lambda: defaultdict(list))
    _codes: set[str] = field(default_factory=set)
    _access: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return self.url + PREFIX

    def script(self, path: str, *replies: Scripted) -> None:
        self._script[path].extend(replies)

    def auth_code(self) -> str:
        """What Fyers appends to the redirect URL after a browser login (single use)."""
        code = _b64({"alg": "HS256"}) + "." + _b64({"n": secrets.token_hex(8)}) + ".c2ln"
        self._codes.add(code)
        return code

    def expire_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def count(self, path: str) -> int:
        return sum(1 for seen in self.requests if seen.path == path)

    def handle(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        with self._lock:
            self.requests.append(Seen(method, path, headers, body))
            if self._script[path]:
                return self._script[path].pop(0)
        if (method, path) == ("POST", VALIDATE):
            return self._exchange(body)
        return self._data(method, path, headers)

    def _exchange(self, body: str) -> Scripted:
        try:
            form = json.loads(body)
        except ValueError:
            form = {}
        want = hashlib.sha256(
            f"{SECRETS['FYERS_APP_ID']}:{SECRETS['FYERS_SECRET_KEY']}".encode()
        ).hexdigest()
        if form.get("grant_type") != "authorization_code" or form.get("appIdHash") != want:
            return Scripted(*error_body("error-invalid-app-hash.json"))
        with self._lock:
            if form.get("code") not in self._codes:
                return Scripted(400, {"s": "error", "code": -413, "message": "Invalid auth code"})
            self._codes.discard(form["code"])
            now = int(time.time())
            access = ".".join(
                (
                    _b64({"typ": "JWT"}),
                    _b64({"iat": now, "exp": now + 8 * 3600, "jti": secrets.token_hex(6)}),
                    "c2ln",
                )
            )
            self._access.add(access)
            self.exchanges += 1
        reply = fixture("validate-authcode.json")
        return Scripted(200, {**reply, "access_token": access})

    def _data(self, method: str, path: str, headers: dict[str, str]) -> Scripted:
        app, _, access = headers.get("authorization", "").partition(":")
        if app != SECRETS["FYERS_APP_ID"] or access not in self._access:
            return Scripted(*error_body("error--16.json"))
        if headers.get("version") != "3":
            return Scripted(400, {"s": "error", "code": -50, "message": "Invalid version"})
        routes = {
            ORDERS: lambda: self.orders,
            TRADES: lambda: self.trades,
            HOLDINGS: lambda: self.holdings,
            POSITIONS: lambda: self.positions,
        }
        if method == "GET" and path in routes:
            return Scripted(200, routes[path]())
        return Scripted(404, {"s": "error", "code": 404, "message": "Not found"})


def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFyers]:
    """A running fake Fyers, with ordertrack configured to use it (no token stored yet)."""
    yield from serve(
        monkeypatch,
        FakeFyers(),
        "fyers",
        fyers_client,
        SECRETS,
        "ORDERTRACK_FYERS_URL",
        url=lambda fake: fake.base,
        clear="FYERS_",
    )
