"""A week of trading through the file broker (Kotak's replies as files), run by the real CLI:
`pnl --week --json`, each day's summary, the feed and the notifications all show the same
numbers, worked out by hand below."""

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from freezegun import freeze_time

from ordertrack.timeutil import IST
from tests.helpers import NO_DATA, BrokerFiles, kotak_row


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture
def calendar(tmp_path, monkeypatch):
    config = tmp_path / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    return config


def holding(symbol: str, qty: int, avg: float, close: float) -> dict[str, Any]:
    return {
        "displaySymbol": symbol,
        "symbol": symbol,
        "quantity": qty,
        "averagePrice": avg,
        "holdingCost": round(qty * avg, 4),
        "mktValue": round(qty * close, 2),
        "closingPrice": close,
        "exchangeSegment": "nse_cm",
        "sellableQuantity": qty,
    }


def trade(
    order_id: str, fill_id: str, symbol: str, side: str, qty: int, price: str, day: str, at: str
) -> dict[str, Any]:
    return {
        "nOrdNo": order_id,
        "flId": fill_id,
        "fldQty": qty,
        "avgPrc": price,
        "trnsTp": side,
        "trdSym": f"{symbol}-EQ",
        "sym": symbol,
        "exSeg": "nse_cm",
        "flDt": day,
        "flTm": at,
        "rptTp": "fill",
        "prod": "CNC",
    }


class Week:
    """The broker's files, day by day."""

    def __init__(self, broker: BrokerFiles, cli: Callable[..., Any]):
        self.broker, self.cli = broker, cli

    def day(
        self,
        holdings: list[dict[str, Any]],
        orders: list[dict[str, Any]],
        trades: list[dict[str, Any]] | str,
    ) -> None:
        self.broker.write("holdings.json", {"data": holdings})
        self.broker.write("positions.json", NO_DATA)
        self.broker.orders(*orders)
        self.broker.write(
            "trades.json",
            trades
            if isinstance(trades, str)
            else {"stat": "ok", "stCode": 200, "data": trades}
            if trades
            else NO_DATA,
        )

    def run(self, *args: str) -> Any:
        result = self.cli(*args)
        assert result.code == 0, result.err
        return json.loads(result.out) if "--json" in args else result.out


def register(week: Week, order_id: str, symbol: str, side: str, qty: int) -> None:
    week.run("pending", "add", order_id, "--symbol", symbol, "--side", side, "--qty", str(qty))


def done(order_id: str, symbol: str, side: str, qty: int, avg: str) -> dict[str, Any]:
    return kotak_row(order_id, "complete", symbol=symbol, side=side, qty=qty, filled=qty, avg=avg)


