"""Overdue detection (pure) and the cron installer."""

from datetime import UTC, date, datetime, timedelta

import pytest

from ordertrack.core import health
from ordertrack.core.health import eod_overdue, verify_overdue
from ordertrack.core.trading_calendar import Calendar
from ordertrack.timeutil import IST

CAL = Calendar(frozenset({date(2026, 11, 24)}))
WINDOW = timedelta(minutes=90)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.mark.parametrize(
    ("now", "last_ok", "late"),
    [
        (ist(2026, 11, 23, 12, 0), ist(2026, 11, 23, 11, 0), False),  # recent success
        (ist(2026, 11, 23, 12, 0), ist(2026, 11, 23, 10, 0), True),  # two hours without one
        (ist(2026, 11, 23, 10, 0), None, False),  # session open less than the window
        (ist(2026, 11, 23, 17, 0), ist(2026, 11, 23, 9, 30), False),  # after the close
        (ist(2026, 11, 24, 12, 0), ist(2026, 11, 23, 15, 30), False),  # holiday
        (ist(2026, 11, 28, 12, 0), ist(2026, 11, 27, 15, 30), False),  # Saturday
    ],
)
def test_verify_overdue_only_in_a_session(now, last_ok, late):
    assert (verify_overdue(last_ok, True, now, CAL, WINDOW) is not None) is late


def test_never_run_commands_are_not_nagged_about():
    assert verify_overdue(None, False, ist(2026, 11, 23, 14, 0), CAL, WINDOW) is None
    assert eod_overdue(None, False, ist(2026, 11, 23, 14, 0), CAL) is None


def test_eod_overdue_skips_holidays_and_weekends():
    # Monday eod done; Tuesday is a holiday; Wednesday morning: nothing missed
    assert eod_overdue(ist(2026, 11, 23, 18, 0), True, ist(2026, 11, 25, 9, 0), CAL) is None
    # Friday's eod missed, seen on Monday
    late = eod_overdue(ist(2026, 11, 26, 18, 0), True, ist(2026, 11, 30, 9, 0), CAL)
    assert late is not None and late.key == "overdue:eod:2026-11-27"


def test_a_year_past_the_built_in_holidays_is_flagged_until_configured():
    from ordertrack.core.health import calendar_gap

    assert calendar_gap(ist(2026, 6, 1, 10, 0), Calendar()) is None
    late = calendar_gap(ist(2027, 1, 4, 10, 0), Calendar())
    assert late is not None and "2027" in late.text and late.key == "calendar:2027"
    assert calendar_gap(ist(2027, 1, 4, 10, 0), Calendar(frozenset({date(2027, 1, 26)}))) is None


# ---- the report's run-health slots take their rule from here (issue 24) ----------------------


@pytest.mark.parametrize(
    ("runs", "minutes_after_due", "first_run_before", "state"),
    [
        ([("failed", 7), ("ok", 0)], 5, True, "ok"),
        ([("failed", 4)], 5, True, "broker"),
        ([("running", None)], 5, True, "running"),
        ([("crashed", 1)], 5, True, "failed"),
        ([], -5, True, "upcoming"),
        ([], 5, True, "missed"),
        ([], 5, False, "before"),
    ],
)
def test_a_scheduled_slot_is_missed_by_the_overdue_alerts_own_rule(
    runs, minutes_after_due, first_run_before, state
):
    due = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
    first_run = due - timedelta(days=1) if first_run_before else due + timedelta(hours=1)
    now = due + timedelta(minutes=minutes_after_due)
    assert health.slot_state(runs, now, due, first_run) == state
    if not runs and now >= due:
        assert (state == "missed") == health.was_due(due, first_run)
