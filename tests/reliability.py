"""Reliability scenarios, shared by tests/test_reliability_*.py (CI size) and
scripts/reliability_report.py (larger), so the two cannot drift apart.

Both scenarios run real `python -m ordertrack` processes against one SQLite file, the fake Kotak
Neo (tests/fake_kotak.py) and the fake Telegram Bot API (tests/fake_telegram.py), both real HTTP
servers on 127.0.0.1:

- `overlap()`: 8 `verify` processes and one `eod` start at once while every order-book request
  moves the orders on (open → partly filled → complete / rejected / cancelled);
- `crash()`: `verify`, `reconcile` or `eod` is killed with SIGKILL at a random moment (the fakes
  answer slowly, so the moment falls anywhere: start-up, login, fetch, commit, sending), then run
  again normally; a few broker and Telegram faults are injected into the killed runs too. A
  `[[webhook]]` (every kind) posts to a loopback receiver (tests/webhook_receiver.py) that checks
  each signature: every feed event must reach it, a repeat only with the same Idempotency-Key.

The expected outcome comes from a model of its own (`expect_order`, `expect_reconcile`), not from
ordertrack's code. Every broken promise becomes a line in `Figures.problems`: the tests assert it
is empty, the report prints it.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ordertrack import config
from ordertrack.core.trading_calendar import Calendar, ist_date
from ordertrack.jobs import register as registry
from ordertrack.jobs.eod import closing_day
from ordertrack.notify import delivery as notify
from ordertrack.notify import messages, policy
from ordertrack.notify.telegram import Bot
from ordertrack.store import deliveries as delivery_rows
from ordertrack.store import tracking
from ordertrack.store.db import open_db, transaction
from ordertrack.timeutil import IST, from_db, utcnow
from tests.fake_kotak import (
    HOLDINGS,
    LOGIN,
    ORDERS,
    SECRETS,
    VALIDATE,
    FakeKotak,
    Scripted,
    Seen,
    _Handler,
    _Server,
)
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.helpers import book, kotak_row
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
OPEN = ("PENDING", "PARTIALLY_FILLED")
NOTIFYING = ("PARTIAL_FILL", "EXECUTED", "REJECTED", "CANCELLED", "EXPIRED")
TERMINAL = {"complete": "EXECUTED", "rejected": "REJECTED", "cancelled": "CANCELLED"}
# A broker fault: HTTP 200 with a page that is not JSON — not retried, unusable at once.
GARBAGE = "<html><body><h1>Service temporarily unavailable</h1></body></html>"
CONFIG = """\
[verify]
missing_runs = 1        # the stale order expires on its first miss (after a history lookup)

[calendar]
nse_holidays = false    # today is a session on every weekday, so eod sends its summary

[eod]
backups = 2

[notify]
timeout_seconds = {timeout}
"""
WEBHOOK = "webhook:1"  # the first [[webhook]] of the config
WEBHOOK_SECRET = "whsec-reliability-5e6f7a8b9c0d"
WEBHOOK_CONFIG = """
[[webhook]]               # every kind
url = "{url}"
secret_env = "ENGINE_WEBHOOK_SECRET"
"""


# ---- what the broker shows, and what ordertrack must make of it ------------------------------


@dataclass(frozen=True)
class Plan:
    """One order and the states the broker shows for it: one per step (overlap: per order-book
    request, from `offset` on) or per phase (crash). After the last, the last state stays."""

    order_id: str
    symbol: str
    side: str  # BUY | SELL
    qty: int
    states: tuple[tuple[str, int], ...]  # (Kotak ordSt, filled quantity)
    offset: int = 0
    age_days: int = 0  # placed this many days ago
    in_book: bool = True  # False: the broker has forgotten it (it must expire, not linger)

    def state(self, step: int) -> tuple[str, int]:
        return self.states[max(0, min(step - self.offset, len(self.states) - 1))]

    def row(self, step: int) -> dict[str, Any]:
        status, filled = self.state(step)
        reason = {"rejected": "RMS:Margin Exceeds"}.get(status, "--")
        return kotak_row(
            self.order_id,
            status,
            symbol=self.symbol,
            side=self.side[0],
            qty=self.qty,
            filled=filled,
            avg="101.50" if filled else "0.00",
            reason=reason,
        )


def order_book(plans: list[Plan], step: int) -> dict[str, Any]:
    return book(*[p.row(step) for p in plans if p.in_book])


@dataclass(frozen=True)
class Expected:
    status: str
    filled: int
    events: tuple[tuple[str, int], ...]  # (kind, filled_qty after it), in order


def expect_order(plan: Plan, seen: list[tuple[str, int]], fetched: bool = False) -> Expected:
    """The README's rules, written out independently of ordertrack's lifecycle module: status
    only moves forward, each increase of the filled quantity is one event, `complete` executes
    the whole quantity, a cancelled order keeps its fills. `seen`: the states successful
    order-book fetches showed, in order; `fetched`: at least one fetch succeeded (a forgotten
    order then expires, missing_runs = 1)."""
    status, filled, events = "PENDING", 0, [("REGISTERED", 0)]
    if not plan.in_book:
        return (
            Expected("EXPIRED", 0, (*events, ("EXPIRED", 0)))
            if fetched
            else Expected(status, filled, tuple(events))
        )
    for broker_status, broker_filled in seen:
        if status not in OPEN:
            break
        if broker_status == "complete":
            status, filled = "EXECUTED", plan.qty
            events.append(("EXECUTED", filled))
            continue
        if broker_filled > filled:
            status, filled = "PARTIALLY_FILLED", broker_filled
            events.append(("PARTIAL_FILL", filled))
        if broker_status in TERMINAL:
            status = TERMINAL[broker_status]
            events.append((status, filled))
    return Expected(status, filled, tuple(events))


def expect_tracking(
    plans: list[Plan], expected: dict[str, Expected], start: dict[str, int]
) -> dict[str, int]:
    """Tracked quantity per symbol: what it started with, plus system buys' fills, minus system
    sells' fills (the scenarios never sell more than is tracked)."""
    qty = dict(start)
    for plan in plans:
        sign = 1 if plan.side == "BUY" else -1
        qty[plan.symbol] = qty.get(plan.symbol, 0) + sign * expected[plan.order_id].filled
    return {symbol: q for symbol, q in qty.items() if q or symbol in start}


def order_id(n: int) -> str:
    return f"2611240{n:08d}"


