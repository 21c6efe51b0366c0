"""The period a report or P&L command's options name (--day, --week, --month, --from/--to),
read one way for both."""

from datetime import date, timedelta

from ordertrack.errors import UsageError
from ordertrack.store.report_data import Period

MAX_DAYS = 400  # a year and some: the report stays a page, not a dump


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date like 2026-11-30") from None


def period(
    today: date,
    day: str | None = None,
    week: bool = False,
    first: str | None = None,
    last: str | None = None,
    month: bool = False,
) -> Period:
    """The period the options name: one day (today by default), the seven or thirty days
    ending today, or --from D [--to D] (to today)."""
    chosen = sum(x for x in (day is not None, week, month, first is not None or last is not None))
    if chosen > 1:
        raise UsageError("choose one of --day, --week, --month, or --from/--to")
    if month:
        return Period(today - timedelta(days=29), today)
    if week:
        return Period(today - timedelta(days=6), today)
    if last is not None and first is None:
        raise UsageError("--to needs --from")
    if first is not None:
        start = _day(first, "--from")
        end = _day(last, "--to") if last is not None else today
        if start > end:
            raise UsageError(f"--from {start} is after --to {end}")
        if (end - start).days > MAX_DAYS:
            raise UsageError(f"--from/--to spans more than {MAX_DAYS} days")
        return Period(start, end)
    one = _day(day, "--day") if day is not None else today
    return Period(one, one)
