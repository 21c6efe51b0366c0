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


def verify_overdue(last_ok: datetime | None, ever_ran: bool, now: datetime,
                   calendar: Calendar, window: timedelta) -> Overdue | None:
    """No successful verify within `window` while a market session has been open that long."""
    today = ist_date(now)
    if not ever_ran or not calendar.in_session(now) or now - calendar.open_of(today) < window:
        return None
    if last_ok is not None and now - last_ok < window:
        return None
    since = f"since {show(last_ok)}" if last_ok else "ever"
    return Overdue(f"overdue:verify:{today}:{last_ok.isoformat() if last_ok else 'never'}",
                   "verify", f"no successful verify {since}; is cron running it?")


def eod_overdue(last_ok: datetime | None, ever_ran: bool, now: datetime,
                calendar: Calendar) -> Overdue | None:
    """The previous trading day closed without a successful eod."""
    if not ever_ran:
        return None
    previous = calendar.previous_trading_day(ist_date(now))
    if last_ok is not None and calendar.closed_by(last_ok) >= previous:  # the day it closed
        return None
    return Overdue(f"overdue:eod:{previous}", "eod",
                   f"no successful eod for {previous:%a %d %b %Y}; its summary is missing or "
                   "incomplete")


def calendar_gap(now: datetime, calendar: Calendar) -> Overdue | None:
    """Past the built-in holiday list, with no holiday configured for this year: every weekday
    would count as a session."""
    year = ist_date(now).year
    if year <= BUILT_IN_YEAR or any(day.year == year for day in calendar.holidays):
        return None
    return Overdue(f"calendar:{year}", "calendar",
                   f"no exchange holidays known for {year}: add NSE's list under [calendar] "
                   "holidays in the config file, or expiry and overdue checks treat holidays "
                   "as sessions")


def overdue(runs: dict[str, tuple[datetime | None, bool]], now: datetime, calendar: Calendar,
            window: timedelta) -> list[Overdue]:
    """`runs` maps a command to (its last success, whether it ever ran)."""
    found = [
        verify_overdue(*runs.get("verify", (None, False)), now, calendar, window),
        eod_overdue(*runs.get("eod", (None, False)), now, calendar),
        calendar_gap(now, calendar) if runs else None,
    ]
    return [o for o in found if o is not None]
