"""The plugin door: the example plugin package (tests/plugin_example) installed beside
ordertrack and used by `ordertrack verify` end to end; built-in names first; an unknown name
lists the names available (exit 3); a broken plugin is a configuration error."""

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from ordertrack import plugins
from ordertrack.errors import ConfigError, ExitCode

EXAMPLE = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed into a folder of its own (then put on PYTHONPATH), as
    `pip install` would put it beside ordertrack."""
    work = tmp_path_factory.mktemp("plugin")
    source, target = work / "src", work / "site"
    shutil.copytree(EXAMPLE, source)  # pip builds in the source tree: keep tests/ clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    assert (target / "ordertrack_example_broker").is_dir()
    return target


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordertrack", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def env(installed: Path, tmp_path: Path) -> dict[str, str]:
    replies = tmp_path / "example.json"
    replies.write_text(
        json.dumps(
            {
                "orders": [
                    {
                        "id": "EX-1",
                        "state": "complete",
                        "symbol": "INFY",
                        "side": "BUY",
                        "qty": 10,
                        "filled": 10,
                        "price": 1500.5,
                    },
                    {
                        "id": "EX-2",
                        "state": "rejected",
                        "symbol": "TCS",
                        "side": "BUY",
                        "qty": 1,
                        "filled": 0,
                        "reason": "RMS: insufficient funds",
                    },
                ],
                "holdings": [{"symbol": "INFY", "qty": 0, "t1": 10}],
                "positions": [{"symbol": "INFY", "net": 10}],
            }
        )
    )
    return {
        **os.environ,
        "PYTHONPATH": str(installed),
        "ORDERTRACK_BROKER": "example",
        "EXAMPLE_BROKER_FILE": str(replies),
    }


def test_verify_runs_with_the_installed_plugin(env, sql):
    for order_id, symbol, qty in (("EX-1", "INFY", "10"), ("EX-2", "TCS", "1")):
        added = run(
            env, "pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", qty
        )
        assert added.returncode == 0, added.stderr
    verified = run(env, "verify")
    assert verified.returncode == 0, verified.stderr
    assert sql("SELECT order_id, status, filled_qty FROM orders ORDER BY 1") == [
        ("EX-1", "EXECUTED", 10),
        ("EX-2", "REJECTED", 0),
    ]
    checked = run(env, "broker", "check", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["broker"] == "example"


def test_an_unknown_name_lists_the_names_available(env):
    result = run({**env, "ORDERTRACK_BROKER": "nosuch"}, "verify")
    assert result.returncode == ExitCode.CONFIG
    assert "is not one of: kotak, kite, angel, fyers, file, example" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_package_its_name_is_unknown(env):
    result = run({**env, "PYTHONPATH": ""}, "verify")
    assert result.returncode == ExitCode.CONFIG
    assert "is not one of: kotak, kite, angel, fyers, file (" in result.stderr


def test_a_plugin_cannot_take_a_built_in_name(env):
    result = run({**env, "ORDERTRACK_BROKER": "kite"}, "verify")
    assert result.returncode == ExitCode.CONFIG
    assert "KITE_API_KEY" in result.stderr  # the built-in Kite, not the plugin's "kite"


def test_the_plugin_reads_its_own_settings(env):
    result = run({k: v for k, v in env.items() if k != "EXAMPLE_BROKER_FILE"}, "verify")
    assert result.returncode == ExitCode.CONFIG
    assert "EXAMPLE_BROKER_FILE" in result.stderr


@pytest.mark.parametrize(
    "value,says",
    [
        ("no_such_module_zz:Broker", "cannot be loaded: ModuleNotFoundError"),
        ("json:dumps", "has no from_settings"),
    ],
)
def test_a_broken_plugin_is_a_configuration_error(monkeypatch, value, says):
    point = EntryPoint("broken", value, plugins.GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: {"broken": point})
    with pytest.raises(ConfigError, match=says):
        plugins.load("broken")


def test_built_in_names_never_scan_the_entry_points(monkeypatch):
    from ordertrack.config import load

    def scanned():
        raise AssertionError("entry points scanned for a built-in name")

    monkeypatch.setattr(plugins, "_entry_points", scanned)
    for name in ("kotak", "kite", "angel", "fyers", "file"):
        assert load({"ORDERTRACK_BROKER": name, "ORDERTRACK_DB": "x.db"}).broker == name
