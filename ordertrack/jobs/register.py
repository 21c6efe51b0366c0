"""Registering the orders an engine placed: `pending add`, `pending add --from`, the Python API.

Re-adding the same order with the same details is a no-op; conflicting details are an error, so
an engine that restarts cannot create a second copy of an order.
"""

import io
import math
import re
import sys
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ordertrack.core import symbols
from ordertrack.core.models import Event, EventKind, Order, Side, Status, local_ref
from ordertrack.errors import UsageError
from ordertrack.store import orders, tracking
from ordertrack.store.db import Database, transaction
from ordertrack.timeutil import parse_user_time

MAX_QTY = 10**9
MAX_PRICE = 10**9
MAX_IMPORT_BYTES = 50 * 1024 * 1024
_ORDER_ID = re.compile(r"[A-Za-z0-9_\-]{1,40}")  # fullmatch: "$" allows a final newline
_FIELDS = ("order_id", "symbol", "side", "qty", "price", "amo", "placed_at", "tag")
IMPORT_FIELDS = _FIELDS  # the columns of `pending add --from`, named in its help


@dataclass(frozen=True)
class NewOrder:
    order_id: str | None
    symbol: str
    side: str
    qty: int
    price: float | None
    amo: bool
    placed_at: datetime
    tag: str | None
    explicit_time: bool = False  # placed_at came from the caller, not the clock


def _qty(value: Any) -> int:
    try:
        qty = int(str(value).strip())
    except ValueError:
        raise ValueError(f"qty must be a whole number, not {value!r}") from None
    if not 0 < qty <= MAX_QTY:
        raise ValueError(f"qty must be between 1 and {MAX_QTY}, not {qty}")
    return qty


def _price(value: Any) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        price = float(str(value).strip())
    except ValueError:
        raise ValueError(f"price must be a number, not {value!r}") from None
    if not math.isfinite(price) or not 0 < price < MAX_PRICE:
        raise ValueError(f"price must be above 0 and below {MAX_PRICE}, not {value}")
    return price


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("", "0", "false", "no", "n"):
        return False
    if text in ("1", "true", "yes", "y"):
        return True
    raise ValueError(f"amo must be true or false, not {value!r}")


def validate(raw: dict[str, Any], now: datetime) -> NewOrder:
    """Check one order's fields as a file or the engine gives them; ValueError names the first
    thing wrong."""
    return new_order(
        now,
        order_id=raw.get("order_id"),
        symbol=raw.get("symbol"),
        side=raw.get("side"),
        qty=raw.get("qty"),
        price=raw.get("price"),
        amo=raw.get("amo"),
        placed_at=raw.get("placed_at"),
        tag=raw.get("tag"),
    )


def new_order(
    now: datetime,
    *,
    order_id: Any,
    symbol: Any,
    side: Any,
    qty: Any,
    price: Any = None,
    amo: Any = False,
    placed_at: Any = None,
    tag: Any = None,
) -> NewOrder:
    """One order's fields checked (each may come as text from a file), as a NewOrder;
    ValueError names the first thing wrong."""
    order_id = str(order_id).strip() if order_id not in (None, "") else None
    if order_id is not None and not _ORDER_ID.fullmatch(order_id):
        raise ValueError(f"invalid order id {order_id!r}: letters, digits, _ and - only (max 40)")
    if not symbol:
        raise ValueError("symbol is required")
    side_word = str(side or "").strip().upper()
    if side_word not in (Side.BUY.value, Side.SELL.value):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    placed = now
    if placed_at:
        placed = parse_user_time(str(placed_at))
        if placed > now + timedelta(minutes=5):
            raise ValueError(f"placed_at {placed_at} is in the future")
    tag = str(tag).strip() if tag not in (None, "") else None
    if tag is not None and (len(tag) > 64 or not tag.isprintable()):
        raise ValueError("tag must be printable and at most 64 characters")
    return NewOrder(
        order_id,
        symbols.check(str(symbol)),
        side_word,
        _qty(qty),
        _price(price),
        _bool(amo),
        placed,
        tag,
        explicit_time=bool(placed_at),
    )


def _conflicts(stored: Order, new: NewOrder) -> list[str]:
    # as stored (amo 0/1, side its word): the message names the values as they were written
    pairs: list[tuple[str, object, object]] = [
        ("symbol", stored.symbol, new.symbol),
        ("side", stored.side.value, new.side),
        ("qty", stored.qty, new.qty),
        ("amo", int(stored.amo), int(new.amo)),
        ("tag", stored.tag, new.tag),
    ]
    if new.price is not None:
        pairs.append(("price", stored.price, new.price))
    return [
        f"{name} {old!r} ≠ {value!r}"
        for name, old, value in pairs
        if old != value and not (name == "tag" and value is None)
    ]


