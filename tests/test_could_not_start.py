"""A scheduled run that cannot start is not silent (issue 22 item 3): a configuration error or
an unusable database still pings /<exit code>, records the run where the database opens, and
alerts Telegram once per reason per IST day (through the outbox, or directly with a state file
when there is no database). A lock held by another run stays quiet: that is normal."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.jobs import unstarted
from tests.fake_telegram import TOKEN, assert_no_token
from tests.test_overlap import take_lock

NOW = "2026-12-07T04:00:02Z"  # 09:30:02 IST, a Monday
LATER = "2026-12-07T04:05:02Z"
NEXT_DAY = "2026-12-08T04:00:02Z"


@pytest.fixture
def monitored(monkeypatch, ping_server):
    monkeypatch.setenv("ORDERTRACK_PING_URL", ping_server.url)
    return ping_server


def alerts(telegram):
    return [m["text"] for m in telegram.messages if "could not start" in m["text"]]


def test_a_gone_broker_folder_pings_3_records_the_run_and_alerts_once(
    cli, broker, fresh_db, sql, monitored, telegram
):
    shutil.rmtree(broker.folder, ignore_errors=True)
    with freeze_time(NOW, tick=True):
        first = cli("verify")
    with freeze_time(LATER, tick=True):
        second = cli("verify")
        status = cli("status", "--json")
    assert first.code == second.code == ExitCode.CONFIG
    assert "is not a folder" in first.err and first.err.count("\n") == 1
    assert monitored.seen() == ["/start", "/3", "/start", "/3"]
    assert sql("SELECT command, outcome, exit_code FROM runs") == [("verify", "failed", 3)] * 2
    verify = next(r for r in json.loads(status.out)["runs"] if r["command"] == "verify")
    assert verify["outcome"] == "failed" and "is not a folder" in verify["error"]
    assert len(alerts(telegram)) == 1  # one per reason per day, not one per run
    assert f"verify could not start: ORDERTRACK_BROKER_DIR {broker.folder}" in alerts(telegram)[0]
    assert sql("SELECT count(*) FROM outbox WHERE key LIKE 'could-not-start:%'") == [(1,)]
    assert_no_token(first.out, first.err, status.out, db_path=fresh_db)


def test_the_same_reason_alerts_again_the_next_day_and_another_reason_at_once(
    cli, broker, fresh_db, telegram, tmp_path, monkeypatch
):
    shutil.rmtree(broker.folder, ignore_errors=True)
    with freeze_time(NOW, tick=True):
        cli("verify")
        cli("reconcile")  # the same reason, met by another command: no second alert
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(tmp_path / "elsewhere"))
    with freeze_time(LATER, tick=True):
        cli("eod")
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(broker.folder))
    with freeze_time(NEXT_DAY, tick=True):
        cli("verify")
    sent = alerts(telegram)
    assert len(sent) == 3, sent
    assert "verify could not start" in sent[0] and "eod could not start" in sent[1]
    assert "elsewhere" in sent[1] and str(broker.folder) in sent[2]


def test_a_bad_toml_still_pings_the_url_it_names_and_records_the_run(
    cli, broker, fresh_db, sql, ping_server, telegram, tmp_path
):
    config = tmp_path / "ordertrack.toml"
    config.write_text(f'[health]\nping_url = "{ping_server.url}"\n[verify]\nmisssing_runs = 3\n')
    with freeze_time(NOW, tick=True):
        result = cli("--config", str(config), "verify")
    assert result.code == ExitCode.CONFIG
    assert "unknown setting verify.misssing_runs" in result.err
    assert ping_server.seen() == ["/start", "/3"]
    assert sql("SELECT outcome, exit_code, error LIKE '%misssing_runs%' FROM runs") == [
        ("failed", 3, 1)
    ]
    assert len(alerts(telegram)) == 1


def test_a_toml_that_does_not_parse_sends_to_the_environments_ping_url(
    cli, broker, fresh_db, sql, monitored, telegram, tmp_path
):
    config = tmp_path / "ordertrack.toml"
    config.write_text("[verify\n")
    with freeze_time(NOW, tick=True):
        result = cli("--config", str(config), "eod")
    assert result.code == ExitCode.CONFIG
    assert monitored.seen() == ["/start", "/3"]
    assert sql("SELECT command, outcome FROM runs") == [("eod", "failed")]
    assert len(alerts(telegram)) == 1 and "eod could not start: config file" in alerts(telegram)[0]


def test_an_unusable_database_alerts_directly_once_and_remembers_it_in_a_state_file(
    cli, broker, db_path, monitored, telegram
):
    broker.orders()
    db_path.write_bytes(b"this is not a database, it is a text file" * 100)
    with freeze_time(NOW, tick=True):
        first = cli("verify")
    with freeze_time(LATER, tick=True):
        second = cli("verify")
    assert first.code == second.code == ExitCode.DATABASE
    assert monitored.seen() == ["/start", "/7", "/start", "/7"]
    assert len(alerts(telegram)) == 1
    assert "verify could not start: " in alerts(telegram)[0]
    state = db_path.parent / unstarted.STATE_NAME  # no log: the database's folder
    assert json.loads(state.read_text())["sent"][0].startswith("could-not-start:2026-12-07:")
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert db_path.read_bytes().startswith(b"this is not a database")  # nothing lost


def test_a_config_error_without_a_usable_database_alerts_directly_once(
    cli, broker, db_path, tmp_path, monitored, telegram
):
    db_path.write_bytes(b"garbage" * 1000)
    config = tmp_path / "c.toml"
    config.write_text("[nonsense]\n")
    with freeze_time(NOW, tick=True):
        first = cli("--config", str(config), "verify")
        second = cli("--config", str(config), "reconcile")
    assert first.code == second.code == ExitCode.CONFIG
    assert monitored.seen() == ["/start", "/3", "/start", "/3"]
    assert len(alerts(telegram)) == 1 and "unknown section [nonsense]" in alerts(telegram)[0]
    assert (db_path.parent / unstarted.STATE_NAME).exists()
    with freeze_time(NEXT_DAY, tick=True):
        cli("--config", str(config), "verify")
    assert len(alerts(telegram)) == 2  # a new day: said again


def test_a_held_lock_is_normal_and_sends_nothing(
    cli, broker, db_path, sql, tmp_path, monitored, telegram
):
    config = tmp_path / "c.toml"
    config.write_text("[lock]\nwait_seconds = 0\n")
    shutil.rmtree(broker.folder, ignore_errors=True)  # even with a broken broker folder
    with freeze_time(NOW, tick=True):
        take_lock(db_path, os.getppid())
        result = cli("--config", str(config), "verify")
    assert result.code == ExitCode.LOCKED
    assert sql("SELECT outcome FROM runs") == [("locked",)]
    assert sql("SELECT count(*) FROM outbox") == [(0,)]
    assert telegram.messages == []
    assert monitored.seen() == ["/start", "/5"]


def test_alerts_off_sends_no_could_not_start_alert(cli, broker, db_path, tmp_path, telegram):
    db_path.write_bytes(b"garbage" * 1000)
    config = tmp_path / "c.toml"
    config.write_text('[notify]\nalerts = "off"\n')
    with freeze_time(NOW, tick=True):
        result = cli("--config", str(config), "verify")
    assert result.code == ExitCode.DATABASE
    assert telegram.messages == []


def test_the_state_file_sits_beside_the_log_cron_appends_to(broker, db_path, tmp_path, telegram):
    db_path.write_bytes(b"garbage" * 1000)
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / "ordertrack.log", "ab") as log:
        done = subprocess.run(
            [sys.executable, "-m", "ordertrack", "verify"],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    assert done.returncode == ExitCode.DATABASE
    assert (logs / unstarted.STATE_NAME).exists()
    assert not (db_path.parent / unstarted.STATE_NAME).exists()
    assert len(alerts(telegram)) == 1
    assert TOKEN.split(":")[1] not in (logs / "ordertrack.log").read_text()
