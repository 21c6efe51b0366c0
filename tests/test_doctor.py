"""`ordertrack doctor`: a healthy deployment passes every check (exit 0); each check, broken
alone, is the one line that says PROBLEM with its fix (exit 3)."""

import json
import re
import socket
import time
from email.utils import formatdate

import pytest

from ordertrack.errors import ExitCode
from ordertrack.store.db import open_db
from tests import fake_telegram as fake
from tests.fake_ping import UUID, ping_server  # noqa: F401 (fixture)
from tests.fake_telegram import telegram  # noqa: F401 (fixture)
from tests.helpers import kotak_row

CHECKS = ["settings", "database", "env file", "broker", "telegram", "telegram", "schedule",
          "clock", "ping"]


@pytest.fixture
def deployment(tmp_path, monkeypatch, broker, telegram, ping_server, db_path, cli):
    """Everything right: database, env file, broker folder, Telegram, ping, crontab."""
    broker.orders(kotak_row("1", "complete", filled=100, avg="10.00"))
    broker.write("holdings.json", {"data": []})
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
    open_db(db_path).close()
    monkeypatch.setenv("ORDERTRACK_PING_URL", ping_server.url)
    home = tmp_path / "home"
    env_file = home / ".config" / "ordertrack" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(f"ORDERTRACK_DB={db_path}\n")
    env_file.chmod(0o600)
    store = tmp_path / "crontab.txt"
    crontab = tmp_path / "bin" / "crontab"
    crontab.parent.mkdir()
    crontab.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {store} 2>/dev/null || '
                       f'{{ echo "no crontab for you" >&2; exit 1; }}; else cat > {store}; fi\n')
    crontab.chmod(0o755)
    monkeypatch.setenv("ORDERTRACK_CRONTAB", str(crontab))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    assert cli("schedule", "install").code == 0
    return {"env_file": env_file, "crontab": store, "broker": broker, "telegram": telegram,
            "ping": ping_server, "db": db_path}


def lines(result):
    return [line.split(":", 1)[0].split(None, 1) for line in result.out.splitlines()]


def test_a_healthy_deployment_passes_every_check(cli, deployment):
    result = cli("doctor")
    assert result.code == 0, result.out + result.err
    assert [w for w, _ in lines(result)] == ["ok"] * len(CHECKS)
    assert [c for _, c in lines(result)] == CHECKS
    assert deployment["ping"].seen() == ["/log"]  # not a success signal
    assert deployment["telegram"].sends() == []  # nothing sent without --send
    assert UUID not in result.out


def test_json_lists_every_check(cli, deployment):
    result = cli("doctor", "--json")
    data = json.loads(result.out)
    assert data["ok"] is True and [c["check"] for c in data["checks"]] == CHECKS


def test_send_sends_a_real_test_message(cli, deployment):
    assert cli("doctor", "--send").code == 0
    assert len(deployment["telegram"].sends()) == 1


def test_offline_skips_the_network(cli, deployment, monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")
    result = cli("doctor", "--offline")
    assert result.code == 0, result.out
    skipped = [c for w, c in lines(result) if w == "skipped"]
    assert skipped == ["broker", "telegram", "clock", "ping"]


def closed_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def break_settings(d, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_BROKER", "zerodha")


def break_database(d, monkeypatch):
    d["db"].chmod(0o644)


def break_env_file(d, monkeypatch):
    d["env_file"].chmod(0o640)


def break_broker(d, monkeypatch):
    d["broker"].write("holdings.json", "<html>502</html>")


def break_telegram(d, monkeypatch):
    d["telegram"].chats["1001"] = fake.error(400, "Bad Request: chat not found")


def break_schedule(d, monkeypatch):
    d["crontab"].write_text("5 4 * * * backup.sh\n")


def break_schedule_zone(d, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # the host moved; the lines did not


def break_ping(d, monkeypatch):
    d["ping"].status = 404


@pytest.mark.parametrize(("breaker", "check", "says"), [
    (break_database, "database", "chmod 600"),
    (break_env_file, "env file", "chmod 600"),
    (break_broker, "broker", "holdings fetch failed"),
    (break_telegram, "telegram", "chat 1001"),
    (break_schedule, "schedule", "ordertrack schedule install"),
    (break_schedule_zone, "schedule", "outside market hours"),
    (break_ping, "ping", "HTTP 404"),
])
def test_each_check_failing_alone(cli, deployment, monkeypatch, breaker, check, says):
    breaker(deployment, monkeypatch)
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    shown = re.sub(r"\n {9}(?=\S)", " ", result.out)  # a check wraps under itself on a terminal
    problems = [line for line in shown.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1, result.out
    assert problems[0].startswith(f"PROBLEM  {check}: ") and says in problems[0]
    assert "— fix: " in problems[0]
    assert UUID not in result.out


def test_a_clock_off_by_minutes_fails_alone(cli, deployment, monkeypatch):
    """The Bot API server's Date says three minutes ago: this clock runs ahead."""
    late = formatdate(time.time() - 180, usegmt=True)
    monkeypatch.setattr(fake._Handler, "date_time_string", lambda self, ts=None: late)
    result = cli("doctor")
    problems = [line for line in result.out.splitlines() if line.startswith("PROBLEM")]
    assert result.code == ExitCode.CONFIG and len(problems) == 1, result.out
    assert problems[0].startswith("PROBLEM  clock: this clock is +18")


def test_settings_that_do_not_load_fail_and_the_rest_is_skipped(cli, deployment, monkeypatch):
    break_settings(deployment, monkeypatch)
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    assert result.out.splitlines()[0].startswith("PROBLEM  settings: ORDERTRACK_BROKER")


def test_the_env_file_checked_is_the_one_the_schedule_sources(cli, deployment, tmp_path):
    elsewhere = tmp_path / "etc-ordertrack.env"
    elsewhere.write_text(deployment["env_file"].read_text())
    elsewhere.chmod(0o600)
    deployment["env_file"].unlink()
    assert cli("schedule", "install", "--env-file", str(elsewhere)).code == 0
    result = cli("doctor")
    assert result.code == 0, result.out
    assert f"env file: {elsewhere} (0600)" in result.out
