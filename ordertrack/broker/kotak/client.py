"""Kotak Neo Trade API client: TOTP + MPIN login, a session reused across runs, and the
report calls (order book, order history, trade book, holdings, positions).

Every request goes through ordertrack.http (the one retry policy) and every reply through
kotak_format, exactly as the file broker's replies. A failed login raises BrokerUnavailable;
a failed data call is a Fetch(FAILED) whose error names the cause and what to do. Messages
are built from codes, HTTP statuses, host names and the broker's own error text with our
credentials cut out of it: no credential or token can reach one.
"""

import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import pyotp
import requests

from ordertrack.broker import rows
from ordertrack.broker.kotak import format as kotak_format
from ordertrack.broker.kotak.session import Session, obtain
from ordertrack.config import Settings
from ordertrack.core.book import Fetch, Outcome
from ordertrack.errors import BrokerUnavailable, ConfigError, Warn, to_stderr
from ordertrack.net import BOOK_REPLY, HttpFailure, Reply, RetryPolicy, send
from ordertrack.store.db import Database
from ordertrack.timeutil import utcnow

NEO_FIN_KEY = "neotradeapi"
LOGIN, VALIDATE = "tradeApiLogin", "tradeApiValidate"
ORDERS = "/quick/user/orders"
HISTORY = "/quick/order/history"
TRADES = "/quick/user/trades"
HOLDINGS = "/portfolio/v1/holdings"
# SDK 3.0.9 moved positions; the older path is tried first and the newer one when it fails.
POSITIONS = ("/quick/user/positions", "/portfolio/v2/positions")

IP_NOT_WHITELISTED = 100008
# 200032 "Invalid URL … baseUrl": the stored baseUrl is stale; a fresh login gives the current one.
EXPIRED_CODES = frozenset({1003, 100022, 900901, 200032})
EXPIRED_WORDS = ("invalid session", "session token", "jwt", "token expired")

POLICY = RetryPolicy()
# A TOTP code lives 30 s: login retries stop early enough for the code to still be accepted.
LOGIN_SECONDS = 25.0

_ENV = (
    ("KOTAK_CONSUMER_KEY", "kotak_consumer_key"),
    ("KOTAK_MOBILE", "kotak_mobile"),
    ("KOTAK_UCC", "kotak_ucc"),
    ("KOTAK_MPIN", "kotak_mpin"),
    ("KOTAK_TOTP_SECRET", "kotak_totp_secret"),
)
IP_FIX = (
    "Kotak Neo refused this machine's IP address (code 100008): register this server's"
    " static public IP in the Neo app (Trade API → API Dashboard)"
)


@dataclass(frozen=True)
class Credentials:
    consumer_key: str = field(repr=False)
    mobile: str = field(repr=False)
    ucc: str = field(repr=False)
    mpin: str = field(repr=False)
    totp_secret: str = field(repr=False)

    def hide(self, text: str) -> str:
        """Cut our own credentials out of a text the broker sent (it may echo them)."""
        for value in (
            self.consumer_key,
            self.mobile,
            self.mobile.removeprefix("+91"),
            self.ucc,
            self.mpin,
            self.totp_secret,
        ):
            if len(value) >= 4:
                text = re.sub(re.escape(value), "<hidden>", text, flags=re.IGNORECASE)
        return text


def mobile_number(text: str) -> str:
    """Kotak wants the country code: a bare 10-digit Indian number gets +91."""
    number = re.sub(r"[\s-]", "", text)
    if number.isdigit() and len(number) == 10:
        return "+91" + number
    if number.isdigit() and len(number) == 12 and number.startswith("91"):
        return "+" + number
    return number


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


def credentials(settings: Settings) -> Credentials:
    """The KOTAK_* settings, or ConfigError naming what is missing (never echoing a value)."""
    values = {attr: (getattr(settings, attr) or "").strip() for _, attr in _ENV}
    missing = [name for name, attr in _ENV if not values[attr]]
    if missing:
        raise rows.missing_settings(settings, missing)
    if not _header_safe(values["kotak_consumer_key"]):
        raise ConfigError(
            "KOTAK_CONSUMER_KEY must be printable ASCII (it is sent in an HTTP"
            " header): copy it again from the Kotak Neo API dashboard"
        )
    secret = values["kotak_totp_secret"].replace(" ", "").upper()
    try:
        pyotp.TOTP(secret).now()
    except (binascii.Error, ValueError):
        raise ConfigError(
            "KOTAK_TOTP_SECRET is not a usable TOTP secret: use the Base32 text"
            " (letters A-Z, digits 2-7) shown when you register TOTP for the"
            " Trade API"
        ) from None
    return Credentials(
        values["kotak_consumer_key"],
        mobile_number(values["kotak_mobile"]),
        values["kotak_ucc"],
        values["kotak_mpin"],
        secret,
    )


