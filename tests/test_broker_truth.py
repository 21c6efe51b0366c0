"""Settling orders from what Kotak really sends (issue 10): history in any row order, dead
orders settled at end of day, unconfirmed expiries and their later correction."""

import json
from datetime import datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.broker.kotak import format as kf
from ordertrack.core.book import Outcome
from ordertrack.timeutil import IST
from tests.fake_kotak import ORDERS, POSITIONS, POSITIONS_V2, Scripted
from tests.helpers import book, kotak_row

FIXTURES = Path(__file__).parent / "fixtures" / "kotak"
EXECUTED_ID, REJECTED_ID = "250122000624384", "241105000090312"


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def no_holidays(tmp_path, monkeypatch):
    config = tmp_path / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))


def add(cli, order_id, symbol="INFY", qty="10", *extra):
    result = cli(
        "pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", qty, *extra
    )
    assert result.code == 0, result.err


def outbox(sql, kind):
    return [json.loads(p) for (p,) in sql("SELECT payload FROM outbox WHERE kind = ?", kind)]


# ---- history: the documented sample settles orders end to end --------------------------------


@pytest.mark.parametrize("history", ["order-history.json", "order-history-shuffled.json"])
def test_documented_history_settles_orders_the_book_no_longer_lists(
    cli, kotak, sql, no_holidays, history
):
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:  # Friday
        add(cli, EXECUTED_ID, "IDEA", "1")
        add(cli, REJECTED_ID, "TATASTEEL", "30000")
        clock.move_to(ist(2026, 11, 30, 10, 0))  # Monday: today's book has other orders only
        kotak.orders = book(kotak_row("999", "open", symbol="SBIN"))
        kotak.histories = {
            EXECUTED_ID: fixture(history),
            REJECTED_ID: fixture("order-history-rejected.json"),
        }
        for minute in (0, 30, 59):  # cron's half-hourly verify; the third miss asks history
            clock.move_to(ist(2026, 11, 30, 10, minute))
            result = cli("verify")
            assert result.code == 0, result.err
    assert sql("SELECT order_id, status, filled_qty, avg_price FROM orders ORDER BY id") == [
        (EXECUTED_ID, "EXECUTED", 1, 9.39),
        (REJECTED_ID, "REJECTED", 0, None),
    ]
    reason = sql("SELECT reason FROM orders WHERE order_id = ?", REJECTED_ID)[0][0]
    assert reason.startswith("RMS:Margin Exceeds,Cash Available:5000.00")
    assert sql("SELECT tracked_qty FROM tracking WHERE symbol = 'IDEA'") == [(1,)]


def test_the_fake_serves_history_in_the_documented_shape(kotak, cli, sql):
    """The fake must disagree with the old bug: newest first, updRecvTm rising."""
    kotak.histories = {"7": [kotak_row("7", "complete"), kotak_row("7", "open")]}
    body = kotak._history('jData={"nOrdNo": "7"}')
    rows = body["data"]
    assert [r["ordSt"] for r in rows] == ["complete", "open"]
    assert rows[0]["updRecvTm"] < rows[1]["updRecvTm"]


# ---- duplicate and malformed rows ------------------------------------------------------------


def test_an_id_listed_twice_in_one_book_settles_by_the_most_advanced_row(cli, broker, sql):
    add(cli, "1", qty="10")
    broker.orders(
        kotak_row("1", "complete", qty=10, filled=10, avg="1849.5"),
        kotak_row("1", "open", qty=10, filled=4, avg="1849.0"),
    )
    assert cli("verify").code == 0
    assert sql("SELECT status, filled_qty, avg_price FROM orders") == [("EXECUTED", 10, 1849.5)]


def test_book_duplicates_prefer_the_later_flDtTm_among_working_rows():
    older = kotak_row("1", "open", qty=10, filled=2, hsUpTm="2026/11/30 10:00:00")
    newer = kotak_row("1", "modified", qty=10, filled=6, hsUpTm="2026/11/30 10:05:00")
    (row,) = kf.order_book(book(newer, older)).items
    assert (row.status_text, row.filled_qty) == ("modified", 6)
    (row,) = kf.order_book(book(older, newer)).items
    assert (row.status_text, row.filled_qty) == ("modified", 6)


def test_history_reason_comes_only_from_the_terminal_row():
    rows = [
        kotak_row("1", "open", reason="RMS:stale warning", flDtTm="30-Nov-2026 10: 00: 05"),
        kotak_row("1", "complete", qty=100, filled=100, flDtTm="30-Nov-2026 10: 00: 01"),
    ]
    (row,) = kf.order_history(book(*rows), "1").items
    assert (row.status_text, row.reason, row.filled_qty) == ("complete", None, 100)


