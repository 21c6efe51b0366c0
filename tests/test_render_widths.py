"""Every table at 60, 80 and 120 columns: order ids and symbols whole, reasons complete."""

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from freezegun import freeze_time
from rich.console import Console

from ordertrack.cli import render
from ordertrack.core.models import Order, Side, Status
from ordertrack.timeutil import from_db
from tests import fake_telegram as fake
from tests.helpers import kotak_row

WIDTHS = (60, 80, 120)
OID, OID2 = "261130000012345", "261130000067890"
SYM, SYM2 = "BAJAJ-AUTO-EQ", "M&MFIN-EQ"
REASON = (
    "RMS:Rule: Check circuit limit including square off order exceeds for "
    "BANKNIFTY26DEC48000CE; order value 1,20,000.00 is more than the available margin"
)
AT = "2026-11-30 09:15:00.000000"


def _row(oid: str, sym: str, **kw: Any) -> dict[str, Any]:
    """An order as the day's summary holds it (a stored row)."""
    return {
        "id": 1,
        "order_id": oid,
        "symbol": sym,
        "side": "BUY",
        "qty": 100,
        "filled_qty": 40,
        "avg_price": 184990.0,
        "status": "PARTIALLY_FILLED",
        "amo": 1,
        "placed_at": AT,
        "reason": REASON,
        **kw,
    }


def _order(oid: str, sym: str, **kw: Any) -> Order:
    fields: dict[str, Any] = {
        "id": 1,
        "order_id": oid,
        "symbol": sym,
        "side": Side.BUY,
        "qty": 100,
        "price": None,
        "filled_qty": 40,
        "avg_price": 184990.0,
        "status": Status.PARTIALLY_FILLED,
        "amo": True,
        "tag": None,
        "placed_at": from_db(AT),
        "reason": REASON,
    }
    return Order(**{**fields, **kw})


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


def _on_a_line(lines: list[str], word: str) -> bool:
    whole = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
    return any(whole.search(line) for line in lines)


def _whole(text: str, *values: str) -> None:
    """Each word of each value (an id, a symbol, a reason) whole on one line, in order."""
    lines = text.splitlines()
    for value in values:
        words, want = iter(_words(text)), value.split()
        assert all(_on_a_line(lines, w) for w in want), f"{value!r} cut:\n{text}"
        assert all(any(w == got or w in got for got in words) for w in want), (
            f"{value!r} incomplete:\n{text}"
        )


@pytest.mark.parametrize("width", WIDTHS)
def test_orders_table(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_order(OID, SYM), _order(OID2, SYM2, reason="")]
    text = _rendered(width, monkeypatch, lambda: render.orders_table(rows, "Orders"))
    _whole(text, OID, OID2, SYM, SYM2, REASON, "PARTIALLY_FILLED")