# ---- reading replies (pure) ------------------------------------------------------------------


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def session_expired(status: int, body: Any) -> bool:
    """The broker says the session is gone: log in again. Not for an IP refusal (100008),
    which a new login cannot cure."""
    code = kotak_format.error_code(body)
    if code == IP_NOT_WHITELISTED:
        return False
    if status in (401, 403) or code in EXPIRED_CODES:
        return True
    if not isinstance(body, dict) or isinstance(body.get("data"), list):
        return False
    text = kotak_format.error_text(body).lower()
    return any(word in text for word in EXPIRED_WORDS)


def unreachable(failure: HttpFailure) -> str:
    if failure.kind == "large":
        return f"Kotak Neo's answer is unusable: {failure}; try again later"
    if failure.kind == "budget":
        return (
            f"Kotak Neo ({failure.host}) is too slow: the run's time budget ran out;"
            " try again later"
        )
    if failure.outcome_unknown:
        return (
            f"Kotak Neo ({failure.host}) did not answer in time: it may be slow or down;"
            " try again later"
        )
    return (
        f"cannot connect to Kotak Neo ({failure.host}): check this machine's internet"
        " connection, or Kotak may be down; try again later"
    )


def overloaded(status: int) -> str:
    if status == 429:
        return (
            "Kotak Neo is limiting requests (HTTP 429, too many requests): wait a few"
            " minutes; if it keeps happening, run ordertrack less often"
        )
    return f"Kotak Neo is unavailable (HTTP {status}): try again later"


def not_json(status: int) -> str:
    return (
        f"Kotak Neo sent a reply that is not JSON (HTTP {status}): it may be having"
        " problems; try again later"
    )


def data_problem(status: int, body: Any, error: str) -> str:
    """Why a data call failed, for a reply that is JSON but not data."""
    if kotak_format.error_code(body) == IP_NOT_WHITELISTED:
        return IP_FIX
    if session_expired(status, body):
        return (
            f"Kotak Neo refused the session even after a fresh login ({error}): another"
            " program may be logged in with the same account (Kotak keeps one session);"
            " stop it or try again later"
        )
    return (
        f"Kotak Neo answered with an error ({error}, HTTP {status}): try again later;"
        " if it persists, check the account in the Neo app"
    )


def interpret(
    reply: Reply, parse: Callable[[Any], Fetch], hide: Callable[[str], str] = lambda text: text
) -> Fetch:
    """A data reply → Fetch. The body decides first (5203 is a confirmed empty whatever the
    HTTP status), then the status."""
    body = reply.json()
    if body is None:
        return Fetch(Outcome.FAILED, error=not_json(reply.status))
    fetch = parse(body)
    if fetch.usable:
        return fetch
    error = _short(hide(fetch.error or "unexpected reply"))
    return Fetch(Outcome.FAILED, error=data_problem(reply.status, body, error))


def login_data(status: int, body: Any, need: tuple[str, ...]) -> dict[str, Any] | None:
    """The `data` of a successful login step: every needed field present. Login errors can
    come with HTTP 200, so success is decided by the fields, never by the status alone."""
    data = body.get("data") if isinstance(body, dict) else None
    if status >= 300 or not isinstance(data, dict):
        return None
    if not all(isinstance(data.get(k), str) and data[k].strip() for k in need):
        return None
    if "baseUrl" in need and urlsplit(data["baseUrl"]).scheme not in ("http", "https"):
        return None
    return data


