"""`ordertrack reconcile`: holdings + today's positions vs tracked quantities."""

import json
from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.timeutil import IST
from tests.helpers import kotak_row

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=IST)  # Wednesday, after the close


def holdings(broker, **quantities):
    broker.write(
        "holdings.json",
        {
            "data": [
                {"symbol": s, "displaySymbol": s, "quantity": q, "averagePrice": 100.0}
                for s, q in quantities.items()
            ]
        },
    )


def positions(broker, *rows):
    broker.write(
        "positions.json",
        {
            "stat": "Ok",
            "stCode": 200,
            "data": [
                {
                    "trdSym": f"{s}-EQ",
                    "sym": s,
                    "flBuyQty": str(b),
                    "flSellQty": str(sl),
                    "cfBuyQty": "0",
                    "cfSellQty": "0",
                    "prod": "CNC",
                }
                for s, b, sl in rows
            ],
        },
    )


@pytest.fixture
def account(broker):
    """An account with no orders today and nothing in positions."""
    broker.orders()
    positions(broker)
    holdings(broker)
    return broker


def reconcile(cli, *args, code=0):
    with freeze_time(NOW):
        result = cli("reconcile", "--json", *args)
    assert result.code == code, result.err
    return json.loads(result.out) if code == 0 else result


def tracked(cli):
    return {
        t["symbol"]: (t["tracked_qty"], t["status"])
        for t in json.loads(cli("track", "list", "--all", "--json").out)
    }


def test_manual_partial_sell_lowers_tracked_quantity(cli, account, sql):
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=60)
    data = reconcile(cli)
    [d] = data["decisions"]
    assert (d["action"], d["tracked"], d["owned"], d["new_qty"]) == ("manual_sell", 100, 60, 60)
    assert tracked(cli) == {"INFY": (60, "ACTIVE")}
    assert sql("SELECT cause, delta FROM tracking_changes WHERE cause LIKE 'MANUAL%'") == [
        ("MANUAL_SELL", -40)
    ]
    assert sql("SELECT kind FROM outbox") == [("MANUAL_TRADE",)]


def test_manual_full_sell_stops_tracking_and_says_how_long(cli, account, sql):
    with freeze_time(NOW - timedelta(days=3)):
        cli("track", "add", "INFY", "--qty", "100")
    data = reconcile(cli)
    assert data["stopped"] == 1
    assert tracked(cli) == {"INFY": (0, "STOPPED")}
    text = json.loads(cli("outbox", "list", "--json").out)[0]["text"]
    assert "tracking stopped after 3 days" in text


def test_manual_orders_are_attributed(cli, account, sql):
    cli("track", "add", "INFY", "--qty", "100")
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    account.orders(
        kotak_row("1", "complete", qty=10, filled=10),
        kotak_row("900", "complete", side="S", qty=50, filled=50),
        kotak_row("901", "open", side="S", qty=5, filled=0),
        kotak_row("902", "complete", symbol="TCS", qty=1, filled=1),
    )
    cli("verify")
    holdings(account, INFY=100)
    positions(account, ("INFY", 10, 50))
    [d] = reconcile(cli)["decisions"]
    assert (d["action"], d["owned"], d["manual_orders"]) == ("manual_sell", 60, ["900"])
    assert sql("SELECT order_id, symbol, side, filled_qty FROM manual_orders") == [
        ("900", "INFY", "SELL", 50)
    ]
    assert json.loads(sql("SELECT manual_orders FROM adjustments")[0][0]) == ["900"]
    changes = json.loads(cli("track", "show", "INFY", "--json").out)["changes"]
    assert (changes[-1]["cause"], changes[-1]["delta"], changes[-1]["note"]) == (
        "MANUAL_SELL",
        -50,
        "900",
    )


def test_manual_buy_is_absorbed_by_default(cli, account):
    cli("track", "add", "INFY", "--qty", "10")
    holdings(account, INFY=15)
    assert reconcile(cli)["decisions"][0]["action"] == "manual_buy"
    assert tracked(cli) == {"INFY": (15, "ACTIVE")}


def test_manual_buy_can_be_ignored(cli, account, tmp_path, monkeypatch, sql):
    config = tmp_path / "c.toml"
    config.write_text('[reconcile]\nmanual_buys = "ignore"\n')
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    cli("track", "add", "INFY", "--qty", "10")
    holdings(account, INFY=15)
    assert reconcile(cli)["decisions"][0]["action"] == "manual_buy_ignored"
    assert reconcile(cli)["decisions"][0]["action"] == "manual_buy_ignored"
    assert tracked(cli) == {"INFY": (10, "ACTIVE")}
    assert sql("SELECT count(*) FROM outbox") == [(1,)]  # reported once


