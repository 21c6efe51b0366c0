"""Delivering notifications to Telegram: the real CLI against a real (local) Bot API server."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from ordertrack import config
from ordertrack.errors import ExitCode
from ordertrack.notify import delivery as notify
from ordertrack.notify import messages, policy
from ordertrack.notify.policy import Batch, backoff, plan
from ordertrack.store import outbox
from ordertrack.store.db import open_db, transaction
from ordertrack.timeutil import utcnow
from tests import fake_telegram as fake
from tests.fake_telegram import TOKEN
from tests.helpers import kotak_row

# ---- the rules, as pure functions ------------------------------------------------------------


def test_more_than_five_routine_events_make_one_digest_but_not_rejections():
    rows = [(i, "EXECUTED", "on") for i in range(1, 6)] + [
        (6, "REJECTED", "on"),
        (7, "MANUAL_TRADE", "on"),
    ]
    assert plan(rows, 5) == Batch((), (1, 2, 3, 4, 5), (6, 7))
    assert plan(rows[:5], 5) == Batch((), (), (1, 2, 3, 4, 5))  # five is not more than five
    assert plan(rows, 0).digest == ()  # 0: never
    assert plan([*rows[:5], (8, "PARTIAL_FILL", "off")], 5) == Batch((8,), (), (1, 2, 3, 4, 5))
    lone = [(1, "EXECUTED", "on")] + [(i, "REJECTED", "on") for i in range(2, 9)]
    assert plan(lone, 5).digest == ()  # a digest of one is just a message


def test_backoff_grows_to_an_hour_and_honours_retry_after():
    assert [backoff(n) for n in (1, 2, 3, 7, 20)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 60, 60)
    ]
    assert backoff(5, retry_after=17) == timedelta(seconds=17)
    assert backoff(1, retry_after=0) == timedelta(seconds=1)


def test_levels_per_event_and_for_a_digest(tmp_path):
    settings = config.Settings(
        db_path=tmp_path / "x.db", notify_levels={"executed": "silent", "alerts": "off"}
    )
    assert policy.level(settings, "EXECUTED", {}) == "silent"
    assert policy.level(settings, "REJECTED", {}) == "on"
    assert policy.level(settings, "SYSTEM_ALERT", {}) == "off"
    quiet = config.Settings(db_path=tmp_path / "x.db", notify_levels={"tracking_stopped": "off"})
    sold_out = {"action": "manual_sell", "new_qty": 0}
    assert policy.level(quiet, "MANUAL_TRADE", sold_out) == "off"
    assert policy.level(quiet, "MANUAL_TRADE", {**sold_out, "new_qty": 5}) == "on"
    silent = {"items": [{"kind": "EXECUTED", "payload": {}}] * 2}
    mixed = {"items": [{"kind": "EXECUTED", "payload": {}}, {"kind": "EXPIRED", "payload": {}}]}
    assert policy.level(settings, "DIGEST", silent) == "silent"
    assert policy.level(settings, "DIGEST", mixed) == "on"


# ---- helpers ---------------------------------------------------------------------------------


def place(cli, broker, *rows):
    """Register each row's order, then make the broker's order book show the rows."""
    for row in rows:
        side = "buy" if row["trnsTp"] == "B" else "sell"
        result = cli(
            "pending",
            "add",
            row["nOrdNo"],
            "--symbol",
            row["sym"],
            "--side",
            side,
            "--qty",
            str(row["qty"]),
        )
        assert result.code == 0, result.err
    broker.orders(*rows)


def executed(order_id, symbol="INFY", qty=10, avg="1850.00"):
    return kotak_row(order_id, "complete", symbol=symbol, qty=qty, filled=qty, avg=avg)


def rejected(order_id, symbol="TCS", reason="RMS:Margin Exceeds"):
    return kotak_row(order_id, "rejected", symbol=symbol, qty=5, reason=reason)


def due_now(sql):
    """Let the backoff and any rate-limit pause run out."""
    sql(
        "UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00.000000+00:00'"
        " WHERE next_attempt_at IS NOT NULL"
    )
    sql("UPDATE telegram_chats SET paused_until = NULL")


def closed_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    def write(**values):
        path = tmp_path / "ordertrack.toml"
        path.write_text(
            "[notify]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
        )
        monkeypatch.setenv("ORDERTRACK_CONFIG", str(path))

    return write


def first_lines(telegram, chat=None):
    return [text.split("\n")[0] for text in telegram.texts(chat)]


# ---- delivery --------------------------------------------------------------------------------


def test_one_message_per_event_per_chat_and_never_twice(cli, broker, telegram, sql, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-2002")
    place(
        cli,
        broker,
        executed("1"),
        rejected("2"),
        kotak_row("3", "open", symbol="SBIN", qty=10, filled=4, avg="800.00"),
    )
    result = cli("verify")
    assert result.code == 0, result.err
    assert "Telegram: 6 sent, 0 waiting, 0 failed." in result.out
    for chat in ("1001", "-2002"):
        assert first_lines(telegram, chat) == [
            "✅ Executed: BUY INFY",
            "❌ Rejected: BUY TCS",
            "◐ Partially filled: BUY SBIN",
        ]
    assert sql("SELECT status FROM outbox") == [("SENT",)] * 3
    assert sql(
        "SELECT count(*) FROM deliveries WHERE status = 'SENT' AND message_id GLOB '1[0-9][0-9]'"
    ) == [(6,)]
    assert cli("verify").code == 0 and cli("outbox", "flush").code == 0
    assert len(telegram.messages) == 6


def test_sent_only_after_the_change_committed_and_with_no_write_lock_held(
    cli, broker, telegram, db_path
):
    seen = []

    def look(body):
        with sqlite3.connect(db_path, timeout=0) as conn:
            seen.append(conn.execute("SELECT status FROM orders").fetchone()[0])
            try:
                conn.execute("BEGIN IMMEDIATE")
                seen.append("writable")
            except sqlite3.OperationalError as exc:
                seen.append(str(exc))
            conn.rollback()

    telegram.on_send = look
    place(cli, broker, executed("1"))
    assert cli("verify").code == 0
    assert seen == ["EXECUTED", "writable"]


def test_symbols_and_reasons_arrive_exactly_as_written(cli, broker, telegram):
    reason = "RMS: qty > limit <5000> *check* & retry_later"
    place(
        cli,
        broker,
        executed("1", symbol="M&M", avg="2950.50"),
        rejected("2", symbol="BAJAJ_AUTO", reason=reason),
    )
    assert cli("verify").code == 0
    done, refused = telegram.texts()
    assert done.split("\n") == [
        "✅ Executed: BUY M&M",
        "Filled 10/10 at ₹2,950.50 · value ₹29,505.00",
        done.split("\n")[2],
    ]
    assert done.split("\n")[2].startswith("Order 1 · ") and done.endswith(" IST")
    assert f"Reason: {reason}" in refused.split("\n")
    assert "M&amp;M" in telegram.messages[0]["raw"]  # escaped on the wire, not in the chat


def test_cant_parse_entities_is_resent_as_plain_text(cli, broker, telegram):
    telegram.script(fake.CANT_PARSE)
    place(cli, broker, executed("1", symbol="M&M"))
    assert cli("verify").code == 0
    first, second = telegram.sends()
    assert first["parse_mode"] == "HTML" and "parse_mode" not in second
    assert first_lines(telegram) == ["✅ Executed: BUY M&M"]


def test_server_errors_are_retried_on_a_later_run_with_backoff(cli, broker, telegram, sql):
    telegram.script(*[fake.BAD_GATEWAY] * 3)
    place(cli, broker, executed("1"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED
    assert result.err == (
        "ordertrack: notifications not delivered, kept in the outbox: 1 waiting"
        " for a later run — chat 1001: Telegram server error (HTTP 502) — "
        "usually brief: retried on a later run\n"
    )
    assert sql("SELECT status FROM orders") == [("EXECUTED",)]  # the change itself stands
    assert sql(
        "SELECT status, attempts, last_error LIKE 'Telegram server error%' FROM deliveries"
    ) == [("PENDING", 1, 1)]
    early = cli("outbox", "flush")  # inside the backoff: not tried again yet
    assert early.code == ExitCode.UNDELIVERED and "next attempt after" in early.err
    assert len(telegram.sends()) == 3
    due_now(sql)
    assert cli("outbox", "flush").code == 0
    assert len(telegram.texts()) == 1 and sql("SELECT status FROM outbox") == [("SENT",)]


def test_429_pauses_the_chat_and_a_later_run_delivers(cli, broker, telegram, sql, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-2002")
    telegram.chats["1001"] = fake.flood(1)
    place(cli, broker, executed("1"), rejected("2"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED
    assert "chat 1001: rate limited by Telegram for 1 s" in result.err
    assert telegram.sleeps.count(1.0) == 2  # the client waited as asked between its attempts
    assert len(telegram.texts("-2002")) == 2 and telegram.texts("1001") == []
    assert [s["chat_id"] for s in telegram.sends()].count(1001) == 3  # the 2nd was never tried
    del telegram.chats["1001"]
    paused = cli("outbox", "flush")
    assert paused.code == ExitCode.UNDELIVERED and telegram.texts("1001") == []
    time.sleep(1.05)
    assert cli("outbox", "flush").code == 0
    assert len(telegram.texts("1001")) == 2 and len(telegram.messages) == 4


@pytest.mark.parametrize(
    "reply, cause",
    [
        (fake.CHAT_NOT_FOUND, "chat not found"),
        (fake.BLOCKED, "bot blocked by the user"),
        (fake.NOT_STARTED, "bot not started by the user"),
        (fake.NOT_MEMBER, "bot not in the group"),
    ],
)
def test_a_dead_chat_fails_for_good_and_the_others_still_get_theirs(
    cli, broker, telegram, sql, monkeypatch, reply, cause
):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-2002")
    telegram.chats["-2002"] = reply
    place(cli, broker, executed("1"), rejected("2"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED
    assert "2 failed for good" in result.err and f"chat -2002: {cause} — " in result.err
    assert "ordertrack outbox flush --retry-failed" in result.err
    assert len(telegram.texts("1001")) == 2
    assert [s["chat_id"] for s in telegram.sends()].count(-2002) == 1  # the rest would fail too
    assert sql("SELECT chat_id, status FROM deliveries ORDER BY outbox_id, chat_id") == [
        ("-2002", "FAILED"),
        ("1001", "SENT"),
        ("-2002", "FAILED"),
        ("1001", "SENT"),
    ]
    assert sql("SELECT status FROM outbox") == [("FAILED",), ("FAILED",)]
    again = cli("outbox", "flush")  # kept, reported, not retried blindly
    assert again.code == 0 and "2 failed for good earlier" in again.out
    assert [s["chat_id"] for s in telegram.sends()].count(-2002) == 1


def test_a_rejected_token_fails_everything_until_fixed(cli, broker, telegram, sql, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:revoked-or-mistyped")
    place(cli, broker, executed("1"), rejected("2"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED
    assert "token invalid: Telegram answered 401 Unauthorized" in result.err
    assert len(telegram.calls) == 1  # one try; the others would meet the same answer
    assert sql("SELECT DISTINCT status FROM deliveries") == [("FAILED",)]
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    fixed = cli("outbox", "flush", "--retry-failed")
    assert fixed.code == 0 and "Re-queued 2 failed deliveries." in fixed.out
    assert first_lines(telegram) == ["✅ Executed: BUY INFY", "❌ Rejected: BUY TCS"]


def test_a_group_that_became_a_supergroup_is_followed(cli, broker, telegram, sql, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-3003")
    telegram.chats["-3003"] = fake.migrate("-1003003")
    place(cli, broker, executed("1"))
    result = cli("verify")
    assert result.code == 0
    assert (
        "chat -3003 became supergroup -1003003: messages follow it; set TELEGRAM_CHAT_ID "
        "to -1003003"
    ) in result.err
    assert len(telegram.texts("-1003003")) == 1
    assert sql("SELECT chat_id, status FROM deliveries") == [("-1003003", "SENT")]
    place(cli, broker, executed("1"), rejected("2"))
    assert cli("verify").code == 0  # straight to the new id
    assert [s["chat_id"] for s in telegram.sends()] == [-3003, -1003003, -1003003]
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1003003")
    assert cli("outbox", "flush").err == ""  # the note stops once the setting is updated


def test_no_reply_means_unknown_and_one_resend_marked_as_possible_duplicate(
    cli, broker, telegram, sql, settings_file
):
    settings_file(timeout_seconds=0.2)
    telegram.script(fake.slow(0.5))
    place(cli, broker, executed("1"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED
    assert "chat 1001: network: no reply in time from 127.0.0.1" in result.err
    assert sql("SELECT status, uncertain FROM deliveries") == [("UNKNOWN", 1)]
    assert len(telegram.texts()) == 1  # it did arrive: the outcome was unknown, not a failure
    assert cli("outbox", "flush").code == 0
    first, second = telegram.texts()
    assert second == f"{first}\n{messages.DUPLICATE_NOTE}"
    assert cli("outbox", "flush").code == 0 and len(telegram.texts()) == 2


def test_a_second_unknown_outcome_fails_rather_than_risk_a_third_copy(
    cli, broker, telegram, sql, settings_file
):
    settings_file(timeout_seconds=0.2)
    telegram.script(fake.slow(0.5), fake.MALFORMED)
    place(cli, broker, executed("1"))
    assert cli("verify").code == ExitCode.UNDELIVERED
    result = cli("outbox", "flush")
    assert result.code == ExitCode.UNDELIVERED and "1 failed for good" in result.err
    assert sql("SELECT status, uncertain FROM deliveries") == [("FAILED", 2)]
    [row] = json.loads(cli("outbox", "list", "--json").out)
    assert "not sent again, to avoid duplicates" in row["deliveries"][0]["last_error"]
    assert cli("outbox", "flush").code == 0 and len(telegram.sends()) == 2


def test_a_sender_that_died_mid_send_is_an_unknown_outcome(cli, broker, telegram, sql, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    place(cli, broker, executed("1"), rejected("2"))
    assert cli("verify").code == 0  # queued only
    past, future = "2000-01-01T00:00:00.000000+00:00", "2999-01-01T00:00:00.000000+00:00"
    for outbox_id, until in ((1, past), (2, future)):  # a dead sender's claim, a live one's
        sql(
            "INSERT INTO deliveries (outbox_id, chat_id, status, attempts, claimed_by,"
            " claimed_until, created_at) VALUES (?, '1001', 'SENDING', 1, 'gone', ?, ?)",
            outbox_id,
            until,
            past,
        )
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert cli("outbox", "flush").code == 0
    [text] = telegram.texts()
    assert text.startswith("✅ Executed") and text.endswith(messages.DUPLICATE_NOTE)
    assert sql("SELECT status, uncertain FROM deliveries ORDER BY id") == [
        ("SENT", 1),
        ("SENDING", 0),
    ]  # the live claim is its sender's business


def test_a_message_that_cannot_be_written_fails_alone(telegram, db_path, sql, cli):
    db = open_db(db_path)
    with transaction(db):
        outbox.enqueue(db, "bad", "AMBIGUOUS_MATCH", {"symbol": "X"}, utcnow(), None)
    db.close()
    queue_rejections(db_path, 1)
    result = cli("outbox", "flush")
    assert result.code == ExitCode.UNDELIVERED
    assert "chat 1001: cannot write this message (KeyError: 'side')" in result.err
    assert first_lines(telegram) == ["❌ Rejected: BUY S0"]  # the next one still went out


def test_unreachable_telegram_keeps_everything_for_the_next_run(
    cli, broker, telegram, sql, monkeypatch
):
    monkeypatch.setenv("TELEGRAM_API_URL", closed_url())
    place(cli, broker, executed("1"), rejected("2"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED and "network: cannot connect to" in result.err
    assert sql("SELECT status, attempts FROM deliveries ORDER BY id") == [
        ("PENDING", 1),
        ("PENDING", 0),
    ]  # the second waits untried
    monkeypatch.setenv("TELEGRAM_API_URL", telegram.url)
    due_now(sql)
    assert cli("outbox", "flush").code == 0 and len(telegram.texts()) == 2


def test_a_split_message_resumes_after_its_last_delivered_part(
    cli, broker, telegram, sql, tmp_path
):
    orders = tmp_path / "orders.jsonl"
    orders.write_text(
        "".join(
            f'{{"order_id": "{i}", "symbol": "SYMBOL{i}", "side": "buy", "qty": 10}}\n'
            for i in range(1, 151)
        )
    )
    assert cli("pending", "add", "--from", str(orders)).code == 0
    broker.orders(*[executed(str(i), symbol=f"SYMBOL{i}") for i in range(1, 151)])
    telegram.script(fake.OK, *[fake.BAD_GATEWAY] * 3)
    assert cli("verify").code == ExitCode.UNDELIVERED
    assert sql("SELECT status, parts_sent FROM deliveries") == [("PENDING", 1)]
    due_now(sql)
    assert cli("outbox", "flush").code == 0
    heads = first_lines(telegram)
    assert len(heads) >= 3 and all(h.startswith("📋 150 order updates") for h in heads)
    assert [h[h.rindex("(") :] for h in heads] == [
        f"({k}/{len(heads)})" for k in range(1, len(heads) + 1)
    ]
    body = [line for text in telegram.texts() for line in text.split("\n")[1:]]
    assert [line.split("order ")[-1] for line in body] == [str(i) for i in range(1, 151)]
    assert sql("SELECT status, parts_sent FROM deliveries") == [("SENT", len(heads))]


def test_many_events_travel_as_one_digest_but_rejections_alone(cli, broker, telegram, sql):
    place(
        cli,
        broker,
        *[executed(str(i), symbol=f"S{i}") for i in range(1, 6)],
        rejected("6", symbol="R6"),
        rejected("7", symbol="R7"),
    )
    assert cli("verify").code == 0
    *alone, digest = telegram.texts()  # the urgent ones first
    assert digest.split("\n")[0].startswith("📋 5 order updates · ")
    assert [line.split(" · ")[0] for line in digest.split("\n")[1:]] == [
        f"✅ Executed BUY S{i}" for i in range(1, 6)
    ]
    assert [text.split("\n")[0] for text in alone] == ["❌ Rejected: BUY R6", "❌ Rejected: BUY R7"]
    assert sql("SELECT status, count(*) FROM outbox GROUP BY status") == [
        ("DIGESTED", 5),
        ("SENT", 3),
    ]
    assert "in digest #8" in cli("outbox", "list").out


def test_digest_threshold_is_a_setting(cli, broker, telegram, settings_file):
    settings_file(digest_after=10)
    place(cli, broker, *[executed(str(i), symbol=f"S{i}") for i in range(1, 8)])
    assert cli("verify").code == 0 and len(telegram.texts()) == 7


def test_silent_and_off_settings(cli, broker, telegram, sql, settings_file):
    settings_file(executed="silent", partial_fill="off")
    place(
        cli,
        broker,
        executed("1", symbol="A"),
        kotak_row("2", "open", symbol="B", qty=10, filled=4, avg="5.00"),
        rejected("3", "C"),
    )
    assert cli("verify").code == 0
    assert [(m["text"].split("\n")[0], m["silent"]) for m in telegram.messages] == [
        ("✅ Executed: BUY A", True),
        ("❌ Rejected: BUY C", False),
    ]
    assert sql("SELECT kind, status FROM outbox ORDER BY id") == [
        ("EXECUTED", "SENT"),
        ("PARTIAL_FILL", "OFF"),
        ("REJECTED", "SENT"),
    ]


def test_without_a_token_events_wait_and_every_command_succeeds(
    cli, broker, telegram, sql, monkeypatch
):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    place(cli, broker, executed("1"))
    result = cli("verify")
    assert (result.code, result.err) == (0, "") and "Telegram" not in result.out
    flush = cli("outbox", "flush")
    assert flush.code == 0
    assert "Notifications are off (no TELEGRAM_BOT_TOKEN): 1 waiting in the outbox." in flush.out
    assert "notifications: off (no TELEGRAM_BOT_TOKEN)" in cli("status").out
    assert sql("SELECT status FROM outbox") == [("PENDING",)] and telegram.calls == []
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert cli("outbox", "flush").code == 0 and len(telegram.texts()) == 1  # nothing was lost


def test_a_token_without_a_chat_is_reported_and_events_are_kept(
    cli, broker, telegram, sql, monkeypatch
):
    monkeypatch.delenv("TELEGRAM_CHAT_ID")
    place(cli, broker, executed("1"))
    result = cli("verify")
    assert result.code == ExitCode.UNDELIVERED and "TELEGRAM_CHAT_ID is not set" in result.err
    assert sql("SELECT status FROM outbox") == [("PENDING",)]


def test_verify_json_stays_json_when_delivery_fails(cli, broker, telegram):
    telegram.script(*[fake.BAD_GATEWAY] * 3)
    place(cli, broker, executed("1"))
    result = cli("verify", "--json")
    assert result.code == ExitCode.UNDELIVERED
    assert json.loads(result.out)["notifications"] == 1
    assert result.err.startswith("ordertrack: notifications not delivered")


def test_a_broker_failure_still_exits_4_but_earlier_events_go_out(
    cli, broker, telegram, monkeypatch
):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    place(cli, broker, executed("1"))
    assert cli("verify").code == 0
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    broker.write("orders.json", "{oops")
    assert cli("verify").code == ExitCode.BROKER
    assert first_lines(telegram) == ["✅ Executed: BUY INFY", "⚠️ ordertrack alert (verify)"]


@pytest.mark.parametrize(
    "reply",
    [
        fake.UNAUTHORIZED,
        fake.NOT_FOUND_ECHO,
        fake.BAD_GATEWAY,
        fake.MALFORMED,
        fake.CHAT_NOT_FOUND,
        fake.CANT_PARSE,
        fake.flood(1),
        fake.migrate("-100999"),
        "slow",
        "unreachable",
    ],
    ids=[
        "401",
        "404-echo",
        "502",
        "malformed",
        "chat",
        "parse",
        "429",
        "migrate",
        "slow",
        "unreachable",
    ],
)
def test_the_token_never_appears_in_output_or_database(
    cli, broker, telegram, monkeypatch, settings_file, db_path, reply
):
    settings_file(timeout_seconds=0.2)
    if reply == "unreachable":
        monkeypatch.setenv("TELEGRAM_API_URL", closed_url())
    else:
        telegram.chats["1001"] = fake.slow(0.4) if reply == "slow" else reply
    place(cli, broker, executed("1"))
    results = [
        cli("verify"),
        cli("outbox", "flush"),
        cli("outbox", "list"),
        cli("outbox", "list", "--json"),
        cli("status"),
        cli("status", "--json"),
        cli("notify-test"),
    ]
    assert any(r.code != 0 or r.err for r in results)  # each case is a failure path
    fake.assert_no_token(*(r.out + r.err for r in results), db_path=db_path)


# ---- overlapping senders ---------------------------------------------------------------------


def queue_rejections(db_path: Path, count: int) -> None:
    db = open_db(db_path)
    with transaction(db):
        for i in range(count):
            outbox.enqueue(
                db,
                f"k{i}",
                "REJECTED",
                {
                    "order_id": str(i),
                    "symbol": f"S{i}",
                    "side": "BUY",
                    "qty": 1,
                    "filled_qty": 0,
                    "reason": "RMS",
                },
                utcnow(),
                None,
            )
    db.close()


def test_overlapping_senders_never_send_a_delivery_twice(telegram, db_path, sql, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-2002")
    queue_rejections(db_path, 30)
    telegram.script(*[fake.slow(0.003)] * 60)  # slow enough for the senders to interleave
    settings = config.load(os.environ)

    def sender(_):
        db = open_db(db_path)
        try:
            return notify.deliver(db, settings, utcnow())
        finally:
            db.close()

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(sender, range(4)))
    sent = [(m["chat_id"], m["text"]) for m in telegram.messages]
    assert len(sent) == 60 and len(set(sent)) == 60
    assert sum(r.sent for r in reports) == 60
    assert sql("SELECT status, count(*) FROM deliveries GROUP BY status") == [("SENT", 60)]


def test_two_flush_processes_at_once_send_each_delivery_once(telegram, db_path, sql, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-2002")
    queue_rejections(db_path, 3)
    telegram.script(*[fake.slow(0.05)] * 6)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ordertrack", "outbox", "flush"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert results == [(0, ""), (0, "")]
    sent = [(m["chat_id"], m["text"]) for m in telegram.messages]
    assert len(sent) == 6 and len(set(sent)) == 6


def test_verify_as_a_real_process_delivers(cli, broker, telegram):
    place(cli, broker, executed("1", symbol="M&M"))
    result = subprocess.run(
        [sys.executable, "-m", "ordertrack", "verify"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Telegram: 1 sent, 0 waiting, 0 failed." in result.stdout
    assert first_lines(telegram) == ["✅ Executed: BUY M&M"]
