"""`ordertrack status`: last run of each command, orders, outbox."""

import json

from tests.helpers import kotak_row


def test_status_on_a_fresh_database(cli, fresh_db):
    data = json.loads(cli("status", "--json").out)
    assert data["runs"] == []
    assert data["schema"].startswith("m0")
    assert data["notifications"].startswith("off")
    assert "No runs recorded yet" in cli("status").out


def test_status_shows_last_run_and_last_success(cli, broker):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    broker.orders(kotak_row("1", "open", qty=1))
    assert cli("verify").code == 0
    broker.write("orders.json", "{oops")
    assert cli("verify").code == 4
    data = json.loads(cli("status", "--json").out)
    [run] = data["runs"]
    assert (run["command"], run["outcome"], run["exit_code"]) == ("verify", "failed", 4)
    assert run["last_ok"] is not None and run["last_ok"].endswith("+05:30")
    assert "not valid JSON" in run["error"]
    assert data["orders"]["PENDING"] == 1
    table = cli("status").out
    assert "verify" in table and "failed" in table