def login_problem(step: str, status: int, body: Any, hide: Callable[[str], str]) -> str:
    """Why a login step failed, naming the setting to check."""
    if status == 429 or status >= 500:
        return f"Kotak Neo login failed: {overloaded(status)}"
    if body is None:
        return f"Kotak Neo login failed: {not_json(status)}"
    if not isinstance(body, dict):
        body = {}
    if isinstance(body.get("data"), dict):  # some login errors sit inside data
        body = {**body, **body["data"]}
    if kotak_format.error_code(body) == IP_NOT_WHITELISTED:
        return f"Kotak Neo login failed: {IP_FIX}"
    error = _short(hide(kotak_format.error_text(body)))
    words = error.lower()
    if "totp" in words or re.search(r"\botp\b", words):
        return (
            f"Kotak Neo login failed: the TOTP was refused ({error}): check that"
            " KOTAK_TOTP_SECRET is the Base32 secret registered for the Trade API and"
            " that this machine's clock is right (NTP)"
        )
    if "mpin" in words or (step == VALIDATE and status in (400, 401, 403)):
        return f"Kotak Neo login failed: the MPIN was refused ({error}): check KOTAK_MPIN"
    if status in (401, 403) or any(
        w in words for w in ("consumer", "access token", "authoriz", "credential")
    ):
        return (
            f"Kotak Neo login failed: the consumer key was refused ({error}): copy the"
            " application token from the Neo app (Trade API → API Dashboard) into"
            " KOTAK_CONSUMER_KEY; resetting it there ends every session"
        )
    if error == "unexpected reply":
        return (
            f"Kotak Neo login failed: the {step} reply (HTTP {status}) lacked the token,"
            " sid or baseUrl: try again later; Kotak may have changed its login API"
        )
    return (
        f"Kotak Neo login failed ({error}): check KOTAK_MOBILE (with country code,"
        " e.g. +91…), KOTAK_UCC (the client code, not the numeric id) and"
        " KOTAK_CONSUMER_KEY"
    )


# ---- the client ------------------------------------------------------------------------------