def trade_a_week(cli, broker, sql, tmp_path) -> dict[str, Any]:
    """Mon–Fri 23–27 Nov 2026 as the docstring of this module says; what each place shows."""
    week = Week(broker, cli)
    summaries, notes = {}, {}
    with freeze_time(ist(2026, 11, 23, 9, 0)) as clock:
        # Mon: INFY 10 held at 100; sold 5 at 120 (the order book says 119: the trade book wins)
        week.day([holding("INFY", 10, 100, 100)], [], [])
        week.run("reconcile")
        register(week, "S1", "INFY", "sell", 5)
        clock.move_to(ist(2026, 11, 23, 10, 0))
        week.day(
            [holding("INFY", 10, 100, 100)],
            [done("S1", "INFY", "S", 5, "119.00")],
            [trade("S1", "1", "INFY", "S", 5, "120.00", "23-Nov-2026", "09:45:00")],
        )
        week.run("verify")
        clock.move_to(ist(2026, 11, 23, 18, 30))
        summaries["mon"] = week.run("eod", "--json")["summary"]
        # Tue: TCS bought 10 at 50; an intraday round trip in INFY (2 at 110, 2 at 115)
        clock.move_to(ist(2026, 11, 24, 9, 0))
        for order in (
            ("B1", "TCS", "buy", 10),
            ("B2", "INFY", "buy", 2),
            ("S2", "INFY", "sell", 2),
        ):
            register(week, *order)
        clock.move_to(ist(2026, 11, 24, 11, 0))
        week.day(
            [holding("INFY", 5, 100, 118)],
            [
                done("B1", "TCS", "B", 10, "50.00"),
                done("B2", "INFY", "B", 2, "110.00"),
                done("S2", "INFY", "S", 2, "115.00"),
            ],
            [
                trade("B1", "2", "TCS", "B", 10, "50.00", "24-Nov-2026", "09:30:00"),
                trade("B2", "3", "INFY", "B", 2, "110.00", "24-Nov-2026", "10:00:00"),
                trade("S2", "4", "INFY", "S", 2, "115.00", "24-Nov-2026", "10:30:00"),
            ],
        )
        week.run("verify")
        clock.move_to(ist(2026, 11, 24, 18, 30))
        summaries["tue"] = week.run("eod", "--json")["summary"]
        # Wed: TCS 4 sold at 55 while the trade book cannot be read; eod fills the figure in
        clock.move_to(ist(2026, 11, 25, 9, 0))
        register(week, "S3", "TCS", "sell", 4)
        wed = [holding("INFY", 5, 100, 121), holding("TCS", 10, 50, 52)]
        week.day(wed, [done("S3", "TCS", "S", 4, "55.00")], "{not json")
        clock.move_to(ist(2026, 11, 25, 10, 0))
        week.run("verify")
        week.day(
            wed,
            [done("S3", "TCS", "S", 4, "55.00")],
            [trade("S3", "5", "TCS", "S", 4, "55.00", "25-Nov-2026", "09:50:00")],
        )
        clock.move_to(ist(2026, 11, 25, 18, 30))
        summaries["wed"] = week.run("eod", "--json")["summary"]
        # Thu: a manual sell of INFY 1 at 130, an order ordertrack never registered
        clock.move_to(ist(2026, 11, 26, 18, 30))
        week.day(
            [holding("INFY", 5, 100, 122), holding("TCS", 6, 50, 54)],
            [done("M1", "INFY", "S", 1, "130.00")],
            [trade("M1", "6", "INFY", "S", 1, "130.00", "26-Nov-2026", "11:00:00")],
        )
        summaries["thu"] = week.run("eod", "--json")["summary"]
        # Fri: nothing traded; holdings valued at the close the broker gives
        clock.move_to(ist(2026, 11, 27, 18, 30))
        week.day([holding("INFY", 4, 100, 125), holding("TCS", 6, 50, 56)], [], [])
        summaries["fri"] = week.run("eod", "--json")["summary"]
        clock.move_to(ist(2026, 11, 27, 20, 0))
        pnl = week.run("pnl", "--week", "--json")
        raw = cli("pnl", "--week", "--json").out
        text = cli("pnl", "--week").out
        feed = [json.loads(line) for line in cli("events", "--json").out.splitlines()]
        for key, payload in sql("SELECT key, payload FROM outbox WHERE kind = 'EXECUTED'"):
            notes[key.split(":")[0]] = json.loads(payload)
        report = tmp_path / "week.html"
        week.run("report", "--week", "--out", str(report))
        lines = cli("outbox", "list", "--oldest").out
    return {
        "summaries": summaries,
        "notes": notes,
        "pnl": pnl,
        "raw": raw,
        "text": text,
        "feed": feed,
        "report": report,
        "outbox": lines,
    }


def test_a_week_of_trading(cli, broker, calendar, sql, tmp_path) -> None:
    got = trade_a_week(cli, broker, sql, tmp_path)
    summaries, notes, pnl, raw, text, feed = (
        got[k] for k in ("summaries", "notes", "pnl", "raw", "text", "feed")
    )

    assert pnl["from"] == "2026-11-21" and pnl["to"] == "2026-11-27"
    assert (pnl["realised"], pnl["unrealised"]) == (160.0, 136.0)  # 100 + 10 + 20 + 30
    assert (pnl["charges"], pnl["net"], pnl["before_charges"]) == (None, None, True)
    by = {s["symbol"]: s for s in pnl["symbols"]}
    assert by["INFY"] == {
        "symbol": "INFY",
        "bought_qty": 2,
        "sold_qty": 8,
        "avg_cost": 100.0,
        "realised": 140.0,
        "open_qty": 4,
        "close_price": 125.0,
        "unrealised": 100.0,
        "manual": 30.0,
    }
    assert by["TCS"] == {
        "symbol": "TCS",
        "bought_qty": 10,
        "sold_qty": 4,
        "avg_cost": 50.0,
        "realised": 20.0,
        "open_qty": 6,
        "close_price": 56.0,
        "unrealised": 36.0,
        "manual": 0.0,
    }
    assert '"realised": 160.00,' in raw and '"manual": 30.00' in raw  # two decimals
    # each day's summary: the same numbers, day by day
    daily = {d: s["pnl"]["realised"] for d, s in summaries.items() if "pnl" in s}
    assert daily == {"mon": 100.0, "tue": 10.0, "wed": 20.0, "thu": 30.0, "fri": 0.0}
    assert summaries["fri"]["pnl"]["unrealised"] == 136.0
    assert summaries["fri"]["pnl"]["valued"] == 2
    assert [s["pnl"]["mismatches"] for s in summaries.values()] == [[]] * 5  # fills explain all
    # the SELL notification carries what it realised; the one seen without a trade book not
    assert (notes["S1"]["realised"], notes["S1"]["avg_cost"]) == (100.0, 100.0)
    assert notes["S2"]["realised"] == 10.0 and notes["S2"]["avg_cost"] == 110.0
    assert "realised" not in notes["S3"] and "realised" not in notes["B1"]
    # the feed: sells' executions carry `realised` (S3's filled in by eod), buys do not
    executed = {e["order_id"]: e for e in feed if e["kind"] == "EXECUTED"}
    assert executed["S1"]["realised"] == 100.0 and executed["S3"]["realised"] == 20.0
    assert "realised" not in executed["B1"]
    assert "₹+160.00" in text and "before charges" in text and "previous close" in text
    # the report: the same totals, bars and cumulative line
    page = got["report"].read_text(encoding="utf-8")
    assert "Realised <b>₹+160.00</b>, unrealised <b>₹+136.00</b> (before charges)" in page
    assert 'data-symbol="INFY" data-realised="140.00"' in page
    assert 'data-symbol="TCS" data-realised="20.00"' in page
    cumulative = re.findall(r'data-day="([0-9-]+)" data-cumulative="([0-9.-]+)"', page)
    assert cumulative[-1] == ("2026-11-27", "160.00") and len(cumulative) == 7
    assert cumulative[2:4] == [("2026-11-23", "100.00"), ("2026-11-24", "110.00")]
    # the datasette canned query shows the sells' figures as notified (S3's filled in by eod)
    from ordertrack.store.datasette import QUERIES

    rows = sql(QUERIES["realised_by_sell"]["sql"])
    assert sorted((r[2], r[6]) for r in rows) == [("S1", 100.0), ("S2", 10.0), ("S3", 20.0)]