def crash_plans(with_stale: bool) -> tuple[list[Plan], dict[str, int]]:
    """A few orders whose states change on each of three phases; SYMC starts tracked (it is
    sold). With `with_stale`, an order the broker no longer knows (it must expire)."""
    plans = [
        Plan(order_id(1), "SYMA", "BUY", 10, (("open", 0), ("open", 4), ("complete", 10))),
        Plan(order_id(2), "SYMB", "BUY", 6, (("open pending", 0), ("rejected", 0))),
        Plan(order_id(3), "SYMC", "SELL", 5, (("open", 2), ("cancelled", 2))),
        Plan(order_id(4), "SYMA", "BUY", 3, (("complete", 3),)),
        Plan(
            order_id(5), "SYMD", "BUY", 8, (("put order req received", 0), ("open", 2), ("open", 5))
        ),
    ]
    if with_stale:
        plans.append(
            Plan(order_id(6), "SYME", "BUY", 4, (("open", 0),), age_days=10, in_book=False)
        )
    return plans, {"SYMC": 20}


def overlap_plans(count: int) -> tuple[list[Plan], dict[str, int]]:
    """`count` orders, five kinds in turn, starting to move at different order-book requests."""
    paths: list[tuple[str, int, tuple[tuple[str, int], ...]]] = [
        ("BUY", 10, (("open", 0), ("open", 2), ("open", 5), ("open", 8), ("complete", 10))),
        (
            "BUY",
            6,
            (
                ("put order req received", 0),
                ("validation pending", 0),
                ("open", 0),
                ("rejected", 0),
            ),
        ),
        ("BUY", 9, (("open", 0), ("open", 3), ("trigger pending", 3), ("cancelled", 3))),
        ("SELL", 10, (("open", 0), ("open", 4), ("complete", 10))),
        ("BUY", 7, (("open", 0), ("open", 1), ("open pending", 2), ("open", 2))),  # stays open
    ]
    plans, start = [], {}
    for n in range(count):
        side, qty, states = paths[n % len(paths)]
        symbol = f"OV{n % 7}" if side == "BUY" else f"OS{n}"
        if side == "SELL":
            start[symbol] = 50
        plans.append(Plan(order_id(100 + n), symbol, side, qty, states, offset=n % 5))
    return plans, start


# reconcile: tracked at the start, then per phase what the broker shows (holdings, today's net
# position). RCC is sold out by hand in the first phase: its tracking stops.
RECONCILE_START = {"RCA": 10, "RCB": 5, "RCC": 4, "RCD": 7}
RECONCILE_PHASES: tuple[dict[str, tuple[int, int]], ...] = (
    {"RCA": (7, 0), "RCB": (5, 3), "RCC": (0, 0), "RCD": (7, 0)},
    {"RCA": (7, -2), "RCB": (8, 0), "RCD": (9, 0)},
    {"RCA": (5, 0), "RCB": (8, -2), "RCD": (9, 0)},
)


def reconcile_phase(phase: int) -> dict[str, tuple[int, int]]:
    return RECONCILE_PHASES[min(phase, len(RECONCILE_PHASES) - 1)]


def reconcile_broker(phase: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Holdings, positions and an order book with the manual orders that explain each change."""
    shown = reconcile_phase(phase)
    holdings = {
        "data": [
            {"symbol": s, "displaySymbol": s, "quantity": h, "averagePrice": 100.0}
            for s, (h, _) in shown.items()
            if h
        ]
    }
    positions = {
        "stat": "Ok",
        "stCode": 200,
        "data": [
            {"trdSym": f"{s}-EQ", "flBuyQty": str(max(n, 0)), "flSellQty": str(max(-n, 0))}
            for s, (_, n) in shown.items()
            if n
        ],
    }
    rows: list[dict[str, Any]] = []
    previous = {s: (q, 0) for s, q in RECONCILE_START.items()}
    for p in range(phase + 1):
        now = reconcile_phase(p)
        for symbol, before in previous.items():
            change = sum(now.get(symbol, (0, 0))) - sum(before)
            if change:
                rows.append(
                    kotak_row(
                        order_id(900 + 10 * p + len(rows)),
                        "complete",
                        symbol=symbol,
                        side="B" if change > 0 else "S",
                        qty=abs(change),
                        filled=abs(change),
                        avg="100.00",
                    )
                )
        previous = {s: now.get(s, (0, 0)) for s in previous}
    return holdings, positions, book(*rows)


def expect_reconcile(phases: int) -> tuple[list[tuple[str, str, int, int]], dict[str, int]]:
    """(symbol, action, tracked before, tracked after) of every adjustment, and what stays
    tracked, after `phases` phases (manual_buys = absorb)."""
    tracked, adjustments = dict(RECONCILE_START), []
    for phase in range(phases):
        shown = reconcile_phase(phase)
        for symbol in sorted(tracked):
            owned = sum(shown.get(symbol, (0, 0)))
            if owned != tracked[symbol]:
                action = "manual_sell" if owned < tracked[symbol] else "manual_buy"
                adjustments.append((symbol, action, tracked[symbol], owned))
                tracked[symbol] = owned
        tracked = {s: q for s, q in tracked.items() if q}
    return adjustments, tracked


# ---- the fakes, slowed down and faulty on demand ---------------------------------------------


class Tripwire:
    """Counts the requests both fakes receive; `fired` is set when the armed count is reached,
    so a run can be killed right after its n-th request arrived (while it is being answered,
    or a moment later)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count, self.target = 0, 0
        self.fired = threading.Event()

    def arm(self, target: int) -> None:
        with self._lock:
            self.count, self.target = 0, target
            self.fired.clear()

    def hit(self) -> None:
        with self._lock:
            self.count += 1
            if self.target and self.count >= self.target:
                self.fired.set()


@dataclass
class ScenarioKotak(FakeKotak):
    """The fake Kotak Neo, answering every request after `delay` seconds. With `book_at`, each
    order-book request gets the book of the next step (`served` records the steps, in order).
    `faults[path] = n`: the next n requests to path get an HTML page with HTTP 200 — a reply
    that is not retried and is unusable, so the run must change nothing."""

    delay: float = 0.0
    book_at: Callable[[int], Any] | None = None
    final_step: int | None = None  # serve this step from now on (the settled book)
    served: list[int] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    faults_served: int = 0
    tripwire: Tripwire | None = None
    _steps: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        if self.tripwire is not None:
            self.tripwire.hit()
        with self._steps:
            spoil = path not in (LOGIN, VALIDATE) and self.faults.get(path, 0) > 0
            if spoil:
                self.faults[path] -= 1
                self.faults_served += 1
        if spoil:
            with self._lock:
                self.requests.append(Seen(method, path, headers, body))
            return Scripted(200, GARBAGE, delay=self.delay)
        reply = super().handle(method, path, headers, body)
        return replace(reply, delay=reply.delay + self.delay)

    def _data(self, method: str, path: str, headers: dict[str, str], body: str) -> Scripted:
        reply = super()._data(method, path, headers, body)
        if self.book_at is not None and reply.status == 200 and (method, path) == ("GET", ORDERS):
            with self._steps:
                step = len(self.served) if self.final_step is None else self.final_step
                self.served.append(step)
            return Scripted(200, self.book_at(step))
        return reply


class ScenarioTelegram(FakeTelegram):
    """The fake Bot API, answering each accepted message after `delay` seconds (so a kill can
    fall between Telegram receiving a message and ordertrack recording it). `slow_next = n`:
    the next n accepted messages are answered after `fault_delay`, beyond the client's read
    timeout — the message arrived, the sender cannot know."""

    def __init__(self, delay: float = 0.0, fault_delay: float = 0.0):
        super().__init__()
        self.delay, self.fault_delay = delay, fault_delay
        self.slow_next = 0
        self.faults_served = 0
        self.tripwire: Tripwire | None = None

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, Any, float]:
        if self.tripwire is not None:
            self.tripwire.hit()
        status, payload, delay = super().handle(path, body)
        if status == 200 and path.lower().endswith("/sendmessage"):
            with self._lock:
                if self.slow_next > 0:
                    self.slow_next -= 1
                    self.faults_served += 1
                    delay += self.fault_delay
            delay += self.delay
        return status, payload, delay