@pytest.mark.parametrize("width", WIDTHS)
def test_order_detail(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    event = {
        "at": AT,
        "kind": "REJECTED",
        "status": "REJECTED",
        "filled_qty": 0,
        "delta_qty": 0,
        "broker_status": "rejected",
        "reason": REASON,
    }
    text = _rendered(width, monkeypatch, lambda: render.order_detail(_order(OID, SYM), [event]))
    _whole(text, OID, SYM, REASON)
    assert text.count("RMS:Rule:") == 2  # in the order and in its event


@pytest.mark.parametrize("width", WIDTHS)
def test_tracking_and_changes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    row = {
        "symbol": SYM,
        "tracked_qty": 100,
        "status": "ACTIVE",
        "started_at": AT,
        "updated_at": AT,
    }
    change = {
        "at": AT,
        "cause": "MANUAL_TRADE",
        "delta": -40,
        "qty_after": 60,
        "order_id": OID,
        "order_ref": None,
        "note": REASON,
    }
    text = _rendered(
        width, monkeypatch, lambda: (render.tracking_table([row]), render.changes_table([change]))
    )
    _whole(text, SYM, OID, REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_outbox_table(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = {
        "order_id": OID,
        "symbol": SYM,
        "side": "BUY",
        "qty": 100,
        "filled_qty": 0,
        "reason": REASON,
    }
    row = {
        "id": 7,
        "kind": "REJECTED",
        "payload": payload,
        "status": "FAILED",
        "created_at": AT,
        "last_error": None,
        "digest_id": None,
        "deliveries": [
            {
                "chat_id": "-100123",
                "status": "FAILED",
                "attempts": 5,
                "message_id": None,
                "next_attempt_at": AT,
                "last_error": "chat not found",
            }
        ],
    }
    text = _rendered(width, monkeypatch, lambda: render.outbox_table([row]))
    _whole(text, OID, SYM, REASON, "-100123:", "chat not found")


@pytest.mark.parametrize("width", WIDTHS)
def test_status_runs(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {
        "database": "/x.db",
        "schema": 9,
        "broker": "file",
        "notifications": "off",
        "orders": {"OPEN": 1},
        "tracked_symbols": 1,
        "outbox": {"PENDING": 0, "FAILED": 0},
        "runs": [
            {
                "command": "reconcile --dry-run",
                "started_at": AT,
                "outcome": "failed",
                "exit_code": 4,
                "last_ok": AT,
                "error": REASON,
            }
        ],
    }
    text = _rendered(width, monkeypatch, lambda: render.status_view(data))
    _whole(text, "reconcile", "--dry-run", REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_tables(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = {
        "trading_day": "2026-11-30",
        "complete": True,
        "tracked": [],
        "placed": 2,
        "rejected": [_row(OID, SYM, status="REJECTED")],
        "partially_filled": 0,
        "executed": [_row(OID2, SYM2, reason=None)],
        "cancelled": [],
        "expired": [],
        "still_pending": [],
        "manual_trades": 0,
        "notifications_failed": 0,
    }
    text = _rendered(width, monkeypatch, lambda: render.summary_tables(summary))
    _whole(text, OID, OID2, SYM, SYM2, REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_decisions_table(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    d = SimpleNamespace(
        symbol=SYM,
        tracked=100,
        owned=60,
        action="manual_sell",
        new_qty=60,
        reason=REASON,
        manual_orders=[OID, OID2],
        stops_tracking=False,
    )
    text = _rendered(width, monkeypatch, lambda: render.decisions_table([d], False))
    _whole(text, SYM, REASON, OID, OID2)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_long_reason_goes_under_its_row_across_the_table(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not squeezed into a narrow column (nor into the first one): on lines of its own."""
    data = {
        "database": "/x.db",
        "schema": 9,
        "broker": "file",
        "notifications": "off",
        "orders": {},
        "tracked_symbols": 0,
        "outbox": {"PENDING": 0, "FAILED": 0},
        "runs": [
            {
                "command": "reconcile --dry-run",
                "started_at": AT,
                "outcome": "failed",
                "exit_code": 4,
                "last_ok": AT,
                "error": REASON,
            }
        ],
    }
    text = _rendered(
        width,
        monkeypatch,
        lambda: (render.status_view(data), render.orders_table([_order(OID, SYM)], "Orders")),
    )
    assert "Error" not in text and "Reason" not in text, text
    assert text.count("│ ↳ RMS:Rule: Check circuit limit") == 2, text
    _whole(text, REASON)


@pytest.mark.parametrize("width", WIDTHS)
def test_empty_columns_take_no_width(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        _order(OID, SYM, reason=None, avg_price=None, status=Status.PENDING),
        _order(OID2, SYM2, reason="", avg_price=None, status=Status.PENDING),
    ]
    text = _rendered(width, monkeypatch, lambda: render.orders_table(rows, "Orders"))
    assert "Reason" not in text and "Avg" not in text, text
    _whole(text, OID, OID2, SYM, SYM2)


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


# ---- the real commands, run as a user would in a terminal COLUMNS wide ------------------------

LONG_SYM = "BANKNIFTY26DEC48000CE"
LONG_REASON = (
    "RMS:Margin Exceeds,Cash Available:5000.00,Additional margin required:"
    "890560.00 for entity account-XXXXX across exchange across segment across product"
)


def _screen(text: str, width: int) -> list[str]:
    """What a terminal COLUMNS wide shows: a line longer than the width continues on the next
    screen line, cut wherever the edge falls."""
    from rich.cells import chop_cells

    return [part for line in text.splitlines() for part in chop_cells(line, width) or [""]]


def _shown(width: int, *args: str) -> list[str]:
    env = {**os.environ, "COLUMNS": str(width)}
    done = subprocess.run(
        [sys.executable, "-m", "ordertrack", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    lines = _screen(done.stdout, width)
    assert all(len(line) <= width for line in done.stdout.splitlines()), done.stdout
    return lines


def _unbroken(lines: list[str], width: int, *values: Any) -> None:
    """Every word of every value whole on one screen line (a word wider than the screen can
    only be folded: it must then be there in order)."""
    joined = "".join(line.strip(" │┃") for line in lines)
    for value in values:
        for word in str(value).split():
            if len(word) > width - 12:
                assert word in joined, f"{word!r} missing:\n" + "\n".join(lines)
                continue
            assert _on_a_line(lines, word), f"{word!r} split at {width} columns:\n" + "\n".join(
                lines
            )


def _json(cli: Callable[..., Any], *args: str) -> Any:
    out = cli(*args, "--json").out
    return (
        [json.loads(line) for line in out.splitlines()] if args == ("events",) else json.loads(out)
    )


@pytest.fixture
def busy_day(cli, broker, telegram, monkeypatch):
    """15-digit Kotak ids, an option symbol, a long rejection reason, a chat that blocked the
    bot (a long delivery error), a tracked symbol."""
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-1002233445566")
    telegram.chats["-1002233445566"] = fake.BLOCKED
    with freeze_time("2026-12-04T04:00:00Z"):  # a Friday, 09:30 IST
        assert cli("track", "add", LONG_SYM, "--qty", "75").code == 0
        for oid, sym in ((OID, LONG_SYM), (OID2, SYM)):
            assert (
                cli("pending", "add", oid, "--symbol", sym, "--side", "buy", "--qty", "75").code
                == 0
            )
        broker.orders(
            kotak_row(
                OID, "rejected", symbol=LONG_SYM, trdSym=LONG_SYM, qty=75, reason=LONG_REASON
            ),
            kotak_row(OID2, "complete", symbol=SYM, trdSym=SYM, qty=75, filled=75, avg="9150.00"),
        )
        cli("verify")


@pytest.mark.parametrize("width", WIDTHS)
def test_events_keep_ids_and_words_whole(width: int, cli, busy_day) -> None:
    events = _json(cli, "events")
    assert any(e["reason"] == LONG_REASON for e in events)
    lines = _shown(width, "events")
    for e in events:
        _unbroken(
            lines,
            width,
            e["id"],
            e["kind"],
            e["symbol"] or "",
            e["order_id"] or "",
            e["reason"] or "",
        )


@pytest.mark.parametrize("width", WIDTHS)
def test_pending_list_all_keeps_ids_and_reason_words_whole(width: int, cli, busy_day) -> None:
    orders = _json(cli, "pending", "list", "--all")
    assert {o["order_id"] for o in orders} == {OID, OID2}
    lines = _shown(width, "pending", "list", "--all")
    for o in orders:
        _unbroken(lines, width, o["order_id"], o["symbol"], o["status"], o["reason"] or "")


@pytest.mark.parametrize("width", WIDTHS)
def test_outbox_list_keeps_ids_and_errors_whole(width: int, cli, busy_day) -> None:
    rows = _json(cli, "outbox", "list")
    assert any("blocked" in (d["last_error"] or "") for r in rows for d in r["deliveries"])
    lines = _shown(width, "outbox", "list")
    for r in rows:
        _unbroken(
            lines,
            width,
            r["id"],
            r["status"],
            r["text"],
            *(f"{d['chat_id']}: {d['last_error'] or ''}" for d in r["deliveries"]),
        )


@pytest.mark.parametrize("width", WIDTHS)
def test_outbox_list_gives_no_width_to_an_empty_column(width: int, cli, broker) -> None:
    """Notifications off: nothing has been delivered anywhere, so no delivery column."""
    assert (
        cli(
            "pending",
            "add",
            OID,
            "--symbol",
            LONG_SYM,
            "--side",
            "buy",
            "--qty",
            "75",
        ).code
        == 0
    )
    broker.orders(
        kotak_row(OID, "rejected", symbol=LONG_SYM, trdSym=LONG_SYM, qty=75, reason=LONG_REASON)
    )
    with freeze_time("2026-12-04T04:00:00Z"):
        cli("verify")
    [row] = _json(cli, "outbox", "list")
    lines = _shown(width, "outbox", "list")
    assert not any("Delivery" in line for line in lines), "\n".join(lines)
    _unbroken(lines, width, row["text"])


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_lines_keep_words_whole(width: int, cli, busy_day, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # its env file, none yet: a PROBLEM
    checks = _json(cli, "doctor", "--offline")["checks"]
    assert any(not c["ok"] and not c.get("skipped") for c in checks)  # a PROBLEM with its fix
    lines = _shown(width, "doctor", "--offline")
    for c in checks:
        _unbroken(
            lines, width, c["check"], c["detail"].removeprefix("skipped: "), c.get("fix") or ""
        )


@pytest.mark.parametrize("width", WIDTHS)
def test_schedule_install_line_keeps_words_whole(width: int, fake_crontab, env_file) -> None:
    wide = _shown(500, "schedule", "install")  # the words, as one line each
    assert any(line.startswith("Installed ") for line in wide)
    _unbroken(_shown(width, "schedule", "install"), width, *wide)


@pytest.mark.parametrize("width", WIDTHS)
def test_pnl_table_keeps_headings_whole_and_says_what_is_unpriced(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen by a new user at 80 columns: 'Unrealis…' cut, a total of ₹+0.00 over holdings
    nobody priced, and an empty table for a day without fills."""
    row = {
        "symbol": "BAJAJ-AUTO",
        "bought_qty": 100,
        "sold_qty": 0,
        "avg_cost": 1849.9,
        "realised": 0.0,
        "open_qty": 100,
        "close_price": None,
        "unrealised": None,
        "manual": 0.0,
    }
    figures = {
        "realised": 0.0,
        "unrealised": 0.0,
        "charges": None,
        "net": None,
        "symbols": [row, {**row, "symbol": "INFY", "close_price": 1900.0, "unrealised": 5010.0}],
    }
    extras = {"sources": {}, "unknown": {}}
    text = _rendered(width, monkeypatch, lambda: render.pnl_table(figures, extras, "Mon 07 Dec"))
    assert "…" not in text, text
    words = text.split()
    for whole in ("BAJAJ-AUTO", "₹1,849.90", "₹1,900.00", "₹+5,010.00"):
        assert any(whole in w for w in words), (whole, text)
    assert ("Unrealised" in text) if width >= 100 else True  # a table where it fits
    assert "on 1 of 2 open holdings (the rest: price unknown)" in " ".join(text.split())
    empty = {**figures, "symbols": []}
    text = _rendered(width, monkeypatch, lambda: render.pnl_table(empty, extras, "Fri 04 Dec"))
    assert " ".join(text.split()) == "P&L Fri 04 Dec: no fills and no open holdings."


@pytest.mark.parametrize("width", WIDTHS)
def test_a_pnl_table_that_fits_only_wrapped_is_not_cut_at_the_edge(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen by a new user at 80 columns (pnl --all-accounts): a realised sale and two holdings
    without a price measured 79 columns with 'Close price' and 'price unknown' wrapped, yet rich
    drew 'Close price' whole and cut 'Unrealised' at the edge."""
    row = {
        "symbol": "INFY",
        "bought_qty": 100,
        "sold_qty": 50,
        "avg_cost": 1849.9,
        "realised": 2505.0,
        "open_qty": 50,
        "close_price": None,
        "unrealised": None,
        "manual": 0.0,
    }
    other = {**row, "symbol": "ITBEES", "bought_qty": 45, "sold_qty": 0, "avg_cost": 38.72}
    figures = {
        "realised": 2505.0,
        "unrealised": 0.0,
        "charges": None,
        "net": None,
        "symbols": [row, {**other, "realised": 0.0, "open_qty": 45}],
    }
    extras = {"sources": {}, "unknown": {}}
    text = _rendered(width, monkeypatch, lambda: render.pnl_table(figures, extras, "Mon 07 Dec"))
    _whole(text, "₹+2,505.00", "₹1,849.90", "ITBEES")
    if width >= 80:  # a table (narrower: a line a symbol)
        _whole(text, "Unrealised", "Close")
