"""The order lifecycle and reconcile, the same for every broker: each scenario runs on
Kotak-, Kite-, Angel- and Fyers-shaped broker files (ORDERTRACK_BROKER_FORMAT), through the CLI,
each parsed by the same code as that broker's live replies.

History settlement: Kotak, Kite and Angel have a per-order lookup (history / order details), so
an open order missing from the book is settled by it. Fyers has none: its order book, trade book
and eod's rules settle an order (an order gone from the book expires at eod)."""

import json
from datetime import datetime
from typing import Any

import pytest
from freezegun import freeze_time

from ordertrack.timeutil import IST
from tests.fake_angel import angel_row
from tests.fake_angel import ok as angel_ok
from tests.fake_fyers import book as fyers_book
from tests.fake_fyers import fyers_row
from tests.fake_kite import kite_row, ok
from tests.helpers import BrokerFiles, kotak_row

BROKERS = ["kotak", "kite", "angel", "fyers"]
WITH_HISTORY = {"kotak", "kite", "angel"}  # Fyers has no per-order history

WORDS = {  # what each broker calls a state
    "kotak": {
        "amo": "after market order req received",
        "open": "open",
        "complete": "complete",
        "rejected": "rejected",
        "cancelled": "cancelled",
    },
    "kite": {
        "amo": "AMO REQ RECEIVED",
        "open": "OPEN",
        "complete": "COMPLETE",
        "rejected": "REJECTED",
        "cancelled": "CANCELLED",
    },
    "angel": {
        "amo": "after market order req received",
        "open": "open",
        "complete": "complete",
        "rejected": "rejected",
        "cancelled": "cancelled",
    },
    "fyers": {"amo": 4, "open": 6, "complete": 2, "rejected": 5, "cancelled": 1},
}


class Account:
    """Writes one broker's replies for the scenarios below."""

    def __init__(self, files: BrokerFiles, fmt: str):
        self.files, self.fmt = files, fmt

    def row(
        self,
        order_id: str,
        state: str,
        *,
        symbol: str = "INFY",
        qty: int = 10,
        filled: int = 0,
        avg: float = 0.0,
        reason: str | None = None,
    ) -> dict[str, Any]:
        word: Any = WORDS[self.fmt][state]
        if self.fmt == "angel":
            return angel_row(
                order_id,
                word,
                symbol=f"{symbol}-EQ",
                qty=qty,
                filled=filled,
                avg=avg,
                reason=reason or "",
                variety="AMO" if state == "amo" else "NORMAL",
            )
        if self.fmt == "fyers":
            return fyers_row(
                order_id,
                word,
                symbol=f"NSE:{symbol}-EQ",
                qty=qty,
                filled=filled,
                price=avg,
                message=reason or "",
                offline=state == "amo",
            )
        if self.fmt == "kite":
            return kite_row(
                order_id,
                word,
                symbol=symbol,
                qty=qty,
                filled=filled,
                avg=avg,
                reason=reason,
                variety="amo" if state == "amo" else "regular",
            )
        return kotak_row(
            order_id,
            word,
            symbol=symbol,
            qty=qty,
            filled=filled,
            avg=f"{avg:.2f}",
            reason=reason or "--",
        )

    def orders(self, *rows: dict[str, Any]) -> None:
        if self.fmt == "angel":
            self.files.write("orders.json", angel_ok(list(rows) or None))
        elif self.fmt == "fyers":
            self.files.write("orders.json", fyers_book(*rows))
        elif self.fmt == "kite":
            self.files.write("orders.json", ok(list(rows)))
        else:
            self.files.orders(*rows)

    def holdings(self, **held: tuple[int, int]) -> None:
        """symbol → (settled, T1): Kotak has no T1 column, so it shows the sum."""
        if self.fmt == "angel":
            self.files.write(
                "holdings.json",
                angel_ok(
                    [
                        {
                            "tradingsymbol": f"{s}-EQ",
                            "quantity": q + t1,
                            "realisedquantity": q,
                            "t1quantity": t1,
                        }
                        for s, (q, t1) in held.items()
                    ]
                ),
            )
        elif self.fmt == "fyers":
            rows = [
                {"symbol": f"NSE:{s}-EQ", "holdingType": kind, "quantity": n}
                for s, (q, t1) in held.items()
                for kind, n in (("HLD", q), ("T1", t1))
                if n
            ]
            self.files.write(
                "holdings.json", {"s": "ok", "code": 200, "message": "", "holdings": rows}
            )
        elif self.fmt == "kite":
            self.files.write(
                "holdings.json",
                ok(
                    [
                        {"tradingsymbol": s, "exchange": "NSE", "quantity": q, "t1_quantity": t1}
                        for s, (q, t1) in held.items()
                    ]
                ),
            )
        else:
            self.files.write(
                "holdings.json",
                {
                    "data": [
                        {"symbol": s, "displaySymbol": s, "quantity": q + t1}
                        for s, (q, t1) in held.items()
                    ]
                },
            )

    def positions(self, **net: int) -> None:
        if self.fmt == "angel":
            self.files.write(
                "positions.json",
                angel_ok(
                    [
                        {
                            "tradingsymbol": f"{s}-EQ",
                            "buyqty": str(max(n, 0)),
                            "sellqty": str(max(-n, 0)),
                            "netqty": str(n),
                        }
                        for s, n in net.items()
                    ]
                    or None
                ),
            )
        elif self.fmt == "fyers":
            self.files.write(
                "positions.json",
                {
                    "s": "ok",
                    "code": 200,
                    "message": "",
                    "netPositions": [
                        {
                            "symbol": f"NSE:{s}-EQ",
                            "dayBuyQty": max(n, 0),
                            "daySellQty": max(-n, 0),
                            "netQty": n,
                        }
                        for s, n in net.items()
                    ],
                },
            )
        elif self.fmt == "kite":
            rows = [
                {"tradingsymbol": s, "exchange": "NSE", "product": "CNC", "quantity": n}
                for s, n in net.items()
            ]
            self.files.write("positions.json", ok({"net": rows, "day": rows}))
        else:
            self.files.write(
                "positions.json",
                {
                    "stat": "Ok",
                    "stCode": 200,
                    "data": [
                        {
                            "trdSym": f"{s}-EQ",
                            "sym": s,
                            "flBuyQty": str(max(n, 0)),
                            "flSellQty": str(max(-n, 0)),
                        }
                        for s, n in net.items()
                    ],
                },
            )

    def history(self, order_id: str, row: dict[str, Any]) -> None:
        """One order's per-order lookup, as the broker answers it."""
        if self.fmt == "angel":
            self.files.write(f"history/{order_id}.json", angel_ok(row))
        elif self.fmt == "kite":
            self.files.write(f"history/{order_id}.json", ok([row]))
        else:
            self.files.history(order_id, row)


