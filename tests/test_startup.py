"""Start-up (issue 15): the commands an engine and cron call most import only what they use."""

import json
import subprocess
import sys

import pytest

# pydantic: Typer 0.29 and later convert every parameter through it (~80 ms a call); the
# dependency is capped below 0.29 for that reason.
HEAVY = ("rich", "requests", "sqlite_utils", "pydantic", "ordertrack.notify.delivery",
         "ordertrack.broker", "websockets")
PROBE = """
import json, sys
from ordertrack.cli.app import run
code = run(sys.argv[1:])
heavy = sorted(m for m in {heavy} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


def loaded(env: dict, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], env=env,
                            capture_output=True, text=True, check=False)
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture
def env(db_path, monkeypatch):
    import os

    return {**os.environ, "ORDERTRACK_DB": str(db_path), "ORDERTRACK_OUTPUT": "log"}


@pytest.mark.parametrize("args", [
    ["--version"], ["--help"],
    ["pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1"],
])
def test_hot_commands_import_only_what_they_use(env, args):
    subprocess.run([sys.executable, "-m", "ordertrack", "track", "list"], env=env,
                   capture_output=True, check=False)  # create the database first
    subprocess.run([sys.executable, "-m", "ordertrack", "pending", "add", "0", "--symbol", "TCS",
                    "--side", "buy", "--qty", "1"], env=env, capture_output=True, check=True)
    assert loaded(env, *args) == {"code": 0, "heavy": []}


def test_the_package_import_loads_no_api(env):
    code = "import sys, ordertrack; print('ordertrack.api' in sys.modules, ordertrack.__version__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "False"


@pytest.mark.parametrize("args", [["verify"], ["status", "--json"]])
def test_an_idle_verify_loads_no_http_or_table_library(env, broker, args):
    """The 30-minute run with nothing to send (file broker, no Telegram, no webhook), and an
    engine's look at the status, need neither the HTTP stack nor rich nor sqlite-utils."""
    from tests.helpers import kotak_row

    subprocess.run([sys.executable, "-m", "ordertrack", "pending", "add", "1", "--symbol",
                    "INFY", "--side", "buy", "--qty", "1"], env=env, capture_output=True,
                   check=True)
    broker.orders(kotak_row("1", "open"))
    probe = PROBE.format(heavy=("rich", "requests", "urllib3", "tenacity", "sqlite_utils",
                                "pydantic"))
    for k in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "ORDERTRACK_PING_URL"):
        env.pop(k, None)
    env |= {"ORDERTRACK_BROKER": "file", "ORDERTRACK_BROKER_DIR": str(broker.folder)}
    result = subprocess.run([sys.executable, "-c", probe, *args], env=env,
                            capture_output=True, text=True, check=False)
    assert json.loads(result.stdout.splitlines()[-1]) == {"code": 0, "heavy": []}
