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


def test_install_leaves_listen_out_for_brokers_without_a_stream(
    cli, installable, tmp_path, monkeypatch
):
    """Angel One and Fyers have no push stream here: their schedule is the verify lines (the
    broker is the one the env file names, as cron will run it)."""
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    env_file = tmp_path / "home" / ".config" / "ordertrack" / "env"
    base = env_file.read_text()
    for name, listens in (("angel", False), ("fyers", False), ("kite", True), ("file", True)):
        env_file.write_text(base + f"ORDERTRACK_BROKER={name}\n")
        monkeypatch.setenv("ORDERTRACK_BROKER", name)  # the shell agrees with the env file
        assert cli("schedule", "install").code == 0
        lines = cron_lines(installable)
        assert any(" listen >> " in line for line in lines) is listens, (name, lines)
        assert any(" verify >> " in line for line in lines)
        printed = cli("schedule", "print").out
        assert (" listen >> " in printed) is listens, name


def test_doctor_wants_listen_only_where_the_broker_pushes(cli, installable, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    env_file = tmp_path / "home" / ".config" / "ordertrack" / "env"
    base = env_file.read_text()
    env_file.write_text(base + "ORDERTRACK_BROKER=angel\n")
    monkeypatch.setenv("ORDERTRACK_BROKER", "angel")
    assert cli("schedule", "install").code == 0
    assert schedule_line(cli("doctor", "--offline")).startswith("ok       schedule: crontab: ")
    # a listen line left from a broker that pushed: doctor says to re-install
    env_file.write_text(base)
    monkeypatch.delenv("ORDERTRACK_BROKER")
    assert cli("schedule", "install").code == 0
    env_file.write_text(base + "ORDERTRACK_BROKER=angel\n")
    monkeypatch.setenv("ORDERTRACK_BROKER", "angel")
    line = schedule_line(cli("doctor", "--offline"))
    assert line.startswith("PROBLEM  schedule: crontab runs listen, but the angel broker"), line


def test_systemd_install_writes_no_listen_units_without_a_stream(
    cli, installable, tmp_path, monkeypatch
):
    env_file = tmp_path / "home" / ".config" / "ordertrack" / "env"
    base = env_file.read_text()
    assert cli("schedule", "install", "--systemd").code == 0
    folder = schedule.systemd_dir()
    assert (folder / "ordertrack-listen.timer").exists()
    env_file.write_text(base + "ORDERTRACK_BROKER=fyers\n")
    monkeypatch.setenv("ORDERTRACK_BROKER", "fyers")
    result = cli("schedule", "install", "--systemd")
    assert result.code == 0
    assert not (folder / "ordertrack-listen.timer").exists()
    assert not (folder / "ordertrack-listen.service").exists()
    assert "ordertrack-listen" not in result.out and "Wrote 6 units" in result.out


def test_a_plugin_has_a_stream_only_when_its_class_declares_one(monkeypatch):
    from ordertrack import plugins
    from ordertrack.broker import stream

    class Polled:
        @classmethod
        def from_settings(cls, settings, db): ...

    class Pushing(Polled):
        @classmethod
        def order_stream(cls, settings, db, timing): ...

    monkeypatch.setattr(plugins, "load", lambda name: {"polled": Polled, "pushing": Pushing}[name])
    assert stream.has_stream("pushing") and not stream.has_stream("polled")
    assert [stream.has_stream(n) for n in ("kotak", "kite", "file", "angel", "fyers")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_listen_for_a_broker_without_a_stream_is_one_clear_line(cli, monkeypatch, db_path):
    monkeypatch.setenv("ORDERTRACK_BROKER", "angel")
    result = cli("listen", "--until", "23:59")
    assert not db_path.exists()  # said before any database is made
    if "already passed" in result.err:
        return  # after 23:59 IST: nothing to show
    assert result.code == 3, result.err
    assert result.err.strip().endswith(
        "listen: the angel broker has no order-update stream here; cron's verify lines poll its"
        " order book (schedule install --every N sets how often; docs/listen.md)"
    )
    assert "Traceback" not in result.err
