"""`pending add`, `pending list`, `pending show`, and the Python API."""

import json

import pytest
from freezegun import freeze_time

import ordertrack
from ordertrack.errors import ExitCode, UsageError

ADD = (
    "pending",
    "add",
    "250122000700111",
    "--symbol",
    "INFY-EQ",
    "--side",
    "buy",
    "--qty",
    "100",
    "--price",
    "1850",
)


def test_add_registers_a_pending_order_with_normalised_symbol(cli, sql):
    result = cli(*ADD)
    assert result.code == 0
    assert "registered" in result.out
    assert sql("SELECT order_id, symbol, side, qty, price, status FROM orders") == [
        ("250122000700111", "INFY", "BUY", 100, 1850.0, "PENDING")
    ]
    assert sql("SELECT kind FROM events") == [("REGISTERED",)]


def test_re_adding_the_same_order_is_a_no_op(cli, sql):
    cli(*ADD)
    result = cli(*ADD)
    assert result.code == 0
    assert "already registered" in result.out
    assert sql("SELECT count(*) FROM orders") == [(1,)]
    assert sql("SELECT count(*) FROM events") == [(1,)]


def test_re_adding_without_price_does_not_overwrite_it(cli, sql):
    """Peer bug: a re-registered copy carried price 0.0."""
    cli(*ADD)
    assert cli(*ADD[:-2]).code == 0
    assert sql("SELECT price FROM orders") == [(1850.0,)]


@pytest.mark.parametrize(
    ("option", "value"),
    [("--qty", "50"), ("--side", "sell"), ("--symbol", "TCS"), ("--price", "1900")],
)
def test_conflicting_re_add_is_an_error_and_keeps_the_original(cli, sql, option, value):
    cli(*ADD)
    args = list(ADD)
    args[args.index(option) + 1] = value
    result = cli(*args)
    assert result.code == ExitCode.USAGE
    assert "already registered with other details" in result.err
    assert result.err.count("\n") == 1
    assert sql("SELECT symbol, side, qty, price FROM orders") == [("INFY", "BUY", 100, 1850.0)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--qty", "0"), "qty must be between 1"),
        (("--qty", "-5"), "qty must be between 1"),
        (("--qty", "99999999999"), "qty must be between 1"),
        (("--qty", "abc"), "'abc' is not a valid int"),
        (("--qty", "1", "--price", "-3"), "price must be above 0"),
        (("--qty", "1", "--price", "nan"), "price must be above 0"),
        (("--qty", "1", "--side", "hold"), "side must be buy or sell"),
        (("--qty", "1", "--placed-at", "yesterday"), "not an ISO 8601 time"),
        (("--qty", "1", "--placed-at", "2099-01-01T10:00:00"), "in the future"),
    ],
)
def test_bad_values_get_one_line_and_usage_exit(cli, sql, args, message):
    base = ["pending", "add", "1", "--symbol", "INFY", "--side", "buy"]
    if "--side" in args:
        base = base[:-2]
    result = cli(*base, *args)
    assert result.code == ExitCode.USAGE
    assert message in result.err
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "symbol", ["RELIANCE'; DROP TABLE orders;--", "$(rm -rf ~)", "", "A" * 60, "IN FY", "INFY\nTCS"]
)
def test_hostile_symbols_are_refused(cli, sql, symbol):
    result = cli("pending", "add", "1", "--symbol", symbol, "--side", "buy", "--qty", "1")
    assert result.code == ExitCode.USAGE
    assert sql("SELECT count(*) FROM orders") == [(0,)]


def test_hostile_order_id_is_refused(cli):
    result = cli(
        "pending", "add", "../../etc/passwd", "--symbol", "INFY", "--side", "buy", "--qty", "1"
    )
    assert result.code == ExitCode.USAGE
    assert "invalid order id" in result.err


def test_placed_at_without_offset_is_ist_and_stored_in_utc(cli, sql):
    cli(
        "pending",
        "add",
        "1",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "1",
        "--placed-at",
        "2025-01-22T14:28:01",
    )
    assert sql("SELECT placed_at FROM orders") == [("2025-01-22T08:58:01.000000+00:00",)]