@contextmanager
def fakes(
    kotak_delay: float = 0.0, telegram_delay: float = 0.0, fault_delay: float = 0.0
) -> Iterator[tuple[ScenarioKotak, ScenarioTelegram]]:
    kotak = ScenarioKotak(delay=kotak_delay)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = kotak
    kotak.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    telegram = ScenarioTelegram(telegram_delay, fault_delay)
    telegram.start()
    kotak.tripwire = telegram.tripwire = Tripwire()
    try:
        yield kotak, telegram
    finally:
        server.shutdown()
        server.server_close()
        telegram.stop()


# ---- processes -------------------------------------------------------------------------------


def environment(
    db_path: Path,
    config_path: Path,
    kotak: FakeKotak,
    telegram: FakeTelegram,
    chats: tuple[str, ...],
) -> dict[str, str]:
    """A cron-like environment: nothing of the caller's ordertrack settings, the fakes' URLs
    and the fake secrets."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ORDERTRACK_", "KOTAK_", "TELEGRAM_"))
    }
    env.update(SECRETS)
    env.update(
        ORDERTRACK_DB=str(db_path),
        ORDERTRACK_CONFIG=str(config_path),
        ORDERTRACK_BROKER="kotak",
        ORDERTRACK_KOTAK_LOGIN_URL=kotak.url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID=",".join(chats),
        TELEGRAM_API_URL=telegram.url,
        COLUMNS="200",
        ENGINE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    return env


@dataclass
class Done:
    args: tuple[str, ...]
    code: int  # -9: killed
    out: str
    err: str
    seconds: float
    pid: int

    @property
    def killed(self) -> bool:
        return self.code == -9


class Runner:
    """Starts `python -m ordertrack` processes and makes sure none outlives the scenario."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.live: set[subprocess.Popen[str]] = set()
        self.done: list[Done] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "ordertrack", *args],
            env=self.env,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        process.started = time.monotonic()  # type: ignore[attr-defined]
        self.live.add(process)
        return process

    def finish(
        self, process: subprocess.Popen[str], args: tuple[str, ...], timeout: float = 180
    ) -> Done:
        out, err = process.communicate(timeout=timeout)
        self.live.discard(process)
        done = Done(
            args, process.returncode, out, err, time.monotonic() - process.started, process.pid
        )  # type: ignore[attr-defined]
        self.done.append(done)
        return done

    def run(self, *args: str) -> Done:
        return self.finish(self.start(*args), args)

    def kill_after(self, delay: float, *args: str, after: threading.Event | None = None) -> Done:
        """Start the command and SIGKILL it `delay` seconds after it started (or after `after`
        was set), unless it ended before."""
        process = self.start(*args)
        if after is not None:
            while process.poll() is None and not after.wait(0.005):
                pass
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()  # SIGKILL
        return self.finish(process, args)

    def close(self) -> None:
        for process in list(self.live):
            process.kill()
            process.communicate()
        self.live.clear()


# ---- checks on the database ------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=False)) for r in cursor.fetchall()]


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db_path, timeout=60)
    try:
        yield conn
    finally:
        conn.close()


def consistency(db_path: Path) -> list[str]:
    """What must hold at every moment, even right after a SIGKILL: nothing half-applied.

    An order's status and filled quantity agree with its events; every fill moved the tracked
    quantity exactly once, and every tracked quantity is the sum of its recorded changes; every
    notifying event, and every reconcile adjustment, has its notification; integrity is ok."""
    problems: list[str] = []
    with connect(db_path) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            problems.append(f"integrity_check: {integrity[:3]}")
        if broken := conn.execute("PRAGMA foreign_key_check").fetchall():
            problems.append(f"foreign_key_check: {broken[:3]}")
        events: dict[int, list[dict]] = {}
        for e in _rows(conn, "SELECT * FROM events ORDER BY id"):
            events.setdefault(e["order_ref"], []).append(e)
        for order in _rows(conn, "SELECT * FROM orders"):
            problems += _order_consistency(order, events.get(order["id"], []))
        fills = {e["id"]: e for es in events.values() for e in es if e["delta_qty"]}
        changes = _rows(conn, "SELECT * FROM tracking_changes ORDER BY id")
        by_event = Counter(c["event_id"] for c in changes if c["cause"] == "FILL")
        for event_id, event in fills.items():
            if by_event[event_id] != 1:
                problems.append(
                    f"fill event {event['key']} moved the tracked quantity "
                    f"{by_event[event_id]} times"
                )
        if stray := set(by_event) - set(fills):
            problems.append(f"tracking changes for fills that are not recorded: {sorted(stray)}")
        for row in _rows(conn, "SELECT * FROM tracking"):
            mine = [c for c in changes if c["symbol"] == row["symbol"]]
            if sum(c["delta"] for c in mine) != row["tracked_qty"] or (
                mine and mine[-1]["qty_after"] != row["tracked_qty"]
            ):
                problems.append(
                    f"{row['symbol']}: tracked {row['tracked_qty']}, but its changes"
                    f" add up to {sum(c['delta'] for c in mine)}"
                )
        keys = {r[0]: r[1] for r in conn.execute("SELECT key, kind FROM outbox")}
        for es in events.values():
            for e in es:
                if e["kind"] in NOTIFYING and keys.get(e["key"]) != e["kind"]:
                    problems.append(f"event {e['key']} has no notification")
        event_keys = {e["key"] for es in events.values() for e in es}
        for key, kind in keys.items():
            if kind in NOTIFYING and key not in event_keys:
                problems.append(f"notification {key} has no event")
        problems += _reconcile_consistency(conn, changes, keys)
    return problems


