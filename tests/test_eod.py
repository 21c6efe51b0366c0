"""`ordertrack eod`: force-check, stale orders, the daily summary once, archive, db care."""

import json
import os
import stat
from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.timeutil import IST
from tests.helpers import SESSION_EXPIRED, kotak_row


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture
def no_holidays(tmp_path, monkeypatch):
    config = tmp_path / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    return config


def eod(cli, code=0):
    result = cli("eod", "--json")
    assert result.code == code, result.err
    return json.loads(result.out)


def test_friday_evening_amo_survives_the_weekend_and_expires_after_mondays_close(
    cli, broker, sql, no_holidays
):
    with freeze_time(ist(2026, 11, 27, 20, 0)) as clock:  # Friday 20:00
        cli("pending", "add", "1", "--symbol", "ITBEES", "--side", "buy", "--qty", "1", "--amo")
        broker.orders()  # the AMO is not in any book: the broker no longer has it
        broker.history("other", kotak_row("other"))
        for moment in (
            ist(2026, 11, 28, 18, 0),
            ist(2026, 11, 29, 18, 0),  # Sat, Sun
            ist(2026, 11, 30, 9, 0),
            ist(2026, 11, 30, 12, 0),
        ):  # Monday morning
            clock.move_to(moment)
            assert cli("verify").code == 0
            assert sql("SELECT status FROM orders") == [("PENDING",)], moment
        clock.move_to(ist(2026, 11, 30, 18, 0))  # Monday eod
        eod(cli)
    status, reason = sql("SELECT status, reason FROM orders")[0]
    assert status == "EXPIRED"
    assert "30 Nov 2026 15:30 IST" in reason


def test_holiday_monday_extends_the_amo(cli, broker, sql, tmp_path, monkeypatch):
    config = tmp_path / "holiday.toml"
    config.write_text("[calendar]\nnse_holidays = false\nholidays = [2026-11-30]\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    with freeze_time(ist(2026, 11, 27, 20, 0)) as clock:
        cli("pending", "add", "1", "--symbol", "ITBEES", "--side", "buy", "--qty", "1", "--amo")
        broker.orders()
        for moment in (ist(2026, 11, 28, 18, 0), ist(2026, 11, 30, 18, 0), ist(2026, 12, 1, 12, 0)):
            clock.move_to(moment)
            assert cli("verify").code == 0
        assert sql("SELECT status FROM orders") == [("PENDING",)]
        clock.move_to(ist(2026, 12, 1, 18, 0))
        eod(cli)
    assert sql("SELECT status FROM orders") == [("EXPIRED",)]


def test_day_order_expires_only_after_24_hours(cli, broker, sql, no_holidays):
    with freeze_time(ist(2026, 11, 30, 10, 0)) as clock:
        cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
        broker.orders()
        for moment in (ist(2026, 11, 30, 12, 0), ist(2026, 11, 30, 18, 0), ist(2026, 12, 1, 9, 59)):
            clock.move_to(moment)
            cli("eod")
        assert sql("SELECT status FROM orders") == [("PENDING",)]
        clock.move_to(ist(2026, 12, 1, 18, 0))
        eod(cli)
    assert sql("SELECT status FROM orders") == [("EXPIRED",)]


def test_an_order_still_open_at_the_broker_is_never_expired(cli, broker, sql, no_holidays):
    with freeze_time(ist(2026, 11, 23, 10, 0)) as clock:
        cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
        broker.orders(kotak_row("1", "open", qty=1))
        for day in range(7):
            clock.move_to(ist(2026, 11, 23, 18, 0) + timedelta(days=day))
            cli("eod")
    assert sql("SELECT status FROM orders") == [("PENDING",)]


def test_broker_failure_at_eod_expires_nothing_summary_says_so_exit_4(
    cli, broker, sql, no_holidays
):
    with freeze_time(ist(2026, 11, 23, 10, 0)) as clock:
        cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
        broker.write("orders.json", SESSION_EXPIRED)
        clock.move_to(ist(2026, 11, 25, 18, 0))
        data = eod(cli, code=ExitCode.BROKER)
    assert sql("SELECT status FROM orders") == [("PENDING",)]
    assert data["broker"] == "failed" and not data["summary"]["complete"]
    payload = json.loads(sql("SELECT payload FROM outbox WHERE kind = 'DAILY_SUMMARY'")[0][0])
    assert "invalid session token" in payload["broker_error"]
    assert sql("SELECT outcome, exit_code FROM runs") == [("failed", 4)]


def test_summary_is_queued_once_per_trading_day(cli, broker, sql, no_holidays):
    with freeze_time(ist(2026, 11, 23, 10, 0)) as clock:
        for order_id, symbol in (("1", "INFY"), ("2", "TCS"), ("3", "IDEA")):
            cli("pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", "10")
        broker.orders(
            kotak_row("1", "complete", qty=10, filled=10, avg="1849.5"),
            kotak_row("2", "rejected", symbol="TCS", qty=10, reason="RMS:Blocked"),
            kotak_row("3", "open", symbol="IDEA", qty=10, filled=4),
        )
        clock.move_to(ist(2026, 11, 23, 18, 0))
        first = eod(cli)
        second = eod(cli)
        out = cli("eod").out
    summary = first["summary"]
    assert (
        summary["placed"],
        len(summary["executed"]),
        len(summary["rejected"]),
        summary["partially_filled"],
        len(summary["still_pending"]),
    ) == (3, 1, 1, 1, 1)
    assert summary["rejected"][0]["reason"] == "RMS:Blocked"
    assert summary["tracked"] == [
        {"symbol": "IDEA", "tracked_qty": 4},
        {"symbol": "INFY", "tracked_qty": 10},
    ]
    assert first["summary_queued"] and not second["summary_queued"]
    assert sql("SELECT count(*) FROM outbox WHERE kind = 'DAILY_SUMMARY'") == [(1,)]
    assert "rejected" in out and "TCS" in out and "RMS:Blocked" in out
    assert "not sent again" in out


def test_holiday_still_force_checks_but_sends_no_second_summary(cli, broker, sql):
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:  # Monday's eod, then the holiday's
        assert cli("eod").code == 0
        clock.move_to(ist(2026, 11, 24, 10, 0))  # Guru Nanak Jayanti, NSE holiday
        cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
        broker.orders(kotak_row("1", "complete", qty=1, filled=1))
        clock.move_to(ist(2026, 11, 24, 18, 0))
        result = cli("eod")
    assert result.code == 0
    assert (
        "No trading session today; the last trading day, Mon 23 Nov 2026, was closed "
        "already." in result.out
    )
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]
    assert sql("SELECT key FROM outbox WHERE kind = 'DAILY_SUMMARY'") == [
        ("summary:2026-11-23:final",)
    ]