def _existing(db: Database, new: NewOrder) -> Order | None:
    """The stored order this registration repeats, if any.

    By broker id; else an open order with the same tag (a tag names one order while it is
    open, and may be reused after); else, for an engine that restarts and registers again with
    the same explicit placement time, an open unconfirmed order with the same details. An id
    arriving for an open unconfirmed order with its tag completes that order.
    """
    if new.order_id:
        found = orders.find_order(db, new.order_id)
        if found is None and new.tag:
            found = orders.open_by_tag(db, new.tag, unconfirmed=True)
        return found if found is not None else _attachable(db, new)
    if new.tag:
        return orders.open_by_tag(db, new.tag)
    if new.explicit_time:
        return orders.unconfirmed_repeat(db, new.symbol, new.side, new.qty, new.amo, new.placed_at)
    return None


def _attachable(db: Database, new: NewOrder) -> Order | None:
    """The one open unconfirmed order this id belongs to: same symbol, side and quantity (and
    a compatible tag). Several candidates are refused: a guess could settle the wrong one."""
    found = orders.unconfirmed_candidates(db, new.symbol, new.side, new.qty, new.tag)
    if len(found) > 1:
        numbers = ", ".join(local_ref(order.id) for order in found)
        raise UsageError(
            f"order {new.order_id} could complete any of the unconfirmed orders"
            f" {numbers}: say which with --completes #N"
        )
    return found[0] if found else None


def _completes(db: Database, new: NewOrder, ref: str) -> Order:
    """The unconfirmed order named by `pending add ID --completes #N`."""
    if not new.order_id:
        raise UsageError("--completes needs the broker order id it gives to the order")
    if not (ref.startswith("#") and ref[1:].isdigit()):
        raise UsageError(f"--completes takes a local order number such as #3, not {ref!r}")
    stored = orders.find_order(db, ref)
    if stored is None:
        raise UsageError(f"order {ref} is not registered")
    if stored.order_id is not None or not stored.status.is_open:
        raise UsageError(
            f"order {ref} is not an open unconfirmed order"
            f" ({stored.order_id or stored.status.value})"
        )
    if orders.find_order(db, new.order_id) is not None:
        raise UsageError(f"order {new.order_id} is already registered")
    return stored


def add(
    db: Database, new: NewOrder, now: datetime, completes: str | None = None
) -> tuple[str, int]:
    """Register inside the caller's transaction. `completes` ('#N') names the unconfirmed
    order the id belongs to. Returns ('added' | 'unchanged' | 'resolved', local id)."""
    stored = _completes(db, new, completes) if completes else _existing(db, new)
    if stored is not None:
        problems = _conflicts(stored, new)
        if problems:
            name = new.order_id or f"tag {new.tag}"
            raise UsageError(
                f"order {name} is already registered with other details: " + "; ".join(problems)
            )
        if new.order_id and stored.order_id is None:
            orders.set_order_id(db, stored.id, new.order_id, now)
            orders.insert_event(
                db,
                stored.id,
                Event(
                    EventKind.RESOLVED,
                    f"{local_ref(stored.id)}:RESOLVED",
                    stored.status,
                    stored.filled_qty,
                    reason="broker id registered later",
                    notify=False,
                ),
                now,
                None,
            )
            return "resolved", stored.id
        return "unchanged", stored.id
    local_id = orders.insert_order(db, asdict(new), now)
    ref = new.order_id or local_ref(local_id)
    orders.insert_event(
        db,
        local_id,
        Event(EventKind.REGISTERED, f"{ref}:REGISTERED", Status.PENDING, 0, notify=False),
        now,
        None,
    )
    return "added", local_id


