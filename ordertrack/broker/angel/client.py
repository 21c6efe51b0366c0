"""Angel One SmartAPI client: client code + PIN + TOTP login, the session (JWT and refresh
token) reused across runs, and the report calls (order book, one order's details, trade book,
holdings, positions).

The requests are the ones the official SDK (smartapi-python) sends: the same routes and
headers, JSON bodies. A refused session is renewed once with the refresh token
(`generateTokens`), and only if that is refused, by one full login. Angel's rate limit also
arrives as HTTP 403 "exceeding access rate": that is retried by the one retry policy in
ordertrack.net like a 429, never read as a refused session. Error texts never hold the PIN, the
TOTP secret or a token.
"""

import binascii
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import pyotp
import requests

from ordertrack.broker import rows
from ordertrack.broker.angel import format as angel_format
from ordertrack.broker.kotak.session import Session, obtain
from ordertrack.config import Settings
from ordertrack.core.book import Fetch, Outcome
from ordertrack.errors import BrokerUnavailable, ConfigError
from ordertrack.net import BOOK_REPLY, HttpFailure, Reply, RetryPolicy, send
from ordertrack.store.db import Database
from ordertrack.text import one_line
from ordertrack.timeutil import utcnow

NAME = "angel"
LOGIN = "/rest/auth/angelbroking/user/v1/loginByPassword"
TOKENS = "/rest/auth/angelbroking/jwt/v1/generateTokens"
ORDERS = "/rest/secure/angelbroking/order/v1/getOrderBook"
DETAILS = "/rest/secure/angelbroking/order/v1/details/"
TRADES = "/rest/secure/angelbroking/order/v1/getTradeBook"
HOLDINGS = "/rest/secure/angelbroking/portfolio/v1/getHolding"
POSITIONS = "/rest/secure/angelbroking/order/v1/getPosition"
RATE_WORDS = "exceeding access rate"

POLICY = RetryPolicy()
LOGIN_SECONDS = 25.0  # a TOTP code lives 30 s
TOTP_STEP = 30

_ENV = (
    ("ANGEL_API_KEY", "angel_api_key"),
    ("ANGEL_CLIENT_CODE", "angel_client_code"),
    ("ANGEL_PIN", "angel_pin"),
    ("ANGEL_TOTP_SECRET", "angel_totp_secret"),
)


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    client_code: str = field(repr=False)
    pin: str = field(repr=False)
    totp_secret: str = field(repr=False)

    def hide(self, text: str) -> str:
        """Cut our own credentials out of a text Angel sent (it may echo them)."""
        for value in (self.api_key, self.pin, self.totp_secret):
            if len(value) >= 4:
                text = re.sub(re.escape(value), "<hidden>", text, flags=re.IGNORECASE)
        return text


def credentials(settings: Settings) -> Credentials:
    """The ANGEL_* settings, or ConfigError naming what is missing (never echoing a value)."""
    values = {attr: (getattr(settings, attr) or "").strip() for _, attr in _ENV}
    missing = [name for name, attr in _ENV if not values[attr]]
    if missing:
        raise rows.missing_settings(settings, missing)
    if not (values["angel_api_key"].isascii() and values["angel_api_key"].isprintable()):
        raise ConfigError(
            "ANGEL_API_KEY must be printable ASCII (it is sent in an HTTP"
            " header): copy it again from the SmartAPI dashboard"
        )
    secret = values["angel_totp_secret"].replace(" ", "").upper()
    try:
        pyotp.TOTP(secret).now()
    except (binascii.Error, ValueError):
        raise ConfigError(
            "ANGEL_TOTP_SECRET is not a usable TOTP secret: use the Base32 text"
            " shown under 'Enable TOTP' at smartapi.angelbroking.com"
        ) from None
    return Credentials(
        values["angel_api_key"], values["angel_client_code"], values["angel_pin"], secret
    )


def rate_limited(reply: Reply) -> bool:
    """Angel's other "too many requests": HTTP 403 whose text says "exceeding access rate"."""
    return reply.status == 403 and RATE_WORDS in reply.text[:2000].lower()


def refused(reply: Reply) -> bool:
    """The session is gone (expired, invalid or missing token): renew, then log in."""
    if rate_limited(reply):
        return False
    body = reply.json()
    code = angel_format.error_code(body)
    if code in angel_format.REFUSED_SESSION:
        return True
    words = str(body.get("message", "") if isinstance(body, dict) else "").lower()
    return reply.status in (401, 403) and ("token" in words or not isinstance(body, dict))


# ---- messages --------------------------------------------------------------------------------


def unreachable(failure: HttpFailure) -> str:
    return rows.unreachable("Angel One", failure, "SmartAPI")


def overloaded(reply: Reply) -> str:
    if reply.status == 429 or rate_limited(reply):
        return (
            f"Angel One is limiting requests (HTTP {reply.status}, exceeding access rate):"
            " wait a few minutes; if it keeps happening, run ordertrack less often"
        )
    return f"Angel One is unavailable (HTTP {reply.status}): try again later"


