"""The static-IP rule (SEBI, 1 April 2026): a broker refuses API calls from an IP address not
registered for the account. Recognised from each broker's error reply, so the trader gets one
clear alert naming the account instead of a generic login failure (docs/accounts.md).

Kotak Neo's reply is documented (stCode 100008, "unauthorized": the IP is not whitelisted).
Kite, Angel One and Fyers document no reply of their own for it in our references: for them a
failure counts as an IP refusal only when its text names an IP together with a word of
registration, so an ordinary login failure is never mistaken for one."""

import re

from ordertrack.config import Settings

_KOTAK = re.compile(r"\bcode 100008\b")  # the client's and the format's wording of stCode 100008
_IP = re.compile(r"\bIP\b|\bIP address|\bip address", re.I)
_REGISTRATION = re.compile(
    r"white-?list|not registered|unregistered|not allowed|static ip|registered ip", re.I
)
NAMES = {"kotak": "Kotak Neo", "kite": "Kite", "angel": "Angel One", "fyers": "Fyers"}


def replying_broker(settings: Settings) -> str:
    """Whose replies these are: the file broker replays another broker's."""
    return settings.broker_format if settings.broker == "file" else settings.broker


def refused(broker: str, error: str) -> bool:
    """Whether `error` is `broker`'s refusal of this server's IP address."""
    if broker == "kotak":
        return bool(_KOTAK.search(error))
    if broker in ("kite", "angel", "fyers"):
        return bool(_IP.search(error) and _REGISTRATION.search(error))
    return False


def alert(settings: Settings, error: str) -> str | None:
    """The alert for an IP refusal (None: the error is something else)."""
    broker = replying_broker(settings)
    if not refused(broker, error):
        return None
    whose = f"for account {settings.account} " if settings.account else ""
    return (
        f"this server's IP is not registered {whose}with {NAMES.get(broker, broker)}:"
        " register this server's static public IP in the broker's API settings"
        f" (the broker said: {error})"
    )
