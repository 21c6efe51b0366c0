"""Keep secrets out of every line ordertrack prints or stores."""

import os
import re
from collections.abc import Mapping

SECRET_VARS = ("TELEGRAM_BOT_TOKEN", "KOTAK_CONSUMER_KEY", "KOTAK_MPIN", "KOTAK_TOTP_SECRET",
               "KOTAK_MOBILE", "KOTAK_UCC", "ORDERTRACK_PING_URL")
# A bot token in a URL path (/bot123456:ABC.../) even when it is not the configured one.
_BOT_URL = re.compile(r"/bot\d+:[A-Za-z0-9_\-]+")


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for name in SECRET_VARS:
        value = env.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, f"<{name}>")
    return _BOT_URL.sub("/bot<TELEGRAM_BOT_TOKEN>", text)
