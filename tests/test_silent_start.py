"""A run that cannot start is not silent, under a real cron daemon (issue 22 item 3): the
schedule is installed with the file broker, the broker folder disappears (a mount gone), and
cron's verify still records its run (status --json shows it), pings the loopback monitor /3 and
queues one alert in the outbox.

The crontab, the throw-away HOME and the cron daemon are handled as in test_schedule_cron.py
(root's crontab saved and restored byte for byte); only the verify line is kept, set to every
minute, so the test waits for the next minute boundary and no longer.
"""

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import EXECUTABLE, BrokerFiles, write_crontab_seen

pytestmark = pytest.mark.cron


def _cron_states() -> dict[int, str]:
    found = subprocess.run(["pgrep", "-x", "cron"], capture_output=True, text=True).stdout
    states = {}
    for pid in map(int, found.split()):
        try:
            states[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
    return states


@pytest.fixture
def no_dying_cron() -> None:
    """A cron daemon the previous cron test stopped may still be exiting (or a zombie not yet
    reaped): cron_home would take it for a running one and start none, and nothing would run.
    Wait until every cron process left is alive and stays so."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        before = {pid for pid, state in _cron_states().items() if state not in "ZX"}
        time.sleep(0.5)
        after = _cron_states()
        if all(state not in "ZX" for state in after.values()) and set(after) == before:
            return
    pytest.fail(f"a stopped cron daemon did not go away: {_cron_states()}")


def _every_minute(crontab: str) -> str:
    """The installed verify line, byte for byte, with its schedule fields set to every minute."""
    line = next(
        line for line in crontab.splitlines() if not line.startswith("#") and " verify >> " in line
    )
    command = line.split(None, 5)[5]
    kept = [
        entry
        for entry in crontab.replace(line, f"* * * * *  {command}").splitlines()
        if entry.startswith(("#", "* * * * *"))
    ]
    return "\n".join(kept) + "\n"


def _finished_runs(db) -> list[tuple]:
    if not db.exists():
        return []
    try:  # the run may be creating the database at this very moment
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT outcome, exit_code, error FROM runs WHERE command ="
                " 'verify' AND outcome != 'running'"
            ).fetchall()
    except sqlite3.OperationalError:
        return []


def test_cron_verify_with_the_broker_folder_gone_is_recorded_pinged_and_alerted(
    no_dying_cron, cron_home, ping_server
):
    home = cron_home
    broker = BrokerFiles(home / "broker")
    broker.orders()
    env_file = home / ".config" / "ordertrack" / "env"
    env_file.parent.mkdir(parents=True)
    db = home / "data" / "ordertrack.db"
    env_file.write_text(
        f"ORDERTRACK_DB={db}\nORDERTRACK_BROKER=file\n"
        f"ORDERTRACK_BROKER_DIR={broker.folder}\n"
        f"ORDERTRACK_PING_URL={ping_server.url}\n"
    )
    env_file.chmod(0o600)
    clean = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={home}", "USER=root", "LOGNAME=root"]
    installed = subprocess.run(
        [*clean, str(EXECUTABLE), "schedule", "install"], capture_output=True, text=True, timeout=60
    )
    assert installed.returncode == 0, installed.stderr
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=True).stdout
    write_crontab_seen(_every_minute(crontab))
    for path in broker.folder.rglob("*"):  # the mount is gone
        if path.is_file():
            path.unlink()
    for path in sorted(broker.folder.rglob("*"), reverse=True):
        path.rmdir()
    broker.folder.rmdir()

    log = db.parent / "ordertrack.log"
    deadline, runs = time.monotonic() + 135, []
    while time.monotonic() < deadline and not (runs and "/3" in ping_server.seen()):
        runs = _finished_runs(db)
        time.sleep(0.5)
    assert runs, (
        f"cron did not run verify within two minutes; log: "
        f"{log.read_text() if log.exists() else 'none'}"
    )
    assert runs[0][:2] == ("failed", 3) and "is not a folder" in runs[0][2]
    assert ping_server.seen()[:2] == ["/start", "/3"]

    status = subprocess.run(
        [*clean, str(EXECUTABLE), "--db", str(db), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    verify = next(r for r in json.loads(status.stdout)["runs"] if r["command"] == "verify")
    assert (verify["outcome"], verify["exit_code"]) == ("failed", 3)
    with sqlite3.connect(db) as conn:
        alerts = conn.execute(
            "SELECT kind, payload FROM outbox WHERE key LIKE 'could-not-start:%'"
        ).fetchall()
    assert len(alerts) == 1 and alerts[0][0] == "SYSTEM_ALERT"
    assert "verify could not start: ORDERTRACK_BROKER_DIR" in json.loads(alerts[0][1])["text"]
    text = log.read_text()
    assert "is not a folder" in text and "Traceback" not in text
    assert ping_server.url.split("/ping/")[1] not in text  # the check's uuid is a secret
