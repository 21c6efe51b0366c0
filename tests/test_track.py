"""`track list|add|stop`: the tracking scope."""

import json

from ordertrack.errors import ExitCode


def test_add_list_stop(cli, sql):
    assert cli("track", "add", "INFY-EQ", "--qty", "10").code == 0
    assert cli("track", "add", "tcs").code == 0
    rows = json.loads(cli("track", "list", "--json").out)
    assert [(r["symbol"], r["tracked_qty"], r["status"]) for r in rows] == [
        ("INFY", 10, "ACTIVE"),
        ("TCS", 0, "ACTIVE"),
    ]
    assert cli("track", "stop", "INFY").code == 0
    assert [r["symbol"] for r in json.loads(cli("track", "list", "--json").out)] == ["TCS"]
    everything = json.loads(cli("track", "list", "--all", "--json").out)
    assert [(r["symbol"], r["status"]) for r in everything] == [
        ("INFY", "STOPPED"),
        ("TCS", "ACTIVE"),
    ]
    assert [r[0] for r in sql("SELECT cause FROM tracking_changes ORDER BY id")] == [
        "TRACK_ADD",
        "TRACK_ADD",
        "TRACK_STOP",
    ]


def test_adding_again_with_same_quantity_is_a_no_op(cli, sql):
    cli("track", "add", "INFY", "--qty", "10")
    result = cli("track", "add", "INFY", "--qty", "10")
    assert result.code == 0 and "already tracked" in result.out
    assert sql("SELECT count(*) FROM tracking_changes") == [(1,)]


def test_adding_again_with_other_quantity_is_refused(cli, sql):
    cli("track", "add", "INFY", "--qty", "10")
    result = cli("track", "add", "INFY", "--qty", "12")
    assert result.code == ExitCode.USAGE
    assert "already tracked with quantity 10" in result.err
    assert sql("SELECT tracked_qty FROM tracking") == [(10,)]


def test_restart_after_stop(cli, sql):
    cli("track", "add", "INFY", "--qty", "10")
    cli("track", "stop", "INFY")
    assert cli("track", "add", "INFY", "--qty", "3").code == 0
    assert sql("SELECT tracked_qty, status, stopped_at FROM tracking") == [(3, "ACTIVE", None)]


def test_bad_input(cli):
    assert cli("track", "add", "INFY", "--qty", "-1").code == ExitCode.USAGE
    assert cli("track", "add", "BAD SYMBOL").code == ExitCode.USAGE
    result = cli("track", "stop", "NEVER")
    assert result.code == ExitCode.USAGE and "is not tracked" in result.err


def test_table_output(cli):
    cli("track", "add", "M&M", "--qty", "4")
    out = cli("track", "list").out
    assert "M&M" in out and "4" in out
    assert "none" in cli("track", "list", "--all").out or "M&M" in cli("track", "list").out


def test_show_explains_every_change_of_quantity(cli, broker):
    from tests.helpers import kotak_row

    cli("track", "add", "INFY", "--qty", "10")
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5")
    broker.orders(kotak_row("1", "complete", qty=5, filled=5))
    cli("verify")
    data = json.loads(cli("track", "show", "INFY-EQ", "--json").out)
    assert data["tracked_qty"] == 15
    assert [(c["cause"], c["delta"], c["qty_after"], c["order_id"]) for c in data["changes"]] == [
        ("TRACK_ADD", 10, 10, None),
        ("FILL", 5, 15, "1"),
    ]
    out = cli("track", "show", "INFY").out
    assert "FILL" in out and "+5" in out
    result = cli("track", "show", "NEVER")
    assert result.code == ExitCode.USAGE and "never been tracked" in result.err
