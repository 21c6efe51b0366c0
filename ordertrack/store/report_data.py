"""The daily HTML report's data: every query it needs, in one place, returning plain data.

The day-at-a-glance numbers are the daily summary's own (`summary.gather`), never recomputed.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ordertrack.core import health, schedule_plan
from ordertrack.core.trading_calendar import EOD_AT, Calendar
from ordertrack.store import summary
from ordertrack.store.db import Database
from ordertrack.store.orders import IS_OPEN
from ordertrack.timeutil import IST, from_db, to_db

TIMELINE_LIMIT = 300  # orders drawn; a longer period says how many more there were
# Each scheduled verify fills the slot from its time to the next one's (the last: 30 minutes).
# After the 15:30 close, cron runs reconcile at 15:45 and eod at 18:00: each is missed once
# half an hour late (a later run the same evening still fills its slot).
SLOT = timedelta(minutes=30)
RECONCILE_DUE, EOD_DUE = timedelta(minutes=45), timedelta(hours=3)
GLANCE = ("placed", *summary.OUTCOMES)


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self) -> tuple[str, str]:
        start = datetime.combine(self.first, time(), tzinfo=IST)
        end = datetime.combine(self.last + timedelta(days=1), time(), tzinfo=IST)
        return to_db(start), to_db(end)

    def label(self) -> str:
        if self.first == self.last:
            return f"{self.first:%a %d %b %Y}"
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y}"


@dataclass
class ReportData:
    period: Period
    generated_at: datetime
    glance: dict[str, int | float]
    summaries: list[dict[str, Any]]
    orders: list[dict[str, Any]] = field(default_factory=list)
    orders_left_out: int = 0
    pnl: dict[str, Any] | None = None  # the P&L section's figures (jobs/pnl_report.py)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    tracking: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    slots: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[tuple[datetime, datetime]] = field(default_factory=list)  # trading days'
    open_now: int = 0  # every open order as the report is written, whichever day it belongs to


def _rows(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=False)) for r in cursor.fetchall()]


def value_traded(s: dict[str, Any]) -> float:
    """Rupee value of the fills in the summary's executed and cancelled orders (a cancelled
    order keeps its fills)."""
    return sum(
        (r["filled_qty"] or 0) * (r["avg_price"] or 0.0)
        for kind in ("executed", "cancelled")
        for r in s[kind]
    )


def glance(summaries: list[dict[str, Any]]) -> dict[str, int | float]:
    """The summary's counts, added up over the period's days."""
    totals: dict[str, int | float] = {name: 0 for name in GLANCE}
    totals["value_traded"] = 0.0
    for s in summaries:
        for name, value in summary.counts(s).items():
            totals[name] += value
        totals["value_traded"] += value_traded(s)
    totals["value_traded"] = round(float(totals["value_traded"]), 2)
    return totals


def trading_days(period: Period, calendar: Calendar) -> list[date]:
    return [day for day in period.days if calendar.is_trading_day(day)]


def orders(
    db: Database, period: Period, calendar: Calendar, as_of: datetime
) -> tuple[list[dict[str, Any]], int]:
    """The period's trading days' orders (the summary's), each with its events to `as_of` and
    its state then."""
    days = trading_days(period, calendar)
    if not days:
        return [], 0
    start, end = (
        to_db(summary.window(days[0], calendar)[0]),
        to_db(summary.window(days[-1], calendar)[1]),
    )
    where = "o.placed_at >= ? AND o.placed_at < ?"
    total = db.execute(f"SELECT count(*) FROM orders o WHERE {where}", (start, end)).fetchone()[0]
    found = _rows(
        db,
        "SELECT o.id, o.order_id, o.symbol, o.side, o.qty, o.amo, o.placed_at"
        f" FROM orders o WHERE {where} ORDER BY o.placed_at, o.id LIMIT ?",
        (start, end, TIMELINE_LIMIT),
    )
    by_id = {
        o["id"]: {
            **o,
            "events": [],
            "status": "PENDING",
            "filled_qty": 0,
            "avg_price": None,
            "reason": None,
        }
        for o in found
    }
    ids = list(by_id)
    for first in range(0, len(ids), 500):
        chunk = ids[first : first + 500]
        for e in _rows(
            db,
            "SELECT order_ref, kind, status, filled_qty, delta_qty, avg_price,"
            " reason, at FROM events"
            f" WHERE order_ref IN ({','.join('?' * len(chunk))}) AND at < ?"
            " ORDER BY at, id",
            (*chunk, to_db(as_of)),
        ):
            order = by_id[e.pop("order_ref")]
            order["events"].append(e)
            order.update(
                status=e["status"],
                filled_qty=e["filled_qty"],
                avg_price=e["avg_price"],
                reason=e["reason"],
            )
    return list(by_id.values()), total - len(found)


def rejections(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summaries' rejected orders by reason, with their order ids: the same orders the
    counts name."""
    found: dict[str, list[str]] = {}
    for s in summaries:
        for r in s["rejected"]:
            reason = (r["reason"] or "").strip() or "no reason given"
            found.setdefault(reason, []).append(r["order_id"] or "?")
    ranked = sorted(found.items(), key=lambda item: (-len(item[1]), item[0]))
    return [{"reason": reason, "count": len(ids), "orders": ids} for reason, ids in ranked]


def tracking(db: Database, period: Period) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Symbols whose tracked quantity changed in the period (with the quantity they started it
    with and every change), and the active ones that did not change."""
    start, end = period.bounds()
    changes = _rows(
        db,
        "SELECT symbol, delta, qty_after, cause, at FROM tracking_changes"
        " WHERE at >= ? AND at < ? ORDER BY symbol, id",
        (start, end),
    )
    symbols: dict[str, dict[str, Any]] = {}
    for c in changes:
        entry = symbols.setdefault(c["symbol"], {"symbol": c["symbol"], "changes": []})
        entry["changes"].append(c)
    for entry in symbols.values():
        before = db.execute(
            "SELECT qty_after FROM tracking_changes WHERE symbol = ? AND at < ?"
            " ORDER BY at DESC, id DESC LIMIT 1",
            (entry["symbol"], start),
        ).fetchone()
        entry["start_qty"] = before[0] if before else 0
    unchanged = [
        r
        for r in _rows(
            db, "SELECT symbol, tracked_qty FROM tracking WHERE status = 'ACTIVE' ORDER BY symbol"
        )
        if r["symbol"] not in symbols
    ]
    return list(symbols.values()), unchanged


def _slot(
    kind: str,
    label: str,
    start: datetime,
    end: datetime,
    due: datetime,
    runs: list[dict[str, Any]],
    now: datetime,
    first_run: datetime | None,
) -> dict[str, Any]:
    """A run started in [start, end) fills the slot; with none, it is missed once `due`,
    unless it was due before the database's first run."""
    mine = [r for r in runs if start <= r["started"] < end]
    state = health.slot_state([(r["outcome"], r["exit_code"]) for r in mine], now, due, first_run)
    return {"kind": kind, "label": label, "start": start, "state": state}


def _slot_minutes(db: Database) -> int:
    """The installed verify cadence (`schedule install --every`), 5 minutes at the finest so a
    day's strip stays readable."""
    row = db.execute("SELECT value FROM schedule_settings WHERE name = 'verify_every'").fetchone()
    minutes = int(row[0]) if row and str(row[0]).isdigit() else 30
    return next(m for m in (30, 15, 10, 6, 5) if m <= max(minutes, 5))


def _verify_slots(
    day: date, every: int, runs: list[dict[str, Any]], now: datetime, first_run: datetime | None
) -> list[dict[str, Any]]:
    """One slot per scheduled verify, from its time to the next one's."""
    times = [datetime.combine(day, t, tzinfo=IST) for t in schedule_plan.verify_times(every)]
    ends = [*times[1:], times[-1] + timedelta(minutes=every)]
    return [
        _slot("verify", f"{at:%H:%M}", at, end, end, runs, now, first_run)
        for at, end in zip(times, ends, strict=True)
    ]


def slots(db: Database, period: Period, calendar: Calendar, now: datetime) -> list[dict[str, Any]]:
    """Each scheduled slot of each trading day, from the one schedule definition: verify in
    the session, reconcile after the close, eod in the evening — ok, broker failure, failed,
    missed, or due before the database's first run. A day's eod slot is filled by any eod that
    closed that day (a late one, or one on the weekend after)."""
    days = trading_days(period, calendar)
    if not days:
        return []
    start = to_db(datetime.combine(days[0], time(), tzinfo=IST))
    end = to_db(datetime.combine(calendar.next_trading_day(days[-1]), EOD_AT, tzinfo=IST))
    runs = [
        {**r, "started": from_db(r["started_at"])}
        for r in _rows(
            db,
            "SELECT command, started_at, outcome, exit_code FROM runs"
            " WHERE started_at >= ? AND started_at < ?"
            " AND command IN ('verify', 'reconcile', 'eod')"
            " AND trigger != 'push'",
            (start, end),
        )
    ]
    first_run = db_first_run(db)
    every = _slot_minutes(db)
    by_day: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for r in runs:
        day = (
            calendar.closed_by(r["started"])
            if r["command"] == "eod"
            else r["started"].astimezone(IST).date()
        )
        by_day.setdefault((r["command"], day), []).append(r)
    found: list[dict[str, Any]] = []
    for day in days:
        found += _verify_slots(day, every, by_day.get(("verify", day), []), now, first_run)
        close = calendar.close_of(day)
        found.append(
            _slot(
                "reconcile",
                "reconcile",
                close,
                datetime.combine(day + timedelta(days=1), time(), tzinfo=IST),
                close + RECONCILE_DUE,
                by_day.get(("reconcile", day), []),
                now,
                first_run,
            )
        )
        found.append(
            _slot(
                "eod",
                "eod",
                close,
                datetime.max.replace(tzinfo=IST),
                close + EOD_DUE,
                by_day.get(("eod", day), []),
                now,
                first_run,
            )
        )
    return found


def db_first_run(db: Database) -> datetime | None:
    """When this database first saw any run: nothing was due from it before."""
    row = db.execute("SELECT min(started_at) FROM runs").fetchone()
    return from_db(row[0]) if row and row[0] else None


def notifications(db: Database, period: Period) -> list[dict[str, Any]]:
    """Notifications queued in the period, per channel: each Telegram chat from its deliveries,
    and those no channel has taken up yet."""
    start, end = period.bounds()
    chats = _rows(
        db,
        "SELECT 'telegram ' || d.chat_id AS channel, sum(d.status = 'SENT') AS sent,"
        " sum(d.status IN ('PENDING', 'UNKNOWN', 'SENDING')) AS waiting,"
        " sum(d.status = 'FAILED') AS failed FROM deliveries d"
        " JOIN outbox o ON o.id = d.outbox_id WHERE o.created_at >= ?"
        " AND o.created_at < ? GROUP BY d.chat_id ORDER BY d.chat_id",
        (start, end),
    )
    untaken = _rows(
        db,
        "SELECT 'not taken up by any channel' AS channel, 0 AS sent,"
        " count(*) AS waiting, 0 AS failed FROM outbox o WHERE o.status = 'PENDING'"
        " AND o.created_at >= ? AND o.created_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id)",
        (start, end),
    )
    return chats + [r for r in untaken if r["waiting"]]


def gather(
    db: Database, period: Period, calendar: Calendar, now: datetime, broker_error: str | None = None
) -> ReportData:
    """Everything the report shows. `broker_error` is eod's, for the summary of its own day.
    Every order is counted once, by its state at the end of the period."""
    days = trading_days(period, calendar)
    as_of = summary.settled_by(days[-1], calendar) if days else now
    summaries = [
        summary.gather(db, day, broker_error if day == period.last else None, calendar, as_of)
        for day in days
    ]
    data = ReportData(period, now, glance(summaries), summaries)
    data.orders, data.orders_left_out = orders(db, period, calendar, as_of)
    data.rejections = rejections(summaries)
    data.tracking, data.unchanged = tracking(db, period)
    data.slots = slots(db, period, calendar, now)
    data.sessions = [(calendar.open_of(day), calendar.close_of(day)) for day in days]
    data.open_now = db.execute(f"SELECT count(*) FROM orders WHERE {IS_OPEN}").fetchone()[0]
    data.notifications = notifications(db, period)
    return data
