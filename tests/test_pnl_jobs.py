"""P&L through the real CLI, case by case: partial fills, an expiry corrected later, a manual
sell found by reconcile, a price nobody knows, the broker disagreeing, charges, when verify
reads the trade book, and bad input."""

import json
import os
from datetime import datetime
from typing import Any

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.timeutil import IST
from tests.fake_kotak import TRADES, FakeKotak
from tests.helpers import NO_DATA, BrokerFiles, kotak_row


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "ordertrack.toml"
    path.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(path))
    return path


def files(
    broker: BrokerFiles,
    holdings: list[tuple[str, int, float]],
    orders: list[dict[str, Any]],
    trades: list[dict[str, Any]] | None = None,
    positions: list[dict[str, Any]] | None = None,
) -> None:
    broker.write(
        "holdings.json",
        {
            "data": [
                {"displaySymbol": s, "quantity": q, "averagePrice": a, "closingPrice": a}
                for s, q, a in holdings
            ]
        },
    )
    broker.write(
        "positions.json", {"stat": "Ok", "stCode": 200, "data": positions} if positions else NO_DATA
    )
    broker.orders(*orders)
    if trades is not None:
        broker.write(
            "trades.json", {"stat": "ok", "stCode": 200, "data": trades} if trades else NO_DATA
        )


def fill(
    order_id: str,
    fill_id: str,
    side: str,
    qty: int,
    price: str,
    at: str = "10:00:00",
    symbol: str = "INFY",
) -> dict[str, Any]:
    return {
        "nOrdNo": order_id,
        "flId": fill_id,
        "fldQty": qty,
        "avgPrc": price,
        "trnsTp": side,
        "trdSym": f"{symbol}-EQ",
        "flDt": "24-Nov-2026",
        "flTm": at,
    }


def ok(cli, *args: str) -> Any:
    result = cli(*args)
    assert result.code == 0, result.err
    return json.loads(result.out) if "--json" in args else result.out


def notes(sql, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(p) for (p,) in sql("SELECT payload FROM outbox WHERE kind = ? ORDER BY id", kind)
    ]


def test_partial_fills_realise_each_part_once(cli, broker, config, sql) -> None:
    with freeze_time(ist(2026, 11, 24, 9, 0)) as clock:
        files(broker, [("INFY", 10, 100)], [])
        ok(cli, "reconcile")
        ok(cli, "pending", "add", "S", "--symbol", "INFY", "--side", "sell", "--qty", "10")
        clock.move_to(ist(2026, 11, 24, 10, 0))
        files(
            broker,
            [("INFY", 10, 100)],
            [kotak_row("S", "open", side="S", qty=10, filled=3, avg="110.00")],
            [fill("S", "1", "S", 3, "110.00")],
        )
        ok(cli, "verify")
        clock.move_to(ist(2026, 11, 24, 11, 0))
        files(
            broker,
            [("INFY", 10, 100)],
            [kotak_row("S", "complete", side="S", qty=10, filled=10, avg="111.40")],
            [fill("S", "1", "S", 3, "110.00"), fill("S", "2", "S", 7, "112.00", "10:30:00")],
        )
        ok(cli, "verify")
        pnl = ok(cli, "pnl", "--json")
    (partial,), (executed,) = notes(sql, "PARTIAL_FILL"), notes(sql, "EXECUTED")
    assert (partial["realised"], partial["avg_cost"]) == (30.0, 100.0)
    assert (executed["realised"], executed["avg_cost"]) == (84.0, 100.0)  # 7 × (112 − 100)
    assert pnl["realised"] == 114.0 and pnl["symbols"][0]["sold_qty"] == 10


def test_an_expiry_corrected_to_executed_counts_its_fills(cli, broker, config, sql) -> None:
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:
        ok(cli, "pending", "add", "1", "--symbol", "INFY", "--side", "sell", "--qty", "10")
        files(broker, [("INFY", 10, 1800)], [kotak_row("99", "open")])
        broker.write("history/1.json", "{broken")
        clock.move_to(ist(2026, 11, 30, 18, 0))
        ok(cli, "eod")
        assert sql("SELECT status FROM orders") == [("EXPIRED",)]
        assert ok(cli, "pnl", "--json")["realised"] == 0.0
        clock.move_to(ist(2026, 12, 1, 10, 0))
        files(
            broker,
            [("INFY", 10, 1800)],
            [
                kotak_row(
                    "1",
                    "complete",
                    side="S",
                    qty=10,
                    filled=10,
                    avg="1850.50",
                    hsUpTm="2026/12/01 09:30:00",
                )
            ],
        )
        ok(cli, "verify")
        pnl = ok(cli, "pnl", "--json")
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]
    assert pnl["realised"] == 505.0  # 10 × (1850.50 − 1800), the order book's price
    assert pnl["symbols"][0]["open_qty"] == 0