def _order_consistency(order: dict, events: list[dict]) -> list[str]:
    name, problems = order["order_id"] or f"#{order['id']}", []
    kinds = Counter(e["kind"] for e in events)
    if sum(e["delta_qty"] for e in events) != order["filled_qty"]:
        problems.append(
            f"order {name}: filled {order['filled_qty']}, events add up to "
            f"{sum(e['delta_qty'] for e in events)}"
        )
    fills = [e["filled_qty"] for e in events if e["delta_qty"]]
    if fills != sorted(set(fills)) or (fills and fills[-1] != order["filled_qty"]):
        problems.append(f"order {name}: fills {fills} do not climb to {order['filled_qty']}")
    terminal = {
        k: n for k, n in kinds.items() if k in ("EXECUTED", "REJECTED", "CANCELLED", "EXPIRED")
    }
    status = order["status"]
    if status in OPEN:
        if terminal:
            problems.append(f"order {name}: {status} but has events {terminal}")
        if (status == "PARTIALLY_FILLED") != (order["filled_qty"] > 0):
            problems.append(f"order {name}: {status} with {order['filled_qty']} filled")
    elif terminal != {status: 1}:
        problems.append(f"order {name}: {status} but its final events are {terminal}")
    if kinds["REGISTERED"] != 1:
        problems.append(f"order {name}: {kinds['REGISTERED']} REGISTERED events")
    return problems


def _reconcile_consistency(
    conn: sqlite3.Connection, changes: list[dict], outbox_keys: dict[str, str]
) -> list[str]:
    problems = []
    adjustments = _rows(conn, "SELECT * FROM adjustments ORDER BY id")
    manual = {r[0] for r in conn.execute("SELECT order_id FROM manual_orders")}
    for a in adjustments:
        if outbox_keys.get(f"reconcile:{a['key']}") != "MANUAL_TRADE":
            problems.append(f"adjustment {a['key']} has no notification")
        if missing := set(json.loads(a["manual_orders"])) - manual:
            problems.append(f"adjustment {a['key']} names unrecorded manual orders {missing}")
    made = Counter(a["symbol"] for a in adjustments if a["action"] != "manual_buy_ignored")
    applied = Counter(c["symbol"] for c in changes if c["cause"].startswith("MANUAL_"))
    if made != applied:
        problems.append(f"adjustments {dict(made)} but tracking changes {dict(applied)}")
    return problems


def no_leftovers(db_path: Path) -> list[str]:
    """After a clean run: no lock or login lease left behind."""
    with connect(db_path) as conn:
        locks = conn.execute("SELECT name, command, pid FROM locks").fetchall()
    return [f"lock rows left after a clean run: {locks}"] if locks else []


def unsent(db_path: Path) -> list[str]:
    """After a clean run that exited 0: every notification went out (or failed for good),
    including those a killed sender left half-sent."""
    with connect(db_path) as conn:
        left = conn.execute(
            "SELECT o.key, d.chat_id, d.status FROM deliveries d JOIN outbox o"
            " ON o.id = d.outbox_id WHERE d.status NOT IN ('SENT', 'FAILED')"
            " UNION ALL SELECT key, '-', status FROM outbox o WHERE status ="
            " 'PENDING' AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE"
            " d.outbox_id = o.id)"
        ).fetchall()
        left += conn.execute(
            "SELECT feed_id, destination, status FROM webhook_deliveries"
            " WHERE status NOT IN ('SENT', 'FAILED')"
        ).fetchall()
    return [f"notifications held back after a clean run: {left}"] if left else []


def check_orders(
    db_path: Path, plans: list[Plan], expected: dict[str, Expected], tracked: dict[str, int]
) -> tuple[list[str], int]:
    """Every order in the state the broker last showed, with exactly the events it went
    through, and the tracked quantities they imply. Returns problems and events missing."""
    problems, lost = [], 0
    with connect(db_path) as conn:
        for plan in plans:
            want = expected[plan.order_id]
            [order] = _rows(conn, "SELECT * FROM orders WHERE order_id = ?", (plan.order_id,))
            got = tuple(
                (e["kind"], e["filled_qty"])
                for e in _rows(
                    conn,
                    "SELECT kind, filled_qty FROM events WHERE order_ref = ? AND kind !="
                    " 'UNKNOWN_STATUS' ORDER BY id",
                    (order["id"],),
                )
            )
            if (order["status"], order["filled_qty"], got) != (
                want.status,
                want.filled,
                want.events,
            ):
                problems.append(
                    f"order {plan.order_id}: {order['status']} {order['filled_qty']}"
                    f" {list(got)}, expected {want.status} {want.filled}"
                    f" {list(want.events)}"
                )
                lost += len(set(want.events) - set(got))
        shown = dict(
            conn.execute(
                "SELECT symbol, tracked_qty FROM tracking WHERE status = 'ACTIVE'"
            ).fetchall()
        )
    if shown != tracked:
        problems.append(f"tracked quantities {shown}, expected {tracked}")
    return problems, lost


def check_reconcile(db_path: Path, phases: int) -> list[str]:
    adjustments, tracked = expect_reconcile(phases)
    with connect(db_path) as conn:
        made = [
            (r[0], r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT symbol, action, tracked_before, tracked_after FROM adjustments ORDER BY id"
            )
        ]
        shown = dict(
            conn.execute(
                "SELECT symbol, tracked_qty FROM tracking WHERE status = 'ACTIVE'"
            ).fetchall()
        )
    problems = []
    if sorted(made) != sorted(adjustments):
        problems.append(f"adjustments {made}, expected {adjustments}")
    if shown != tracked:
        problems.append(f"tracked {shown}, expected {tracked}")
    return problems


# ---- checks on what Telegram received --------------------------------------------------------


@dataclass
class Tally:
    delivered: int = 0  # (notification, chat) pairs that arrived at least once
    duplicates_explained: int = 0  # second copies that carry the duplicate note, after UNKNOWN
    duplicates_unexplained: int = 0
    lost: int = 0  # (notification, chat) pairs that never arrived
    failed: int = 0  # deliveries left FAILED (two unknown outcomes): reported, not dropped
    problems: list[str] = field(default_factory=list)


def _fit(
    candidate: tuple[int, int, bool],
    chat: str,
    copies: Counter[Any],
    deliveries: dict[tuple[int, str], dict[str, Any]],
) -> tuple[int, ...]:
    """How badly a copy fits a notification that reads the same as others (lower is better):
    a first copy goes where none arrived yet; a resend marked as a possible duplicate goes where
    the delivery had an unknown outcome and no resend arrived yet."""
    row_id, index, marked = candidate
    same = copies[(row_id, chat, index, marked)]
    total = same + copies[(row_id, chat, index, not marked)]
    uncertain = (deliveries.get((row_id, chat)) or {}).get("uncertain") or 0
    return (same, 0 if not marked or uncertain else 1, total)