def test_the_summary_and_the_sell_notification_read_as_money(
    cli, broker, calendar, sql, tmp_path
) -> None:
    from ordertrack.notify import messages

    got = trade_a_week(cli, broker, sql, tmp_path)
    fri = "\n".join(messages.summary_lines(got["summaries"]["fri"]))
    assert (
        "P&L today: realised ₹+0.00, unrealised ₹+136.00 on 2 tracked holdings (before charges)"
    ) in fri
    assert (
        "INFY: bought 0, sold 0, realised ₹+0.00, open 4, avg cost ₹100.00, unrealised"
        " ₹+100.00 at ₹125.00 (previous close)" in fri
    )
    thu = "\n".join(messages.summary_lines(got["summaries"]["thu"]))
    assert "INFY: bought 0, sold 1, realised ₹+30.00 (₹+30.00 manual)" in thu
    sell = messages.message("EXECUTED", got["notes"]["S1"])
    assert any("realised ₹+100.00 (avg cost ₹100.00)" in part.plain for part in sell)
    assert "realised ₹+100.00 (avg cost ₹100.00)" in messages.plain_text(
        "EXECUTED", got["notes"]["S1"]
    )
    assert messages.signed_inr(-1234567.5) == "₹−12,34,567.50"


def _near(pixel: bytes, colour: str, slack: int = 12) -> bool:
    want = bytes.fromhex(colour.lstrip("#"))
    return all(abs(a - b) <= slack for a, b in zip(pixel, want, strict=True))


@pytest.mark.parametrize("width", [360, 1280])
def test_the_pnl_charts_render_in_chromium(cli, broker, calendar, sql, tmp_path, width) -> None:
    from ordertrack.jobs.pnl_report import GAIN, LINE
    from tests import helpers
    from tests import test_report_browser as browser

    if helpers.CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    got = trade_a_week(cli, broker, sql, tmp_path)
    page = got["report"].with_suffix(".pnl.html")
    # the P&L section alone, styled as in the report: the screenshot shows its charts whole
    html = got["report"].read_text(encoding="utf-8")
    main = re.search(r'<section id="profit-and-loss">.*?</section>', html, re.S)
    assert main is not None
    page.write_text(
        html.split("<main>")[0] + "<main>" + main.group(0) + "</main></body></html>",
        encoding="utf-8",
    )
    shot = tmp_path / f"pnl-{width}.png"
    result = helpers.chromium(
        page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={width},1400"
    )
    assert shot.exists(), result.stderr[-2000:]
    got_width, _, rows = browser.pixels(shot.read_bytes())
    assert got_width == width
    pixels = [pixel for row in rows for pixel in row]
    bars = sum(_near(p, GAIN) for p in pixels)
    line = sum(_near(p, LINE) for p in pixels)
    assert bars > width * 2, f"the bar chart drew {bars} pixels"
    assert line > width // 4, f"the cumulative line drew {line} pixels"
    assert not [x for x in result.stderr.splitlines() if "CONSOLE" in x]
