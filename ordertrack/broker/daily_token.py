"""The daily access token of a broker whose login needs a browser once a day (Kite, Fyers): the
mechanics both share, none of their vocabulary. `ordertrack broker login` reads the URL the
browser lands on and stores the token in the sessions table; the day's runs load it, and a run
never logs in by itself.

Each broker package names its own query keys, its own words and its own expiry rule; this module
holds only the token, where it is kept, when it ends (a JWT's own `exp`, as Kotak's and Fyers's
are, or the next morning), how the login's one-time code is read out of a redirect URL, and
the GET of a report under it."""

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from ordertrack.broker import rows
from ordertrack.errors import UsageError
from ordertrack.net import BOOK_REPLY, HttpFailure, Reply, RetryPolicy, send
from ordertrack.store import sessions
from ordertrack.store.db import Database
from ordertrack.text import one_line
from ordertrack.timeutil import UTC, from_db, to_db, to_ist

if TYPE_CHECKING:
    import requests

MAX_REDIRECT = 8 * 1024  # a redirect URL is a few hundred characters; stdin is read no further
# A daily token ends around 06:00 IST the next day (regulatory).
ENDS_AT_IST = 6


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    user_id: str
    created_at: datetime
    expires_at: datetime


def next_morning(now: datetime) -> datetime:
    """The next 06:00 IST after `now`: when a token made at `now` ends."""
    local = to_ist(now)
    ends = local.replace(hour=ENDS_AT_IST, minute=0, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(UTC)


def load(db: Database, broker: str) -> Token | None:
    """The stored token of `broker`; None when there is none or it cannot be read (the user
    logs in again)."""
    row = sessions.load(db, broker)
    if row is None:
        return None
    try:
        expires = from_db(row["expires_at"])
        if expires is None:
            return None
        return Token(row["token"], row["sid"], datetime.fromisoformat(row["created_at"]), expires)
    except (TypeError, ValueError):
        return None


def save(db: Database, broker: str, token: Token) -> None:
    sessions.save(
        db,
        broker,
        {
            "token": token.access_token,
            "sid": token.user_id,
            "base_url": "",
            "expires_at": to_db(token.expires_at),
            "trading_day": to_ist(token.created_at).date().isoformat(),
            "created_at": to_db(token.created_at),
        },
    )


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying the signature (we only schedule a
    re-login with it; the server remains the judge of validity). None when absent or unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def one_time_code(
    text: str, broker: str, key: str, status_key: str, ok: str, allowed: Callable[[str], bool]
) -> str:
    """The one-time code of a login (`key` in the redirect URL `broker` sent the browser to),
    from that URL or given bare. A redirect whose `status_key` is not `ok` is refused: the
    login did not complete. UsageError says what to give instead."""
    if len(text) > MAX_REDIRECT:
        raise UsageError(
            f"the text given is longer than {MAX_REDIRECT // 1024} KiB: give the"
            f" redirect URL {broker} sent your browser to, or the bare {key}"
        )
    text = text.strip()
    if f"{key}=" in text or f"{status_key}=" in text:
        query = parse_qs(urlsplit(text).query or text.split("?", 1)[-1], keep_blank_values=True)
        status = query.get(status_key, [ok])[0]
        if status != ok:
            raise UsageError(
                f"the redirect URL says {status_key}={one_line(status, 40)}, not {ok}: the"
                f" {broker} login did not complete; log in again"
            )
        found = query.get(key)
        text = found[0].strip() if found else ""
    if not text or not allowed(text):
        raise UsageError(
            f"give the redirect URL {broker} sent your browser to (it holds"
            f" {key}=…) or the bare {key}"
        )
    return text


def hidden(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret of four characters or more cut out (a broker may echo them)."""
    for value in secrets:
        if len(value) >= 4:
            text = text.replace(value, "<hidden>")
    return text


def get(
    http: "requests.Session", url: str, policy: RetryPolicy, headers: dict[str, str], broker: str
) -> Reply:
    """GET one report under the retry policy; Failed, in `broker`'s name, when it cannot be
    reached or stays overloaded after the retries (the caller asks nothing more this run)."""
    try:
        reply = send(http, "GET", url, policy=policy, limit=BOOK_REPLY, headers=headers)
    except HttpFailure as failure:
        raise Failed(rows.unreachable(broker, failure)) from None
    if reply.transient:  # still 429/5xx after the retries
        raise Failed(rows.overloaded(broker, reply.status))
    return reply


class Failed(Exception):
    """A call that cannot be made or answered this run; its message says why (no secret)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
