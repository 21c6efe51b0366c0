"""Dead-man's switch: tell an outside monitor (healthchecks.io convention) that a scheduled
run started and how it ended, so a server that goes silent is noticed elsewhere.

Pinging never fails the run and never delays it by more than a few seconds. The URL's secret
part (the check's uuid path, userinfo, query) is never shown: only its host.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ordertrack import net

if TYPE_CHECKING:
    import requests

# A few seconds in all, per ping: the run matters more than the monitor.
POLICY = net.RetryPolicy(
    attempts=2,
    total_seconds=3.0,
    first_wait=0.2,
    max_wait=0.5,
    connect_timeout=1.0,
    read_timeout=1.5,
)
SCHEDULED = ("verify", "reconcile", "eod")


def public(url: str) -> str:
    """What may be shown of a ping URL: scheme and host."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def endpoint(url: str, suffix: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + (f"/{suffix}" if suffix else "")
    return parts._replace(path=path).geturl()


@dataclass
class Pinger:
    url: str = field(repr=False)
    policy: net.RetryPolicy = POLICY
    session: "requests.Session" = field(default_factory=net.session, repr=False)

    def ping(self, suffix: str = "") -> str | None:
        """Ping url/suffix; None when the monitor answered 2xx, else a one-line problem that
        names the host only."""
        try:
            reply = net.send(self.session, "GET", endpoint(self.url, suffix), policy=self.policy)
        except net.HttpFailure as exc:  # its text names the netloc, which may hold user:password
            reason = str(exc).replace(exc.host, urlsplit(self.url).hostname or "?")
            return f"ping to {public(self.url)} failed: {reason}"
        except Exception as exc:  # noqa: BLE001 - a ping must never end the run
            return f"ping to {public(self.url)} failed: {type(exc).__name__}"
        if not 200 <= reply.status < 300:
            return f"ping to {public(self.url)} failed: HTTP {reply.status}"
        return None

    def start(self) -> str | None:
        return self.ping("start")

    def finish(self, exit_code: int) -> str | None:
        """Success is the bare URL; a failure sends its exit code (healthchecks: /<code>)."""
        return self.ping("" if exit_code == 0 else str(exit_code))


_active: Pinger | None = None


def begin(url: str | None, command: str) -> str | None:
    """Ping /start for a scheduled command; remember it so the end of the run pings too."""
    global _active
    if not url or command not in SCHEDULED:
        return None
    _active = Pinger(url)
    return _active.start()


def end(exit_code: int) -> str | None:
    """Ping the outcome of the run begun with begin(), if any."""
    global _active
    pinger, _active = _active, None
    return pinger.finish(exit_code) if pinger is not None else None