def test_trade_book_price_wins_over_the_order_books_average(cli, broker, config, sql) -> None:
    with freeze_time(ist(2026, 11, 24, 9, 0)) as clock:
        files(broker, [("INFY", 10, 100)], [])
        ok(cli, "reconcile")
        ok(cli, "pending", "add", "S", "--symbol", "INFY", "--side", "sell", "--qty", "4")
        clock.move_to(ist(2026, 11, 24, 10, 0))
        files(
            broker,
            [("INFY", 10, 100)],
            [kotak_row("S", "complete", side="S", qty=4, filled=4, avg="0.00")],
            [fill("S", "1", "S", 4, "125.00")],
        )
        ok(cli, "verify")
        assert ok(cli, "pnl", "--json")["realised"] == 100.0
        # without the trade book, a 0 in the order book is never believed: price unknown
        broker.write("trades.json", NO_DATA)
        sql("DELETE FROM fills")
        assert ok(cli, "pnl", "--json")["realised"] == 0.0
        assert "price unknown" in ok(cli, "pnl")


def test_a_manual_sell_found_by_reconcile_counts_and_is_marked(cli, broker, config) -> None:
    with freeze_time(ist(2026, 11, 24, 9, 0)) as clock:
        ok(cli, "track", "add", "INFY", "--qty", "10")
        files(broker, [("INFY", 10, 100)], [])
        ok(cli, "reconcile")
        clock.move_to(ist(2026, 11, 24, 15, 45))
        files(
            broker,
            [("INFY", 10, 100)],
            [
                kotak_row(
                    "M9",
                    "complete",
                    side="S",
                    qty=4,
                    filled=4,
                    avg="120.00",
                    hsUpTm="2026/11/24 11:00:00",
                )
            ],
            positions=[{"trdSym": "INFY-EQ", "flBuyQty": "0", "flSellQty": "4"}],
        )
        assert ok(cli, "reconcile", "--json")["manual_sell"] == 1
        pnl = ok(cli, "pnl", "--json")
    (infy,) = pnl["symbols"]
    assert (infy["realised"], infy["manual"], infy["open_qty"]) == (80.0, 80.0, 6)


@pytest.mark.parametrize(
    "amounts, realised",
    [
        ({"sellAmt": "484.00"}, 84.0),  # 4 at 121
        ({}, None),
    ],
)
def test_a_manual_sell_without_a_price_takes_the_positions_amounts(
    cli, broker, config, amounts, realised
) -> None:
    with freeze_time(ist(2026, 11, 24, 9, 0)) as clock:
        ok(cli, "track", "add", "INFY", "--qty", "10")
        files(broker, [("INFY", 10, 100)], [])
        ok(cli, "reconcile")
        clock.move_to(ist(2026, 11, 24, 15, 45))
        files(
            broker,
            [("INFY", 10, 100)],
            [
                kotak_row(
                    "M9",
                    "complete",
                    side="S",
                    qty=4,
                    filled=4,
                    avg="0.00",
                    hsUpTm="2026/11/24 11:00:00",
                )
            ],
            positions=[
                {
                    "trdSym": "INFY-EQ",
                    "flBuyQty": "0",
                    "flSellQty": "4",
                    "buyAmt": "0.00",
                    **amounts,
                }
            ],
        )
        ok(cli, "reconcile")
        pnl = ok(cli, "pnl", "--json")
        text = ok(cli, "pnl")
    (infy,) = pnl["symbols"]
    if realised is None:  # neither the order book nor the positions give a price
        assert infy["realised"] == 0.0 and "price unknown" in text
    else:
        assert (infy["realised"], infy["manual"]) == (realised, realised)
    assert infy["open_qty"] == 6


def test_the_summary_says_when_the_broker_disagrees(cli, broker, config, sql) -> None:
    with freeze_time(ist(2026, 11, 23, 18, 30)) as clock:
        files(broker, [("INFY", 10, 100)], [], [])
        ok(cli, "eod")
        clock.move_to(ist(2026, 11, 24, 18, 30))  # a 2:1 split the fills cannot explain
        files(broker, [("INFY", 20, 50)], [], [])
        summary = ok(cli, "eod", "--json")["summary"]
    assert summary["pnl"]["mismatches"] == [
        "INFY: the broker holds 20, the fills ordertrack knows leave 10"
    ]
    from ordertrack.notify.messages import plain_text

    text = plain_text("DAILY_SUMMARY", summary)
    assert text.count("P&L check: INFY") == 1
    monday = json.loads(
        sql("SELECT payload FROM outbox WHERE key = 'summary:2026-11-23:final'")[0][0]
    )
    assert monday["pnl"]["mismatches"] == []


