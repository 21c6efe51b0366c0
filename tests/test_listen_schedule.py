"""Scheduling for issue 25: `schedule install` adds `listen` at 09:10 IST on weekdays beside the
verify lines, `--every N` sets the polling cadence (recorded in the database, so overdue checks
and the report's slots follow it), and `doctor` accepts listen's window and lines with options."""

from datetime import datetime

from ordertrack.jobs import period as periods
from ordertrack.jobs import schedule
from ordertrack.store import report_data, runs
from ordertrack.store.db import open_db
from ordertrack.timeutil import IST
from tests.fake_host import fake_host
from tests.test_schedule_runs import schedule_line


def cron_lines(store) -> list[str]:
    return [
        line for line in store.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def test_install_adds_listen_at_0910_ist_on_weekdays(cli, installable, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    assert cli("schedule", "install").code == 0
    listen = [line for line in cron_lines(installable) if " listen >> " in line]
    assert len(listen) == 1 and listen[0].startswith("40 3 * * 1-5 ")  # 09:10 IST on a UTC host
    assert any(" verify >> " in line for line in cron_lines(installable))
    assert schedule_line(cli("doctor", "--offline")).startswith("ok       schedule: crontab: ")


def test_doctor_reads_a_line_with_options_after_the_command(
    cli, installable, tmp_path, monkeypatch
):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    assert cli("schedule", "install").code == 0
    text = installable.read_text().replace(" listen >> ", " listen --until 15:00 >> ")
    installable.write_text(text)
    assert schedule_line(cli("doctor", "--offline")).startswith("ok       schedule: crontab: ")
    # listen moved into the session is outside its window: doctor says so, naming listen
    installable.write_text(text.replace("40 3 * * 1-5", "40 4 * * 1-5"))
    line = schedule_line(cli("doctor", "--offline"))
    assert line.startswith("PROBLEM  schedule: crontab: listen next fires"), line


def test_every_sets_the_cadence_and_records_it(cli, installable, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    assert cli("schedule", "install", "--every", "5").code == 0
    verify = [line for line in cron_lines(installable) if " verify >> " in line]
    minutes = {int(m) for line in verify for m in line.split()[0].split(",")}
    assert minutes == set(range(0, 60, 5)), verify
    assert "every 5 minutes 09:15-15:15, and 15:30" in installable.read_text()
    db = open_db(tmp_path / "ordertrack.db")
    assert runs.cadence(db) == 5
    assert schedule_line(cli("doctor", "--offline")).startswith("ok       schedule: crontab: ")


def test_every_out_of_range_is_a_usage_error(cli, installable):
    for bad in ("0", "31", "x"):
        result = cli("schedule", "install", "--every", bad)
        assert result.code == 2 and "--every" in result.err


def test_the_installed_cadence_drives_overdue_and_report_slots(cli, broker, tmp_path):
    from ordertrack.core.trading_calendar import Calendar

    db = open_db(tmp_path / "ordertrack.db")
    day = datetime(2026, 12, 7, tzinfo=IST).date()  # a Monday
    period = periods.period(day, day.isoformat())
    now = datetime(2026, 12, 7, 20, 0, tzinfo=IST)
    calendar = Calendar(frozenset())
    before = [s for s in report_data.slots(db, period, calendar, now) if s["kind"] == "verify"]
    runs.record_cadence(db, 10)
    after = [s for s in report_data.slots(db, period, calendar, now) if s["kind"] == "verify"]
    # the one schedule definition (core/schedule_plan): 09:15 to 15:15 by the cadence, and 15:30
    assert (len(before), len(after)) == (14, 38)
    assert after[1]["label"] == "09:25"


def test_a_tighter_cadence_tightens_the_overdue_check(broker, tmp_path):
    import os

    from freezegun import freeze_time

    from ordertrack import config
    from ordertrack.jobs import runner

    settings = config.load(os.environ)
    db = open_db(tmp_path / "ordertrack.db")
    with freeze_time(datetime(2026, 12, 7, 10, 0, tzinfo=IST)):
        run_id = runs.begin(db, "verify", "cron")
        runs.finish(db, run_id, "ok", 0)
    with freeze_time(datetime(2026, 12, 7, 10, 20, tzinfo=IST)):
        assert runner.overdue(db, settings) == []  # 90 minutes for the default 30
        runs.record_cadence(db, 5)
        late = runner.overdue(db, settings)
    assert [o.command for o in late] == ["verify"]
