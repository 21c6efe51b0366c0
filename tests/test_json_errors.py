"""--json is always JSON: a broker failure (exit 4) prints an object monitoring can parse."""

import json

import pytest

from ordertrack.errors import ExitCode


@pytest.mark.parametrize("command", ["verify", "reconcile"])
def test_json_on_broker_failure(cli, broker, command: str) -> None:
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
    result = cli(command, "--json")  # the broker folder holds no files: every fetch fails
    assert result.code == ExitCode.BROKER
    data = json.loads(result.out)
    assert data["broker"] == "failed" and data["exit_code"] == 4
    assert "does not exist" in data["broker_error"]
    assert result.err.startswith("ordertrack: ")  # the usual line on stderr stays


def test_without_json_stdout_stays_empty(cli, broker) -> None:
    result = cli("verify")
    assert result.code == ExitCode.BROKER and result.out == ""
