"""Fyers API v3 client: the access token of today's auth-code login (stored by
`ordertrack broker login`), and the report calls (order book, trade book, holdings, positions).

Like Kite, Fyers cannot log in unattended (the auth code needs a browser), so a run never
tries to: with no valid token, or when Fyers refuses it, the run stops with BrokerUnavailable
naming the login URL (exit 4). The requests are the ones the official SDK (fyers-apiv3) sends:
`Authorization: <app id>:<access token>` and `version: 3` on every data call, and
`appIdHash = sha256("<app id>:<secret>")` in the auth-code exchange. Every request goes through
ordertrack.net (the one retry policy). Error texts never hold the secret or the token.
"""

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from ordertrack.broker import daily_token, rows
from ordertrack.broker.daily_token import Failed, Token
from ordertrack.broker.fyers import format as fyers_format
from ordertrack.config import Settings
from ordertrack.core.book import Fetch, Outcome
from ordertrack.errors import BrokerUnavailable, ConfigError
from ordertrack.net import HttpFailure, Reply, RetryPolicy, send
from ordertrack.store.db import Database
from ordertrack.text import one_line
from ordertrack.timeutil import utcnow

NAME = "fyers"
AUTH, VALIDATE = "/generate-authcode", "/validate-authcode"
ORDERS, TRADES, HOLDINGS, POSITIONS = "/orders", "/tradebook", "/holdings", "/positions"
STATE = "ordertrack"
POLICY = RetryPolicy()


def app_id_hash(app_id: str, secret: str) -> str:
    """Fyers' appIdHash: sha256 of "<app id>:<secret>", the app id with its -100 suffix."""
    return hashlib.sha256(f"{app_id}:{secret}".encode()).hexdigest()


def login_url(base: str, app_id: str, redirect: str) -> str:
    """The generate-authcode URL, as the SDK's SessionModel.generate_authcode() builds it."""
    query = urlencode(
        {"client_id": app_id, "redirect_uri": redirect, "response_type": "code", "state": STATE}
    )
    return f"{base}{AUTH}?{query}"


def auth_code(text: str) -> str:
    """The auth_code from the redirect URL Fyers sent the browser to, or the bare code. A
    redirect whose `s` is not `ok` is refused: the login did not complete."""
    return daily_token.one_time_code(text, "Fyers", "auth_code", "s", "ok", _code_characters)


def _code_characters(code: str) -> bool:
    return all(c.isalnum() or c in "._-" for c in code)


def unreachable(failure: HttpFailure) -> str:
    return rows.unreachable("Fyers", failure)


