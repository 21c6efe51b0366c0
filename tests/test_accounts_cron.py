"""Issue 29 end to end under a real cron daemon: three accounts on the file broker and one
loopback Telegram; `schedule install --all-accounts` writes their staggered blocks, cron runs each
account's verify, one account's broker fails while the other two carry on, and the combined
report opens in headless Chromium.

As tests/test_schedule_cron.py: root's crontab is borrowed (saved, then put back byte for byte),
the install runs under `env -i` with a throw-away HOME, only the schedule fields are rewritten
(to every minute) and the commands are the installed ones, `sleep N;` stagger included."""

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import (
    CHROMIUM,
    EXECUTABLE,
    BrokerFiles,
    browser_errors,
    chromium,
    kotak_row,
    write_crontab_seen,
)

pytestmark = pytest.mark.cron
NAMES = ("alpha", "beta", "gamma")  # beta's broker fails
CHATS = {"alpha": "1001", "beta": "1002", "gamma": "1003"}


def _clean(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "USER": "root", "LOGNAME": "root"}


def _ot(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["env", "-i", *[f"{k}={v}" for k, v in _clean(home).items()], str(EXECUTABLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _db(home: Path, name: str) -> Path:
    return home / ".local" / "share" / "ordertrack" / "accounts" / name / f"{name}.db"


def _verify_runs(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT outcome FROM runs WHERE command = 'verify' AND outcome != 'running'"
                " AND trigger = 'cron'"
            ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [r[0] for r in rows]


def _set_up(home: Path, telegram) -> None:
    for n, name in enumerate(NAMES, 1):
        added = _ot(home, "accounts", "add", name, "--broker", "file")
        assert added.returncode == 0, added.stderr
        broker = BrokerFiles(home / f"broker-{name}")
        order_id = f"26110000000000{n}"
        if name == "beta":
            broker.write("orders.json", {"stat": "Not_Ok", "stCode": 1005, "errMsg": "down"})
        else:
            broker.orders(kotak_row(order_id, "complete", filled=100, avg="10.00"))
        env_file = home / ".config" / "ordertrack" / "accounts" / f"{name}.env"
        env_file.write_text(
            f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={broker.folder}\n"
            f"TELEGRAM_BOT_TOKEN={telegram.token}\nTELEGRAM_CHAT_ID={CHATS[name]}\n"
            f"TELEGRAM_API_URL={telegram.url}\n"
        )
        registered = _ot(
            home,
            "--account",
            name,
            "pending",
            "add",
            order_id,
            "--symbol",
            "INFY",
            "--side",
            "buy",
            "--qty",
            "100",
        )
        assert registered.returncode == 0, registered.stderr
        assert _ot(home, "--account", name, "outbox", "flush").returncode == 0


def _every_minute(crontab: str) -> str:
    """Each account's verify line fires every minute (its stagger kept); nothing else runs."""
    kept = []
    for line in crontab.splitlines():
        if line.startswith("#"):
            kept.append(line)
        elif " verify >> " in line and line.split(None, 5)[5] not in {
            k.split(None, 5)[5] for k in kept if not k.startswith("#")
        }:
            kept.append(f"* * * * *  {line.split(None, 5)[5]}")
    return "\n".join(kept) + "\n"


def test_three_accounts_under_real_cron_one_failing(cron_home, telegram, tmp_path):
    home = cron_home
    _set_up(home, telegram)
    installed = _ot(home, "schedule", "install", "--all-accounts")
    assert installed.returncode == 0 and installed.stderr == "", installed.stderr
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=True).stdout
    for name in NAMES:
        assert f"# >>> ordertrack:{name} >>>" in crontab
    assert "sleep 5; " in crontab and "sleep 10; " in crontab and "$" not in crontab
    every_minute = _every_minute(crontab)
    assert every_minute.count("* * * * *") == 3, every_minute
    write_crontab_seen(every_minute)
    deadline = time.monotonic() + 150
    runs: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        runs = {name: _verify_runs(_db(home, name)) for name in NAMES}
        # a run's row is finished before its outbox is delivered: wait for every chat too
        if all(runs.values()) and all(telegram.texts(CHATS[name]) for name in NAMES):
            break
        time.sleep(2)
    assert all(runs.values()), f"cron did not run every account's verify: {runs}; {every_minute}"
    assert runs["alpha"][0] == "ok" and runs["gamma"][0] == "ok", runs
    assert runs["beta"][0] == "failed", runs
    # each account's notifications went to its own chat, and only there
    alpha, beta, gamma = (" ".join(telegram.texts(CHATS[n])) for n in NAMES)
    assert "261100000000001" in alpha and "261100000000003" not in alpha
    assert "261100000000003" in gamma and "261100000000001" not in gamma
    assert "broker unavailable" in beta and "261100000000001" not in beta
    for name in NAMES:
        log = _db(home, name).parent / "ordertrack.log"
        assert log.is_file() and "verify" in log.read_text()
    status = _ot(home, "status", "--all-accounts", "--json")
    rows = json.loads(status.stdout)
    assert [r["account"] for r in rows] == list(NAMES)
    reinstalled = _ot(home, "schedule", "install", "--all-accounts")  # the real lines again
    assert reinstalled.returncode == 0, reinstalled.stderr
    doctor = _ot(home, "doctor", "--all-accounts", "--offline", "--json")
    checks = {
        a["account"]: next(c for c in a["checks"] if c["check"] == "schedule")
        for a in json.loads(doctor.stdout)["accounts"]
    }
    assert all(c["ok"] and "staggered" in c["detail"] for c in checks.values()), checks
    _combined_report_in_chromium(home, tmp_path)


def _combined_report_in_chromium(home: Path, tmp_path: Path) -> None:
    page = tmp_path / "all.html"
    written = _ot(home, "report", "--all-accounts", "--out", str(page))
    assert written.returncode == 0, written.stderr
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it): the page was not opened")
    shown = chromium(page, tmp_path / "profile", "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    assert ">All accounts</h2>" in dom
    positions = [dom.index(f">Account {name}</h2>") for name in NAMES]
    assert positions == sorted(positions)
    assert dom.index(">All accounts</h2>") < positions[0]
    assert browser_errors(shown.stderr) == []
