"""Kite Connect v3 client: the access token of today's browser login (stored by
`ordertrack broker login`), and the report calls (order book, order history, trades, holdings,
positions).

Kite cannot log in unattended (the login needs a browser and TOTP), so a run never tries to: with
no valid token, or when Kite answers 403 TokenException, the run stops with BrokerUnavailable
naming the login URL (the runner's one broker-down alert per outage, exit 4) and asks nothing
more. Every request goes through ordertrack.net (the one retry policy), paced to Kite's
documented 10 requests a second. Error texts never hold the secret or the access token.
"""

import hashlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from ordertrack.broker import daily_token, rows
from ordertrack.broker.daily_token import Failed, Token
from ordertrack.broker.kite import format as kite_format
from ordertrack.config import Settings
from ordertrack.core.book import Fetch, Outcome
from ordertrack.errors import BrokerUnavailable, ConfigError
from ordertrack.net import HttpFailure, Reply, RetryPolicy, monotonic, send
from ordertrack.store.db import Database
from ordertrack.timeutil import utcnow

NAME = "kite"
LOGIN_PAGE = "kite.zerodha.com/connect/login"
ORDERS, TRADES = "/orders", "/trades"
HOLDINGS, POSITIONS = "/portfolio/holdings", "/portfolio/positions"
SESSION_TOKEN = "/session/token"
TOKEN_EXCEPTION = "TokenException"
EXPIRY_MARGIN = timedelta(minutes=2)  # a token this close to its end is not used
MIN_INTERVAL = 0.1  # Kite allows 10 requests a second on these endpoints

POLICY = RetryPolicy()


def login_url(api_key: str) -> str:
    """Where the user logs in each day. Shown without a scheme: every stored or sent line has
    its URL query strings redacted, and this one must reach the user whole (the api_key is
    not a secret: Kite puts it in this public URL)."""
    return f"{LOGIN_PAGE}?" + urlencode({"v": "3", "api_key": api_key})


def request_token(text: str) -> str:
    """The request_token from the redirect URL Kite sent the browser to, or the bare token.
    A redirect whose `status` is not `success` is refused: the login did not complete."""
    return daily_token.one_time_code(
        text, "Kite", "request_token", "status", "success", str.isalnum
    )


def checksum(api_key: str, token: str, api_secret: str) -> str:
    return hashlib.sha256(f"{api_key}{token}{api_secret}".encode()).hexdigest()


# ---- stored token ------------------------------------------------------------------------------


def valid(token: Token | None, now: datetime) -> bool:
    return token is not None and token.expires_at - EXPIRY_MARGIN > now


# ---- messages --------------------------------------------------------------------------------


def relogin(api_key: str, why: str) -> str:
    return (
        f"Kite access token {why}: log in at {login_url(api_key)} then run"
        " 'ordertrack broker login' with the URL your browser lands on"
    )


def unreachable(failure: HttpFailure) -> str:
    return rows.unreachable("Kite", failure)


def interpret(
    reply: Reply, parse: Callable[[Any], Fetch], hide: Callable[[str], str] = lambda text: text
) -> Fetch:
    body = reply.json()
    if body is None:
        return Fetch(
            Outcome.FAILED,
            error=f"Kite sent a reply that is not JSON (HTTP {reply.status}): try again later",
        )
    fetch = parse(body)
    if fetch.usable:
        return fetch
    if not isinstance(body, dict) or body.get("status") != "error":
        return Fetch(Outcome.FAILED, error=hide(fetch.error or "unexpected reply"))
    return Fetch(
        Outcome.FAILED,
        error=f"Kite answered with an error"
        f" ({hide(kite_format.error_line(body))}, HTTP"
        f" {reply.status})",
    )


# ---- the client --------------------------------------------------------------------------------


