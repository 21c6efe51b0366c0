"""The daily HTML report's data: every query it needs, in one place, returning plain data.

The day-at-a-glance numbers are the daily summary's own (`summary.gather`), never recomputed.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ordertrack.core.trading_calendar import OPEN, Calendar
from ordertrack.errors import UsageProblem
from ordertrack.store import summary
from ordertrack.store.db import Database
from ordertrack.timeutil import IST, from_db, to_db

TIMELINE_LIMIT = 300  # orders drawn; a longer period says how many more there were
SLOT = timedelta(minutes=30)
# 30-minute verify windows from 09:15: they cover the session to 15:30 and hold one cron run
# each, whether cron runs verify on :00/:30 or on :15/:45.
VERIFY_SLOTS = 13
# After the 15:30 close, cron runs reconcile at 15:45 and eod at 18:00: each is missed once
# half an hour late (a later run the same evening still fills its slot).
RECONCILE_DUE, EOD_DUE = timedelta(minutes=45), timedelta(hours=3)
MAX_DAYS = 400  # a year and some: the report stays a page, not a dump
GLANCE = ("placed", "executed", "partially_filled", "rejected", "cancelled", "expired")


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


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageProblem(f"{flag} {text!r} is not a date like 2026-11-30") from None


def period(today: date, day: str | None = None, week: bool = False, first: str | None = None,
           last: str | None = None) -> Period:
    """The period the options name: one day (today by default), the seven days ending today,
    or --from D [--to D] (to today)."""
    chosen = sum(x for x in (day is not None, week, first is not None or last is not None))
    if chosen > 1:
        raise UsageProblem("choose one of --day, --week, or --from/--to")
    if week:
        return Period(today - timedelta(days=6), today)
    if last is not None and first is None:
        raise UsageProblem("--to needs --from")
    if first is not None:
        start = _day(first, "--from")
        end = _day(last, "--to") if last is not None else today
        if start > end:
            raise UsageProblem(f"--from {start} is after --to {end}")
        if (end - start).days > MAX_DAYS:
            raise UsageProblem(f"--from/--to spans more than {MAX_DAYS} days")
        return Period(start, end)
    one = _day(day, "--day") if day is not None else today
    return Period(one, one)


@dataclass
class ReportData:
    period: Period
    generated_at: datetime
    glance: dict[str, int | float]
    summaries: list[dict[str, Any]]
    orders: list[dict[str, Any]] = field(default_factory=list)
    orders_left_out: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    tracking: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    slots: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


def _rows(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=False)) for r in cursor.fetchall()]


def value_traded(s: dict[str, Any]) -> float:
    """Rupee value of the fills in the summary's executed and cancelled orders (a cancelled
    order keeps its fills)."""
    return sum((r["filled_qty"] or 0) * (r["avg_price"] or 0.0)
               for kind in ("executed", "cancelled") for r in s[kind])


def glance(summaries: list[dict[str, Any]]) -> dict[str, int | float]:
    """The summary's counts, added up over the period's days."""
    totals: dict[str, int | float] = {name: 0 for name in GLANCE}
    totals["value_traded"] = 0.0
    for s in summaries:
        for name in GLANCE:
            value = s[name]
            totals[name] += value if isinstance(value, int) else len(value)
        totals["value_traded"] += value_traded(s)
    totals["value_traded"] = round(float(totals["value_traded"]), 2)
    return totals


def orders(db: Database, period: Period) -> tuple[list[dict[str, Any]], int]:
    """Orders placed in the period or with an event in it, each with its events in order."""
    start, end = period.bounds()
    where = ("(o.placed_at >= ? AND o.placed_at < ? OR o.id IN (SELECT order_ref FROM events"
             " WHERE at >= ? AND at < ?))")
    total = db.execute(f"SELECT count(*) FROM orders o WHERE {where}",
                       (start, end, start, end)).fetchone()[0]
    found = _rows(db, "SELECT o.id, o.order_id, o.symbol, o.side, o.qty, o.amo, o.placed_at,"
                      " o.status, o.filled_qty, o.avg_price, o.reason FROM orders o"
                      f" WHERE {where} ORDER BY o.placed_at, o.id LIMIT ?",
                  (start, end, start, end, TIMELINE_LIMIT))
    by_id = {o["id"]: {**o, "events": []} for o in found}
    ids = list(by_id)
    for first in range(0, len(ids), 500):
        chunk = ids[first:first + 500]
        for e in _rows(db, "SELECT order_ref, kind, status, filled_qty, delta_qty, at FROM events"
                           f" WHERE order_ref IN ({','.join('?' * len(chunk))}) ORDER BY id",
                       tuple(chunk)):
            by_id[e.pop("order_ref")]["events"].append(e)
    return list(by_id.values()), total - len(found)


def rejections(db: Database, period: Period) -> list[dict[str, Any]]:
    start, end = period.bounds()
    return _rows(db, "SELECT coalesce(nullif(trim(reason), ''), 'no reason given') AS reason,"
                     " count(*) AS count FROM events WHERE kind = 'REJECTED' AND at >= ?"
                     " AND at < ? GROUP BY 1 ORDER BY count DESC, reason", (start, end))


def tracking(db: Database, period: Period) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Symbols whose tracked quantity changed in the period (with the quantity they started it
    with and every change), and the active ones that did not change."""
    start, end = period.bounds()
    changes = _rows(db, "SELECT symbol, delta, qty_after, cause, at FROM tracking_changes"
                        " WHERE at >= ? AND at < ? ORDER BY symbol, id", (start, end))
    symbols: dict[str, dict[str, Any]] = {}
    for c in changes:
        entry = symbols.setdefault(c["symbol"], {"symbol": c["symbol"], "changes": []})
        entry["changes"].append(c)
    for entry in symbols.values():
        before = db.execute("SELECT qty_after FROM tracking_changes WHERE symbol = ? AND at < ?"
                            " ORDER BY at DESC, id DESC LIMIT 1",
                            (entry["symbol"], start)).fetchone()
        entry["start_qty"] = before[0] if before else 0
    unchanged = [r for r in _rows(db, "SELECT symbol, tracked_qty FROM tracking"
                                      " WHERE status = 'ACTIVE' ORDER BY symbol")
                 if r["symbol"] not in symbols]
    return list(symbols.values()), unchanged