def test_todays_system_buy_in_positions_only_is_no_manual_sell(cli, account):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    account.orders(kotak_row("1", "complete", qty=10, filled=10))
    with freeze_time(NOW - timedelta(hours=2)):
        cli("verify")
    positions(account, ("INFY", 10, 0))  # holdings are T+1: nothing there yet
    [d] = reconcile(cli)["decisions"]
    assert d["action"] == "none" and d["owned"] == 10


def test_symbol_with_an_order_in_flight_is_deferred(cli, account):
    cli("track", "add", "INFY", "--qty", "10")
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "sell", "--qty", "10")
    [d] = reconcile(cli)["decisions"]
    assert d["action"] == "deferred" and "1 still in flight" in d["reason"]
    assert tracked(cli) == {"INFY": (10, "ACTIVE")}


def test_very_recent_system_fill_is_deferred(cli, account):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    fill_ns = int((NOW - timedelta(minutes=2)).timestamp() * 1e9)
    account.orders(kotak_row("1", "complete", qty=10, filled=10, updRecvTm=fill_ns))
    with freeze_time(NOW - timedelta(minutes=1)):
        cli("verify")
    positions(account, ("INFY", 10, 0))
    [d] = reconcile(cli)["decisions"]
    assert d["action"] == "deferred" and "too recent" in d["reason"]


def test_a_fill_keeps_the_brokers_time_and_reconcile_reads_it(cli, account, sql):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    fill = NOW - timedelta(hours=2)
    account.orders(
        kotak_row("1", "complete", qty=10, filled=10, updRecvTm=int(fill.timestamp() * 1e9))
    )
    with freeze_time(NOW - timedelta(minutes=1)):  # seen just now, filled long ago
        cli("verify")
    assert sql("SELECT broker_time FROM events WHERE delta_qty > 0") == [
        ("2026-11-25T08:30:00.000000+00:00",)
    ]
    positions(account, ("INFY", 10, 0))
    [d] = reconcile(cli)["decisions"]
    assert d["action"] == "none"
    # An event recorded before the broker's time was kept falls back to when it was seen.
    sql("UPDATE events SET broker_time = NULL")
    [d] = reconcile(cli)["decisions"]
    assert d["action"] == "deferred" and "too recent" in d["reason"]


def test_positions_missing_todays_fill_is_deferred_not_a_sell(cli, account):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10")
    cli("pending", "add", "2", "--symbol", "TCS", "--side", "buy", "--qty", "5")
    account.orders(
        kotak_row("1", "complete", qty=10, filled=10),
        kotak_row("2", "complete", symbol="TCS", qty=5, filled=5),
    )
    with freeze_time(NOW - timedelta(hours=2)):
        cli("verify")
    positions(account, ("TCS", 5, 0))  # incomplete: INFY's row is missing
    decisions = {d["symbol"]: d for d in reconcile(cli)["decisions"]}
    assert decisions["INFY"]["action"] == "deferred"
    assert "positions do not show" in decisions["INFY"]["reason"]
    assert decisions["TCS"]["action"] == "none"
    assert tracked(cli) == {"INFY": (10, "ACTIVE"), "TCS": (5, "ACTIVE")}


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("holdings.json", "<html>502</html>"),
        ("holdings.json", {"Error": "Unexpected response format"}),
        ("positions.json", {"stat": "Not_Ok", "stCode": 1005, "errMsg": "internal"}),
        ("orders.json", {"stat": "Not_Ok", "stCode": 100022, "errMsg": "invalid session token"}),
    ],
)
def test_any_failed_fetch_changes_nothing_exit_4(cli, account, sql, name, payload):
    cli("track", "add", "INFY", "--qty", "10")
    account.write(name, payload)
    result = reconcile(cli, code=ExitCode.BROKER)
    assert "fetch failed, nothing was changed" in result.err
    assert tracked(cli) == {"INFY": (10, "ACTIVE")}
    assert sql("SELECT count(*) FROM adjustments") == [(0,)]


def test_eq_suffix_mismatch_is_one_symbol(cli, account):
    cli("track", "add", "MIRZAINT", "--qty", "7")
    holdings(account, **{"MIRZAINT-EQ": 4})
    positions(account, ("MIRZAINT", 3, 0))
    assert reconcile(cli)["decisions"][0]["action"] == "none"


