"""Registrations that can be put right (issue 10): a real id attaches to the open id-less order
it belongs to, `pending add ID --completes #N`, `pending cancel`, and `local-N` ids."""

import json
from datetime import datetime

from freezegun import freeze_time

from ordertrack import register_order
from ordertrack.errors import ExitCode
from ordertrack.timeutil import IST
from tests.helpers import kotak_row


def add(cli, *args, code=0):
    result = cli("pending", "add", *args)
    assert result.code == code, result.err
    return result


def orders(cli):
    return [
        (o["order_id"], o["status"], o["reason"])
        for o in json.loads(cli("pending", "list", "--all", "--json").out)
    ]


# ---- attaching a real id ---------------------------------------------------------------------


def test_a_real_id_attaches_to_the_open_idless_order_it_matches(cli, sql):
    add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10")
    result = add(cli, "250122000700111", "--symbol", "INFY-EQ", "--side", "buy", "--qty", "10")
    assert "completes unconfirmed order #1" in result.out
    assert sql("SELECT id, order_id FROM orders") == [(1, "250122000700111")]
    assert sql("SELECT kind, key FROM events ORDER BY id") == [
        ("REGISTERED", "#1:REGISTERED"),
        ("RESOLVED", "#1:RESOLVED"),
    ]


def test_a_real_id_for_other_details_is_a_new_order(cli, sql):
    add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10")
    add(cli, "250122000700111", "--symbol", "INFY", "--side", "sell", "--qty", "10")
    assert sql("SELECT id, order_id FROM orders ORDER BY id") == [(1, None), (2, "250122000700111")]