def register(
    db: Database, raw: dict[str, Any], now: datetime, completes: str | None = None
) -> tuple[str, int]:
    """One order as a file line or a dict gives it. Returns what `add` returns."""
    try:
        new = validate(raw, now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return register_new(db, new, now, completes)


def register_new(
    db: Database, new: NewOrder, now: datetime, completes: str | None = None
) -> tuple[str, int]:
    with transaction(db):
        return add(db, new, now, completes)


def register_order(
    db: Database,
    now: datetime,
    *,
    symbol: str | None,
    side: str | None,
    qty: int | None,
    order_id: str | None = None,
    price: float | None = None,
    amo: bool = False,
    placed_at: str | None = None,
    tag: str | None = None,
    completes: str | None = None,
) -> tuple[str, int]:
    """One order as `pending add` and the Python API take it, built as a NewOrder directly.
    Returns what `add` returns."""
    try:
        new = new_order(
            now,
            order_id=order_id,
            symbol=symbol,
            side=side,
            qty=qty,
            price=price,
            amo=amo,
            placed_at=placed_at,
            tag=tag,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return register_new(db, new, now, completes)


def checked_symbol(text: str) -> str:
    """A symbol as typed, checked and normalised (UsageError says what is wrong)."""
    try:
        return symbols.check(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def track(db: Database, symbol: str, qty: int, now: datetime) -> str:
    """Start tracking a checked symbol: 'added' or 'unchanged'; UsageError for a conflict."""
    try:
        with transaction(db):
            return tracking.begin_tracking(db, symbol, qty, now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def untrack(db: Database, symbol: str, now: datetime) -> None:
    """Stop tracking a checked symbol (its history stays); UsageError if it is not tracked."""
    with transaction(db):
        stopped = tracking.stop(db, symbol, now)
    if not stopped:
        raise UsageError(f"{symbol} is not tracked")


def withdraw(
    db: Database,
    ref: str,
    reason: str | None,
    now: datetime,
    wait_seconds: float = 0.0,
    lease: timedelta = timedelta(minutes=30),
) -> Order:
    """`pending cancel`: end a mistaken registration locally as CANCELLED, so nothing waits
    on it (reconcile stops deferring its symbol). An order with fills is real: refused.

    It holds the broker-run lock (waiting up to `wait_seconds` for a run): a verify between
    its order-book fetch and its commit would otherwise lose the fills it is about to record."""
    from ordertrack.store.locks import single_flight  # not on `pending add`'s hot path

    if reason is not None and (len(reason) > 200 or not reason.isprintable()):
        raise UsageError("--reason must be printable and at most 200 characters")
    with single_flight(db, "pending cancel", wait_seconds, lease), transaction(db):
        stored = orders.find_order(db, ref)
        if stored is None:
            raise UsageError(f"order {ref} is not registered")
        if not stored.status.is_open:
            raise UsageError(f"order {ref} is already {stored.status.value}; nothing to withdraw")
        if stored.filled_qty:
            raise UsageError(
                f"order {ref} has fills ({stored.filled_qty}/{stored.qty}):"
                " it is a real order, not a mistaken registration"
            )
        why = "withdrawn by user" + (f": {reason.strip()}" if reason and reason.strip() else "")
        orders.withdraw(db, stored.id, why, now)
        orders.insert_event(
            db,
            stored.id,
            Event(
                EventKind.WITHDRAWN,
                f"{stored.ref}:WITHDRAWN",
                Status.CANCELLED,
                0,
                reason=why,
                notify=False,
            ),
            now,
            None,
        )
        return replace(stored, status=Status.CANCELLED, reason=why)


def _read_stdin() -> str:
    """stdin as sent: its bytes where there are some (text mode would turn a lone \r into a
    line break, and line numbers must be the sender's)."""
    source = getattr(sys.stdin, "buffer", sys.stdin)
    data = source.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(f"stdin holds more than {MAX_IMPORT_BYTES // 2**20} MB")
    if isinstance(data, bytes):  # as text stdin did: a bad byte fails only the field it is in
        data = data.decode("utf-8", "surrogateescape")
    return data.removeprefix("\ufeff")


def _read_text(path: Path) -> str:
    if str(path) == "-":  # an engine's burst piped in: `pending add --from -`
        return _read_stdin()
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise UsageError(f"{path} is not a regular file")  # a device or FIFO never ends
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise UsageError(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MB")
        return path.read_bytes().decode("utf-8-sig")  # bytes: no newline translation
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _lines(text: str) -> list[str]:
    """Physical lines: split on \n (and \r\n) only. str.splitlines() also splits on U+2028,
    U+0085 and form feeds, which JSON allows raw inside a string."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    return [line.removesuffix("\r") for line in lines]


def _json_lines(text: str, name: object) -> list[tuple[int, dict[str, Any]]]:
    import json

    rows = []
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name} line {number}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise UsageError(f"{name} line {number}: nested too deeply") from None
        except ValueError as exc:  # e.g. an integer too long to convert
            raise UsageError(f"{name} line {number}: not usable JSON ({exc})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{name} line {number}: expected a JSON object")
        rows.append((number, row))
    return rows


def read_import(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a JSON-lines or CSV file (by extension; '-' is JSON lines on stdin), each with
    the physical line it ends on (blank lines counted), or UsageError naming the line."""
    text = _read_text(path)
    name = "stdin" if str(path) == "-" else path
    if path.suffix.lower() != ".csv":
        return _json_lines(text, name)
    import csv  # only a CSV import reads one

    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or ()) - set(_FIELDS)
    if not reader.fieldnames or unknown:
        raise UsageError(f"{name}: CSV header must use the columns {', '.join(_FIELDS)}")
    return [(reader.line_num, dict(row)) for row in reader]


def import_file(db: Database, path: Path, now: datetime) -> dict[str, int]:
    """All or nothing: every row is checked, then all are written in one transaction. An error
    names the row's physical line in the file."""
    rows = read_import(path)
    name = "stdin" if str(path) == "-" else path
    if not rows:
        raise UsageError(f"{name} holds no orders")
    checked = []
    for line, raw in rows:
        try:
            checked.append((line, validate(raw, now)))
        except ValueError as exc:
            raise UsageError(f"{name} line {line}: {exc}; nothing was imported") from None
    counts = {"added": 0, "unchanged": 0, "resolved": 0}
    with transaction(db):
        for line, new in checked:
            try:
                outcome, _ = add(db, new, now)
            except UsageError as exc:
                raise UsageError(
                    f"{name} line {line}: {exc.message}; nothing was imported"
                ) from None
            counts[outcome] += 1
    return counts
