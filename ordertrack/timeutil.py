"""Time: stored in UTC, shown in IST. Naive datetimes never leave this module."""

from datetime import UTC as UTC  # re-exported: the one name for UTC here
from datetime import datetime, timedelta, timezone
from functools import lru_cache

# India has kept UTC+05:30, without daylight saving, since 1945: a fixed offset is exact for
# every date ordertrack meets, needs no zone database, and spares each start loading zoneinfo
# (and the sysconfig it reads for its search path).
IST = timezone(timedelta(hours=5, minutes=30), "IST")


def utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=256)  # a run stamps thousands of rows with the same `now`
def to_db(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def to_ist(dt: datetime) -> datetime:
    return dt.astimezone(IST)


def show(dt: datetime | None) -> str:
    """Human form: '24 Nov 2026 09:15 IST'."""
    if dt is None:
        return ""
    return to_ist(dt).strftime("%d %b %Y %H:%M IST")


def show_iso(dt: datetime | None) -> str | None:
    """Machine form for --json: ISO 8601 in IST with its offset."""
    return None if dt is None else to_ist(dt).isoformat(timespec="seconds")


def parse_user_time(text: str) -> datetime:
    """ISO 8601 from a user or engine; a time without an offset is IST (the trader's clock)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=IST)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # 0001-01-01 in IST is before the first UTC instant Python can hold
        raise ValueError(f"time out of range: {text!r}") from None


def from_epoch_ns(value: object) -> datetime | None:
    try:
        ns = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):  # OverflowError: a float infinity
        return None
    if ns <= 0:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    except OverflowError:
        return None
