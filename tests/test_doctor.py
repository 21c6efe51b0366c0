"""`ordertrack doctor`: a healthy deployment passes every check (exit 0); each check, broken
alone, is the one line that says PROBLEM with its fix (exit 3)."""

import json
import os
import socket
import time
from email.utils import formatdate

import pytest

from ordertrack.errors import ExitCode
from ordertrack.jobs import schedule
from ordertrack.store.db import open_db
from tests import fake_telegram as fake
from tests.fake_host import fake_host
from tests.fake_ping import UUID
from tests.helpers import kotak_row, unwrapped

RUN_SETTINGS = ("ORDERTRACK_", "KOTAK_", "KITE_", "ANGEL_", "FYERS_", "TELEGRAM_")
CHECKS = [
    "settings",
    "database",
    "env file",
    "broker",
    "stream",
    "telegram",
    "telegram",
    "schedule",
    "clock",
    "ping",
]


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
    sourced(env_file)  # every setting the fixtures put in this shell, as a user would
    store = tmp_path / "crontab.txt"
    crontab = tmp_path / "bin" / "crontab"
    crontab.parent.mkdir()
    crontab.write_text(
        f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {store} 2>/dev/null || '
        f'{{ echo "no crontab for you" >&2; exit 1; }}; else cat > {store}; fi\n'
    )
    crontab.chmod(0o755)
    monkeypatch.setenv("ORDERTRACK_CRONTAB", str(crontab))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "sshd", "cron"))
    assert cli("schedule", "install").code == 0
    return {
        "env_file": env_file,
        "crontab": store,
        "broker": broker,
        "telegram": telegram,
        "ping": ping_server,
        "db": db_path,
    }


def sourced(env_file, **values):
    """Append these settings (default: every run setting in this shell) to the env file."""
    values = values or {
        k: v
        for k, v in os.environ.items()
        if k.startswith(RUN_SETTINGS) and k not in ("ORDERTRACK_CRONTAB", "ORDERTRACK_DB")
    }
    with env_file.open("a") as fh:
        fh.writelines(f"{k}={v}\n" for k, v in values.items())


def lines(result):
    """(label, check) of each check's first line; a long line wraps onto indented ones."""
    return [
        line.split(":", 1)[0].split(None, 1)
        for line in result.out.splitlines()
        if line and not line[0].isspace()
    ]


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
    sourced(deployment["env_file"], TELEGRAM_API_URL="http://127.0.0.1:9")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")  # shell and env file agree
    result = cli("doctor", "--offline")
    assert result.code == 0, result.out
    skipped = [c for w, c in lines(result) if w == "skipped"]
    assert skipped == ["broker", "stream", "telegram", "clock", "ping"]


def closed_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def break_settings(d, monkeypatch):
    sourced(d["env_file"], ORDERTRACK_BROKER="zerodha")


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


