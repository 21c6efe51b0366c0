"""What every broker's order-update stream offers `listen`: the protocol, its two failures, and
the WebSocket helpers the Kite and Kotak streams share (websockets imported only here, lazily).
What a stream's frames look like stays in the broker's own module."""

from typing import Protocol

from ordertrack.core.listen import Push


class StreamDown(Exception):
    """The stream could not be opened or was lost: reconnect with backoff."""


class SessionRefused(Exception):
    """The broker refused the session (401/403, a token rejection): reconnecting with the
    same session would only loop."""


class OrderStream(Protocol):
    name: str
    watchdog: float | None  # seconds without a data frame before the stream counts as dead
    renewable: bool  # a refused session may be renewed later by the user (Kite's daily token)

    def open(self) -> None:
        """Connect (and authenticate); StreamDown or SessionRefused."""

    def next(self, timeout: float) -> list[Push] | None:
        """The pushes of the next frame ([] for a heartbeat or a frame about nothing we
        follow), None when no frame came within `timeout`; StreamDown when the line dropped."""

    def close(self) -> None: ...

    def session_renewed(self) -> bool:
        """After a refusal: whether a fresh session has appeared since (Kite's daily token,
        renewed by `broker login`), so opening again is worth it."""


MAX_FRAME = 1024 * 1024  # an order update is a few hundred bytes


def ws_connect(url: str, shown: str, ping: float | None = None) -> object:
    """Open a WebSocket (websockets' synchronous client, imported here: `listen` is the only
    command that needs it). 401/403 → SessionRefused; anything else → StreamDown. `shown` names
    the stream without its secrets. `ping`: protocol ping interval and pong deadline."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    try:
        conn = connect(
            url,
            open_timeout=10,
            close_timeout=1,
            ping_interval=ping,
            ping_timeout=ping,
            max_size=MAX_FRAME,
            compression=None,
            user_agent_header="ordertrack",
        )
        # websockets wants its connection entered as a context; its exit is our close()
        return conn.__enter__()
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise SessionRefused(f"{shown} refused the session (HTTP {status})") from None
        raise StreamDown(f"{shown} answered HTTP {status}") from None
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise StreamDown(f"cannot reach {shown}: {type(exc).__name__}") from None


def ws_recv(ws: object, timeout: float, shown: str) -> str | bytes | None:
    """The next frame, None after `timeout`, StreamDown when the line dropped."""
    from websockets.exceptions import ConnectionClosed

    try:
        return ws.recv(timeout=timeout)  # type: ignore[attr-defined,no-any-return]
    except TimeoutError:
        return None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        raise StreamDown(
            f"{shown} closed the connection" + (f" (code {code})" if code else "")
        ) from None
    except OSError as exc:
        raise StreamDown(f"{shown} dropped: {type(exc).__name__}") from None
