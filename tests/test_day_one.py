"""No false alarms on day one: overdue checks start from each command's first run."""

import json
from datetime import date, datetime, timedelta

from freezegun import freeze_time

from ordertrack.core.health import eod_overdue, verify_overdue
from ordertrack.core.trading_calendar import Calendar
from ordertrack.timeutil import IST

CAL = Calendar(frozenset({date(2026, 11, 24)}))


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def test_eod_is_not_overdue_for_a_day_before_its_first_run() -> None:
    first = ist(2026, 11, 30, 18, 5)  # Monday: the first eod failed
    assert eod_overdue(None, True, ist(2026, 11, 30, 18, 30), CAL, first) is None
    # the day it first ran is its own: Tuesday still hears that Monday has no eod
    late = eod_overdue(None, True, ist(2026, 12, 1, 9, 30), CAL, first)
    assert late is not None and "Mon 30 Nov" in late.text


def test_verify_is_not_overdue_before_it_has_run_for_the_window() -> None:
    first = ist(2026, 11, 30, 12, 0)  # installed at noon; every verify failed since
    window = timedelta(minutes=90)
    assert verify_overdue(None, True, ist(2026, 11, 30, 13, 0), CAL, window, first) is None
    assert verify_overdue(None, True, ist(2026, 11, 30, 13, 31), CAL, window, first) is not None


def test_a_failed_first_eod_brings_no_alarm_about_last_friday(cli, broker, sql) -> None:
    with freeze_time(ist(2026, 11, 30, 10, 0)) as clock:  # a Monday: installed today
        assert (
            cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
        )
        clock.move_to(ist(2026, 11, 30, 18, 5))
        assert cli("eod").code == 4  # the broker folder is empty: the first eod fails
        broker.orders()
        clock.move_to(ist(2026, 11, 30, 18, 30))
        assert cli("eod").code == 0
        assert json.loads(cli("status", "--json").out)["overdue"] == []
    alerts = [
        json.loads(p)["text"]
        for (p,) in sql("SELECT payload FROM outbox WHERE kind = 'SYSTEM_ALERT'")
    ]
    assert not [a for a in alerts if "no successful eod" in a], alerts