def test_untracked_holdings_are_ignored(cli, account, sql):
    cli("track", "add", "INFY", "--qty", "10")
    holdings(account, INFY=10, RELIANCE=500, TCS=3)
    data = reconcile(cli)
    assert [d["symbol"] for d in data["decisions"]] == ["INFY"]
    assert sql("SELECT symbol FROM holdings_history") == [("INFY",)]
    assert tracked(cli) == {"INFY": (10, "ACTIVE")}


def test_second_reconcile_on_same_data_changes_nothing(cli, account, sql, db_path):
    cli("track", "add", "INFY", "--qty", "100")
    cli("track", "add", "TCS", "--qty", "5")
    holdings(account, INFY=60, TCS=9)
    reconcile(cli)
    snapshot = [
        sql(f"SELECT * FROM {t}")
        for t in ("tracking", "tracking_changes", "adjustments", "outbox", "holdings_history")
    ]
    again = reconcile(cli)
    assert {d["action"] for d in again["decisions"]} == {"none"}
    assert [
        sql(f"SELECT * FROM {t}")
        for t in ("tracking", "tracking_changes", "adjustments", "outbox", "holdings_history")
    ] == snapshot


def test_dry_run_writes_nothing(cli, account, sql):
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=60)
    data = reconcile(cli, "--dry-run")
    assert data["dry_run"] and data["manual_sell"] == 1
    assert tracked(cli) == {"INFY": (100, "ACTIVE")}
    assert sql("SELECT count(*) FROM adjustments") == [(0,)]
    assert sql("SELECT count(*) FROM holdings_history") == [(0,)]
    with freeze_time(NOW):
        table = cli("reconcile", "--dry-run").out
    assert "dry run" in table and "manual sell" in table


def test_table_output_and_notification(cli, account):
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=60)
    with freeze_time(NOW):
        out = cli("reconcile").out
    assert "INFY" in out and "Manual sell on INFY: tracked quantity 100 → 60" in out


def test_manual_trades_count_in_the_daily_summary(cli, account, tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=60)
    reconcile(cli)
    with freeze_time(NOW + timedelta(hours=2)):
        data = json.loads(cli("eod", "--json").out)
    assert data["summary"]["manual_trades"] == 1


def test_reconcile_delivers_manual_trade_alerts(cli, account, telegram):
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=60)
    reconcile(cli)
    reconcile(cli)
    [text] = telegram.texts()
    assert "INFY" in text and "60" in text


def test_dry_run_sends_nothing(cli, account, telegram):
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=60)
    reconcile(cli, "--dry-run")
    assert telegram.texts() == []


def test_the_same_manual_sell_twice_in_a_day_is_applied_twice(cli, account, sql):
    """Review bug: a day-based key swallowed a repeat of the same numbers."""
    cli("track", "add", "INFY", "--qty", "100")
    holdings(account, INFY=50)
    reconcile(cli)  # 100 -> 50
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "50")
    account.orders(kotak_row("1", "complete", qty=50, filled=50))
    with freeze_time(NOW - timedelta(hours=1)):
        cli("verify")  # tracked 100 again
    positions(account, ("INFY", 50, 50))  # the system buy, and a second manual sell of 50
    account.orders(
        kotak_row("1", "complete", qty=50, filled=50),
        kotak_row("77", "complete", side="S", qty=50, filled=50),
    )
    [d] = reconcile(cli)["decisions"]
    assert (d["action"], d["tracked"], d["owned"]) == ("manual_sell", 100, 50)
    assert tracked(cli) == {"INFY": (50, "ACTIVE")}
    assert sql("SELECT count(*) FROM outbox WHERE kind = 'MANUAL_TRADE'") == [(2,)]


@pytest.mark.parametrize(
    "payload",
    [
        {"stat": "Not_Ok", "stCode": 100022, "errMsg": "invalid session token", "data": []},
        {"error": [{"code": "10512", "message": "Required header not found."}], "data": []},
    ],
)
def test_an_error_reply_for_holdings_is_never_read_as_no_holdings(cli, account, payload):
    cli("track", "add", "INFY", "--qty", "100")
    account.write("holdings.json", payload)
    reconcile(cli, code=ExitCode.BROKER)
    assert tracked(cli) == {"INFY": (100, "ACTIVE")}
