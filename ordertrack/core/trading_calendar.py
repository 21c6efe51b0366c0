"""The NSE trading calendar: IST days, weekends off, exchange holidays, and how long an order
may stay unseen before it is called expired (MissingRules). Pure functions.

"Today" and "trading day" always mean the date in IST (Asia/Kolkata), whatever the server's zone.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from ordertrack.timeutil import IST, UTC

if TYPE_CHECKING:
    from ordertrack.core.models import Order

OPEN, CLOSE = time(9, 15), time(15, 30)
EOD_AT = time(18, 0)  # the moment a trading day is closed (its daily summary)

# NSE equity-segment trading holidays for 2026 (weekdays only), as NSE's circular lists them,
# including the 15 January municipal-election holiday added later. Extend or replace them in the
# config file's [calendar] section; check NSE's circular each December.
NSE_HOLIDAYS_2026 = (
    date(2026, 1, 15),
    date(2026, 1, 26),
    date(2026, 3, 3),
    date(2026, 3, 26),
    date(2026, 3, 31),
    date(2026, 4, 3),
    date(2026, 4, 14),
    date(2026, 5, 1),
    date(2026, 5, 28),
    date(2026, 6, 26),
    date(2026, 9, 14),
    date(2026, 10, 2),
    date(2026, 10, 20),
    date(2026, 11, 10),
    date(2026, 11, 24),
    date(2026, 12, 25),
)


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date] = frozenset(NSE_HOLIDAYS_2026)

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def previous_trading_day(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_trading_day(day):
            day -= timedelta(days=1)
        return day

    def closed_by(self, moment: datetime) -> date:
        """The trading day an eod at `moment` closes: the latest one whose 18:00 IST has
        passed (after midnight, or on a day off, that is the previous trading day)."""
        day = ist_date(moment)
        if self.is_trading_day(day) and moment >= datetime.combine(day, EOD_AT, tzinfo=IST):
            return day
        return self.previous_trading_day(day)

    def close_of(self, day: date) -> datetime:
        return datetime.combine(day, CLOSE, tzinfo=IST).astimezone(UTC)

    def open_of(self, day: date) -> datetime:
        return datetime.combine(day, OPEN, tzinfo=IST).astimezone(UTC)

    def session_for(self, moment: datetime, amo: bool) -> date:
        """The trading session an order placed at `moment` works in.

        An AMO waits for the next session that opens after it was placed; a regular (DAY) order
        belongs to the session running when it was placed, or the next one if none was.
        """
        day = ist_date(moment)
        if self.is_trading_day(day):
            if amo and moment < self.open_of(day):
                return day
            if not amo and moment < self.close_of(day):
                return day
        return self.next_trading_day(day)

    def in_session(self, moment: datetime) -> bool:
        day = ist_date(moment)
        return self.is_trading_day(day) and self.open_of(day) <= moment <= self.close_of(day)


def ist_date(moment: datetime) -> date:
    return moment.astimezone(IST).date()


@dataclass(frozen=True)
class MissingRules:
    """When an order absent from the order book may be called EXPIRED."""

    runs: int = 3  # successful fetches that must have missed it
    stale_after: timedelta = timedelta(hours=24)  # and at least this old
    calendar: Calendar = Calendar()

    def deadline(self, order: "Order") -> datetime:
        """Before this an order is protected: it may still be working at the broker.

        At least `stale_after` old, and past the close of its session: an AMO placed on Friday
        evening lives until Monday's close (Tuesday's, if Monday is a holiday).
        """
        session = self.calendar.session_for(order.placed_at, order.amo)
        return max(order.placed_at + self.stale_after, self.calendar.close_of(session))
