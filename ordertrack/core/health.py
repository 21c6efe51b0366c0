"""Noticing what cron did not run: overdue commands, as alerts with stable keys (sent once)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ordertrack.core.trading_calendar import NSE_HOLIDAYS_2026, Calendar, ist_date
from ordertrack.timeutil import show

BUILT_IN_YEAR = max(day.year for day in NSE_HOLIDAYS_2026)


@dataclass(frozen=True)
class Overdue:
    key: str  # one alert per key, ever
    command: str
    text: str


def verify_overdue(
    last_ok: datetime | None,
    ever_ran: bool,
    now: datetime,
    calendar: Calendar,
    window: timedelta,
    first_run: datetime | None = None,
) -> Overdue | None:
    """No successful verify within `window` while a market session has been open that long
    (and verify has been running that long: day one starts at its first run)."""
    today = ist_date(now)
    start = max(calendar.open_of(today), first_run or calendar.open_of(today))
    if not ever_ran or not calendar.in_session(now) or now - start < window:
        return None
    if last_ok is not None and now - last_ok < window:
        return None
    since = f"since {show(last_ok)}" if last_ok else "ever"
    return Overdue(
        f"overdue:verify:{today}:{last_ok.isoformat() if last_ok else 'never'}",
        "verify",
        f"no successful verify {since}; is cron running it?",
    )


def eod_overdue(
    last_ok: datetime | None,
    ever_ran: bool,
    now: datetime,
    calendar: Calendar,
    first_run: datetime | None = None,
) -> Overdue | None:
    """The previous trading day closed without a successful eod. A day before eod's first run
    (before ordertrack was installed) was never its to close."""
    if not ever_ran:
        return None
    previous = calendar.previous_trading_day(ist_date(now))
    if first_run is not None and ist_date(first_run) > previous:
        return None
    if last_ok is not None and calendar.closed_by(last_ok) >= previous:  # the day it closed
        return None
    return Overdue(
        f"overdue:eod:{previous}",
        "eod",
        f"no successful eod for {previous:%a %d %b %Y}; its summary is missing or incomplete",
    )


def calendar_gap(now: datetime, calendar: Calendar) -> Overdue | None:
    """Past the built-in holiday list, with no holiday configured for this year: every weekday
    would count as a session."""
    year = ist_date(now).year
    if year <= BUILT_IN_YEAR or any(day.year == year for day in calendar.holidays):
        return None
    return Overdue(
        f"calendar:{year}",
        "calendar",
        f"no exchange holidays known for {year}: add NSE's list under [calendar] "
        "holidays in the config file, or expiry and overdue checks treat holidays "
        "as sessions",
    )


def overdue(
    runs: dict[str, tuple[datetime | None, bool]],
    now: datetime,
    calendar: Calendar,
    window: timedelta,
    first: dict[str, datetime] | None = None,
) -> list[Overdue]:
    """`runs` maps a command to (its last success, whether it ever ran); `first` to when it
    first ran."""
    first = first or {}
    found = [
        verify_overdue(
            *runs.get("verify", (None, False)), now, calendar, window, first.get("verify")
        ),
        eod_overdue(*runs.get("eod", (None, False)), now, calendar, first.get("eod")),
        calendar_gap(now, calendar) if runs else None,
    ]
    return [o for o in found if o is not None]


def was_due(due: datetime, first_run: datetime | None) -> bool:
    """Whether a scheduled run due at `due` could have been missed: not before the database's
    first run (ordertrack was not running yet), the same rule the overdue alerts keep."""
    return first_run is not None and due >= first_run


def slot_state(
    runs: list[tuple[str, int | None]], now: datetime, due: datetime, first_run: datetime | None
) -> str:
    """A scheduled slot's state from the runs that started in it, each (outcome, exit code):
    ok, broker (failed at the broker), running, failed; with none, upcoming before `due`,
    then missed, unless due before the database's first run ("before", as was_due says)."""
    if any(outcome == "ok" for outcome, _ in runs):
        return "ok"
    if any(code == 4 for _, code in runs):
        return "broker"
    if any(outcome == "running" for outcome, _ in runs):
        return "running"  # this very run (eod writing its report), or one killed mid-run
    if runs:
        return "failed"
    if now < due:
        return "upcoming"
    return "missed" if was_due(due, first_run) else "before"