class FyersClient:
    """The Broker protocol over Fyers API v3 REST. One instance serves one run."""

    name = NAME

    def __init__(
        self,
        app_id: str,
        secret: str,
        redirect: str,
        base_url: str,
        db: Database,
        policy: RetryPolicy | None = None,
        http: requests.Session | None = None,
    ):
        self._app, self._secret, self._redirect = app_id, secret, redirect
        self._base, self._db = base_url.rstrip("/"), db
        self._policy = policy or POLICY
        self._http = http or requests.Session()
        self.token: Token | None = None
        self.logged_in_now = False
        self._down: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> "FyersClient":
        app = (settings.fyers_app_id or "").strip()
        secret = (settings.fyers_secret_key or "").strip()
        redirect = (settings.fyers_redirect_url or "").strip()
        missing = [
            n
            for n, v in (
                ("FYERS_APP_ID", app),
                ("FYERS_SECRET_KEY", secret),
                ("FYERS_REDIRECT_URL", redirect),
            )
            if not v
        ]
        if missing:
            raise rows.missing_settings(settings, missing)
        if not app.replace("-", "").isalnum() or "-" not in app:
            raise ConfigError(
                "FYERS_APP_ID must be the app id as Fyers shows it, with its type"
                " suffix (such as XXXXXXXXXX-100)"
            )
        url = urlsplit(settings.fyers_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(
                "ORDERTRACK_FYERS_URL must be an http(s) URL such as https://api-t1.fyers.in/api/v3"
            )
        return cls(app, secret, redirect, settings.fyers_url, db)

    @property
    def session(self) -> Token | None:
        return self.token

    @property
    def login_url(self) -> str:
        return login_url(self._base, self._app, self._redirect)

    def hide(self, text: str) -> str:
        return daily_token.hidden(
            text, (self._secret, self.token.access_token if self.token else "")
        )

    def relogin(self, why: str) -> str:
        return (
            f"Fyers access token {why}: run 'ordertrack broker login' (it prints the login"
            " URL) and give it the URL your browser lands on"
        )

    # -- Broker protocol

    def order_book(self) -> Fetch:
        return self._fetch(ORDERS, fyers_format.order_book)

    def order_history(self, order_id: str) -> Fetch:
        """Fyers has no per-order history: the order book, trade book and eod's rules settle
        an order (docs/fyers.md#statuses-and-settlement)."""
        return Fetch(Outcome.UNSUPPORTED)

    def trades(self) -> Fetch:
        return self._fetch(TRADES, fyers_format.trades)

    def holdings(self) -> Fetch:
        return self._fetch(HOLDINGS, fyers_format.holdings)

    def trade_book(self) -> Fetch:
        """Fills for P&L (docs/pnl.md): Fyers's trade book is not parsed yet, so P&L uses the
        order book's average prices."""
        return Fetch(Outcome.UNSUPPORTED)

    def positions(self) -> Fetch:
        return self._fetch(POSITIONS, fyers_format.positions)

    # -- the daily login

    def exchange(self, redirect: str) -> Token:
        """`POST /validate-authcode` with the auth code and the appIdHash; the access token is
        stored for the day's runs. Raises BrokerUnavailable when Fyers refuses it."""
        code = auth_code(redirect)
        body = {
            "grant_type": "authorization_code",
            "appIdHash": app_id_hash(self._app, self._secret),
            "code": code,
        }
        try:
            reply = send(
                self._http,
                "POST",
                self._base + VALIDATE,
                policy=self._policy,
                retry_timeouts=False,
                json=body,
            )
        except HttpFailure as failure:
            raise BrokerUnavailable(f"Fyers login failed: {unreachable(failure)}") from None
        data = reply.json()
        access = (
            data.get("access_token") if isinstance(data, dict) and data.get("s") == "ok" else None
        )
        if not isinstance(access, str) or not access.strip():
            why = (
                one_line(self.hide(fyers_format.error_line(data)), 160)
                if data is not None
                else f"the reply is not JSON (HTTP {reply.status})"
            )
            raise BrokerUnavailable(
                f"Fyers login failed ({why}): an auth code works once and"
                " for a few minutes; check FYERS_APP_ID (with its -100"
                " suffix) and FYERS_SECRET_KEY, then log in again at"
                f" {self.login_url}"
            )
        now = utcnow()
        ends = daily_token.jwt_expiry(access.strip()) or daily_token.next_morning(now)
        stored = Token(access.strip(), "", now, ends)
        daily_token.save(self._db, NAME, stored)
        self.token, self.logged_in_now = stored, True
        return stored

    # -- calls

    def _current(self) -> Token:
        if self.token is None:
            found = daily_token.load(self._db, NAME)
            if found is None or found.expires_at <= utcnow():
                self._down = self.relogin("has expired" if found else "is missing")
                raise BrokerUnavailable(self._down)
            self.token = found
        return self.token

    def _call(self, path: str) -> Reply:
        if self._down:
            raise Failed(self._down)
        token = self._current()
        headers = {
            "Authorization": f"{self._app}:{token.access_token}",
            "Content-Type": "application/json",
            "version": "3",
        }
        try:
            reply = daily_token.get(self._http, self._base + path, self._policy, headers, "Fyers")
        except Failed as failed:
            self._down = failed.message
            raise
        if fyers_format.token_refused(reply.json()):
            why = one_line(self.hide(fyers_format.error_line(reply.json())), 120)
            self._down = self.relogin(f"was refused ({why})")
            raise BrokerUnavailable(self._down)
        return reply

    def _fetch(self, path: str, parse: Callable[[Any], Fetch]) -> Fetch:
        try:
            reply = self._call(path)
        except Failed as failed:
            return Fetch(Outcome.FAILED, error=failed.message)
        body = reply.json()
        if body is None:
            return Fetch(
                Outcome.FAILED,
                error=f"Fyers sent a reply that is not JSON (HTTP {reply.status}): try again later",
            )
        fetch = parse(body)
        if fetch.usable:
            return fetch
        return Fetch(
            Outcome.FAILED,
            error=f"Fyers answered with an error"
            f" ({one_line(self.hide(fetch.error or ''), 200)},"
            f" HTTP {reply.status})",
        )