def test_archive_keeps_history_queryable(cli, broker, sql, tmp_path, monkeypatch):
    config = tmp_path / "archive.toml"
    config.write_text("[calendar]\nnse_holidays = false\n[eod]\nretention_days = 1\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    with freeze_time(ist(2026, 11, 23, 10, 0)) as clock:
        cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5")
        cli("pending", "add", "2", "--symbol", "INFY", "--side", "sell", "--qty", "5")
        cli("pending", "add", "3", "--symbol", "TCS", "--side", "buy", "--qty", "5")
        cli("track", "add", "HDFC")  # never owned anything: stays
        broker.orders(
            kotak_row("1", "complete", qty=5, filled=5),
            kotak_row("2", "complete", qty=5, filled=5, side="S"),
            kotak_row("3", "open", symbol="TCS", qty=5),
        )
        clock.move_to(ist(2026, 11, 23, 18, 0))
        first = eod(cli)
        assert first["archived_symbols"] == 1 and first["archived_orders"] == 0
        clock.move_to(ist(2026, 11, 25, 18, 0))
        broker.orders(kotak_row("3", "open", symbol="TCS", qty=5))
        assert eod(cli)["archived_orders"] == 2
    assert sql("SELECT order_id FROM orders WHERE archived_at IS NULL") == [("3",)]
    assert [t["symbol"] for t in json.loads(cli("track", "list", "--json").out)] == ["HDFC"]
    shown = json.loads(cli("pending", "show", "1", "--json").out)
    assert [e["kind"] for e in shown["events"]] == ["REGISTERED", "EXECUTED"]


def test_backup_is_owner_only_and_only_the_last_n_are_kept(
    cli, broker, db_path, tmp_path, monkeypatch
):
    config = tmp_path / "backups.toml"
    config.write_text("[calendar]\nnse_holidays = false\n[eod]\nbackups = 2\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        for day in range(4):
            clock.move_to(ist(2026, 11, 23, 18, 0) + timedelta(days=day))
            data = eod(cli)
    backups = sorted((db_path.parent / "backups").iterdir())
    assert [b.name for b in backups] == ["ordertrack-20261125.db", "ordertrack-20261126.db"]
    assert all(stat.S_IMODE(os.stat(b).st_mode) == 0o600 for b in backups)
    assert data["integrity"] == "ok" and data["db_size_bytes"] > 0
    import sqlite3

    with sqlite3.connect(backups[-1]) as copy:
        assert copy.execute("SELECT count(*) FROM runs").fetchone()[0] >= 3


def test_status_flags_a_missed_verify_window_and_alerts_once(cli, broker, sql, no_holidays):
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 9, 30)) as clock:
        assert cli("verify").code == 0
        clock.move_to(ist(2026, 11, 23, 10, 0))
        assert json.loads(cli("status", "--json").out)["overdue"] == []
        clock.move_to(ist(2026, 11, 23, 12, 0))  # cron stopped: two hours without a verify
        overdue = json.loads(cli("status", "--json").out)["overdue"]
        assert len(overdue) == 1 and "no successful verify since" in overdue[0]
        assert cli("verify").code == 0  # the next run raises the alert...
        assert cli("verify").code == 0  # ...once
    alerts = sql("SELECT payload FROM outbox WHERE kind = 'SYSTEM_ALERT'")
    assert len(alerts) == 1 and "verify" in json.loads(alerts[0][0])["text"]


