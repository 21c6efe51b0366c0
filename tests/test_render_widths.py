"""Every table at 60, 80 and 120 columns: order ids and symbols whole, reasons complete."""

import io
import re
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from ordertrack.cli import render

WIDTHS = (60, 80, 120)
OID, OID2 = "261130000012345", "261130000067890"
SYM, SYM2 = "BAJAJ-AUTO-EQ", "M&MFIN-EQ"
REASON = "RMS:Rule: Check circuit limit including square off order exceeds for BAJAJ-AUTO"
AT = "2026-11-30 09:15:00.000000"


def _order(oid: str, sym: str, **kw: Any) -> dict[str, Any]:
    return {"id": 1, "order_id": oid, "symbol": sym, "side": "BUY", "qty": 100,
            "filled_qty": 40, "avg_price": 184990.0, "status": "PARTIALLY_FILLED", "amo": 1,
            "placed_at": AT, "reason": REASON, **kw}


def _rendered(width: int, monkeypatch: pytest.MonkeyPatch, draw: Callable[[], None]) -> str:
    monkeypatch.setenv("ORDERTRACK_OUTPUT", "terminal")
    out = io.StringIO()
    console = render._LazyConsole()
    console._rich = Console(file=out, width=width, highlight=False, markup=False, emoji=False)
    monkeypatch.setattr(render, "console", console)
    draw()
    text = out.getvalue()
    assert all(len(line) <= width for line in text.splitlines()), text
    return text


def _words(text: str) -> list[str]:
    return re.sub(r"[│┃┏┓┗┛━─┡┩└┘┌┐╇╈┳┻┼├┤╷╵↳]", " ", text).split()


def _whole(text: str, *values: str) -> None:
    """Each value on one line (ids, symbols) and each reason's words in order."""
    for value in values:
        if " " not in value:
            assert value in text, f"{value!r} cut:\n{text}"
            continue
        words, want = iter(_words(text)), value.split()
        assert all(any(w == got or w in got for got in words) for w in want), \
            f"{value!r} incomplete:\n{text}"


@pytest.mark.parametrize("width", WIDTHS)
def test_orders_table(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_order(OID, SYM), _order(OID2, SYM2, reason="")]
    text = _rendered(width, monkeypatch, lambda: render.orders_table(rows, "Orders"))
    _whole(text, OID, OID2, SYM, SYM2, REASON, "PARTIALLY_FILLED")


@pytest.mark.parametrize("width", WIDTHS)
def test_order_detail(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    event = {"at": AT, "kind": "REJECTED", "status": "REJECTED", "filled_qty": 0,
             "delta_qty": 0, "broker_status": "rejected", "reason": REASON}
    text = _rendered(width, monkeypatch, lambda: render.order_detail(_order(OID, SYM), [event]))
    _whole(text, OID, SYM, REASON)
    assert text.count("RMS:Rule:") == 2  # in the order and in its event


@pytest.mark.parametrize("width", WIDTHS)
def test_tracking_and_changes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"symbol": SYM, "tracked_qty": 100, "status": "ACTIVE", "started_at": AT,
           "updated_at": AT}
    change = {"at": AT, "cause": "MANUAL_TRADE", "delta": -40, "qty_after": 60,
              "order_id": OID, "order_ref": None, "note": REASON}
    text = _rendered(width, monkeypatch, lambda: (render.tracking_table([row]),
                                                   render.changes_table([change])))
    _whole(text, SYM, OID, REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_outbox_table(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = {"order_id": OID, "symbol": SYM, "side": "BUY", "qty": 100, "filled_qty": 0,
               "reason": REASON}
    row = {"id": 7, "kind": "REJECTED", "payload": payload, "status": "FAILED",
           "created_at": AT, "last_error": None, "digest_id": None,
           "deliveries": [{"chat_id": "-100123", "status": "FAILED", "attempts": 5,
                           "message_id": None, "next_attempt_at": AT,
                           "last_error": "chat not found"}]}
    text = _rendered(width, monkeypatch, lambda: render.outbox_table([row]))
    _whole(text, OID, SYM, REASON, "-100123:", "chat not found")


@pytest.mark.parametrize("width", WIDTHS)
def test_status_runs(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"database": "/x.db", "schema": 9, "broker": "file", "notifications": "off",
            "orders": {"OPEN": 1}, "tracked_symbols": 1, "outbox": {"PENDING": 0, "FAILED": 0},
            "runs": [{"command": "reconcile --dry-run", "started_at": AT, "outcome": "failed",
                      "exit_code": 4, "last_ok": AT, "error": REASON}]}
    text = _rendered(width, monkeypatch, lambda: render.status_view(data))
    _whole(text, "reconcile", "--dry-run", REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_tables(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = {"trading_day": "2026-11-30", "complete": True, "tracked": [], "placed": 2,
               "rejected": [_order(OID, SYM, status="REJECTED")], "partially_filled": 0,
               "executed": [_order(OID2, SYM2, reason=None)], "cancelled": [], "expired": [],
               "still_pending": [], "manual_trades": 0, "notifications_failed": 0}
    text = _rendered(width, monkeypatch, lambda: render.summary_tables(summary))
    _whole(text, OID, OID2, SYM, SYM2, REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_decisions_table(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    d = SimpleNamespace(symbol=SYM, tracked=100, owned=60, action="manual_sell", new_qty=60,
                        reason=REASON, manual_orders=[OID, OID2], stops_tracking=False)
    text = _rendered(width, monkeypatch, lambda: render.decisions_table([d], False))
    _whole(text, SYM, REASON, OID, OID2)


def test_piped_log_lines_keep_every_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERTRACK_OUTPUT", "log")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)  # log lines go straight to stdout, no rich console
    render.orders_table([_order(OID, SYM)], "Orders")
    line = out.getvalue()
    assert len(line.splitlines()) == 1
    assert f"Order={OID}" in line and f"Symbol={SYM}" in line and REASON in line
    assert "Placed (IST)=" in line


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_with_every_section(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_summary_text import FULL

    text = _rendered(width, monkeypatch, lambda: render.summary_tables(FULL))
    for kind in ("executed", "rejected", "cancelled", "expired", "unconfirmed", "still_pending"):
        for r in FULL[kind]:
            _whole(text, r["order_id"], r["symbol"], *([r["reason"]] if r["reason"] else []))
    assert "Still open" in text and "ITC-EQ 40, MRF-EQ 10" in text
