"""`ordertrack verify` against the file broker: real CLI, real database."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from tests.helpers import NO_DATA, SESSION_EXPIRED, kotak_row

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # Monday 09:30 IST


def add(cli, order_id="1", symbol="INFY", side="buy", qty="100", *extra):
    args = [
        "pending",
        "add",
        *([order_id] if order_id else []),
        "--symbol",
        symbol,
        "--side",
        side,
        "--qty",
        qty,
        *extra,
    ]
    result = cli(*args)
    assert result.code == 0, result.err


def verify_json(cli, *args):
    result = cli("verify", "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_counts_cover_every_outcome(cli, broker):
    for order_id, symbol in [
        ("1", "INFY"),
        ("2", "TCS"),
        ("3", "IDEA"),
        ("4", "SBIN"),
        ("5", "ITC"),
        ("6", "HDFC"),
    ]:
        add(cli, order_id, symbol)
    broker.orders(
        kotak_row("1", "complete", symbol="INFY", filled=100, avg="1849.9"),
        kotak_row("2", "rejected", symbol="TCS", reason="RMS:Margin Exceeds"),
        kotak_row("3", "cancelled", symbol="IDEA"),
        kotak_row("4", "open", symbol="SBIN", filled=40),
        kotak_row("5", "open", symbol="ITC"),
    )
    counts = verify_json(cli)
    assert counts == {
        "book": "ok",
        "checked": 6,
        "executed": 1,
        "rejected": 1,
        "cancelled": 1,
        "partial": 1,
        "still_pending": 3,
        "not_found": 1,
        "expired": 0,
        "resolved": 0,
        "ambiguous": 0,
        "unknown_status": 0,
        "corrected": 0,
        "notifications": 4,
        "skipped_rows": 0,
    }


def test_rerun_on_same_data_changes_nothing_and_queues_nothing(cli, broker, sql):
    add(cli, "1")
    add(cli, "2", "TCS")
    broker.orders(kotak_row("1", "open", filled=40), kotak_row("2", "rejected", symbol="TCS"))
    verify_json(cli)
    before = (
        sql("SELECT * FROM orders"),
        sql("SELECT count(*) FROM events"),
        sql("SELECT count(*) FROM outbox"),
        sql("SELECT * FROM tracking"),
    )
    again = verify_json(cli)
    assert again["notifications"] == 0
    assert (
        sql("SELECT * FROM orders"),
        sql("SELECT count(*) FROM events"),
        sql("SELECT count(*) FROM outbox"),
        sql("SELECT * FROM tracking"),
    ) == before


def test_rejection_reason_reaches_order_event_and_message(cli, broker, sql):
    add(cli, "2", "TATASTEEL")
    broker.orders(
        kotak_row(
            "2", "rejected", symbol="TATASTEEL", reason="RMS:Margin Exceeds,Cash Available:5000.00"
        )
    )
    out = cli("verify").out
    assert "Rejected: BUY TATASTEEL" in out and "RMS:Margin Exceeds" in out
    assert sql("SELECT status, reason FROM orders") == [
        ("REJECTED", "RMS:Margin Exceeds,Cash Available:5000.00")
    ]
    raw = json.loads(sql("SELECT raw FROM events WHERE kind = 'REJECTED'")[0][0])
    assert raw["nOrdNo"] == "2"


@pytest.mark.parametrize(
    "payload",
    [
        SESSION_EXPIRED,
        "{not json",
        {"stat": "Ok"},
        "<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_failed_fetch_changes_nothing_and_exits_4(cli, broker, sql, payload):
    add(cli, "1")
    broker.write("orders.json", payload)
    before = sql("SELECT * FROM orders")
    result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert result.err.startswith("ordertrack: order book fetch failed, nothing was changed")
    assert result.err.count("\n") == 1
    assert sql("SELECT * FROM orders") == before
    assert sql("SELECT outcome, exit_code FROM runs") == [("failed", 4)]


def test_missing_orders_json_is_a_failed_fetch(cli, broker):
    add(cli, "1")
    result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert "does not exist" in result.err


def test_broker_misconfiguration_is_exit_3(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    assert cli("verify").code == ExitCode.CONFIG
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(tmp_path / "nope"))
    assert "is not a folder" in cli("verify").err
    monkeypatch.setenv("ORDERTRACK_BROKER", "zerodha")
    result = cli("verify")
    assert result.code == ExitCode.CONFIG
    assert "is not one of" in result.err


def test_empty_book_5203_counts_as_a_successful_fetch(cli, broker, sql):
    add(cli, "1")
    broker.orders()
    counts = verify_json(cli)
    assert counts["book"] == "empty"
    assert counts["not_found"] == 1
    assert sql("SELECT missing_count FROM orders") == [(1,)]


# ---- missing orders ------------------------------------------------------------------------


def test_missing_order_expires_only_after_misses_age_and_history(cli, broker, sql):
    with freeze_time(T0) as clock:
        add(cli, "1")
        broker.orders(kotak_row("99", "open", symbol="TCS"))
        broker.history("other", kotak_row("other"))  # the broker offers history
        for _ in range(12):  # under a day old: protected however often it is missed
            clock.tick(timedelta(hours=1))
            verify_json(cli)
        assert sql("SELECT status, missing_count FROM orders") == [("PENDING", 12)]
        clock.tick(timedelta(hours=12))
        counts = verify_json(cli)
    assert counts["expired"] == 1
    status, reason = sql("SELECT status, reason FROM orders")[0]
    assert status == "EXPIRED"
    assert "unknown to its order history" in reason
    assert sql("SELECT kind FROM outbox") == [("EXPIRED",)]


def test_failed_fetches_never_count_towards_expiry(cli, broker, sql):
    with freeze_time(T0) as clock:
        add(cli, "1")
        broker.write("orders.json", SESSION_EXPIRED)
        for _ in range(6):
            clock.tick(timedelta(hours=1))
            assert cli("verify").code == ExitCode.BROKER
    assert sql("SELECT status, missing_count FROM orders") == [("PENDING", 0)]


def test_history_that_still_knows_the_order_saves_it_from_expiry(cli, broker, sql):
    with freeze_time(T0) as clock:
        add(cli, "1")
        broker.orders(kotak_row("99"))
        broker.history("1", kotak_row("1", "open"), kotak_row("1", "complete", filled=100))
        for _ in range(3):
            clock.tick(timedelta(hours=12))
            verify_json(cli)
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]


def test_failed_history_lookup_never_expires(cli, broker, sql):
    with freeze_time(T0) as clock:
        add(cli, "1")
        broker.orders(kotak_row("99"))
        broker.write("history/1.json", "{broken")
        for _ in range(5):
            clock.tick(timedelta(hours=12))
            verify_json(cli)
    assert sql("SELECT status, missing_count FROM orders") == [("PENDING", 5)]


# ---- unknown statuses --------------------------------------------------------------------


def test_unknown_status_is_recorded_with_raw_row_and_reported_once(cli, broker, sql):
    add(cli, "1")
    add(cli, "2", "TCS")
    broker.orders(
        kotak_row("1", "frozen by exchange"), kotak_row("2", "frozen by exchange", symbol="TCS")
    )
    first = verify_json(cli)
    assert first["unknown_status"] == 2
    assert sql("SELECT status FROM orders") == [("PENDING",), ("PENDING",)]
    assert sql("SELECT count(*) FROM events WHERE kind = 'UNKNOWN_STATUS'") == [(2,)]
    assert sql("SELECT kind FROM outbox") == [("UNKNOWN_STATUS",)]
    assert verify_json(cli)["notifications"] == 0
    assert sql("SELECT status_text FROM seen_statuses") == [("frozen by exchange",)]


# ---- tracking follows fills ----------------------------------------------------------------


def test_tracked_quantity_follows_buy_and_sell_fills(cli, broker, sql):
    add(cli, "1", "INFY-EQ", "buy", "100")
    add(cli, "2", "INFY", "sell", "30")
    broker.orders(kotak_row("1", "open", filled=40), kotak_row("2", "open", side="S"))
    verify_json(cli)
    assert sql("SELECT symbol, tracked_qty FROM tracking") == [("INFY", 40)]
    broker.orders(
        kotak_row("1", "complete", filled=100),
        kotak_row("2", "complete", side="S", qty=30, filled=30),
    )
    verify_json(cli)
    assert sql("SELECT tracked_qty FROM tracking") == [(70,)]
    assert [r[0] for r in sql("SELECT delta FROM tracking_changes WHERE cause = 'FILL'")] == [
        40,
        60,
        -30,
    ]


def test_intent_is_not_tracked_only_fills(cli, broker, sql):
    add(cli, "1", "INFY", "buy", "100")
    broker.orders(kotak_row("1", "rejected"))
    verify_json(cli)
    assert sql("SELECT * FROM tracking") == []


def test_sell_never_takes_tracked_quantity_below_zero(cli, broker, sql):
    cli("track", "add", "INFY", "--qty", "10")
    add(cli, "2", "INFY", "sell", "25")
    broker.orders(kotak_row("2", "complete", side="S", qty=25, filled=25))
    verify_json(cli)
    assert sql("SELECT tracked_qty FROM tracking") == [(0,)]
    assert "exceeded" in sql("SELECT note FROM tracking_changes WHERE cause = 'FILL'")[0][0]


def test_eq_suffix_in_book_matches_plain_symbol(cli, broker, sql):
    """Peer bug: MIRZAINT-EQ vs MIRZAINT counted as different symbols."""
    cli("track", "add", "MIRZAINT", "--qty", "5")
    add(cli, "1", "MIRZAINT", "buy", "5")
    broker.orders(kotak_row("1", "complete", symbol="MIRZAINT", qty=5, filled=5))
    verify_json(cli)
    assert sql("SELECT symbol, tracked_qty FROM tracking") == [("MIRZAINT", 10)]


# ---- orders registered without an id -------------------------------------------------------


def test_unconfirmed_order_resolved_by_tag(cli, broker, sql):
    add(cli, None, "INFY", "buy", "10", "--tag", "eng-42")
    broker.orders(
        kotak_row("555", "complete", qty=10, filled=10, tag="eng-42"),
        kotak_row("556", "open", qty=10, tag="other"),
    )
    counts = verify_json(cli)
    assert counts["resolved"] == 1 and counts["executed"] == 1
    assert sql("SELECT order_id, status FROM orders") == [("555", "EXECUTED")]


@freeze_time(T0)
def test_unconfirmed_order_resolved_by_details_when_exactly_one_fits(cli, broker, sql):
    add(cli, "7", "INFY", "buy", "10")  # claimed: never matched to the unconfirmed order
    add(cli, None, "INFY", "buy", "10")
    broker.orders(
        kotak_row("7", "open", qty=10, placed="23-Nov-2026 09:30:00"),
        kotak_row("8", "open", qty=10, placed="23-Nov-2026 09:31:00"),
        kotak_row("9", "open", qty=11, placed="23-Nov-2026 09:31:00"),
        kotak_row("10", "open", qty=10, side="S", placed="23-Nov-2026 09:31:00"),
        kotak_row("11", "open", qty=10, placed="23-Nov-2026 12:00:00"),
    )
    assert verify_json(cli)["resolved"] == 1
    assert sql("SELECT order_id FROM orders ORDER BY id") == [("7",), ("8",)]


@freeze_time(T0)
def test_ambiguous_match_is_reported_never_guessed(cli, broker, sql):
    add(cli, None, "INFY", "buy", "10")
    broker.orders(
        kotak_row("8", "open", qty=10, placed="23-Nov-2026 09:29:00"),
        kotak_row("9", "open", qty=10, placed="23-Nov-2026 09:31:00"),
    )
    counts = verify_json(cli)
    assert counts["ambiguous"] == 1 and counts["resolved"] == 0
    assert sql("SELECT order_id FROM orders") == [(None,)]
    payload = json.loads(sql("SELECT payload FROM outbox WHERE kind = 'AMBIGUOUS_MATCH'")[0][0])
    assert payload["candidates"] == ["8", "9"]
    assert verify_json(cli)["notifications"] == 0  # reported once


@freeze_time(T0)
def test_two_unconfirmed_orders_wanting_one_row_are_both_left_alone(cli, broker, sql):
    add(cli, None, "INFY", "buy", "10")
    add(cli, None, "INFY", "buy", "10")
    broker.orders(kotak_row("8", "open", qty=10, placed="23-Nov-2026 09:30:00"))
    assert verify_json(cli)["resolved"] == 0
    assert sql("SELECT order_id FROM orders") == [(None,), (None,)]


# ---- one order ---------------------------------------------------------------------------


def test_order_id_option_checks_only_that_order(cli, broker, sql):
    add(cli, "1")
    add(cli, "2", "TCS")
    broker.orders(
        kotak_row("1", "complete", filled=100), kotak_row("2", "complete", symbol="TCS", filled=100)
    )
    counts = verify_json(cli, "--order-id", "2")
    assert counts["checked"] == 1
    assert sql("SELECT order_id, status FROM orders ORDER BY id") == [
        ("1", "PENDING"),
        ("2", "EXECUTED"),
    ]
    result = cli("verify", "--order-id", "404")
    assert result.code == ExitCode.USAGE and "not registered" in result.err


def test_each_run_is_recorded(cli, broker, sql):
    broker.orders(NO_DATA)
    broker.write("orders.json", NO_DATA)
    cli("verify")
    [(command, outcome, code, counts)] = sql("SELECT command, outcome, exit_code, counts FROM runs")
    assert (command, outcome, code) == ("verify", "ok", 0)
    assert json.loads(counts)["checked"] == 0


def test_an_absurd_number_in_one_row_does_not_stop_the_others(cli, broker, sql):
    """Review bug: fldQty 1e20 overflowed SQLite and rolled back every change."""
    add(cli, "1")
    add(cli, "2", "TCS")
    broker.orders(kotak_row("1", "open", filled=1e20), kotak_row("2", "rejected", symbol="TCS"))
    assert cli("verify").code == 0
    assert sql("SELECT order_id, status, filled_qty FROM orders ORDER BY id") == [
        ("1", "PENDING", 0),
        ("2", "REJECTED", 0),
    ]


def test_a_row_filled_above_its_own_quantity_is_refused_and_reported(cli, broker, sql):
    add(cli, "1", "INFY", "buy", "10")
    broker.orders(kotak_row("1", "complete", qty=10, filled=400))
    assert verify_json(cli)["skipped_rows"] == 1
    assert sql("SELECT status, filled_qty FROM orders") == [("PENDING", 0)]
    assert sql("SELECT count(*) FROM tracking") == [(0,)]


def test_deeply_nested_broker_json_is_a_failed_fetch(cli, broker):
    add(cli, "1")
    broker.write("orders.json", "[" * 100000 + "]" * 100000)
    result = cli("verify")
    assert result.code == ExitCode.BROKER and "nested too deeply" in result.err


@freeze_time(T0)
def test_ambiguous_unconfirmed_orders_are_not_counted_missing(cli, broker, sql):
    add(cli, None, "INFY", "buy", "10")
    broker.orders(
        kotak_row("8", "open", qty=10, placed="23-Nov-2026 09:29:00"),
        kotak_row("9", "open", qty=10, placed="23-Nov-2026 09:31:00"),
    )
    verify_json(cli)
    verify_json(cli)
    assert sql("SELECT missing_count FROM orders") == [(0,)]


def test_a_broker_outage_raises_one_system_alert_until_it_recovers(cli, broker, sql):
    add(cli, "1")
    broker.write("orders.json", SESSION_EXPIRED)
    assert cli("verify").code == ExitCode.BROKER
    assert cli("verify").code == ExitCode.BROKER
    assert cli("reconcile").code == ExitCode.BROKER
    alerts = [
        json.loads(p)["text"]
        for (p,) in sql("SELECT payload FROM outbox WHERE kind = 'SYSTEM_ALERT'")
    ]
    assert len(alerts) == 1 and alerts[0].startswith("broker unavailable: order book fetch failed")
    broker.orders(kotak_row("1", "open"))
    assert cli("verify").code == 0
    broker.write("orders.json", SESSION_EXPIRED)
    assert cli("verify").code == ExitCode.BROKER  # a new outage: a new alert
    assert sql("SELECT count(*) FROM outbox WHERE kind = 'SYSTEM_ALERT'") == [(2,)]


def test_rows_without_an_order_id_are_counted_not_hidden(cli, broker):
    add(cli, "1")
    broker.write("orders.json", {"stat": "Ok", "data": [kotak_row("1", "open"), {"ordSt": "open"}]})
    assert verify_json(cli)["skipped_rows"] == 1
    assert "1 order-book rows had no order id or numbers that cannot be true" in cli("verify").out


def test_changes_written_in_chunks_lose_nothing(cli, broker, sql, monkeypatch):
    from ordertrack.jobs import verify

    monkeypatch.setattr(verify.Writes, "CHUNK", 2)  # 5 changes: flushed at 2, 4 and the end
    for n in range(1, 6):
        add(cli, str(n), "INFY", "buy", "10")
    broker.orders(
        *(kotak_row(str(n), "complete", symbol="INFY", filled=10, avg="100") for n in range(1, 6))
    )
    assert verify_json(cli)["executed"] == 5
    assert sql("SELECT status, count(*) FROM orders GROUP BY status") == [("EXECUTED", 5)]
    assert sql("SELECT kind, count(*) FROM outbox GROUP BY kind") == [("EXECUTED", 5)]
    assert sql("SELECT tracked_qty FROM tracking WHERE symbol = 'INFY'") == [(50,)]
