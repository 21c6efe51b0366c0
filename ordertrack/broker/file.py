"""The `file` broker: broker replies saved as files, read through the same parser.

ORDERTRACK_BROKER_DIR holds orders.json, holdings.json, positions.json and optionally
history/<order_id>.json and trades.json (the trade book; without it there is none to read),
each exactly as the broker returns it, envelope included: Kotak Neo's shape by default, Kite
Connect's, Angel One SmartAPI's or Fyers API v3's with ORDERTRACK_BROKER_FORMAT=kite, angel or
fyers (trades.json is read in the Kotak and Kite shapes only).
"""

import importlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordertrack.config import BROKER_FORMATS
from ordertrack.core.book import Fetch, Outcome

if TYPE_CHECKING:  # only `listen` reads the stream: a verify loads none of it
    from ordertrack.core.listen import Push, Timing

MAX_BYTES = 64 * 1024 * 1024  # as for a broker's reply over HTTP (net.BOOK_REPLY)
TOO_LARGE = "is larger than 64 MiB"


def _capped(path: Path) -> bytes | None:
    """The file's bytes, or None when it holds more than MAX_BYTES. The read itself stops
    there: a file whose size says little (growing, or under /proc) is never read whole."""
    if path.stat().st_size > MAX_BYTES:
        return None
    with path.open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    return None if len(data) > MAX_BYTES else data


class FileBroker:
    name = "file"

    def __init__(self, folder: Path, format_: str = "kotak"):
        self.folder = folder
        if format_ not in BROKER_FORMATS:
            raise ValueError(f"unknown broker format {format_!r}")
        # each format module parses its broker's replies: ordertrack/broker/<format>/format.py
        self.format: Any = importlib.import_module(f"ordertrack.broker.{format_}.format")

    def _read(self, name: str, parse: Callable[[Any], Fetch]) -> Fetch:
        path = self.folder / name
        try:
            if path.exists() and not path.is_dir() and not path.is_file():
                return Fetch(Outcome.FAILED, error=f"{path} is not a regular file")
            text = _capped(path)
            if text is None:
                return Fetch(Outcome.FAILED, error=f"{path} {TOO_LARGE}")
            payload = json.loads(text.decode("utf-8"))
        except FileNotFoundError:
            return Fetch(Outcome.FAILED, error=f"{path} does not exist")
        except IsADirectoryError:
            return Fetch(Outcome.FAILED, error=f"{path} is a directory, not a file")
        except (OSError, UnicodeDecodeError) as exc:
            return Fetch(Outcome.FAILED, error=f"cannot read {path}: {exc}")
        except json.JSONDecodeError as exc:
            return Fetch(
                Outcome.FAILED, error=f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})"
            )
        except RecursionError:
            return Fetch(Outcome.FAILED, error=f"{path} is nested too deeply to be a broker reply")
        except ValueError as exc:  # e.g. an integer too long to convert
            return Fetch(Outcome.FAILED, error=f"{path} is not usable JSON ({exc})")
        fetch = parse(payload)
        if fetch.outcome is Outcome.FAILED:
            return Fetch(Outcome.FAILED, error=f"{path}: {fetch.error}")
        return fetch

    def order_book(self) -> Fetch:
        return self._read("orders.json", self.format.order_book)

    def order_history(self, order_id: str) -> Fetch:
        if not (self.folder / "history").is_dir():
            return Fetch(Outcome.UNSUPPORTED)
        if not (self.folder / "history" / f"{order_id}.json").exists():
            return Fetch(Outcome.EMPTY)
        return self._read(
            f"history/{order_id}.json", lambda p: self.format.order_history(p, order_id)
        )

    def holdings(self) -> Fetch:
        return self._read("holdings.json", self.format.holdings)

    def positions(self) -> Fetch:
        return self._read("positions.json", self.format.positions)

    def trade_book(self) -> Fetch:
        parse = getattr(self.format, "trade_book", None)  # Kotak's and Kite's shapes so far
        if parse is None or not (self.folder / "trades.json").exists():
            return Fetch(Outcome.UNSUPPORTED)
        return self._read("trades.json", parse)


class FileStream:
    """The file broker's stream: orders.json looked at every `file_poll` seconds. A change —
    written in place or replaced by a rename — yields one Push per row that is new or differs,
    so the demo, the tests and a newcomer see `listen` work with no account."""

    name = "file"
    watchdog: float | None = None
    renewable = False

    def __init__(self, folder: Path, format_: str, timing: "Timing"):
        self.path = folder / "orders.json"
        self.format: Any = importlib.import_module(f"ordertrack.broker.{format_}.format")
        self._poll = timing.file_poll
        self._seen: tuple[int, int, int] | None = None
        self._rows: dict[str, str] = {}

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_rows(self) -> dict[str, str] | None:
        try:
            if self.path.stat().st_size > MAX_BYTES:
                return None
            payload = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None  # half-written or broken: the next look (or verify) says more
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            return None
        rows = {}
        for row in data:
            order_id = self.format.row_order_id(row)
            if order_id:
                rows[order_id] = json.dumps(row, sort_keys=True)
        return rows

    def open(self) -> None:
        self._seen = self._signature()
        self._rows = self._read_rows() or {}

    def next(self, timeout: float) -> list["Push"] | None:
        # counted looks, not a clock: a frozen clock (an engine's tests) cannot hold us here
        for look in range(max(1, math.ceil(timeout / self._poll)) + 1):
            signature = self._signature()
            if signature != self._seen:
                self._seen = signature
                return self._changes()
            if look * self._poll < timeout:
                time.sleep(min(self._poll, timeout - look * self._poll))
        return None

    def _changes(self) -> list["Push"]:
        from ordertrack.core.listen import Push

        rows = self._read_rows()
        if rows is None:
            return []
        changed = [
            Push(order_id, json.loads(text))
            for order_id, text in rows.items()
            if self._rows.get(order_id) != text
        ]
        self._rows = rows
        return changed

    def close(self) -> None:
        self._seen = None

    def session_renewed(self) -> bool:
        return True