def test_a_missed_eod_is_noticed_the_next_day(cli, broker, sql, no_holidays):
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        eod(cli)
        clock.move_to(ist(2026, 11, 25, 9, 30))  # Tuesday's eod never ran
        overdue = json.loads(cli("status", "--json").out)["overdue"]
        assert overdue == [
            "no successful eod for Tue 24 Nov 2026; its summary is missing or incomplete"
        ]
        cli("verify")
        cli("verify")
    assert sql("SELECT count(*) FROM outbox WHERE kind = 'SYSTEM_ALERT'") == [(1,)]


def test_eod_table_output(cli, broker, no_holidays):
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)):
        out = cli("eod").out
    assert "Daily summary 2026-11-23" in out
    assert "integrity ok" in out


from tests.fake_telegram import error  # noqa: E402 (the tests below use it)


def test_eod_delivers_the_summary_at_once(cli, broker, telegram, no_holidays):
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)):
        assert cli("eod").code == 0
        assert cli("eod").code == 0
    [text] = telegram.texts()
    assert "Daily summary" in text and "Mon 23 Nov 2026" in text


def test_eod_broker_failure_still_sends_the_incomplete_summary_and_exits_4(
    cli, broker, telegram, no_holidays
):
    broker.write("orders.json", SESSION_EXPIRED)
    with freeze_time(ist(2026, 11, 23, 18, 0)):
        assert cli("eod").code == ExitCode.BROKER
    texts = telegram.texts()
    assert len(texts) == 2  # the incomplete summary, and one broker alert
    assert any("final states unknown" in t for t in texts)
    assert any("broker unavailable" in t for t in texts)


def test_eod_exits_6_when_the_summary_cannot_be_delivered(cli, broker, telegram, no_holidays, sql):
    telegram.script(error(403, "Forbidden: bot was blocked by the user"))
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)):
        result = cli("eod")
    assert result.code == ExitCode.UNDELIVERED
    assert "blocked" in result.err
    assert sql("SELECT status FROM outbox WHERE kind = 'DAILY_SUMMARY'") == [("FAILED",)]


def test_status_shows_exit_6_for_a_run_whose_notifications_were_kept(
    cli, broker, telegram, no_holidays
):
    telegram.script(error(403, "Forbidden: bot was blocked by the user"))
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    broker.orders(kotak_row("1", "complete", qty=1, filled=1))
    assert cli("verify").code == ExitCode.UNDELIVERED
    [run] = json.loads(cli("status", "--json").out)["runs"]
    assert (run["outcome"], run["exit_code"]) == ("ok", 6)  # the work was done
    assert "blocked" in run["error"]


# ---- the day an eod closes, and the one-summary rule (issue 12, items 4 and 5) ----------------