def test_two_matching_idless_orders_are_refused_until_completes_names_one(cli, sql):
    for _ in range(2):
        add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10")
    refused = add(
        cli, "7001", "--symbol", "INFY", "--side", "buy", "--qty", "10", code=ExitCode.USAGE
    )
    assert "#1, #2" in refused.err and "--completes #N" in refused.err
    assert "Traceback" not in refused.err
    assert sql("SELECT count(*) FROM orders WHERE order_id IS NOT NULL") == [(0,)]
    add(cli, "7001", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--completes", "#2")
    assert sql("SELECT id, order_id FROM orders ORDER BY id") == [(1, None), (2, "7001")]
    add(cli, "7001", "--symbol", "INFY", "--side", "buy", "--qty", "10")  # a re-add: no-op
    assert sql("SELECT count(*) FROM orders") == [(2,)]


def test_completes_refuses_what_it_cannot_do(cli):
    add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10")
    add(cli, "9", "--symbol", "TCS", "--side", "buy", "--qty", "1")
    for args, said in [
        (
            ("--symbol", "INFY", "--side", "buy", "--qty", "10", "--completes", "#1"),
            "needs the broker order id",
        ),
        (
            ("8", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--completes", "1"),
            "local order number such as #3",
        ),
        (
            ("8", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--completes", "#7"),
            "order #7 is not registered",
        ),
        (
            ("8", "--symbol", "TCS", "--side", "buy", "--qty", "1", "--completes", "#2"),
            "not an open unconfirmed order",
        ),
        (
            ("9", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--completes", "#1"),
            "order 9 is already registered",
        ),
        (
            ("8", "--symbol", "INFY", "--side", "sell", "--qty", "10", "--completes", "#1"),
            "already registered with other details",
        ),
    ]:
        result = add(cli, *args, code=ExitCode.USAGE)
        assert said in result.err and result.err.count("\n") == 1, result.err


def test_the_python_api_takes_completes(cli, sql):
    add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10")
    add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10")
    assert register_order("INFY", "buy", 10, order_id="77", completes="#1") == "resolved"
    assert sql("SELECT id, order_id FROM orders ORDER BY id") == [(1, "77"), (2, None)]


# ---- withdrawing a registration --------------------------------------------------------------


def test_pending_cancel_withdraws_by_id_or_local_number(cli, sql):
    add(cli, "5001", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    add(cli, "--symbol", "TCS", "--side", "buy", "--qty", "1")
    assert cli("pending", "cancel", "5001").code == 0
    result = cli("pending", "cancel", "#2", "--reason", "engine retried")
    assert result.code == 0 and "withdrawn" in result.out
    assert orders(cli) == [
        ("5001", "CANCELLED", "withdrawn by user"),
        (None, "CANCELLED", "withdrawn by user: engine retried"),
    ]
    assert sql("SELECT kind FROM events WHERE kind = 'WITHDRAWN'") == [("WITHDRAWN",)] * 2
    assert sql("SELECT count(*) FROM outbox") == [(0,)]


def test_pending_cancel_refuses_unknown_finished_and_filled_orders(cli, broker, sql):
    add(cli, "1", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    add(cli, "2", "--symbol", "TCS", "--side", "buy", "--qty", "10")
    broker.orders(
        kotak_row("1", "complete", qty=10, filled=10),
        kotak_row("2", "open", symbol="TCS", qty=10, filled=4),
    )
    assert cli("verify").code == 0
    for ref, said in [
        ("3", "not registered"),
        ("1", "already EXECUTED"),
        ("2", "has fills (4/10)"),
    ]:
        result = cli("pending", "cancel", ref)
        assert result.code == ExitCode.USAGE and said in result.err, result.err
    assert sql("SELECT status FROM orders ORDER BY id") == [("EXECUTED",), ("PARTIALLY_FILLED",)]


def test_a_withdrawn_order_no_longer_defers_reconcile(cli, broker):
    broker.orders()
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
    broker.write("holdings.json", {"data": [{"symbol": "INFY", "quantity": 10}]})
    cli("track", "add", "INFY", "--qty", "10")
    add(cli, "1", "--symbol", "INFY", "--side", "sell", "--qty", "10")
    now = datetime(2026, 11, 25, 16, 0, tzinfo=IST)
    with freeze_time(now):
        [before] = json.loads(cli("reconcile", "--json").out)["decisions"]
        assert before["action"] == "deferred"
        assert cli("pending", "cancel", "1", "--reason", "never placed").code == 0
        [after] = json.loads(cli("reconcile", "--json").out)["decisions"]
    assert after["action"] == "none"


# ---- local-N ---------------------------------------------------------------------------------


def test_a_real_id_local_n_cannot_collide_with_unconfirmed_order_n(cli, broker, sql):
    add(cli, "local-2", "--symbol", "TCS", "--side", "buy", "--qty", "1")
    add(cli, "--symbol", "INFY", "--side", "buy", "--qty", "10", "--tag", "t-1")  # order #2
    assert cli("pending", "cancel", "#2").code == 0
    broker.orders(kotak_row("local-2", "rejected", symbol="TCS", qty=1, reason="RMS:x"))
    assert cli("verify").code == 0
    assert [k for (k,) in sql("SELECT key FROM events ORDER BY id")] == [
        "local-2:REGISTERED",
        "#2:REGISTERED",
        "#2:WITHDRAWN",
        "local-2:REJECTED",
    ]
    assert sql("SELECT order_id, status FROM orders ORDER BY id") == [
        ("local-2", "REJECTED"),
        (None, "CANCELLED"),
    ]
    assert cli("pending", "show", "local-2", "--json").code == 0


def test_upgrade_renames_stored_local_keys_of_their_own_order_only(db_path):
    from ordertrack.store.db import open_db
    from ordertrack.store.migrations import m007_local_ref_keys

    db = open_db(db_path)
    now = "2026-11-30T04:00:00.000000+00:00"
    for local_id, order_id in ((1, None), (2, "local-5")):
        db.execute(
            "INSERT INTO orders (id, order_id, symbol, side, qty, placed_at, status,"
            " created_at, updated_at) VALUES (?, ?, 'INFY', 'BUY', 1, ?, 'PENDING', ?, ?)",
            (local_id, order_id, now, now, now),
        )
    for ref, key in ((1, "local-1:REGISTERED"), (2, "local-5:REGISTERED")):
        db.execute(
            "INSERT INTO events (order_ref, key, kind, status, filled_qty, at)"
            " VALUES (?, ?, 'REGISTERED', 'PENDING', 0, ?)",
            (ref, key, now),
        )
    db.execute(
        "INSERT INTO outbox (key, kind, payload, created_at) VALUES"
        " ('local-1:ambiguous:8,9', 'AMBIGUOUS_MATCH', '{}', ?)",
        (now,),
    )
    m007_local_ref_keys(db)
    assert [k for (k,) in db.execute("SELECT key FROM events ORDER BY id")] == [
        "#1:REGISTERED",
        "local-5:REGISTERED",
    ]
    assert [k for (k,) in db.execute("SELECT key FROM outbox")] == ["#1:ambiguous:8,9"]
    db.close()
