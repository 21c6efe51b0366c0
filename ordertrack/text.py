"""Text crossing a boundary: into SQLite, or onto the one stderr line a user reads; and
the redaction that keeps secrets out of every line ordertrack prints or stores."""

import os
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

MAX_LINE = 400
# Line breaks in text from outside (a broker's reason): a space, so it cannot start a new line.
_BREAKS = dict.fromkeys(map(ord, "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"), " ")
# Bidirectional overrides turn the rest of a line around: shown escaped, like control characters.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def storable(text: str) -> str:
    """SQLite stores UTF-8, which cannot hold a lone surrogate (half an emoji in a broker's
    JSON, '\\ud83d'): such a character becomes U+FFFD instead of failing the transaction."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _escaped(c: str) -> str:
    if unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI:
        return c.encode("unicode_escape").decode("ascii")
    return c


def inline(text: str) -> str:
    """Text from outside (broker, Telegram, files) made safe for one line of a terminal, a log
    or a message: line breaks become spaces, other control characters (ESC, a tab) show
    escaped, so it can neither forge a line nor drive the terminal."""
    return "".join(map(_escaped, storable(text).translate(_BREAKS)))


def inline_all(value: Any) -> Any:
    """inline() on every string inside a payload (dicts and lists of them)."""
    if isinstance(value, str):
        return inline(value)
    if isinstance(value, dict):
        return {k: inline_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [inline_all(v) for v in value]
    return value


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Control characters from input (a newline, an ESC) shown escaped, so an error stays one
    line and cannot drive the terminal; long input cut short."""
    shown = "".join(
        repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cs") else c for c in storable(text)
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# ---- redaction ----------------------------------------------------------------------------

SECRET_VARS = (
    "TELEGRAM_BOT_TOKEN",
    "KOTAK_CONSUMER_KEY",
    "KOTAK_MPIN",
    "KOTAK_TOTP_SECRET",
    "KOTAK_MOBILE",
    "KOTAK_UCC",
    "ORDERTRACK_PING_URL",
    "KITE_API_SECRET",
    "ANGEL_API_KEY",
    "ANGEL_PIN",
    "ANGEL_TOTP_SECRET",
    "FYERS_SECRET_KEY",
)
_MORE_SECRET_VARS: list[str] = []  # named by the config file ([[webhook]] secret_env)


def add_secret_var(name: str) -> None:
    """Redact the value of environment variable `name` too, from now on."""
    if name not in SECRET_VARS and name not in _MORE_SECRET_VARS:
        _MORE_SECRET_VARS.append(name)


def secret_vars() -> tuple[str, ...]:
    """Every environment variable whose value is a secret (kept from command hooks too)."""
    return (*SECRET_VARS, *_MORE_SECRET_VARS)


# Patterns as text: `re` compiles each on its first use (and caches it), not at every start.
# A bot token in a URL path (/bot123456:ABC.../) even when it is not the configured one.
_BOT_URL = r"/bot\d+:[A-Za-z0-9_\-]+"
# A URL's userinfo (user:password@) and query string (?key=...) may hold credentials.
_USERINFO = r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s'\"<>]+@"
_QUERY = r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s?#'\"<>]*)\?[^\s#'\"<>)]*"


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for name in (*SECRET_VARS, *_MORE_SECRET_VARS):
        value = env.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, f"<{name}>")
    text = re.sub(_QUERY, r"\1?<redacted>", text)
    text = re.sub(_USERINFO, r"\1<redacted>@", text)
    return re.sub(_BOT_URL, "/bot<TELEGRAM_BOT_TOKEN>", text)


def url(text: str) -> str:
    """A URL as it may be shown or stored: without userinfo or query string."""
    return redact(text, env={})
