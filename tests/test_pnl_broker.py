"""Each broker's trade book read into fills, and its holdings into cost and prices: the
documented Kotak samples, the fake brokers over HTTP, and Kite's official client against the
same fake (so the fake's /trades shape is the one the real client reads)."""

import json
import os
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from ordertrack.broker.base import make_broker
from ordertrack.broker.file import FileBroker
from ordertrack.broker.kite import format as kite_format
from ordertrack.broker.kotak import format as kf
from ordertrack.config import load
from ordertrack.core import pnl
from ordertrack.core.book import Outcome
from ordertrack.core.models import Side
from ordertrack.store.db import open_db
from tests.fake_kite import SECRETS as KITE_SECRETS
from tests.fake_kite import FakeKite, ok
from tests.fake_kotak import TRADES, FakeKotak, Scripted
from tests.helpers import NO_DATA

FIXTURES = Path(__file__).parent / "fixtures" / "kotak"


def load_fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_documented_trade_book_is_two_fills_with_price_and_time() -> None:
    fetch = kf.trade_book(load_fixture("trade-book.json"))
    assert fetch.outcome is Outcome.OK and fetch.skipped == 0
    first, second = fetch.items
    assert (first.order_id, first.fill_id, first.symbol, first.side, first.qty, first.price) == (
        "250122000612876",
        "207983744",
        "IDEA",
        Side.BUY,
        1,
        9.39,
    )
    assert first.at == datetime(2025, 1, 22, 8, 58, 16, tzinfo=UTC)  # 14:28:16 IST
    assert second.fill_id == "208109719" and second.at == datetime(2025, 1, 22, 9, 3, 1, tzinfo=UTC)


def test_documented_holdings_give_cost_and_prices() -> None:
    (holding,) = kf.holdings(load_fixture("holdings.json")).items
    assert (holding.symbol, holding.qty, holding.avg_price, holding.close_price) == (
        "IDEA",
        35,
        9.5699,
        9.36,
    )
    assert (holding.cost, holding.value) == (334.9475, 327.6)
    # our cost from the average agrees with the broker's holdingCost to the paisa a share
    assert pnl.agrees(pnl.price(holding.avg_price), Fraction("334.9475") / 35, 1)
    row = pnl.compute(
        {"IDEA": pnl.Basis("IDEA", 35, pnl.price(holding.avg_price))},
        [],
        [],
        {"IDEA": pnl.Mark(pnl.price(holding.close_price), "previous close")},
    )
    assert pnl.rupees(row.symbols[0].unrealised) == pnl.rupees(
        Fraction("327.6") - Fraction("9.5699") * 35
    )


def test_zero_price_in_the_trade_book_is_no_price() -> None:
    row = {**load_fixture("trade-book.json")["data"][0], "avgPrc": "0.00"}  # type: ignore[index]
    fetch = kf.trade_book({"stat": "ok", "stCode": 200, "data": [row]})
    assert fetch.items[0].price is None


def test_trade_book_empty_and_failed_are_told_apart() -> None:
    assert kf.trade_book(NO_DATA).outcome is Outcome.EMPTY
    failed = kf.trade_book({"stat": "Not_Ok", "stCode": 1005, "errMsg": "oops"})
    assert failed.outcome is Outcome.FAILED and "oops" in (failed.error or "")
    bad = {"stat": "ok", "stCode": 200, "data": [{"nOrdNo": "1", "fldQty": "x", "trnsTp": "B"}]}
    assert kf.trade_book(bad).skipped == 1


def test_file_broker_reads_trades_json_in_the_brokers_envelope(tmp_path: Path) -> None:
    broker = FileBroker(tmp_path)
    assert broker.trade_book().outcome is Outcome.UNSUPPORTED
    (tmp_path / "trades.json").write_text(json.dumps(NO_DATA))
    assert broker.trade_book().outcome is Outcome.EMPTY
    (tmp_path / "trades.json").write_text(json.dumps(load_fixture("trade-book.json")))
    assert [f.fill_id for f in broker.trade_book().items] == ["207983744", "208109719"]
    (tmp_path / "trades.json").write_text("{")
    assert broker.trade_book().outcome is Outcome.FAILED


def test_kotak_client_reads_the_trade_book_over_http(kotak: FakeKotak, db_path: Path) -> None:
    client = make_broker(load(os.environ), open_db(db_path))
    (fill,) = client.trade_book().items
    assert (fill.order_id, fill.symbol, fill.price, fill.qty) == (
        "250122000624384",
        "IDEA",
        9.39,
        1,
    )
    kotak.script(TRADES, Scripted(200, NO_DATA))
    assert client.trade_book().outcome is Outcome.EMPTY
    kotak.script(TRADES, Scripted(500, "<html>oops</html>"), Scripted(500, "x"), Scripted(500, "x"))
    assert client.trade_book().outcome is Outcome.FAILED


@pytest.fixture
def kite_trades(kite_login: FakeKite) -> FakeKite:
    kite_login.trades = ok(
        [
            {**kite_login.trades["data"][0]},
            {
                **kite_login.trades["data"][0],
                "trade_id": "2",
                "transaction_type": "SELL",
                "average_price": 0,
                "fill_timestamp": "2026-11-24 10:15:00",
            },
        ]
    )
    return kite_login


def test_kite_client_and_the_official_client_read_the_same_fills(
    kite_trades: FakeKite, db_path: Path
) -> None:
    kiteconnect = pytest.importorskip("kiteconnect")
    ours = make_broker(load(os.environ), open_db(db_path)).trade_book()
    official = kiteconnect.KiteConnect(
        KITE_SECRETS["KITE_API_KEY"],
        access_token=next(iter(kite_trades._access)),
        root=kite_trades.url,
    )
    theirs = official.trades()
    assert [(f.fill_id, f.order_id, f.side.value, f.qty) for f in ours.items] == [
        (t["trade_id"], t["order_id"], t["transaction_type"], t["quantity"]) for t in theirs
    ]
    assert ours.items[0].price == theirs[0]["average_price"] == 9.39
    assert ours.items[1].price is None  # 0 is never believed
    assert ours.items[0].at == datetime(2026, 11, 24, 4, 0, 5, tzinfo=UTC)


def test_kite_holdings_carry_last_price_and_the_brokers_pnl() -> None:
    fetch = kite_format.holdings(
        ok(
            [
                {
                    "tradingsymbol": "INFY",
                    "quantity": 5,
                    "t1_quantity": 1,
                    "average_price": 1500.5,
                    "last_price": 1600,
                    "close_price": 1590,
                    "pnl": 499.5,
                }
            ]
        )
    )
    (h,) = fetch.items
    assert (h.avg_price, h.last_price, h.close_price, h.pnl) == (1500.5, 1600, 1590, 499.5)
