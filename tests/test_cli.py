"""The command line as a whole: help, version, usage errors, internal errors, secrets."""

import subprocess
import sys

import pytest
import typer

import ordertrack
from ordertrack.cli.app import app
from ordertrack.errors import ExitCode


def _commands(group, path=()):
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield [*path, name]


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.code == 0
    assert "Usage: ordertrack" in result.out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_is_documented_in_the_commands_reference(command):
    """A hand-written section, not only the generated usage block, names every command."""
    import re
    from pathlib import Path

    reference = (Path(__file__).parent.parent / "docs" / "commands.md").read_text()
    prose = re.sub(r"<!-- usage: .*?<!-- /usage -->", "", reference, flags=re.S)
    headings = [line for line in prose.splitlines() if line.startswith("## ")]
    *group, leaf = command
    assert any(
        f"ordertrack {' '.join(command)}" in h
        or (
            group
            and f"ordertrack {' '.join(group)} " in h
            and re.search(rf"\b{re.escape(leaf)}\b", h)
        )
        for h in headings
    ), command


def test_version(cli):
    assert cli("--version").out.strip() == f"ordertrack {ordertrack.__version__}"


def test_version_is_one_number_everywhere():
    """pyproject.toml, ordertrack.__version__ and the CHANGELOG's latest release agree."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["version"] == ordertrack.__version__
    releases = re.findall(
        r"^## (\d+\.\d+\.\d+) — \d{4}-\d{2}-\d{2}$",
        (root / "CHANGELOG.md").read_text(encoding="utf-8"),
        re.M,
    )
    assert releases[0] == ordertrack.__version__


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["verify", "--bogus"],
        ["nosuch"],
        ["pending", "add", "1", "--qty"],
        ["pending", "show"],
    ],
)
def test_usage_errors_are_one_line_exit_2(cli, args):
    result = cli(*args)
    assert result.code == ExitCode.USAGE
    assert result.err.startswith("ordertrack: ")
    assert result.err.count("\n") == 1


def test_no_arguments_prints_help(cli):
    result = cli()
    assert result.code == 0 and "Commands" in result.out


def test_bad_config_file_is_exit_3(cli, tmp_path):
    config = tmp_path / "ordertrack.toml"
    config.write_text("[verify]\nmissing_runz = 3\n")
    result = cli("--config", str(config), "status")
    assert result.code == ExitCode.CONFIG
    assert "unknown setting verify.missing_runz" in result.err
    config.write_text("[calendar]\nholidays = ['26 Jan']\n")
    assert "list of dates" in cli("--config", str(config), "status").err
    config.write_text("not = [toml")
    assert "not valid TOML" in cli("--config", str(config), "status").err
    assert "does not exist" in cli("--config", str(tmp_path / "x.toml"), "status").err


def test_config_file_sets_missing_rules(cli, tmp_path, monkeypatch):
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[verify]\nmissing_runs = 5\nstale_hours = 36\n"
        "[calendar]\nholidays = [2027-01-26]\nnse_holidays = false\n"
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    import os

    from ordertrack import config as cfg

    settings = cfg.load(os.environ)
    assert settings.missing.runs == 5 and settings.missing.stale_after.total_seconds() == 36 * 3600
    from datetime import date

    assert settings.missing.calendar.holidays == {date(2027, 1, 26)}


def test_unexpected_error_is_one_line_without_traceback(cli, fresh_db, monkeypatch):
    from ordertrack.store import orders as store

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(store, "query_orders", boom)
    result = cli("pending", "list")
    assert result.code == ExitCode.INTERNAL
    assert result.err == (
        "ordertrack: internal error: RuntimeError: kaboom "
        "(set ORDERTRACK_DEBUG=1 for a traceback)\n"
    )


def test_secret_values_are_redacted_from_error_lines(cli, fresh_db, monkeypatch):
    from ordertrack.store import orders as store

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-token-abc")

    def leak(*args, **kwargs):
        raise RuntimeError("GET https://api.telegram.org/bot123456:SECRET-token-abc/getMe")

    monkeypatch.setattr(store, "query_orders", leak)
    result = cli("pending", "list")
    assert "SECRET" not in result.err
    assert "<TELEGRAM_BOT_TOKEN>" in result.err


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ordertrack", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("ordertrack ")


def test_demo_runs_as_a_real_process_without_credentials(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "ordertrack", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for line in (
        "Partially filled: BUY INFY 40/100",
        "Executed: BUY ITBEES 45/45",
        "Rejected: BUY TATASTEEL",
        "RMS:Margin Exceeds",
        "Executed: BUY INFY 100/100",
        "after market order req received",
    ):
        assert line in result.stdout
    assert not (tmp_path / ".local").exists()  # throw-away database only


def test_db_option_overrides_the_environment(cli, tmp_path, sql):
    other = tmp_path / "other.db"
    assert cli("--db", str(other), "track", "add", "INFY").code == 0
    assert other.exists()
    assert sql("SELECT count(*) FROM sqlite_master WHERE name = 'tracking'") == [(0,)]