def _slot(kind: str, label: str, start: datetime, end: datetime, due: datetime,
          runs: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """A run started in [start, end) fills the slot; with none, it is missed once `due`."""
    mine = [r for r in runs if start <= r["started"] < end]
    if any(r["outcome"] == "ok" for r in mine):
        state = "ok"
    elif any(r["exit_code"] == 4 for r in mine):
        state = "broker"
    elif any(r["outcome"] == "running" for r in mine):
        state = "running"  # this very run (eod writing its report), or one killed mid-run
    elif mine:
        state = "failed"
    elif now < due:
        state = "upcoming"
    else:
        state = "missed"
    return {"kind": kind, "label": label, "start": start, "state": state}


def _slot_minutes(db: Database) -> int:
    row = db.execute("SELECT value FROM schedule_settings WHERE name = 'verify_every'").fetchone()
    minutes = int(row[0]) if row and str(row[0]).isdigit() else 30
    return next(m for m in (30, 15, 10, 6, 5) if m <= max(minutes, 5))


def slots(db: Database, period: Period, calendar: Calendar, now: datetime) -> list[dict[str, Any]]:
    """Each scheduled slot of each trading day: verify every 30 minutes in the session,
    reconcile after the close, eod in the evening — ok, broker failure, failed or missed."""
    start, end = period.bounds()
    runs = [{**r, "started": from_db(r["started_at"])}
            for r in _rows(db, "SELECT command, started_at, outcome, exit_code FROM runs"
                               " WHERE started_at >= ? AND started_at < ?"
                               " AND command IN ('verify', 'reconcile', 'eod')"
                               " AND trigger != 'push'", (start, end))]
    # slots as wide as the installed cadence (`schedule install --every`), 5 minutes at least
    # so a day's strip stays readable
    width = timedelta(minutes=_slot_minutes(db))
    by_day: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for r in runs:  # every slot lies within its IST day
        by_day.setdefault((r["command"], r["started"].astimezone(IST).date()), []).append(r)
    found: list[dict[str, Any]] = []
    for day in period.days:
        if not calendar.is_trading_day(day):
            continue
        by_command = {c: by_day.get((c, day), []) for c in ("verify", "reconcile", "eod")}
        first = datetime.combine(day, OPEN, tzinfo=IST)
        for n in range(VERIFY_SLOTS * SLOT // width):
            at = first + n * width
            found.append(_slot("verify", f"{at:%H:%M}", at, at + width, at + width,
                               by_command["verify"], now))
        close = calendar.close_of(day)
        midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=IST)
        found.append(_slot("reconcile", "reconcile", close, midnight, close + RECONCILE_DUE,
                           by_command["reconcile"], now))
        found.append(_slot("eod", "eod", close, midnight, close + EOD_DUE, by_command["eod"],
                           now))
    return found


def notifications(db: Database, period: Period) -> list[dict[str, Any]]:
    """Notifications queued in the period, per channel: each Telegram chat from its deliveries,
    and those no channel has taken up yet."""
    start, end = period.bounds()
    chats = _rows(db, "SELECT 'telegram ' || d.chat_id AS channel, sum(d.status = 'SENT') AS sent,"
                      " sum(d.status IN ('PENDING', 'UNKNOWN', 'SENDING')) AS waiting,"
                      " sum(d.status = 'FAILED') AS failed FROM deliveries d"
                      " JOIN outbox o ON o.id = d.outbox_id WHERE o.created_at >= ?"
                      " AND o.created_at < ? GROUP BY d.chat_id ORDER BY d.chat_id", (start, end))
    untaken = _rows(db, "SELECT 'not taken up by any channel' AS channel, 0 AS sent,"
                        " count(*) AS waiting, 0 AS failed FROM outbox o WHERE o.status = 'PENDING'"
                        " AND o.created_at >= ? AND o.created_at < ? AND NOT EXISTS"
                        " (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id)", (start, end))
    return chats + [r for r in untaken if r["waiting"]]


def gather(db: Database, period: Period, calendar: Calendar, now: datetime,
           broker_error: str | None = None) -> ReportData:
    """Everything the report shows. `broker_error` is eod's, for the summary of its own day."""
    summaries = [summary.gather(db, day, broker_error if day == period.last else None)
                 for day in period.days]
    data = ReportData(period, now, glance(summaries), summaries)
    data.orders, data.orders_left_out = orders(db, period)
    data.rejections = rejections(db, period)
    data.tracking, data.unchanged = tracking(db, period)
    data.slots = slots(db, period, calendar, now)
    data.notifications = notifications(db, period)
    return data