def summaries(sql):
    return [
        (key, json.loads(payload))
        for key, payload in sql(
            "SELECT key, payload FROM outbox WHERE kind = 'DAILY_SUMMARY' ORDER BY id"
        )
    ]


def test_an_eod_after_midnight_closes_the_previous_trading_day(cli, broker, sql, no_holidays):
    """A missed eod run at 00:30 summarises yesterday, and tonight's real eod still sends
    today's summary (it used to be refused as 'already queued' and yesterday's never came)."""
    with freeze_time(ist(2026, 11, 23, 10, 0)) as clock:
        cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5")
        broker.orders(kotak_row("1", "complete", qty=5, filled=5))
        clock.move_to(ist(2026, 11, 23, 15, 30))
        assert cli("verify").code == 0
        clock.move_to(ist(2026, 11, 24, 0, 30))  # Monday's 18:00 eod never ran
        late = cli("eod")
        clock.move_to(ist(2026, 11, 24, 18, 0))
        tonight = eod(cli)
    assert late.code == 0, late.err
    assert (
        "Closing trading day Mon 23 Nov 2026, the previous trading day (before 18:00 IST)"
        in late.out
    )
    assert tonight["trading_day"] == "2026-11-24" and tonight["summary_queued"]
    [(monday_key, monday), (tuesday_key, tuesday)] = summaries(sql)
    assert (monday_key, tuesday_key) == ("summary:2026-11-23:final", "summary:2026-11-24:final")
    assert monday["placed"] == 1 and [r["order_id"] for r in monday["executed"]] == ["1"]
    assert tuesday["placed"] == 0 and tuesday["executed"] == []


def test_an_eod_before_six_closes_the_previous_trading_day_over_a_weekend(
    cli, broker, sql, no_holidays
):
    broker.orders()
    with freeze_time(ist(2026, 11, 30, 17, 59)):  # Monday, a minute early: Friday is closed
        data = eod(cli)
    assert data["trading_day"] == "2026-11-27"
    assert [k for k, _ in summaries(sql)] == ["summary:2026-11-27:final"]


def test_a_failed_eod_after_a_good_one_sends_no_second_summary(cli, broker, sql, no_holidays):
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        assert eod(cli)["summary_queued"]
        broker.write("orders.json", SESSION_EXPIRED)
        clock.move_to(ist(2026, 11, 23, 19, 0))
        result = cli("eod")
    assert result.code == ExitCode.BROKER
    assert "a complete summary of this day was already queued; not sent again" in result.out
    assert [k for k, _ in summaries(sql)] == ["summary:2026-11-23:final"]


def test_a_good_eod_after_a_failed_one_is_sent_as_corrected_once(cli, broker, sql, no_holidays):
    broker.write("orders.json", SESSION_EXPIRED)
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        assert cli("eod").code == ExitCode.BROKER
        assert cli("eod").code == ExitCode.BROKER  # a second incomplete one is not queued
        broker.orders()
        clock.move_to(ist(2026, 11, 23, 19, 0))
        assert eod(cli)["summary"]["corrected"] is True
        assert not eod(cli)["summary_queued"]
    [(first, incomplete), (second, final)] = summaries(sql)
    assert (first, second) == ("summary:2026-11-23:incomplete", "summary:2026-11-23:final")
    assert not incomplete["complete"] and not incomplete["corrected"]
    assert final["complete"] and final["corrected"]
    from ordertrack.notify.messages import plain_text

    assert plain_text("DAILY_SUMMARY", final).startswith(
        "Daily summary Mon 23 Nov 2026 (corrected)\nCorrected:"
    )


# ---- backups (issue 12, items 2 and 3) ----------------------------------------------------