def tally(db_path: Path, received: list[dict[str, Any]], chats: tuple[str, ...]) -> Tally:
    """Match every message the fake Telegram received to the outbox row (and part) it renders,
    and count the copies of each (notification, chat): exactly one, or two of which the second
    says it may be a duplicate and the delivery went through an unknown outcome."""
    note = messages.escape(f"\n{messages.DUPLICATE_NOTE}")
    with connect(db_path) as conn:
        rows = _rows(
            conn,
            "SELECT id, key, kind, payload, status, created_at, digest_id FROM outbox ORDER BY id",
        )
        deliveries = {
            (d["outbox_id"], d["chat_id"]): d
            for d in _rows(conn, "SELECT outbox_id, chat_id, status, uncertain FROM deliveries")
        }
    result = Tally()
    # Two notifications may read the same (two broker outages alerted within one minute): a
    # text names every notification it could be, and each copy goes to the one with fewest.
    texts: dict[str, list[tuple[int, int, bool]]] = {}
    sendable = {r["id"]: r for r in rows if r["status"] not in ("DIGESTED", "OFF")}
    for row in rows:
        if row["status"] == "DIGESTED" and row["digest_id"] not in sendable:
            result.problems.append(f"notification {row['key']} is in a digest that is not sent")
    parts: dict[int, int] = {}
    for row in sendable.values():
        rendered = messages.message(
            row["kind"], json.loads(row["payload"]), from_db(row["created_at"])
        )
        parts[row["id"]] = len(rendered)
        for index, part in enumerate(rendered):
            for again, text in ((False, part.html), (True, part.html + note)):
                texts.setdefault(text, []).append((row["id"], index, again))
    copies: Counter[tuple[int, str, int, bool]] = Counter()
    for message in received:
        candidates = texts.get(message["raw"])
        if candidates is None:
            result.duplicates_unexplained += 1
            result.problems.append(
                f"chat {message['chat_id']} got a message no notification "
                f"explains: {message['raw'][:80]!r}"
            )
            continue
        chat = message["chat_id"]
        found = min(candidates, key=lambda c: _fit(c, chat, copies, deliveries))
        copies[(found[0], chat, found[1], found[2])] += 1
    for row_id, row in sendable.items():
        for chat in chats:
            delivery = deliveries.get((row_id, chat))
            if delivery is None:
                result.lost += 1
                result.problems.append(f"notification {row['key']}: no delivery to chat {chat}")
                continue
            result.failed += delivery["status"] == "FAILED"
            if delivery["status"] not in ("SENT", "FAILED"):
                result.problems.append(
                    f"notification {row['key']} to chat {chat} is still {delivery['status']}"
                )
            arrived = True
            for index in range(parts[row_id]):
                plain, marked = (copies[(row_id, chat, index, m)] for m in (False, True))
                n = plain + marked
                arrived &= n > 0
                if n <= 1:
                    continue
                if n == 2 and marked == 1 and delivery["uncertain"] >= 1:
                    result.duplicates_explained += 1
                else:
                    result.duplicates_unexplained += n - 1
                    result.problems.append(
                        f"notification {row['key']} reached chat {chat} {n} times ({marked} "
                        f"marked as a possible duplicate, {delivery['uncertain']} unknown "
                        "outcomes)"
                    )
            if arrived:
                result.delivered += 1
            else:
                result.lost += 1
                result.problems.append(
                    f"notification {row['key']} never reached chat {chat} "
                    f"(delivery {delivery['status']})"
                )
    return result


def webhook_tally(db_path: Path, received: list[dict[str, Any]]) -> Tally:
    """Count what the receiver got by Idempotency-Key against the feed: every feed event (the
    webhook takes every kind) received at least once, signed; a repeat is explained when it carries the
    same key and body and its delivery went through as many unknown outcomes (a kill or a
    timeout); a key for no event, a body that is not its key's event, or more repeats than
    unknown outcomes are unexplained."""
    with connect(db_path) as conn:
        ids = {str(r[0]) for r in conn.execute("SELECT id FROM feed")}
        rows = {
            str(r["feed_id"]): r
            for r in _rows(
                conn,
                "SELECT feed_id, status, uncertain FROM webhook_deliveries WHERE destination = ?",
                (WEBHOOK,),
            )
        }
    result = Tally()
    by_key: dict[str, list[dict[str, Any]]] = {}
    for got in received:
        if got["signed"]:
            by_key.setdefault(str(got["key"]), []).append(got)
        else:  # a receiver refuses it: as if it never came, and a fault of its own
            result.duplicates_unexplained += 1
            result.problems.append(f"webhook: a request for key {got['key']} with a bad signature")
    for key, copies in by_key.items():
        bodies = {c["body"] for c in copies}
        if (
            key not in ids
            or len(bodies) > 1
            or any(str(json.loads(b).get("id")) != key for b in bodies)
        ):
            result.duplicates_unexplained += len(copies) - (key in ids)
            result.problems.append(
                f"webhook: key {key} ({len(copies)} copies, {len(bodies)} "
                "bodies) is not one signed copy of its feed event"
            )
            continue
        extra = len(copies) - 1
        allowed = min(extra, int(rows[key]["uncertain"] or 0)) if key in rows else 0
        result.duplicates_explained += allowed
        if extra > allowed:
            result.duplicates_unexplained += extra - allowed
            result.problems.append(
                f"webhook: event {key} arrived {len(copies)} times after {allowed} unknown outcomes"
            )
    for key in sorted(ids, key=int):
        result.failed += rows.get(key, {}).get("status") == "FAILED"
        if key in by_key:
            result.delivered += 1
        else:
            result.lost += 1
            result.problems.append(
                f"webhook: feed event {key} never arrived (delivery "
                f"{rows.get(key, {}).get('status', 'not opened')})"
            )
    return result


def _webhook_unrecorded(db_path: Path, received: list[dict[str, Any]]) -> set[int]:
    """Webhook deliveries left SENDING whose event the receiver already has."""
    keys = {str(g["key"]) for g in received}
    with connect(db_path) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT feed_id FROM webhook_deliveries WHERE status = 'SENDING'")
            if str(r[0]) in keys
        }


def flush_later(db_path: Path, env: dict[str, str]) -> notify.Report:
    """Deliver what is left as a run after policy.LEASE (15 minutes) would — a claim whose
    sender is gone at that point counts as an unknown outcome in any case. After the clean
    re-runs nothing should be left (`unsent`): this is the last chance, before counting."""
    settings = config.load(env)
    db = open_db(db_path)
    bot = Bot(
        settings.telegram_token or "",
        settings.telegram_api_url,
        read_timeout=settings.telegram_timeout,
    )
    try:
        return notify.deliver(db, settings, utcnow() + policy.LEASE + timedelta(minutes=1), bot=bot)
    finally:
        bot.close()
        db.close()


