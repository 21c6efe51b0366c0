"""Trading calendar and the session-aware expiry deadline (pure)."""

from datetime import date, datetime, timedelta

import pytest

from ordertrack.core.models import Order, Side, Status
from ordertrack.core.trading_calendar import Calendar, MissingRules
from ordertrack.timeutil import IST

NO_HOLIDAYS = Calendar(frozenset())


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def test_weekends_and_holidays_are_not_trading_days():
    cal = Calendar(frozenset({date(2026, 11, 30)}))
    assert cal.is_trading_day(date(2026, 11, 27))  # Friday
    assert not cal.is_trading_day(date(2026, 11, 28))  # Saturday
    assert not cal.is_trading_day(date(2026, 11, 30))  # holiday Monday
    assert cal.next_trading_day(date(2026, 11, 27)) == date(2026, 12, 1)
    assert cal.previous_trading_day(date(2026, 12, 1)) == date(2026, 11, 27)


def test_default_calendar_knows_nse_2026_holidays():
    assert not Calendar().is_trading_day(date(2026, 1, 26))  # Republic Day
    assert not Calendar().is_trading_day(date(2026, 11, 24))  # Guru Nanak Jayanti


@pytest.mark.parametrize(
    ("placed", "amo", "session"),
    [
        (ist(2026, 11, 27, 20, 0), True, date(2026, 11, 30)),  # Friday evening AMO → Monday
        (ist(2026, 11, 30, 8, 0), True, date(2026, 11, 30)),  # AMO before the open → that day
        (ist(2026, 11, 30, 10, 0), False, date(2026, 11, 30)),  # DAY order in session
        (ist(2026, 11, 30, 16, 0), False, date(2026, 12, 1)),  # after the close → next session
        (ist(2026, 11, 28, 11, 0), False, date(2026, 11, 30)),  # Saturday → Monday
    ],
)
def test_session_an_order_works_in(placed, amo, session):
    assert NO_HOLIDAYS.session_for(placed, amo) == session


def order(placed: datetime, amo: bool) -> Order:
    return Order(1, "1", "INFY", Side.BUY, 1, None, amo, None, placed, Status.PENDING)


def test_friday_evening_amo_lives_until_mondays_close():
    rules = MissingRules(calendar=NO_HOLIDAYS)
    assert rules.deadline(order(ist(2026, 11, 27, 20, 0), True)) == ist(2026, 11, 30, 15, 30)


def test_holiday_monday_extends_the_amo_to_tuesday():
    rules = MissingRules(calendar=Calendar(frozenset({date(2026, 11, 30)})))
    assert rules.deadline(order(ist(2026, 11, 27, 20, 0), True)) == ist(2026, 12, 1, 15, 30)


def test_day_order_is_protected_for_24_hours_past_its_session():
    rules = MissingRules(calendar=NO_HOLIDAYS)
    placed = ist(2026, 11, 30, 10, 0)
    assert rules.deadline(order(placed, False)) == placed + timedelta(hours=24)
    short = MissingRules(stale_after=timedelta(hours=1), calendar=NO_HOLIDAYS)
    assert short.deadline(order(placed, False)) == ist(2026, 11, 30, 15, 30)