def test_list_shows_open_orders_as_json_with_contract_fields(cli):
    cli(*ADD)
    cli("pending", "add", "2", "--symbol", "TCS", "--side", "sell", "--qty", "5", "--amo")
    rows = json.loads(cli("pending", "list", "--json").out)
    assert {
        "order_id",
        "symbol",
        "side",
        "qty",
        "filled_qty",
        "avg_price",
        "status",
        "reason",
        "placed_at",
        "updated_at",
    } <= set(rows[0])
    assert [(r["order_id"], r["status"], r["amo"]) for r in rows] == [
        ("250122000700111", "PENDING", False),
        ("2", "PENDING", True),
    ]
    assert rows[0]["placed_at"].endswith("+05:30")


def test_list_filters(cli, broker):
    from tests.helpers import kotak_row

    cli(*ADD)
    cli("pending", "add", "2", "--symbol", "TCS", "--side", "sell", "--qty", "5")
    broker.orders(kotak_row("2", "complete", symbol="TCS", qty=5, filled=5, side="S"))
    cli("verify")
    assert [r["order_id"] for r in json.loads(cli("pending", "list", "--json").out)] == [
        "250122000700111"
    ]
    everything = json.loads(cli("pending", "list", "--all", "--json").out)
    assert len(everything) == 2
    executed = json.loads(cli("pending", "list", "--status", "executed", "--json").out)
    assert [r["order_id"] for r in executed] == ["2"]
    by_symbol = json.loads(cli("pending", "list", "--all", "--symbol", "TCS-EQ", "--json").out)
    assert [r["symbol"] for r in by_symbol] == ["TCS"]
    assert cli("pending", "list", "--status", "DONE").code == ExitCode.USAGE


def test_list_table_renders(cli):
    cli(*ADD)
    out = cli("pending", "list").out
    assert "250122000700111" in out and "INFY" in out and "PENDING" in out


def test_show_prints_the_order_and_its_events(cli):
    cli(*ADD)
    data = json.loads(cli("pending", "show", "250122000700111", "--json").out)
    assert data["order"]["order_id"] == "250122000700111"
    assert [e["kind"] for e in data["events"]] == ["REGISTERED"]
    assert "REGISTERED" in cli("pending", "show", "250122000700111").out


def test_show_unknown_order_is_an_error(cli, fresh_db):
    result = cli("pending", "show", "404")
    assert result.code == ExitCode.USAGE
    assert "not registered" in result.err