def login_problem(reply: Reply, hide: Callable[[str], str]) -> tuple[str, bool]:
    """Why the login failed, naming the setting to check; True when it was the TOTP (worth
    one more try with the next code: the clock may sit at a 30 s boundary)."""
    if reply.transient or rate_limited(reply):
        return f"Angel One login failed: {overloaded(reply)}", False
    body = reply.json()
    if body is None:
        return (
            f"Angel One login failed: the reply is not JSON (HTTP {reply.status}): try again later"
        ), False
    error = one_line(hide(angel_format.error_line(body)), 160)
    code, words = angel_format.error_code(body), error.lower()
    if code in angel_format.WRONG_TOTP or "totp" in words:
        return (
            f"Angel One login failed: the TOTP was refused ({error}): check that"
            " ANGEL_TOTP_SECRET is the secret shown under 'Enable TOTP' and that this"
            " machine's clock is right (NTP)"
        ), True
    if code in angel_format.WRONG_PIN or "pin" in words or "password" in words:
        return (
            f"Angel One login failed: the PIN was refused ({error}): check ANGEL_PIN"
            " (the 4-digit login PIN); ordertrack does not retry a PIN, so the account"
            " is not locked by repeated tries"
        ), False
    if "api key" in words or "apikey" in words or "privatekey" in words:
        return (
            f"Angel One login failed: the API key was refused ({error}): copy it again"
            " into ANGEL_API_KEY from the SmartAPI dashboard"
        ), False
    return (
        f"Angel One login failed ({error}): check ANGEL_CLIENT_CODE, ANGEL_PIN and ANGEL_API_KEY"
    ), False


def interpret(reply: Reply, parse: Callable[[Any], Fetch], hide: Callable[[str], str]) -> Fetch:
    body = reply.json()
    if body is None:
        return Fetch(
            Outcome.FAILED,
            error=f"Angel One sent a reply that is not JSON (HTTP {reply.status}): try again later",
        )
    fetch = parse(body)
    if fetch.usable or not isinstance(body, dict) or "message" not in body:
        return (
            fetch
            if fetch.usable
            else Fetch(Outcome.FAILED, error=hide(fetch.error or "unexpected reply"))
        )
    return Fetch(
        Outcome.FAILED,
        error=f"Angel One answered with an error"
        f" ({one_line(hide(angel_format.error_line(body)), 200)},"
        f" HTTP {reply.status})",
    )


# ---- the client ------------------------------------------------------------------------------