class _Failed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KotakClient:
    """The Broker protocol over Kotak Neo REST. One instance serves one run."""

    name = "kotak"

    def __init__(
        self,
        creds: Credentials,
        login_url: str,
        db: Database,
        policy: RetryPolicy | None = None,
        http: requests.Session | None = None,
        warn: Warn = to_stderr,
    ):
        self._creds, self._login_url, self._db = creds, login_url.rstrip("/"), db
        self._warn = warn
        self._policy = policy or POLICY
        self._login_policy = replace(
            self._policy, total_seconds=min(self._policy.total_seconds, LOGIN_SECONDS)
        )
        self._http = http or requests.Session()
        self.session: Session | None = None
        self.logged_in_now = False  # False: the session was reused from an earlier run
        self._relogged = False
        self._down: str | None = None  # once Kotak is unreachable, the run stops asking
        self._down_path = False  # _down came from one path's 429/5xx, not from no connection

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, warn: Warn = to_stderr
    ) -> "KotakClient":
        url = urlsplit(settings.kotak_login_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(
                "ORDERTRACK_KOTAK_LOGIN_URL must be an http(s) URL such as"
                " https://mis.kotaksecurities.com"
            )
        return cls(credentials(settings), settings.kotak_login_url, db, warn=warn)

    # -- Broker protocol

    def order_book(self) -> Fetch:
        return self._fetch("GET", (ORDERS,), kotak_format.order_book)

    def order_history(self, order_id: str) -> Fetch:
        return self._fetch(
            "POST",
            (HISTORY,),
            lambda body: kotak_format.order_history(body, order_id),
            data={"jData": json.dumps({"nOrdNo": order_id})},
        )

    def trades(self) -> Fetch:
        return self._fetch("GET", (TRADES,), kotak_format.trades)

    def trade_book(self) -> Fetch:
        return self._fetch("GET", (TRADES,), kotak_format.trade_book)

    def holdings(self) -> Fetch:
        return self._fetch("GET", (HOLDINGS,), kotak_format.holdings)

    def positions(self) -> Fetch:
        """The older path first; on any failure of it (not only a 404) the SDK 3.0.9 one."""
        before = self._down
        first = self._fetch("GET", POSITIONS[:1], kotak_format.positions)
        if first.usable:
            return first
        if before is None and self._down_path:
            self._down = None  # that path answered 429/5xx: the other one may still work
        return self._fetch("GET", POSITIONS[1:], kotak_format.positions)

    # -- login

    def _login(self) -> Session:
        view = self._login_step(
            LOGIN,
            {},
            {
                "mobileNumber": self._creds.mobile,
                "ucc": self._creds.ucc,
                "totp": pyotp.TOTP(self._creds.totp_secret).now(),
            },
            ("token", "sid"),
        )
        trade = self._login_step(
            VALIDATE,
            {"sid": view["sid"], "Auth": view["token"]},
            {"mpin": self._creds.mpin},
            ("token", "sid"),
        )
        return Session.create(trade["token"], trade["sid"], self._base_url(trade), utcnow())

    def _base_url(self, trade: dict[str, Any]) -> str:
        """The host for every later call. Without a usable baseUrl the official SDK falls back
        to the login host; so do we, saying so once."""
        base = trade.get("baseUrl")
        if (
            isinstance(base, str)
            and urlsplit(base.strip()).scheme in ("http", "https")
            and urlsplit(base.strip()).netloc
        ):
            return base.strip()
        self._warn(
            "Kotak Neo's login reply had no usable baseUrl; using the login host "
            f"{urlsplit(self._login_url).netloc}"
        )
        return self._login_url

    def _login_step(
        self, step: str, headers: dict[str, str], body: dict[str, str], need: tuple[str, ...]
    ) -> dict[str, Any]:
        headers = {
            "Authorization": self._creds.consumer_key,
            "neo-fin-key": NEO_FIN_KEY,
            "accept": "application/json",
            **headers,
        }
        try:
            reply = send(
                self._http,
                "POST",
                f"{self._login_url}/login/1.0/{step}",
                policy=self._login_policy,
                headers=headers,
                json=body,
            )
        except HttpFailure as failure:
            raise BrokerUnavailable(f"Kotak Neo login failed: {unreachable(failure)}") from None
        data = login_data(reply.status, reply.json(), need)
        if data is None:
            raise BrokerUnavailable(
                login_problem(step, reply.status, reply.json(), self._creds.hide)
            )
        return data

    def stream_session(self, fresh: bool) -> tuple[str, str, str]:
        """(token, sid, baseUrl) for the order feed; `fresh` logs in anew (once, after the
        feed refused the stored session)."""
        session = self._renew(self._current()) if fresh else self._current()
        return session.token, session.sid, session.base_url

    def _current(self) -> Session:
        if self.session is None:
            self.session, self.logged_in_now = obtain(self._db, self.name, self._login)
        return self.session

    def _renew(self, stale: Session) -> Session:
        self.session, fresh = obtain(self._db, self.name, self._login, stale_token=stale.token)
        self.logged_in_now = self.logged_in_now or fresh
        return self.session

    # -- calls

    def _send(self, method: str, path: str, session: Session, **kwargs: Any) -> Reply:
        headers = {
            "Auth": session.token,
            "Sid": session.sid,
            "neo-fin-key": NEO_FIN_KEY,
            "accept": "application/json",
        }
        try:
            reply = send(
                self._http,
                method,
                session.base_url + path,
                policy=self._policy,
                limit=BOOK_REPLY,
                headers=headers,
                **kwargs,
            )
        except HttpFailure as failure:
            self._down, self._down_path = unreachable(failure), False
            raise _Failed(self._down) from None
        if reply.transient:  # still 429/5xx after the retries
            self._down, self._down_path = overloaded(reply.status), True
            raise _Failed(self._down)
        return reply

    def _call(self, method: str, path: str, **kwargs: Any) -> Reply:
        if self._down:
            raise _Failed(self._down)
        session = self._current()
        reply = self._send(method, path, session, **kwargs)
        if not self._relogged and session_expired(reply.status, reply.json()):
            self._relogged = True  # once per run: a second refusal is reported, not looped on
            reply = self._send(method, path, self._renew(session), **kwargs)
        return reply

    def _fetch(
        self, method: str, paths: tuple[str, ...], parse: Callable[[Any], Fetch], **kwargs: Any
    ) -> Fetch:
        try:
            for path in paths:
                reply = self._call(method, path, **kwargs)
                if reply.status != 404:
                    break
        except _Failed as failed:
            return Fetch(Outcome.FAILED, error=failed.message)
        return interpret(reply, parse, self._creds.hide)