class KiteClient:
    """The Broker protocol over Kite Connect REST. One instance serves one run."""

    name = NAME

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        base_url: str,
        db: Database,
        policy: RetryPolicy | None = None,
        http: requests.Session | None = None,
        min_interval: float | None = None,
    ):
        self._key, self._secret = api_key, api_secret
        self._base, self._db = base_url.rstrip("/"), db
        self._policy = policy or POLICY
        self._http = http or requests.Session()
        self._interval = MIN_INTERVAL if min_interval is None else min_interval
        self._last = -1e9
        self.token: Token | None = None
        self.logged_in_now = False  # a run never logs in; `broker login` does
        self._down: str | None = None  # once Kite is unreachable, the run stops asking

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> "KiteClient":
        key = (settings.kite_api_key or "").strip()
        secret = (settings.kite_api_secret or "").strip()
        missing = [n for n, v in (("KITE_API_KEY", key), ("KITE_API_SECRET", secret)) if not v]
        if missing:
            raise rows.missing_settings(settings, missing)
        if not key.isalnum():
            raise ConfigError(
                "KITE_API_KEY must be letters and digits: copy it again from the"
                " Kite Connect developer console"
            )
        url = urlsplit(settings.kite_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(
                "ORDERTRACK_KITE_URL must be an http(s) URL such as https://api.kite.trade"
            )
        return cls(key, secret, settings.kite_url, db)

    @property
    def api_key(self) -> str:
        return self._key

    def stored_token(self) -> str | None:
        """Today's access token as `broker login` stored it (read afresh: `listen` waits for
        the morning's new one)."""
        token = daily_token.load(self._db, NAME)
        return token.access_token if valid(token, utcnow()) and token else None

    @property
    def session(self) -> Token | None:
        """What `broker check` shows: today's token, once a call has used it."""
        return self.token

    def hide(self, text: str) -> str:
        """Cut the secret and the access token out of a text Kite sent (it may echo them)."""
        return daily_token.hidden(
            text, (self._secret, self.token.access_token if self.token else "")
        )

    @property
    def login_url(self) -> str:
        return login_url(self._key)

    # -- Broker protocol

    def order_book(self) -> Fetch:
        return self._fetch(ORDERS, kite_format.order_book)

    def order_history(self, order_id: str) -> Fetch:
        if not order_id.replace("-", "").replace("_", "").isalnum():
            return Fetch(Outcome.EMPTY)  # not an id Kite could have given; never put in a path
        return self._fetch(
            f"{ORDERS}/{order_id}", lambda body: kite_format.order_history(body, order_id)
        )

    def trades(self) -> Fetch:
        return self._fetch(TRADES, kite_format.trades)

    def trade_book(self) -> Fetch:
        return self._fetch(TRADES, kite_format.trade_book)

    def holdings(self) -> Fetch:
        return self._fetch(HOLDINGS, kite_format.holdings)

    def positions(self) -> Fetch:
        return self._fetch(POSITIONS, kite_format.positions)

    # -- the daily login

    def exchange(self, redirect: str) -> Token:
        """`POST /session/token` with the request_token and its checksum; the access token is
        stored for the day's runs. Raises BrokerUnavailable when Kite refuses it."""
        token = request_token(redirect)
        form = {
            "api_key": self._key,
            "request_token": token,
            "checksum": checksum(self._key, token, self._secret),
        }
        try:
            reply = send(
                self._http,
                "POST",
                self._base + SESSION_TOKEN,
                policy=self._policy,
                retry_timeouts=False,
                headers={"X-Kite-Version": "3"},
                data=form,
            )
        except HttpFailure as failure:
            raise BrokerUnavailable(f"Kite login failed: {unreachable(failure)}") from None
        fetch = kite_format.envelope(reply.json(), want=dict)
        data = fetch.items[0] if fetch.outcome is Outcome.OK else {}
        access, user = data.get("access_token"), data.get("user_id")
        if not isinstance(access, str) or not access.strip():
            why = self.hide(fetch.error or "the reply had no access_token")
            if reply.json() is None:
                why = f"the reply is not JSON (HTTP {reply.status})"
            raise BrokerUnavailable(
                f"Kite login failed ({why}): a request_token works once and"
                f" for a few minutes; log in again at {self.login_url}"
            )
        now = utcnow()
        stored = Token(access.strip(), str(user or ""), now, daily_token.next_morning(now))
        daily_token.save(self._db, NAME, stored)
        self.token, self.logged_in_now = stored, True
        return stored

    # -- calls

    def _current(self) -> Token:
        if self.token is None:
            found = daily_token.load(self._db, NAME)
            if not valid(found, utcnow()):
                why = "has expired" if found is not None else "is missing"
                self._down = relogin(self._key, why)
                raise BrokerUnavailable(self._down)
            self.token = found
        assert self.token is not None
        return self.token

    def _pace(self) -> None:
        wait = self._last + self._interval - monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = monotonic()

    def _call(self, path: str) -> Reply:
        if self._down:
            raise Failed(self._down)
        token = self._current()
        headers = {
            "X-Kite-Version": "3",
            "Authorization": f"token {self._key}:{token.access_token}",
        }
        self._pace()
        try:
            reply = daily_token.get(self._http, self._base + path, self._policy, headers, "Kite")
        except Failed as failed:
            self._down = failed.message
            raise
        if kite_format.error_type(reply.json()) == TOKEN_EXCEPTION:
            self._down = relogin(self._key, "was refused (403 TokenException)")
            raise BrokerUnavailable(self._down)  # no re-login attempt: it needs a browser
        return reply

    def _fetch(self, path: str, parse: Callable[[Any], Fetch]) -> Fetch:
        try:
            reply = self._call(path)
        except Failed as failed:
            return Fetch(Outcome.FAILED, error=failed.message)
        return interpret(reply, parse, self.hide)
