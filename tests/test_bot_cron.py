"""Issue 27 under a real cron daemon: `[bot] enabled = true`, `schedule install` writes the
every-minute `bot` line, and cron's own run answers a `/status` sent before it, once.

As tests/test_schedule_cron.py: root's crontab is borrowed (saved, then put back byte for byte),
the install runs under `env -i` with a throw-away HOME, and the line cron runs is the installed
one, unchanged (only the market-hours lines are left out, so nothing else runs). The settings
file and the database are named by absolute paths: cron sets HOME from the passwd entry (/root
here), not the throw-away HOME, so `~/…` or the default database would be root's own (an early
version of this test left its bot state in /root's default database, and the next run's poll
confirmed the fresh fake's update away with that stale offset). test_schedule.py checks `~`
against sh."""

import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import EXECUTABLE, BrokerFiles, write_crontab_seen

pytestmark = pytest.mark.cron


def _ot(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "USER": "root", "LOGNAME": "root"}
    return subprocess.run(
        ["env", "-i", *[f"{k}={v}" for k, v in clean.items()], str(EXECUTABLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cron_runs_the_bot_line_and_answers_once(cron_home, telegram):
    home = cron_home
    broker = BrokerFiles(home / "broker")
    broker.orders()
    folder = home / ".config" / "ordertrack"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("[bot]\nenabled = true\n")
    env_file = folder / "env"
    env_file.write_text(
        f"ORDERTRACK_CONFIG={folder / 'config.toml'}\nORDERTRACK_DB={home / 'ot.db'}\n"
        f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={broker.folder}\n"
        f"TELEGRAM_BOT_TOKEN={telegram.token}\nTELEGRAM_CHAT_ID=1001\n"
        f"TELEGRAM_API_URL={telegram.url}\n"
    )
    env_file.chmod(0o600)
    installed = _ot(home, "schedule", "install")
    assert installed.returncode == 0, installed.stderr
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=True).stdout
    bot_lines = [line for line in crontab.splitlines() if " bot >> " in line]
    assert len(bot_lines) == 1 and bot_lines[0].startswith("* * * * * "), crontab
    doctor = _ot(home, "doctor", "--offline")
    schedule_line = next(x for x in doctor.stdout.splitlines() if " schedule: " in x)
    assert " doctor ok " in schedule_line, doctor.stdout
    telegram.say(1001, "/status")
    write_crontab_seen(
        "\n".join(x for x in crontab.splitlines() if x.startswith("#") or x in bot_lines) + "\n"
    )
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not telegram.texts("1001"):
        time.sleep(1)
    answers = telegram.texts("1001")
    log = home / ".local" / "share" / "ordertrack" / "ordertrack.log"
    said = log.read_text() if log.exists() else "(no log)"
    methods = [c["method"] for c in telegram.calls]
    assert answers, f"no answer from the bot line: {bot_lines[0]}\nlog: {said}\ncalls: {methods}"
    assert answers[0].startswith("ordertrack status") and "Broker: file;" in answers[0], answers[0]
    time.sleep(3)
    assert len(telegram.texts("1001")) == 1  # answered once
    assert (home / "ot.db").is_file() and (home / "ot.db.bot-lock").exists()  # its own state
    assert "Traceback" not in (log.read_text() if log.exists() else "")