@pytest.mark.parametrize(
    ("breaker", "check", "says"),
    [
        (break_database, "database", "chmod 600"),
        (break_env_file, "env file", "chmod 600"),
        (break_broker, "broker", "holdings fetch failed"),
        (break_telegram, "telegram", "chat 1001"),
        (break_schedule, "schedule", "ordertrack schedule install"),
        (break_schedule_zone, "schedule", "outside market hours"),
        (break_ping, "ping", "HTTP 404"),
    ],
)
def test_each_check_failing_alone(cli, deployment, monkeypatch, breaker, check, says):
    breaker(deployment, monkeypatch)
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    problems = [line for line in unwrapped(result.out).splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1, result.out
    assert problems[0].startswith(f"PROBLEM  {check}: ") and says in problems[0]
    assert "— fix: " in problems[0]
    assert UUID not in result.out


def test_a_clock_off_by_minutes_fails_alone(cli, deployment, monkeypatch):
    """The Bot API server's Date says three minutes ago: this clock runs ahead."""
    late = formatdate(time.time() - 180, usegmt=True)
    monkeypatch.setattr(fake._Handler, "date_time_string", lambda self, ts=None: late)
    result = cli("doctor")
    problems = [line for line in unwrapped(result.out).splitlines() if line.startswith("PROBLEM")]
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


# ---- doctor sees what cron sees (issue 22 item 2) ----------------------------------------------


def shell_without_settings(monkeypatch):
    """A shell that has not sourced the env file: cron's situation."""
    for name in list(os.environ):
        if name.startswith(RUN_SETTINGS) and name != "ORDERTRACK_CRONTAB":
            monkeypatch.delenv(name)


def test_an_env_file_given_is_read_as_cron_reads_it(cli, tmp_path, monkeypatch, broker):
    env_file = tmp_path / "env"
    env_file.write_text(f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={broker.folder}\n")
    env_file.chmod(0o600)
    shell_without_settings(monkeypatch)
    result = cli("doctor", "--env-file", str(env_file), "--offline")
    assert (
        result.out.splitlines()[0] == f"ok       settings: loaded from {env_file} as cron "
        "reads it (broker file)"
    )


def test_the_installed_env_file_is_what_the_checks_read(cli, deployment, monkeypatch):
    """Telegram, broker, ping and database settings live only in the env file the crontab
    sources; this shell has none of them, and every check still passes."""
    shell_without_settings(monkeypatch)
    result = cli("doctor")
    assert result.code == 0, result.out
    assert "TELEGRAM_BOT_TOKEN is not set" not in result.out
    assert f"ok       database: {deployment['db']} " in result.out
    assert "ok       broker: file: order book" in result.out
    assert deployment["ping"].seen() == ["/log"]


def test_settings_only_in_the_shell_are_a_problem_named_without_values(
    cli, deployment, monkeypatch
):
    monkeypatch.setenv("KOTAK_MPIN", "918273")
    monkeypatch.setenv("ORDERTRACK_KOTAK_LOGIN_URL", "http://127.0.0.1:9/secret-path")
    for tool in ("ORDERTRACK_OUTPUT", "ORDERTRACK_DEBUG"):  # the tool's knobs, not settings
        monkeypatch.setenv(tool, "terminal" if tool.endswith("OUTPUT") else "1")
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    problems = [line for line in unwrapped(result.out).splitlines() if line.startswith("PROBLEM")]
    env_file = deployment["env_file"]
    assert problems == [
        f"PROBLEM  env file: KOTAK_MPIN, ORDERTRACK_KOTAK_LOGIN_URL set in your shell, missing "
        f"from the env file cron reads ({env_file}) — fix: add them to {env_file}, or unset "
        "them in your shell"
    ], result.out
    assert "918273" not in result.out and "secret-path" not in result.out


def test_a_setting_set_differently_in_the_shell_is_a_problem_named_without_values(
    cli, deployment, monkeypatch, tmp_path
):
    """The engine's shell pointing at another database than cron's would register orders cron
    never sees (found by a new-user run): a value that differs is a problem, like a missing one."""
    monkeypatch.setenv("ORDERTRACK_DB", str(tmp_path / "play" / "elsewhere.db"))
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    problems = [line for line in unwrapped(result.out).splitlines() if line.startswith("PROBLEM")]
    env_file = deployment["env_file"]
    assert problems == [
        f"PROBLEM  env file: ORDERTRACK_DB set differently in your shell and in the env file "
        f"cron reads ({env_file}): what you type uses other settings than the scheduled runs"
        " — fix: make it the same, or unset it in your shell"
    ], result.out
    assert "elsewhere.db" not in result.out


def test_an_env_file_other_than_the_installed_one_is_a_problem(cli, deployment, tmp_path):
    other = tmp_path / "other-env"
    other.write_text(deployment["env_file"].read_text())
    other.chmod(0o600)
    result = cli("doctor", "--env-file", str(other))
    assert result.code == ExitCode.CONFIG
    [line] = [line for line in unwrapped(result.out).splitlines() if line.startswith("PROBLEM")]
    assert line.startswith(
        f"PROBLEM  env file: {other} is checked, but the installed schedule "
        f"sources {deployment['env_file']}"
    ), line


def test_the_lines_database_option_is_the_database_checked(
    cli, deployment, db_path, monkeypatch, tmp_path
):
    """`ordertrack --db X schedule install` puts --db on the lines: ORDERTRACK_DB, set in this
    shell to another file, is then neither read nor missed."""
    env_file = deployment["env_file"]
    env_file.write_text(
        "".join(
            line + "\n"
            for line in env_file.read_text().splitlines()
            if not line.startswith("ORDERTRACK_DB=")
        )
    )
    assert cli("--db", str(db_path), "schedule", "install").code == 0
    monkeypatch.setenv("ORDERTRACK_DB", str(tmp_path / "scratch.db"))
    result = cli("doctor")
    assert result.code == 0, result.out
    assert f"ok       database: {db_path} " in result.out


def test_angel_and_fyers_settings_only_in_the_shell_are_named(cli, deployment, monkeypatch):
    monkeypatch.setenv("ANGEL_PIN", "4729")
    monkeypatch.setenv("FYERS_SECRET_KEY", "fyersSECRETk3y9Q")
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    out = unwrapped(result.out)
    assert "env file: ANGEL_PIN, FYERS_SECRET_KEY set in your shell, missing from" in out
    assert "4729" not in out and "fyersSECRETk3y9Q" not in out


def test_a_shell_home_that_is_not_crons_does_not_pass_for_the_schedules(
    cli, deployment, monkeypatch
):
    """Cron takes HOME from the passwd entry: under `sudo -E`, `su` without `-` or a changed
    HOME, the installed lines' default database is not the one this shell would open. Doctor
    said ok; it now names the database the runs will use, and why; install warns the same."""
    env_file = deployment["env_file"]
    kept = [x for x in env_file.read_text().splitlines() if not x.startswith("ORDERTRACK_DB=")]
    env_file.write_text("\n".join(kept) + "\n")
    monkeypatch.delenv("ORDERTRACK_DB", raising=False)
    home, passwd = os.environ["HOME"], schedule.passwd_home()
    assert passwd != home  # the test's HOME is a temporary folder
    theirs = f"{passwd}/.local/share/ordertrack/ordertrack.db"
    mine = f"{home}/.local/share/ordertrack/ordertrack.db"
    installed = cli("schedule", "install")
    assert installed.code == 0
    warned = " ".join(installed.err.split())
    assert f"cron's HOME is {passwd}, from the passwd entry, not this shell's {home}" in warned
    assert f"will use database {theirs}; set ORDERTRACK_DB={mine} in the env file" in warned
    assert not os.path.exists(theirs) or theirs == mine  # install never makes theirs
    line = next(
        x for x in unwrapped(cli("doctor", "--offline").out).splitlines() if "schedule:" in x
    )
    assert line.startswith(f"PROBLEM  schedule: crontab uses database {theirs}, not {mine}")
    assert f"(cron's HOME is {passwd}, from the passwd entry" in line
    assert f"fix: set ORDERTRACK_DB={mine} in {env_file}" in line
    monkeypatch.setattr(schedule, "passwd_home", lambda: home)  # a login shell: the same HOME
    assert cli("schedule", "install").err == ""
    line = next(
        x for x in unwrapped(cli("doctor", "--offline").out).splitlines() if "schedule:" in x
    )
    assert line.startswith("ok       schedule: crontab: "), line