@pytest.fixture(params=BROKERS)
def account(request, broker, monkeypatch, tmp_path) -> Account:
    monkeypatch.setenv("ORDERTRACK_BROKER_FORMAT", request.param)
    config = tmp_path / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    return Account(broker, request.param)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def add(cli, *extra: str, qty: int = 10) -> None:
    assert (
        cli(
            "pending", "add", "1001", "--symbol", "INFY", "--side", "buy", "--qty", str(qty), *extra
        ).code
        == 0
    )


def verify(cli, sql) -> tuple:
    result = cli("verify")
    assert result.code == 0, result.err
    return sql("SELECT status, filled_qty, reason FROM orders")[0]


def kinds(sql) -> list[str]:
    return [k for (k,) in sql("SELECT kind FROM events ORDER BY id")]


def test_amo_waits_then_executes(cli, sql, account):
    add(cli, "--amo")
    account.orders(account.row("1001", "amo"))
    assert verify(cli, sql)[:2] == ("PENDING", 0)
    account.orders(account.row("1001", "complete", filled=10, avg=1850.0))
    assert verify(cli, sql)[:2] == ("EXECUTED", 10)


def test_partial_then_complete(cli, sql, account):
    add(cli)
    account.orders(account.row("1001", "open", filled=4, avg=1849.5))
    assert verify(cli, sql)[:2] == ("PARTIALLY_FILLED", 4)
    account.orders(account.row("1001", "complete", filled=10, avg=1849.8))
    assert verify(cli, sql)[:2] == ("EXECUTED", 10)
    assert kinds(sql)[-2:] == ["PARTIAL_FILL", "EXECUTED"]


def test_rejection_keeps_the_brokers_reason(cli, sql, account):
    add(cli)
    account.orders(account.row("1001", "rejected", reason="RMS: insufficient funds"))
    assert verify(cli, sql) == ("REJECTED", 0, "RMS: insufficient funds")


def test_cancel(cli, sql, account):
    add(cli)
    account.orders(account.row("1001", "cancelled"))
    assert verify(cli, sql)[0] == "CANCELLED"


def test_a_day_order_gone_from_the_book_expires_at_eod(cli, sql, account):
    with freeze_time(ist(2026, 11, 30, 10, 0)) as clock:
        add(cli)
        account.orders()
        clock.move_to(ist(2026, 12, 1, 18, 0))
        assert cli("eod").code == 0
    assert sql("SELECT status FROM orders") == [("EXPIRED",)]


def test_history_settles_an_order_gone_from_the_book(cli, sql, account):
    """Kotak, Kite, Angel: the per-order lookup says cancelled. Fyers has none: the order
    stays open through the day's runs and eod's rules expire it."""
    with freeze_time(ist(2026, 11, 30, 10, 0)) as clock:
        add(cli)
        account.orders(account.row("1001", "open"))
        assert verify(cli, sql)[0] == "PENDING"
        account.orders(account.row("2002", "open", symbol="TCS"))  # 1001 gone from the book
        if account.fmt in WITH_HISTORY:
            account.history("1001", account.row("1001", "cancelled"))
        clock.move_to(ist(2026, 12, 1, 18, 0))
        assert cli("verify").code == 0
        assert cli("eod").code == 0
    expected = "CANCELLED" if account.fmt in WITH_HISTORY else "EXPIRED"
    assert sql("SELECT status FROM orders") == [(expected,)]


@pytest.mark.parametrize(
    "held, net, action, owned",
    [
        ((50, 10), 0, "manual_sell", 60),  # T1 shares are owned, not sold
        ((100, 0), -100, "manual_sell", 0),
        ((100, 20), 5, "manual_buy", 125),
        ((90, 10), 0, "none", 100),
    ],
    ids=["partial-sell-with-t1", "sold-today", "bought-more", "t1-counts"],
)
def test_manual_trades_through_reconcile(cli, account, held, net, action, owned):
    account.orders()
    account.holdings(INFY=held)
    account.positions(**({"INFY": net} if net else {}))
    assert cli("track", "add", "INFY", "--qty", "100").code == 0
    with freeze_time(ist(2026, 11, 25, 16, 0)):
        result = cli("reconcile", "--json")
    assert result.code == 0, result.err
    [decision] = json.loads(result.out)["decisions"]
    assert (decision["action"], decision["owned"]) == (action, owned)