class _Failed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AngelClient:
    """The Broker protocol over SmartAPI REST. One instance serves one run."""

    name = NAME

    def __init__(
        self,
        creds: Credentials,
        base_url: str,
        db: Database,
        policy: RetryPolicy | None = None,
        http: requests.Session | None = None,
    ):
        self._creds, self._base, self._db = creds, base_url.rstrip("/"), db
        self._policy = policy or POLICY
        self._login_policy = replace(
            self._policy, total_seconds=min(self._policy.total_seconds, LOGIN_SECONDS)
        )
        self._http = http or requests.Session()
        self.session: Session | None = None
        self.logged_in_now = False
        self.login_attempts = 0
        self._renewed = False
        self._down: str | None = None
        self._unique: dict[str, str] = {}  # orderid → uniqueorderid, from the order book

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> "AngelClient":
        url = urlsplit(settings.angel_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(
                "ORDERTRACK_ANGEL_URL must be an http(s) URL such as https://apiconnect.angelone.in"
            )
        return cls(credentials(settings), settings.angel_url, db)

    def hide(self, text: str) -> str:
        text = self._creds.hide(text)
        if self.session is not None:
            for value in (self.session.token, self.session.sid):
                if len(value) >= 4:
                    text = text.replace(value, "<hidden>")
        return text

    # -- Broker protocol

    def order_book(self) -> Fetch:
        def parse(body: Any) -> Fetch:
            self._unique.update(angel_format.unique_ids(body))
            return angel_format.order_book(body)

        return self._fetch("GET", ORDERS, parse)

    def order_history(self, order_id: str) -> Fetch:
        """The details endpoint wants the uniqueorderid, which only the order book gives: an
        order the book has not shown this run cannot be asked about (UNSUPPORTED)."""
        if not self._unique and self._down is None:
            self.order_book()
        unique = self._unique.get(order_id)
        if unique is None or not unique.replace("-", "").isalnum():
            return Fetch(Outcome.UNSUPPORTED)
        return self._fetch(
            "GET", DETAILS + unique, lambda body: angel_format.order_history(body, order_id)
        )

    def trades(self) -> Fetch:
        return self._fetch("GET", TRADES, angel_format.trades)

    def holdings(self) -> Fetch:
        return self._fetch("GET", HOLDINGS, angel_format.holdings)

    def trade_book(self) -> Fetch:
        """Fills for P&L (docs/pnl.md): Angel One's trade book is not parsed yet, so P&L uses the
        order book's average prices."""
        return Fetch(Outcome.UNSUPPORTED)

    def positions(self) -> Fetch:
        return self._fetch("GET", POSITIONS, angel_format.positions)

    # -- login and renewal

    def _headers(self, token: str | None = None) -> dict[str, str]:
        """The SDK's headers: it sends these fixed addresses, not the machine's."""
        headers = {
            "Content-type": "application/json",
            "Accept": "application/json",
            "X-ClientLocalIP": "127.0.0.1",
            "X-ClientPublicIP": "106.193.147.98",
            "X-MACAddress": "00:00:00:00:00:00",
            "X-PrivateKey": self._creds.api_key,
            "X-UserType": "USER",
            "X-SourceID": "WEB",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _post(self, path: str, body: dict[str, str], token: str | None = None) -> Reply:
        try:
            return send(
                self._http,
                "POST",
                self._base + path,
                policy=self._login_policy,
                busy=rate_limited,
                headers=self._headers(token),
                json=body,
            )
        except HttpFailure as failure:
            raise BrokerUnavailable(f"Angel One login failed: {unreachable(failure)}") from None

    def _login(self) -> Session:
        """At most two attempts: the second only when the TOTP was refused, with the next
        30-second code. A refused PIN is never retried."""
        for attempt in (1, 2):
            self.login_attempts += 1
            reply = self._post(
                LOGIN,
                {
                    "clientcode": self._creds.client_code,
                    "password": self._creds.pin,
                    "totp": pyotp.TOTP(self._creds.totp_secret).now(),
                },
            )
            session = self._session(reply)
            if session is not None:
                return session
            problem, totp = login_problem(reply, self._creds.hide)
            if not totp or attempt == 2:
                raise BrokerUnavailable(problem)
            self._policy.sleep(TOTP_STEP - time.time() % TOTP_STEP + 1)
        raise AssertionError("unreachable")

    def _session(self, reply: Reply) -> Session | None:
        body = reply.json()
        data = body.get("data") if angel_format.succeeded(body) and isinstance(body, dict) else None
        if reply.status >= 300 or not isinstance(data, dict):
            return None
        jwt, refresh = data.get("jwtToken"), data.get("refreshToken")
        if not (isinstance(jwt, str) and jwt.strip() and isinstance(refresh, str)):
            return None
        return Session.create(jwt.strip().removeprefix("Bearer "), refresh.strip(), "", utcnow())

    def _refresh(self, stale: Session) -> Session | None:
        """`generateTokens` with the stored refresh token: a new JWT, or None when refused."""
        if not stale.sid:
            return None
        reply = self._post(TOKENS, {"refreshToken": stale.sid}, token=stale.token)
        fresh = self._session(reply)
        if fresh is not None and not fresh.sid:
            fresh = replace(fresh, sid=stale.sid)
        return fresh

    def _current(self) -> Session:
        if self.session is None:
            self.session, self.logged_in_now = obtain(self._db, NAME, self._login)
        return self.session

    def _renew(self, stale: Session) -> Session:
        from ordertrack.broker.kotak.session import save

        fresh = self._refresh(stale)
        if fresh is not None:
            save(self._db, NAME, fresh)
            self.session = fresh
            return fresh
        self.session, now = obtain(self._db, NAME, self._login, stale_token=stale.token)
        self.logged_in_now = self.logged_in_now or now
        return self.session

    # -- calls

    def _send(self, method: str, path: str, session: Session) -> Reply:
        try:
            reply = send(
                self._http,
                method,
                self._base + path,
                policy=self._policy,
                limit=BOOK_REPLY,
                busy=rate_limited,
                headers=self._headers(session.token),
            )
        except HttpFailure as failure:
            self._down = unreachable(failure)
            raise _Failed(self._down) from None
        if reply.transient or rate_limited(reply):  # still limited after the retries
            self._down = overloaded(reply)
            raise _Failed(self._down)
        return reply

    def _call(self, method: str, path: str) -> Reply:
        if self._down:
            raise _Failed(self._down)
        session = self._current()
        reply = self._send(method, path, session)
        if not self._renewed and refused(reply):
            self._renewed = True  # once per run: a second refusal is reported, not looped on
            reply = self._send(method, path, self._renew(session))
        if refused(reply):
            self._down = (
                f"Angel One refused the session again after renewing it"
                f" ({one_line(self.hide(angel_format.error_line(reply.json())), 120)}):"
                " check ANGEL_API_KEY and ANGEL_CLIENT_CODE; try again later"
            )
            raise BrokerUnavailable(self._down)
        return reply

    def _fetch(self, method: str, path: str, parse: Callable[[Any], Fetch]) -> Fetch:
        try:
            reply = self._call(method, path)
        except _Failed as failed:
            return Fetch(Outcome.FAILED, error=failed.message)
        return interpret(reply, parse, self.hide)