# ---- figures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    scenario: str
    runs: int = 0
    kills: int = 0
    faults: int = 0  # broker and Telegram faults that were actually served
    telegram_faults: int = 0  # of which: messages answered after the client's read timeout
    events: int = 0  # order events (registrations excluded) and reconcile adjustments
    delivered: int = 0
    duplicates_explained: int = 0
    duplicates_unexplained: int = 0
    lost: int = 0
    failed: int = 0
    logins: int = 0
    unrecorded_sends: int = 0  # kills between Telegram receiving a message and the DB noting it
    webhook_delivered: int = 0  # feed events the webhook receiver got at least once
    webhook_duplicates_explained: int = 0  # repeats with the same key after an unknown outcome
    webhook_duplicates_unexplained: int = 0
    webhook_lost: int = 0  # feed events it never got
    webhook_unrecorded: int = 0  # kills between the receiver getting an event and the DB noting it
    exit_codes: Counter[int] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: Figures) -> None:
        for name in (
            "runs",
            "kills",
            "faults",
            "telegram_faults",
            "events",
            "delivered",
            "duplicates_explained",
            "duplicates_unexplained",
            "lost",
            "failed",
            "logins",
            "unrecorded_sends",
            "webhook_delivered",
            "webhook_duplicates_explained",
            "webhook_duplicates_unexplained",
            "webhook_lost",
            "webhook_unrecorded",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.exit_codes.update(other.exit_codes)
        self.stages.update(other.stages)
        self.problems += other.problems

    def count_tally(self, t: Tally) -> None:
        self.delivered += t.delivered
        self.duplicates_explained += t.duplicates_explained
        self.duplicates_unexplained += t.duplicates_unexplained
        self.lost += t.lost
        self.failed += t.failed
        self.problems += t.problems

    def count_webhook(self, t: Tally) -> None:
        self.webhook_delivered += t.delivered
        self.webhook_duplicates_explained += t.duplicates_explained
        self.webhook_duplicates_unexplained += t.duplicates_unexplained
        self.webhook_lost += t.lost + t.failed  # nothing makes the receiver refuse one
        self.problems += t.problems


COLUMNS = (
    ("scenario", "scenario"),
    ("runs", "runs"),
    ("kills", "kills"),
    ("faults", "faults injected"),
    ("events", "events"),
    ("delivered", "notifications delivered"),
    ("duplicates", "duplicates (expl/unexpl)"),
    ("lost", "lost"),
    ("webhook", "webhook events delivered"),
    ("webhook_duplicates", "webhook duplicates (expl/unexpl)"),
    ("webhook_lost", "webhook lost"),
)


def table(rows: list[Figures]) -> str:
    """The figures as a Markdown table."""

    def cells(f: Figures) -> list[str]:
        return [
            f.scenario,
            str(f.runs),
            str(f.kills),
            str(f.faults),
            str(f.events),
            str(f.delivered),
            f"{f.duplicates_explained}/{f.duplicates_unexplained}",
            str(f.lost),
            str(f.webhook_delivered),
            f"{f.webhook_duplicates_explained}/{f.webhook_duplicates_unexplained}",
            str(f.webhook_lost),
        ]

    body = [[title for _, title in COLUMNS], *(cells(f) for f in rows)]
    widths = [max(len(r[i]) for r in body) for i in range(len(COLUMNS))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |" for r in body
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ---- setting a database up -------------------------------------------------------------------


def prepare(db_path: Path, plans: list[Plan], start: dict[str, int]) -> None:
    """Register the orders and the tracked symbols, in-process (the engine's side)."""
    now = utcnow()
    db = open_db(db_path)
    try:
        for plan in plans:
            placed = (now - timedelta(days=plan.age_days)).astimezone(IST).isoformat()
            registry.register(
                db,
                dict(
                    order_id=plan.order_id,
                    symbol=plan.symbol,
                    side=plan.side.lower(),
                    qty=plan.qty,
                    placed_at=placed,
                ),
                now,
            )
        with transaction(db):
            for symbol, qty in start.items():
                tracking.begin_tracking(db, symbol, qty, now)
    finally:
        db.close()


def write_config(folder: Path, timeout: float, webhook_url: str | None = None) -> Path:
    path = folder / "ordertrack.toml"
    path.write_text(
        CONFIG.format(timeout=timeout)
        + (WEBHOOK_CONFIG.format(url=webhook_url) if webhook_url else "")
    )
    return path


def open_webhook(db_path: Path) -> None:
    """The webhook was configured before anything was recorded (not added later, which starts
    it at the feed's end): it must hear every event, the registrations too."""
    db = open_db(db_path)
    try:
        with transaction(db):
            delivery_rows.open_webhook(db, WEBHOOK, (), utcnow())
    finally:
        db.close()


def _closing_now() -> date:
    """The trading day an eod run now closes (no holidays in these scenarios)."""
    return closing_day(utcnow(), Calendar(frozenset()))


def _check_runs(done: list[Done], allowed: set[int], figures: Figures, what: str) -> None:
    for run in done:
        figures.exit_codes[run.code] += 1
        if run.code not in allowed:
            figures.problems.append(
                f"{what} {' '.join(run.args)} exited {run.code}: {run.err.strip()[:300]}"
            )
        if "locked" in run.err.lower() or "Traceback" in run.err:
            figures.problems.append(f"{what} {' '.join(run.args)} said: {run.err.strip()[:300]}")


def _count_events(db_path: Path) -> int:
    with connect(db_path) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM events WHERE kind NOT IN ('REGISTERED', 'RESOLVED'))"
            " + (SELECT count(*) FROM adjustments)"
        ).fetchone()[0]


def _summaries(db_path: Path) -> list[str]:
    with connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT key FROM outbox WHERE kind = 'DAILY_SUMMARY'")]


# ---- scenario 1: overlapping runs ------------------------------------------------------------


