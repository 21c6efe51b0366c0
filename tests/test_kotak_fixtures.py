"""Kotak's documented replies (tests/fixtures/kotak, copied from the reference samples), each
with what ordertrack must read from it. Files marked "derived" in SOURCE.md are built from the
documented rows (the shuffled and rejected histories, the mixed order book of broker-apis §9)."""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from ordertrack.broker.kotak import client as kotak
from ordertrack.broker.kotak import format as kf
from ordertrack.core.book import Outcome
from ordertrack.core.models import Side

FIXTURES = Path(__file__).parent / "fixtures" / "kotak"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_every_fixture_file_is_read_by_a_test():
    read = {
        "login-step1-totp.json",
        "login-step2-validate.json",
        "order-book.json",
        "order-book-mixed.json",
        "order-history.json",
        "order-history-shuffled.json",
        "order-history-rejected.json",
        "trade-book.json",
        "positions.json",
        "positions-v2.json",
        "holdings.json",
        *ERRORS,
    }
    assert {p.name for p in FIXTURES.glob("*.json")} == read


# ---- login -----------------------------------------------------------------------------------


def test_login_step1_gives_the_view_token_and_sid():
    data = kotak.login_data(200, load("login-step1-totp.json"), ("token", "sid"))
    assert data is not None
    assert data["token"].startswith("eyJ") and data["sid"].count("-") == 4


def test_login_step2_gives_the_session_token_sid_and_base_url():
    data = kotak.login_data(200, load("login-step2-validate.json"), ("token", "sid", "baseUrl"))
    assert data is not None and data["baseUrl"] == "https://eXX.kotaksecurities.com"


# ---- order book ------------------------------------------------------------------------------


def test_order_book_sample_is_one_open_buy_of_idea():
    fetch = kf.order_book(load("order-book.json"))
    assert fetch.outcome is Outcome.OK and fetch.skipped == 0
    (row,) = fetch.items
    assert (row.order_id, row.status_text, row.symbol, row.side) == (
        "250122000612876",
        "open",
        "IDEA",
        Side.BUY,
    )
    assert (row.qty, row.filled_qty, row.reason) == (1, 0, None)  # "--" is no reason
    assert row.placed_at.isoformat() == "2025-01-22T08:58:01+00:00"  # 14:28:01 IST


def test_mixed_order_book_reads_complete_rejected_partial_and_amo_rows():
    rows = {r.order_id: r for r in kf.order_book(load("order-book-mixed.json")).items}
    done, rejected, partial, amo = (
        rows[i]
        for i in ("250122000624384", "241105000090312", "250122000700111", "250720000007588")
    )
    assert (done.status_text, done.filled_qty, done.avg_price, done.tag) == (
        "complete",
        1,
        9.39,
        "cli-7f3a",
    )
    assert rejected.status_text == "rejected"
    assert rejected.reason.startswith("RMS:Margin Exceeds,Cash Available:5000.00")
    assert (rejected.qty, rejected.filled_qty) == (30000, 0)
    assert (partial.status_text, partial.qty, partial.filled_qty, partial.avg_price) == (
        "open",
        100,
        40,
        1849.85,
    )
    assert (amo.status_text, amo.symbol, amo.filled_qty) == (
        "after market order req received",
        "ITBEES",
        0,
    )


# ---- order history ---------------------------------------------------------------------------


def test_documented_history_has_rising_updrecvtm_so_row_time_cannot_be_trusted():
    rows = load("order-history.json")["data"]
    assert rows[0]["ordSt"] == "complete" and rows[-1]["ordSt"] == "put order req received"
    assert [r["updRecvTm"] for r in rows] == sorted(r["updRecvTm"] for r in rows)
    assert len({r["boeSec"] for r in rows}) == 1


@pytest.mark.parametrize("name", ["order-history.json", "order-history-shuffled.json"])
def test_history_settles_as_complete_with_its_fill_and_price(name):
    fetch = kf.order_history(load(name), "250122000624384")
    assert fetch.outcome is Outcome.OK
    (row,) = fetch.items
    assert (row.status_text, row.qty, row.filled_qty, row.avg_price) == ("complete", 1, 1, 9.39)
    assert row.reason is None


def test_history_in_any_order_reads_the_same():
    payload = load("order-history.json")
    rows = payload["data"]
    for seed in range(20):
        shuffled = random.Random(seed).sample(rows, len(rows))
        (row,) = kf.order_history({**payload, "data": shuffled}, "250122000624384").items
        assert (row.status_text, row.filled_qty) == ("complete", 1)


def test_rejected_history_settles_as_rejected_with_its_reason():
    (row,) = kf.order_history(load("order-history-rejected.json"), "241105000090312").items
    assert row.status_text == "rejected"
    assert row.reason.startswith("RMS:Margin Exceeds,Cash Available:5000.00")
    assert row.filled_qty == 0


def test_history_of_another_order_is_no_data():
    assert kf.order_history(load("order-history.json"), "1").outcome is Outcome.EMPTY


# ---- trade book, positions, holdings ---------------------------------------------------------


def test_trade_book_lower_case_ok_is_data_one_fill_per_row():
    fetch = kf.trades(load("trade-book.json"))
    assert fetch.outcome is Outcome.OK
    assert [(t["nOrdNo"], t["fldQty"], t["avgPrc"]) for t in fetch.items] == [
        ("250122000612876", 1, "9.39"),
        ("250122000624384", 1, "9.39"),
    ]


@pytest.mark.parametrize("name", ["positions.json", "positions-v2.json"])
def test_positions_quantities_are_strings_read_as_numbers(name):
    fetch = kf.positions(load(name))
    assert fetch.outcome is Outcome.OK
    (pos,) = fetch.items
    raw = pos.raw
    assert (
        raw["trdSym"],
        kf.to_int(raw["flBuyQty"]),
        kf.to_int(raw["flSellQty"]),
        kf.to_int(raw["cfBuyQty"]),
    ) == ("TCS26JULFUT", 225, 0, 0)
    assert (pos.symbol, pos.net_qty) == ("TCS26JULFUT", 225)


def test_holdings_without_an_envelope_are_data():
    fetch = kf.holdings(load("holdings.json"))
    assert fetch.outcome is Outcome.OK
    (held,) = fetch.items
    raw = held.raw
    assert (raw["symbol"], raw["quantity"], raw["sellableQuantity"]) == ("IDEA", 35, 35)
    assert (held.symbol, held.qty, held.t1_qty) == ("IDEA", 35, 0)


# ---- error bodies ----------------------------------------------------------------------------

# file → (what the body means to a data call, log in again?)
ERRORS = {
    "error-5203.json": ("empty", False),
    "error-100022.json": ("failed", True),
    "error-100022-nested.json": ("failed", True),
    "error-1003.json": ("failed", True),
    "error-900901.json": ("failed", True),
    "error-200032.json": ("failed", True),
    "error-100008.json": ("failed", False),
    "error-1007.json": ("failed", False),
    "error-1021.json": ("failed", False),
}


@pytest.mark.parametrize(("name", "expected"), ERRORS.items())
def test_error_bodies_are_classified(name, expected):
    sample = load(name)
    outcome, relogin = expected
    assert kf.order_book(sample["body"]).outcome.value == outcome
    assert kotak.session_expired(sample["http"], sample["body"]) is relogin


def test_ip_refusal_names_the_fix_and_never_logs_in_again():
    sample = load("error-100008.json")
    assert "register this server's static public IP" in kotak.data_problem(
        sample["http"], sample["body"], "unauthorized"
    )