def test_same_rank_rows_fall_back_to_list_position():
    rows = [
        kotak_row("1", "open pending", flDtTm="30-Nov-2026 10:00:00"),
        kotak_row("1", "open", flDtTm="30-Nov-2026 10:00:00"),
    ]
    (row,) = kf.order_history(book(*rows), "1").items
    assert row.status_text == "open pending"  # documented newest first


@pytest.mark.parametrize(
    "bad",
    [
        {"qty": -10},
        {"qty": "10000000000"},
        {"qty": 0},
        {"qty": "ten"},
        {"fldQty": -1},
        {"fldQty": 11},
        {"fldQty": "2.5"},
        {"prc": "abc"},
        {"avgPrc": "9,3x"},
        {"avgPrc": "-1"},
    ],
)
def test_malformed_rows_are_skipped_and_counted(bad):
    row = kotak_row("1", "complete", qty=10, filled=10, avg="100.0") | bad
    fetch = kf.order_book(book(row, kotak_row("2")))
    assert [o.order_id for o in fetch.items] == ["2"]
    assert fetch.skipped == 1


def test_a_malformed_complete_row_never_ends_an_order(cli, broker, sql):
    add(cli, "1", qty="10")
    broker.orders(kotak_row("1", "complete", qty=-10, filled=0))
    result = cli("verify", "--json")
    assert json.loads(result.out)["skipped_rows"] == 1
    assert sql("SELECT status, filled_qty FROM orders") == [("PENDING", 0)]
    assert "1 order-book rows had no order id or numbers that cannot be true" in cli("verify").out


# ---- end of day: dead orders -----------------------------------------------------------------


def test_day_order_placed_friday_missing_monday_is_expired_by_mondays_eod(
    cli, broker, sql, no_holidays
):
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:  # Friday
        add(cli, "1")
        broker.orders(kotak_row("1", "open", qty=10))
        broker.history("other", kotak_row("other"))  # history is offered, knows nothing of "1"
        clock.move_to(ist(2026, 11, 27, 12, 0))
        assert cli("verify").code == 0
        broker.orders(kotak_row("99", "open"))  # Monday's book
        clock.move_to(ist(2026, 11, 30, 10, 0))
        assert cli("verify").code == 0
        assert sql("SELECT status, missing_count FROM orders") == [("PENDING", 1)]
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0
    status, reason = sql("SELECT status, reason FROM orders")[0]
    assert status == "EXPIRED"
    assert reason.startswith("not in the order book since 30 Nov 2026 10:00 IST; history: no data")
    assert len(outbox(sql, "EXPIRED")) == 1


def test_friday_evening_amo_survives_until_mondays_close(cli, broker, sql, no_holidays):
    with freeze_time(ist(2026, 11, 27, 20, 0)) as clock:
        add(cli, "1", "ITBEES", "1", "--amo")
        broker.orders(kotak_row("99", "open"))
        broker.history("other", kotak_row("other"))
        for moment in (
            ist(2026, 11, 27, 20, 30),
            ist(2026, 11, 28, 18, 0),
            ist(2026, 11, 30, 15, 0),
        ):  # Friday, Saturday, Monday before the close
            clock.move_to(moment)
            assert cli("eod").code == 0
            assert sql("SELECT status FROM orders") == [("PENDING",)], moment
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0
    assert sql("SELECT status FROM orders") == [("EXPIRED",)]


def _unconfirmed(cli, broker, sql):
    """A DAY order from Friday, missing Monday, whose history keeps failing."""
    add(cli, "1", qty="10")
    broker.orders(kotak_row("99", "open"))
    broker.write("history/1.json", "{broken")


def test_failing_history_expires_it_unconfirmed_with_one_alert_and_its_own_heading(
    cli, broker, sql, no_holidays
):
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:
        _unconfirmed(cli, broker, sql)
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0
        clock.move_to(ist(2026, 11, 30, 18, 30))
        assert cli("eod").code == 0  # a re-run alerts nothing new
    status, reason = sql("SELECT status, reason FROM orders")[0]
    assert status == "EXPIRED" and reason.startswith(
        "final state unconfirmed: not in the order book since 30 Nov 2026 18:00 IST"
    )
    assert "history failed" in reason
    (alert,) = outbox(sql, "EXPIRED")
    assert alert["reason"] == reason
    (summary,) = outbox(sql, "DAILY_SUMMARY")
    # Friday's order, settled by Monday's eod: listed there, counted on Friday (its day)
    assert [(r["order_id"], r["outcome"]) for r in summary["earlier"]] == [("1", "unconfirmed")]
    assert summary["unconfirmed"] == [] and summary["expired"] == [] and summary["placed"] == 0
    from ordertrack.notify.messages import plain_text

    assert "Final state unconfirmed" in plain_text("DAILY_SUMMARY", summary)
    assert "Settled now, registered on an earlier trading day" in plain_text(
        "DAILY_SUMMARY", summary
    )
    from ordertrack.notify.messages import message

    assert "final state unconfirmed" in message("EXPIRED", alert)[0].plain.split("\n")[0]