def overlap(
    workdir: Path,
    *,
    orders: int = 12,
    verifies: int = 8,
    chats: tuple[str, ...] = ("1001", "1002"),
    delay: float = 0.05,
) -> Figures:
    """`verifies` verify processes and one eod at once, against one database, while each
    order-book request moves the orders on; then one clean verify and an outbox flush.

    Every run fetches the book inside the single-flight lock and commits before the next may
    fetch, so each book served is one ordertrack must have recorded: the expected events follow
    from the sequence of steps served (`ScenarioKotak.served`)."""
    started = time.monotonic()
    figures = Figures("overlap")
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "ordertrack.db"
    plans, start = overlap_plans(orders)
    prepare(db_path, plans, start)
    day_before, closing_before = ist_date(utcnow()), _closing_now()
    with fakes(kotak_delay=delay, telegram_delay=delay) as (kotak, telegram):
        kotak.book_at = lambda step: order_book(plans, step)
        env = environment(db_path, write_config(workdir, 10.0), kotak, telegram, chats)
        runner = Runner(env)
        try:
            commands = [("verify",)] * verifies
            commands.insert(len(commands) // 2, ("eod",))
            processes = [(runner.start(*c), c) for c in commands]
            together = [runner.finish(p, c) for p, c in processes]
            kotak.final_step = 10**6  # the broker settles: the last state of every order
            final = [runner.run("verify"), runner.run("outbox", "flush")]
        finally:
            runner.close()
        received = list(telegram.messages)
        figures.logins = kotak.logins
        served = list(kotak.served)
    figures.runs = len(runner.done)
    _check_runs(together, {0, 5, 6}, figures, "overlapping")
    _check_runs(final, {0}, figures, "final")
    figures.problems += consistency(db_path) + no_leftovers(db_path) + unsent(db_path)
    expected = {
        p.order_id: expect_order(p, [p.state(s) for s in served], bool(served)) for p in plans
    }
    problems, lost = check_orders(db_path, plans, expected, expect_tracking(plans, expected, start))
    figures.problems += problems
    figures.lost += lost
    if len(served) != len(commands) + 1:
        figures.problems.append(
            f"{len(served)} order-book requests for {len(commands) + 1} "
            "verifying runs: one each was expected"
        )
    days = {day_before, ist_date(utcnow())}
    if figures.logins != 1 and not (figures.logins == 2 and len(days) == 2):
        figures.problems.append(f"{figures.logins} Kotak logins for {figures.runs} runs")
    summaries = _summaries(db_path)
    want = {f"summary:{d}:final" for d in (closing_before, _closing_now())}
    if len(summaries) != 1 or summaries[0] not in want:
        figures.problems.append(f"daily summaries {summaries}, expected one of {sorted(want)}")
    figures.events = _count_events(db_path)
    t = tally(db_path, received, chats)
    figures.count_tally(t)
    if t.duplicates_explained:  # nothing timed out and nothing was killed: exactly once
        figures.problems.append(f"{t.duplicates_explained} duplicate messages without any fault")
        figures.duplicates_unexplained += t.duplicates_explained
        figures.duplicates_explained = 0
    figures.seconds = time.monotonic() - started
    return figures


# ---- scenario 2: SIGKILL at random moments ---------------------------------------------------


@dataclass(frozen=True)
class CrashSettings:
    trials: int = 8  # per command
    phases: int = 3  # broker states per trial: each one a killed run, then a clean run
    workers: int = 3
    kotak_delay: float = 0.03
    telegram_delay: float = 0.03
    telegram_timeout: float = 2.0  # [notify] timeout_seconds; a Telegram fault waits longer
    broker_faults: float = 0.1  # chance that the killed run's first data request is spoiled
    telegram_faults: float = 0.1  # chance that its first message is answered too late
    chats: tuple[str, ...] = ("1001",)
    seed: int = 7


COMMANDS = ("verify", "reconcile", "eod")
_FAULT_PATH = {"verify": ORDERS, "eod": ORDERS, "reconcile": HOLDINGS}


@dataclass
class _Trial:
    command: str
    index: int
    workdir: Path
    settings: CrashSettings
    figures: Figures = field(default_factory=lambda: Figures("trial"))


def _broker_state(kotak: ScenarioKotak, command: str, plans: list[Plan], phase: int) -> None:
    if command == "reconcile":
        kotak.holdings, kotak.positions, kotak.orders = reconcile_broker(phase)
    else:
        kotak.orders = order_book(plans, phase)


def _stage(db_path: Path, done: Done, messages_before: int, messages_after: int) -> str:
    """Where the kill fell; messages count Telegram's and the webhook receiver's."""
    if not done.killed:
        return "exited before kill"
    with connect(db_path) as conn:
        run = conn.execute(
            "SELECT id FROM runs WHERE pid = ? ORDER BY id DESC LIMIT 1", (done.pid,)
        ).fetchone()
        if run is None:
            return "starting"
        work = conn.execute(
            "SELECT (SELECT count(*) FROM events WHERE run_id = ?1) + (SELECT count(*) FROM"
            " outbox WHERE run_id = ?1) + (SELECT count(*) FROM adjustments WHERE run_id = ?1)",
            (run[0],),
        ).fetchone()[0]
    if messages_after > messages_before:
        return "while sending"
    return "after commit" if work else "before commit"


def _unrecorded(db_path: Path, received: list[dict[str, Any]]) -> set[int]:
    """Deliveries left SENDING (by a killed run) whose message Telegram already has: the next
    run cannot know it arrived, and sends it once more, marked as a possible duplicate."""
    with connect(db_path) as conn:
        claims = _rows(
            conn,
            "SELECT d.id, o.kind, o.payload, o.created_at, d.chat_id,"
            " d.parts_sent FROM deliveries d JOIN outbox o ON o.id = d.outbox_id"
            " WHERE d.status = 'SENDING'",
        )
    raws = {(m["chat_id"], m["raw"]) for m in received}
    note = messages.escape(f"\n{messages.DUPLICATE_NOTE}")
    found = set()
    for c in claims:
        parts = messages.message(c["kind"], json.loads(c["payload"]), from_db(c["created_at"]))
        part = parts[min(c["parts_sent"], len(parts) - 1)]
        if any((c["chat_id"], t) in raws for t in (part.html, part.html + note)):
            found.add(c["id"])
    return found


def _trial(trial: _Trial) -> Figures:
    s, command, f = trial.settings, trial.command, trial.figures
    f.scenario = f"crash {command}"
    rng = random.Random(f"{s.seed}:{command}:{trial.index}")
    trial.workdir.mkdir(parents=True, exist_ok=True)
    db_path = trial.workdir / "ordertrack.db"
    plans, start = (
        crash_plans(with_stale=command == "eod")
        if command != "reconcile"
        else ([], RECONCILE_START)
    )
    open_webhook(db_path)
    prepare(db_path, plans, start)
    seen: dict[str, list[tuple[str, int]]] = {p.order_id: [] for p in plans}
    receiver = Receiver(WEBHOOK_SECRET, delay=s.telegram_delay).start()
    with fakes(s.kotak_delay, s.telegram_delay, s.telegram_timeout + 0.5) as (kotak, telegram):
        env = environment(
            db_path,
            write_config(trial.workdir, s.telegram_timeout, receiver.url),
            kotak,
            telegram,
            s.chats,
        )
        runner = Runner(env)
        try:
            for phase in range(s.phases):
                _crash_phase(
                    trial,
                    phase,
                    rng,
                    runner,
                    kotak,
                    telegram,
                    db_path,
                    plans,
                    start,
                    seen,
                    receiver,
                )
            report = flush_later(db_path, env)
            if report.sent or report.failed or report.waiting:
                f.problems.append(
                    f"{command} trial {trial.index}: a flush 16 minutes later "
                    f"still found {report.sent} to send, {report.failed} failed,"
                    f" {report.waiting} waiting"
                )
        finally:
            runner.close()
            receiver.stop()
        f.logins += kotak.logins
        f.faults += kotak.faults_served + telegram.faults_served
        f.telegram_faults += telegram.faults_served
        received = list(telegram.messages)
    f.runs += len(runner.done)
    f.events += _count_events(db_path)
    f.count_tally(tally(db_path, received, s.chats))
    f.count_webhook(webhook_tally(db_path, list(receiver.got)))
    f.problems += [f"{command} trial {trial.index}: {p}" for p in consistency(db_path)]
    f.problems = list(dict.fromkeys(f.problems))
    return f


def _requests(
    command: str, phase: int, plans: list[Plan], seen: dict[str, list], chats: int
) -> int:
    """About how many HTTP requests the phase's first run makes: login (first phase), the
    broker reads, one message per new notification and chat."""
    if command == "reconcile":
        new = len(expect_reconcile(phase + 1)[0]) - len(expect_reconcile(phase)[0])
        return (2 if phase == 0 else 0) + 3 + new * chats
    new = sum(
        len(expect_order(p, [*seen[p.order_id], p.state(phase)], True).events)
        - len(expect_order(p, seen[p.order_id], phase > 0).events)
        for p in plans
    )
    first_eod = command == "eod" and phase == 0  # a history lookup, and the daily summary
    return (2 if phase == 0 else 0) + 1 + first_eod + (new + first_eod) * chats


def _crash_phase(
    trial: _Trial,
    phase: int,
    rng: random.Random,
    runner: Runner,
    kotak: ScenarioKotak,
    telegram: ScenarioTelegram,
    db_path: Path,
    plans: list[Plan],
    start: dict[str, int],
    seen: dict[str, list[tuple[str, int]]],
    receiver: Receiver,
) -> None:
    s, command, f = trial.settings, trial.command, trial.figures
    where = f"{command} trial {trial.index} phase {phase}"
    _broker_state(kotak, command, plans, phase)
    broker_fault = rng.random() < s.broker_faults
    telegram.slow_next = int(rng.random() < s.telegram_faults)
    kotak.faults = {_FAULT_PATH[command]: 1} if broker_fault else {}
    kotak_faults, telegram_faults = kotak.faults_served, telegram.faults_served
    before = len(telegram.messages) + len(receiver.got)
    unrecorded = _unrecorded(db_path, list(telegram.messages))
    unrecorded_posts = _webhook_unrecorded(db_path, list(receiver.got))
    # The moment of the kill, spread evenly over the trials: during start-up (moment 0), or
    # just after the run's n-th HTTP request arrived — while it is answered, or soon after.
    moments = _requests(command, phase, plans, seen, len(s.chats)) + 1
    moment = int((trial.index + rng.random()) / s.trials * moments)
    tripwire = kotak.tripwire
    assert tripwire is not None
    tripwire.arm(moment)
    if moment == 0:
        killed = runner.kill_after(rng.uniform(0.05, 0.5), command)
    else:
        delay = rng.uniform(0, 2 * max(s.kotak_delay, s.telegram_delay) + 0.02)
        killed = runner.kill_after(delay, command, after=tripwire.fired)
    tripwire.arm(0)
    kotak.faults, telegram.slow_next = {}, 0
    f.kills += killed.killed
    f.stages[_stage(db_path, killed, before, len(telegram.messages) + len(receiver.got))] += 1
    f.unrecorded_sends += len(_unrecorded(db_path, list(telegram.messages)) - unrecorded)
    allowed = {-9, 0}
    if kotak.faults_served > kotak_faults:
        allowed.add(4)
    if telegram.faults_served > telegram_faults:
        allowed.add(6)
    _check_runs([killed], allowed, f, f"{where}: killed run")
    f.problems += [
        f"{where}, after the kill: {p}" for p in consistency(db_path) + broken_backups(db_path)
    ]
    day = ist_date(utcnow())
    f.webhook_unrecorded += len(_webhook_unrecorded(db_path, list(receiver.got)) - unrecorded_posts)
    again = runner.run(command)
    _check_runs([again], {0}, f, f"{where}: clean re-run")
    f.problems += [
        f"{where}, after the re-run: {p}"
        for p in consistency(db_path) + no_leftovers(db_path) + unsent(db_path)
    ]
    if command == "reconcile":
        f.problems += [f"{where}: {p}" for p in check_reconcile(db_path, phase + 1)]
        return
    for plan in plans:
        seen[plan.order_id].append(plan.state(phase))
    expected = {p.order_id: expect_order(p, seen[p.order_id], True) for p in plans}
    problems, lost = check_orders(db_path, plans, expected, expect_tracking(plans, expected, start))
    f.problems += [f"{where}: {p}" for p in problems]
    f.lost += lost
    if command == "eod":
        f.problems += [
            f"{where}: {p}"
            for p in _eod_checks(db_path, kotak.faults_served > 0, {day, ist_date(utcnow())})
        ]


def complete_backup(path: Path) -> bool:
    """A full copy of an ordertrack database (not an empty or half-written file)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            return (
                conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                and {"orders", "events", "outbox"} <= tables
            )
    except sqlite3.DatabaseError:  # not a database, or a copy interrupted (hot journal)
        return False


def broken_backups(db_path: Path) -> list[str]:
    """Files named like a backup that are not complete copies (what a kill must not leave)."""
    folder = db_path.parent / "backups"
    return [
        f"backup {b.name} is not a complete copy"
        for b in sorted(folder.glob(f"{db_path.stem}-*.db"))
        if not complete_backup(b)
    ]


def _eod_checks(db_path: Path, broker_faults: bool, days: set[date]) -> list[str]:
    """One final daily summary of the day closed (an incomplete one too only after a broker
    fault), and a complete backup. `days`: the IST dates the phase ran on (midnight may pass)."""
    problems = []
    summaries = set(_summaries(db_path))
    calendar = Calendar(frozenset())
    # an eod closes the day it runs on from 18:00 IST, the previous trading day before that
    closed = {
        c for d in days for c in (d, calendar.previous_trading_day(d)) if calendar.is_trading_day(c)
    }
    allowed = {
        f"summary:{d}:{kind}"
        for d in closed
        for kind in ("final", *(("incomplete",) if broker_faults else ()))
    }
    finals = [k for k in summaries if k.endswith(":final")]
    if not summaries <= allowed or not finals:
        problems.append(f"daily summaries {sorted(summaries)}, expected one final one")
    folder = db_path.parent / "backups"
    if not any((folder / f"{db_path.stem}-{d:%Y%m%d}.db").exists() for d in days):
        problems.append("no backup after a clean eod")
    return problems + broken_backups(db_path)


def crash(
    workdir: Path, commands: tuple[str, ...] = COMMANDS, settings: CrashSettings = CrashSettings()
) -> list[Figures]:
    """`settings.trials` trials of each command, run `settings.workers` at a time. In each
    trial every phase shows the broker in a new state, kills a run at some moment and runs the
    command again; the database is checked after every kill and every re-run, and at the end
    (after a late flush) every message Telegram received is matched to its notification."""
    trials = [
        _Trial(command, i, workdir / f"{command}-{i}", settings)
        for i in range(settings.trials)
        for command in commands
    ]
    figures = {command: Figures(f"crash {command}") for command in commands}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        for trial, result in zip(trials, pool.map(_trial, trials), strict=False):
            figures[trial.command].add(result)
    for f in figures.values():
        f.seconds = time.monotonic() - started
    return list(figures.values())
