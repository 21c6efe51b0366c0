"""The schedule under a real cron daemon (Debian's `cron`): the lines `schedule install` writes
run `verify`, record the run and append to the log.

Whose crontab: root's, with a throw-away HOME. A fresh user cannot run this virtualenv when its
Python lives under /root (pyenv), so the test borrows root's crontab instead: it saves it first
and puts it back byte for byte afterwards (or removes it when there was none). The install
runs with `env -i` and the throw-away HOME, so nothing of the developer's settings leaks in;
cron itself runs the job with its own bare environment. Only the schedule fields are rewritten
(to every minute); the command is the installed one, byte for byte.
"""

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import (
    EXECUTABLE,
    BrokerFiles,
    running_cron,
    start_cron,
    stop_cron,
    write_crontab_seen,
)

pytestmark = pytest.mark.cron


def test_verify_runs_under_real_cron_from_the_installed_lines(cron_home):
    home = cron_home
    broker = BrokerFiles(home / "broker")
    broker.orders()  # "No Data": an empty day is still a recorded verify run
    env_file = home / ".config" / "ordertrack" / "env"
    env_file.parent.mkdir(parents=True)
    db = home / "data" / "ordertrack.db"
    env_file.write_text(
        f"ORDERTRACK_DB={db}\nORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={broker.folder}\n"
    )
    env_file.chmod(0o600)
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "USER": "root", "LOGNAME": "root"}
    installed = subprocess.run(
        [
            "env",
            "-i",
            *[f"{k}={v}" for k, v in clean.items()],
            str(EXECUTABLE),
            "schedule",
            "install",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert installed.returncode == 0, installed.stderr
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=True).stdout
    verify_lines = [
        line for line in crontab.splitlines() if not line.startswith("#") and " verify >> " in line
    ]
    assert verify_lines and "$" not in crontab  # nothing for cron to expand
    fields, command = verify_lines[0].split(None, 5)[:5], verify_lines[0].split(None, 5)[5]
    assert str(EXECUTABLE) in command and str(env_file) in command
    every_minute = crontab.replace(verify_lines[0], f"* * * * *  {command}")
    every_minute = "\n".join(
        line for line in every_minute.splitlines() if line.startswith(("#", "* * * * *"))
    )  # one job only
    write_crontab_seen(every_minute + "\n")
    log = db.parent / "ordertrack.log"
    deadline, runs = time.monotonic() + 135, []
    while time.monotonic() < deadline:
        if db.exists() and log.exists():
            try:  # the run may be creating the database at this very moment
                with sqlite3.connect(db) as conn:
                    runs = conn.execute(
                        "SELECT outcome FROM runs WHERE command = 'verify' AND outcome != 'running'"
                    ).fetchall()
            except sqlite3.OperationalError:
                runs = []
            if runs and log.read_text().strip():
                break
        time.sleep(2)
    assert runs, (
        f"cron did not run verify within two minutes (fields were {fields}); "
        f"log: {log.read_text() if log.exists() else 'none'}; crontab: {every_minute}"
    )
    assert runs[0][0] == "ok"
    text = log.read_text()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30 verify Verify", text), text


def _as_cron_would(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "USER": "root", "LOGNAME": "root"}
    return subprocess.run(
        ["env", "-i", *[f"{k}={v}" for k, v in clean.items()], str(EXECUTABLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _schedule_line(doctor: subprocess.CompletedProcess[str]) -> str:
    """doctor's schedule line, without the log prefix (stdout is not a terminal)."""
    return next(
        m.group(0)
        for line in doctor.stdout.splitlines()
        if (m := re.search(r"(ok|PROBLEM) +schedule: .*", line))
    )


def test_install_and_doctor_see_whether_a_cron_daemon_runs(root_crontab):
    """Issue 22 item 1, with the real daemon: absent, install warns and doctor says PROBLEM with
    the fix (no sudo: this is root); started, both are quiet about it. When a cron daemon was
    already running before the test, only the second half can be seen."""
    home = root_crontab
    env_file = home / ".config" / "ordertrack" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(f"ORDERTRACK_DB={home / 'ot.db'}\nORDERTRACK_BROKER=file\n")
    env_file.chmod(0o600)
    started = None
    try:
        if not running_cron():
            installed = _as_cron_would(home, "schedule", "install")
            assert installed.returncode == 0, installed.stderr
            assert "ordertrack: no cron daemon is running" in installed.stderr
            assert "sudo" not in installed.stderr and len(installed.stderr.splitlines()) == 1
            line = _schedule_line(_as_cron_would(home, "doctor", "--offline"))
            assert line.startswith("PROBLEM  schedule: crontab: no cron daemon is running"), line
            assert "cron start" in line or "enable --now cron" in line
            started = start_cron()
        installed = _as_cron_would(home, "schedule", "install")
        assert installed.returncode == 0 and installed.stderr == "", installed.stderr
        line = _schedule_line(_as_cron_would(home, "doctor", "--offline"))
        assert line.startswith("ok       schedule: crontab: ") and "cron running (pid" in line, line
    finally:
        if started is not None:
            stop_cron(started)
