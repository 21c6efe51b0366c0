"""Keep secrets out of every line ordertrack prints or stores."""

import os
import re
from collections.abc import Mapping

SECRET_VARS = ("TELEGRAM_BOT_TOKEN", "KOTAK_CONSUMER_KEY", "KOTAK_MPIN", "KOTAK_TOTP_SECRET",
               "KOTAK_MOBILE", "KOTAK_UCC", "ORDERTRACK_PING_URL")
# A bot token in a URL path (/bot123456:ABC.../) even when it is not the configured one.
_BOT_URL = re.compile(r"/bot\d+:[A-Za-z0-9_\-]+")
# A URL's userinfo (user:password@) and query string (?key=...) may hold credentials.
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s'\"<>]+@")
_QUERY = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s?#'\"<>]*)\?[^\s#'\"<>)]*")


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for name in SECRET_VARS:
        value = env.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, f"<{name}>")
    text = _QUERY.sub(r"\1?<redacted>", text)
    text = _USERINFO.sub(r"\1<redacted>@", text)
    return _BOT_URL.sub("/bot<TELEGRAM_BOT_TOKEN>", text)


def url(text: str) -> str:
    """A URL as it may be shown or stored: without userinfo or query string."""
    return redact(text, env={})
