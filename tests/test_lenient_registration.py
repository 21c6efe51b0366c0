"""Registering an order never fails for a setting it does not use (issue 14, item 7)."""

from pathlib import Path

import pytest

from ordertrack import api
from ordertrack.errors import ConfigError, ExitCode

BAD = "[reconcile]\nsettle_minutes = -5\n"


@pytest.fixture
def bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ordertrack.toml"
    path.write_text(BAD)
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(path))
    return path


def test_pending_add_registers_and_warns(cli, bad_config, sql) -> None:
    result = cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    assert result.code == 0 and "registered" in result.out
    assert result.err.startswith("ordertrack: config file ")
    assert "reconcile.settle_minutes" in result.err and "registered anyway" in result.err
    assert sql("SELECT order_id FROM orders") == [("1",)]


def test_the_commands_that_use_the_setting_still_exit_3(cli, bad_config, broker) -> None:
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
    for command in ("reconcile", "verify"):
        result = cli(command)
        assert result.code == ExitCode.CONFIG, command
        assert "reconcile.settle_minutes" in result.err


def test_an_unreadable_config_file_does_not_stop_registration(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(tmp_path / "missing.toml"))
    result = cli("pending", "add", "2", "--symbol", "TCS", "--side", "sell", "--qty", "3")
    assert result.code == 0 and "does not exist" in result.err


def test_a_bad_database_setting_still_fails(cli, monkeypatch) -> None:
    monkeypatch.setenv("ORDERTRACK_DB", "")
    result = cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    assert result.code == ExitCode.CONFIG and "ORDERTRACK_DB is set but empty" in result.err


def test_python_api_registers_and_warns(bad_config, sql, capsys) -> None:
    assert api.register_order("INFY", "buy", 5, order_id="9") == "added"
    assert "reconcile.settle_minutes" in capsys.readouterr().err
    assert sql("SELECT order_id FROM orders") == [("9",)]


def test_python_api_still_refuses_a_bad_database_setting(monkeypatch) -> None:
    monkeypatch.setenv("ORDERTRACK_DB", " ")
    with pytest.raises(ConfigError):
        api.register_order("INFY", "buy", 5, order_id="9")