def test_a_later_executed_sighting_in_the_book_corrects_the_expiry_once(
    cli, broker, sql, no_holidays
):
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:
        _unconfirmed(cli, broker, sql)
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0
        broker.orders(kotak_row("1", "complete", qty=10, filled=10, avg="1850.5"))
        clock.move_to(ist(2026, 12, 1, 10, 0))
        for _ in range(2):
            assert cli("verify").code == 0
    assert sql("SELECT status, filled_qty, avg_price FROM orders") == [("EXECUTED", 10, 1850.5)]
    (corrected,) = outbox(sql, "CORRECTED")
    assert corrected["status"] == "EXECUTED" and corrected["filled_qty"] == 10
    assert sql("SELECT kind FROM events ORDER BY id")[-2:] == [("EXPIRED",), ("CORRECTED",)]
    assert sql("SELECT tracked_qty FROM tracking") == [(10,)]


def test_a_later_partial_fill_in_history_corrects_the_expiry_keeping_the_fills(
    cli, broker, sql, no_holidays
):
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:
        _unconfirmed(cli, broker, sql)
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0
        broker.history(
            "1",
            kotak_row("1", "cancelled", qty=10, filled=4, avg="1849.0"),
            kotak_row("1", "open", qty=10, filled=4, avg="1849.0"),
        )
        clock.move_to(ist(2026, 12, 1, 18, 0))
        assert cli("eod").code == 0
        clock.move_to(ist(2026, 12, 2, 18, 0))
        assert cli("eod").code == 0
    assert sql("SELECT status, filled_qty FROM orders") == [("CANCELLED", 4)]
    assert len(outbox(sql, "CORRECTED")) == 1
    assert sql("SELECT tracked_qty FROM tracking") == [(4,)]


def test_a_later_history_without_fills_confirms_the_expiry_silently(cli, broker, sql, no_holidays):
    with freeze_time(ist(2026, 11, 27, 10, 0)) as clock:
        _unconfirmed(cli, broker, sql)
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0
        (broker.folder / "history" / "1.json").unlink()  # history now answers: no data
        clock.move_to(ist(2026, 12, 1, 18, 0))
        assert cli("eod").code == 0
    status, reason = sql("SELECT status, reason FROM orders")[0]
    assert status == "EXPIRED" and not reason.startswith("final state unconfirmed")
    assert "history: no data (asked again later)" in reason
    assert len(outbox(sql, "EXPIRED")) == 1 and outbox(sql, "CORRECTED") == []


# ---- Kotak edge replies ----------------------------------------------------------------------


def test_200032_stale_base_url_logs_in_once_more_and_goes_on(cli, kotak, sql):
    add(cli, EXECUTED_ID, "IDEA", "1")
    kotak.script(ORDERS, Scripted(200, fixture("error-200032.json")["body"]))
    result = cli("verify")
    assert result.code == 0, result.err
    assert kotak.logins == 2
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]


def test_validate_reply_without_base_url_falls_back_to_the_login_host(cli, kotak, sql):
    kotak.send_base_url = False
    add(cli, EXECUTED_ID, "IDEA", "1")
    result = cli("verify")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "baseUrl" in line]
    assert len(warnings) == 1 and "using the login host 127.0.0.1" in warnings[0]
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]


@pytest.mark.parametrize(
    "failure",
    [
        Scripted(500, "<html>oops</html>"),
        Scripted(200, {"stat": "Not_Ok", "stCode": 1005, "errMsg": "internal error"}),
        Scripted(200, "not json"),
    ],
)
def test_positions_fall_back_to_v2_on_any_failure_of_the_first_path(kotak, db_path, failure):
    import os

    from ordertrack.broker.base import make_broker
    from ordertrack.config import load
    from ordertrack.store.db import open_db

    client = make_broker(load(os.environ), open_db(db_path))
    kotak.script(POSITIONS, failure, failure, failure)  # outlasts the retries
    fetch = client.positions()
    assert fetch.outcome is Outcome.OK
    assert kotak.paths()[-1] == POSITIONS_V2