def test_a_trade_book_eod_cannot_read_is_said_in_the_summary(cli, broker, config) -> None:
    with freeze_time(ist(2026, 11, 24, 9, 0)) as clock:
        files(broker, [("INFY", 10, 100)], [])
        ok(cli, "reconcile")
        ok(cli, "pending", "add", "S", "--symbol", "INFY", "--side", "sell", "--qty", "4")
        clock.move_to(ist(2026, 11, 24, 18, 30))
        files(
            broker,
            [("INFY", 10, 100)],
            [kotak_row("S", "complete", side="S", qty=4, filled=4, avg="110.00")],
        )
        broker.write("trades.json", "{broken")
        summary = ok(cli, "eod", "--json")["summary"]
    assert summary["pnl"]["realised"] == 40.0  # the order book's average, the fallback
    assert "trades.json is not valid JSON" in summary["pnl"]["problem"]
    from ordertrack.notify.messages import plain_text

    assert "P&L uses the order book's prices where fills are missing" in plain_text(
        "DAILY_SUMMARY", summary
    )


def test_charges_give_net_figures(cli, broker, config, sql) -> None:
    config.write_text(
        config.read_text() + "[charges]\nintraday_brokerage_per_order = 20\n"
        "intraday_brokerage_pct = 0.03\nstt_intraday_sell_pct = 0.025\n"
        "gst_pct = 18\n"
    )
    with freeze_time(ist(2026, 11, 24, 9, 0)) as clock:
        files(broker, [], [])
        ok(cli, "reconcile")
        for order, side in (("B", "buy"), ("S", "sell")):
            ok(cli, "pending", "add", order, "--symbol", "INFY", "--side", side, "--qty", "10")
        clock.move_to(ist(2026, 11, 24, 15, 0))
        files(
            broker,
            [],
            [
                kotak_row("B", "complete", qty=10, filled=10, avg="1000.00"),
                kotak_row("S", "complete", side="S", qty=10, filled=10, avg="1010.00"),
            ],
            [fill("B", "1", "B", 10, "1000.00"), fill("S", "2", "S", 10, "1010.00", "14:00:00")],
        )
        ok(cli, "verify")
        pnl = ok(cli, "pnl", "--json")
    # brokerage min(20, 0.03%) per order: 3.00 + 3.03; STT 0.025% of 10,100: 2.525; GST 18%
    # of the brokerage: 1.0854 → 9.6404 in all
    assert (pnl["realised"], pnl["charges"], pnl["net"]) == (100.0, 9.64, 90.36)
    assert pnl["before_charges"] is False


def test_a_bad_charges_table_is_one_line_and_the_config_exit_code(cli, config, fresh_db) -> None:
    config.write_text("[charges]\ngst = 18\n")
    result = cli("pnl")
    assert result.code == ExitCode.CONFIG
    assert "[charges] has no key 'gst'" in result.err and len(result.err.splitlines()) == 1


@pytest.mark.parametrize(
    "args, says",
    [
        (("--week", "--month"), "choose one of --day, --week, --month, or --from/--to"),
        (("--day", "30-11-2026"), "--day '30-11-2026' is not a date like 2026-11-30"),
        (("--to", "2026-11-30"), "--to needs --from"),
        (("--from", "2026-12-01", "--to", "2026-11-01"), "--from 2026-12-01 is after --to"),
    ],
)
def test_bad_periods_are_usage_errors(cli, fresh_db, args, says) -> None:
    result = cli("pnl", *args)
    assert result.code == ExitCode.USAGE, result.err
    assert says in result.err
    assert len(result.err.splitlines()) == 1 and "Traceback" not in result.err


def test_no_database_is_the_database_exit_code(cli, tmp_path) -> None:
    result = cli("--db", str(tmp_path / "none.db"), "pnl")
    assert result.code == ExitCode.DATABASE and not (tmp_path / "none.db").exists()


def test_verify_reads_the_trade_book_only_after_a_new_fill(cli, kotak: FakeKotak) -> None:
    ok(
        cli,
        "pending",
        "add",
        "250122000700111",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "100",
    )
    ok(cli, "verify")
    assert TRADES not in kotak.paths()  # an open order without fills: no trade book read
    ok(cli, "pending", "add", "250122000624384", "--symbol", "IDEA", "--side", "buy", "--qty", "1")
    ok(cli, "verify")
    ok(cli, "verify")
    assert kotak.paths().count(TRADES) == 1  # once, for the run that saw the fill
    assert os.environ["ORDERTRACK_BROKER"] == "kotak"