def backups_config(tmp_path, monkeypatch, keep=2):
    config = tmp_path / "backups.toml"
    config.write_text(f"[calendar]\nnse_holidays = false\n[eod]\nbackups = {keep}\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))


def test_backups_of_another_database_beside_it_do_not_count(cli, broker, tmp_path, monkeypatch):
    """ot-paper.db's backups are named ot-paper-YYYYMMDD.db: ot.db's retention (pattern
    ot-*.db) used to count and delete them, and then its own."""
    backups_config(tmp_path, monkeypatch)
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        for day in range(4):
            clock.move_to(ist(2026, 11, 23, 18, 0) + timedelta(days=day))
            for name in ("ot.db", "ot-paper.db"):
                assert cli("--db", str(tmp_path / name), "eod").code == 0
            assert cli("--db", str(tmp_path / "ot.db"), "eod").code == 0  # a re-run
    names = sorted(b.name for b in (tmp_path / "backups").iterdir())
    assert names == [
        "ot-20261125.db",
        "ot-20261126.db",
        "ot-paper-20261125.db",
        "ot-paper-20261126.db",
    ]


def test_planted_backup_files_are_neither_counted_nor_deleted(
    cli, broker, db_path, tmp_path, monkeypatch
):
    backups_config(tmp_path, monkeypatch)
    broker.orders()
    folder = db_path.parent / "backups"
    folder.mkdir(mode=0o700)
    planted = folder / "ordertrack-99999999.db"
    planted.write_text("not mine")
    os.chown(planted, 4242, 4242) if os.geteuid() == 0 else pytest.skip("needs root to chown")
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        for day in range(3):
            clock.move_to(ist(2026, 11, 23, 18, 0) + timedelta(days=day))
            data = eod(cli)
    assert planted.exists()
    assert data["backup"] == str(folder / "ordertrack-20261125.db")
    assert sorted(b.name for b in folder.iterdir()) == [
        "ordertrack-20261124.db",
        "ordertrack-20261125.db",
        "ordertrack-99999999.db",
    ]


def test_backup_folder_others_can_write_is_refused(cli, broker, db_path, tmp_path, monkeypatch):
    backups_config(tmp_path, monkeypatch)
    broker.orders()
    folder = db_path.parent / "backups"
    folder.mkdir()
    folder.chmod(0o777)
    with freeze_time(ist(2026, 11, 23, 18, 0)):
        result = cli("eod")
    assert result.code == ExitCode.DATABASE
    assert result.err.count("\n") == 1 and "writable by another user" in result.err
    assert list(folder.iterdir()) == []


def test_a_clock_set_back_never_deletes_the_backup_just_taken(
    cli, broker, db_path, tmp_path, monkeypatch
):
    backups_config(tmp_path, monkeypatch, keep=1)
    broker.orders()
    with freeze_time(ist(2027, 11, 23, 18, 0)) as clock:  # a year ahead, then set right
        eod(cli)
        clock.move_to(ist(2026, 11, 23, 18, 0))
        data = eod(cli)
    assert data["backup"] and os.path.exists(data["backup"])


def test_folders_are_owner_only_under_umask_000(cli, broker, tmp_path, monkeypatch):
    backups_config(tmp_path, monkeypatch)
    broker.orders()
    path = tmp_path / "a" / "b" / "ot.db"
    old = os.umask(0)
    try:
        with freeze_time(ist(2026, 11, 23, 18, 0)):
            assert cli("--db", str(path), "eod").code == 0
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "backups"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    for file in (path, *(path.parent / "backups").iterdir()):
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600, file


def test_an_eod_before_six_does_not_count_as_that_days_eod(cli, broker, no_holidays):
    """It closed the previous trading day: the next morning, that day's eod is still missing."""
    broker.orders()
    with freeze_time(ist(2026, 11, 23, 18, 0)) as clock:
        eod(cli)
        clock.move_to(ist(2026, 11, 24, 17, 0))  # Tuesday, an hour early: closes Monday again
        eod(cli)
        clock.move_to(ist(2026, 11, 25, 9, 30))
        overdue = json.loads(cli("status", "--json").out)["overdue"]
    assert overdue == [
        "no successful eod for Tue 24 Nov 2026; its summary is missing or incomplete"
    ]


def test_eod_exits_with_the_database_problem_first_then_the_broker_then_delivery():
    from ordertrack.errors import BrokerUnavailable, DatabaseError, Undelivered
    from ordertrack.jobs.eod import EodResult

    undelivered = Undelivered("1 notification kept")
    result = EodResult(
        "2026-11-27",
        True,
        integrity="page 3 is bad",
        backup_error="full disk",
        broker_error="timeout",
    )
    assert isinstance(result.failure(undelivered), DatabaseError)
    assert "integrity check failed: page 3 is bad" in result.failure(undelivered).message
    result.integrity = "ok"
    assert result.failure(undelivered).message == "full disk"
    result.backup_error = None
    assert isinstance(result.failure(undelivered), BrokerUnavailable)
    result.broker_error = None
    assert result.failure(undelivered) is undelivered
    assert result.failure(None) is None