def test_add_without_id_creates_an_unconfirmed_order(cli, sql):
    result = cli("pending", "add", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    assert result.code == 0
    assert "unconfirmed" in result.out
    assert sql("SELECT order_id, status FROM orders") == [(None, "PENDING")]
    data = json.loads(cli("pending", "show", "#1", "--json").out)
    assert data["order"]["order_id"] is None


def test_re_adding_an_unconfirmed_order_by_tag_is_a_no_op(cli, sql):
    args = ("pending", "add", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--tag", "e-1")
    cli(*args)
    assert cli(*args).code == 0
    assert sql("SELECT count(*) FROM orders") == [(1,)]


# ---- import ------------------------------------------------------------------------------


def test_import_json_lines(cli, sql, tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(
        '{"order_id": "1", "symbol": "INFY", "side": "buy", "qty": 10}\n\n'
        '{"order_id": "2", "symbol": "TCS-EQ", "side": "SELL", "qty": "5",'
        ' "amo": true, "placed_at": "2026-11-23T20:00:00+05:30"}\n'
    )
    result = cli("pending", "add", "--from", str(path))
    assert result.code == 0, result.err
    assert "Imported 2" in result.out
    assert sql("SELECT order_id, symbol, amo FROM orders ORDER BY id") == [
        ("1", "INFY", 0),
        ("2", "TCS", 1),
    ]


def test_import_csv(cli, sql, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,symbol,side,qty,price,amo,tag\n1,INFY,buy,10,1850,false,\n2,M&M,sell,3,,yes,t-2\n"
    )
    assert cli("pending", "add", "--from", str(path)).code == 0
    assert sql("SELECT symbol, price, amo, tag FROM orders ORDER BY id") == [
        ("INFY", 1850.0, 0, None),
        ("M&M", None, 1, "t-2"),
    ]


def test_import_is_all_or_nothing(cli, sql, tmp_path):
    cli(*ADD)
    path = tmp_path / "orders.jsonl"
    path.write_text(
        '{"order_id": "1", "symbol": "INFY", "side": "buy", "qty": 10}\n'
        '{"order_id": "250122000700111", "symbol": "INFY", "side": "buy", "qty": 7}\n'
    )
    result = cli("pending", "add", "--from", str(path))
    assert result.code == ExitCode.USAGE
    assert "line 2" in result.err and "nothing was imported" in result.err
    assert sql("SELECT order_id FROM orders") == [("250122000700111",)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"order_id": "1", "symbol": "INFY"\n', "line 1: not valid JSON"),
        ("list.jsonl", "[1, 2]\n", "expected a JSON object"),
        ("empty.jsonl", "", "holds no orders"),
        ("bad.csv", "id,sym\n1,INFY\n", "CSV header"),
        (
            "neg.jsonl",
            '{"order_id": "1", "symbol": "INFY", "side": "buy", "qty": -1}\n',
            "line 1: qty",
        ),
    ],
)
def test_malformed_import_files(cli, sql, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    result = cli("pending", "add", "--from", str(path))
    assert result.code == ExitCode.USAGE
    assert message in result.err
    assert sql("SELECT count(*) FROM orders") == [(0,)]


def test_import_from_a_directory_or_missing_file(cli, tmp_path):
    assert "is a directory" in cli("pending", "add", "--from", str(tmp_path)).err
    assert "does not exist" in cli("pending", "add", "--from", str(tmp_path / "x")).err


def test_import_cannot_be_mixed_with_order_options(cli, tmp_path):
    result = cli("pending", "add", "--from", str(tmp_path / "x.csv"), "--symbol", "INFY")
    assert result.code == ExitCode.USAGE


# ---- Python API --------------------------------------------------------------------------


def test_python_api_uses_the_same_rules(db_path, sql):
    assert ordertrack.register_order("INFY-EQ", "buy", 10, order_id="9") == "added"
    assert ordertrack.register_order("INFY", "BUY", 10, order_id="9") == "unchanged"
    with pytest.raises(UsageError, match="other details"):
        ordertrack.register_order("INFY", "buy", 11, order_id="9")
    assert ordertrack.track_symbol("TCS", 5) == "added"
    assert sql("SELECT symbol, qty FROM orders") == [("INFY", 10)]
    assert sql("SELECT symbol, tracked_qty FROM tracking") == [("TCS", 5)]


def test_python_api_refuses_naive_datetimes(db_path):
    """Peer bug: naive and aware datetimes compared in staleness checks."""
    from datetime import datetime

    with pytest.raises(UsageError, match="timezone-aware"):
        ordertrack.register_order("INFY", "buy", 1, placed_at=datetime(2026, 1, 1, 10, 0))


@freeze_time("2026-11-24T04:00:00Z")
def test_default_placed_at_is_now(cli, sql):
    cli(*ADD)
    assert sql("SELECT placed_at FROM orders") == [("2026-11-24T04:00:00.000000+00:00",)]


def test_a_reused_tag_of_a_finished_order_registers_a_new_order(cli, broker, sql):
    """Review bug: tag matching found an executed order and dropped the new registration."""
    from tests.helpers import kotak_row

    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--tag", "sip")
    broker.orders(kotak_row("1", "complete", qty=10, filled=10, tag="sip"))
    cli("verify")
    result = cli(
        "pending", "add", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--tag", "sip"
    )
    assert result.code == 0 and "unconfirmed" in result.out
    assert sql("SELECT order_id, status FROM orders ORDER BY id") == [
        ("1", "EXECUTED"),
        (None, "PENDING"),
    ]


def test_an_id_that_arrives_later_completes_the_unconfirmed_order(cli, broker, sql):
    """Review bug: the same order registered without, then with, its id made two rows."""
    from tests.helpers import kotak_row

    cli("pending", "add", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--tag", "e-7")
    result = cli(
        "pending", "add", "555", "--symbol", "INFY", "--side", "buy", "--qty", "10", "--tag", "e-7"
    )
    assert result.code == 0 and "completes unconfirmed order #1" in result.out
    broker.orders(kotak_row("555", "complete", qty=10, filled=10, tag="e-7"))
    cli("verify")
    assert sql("SELECT order_id, status FROM orders") == [("555", "EXECUTED")]
    assert [k for (k,) in sql("SELECT kind FROM events ORDER BY id")] == [
        "REGISTERED",
        "RESOLVED",
        "EXECUTED",
    ]


def test_a_restarted_engine_repeating_an_id_less_registration_is_a_no_op(cli, sql):
    args = (
        "pending",
        "add",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "10",
        "--placed-at",
        "2026-11-23T09:20:00",
    )
    assert cli(*args).code == 0
    assert "already registered" in cli(*args).out
    assert sql("SELECT count(*) FROM orders") == [(1,)]


def test_huge_values_are_usage_errors_not_crashes(cli, fresh_db):
    assert cli("track", "add", "INFY", "--qty", "99999999999999999999").code == ExitCode.USAGE
    result = cli("pending", "show", "#99999999999999999999")
    assert result.code == ExitCode.USAGE and "not registered" in result.err


def test_non_ascii_letters_are_refused_not_folded(cli, sql):
    """'STRAßE'.upper() is 'STRASSE': a different symbol would be registered silently."""
    result = cli("pending", "add", "1", "--symbol", "straße", "--side", "buy", "--qty", "1")
    assert result.code == ExitCode.USAGE and "invalid symbol" in result.err
    assert sql("SELECT count(*) FROM orders") == [(0,)]


def test_the_engine_and_the_api_build_a_new_order_directly_checked_as_a_file_line_is():
    """register_order builds the NewOrder itself (its order id visible to mypy), by the same
    checks a file line goes through (issue 24)."""
    from datetime import UTC, datetime

    from ordertrack.jobs import register

    now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    fields = {
        "order_id": " 261201000000001 ",
        "symbol": "infy",
        "side": "buy",
        "qty": "10",
        "price": "1520.5",
        "amo": "true",
        "placed_at": None,
        "tag": None,
    }
    built = register.new_order(now, **fields)
    assert built == register.validate(fields, now)
    assert (built.order_id, built.symbol, built.side, built.qty, built.price, built.amo) == (
        "261201000000001",
        "INFY",
        "BUY",
        10,
        1520.5,
        True,
    )


def test_the_store_hands_back_orders_not_rows(cli, db_path):
    """Every lookup of store/orders returns an `Order` (issue 24): the same order, whichever
    way it is found, with its stored time of last change."""
    from ordertrack.core.models import Order, Side, Status
    from ordertrack.store import orders
    from ordertrack.store.db import open_db

    cli(*ADD, "--tag", "t-1")
    cli("pending", "add", "--symbol", "TCS", "--side", "sell", "--qty", "5", "--tag", "t-2")
    db = open_db(db_path)
    try:
        found = [
            orders.find_order(db, "250122000700111"),
            *orders.query_orders(db, all_=True, status=None, symbol="INFY"),
            orders.open_by_tag(db, "t-1"),
        ]
        assert all(isinstance(o, Order) for o in found)
        assert len({o.id for o in found if o}) == 1
        order = found[0]
        assert order is not None
        assert (order.side, order.status, order.price, order.amo) == (
            Side.BUY,
            Status.PENDING,
            1850.0,
            False,
        )
        assert order.updated_at is not None
        unconfirmed = orders.open_by_tag(db, "t-2", unconfirmed=True)
        assert isinstance(unconfirmed, Order) and unconfirmed.ref == f"#{unconfirmed.id}"
        assert orders.find_order(db, unconfirmed.ref) == unconfirmed
        candidates = orders.unconfirmed_candidates(db, "TCS", "SELL", 5, "t-2")
        assert candidates == [unconfirmed]
    finally:
        db.close()
