"""`ordertrack bot` (issue 27): Telegram commands answered by a cron-run bot, the real CLI
against the loopback Bot API (tests/fake_telegram.py), whose getUpdates keeps updates until an
offset above them confirms them, long-polls, and answers 409 as Telegram does."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ordertrack.core import bot_commands as core
from ordertrack.errors import ExitCode
from ordertrack.notify.messages import DUPLICATE_NOTE
from tests.fake_telegram import TOKEN, FakeTelegram, assert_no_token
from tests.helpers import kotak_row

ROOT = Path(__file__).resolve().parent.parent
STRANGER = "-1009999"


def place(cli, broker, *rows) -> None:
    """Register each row's order, then make the broker's order book show the rows."""
    for row in rows:
        side = "buy" if row["trnsTp"] == "B" else "sell"
        added = cli("pending", "add", row["nOrdNo"], "--symbol", row["sym"], "--side", side,
                    "--qty", str(row["qty"]))  # fmt: skip
        assert added.code == 0, added.err
    broker.orders(*rows)


def executed(order_id: str, symbol: str = "INFY"):
    return kotak_row(order_id, "complete", symbol=symbol, qty=10, filled=10, avg="1850.00")


def rejected(order_id: str, symbol: str = "TCS"):
    return kotak_row(order_id, "rejected", symbol=symbol, qty=5, reason="RMS:Margin Exceeds")


def answered(telegram: FakeTelegram, chat: str = "1001") -> list[str]:
    return telegram.texts(chat)


@pytest.fixture
def bot(cli):
    def run(*args: str):
        return cli("bot", "--wait", "0", *args)

    return run


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(text: str) -> Path:
        path = tmp_path / "ordertrack.toml"
        path.write_text(text)
        monkeypatch.setenv("ORDERTRACK_CONFIG", str(path))
        return path

    return write


# ---- the commands, pure ------------------------------------------------------------------------


def test_commands_are_parsed_and_every_argument_checked() -> None:
    assert core.parse("/status") == core.Ask("status")
    assert core.parse("/status@ordertrack_test_bot", "ordertrack_test_bot") == core.Ask("status")
    assert core.parse("/status@OtherBot", "ordertrack_test_bot") is None
    assert core.parse("hello") is None
    assert core.parse("/start") == core.Ask("help")
    assert core.parse("/order 2611300001") == core.Ask("order", "2611300001")
    assert core.parse("/order #3") == core.Ask("order", "#3")
    for bad in ("/order", "/order a b", "/order ../../etc/passwd;rm", "/order $(id)", "/order <b>"):
        assert isinstance(core.parse(bad), core.Refusal), bad
    assert core.parse("/pnl week") == core.Ask("pnl", "week")
    assert core.parse("/pnl") == core.Ask("pnl", "today")
    assert isinstance(core.parse("/pnl year"), core.Refusal)
    assert core.parse("/mute 30") == core.Ask("mute", "30")
    for bad in ("/mute", "/mute 0", "/mute -5", "/mute 99999", "/mute ten"):
        assert isinstance(core.parse(bad), core.Refusal), bad
    assert isinstance(core.parse("/status now"), core.Refusal)
    assert isinstance(core.parse("/rm -rf"), core.Refusal)


def test_the_command_list_fits_telegrams_rules() -> None:
    for entry in core.menu():
        assert 1 <= len(entry["command"]) <= 32 and entry["command"].islower()
        assert 1 <= len(entry["description"]) <= 256


# ---- each command answered in an allowed chat ---------------------------------------------------


def test_status_says_what_ordertrack_status_says(bot, cli, broker, telegram) -> None:
    place(cli, broker, kotak_row("2611300001", "open", symbol="INFY", qty=10))
    assert cli("verify").code == 0
    telegram.say(1001, "/status")
    result = bot()
    assert result.code == 0, result.err
    assert result.out.startswith("Bot: updates 1, answered 1\nTelegram: 1 sent")
    (text,) = answered(telegram)
    status = json.loads(cli("status", "--json").out)
    assert text.split("\n")[0] == "ordertrack status"
    assert f"Broker: file; notifications: {status['notifications']}" in text
    assert "Orders: pending 1" in text
    assert "verify: ok at " in text


def test_pending_lists_open_orders_newest_first_at_most_twenty(bot, cli, telegram) -> None:
    for n in range(1, 24):
        added = cli("pending", "add", f"26113000{n:02d}", "--symbol", f"S{n}", "--side", "buy",
                    "--qty", "1")  # fmt: skip
        assert added.code == 0, added.err
    telegram.say(1001, "/pending")
    assert bot().code == 0
    lines = answered(telegram)[0].split("\n")
    assert lines[0] == "Open orders: 23"
    assert lines[1].startswith("BUY S23 0/1")
    assert len(lines) == 1 + 20 + 1 and lines[-1].startswith("… and 3 more")


def test_order_shows_one_order_and_its_events(bot, cli, broker, telegram) -> None:
    place(cli, broker, rejected("2611300007", "M&M"))
    assert cli("verify").code == 0
    telegram.say(1001, "/order 2611300007")
    telegram.say(1001, "/order 999")
    telegram.say(1001, "/order $(reboot)")
    assert bot().code == 0
    order, unknown, refused = [t for t in answered(telegram) if "Rejected" not in t[:12]][-3:]
    assert order.split("\n")[0] == "Order 2611300007: BUY M&M"  # escaped, arrives as written
    assert "REJECTED: filled 0/5" in order and "Reason: RMS:Margin Exceeds" in order
    assert unknown == "Order 999 is not registered. /pending lists the open orders."
    assert refused.startswith("Usage: /order ID")


def test_today_pnl_and_help(bot, cli, broker, telegram) -> None:
    place(cli, broker, executed("2611300001"))
    assert cli("verify").code == 0
    for text in ("/today", "/pnl", "/pnl week", "/help", "/frobnicate"):
        telegram.say(1001, text)
    assert bot().code == 0
    today, pnl, week, helped, unknown = answered(telegram)[-5:]
    assert today.split("\n")[0].startswith("Daily summary ") and "(so far)" in today
    assert "executed 1" in today.split("\n")[1].lower()
    assert pnl.split("\n")[0].startswith("P&L ") and "realised" in pnl
    assert week.split("\n")[0].startswith("P&L ") and week != pnl
    assert helped.split("\n")[0] == "Commands:" and "/mute — " in helped
    assert unknown == "Unknown command /frobnicate. /help lists what I answer."


def test_report_sends_todays_report_as_a_file(bot, cli, broker, telegram, db_path) -> None:
    place(cli, broker, executed("2611300001"))
    assert cli("verify").code == 0
    telegram.say(1001, "/report")
    assert bot().code == 0
    (document,) = telegram.documents
    assert document["chat_id"] == "1001"
    assert document["filename"].endswith(".html")
    assert document["content"].startswith(b"<!DOCTYPE html>")
    assert b"INFY" in document["content"]
    assert document["caption"].startswith("📊 Report ")
    assert (db_path.parent / "reports" / document["filename"]).exists()


def test_a_group_in_telegram_chat_id_lets_its_members_ask(bot, telegram, monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-100200300")
    telegram.say(-100200300, "/help@ordertrack_test_bot")
    telegram.say(-100200300, "/help@SomeOtherBot")
    assert bot().code == 0
    assert len(answered(telegram, "-100200300")) == 1
    assert answered(telegram, "1001") == []  # the answer goes to the asking chat only


def test_answers_skip_the_notify_levels_and_digests(bot, telegram, settings) -> None:
    settings('[notify]\nalerts = "off"\nexecuted = "off"\ndigest_after = 1\n')
    for _ in range(4):
        telegram.say(1001, "/help")
    assert bot().code == 0
    assert len(answered(telegram)) == 4
    assert not any(m["silent"] for m in telegram.messages)


# ---- strangers ---------------------------------------------------------------------------------


def test_a_stranger_is_never_answered_and_logged_once(bot, telegram, sql) -> None:
    telegram.say(STRANGER, "/status")
    telegram.say(STRANGER, "/help")
    first = bot()
    telegram.say(STRANGER, "/pending")
    second = bot()
    assert first.code == second.code == 0
    assert telegram.messages == [] and telegram.documents == []
    assert first.err.count(f"chat {STRANGER}") == 1 and "not in TELEGRAM_CHAT_ID" in first.err
    assert STRANGER not in second.err
    assert sql("SELECT chat_id, messages FROM bot_strangers") == [(STRANGER, 3)]


# ---- offsets, the lease, setMyCommands, idle ---------------------------------------------------


def test_each_update_once_and_the_offset_confirms_it(bot, telegram, sql) -> None:
    first = telegram.say(1001, "/help")
    assert bot().code == 0
    assert bot().code == 0
    assert len(answered(telegram)) == 1
    assert telegram.bot_api.pending == []  # the second poll's offset confirmed it
    assert sql("SELECT value FROM bot_state WHERE name = 'offset'") == [(str(first + 1),)]


def test_an_update_seen_again_after_a_lost_offset_is_not_answered_twice(bot, telegram, sql) -> None:
    telegram.say(1001, "/help")
    update = json.loads(json.dumps(telegram.bot_api.pending[-1]))
    assert bot().code == 0
    sql("DELETE FROM bot_state WHERE name = 'offset'")
    telegram.bot_api.pending = [update]  # as if Telegram handed it out again
    assert bot().code == 0
    assert len(answered(telegram)) == 1


def test_an_old_update_id_on_a_new_message_is_answered(bot, telegram, sql) -> None:
    """After a quiet week Telegram picks update ids at random: one may come back."""
    telegram.say(1001, "/help")
    update = json.loads(json.dumps(telegram.bot_api.pending[-1]))
    assert bot().code == 0
    update["message"].update(message_id=99, date=update["message"]["date"] + 7 * 86400)
    update["update_id"] = 12  # below the stored offset
    telegram.bot_api.pending = [update]
    sql("UPDATE bot_state SET value = '2000-01-01T00:00:00.000000+00:00' WHERE name = 'offset_at'")
    assert bot().code == 0  # a quiet week: the poll starts from the oldest update kept
    assert len(answered(telegram)) == 2
    assert sql("SELECT value FROM bot_state WHERE name = 'offset'") == [("13",)]
    assert bot().code == 0 and len(answered(telegram)) == 2
    assert telegram.bot_api.pending == []  # the next poll confirmed it


def test_commands_registered_once_then_only_when_the_list_changes(bot, telegram, sql) -> None:
    assert bot().code == 0 and bot().code == 0
    registered = [c for c in telegram.calls if c["method"] == "setmycommands"]
    assert len(registered) == 1
    assert [c["command"] for c in telegram.bot_api.commands] == [n for n, _ in core.COMMANDS]
    sql("UPDATE bot_state SET value = '[]' WHERE name = 'commands'")  # an older list
    assert bot().code == 0
    assert len([c for c in telegram.calls if c["method"] == "setmycommands"]) == 2


def test_an_idle_run_makes_one_request(bot, telegram) -> None:
    assert bot().code == 0  # the first run registers the commands
    telegram.calls.clear()
    result = bot()
    assert result.code == 0 and result.out == "" and result.err == ""
    assert [c["method"] for c in telegram.calls] == ["getupdates"]


def test_the_poll_waits_for_a_command_and_answers_at_once(cli, telegram) -> None:
    started = time.monotonic()
    import threading

    threading.Timer(0.5, lambda: telegram.say(1001, "/help")).start()
    result = cli("bot", "--wait", "10")
    assert result.code == 0, result.err
    assert time.monotonic() - started < 5
    assert len(answered(telegram)) == 1
    assert telegram.calls[-2]["body"]["timeout"] == 10 or any(
        c["body"].get("timeout") == 10 for c in telegram.calls if c["method"] == "getupdates"
    )


def bot_process(*args: str, env: dict | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrack", "bot", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env or dict(os.environ),
    )


def test_a_second_bot_exits_0_at_once_saying_nothing(telegram) -> None:
    first = bot_process("--wait", "20")
    deadline = time.monotonic() + 20
    while telegram.bot_api.polls == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "ordertrack", "bot", "--wait", "20"],
        capture_output=True, text=True, cwd=ROOT, timeout=30,
    )  # fmt: skip
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert telegram.bot_api.polls == 1  # it never polled
    telegram.say(1001, "/help")
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert len(answered(telegram)) == 1


# ---- exactly once across SIGKILL ---------------------------------------------------------------


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def _rerun() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordertrack", "bot", "--wait", "0"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "when"),
    [("getupdates", "before"), ("getupdates", "after"), ("sendmessage", "before")],
)
def test_killed_before_telegram_took_the_answer_it_is_answered_once(
    telegram, sql, method, when
) -> None:
    telegram.say(1001, "/help")
    assert _rerun().returncode == 0  # registers the commands, answers; then a fresh one
    telegram.say(1001, "/pending")
    stall = telegram.stall(method, when)
    process = bot_process("--wait", "0")
    stall.wait()
    _kill(process)
    stall.release(drop=when == "before")
    del telegram.stalls[(method, when)]
    again = _rerun()
    assert again.returncode == 0, again.stderr
    assert _rerun().returncode == 0
    pendings = [t for t in answered(telegram) if t.startswith(("No open orders", "Open orders"))]
    assert len(pendings) == 1, answered(telegram)
    assert sql("SELECT count(*) FROM bot_updates") == [(2,)]


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_while_registering_the_commands_it_answers_once_later(telegram, sql, when) -> None:
    telegram.say(1001, "/help")
    stall = telegram.stall("setmycommands", when)
    process = bot_process("--wait", "0")
    stall.wait()
    _kill(process)
    stall.release(drop=when == "before")
    del telegram.stalls[("setmycommands", when)]
    assert _rerun().returncode == 0 and _rerun().returncode == 0
    assert len(answered(telegram)) == 1
    assert sql("SELECT count(*) FROM bot_state WHERE name = 'commands'") == [(1,)]


def test_killed_while_the_claim_waits_for_the_database_it_is_answered_once(
    telegram, db_path, sql
) -> None:
    assert _rerun().returncode == 0
    telegram.say(1001, "/help")
    stall = telegram.stall("getupdates", "after")
    process = bot_process("--wait", "0")
    stall.wait()  # past the lease, in the poll: now the claim's transaction must wait
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        stall.release()
        time.sleep(1.0)  # past getUpdates, waiting on the write lock
        assert process.poll() is None
        _kill(process)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    del telegram.stalls[("getupdates", "after")]
    assert _rerun().returncode == 0 and _rerun().returncode == 0
    assert len(answered(telegram)) == 1


def test_killed_after_telegram_took_the_answer_repeats_it_at_most_once_marked(
    telegram, sql
) -> None:
    assert _rerun().returncode == 0
    telegram.say(1001, "/help")
    stall = telegram.stall("sendmessage", "after")  # accepted, reply withheld
    process = bot_process("--wait", "0")
    stall.wait()
    _kill(process)
    stall.release()
    del telegram.stalls[("sendmessage", "after")]
    assert _rerun().returncode == 0 and _rerun().returncode == 0
    texts = answered(telegram)
    assert len(texts) == 2  # the one window no program can close
    assert DUPLICATE_NOTE in texts[1] and DUPLICATE_NOTE not in texts[0]


def test_overlapping_runs_answer_each_update_once(telegram) -> None:
    for n in range(5):
        telegram.say(1001, f"/mute {n + 1}" if n % 2 else "/help")
    processes = [bot_process("--wait", "1") for _ in range(4)]
    for p in processes:
        p.communicate(timeout=60)
        assert p.returncode == 0
    assert _rerun().returncode == 0
    assert len(answered(telegram)) == 5


# ---- 409 Conflict --------------------------------------------------------------------------------


def test_409_from_another_poller_is_one_alert_and_exit_3_until_it_clears(
    bot, cli, telegram
) -> None:
    telegram.bot_api.other_poller = True
    first, second = bot(), bot()
    assert first.code == second.code == ExitCode.CONFIG
    assert "409 Conflict: another program is reading this bot's updates" in first.err
    alerts = [t for t in answered(telegram) if "409 Conflict" in t]
    assert len(alerts) == 1 and "another program" in alerts[0]
    assert "Bot: 409 Conflict since " in cli("status").out
    telegram.bot_api.other_poller = False
    cleared = bot()
    assert cleared.code == 0 and "cleared" in cleared.err
    assert "bot" not in json.loads(cli("status", "--json").out)  # nothing on: as before the bot
    telegram.bot_api.webhook_url = "https://example.com/hook?secret=abc"
    webhook = bot()
    assert webhook.code == ExitCode.CONFIG and "a webhook is set on this bot" in webhook.err
    alerts = [t for t in answered(telegram) if "409 Conflict" in t]
    assert len(alerts) == 2 and "webhook is set" in alerts[1]
    assert "secret=abc" not in webhook.err + alerts[1]


def test_a_newer_poll_ends_an_older_one_with_409(telegram) -> None:
    first = bot_process("--wait", "20")
    deadline = time.monotonic() + 20
    while telegram.bot_api.polls == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    # another program (not ordertrack: no lease) polls the same token
    import requests

    reply = requests.post(f"{telegram.url}/bot{TOKEN}/getUpdates", json={"timeout": 0}, timeout=5)
    assert reply.status_code == 200
    out, err = first.communicate(timeout=30)
    assert first.returncode == ExitCode.CONFIG and "409 Conflict" in err


# ---- /mute ---------------------------------------------------------------------------------------


def test_mute_holds_an_execution_lets_a_rejection_through_then_one_digest(
    bot, cli, broker, telegram, sql
) -> None:
    telegram.say(1001, "/mute 30")
    assert bot().code == 0
    assert answered(telegram)[0].startswith("Muted for 30 minutes, until ")
    place(cli, broker, executed("2611300001", "INFY"), executed("2611300002", "SBIN"),
          rejected("2611300003", "TCS"))  # fmt: skip
    verified = cli("verify")
    assert verified.code == 0
    # the run's own output says the mute holds two, not just "1 sent"
    assert "Muted from the bot until " in verified.out
    assert "2 notifications held, sent as one digest when it ends." in verified.out
    after = answered(telegram)[1:]
    assert [t.split("\n")[0] for t in after] == ["❌ Rejected: BUY TCS"]
    assert sql("SELECT kind, status FROM outbox WHERE kind = 'EXECUTED'") == [
        ("EXECUTED", "HELD"),
        ("EXECUTED", "HELD"),
    ]
    assert bot().code == 0  # still muted: nothing more
    assert len(answered(telegram)) == 2
    held = cli("outbox", "list", "--status", "held")
    assert held.code == 0 and held.out.count("HELD") == 2
    telegram.say(1001, "/status")
    assert bot().code == 0
    assert "🔕 Muted until " in answered(telegram)[2] and ": 2 held" in answered(telegram)[2]
    status = cli("status")  # the terminal says it too
    assert "Bot: muted until " in status.out and ", 2 held" in status.out
    bot_json = json.loads(cli("status", "--json").out)["bot"]
    assert bot_json["held"] == 2 and bot_json["muted_until"] and bot_json["conflict_since"] is None
    sql("UPDATE bot_state SET value = '2000-01-01T00:00:00.000000+00:00' WHERE name = 'mute_until'")
    assert bot().code == 0  # the mute ended: the bot delivers what it held, as one digest
    digest = answered(telegram)[3]
    assert digest.split("\n")[0].startswith("📋 2 order updates")
    assert "INFY" in digest and "SBIN" in digest
    assert len(answered(telegram)) == 4
    assert sql("SELECT count(*) FROM outbox WHERE status = 'HELD'") == [(0,)]


def test_unmute_ends_it_and_says_how_many_were_held(bot, cli, broker, telegram) -> None:
    telegram.say(1001, "/unmute")
    telegram.say(1001, "/mute 60")
    assert bot().code == 0
    place(cli, broker, executed("2611300001", "INFY"))
    assert cli("verify").code == 0
    telegram.say(1001, "/unmute")
    assert bot().code == 0
    texts = answered(telegram)
    assert texts[0] == "Not muted."
    assert texts[2] == "Unmuted. 1 held notification comes now as one digest."
    assert texts[3].split("\n")[0].startswith("📋 1 order update ·")


# ---- set-up problems, JSON, secrets --------------------------------------------------------------


def test_without_a_token_or_chat_it_exits_3(bot, telegram, monkeypatch) -> None:
    monkeypatch.delenv("TELEGRAM_CHAT_ID")
    no_chat = bot()
    assert no_chat.code == ExitCode.CONFIG and "TELEGRAM_CHAT_ID" in no_chat.err
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    no_token = bot()
    assert no_token.code == ExitCode.CONFIG and "TELEGRAM_BOT_TOKEN" in no_token.err


def test_a_revoked_token_exits_3_and_never_shows_it(bot, telegram, db_path) -> None:
    telegram.token = "123456789:another-token"
    result = bot()
    assert result.code == ExitCode.CONFIG and "token invalid" in result.err
    assert_no_token(result.out, result.err, db_path=db_path)


def test_json_counts(cli, telegram) -> None:
    telegram.say(1001, "/help")
    telegram.say(STRANGER, "/help")
    telegram.say(1001, "just chatting")
    result = cli("bot", "--wait", "0", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "updates": 3,
        "answered": 1,
        "ignored": 1,
        "strangers": 1,
        "commands_registered": True,
        "conflict": None,
    }


# ---- schedule and doctor with [bot] enabled ------------------------------------------------------


def test_schedule_runs_the_bot_every_minute_only_when_enabled(
    cli, fake_crontab, env_file, tmp_path
) -> None:
    assert cli("schedule", "install").code == 0
    assert " bot >>" not in fake_crontab.read_text()
    config = tmp_path / "ordertrack.toml"
    config.write_text("[bot]\nenabled = true\n")
    with env_file.open("a") as fh:
        fh.write(f"ORDERTRACK_CONFIG={config}\n")
    assert cli("schedule", "install").code == 0
    (line,) = [x for x in fake_crontab.read_text().splitlines() if " bot >>" in x]
    assert line.startswith("* * * * *  set -a; . ")
    assert "# bot: every minute, around the clock" in fake_crontab.read_text()
    units = cli("schedule", "print", "--systemd")
    assert units.code == 0 and "ordertrack-bot.timer" in units.out
    assert "OnCalendar=*-*-* *:*:00" in units.out
    installed = cli("schedule", "install", "--systemd")
    assert "ordertrack-bot.timer" in installed.out


def test_doctor_checks_no_webhook_and_send_registers_the_commands(cli, telegram, settings) -> None:
    def bot_lines(result) -> list[str]:
        return [line for line in result.out.splitlines() if line.split()[1:2] == ["bot:"]]

    assert bot_lines(cli("doctor")) == []  # the bot is off: no line
    settings("[bot]\nenabled = true\n")
    fine = bot_lines(cli("doctor"))
    assert len(fine) == 1 and "no webhook" in fine[0] and fine[0].startswith("ok")
    telegram.bot_api.webhook_url = "https://example.com/hook"
    (line,) = bot_lines(cli("doctor"))
    assert line.startswith("PROBLEM") and "a webhook is set on this bot" in line
    telegram.bot_api.webhook_url = ""
    sent = bot_lines(cli("doctor", "--send"))
    assert any("commands registered" in x for x in sent)
    assert [c["command"] for c in telegram.bot_api.commands] == [n for n, _ in core.COMMANDS]


# ---- getUpdates over http.client: the same retry rules as every Bot API call -------------------


def test_a_bad_gateway_on_the_poll_is_retried_in_the_run(bot, telegram) -> None:
    from tests.fake_telegram import BAD_GATEWAY

    telegram.say(1001, "/help")
    telegram.bot_api.scripted.extend([BAD_GATEWAY, BAD_GATEWAY])
    result = bot()
    assert result.code == 0, result.err
    assert len(telegram.sleeps) == 2  # two waits of the retry policy, then the poll worked
    assert len(answered(telegram)) == 1


def test_telegram_unreachable_exits_6_and_the_command_waits_there(
    bot, telegram, monkeypatch
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert bot().code == 0  # registered
    monkeypatch.setenv("TELEGRAM_API_URL", closed)
    telegram.say(1001, "/help")
    result = bot()
    assert result.code == ExitCode.UNDELIVERED
    assert "getUpdates failed: network: cannot connect to 127.0.0.1:" in result.err
    monkeypatch.setenv("TELEGRAM_API_URL", telegram.url)
    assert bot().code == 0 and len(answered(telegram)) == 1


def test_a_proxy_setting_sends_the_poll_through_requests(bot, telegram, monkeypatch) -> None:
    from ordertrack import net

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("http.client used although a proxy is set")

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # requests honours it: the fake stays direct
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setattr(net, "_once_stdlib", not_here)
    telegram.say(1001, "/help")
    assert bot().code == 0 and len(answered(telegram)) == 1
    monkeypatch.delenv("HTTPS_PROXY")
    assert bot().code == ExitCode.INTERNAL  # without a proxy the poll does use http.client


def test_the_poll_reply_is_capped(bot, telegram) -> None:
    from tests.fake_telegram import Reply

    huge = {"ok": True, "result": [{"update_id": 1, "padding": "x" * (2 * 1024 * 1024)}]}
    telegram.bot_api.scripted.append(Reply(200, huge))
    result = bot()
    assert result.code == ExitCode.UNDELIVERED and "reply larger than 1 MiB" in result.err


def test_a_report_killed_mid_upload_is_sent_again_once_marked(telegram) -> None:
    assert _rerun().returncode == 0
    telegram.say(1001, "/report")
    stall = telegram.stall("senddocument", "before")
    process = bot_process("--wait", "0")
    stall.wait()
    _kill(process)
    stall.release(drop=True)
    del telegram.stalls[("senddocument", "before")]
    assert _rerun().returncode == 0 and _rerun().returncode == 0
    (document,) = telegram.documents
    assert document["content"].startswith(b"<!DOCTYPE html>")
    assert DUPLICATE_NOTE in document["caption"]  # its first attempt's outcome was unknown


def test_doctor_wants_the_bot_line_when_the_bot_is_enabled(
    cli, fake_crontab, env_file, tmp_path, monkeypatch
) -> None:
    from ordertrack.jobs import schedule
    from tests.fake_host import fake_host

    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "sshd", "cron"))
    assert cli("schedule", "install").code == 0
    config = tmp_path / "ordertrack.toml"
    config.write_text("[bot]\nenabled = true\n")
    with env_file.open("a") as fh:
        fh.write(f"ORDERTRACK_CONFIG={config}\n")
    line = [x for x in cli("doctor", "--offline").out.splitlines() if "schedule:" in x]
    assert "crontab: no line for bot" in line[0]
    assert cli("schedule", "install").code == 0
    line = [x for x in cli("doctor", "--offline").out.splitlines() if "schedule:" in x]
    assert "no line for" not in line[0]
    assert "; next " in line[0] and "; the bot every" in line[0], line[0]  # next: the next job


def test_eod_forgets_delivered_answers_and_keeps_the_claims(bot, telegram, db_path, sql) -> None:
    from datetime import timedelta

    from ordertrack.store import maintenance
    from ordertrack.store.db import open_db
    from ordertrack.timeutil import utcnow

    telegram.say(1001, "/help")
    assert bot().code == 0
    old = "2000-01-01T00:00:00.000000+00:00"
    sql("UPDATE outbox SET created_at = ?, sent_at = ?", old, old)
    sql("UPDATE deliveries SET created_at = ?, sent_at = ?", old, old)
    db = open_db(db_path)
    try:
        gone = maintenance.forget_deliveries(db, utcnow() + timedelta(days=1), 90)
    finally:
        db.close()
    assert gone["outbox"] == 1 and gone["deliveries"] == 1
    assert sql("SELECT count(*) FROM bot_updates") == [(1,)]  # still answered once
    assert gone["bot_updates"] == 0


def test_eod_forgets_claims_telegram_can_no_longer_send(bot, telegram, db_path, sql) -> None:

    from ordertrack.store import maintenance
    from ordertrack.store.db import open_db
    from ordertrack.timeutil import utcnow

    telegram.say(1001, "/help")
    telegram.say(1001, "/status")
    assert bot().code == 0
    assert sql("SELECT count(*) FROM bot_updates") == [(2,)]
    sql(
        "UPDATE bot_updates SET claimed_at = ? WHERE command = 'status'",
        "2000-01-01T00:00:00.000000+00:00",
    )
    db = open_db(db_path)
    try:
        gone = maintenance.forget_deliveries(db, utcnow(), 1)  # kept two days all the same
    finally:
        db.close()
    assert gone["bot_updates"] == 1
    assert sql("SELECT command FROM bot_updates") == [("help",)]


def test_the_poll_trusts_the_certificates_requests_would(monkeypatch) -> None:
    import certifi

    from ordertrack import net

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert net.ca_bundle() == certifi.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/company-ca.pem")
    assert net.ca_bundle() == "/etc/company-ca.pem"


def test_the_poll_over_https_checks_the_certificate(bot, telegram, tmp_path, monkeypatch) -> None:
    """The stdlib path speaks TLS as requests does: a server whose certificate is in the
    trusted bundle is polled; without it the poll fails (exit 6), never goes on unchecked."""
    import shutil
    import ssl
    import subprocess as sp

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    sp.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = telegram._server
    server.socket = context.wrap_socket(server.socket, server_side=True)
    monkeypatch.setenv("TELEGRAM_API_URL", telegram.url.replace("http://", "https://"))
    telegram.say(1001, "/help")
    untrusted = bot()
    assert untrusted.code == ExitCode.UNDELIVERED, untrusted.err
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    trusted = bot()
    assert trusted.code == 0, trusted.err
    assert len(answered(telegram)) == 1


# ---- found trying it as a new user --------------------------------------------------------------


def test_pnl_says_when_open_holdings_have_no_price(bot, cli, broker, telegram) -> None:
    """`ordertrack pnl` qualifies an unrealised total over unpriced holdings; /pnl said a bare
    `unrealised ₹+0.00`, which reads as "flat" on a phone."""
    place(cli, broker, executed("2611300001"))
    assert cli("verify").code == 0
    telegram.say(1001, "/pnl")
    assert bot().code == 0
    total = answered(telegram)[-1].split("\n")[1]
    assert total == (
        "realised ₹+0.00, unrealised ₹+0.00 on 0 of 1 open holdings (the rest: price unknown)"
        " (before charges)"
    )


def test_in_a_group_other_bots_commands_are_left_alone() -> None:
    """A trader's group often holds the engine's own bot too: its `/weather` or `/start` is
    not ours to answer "Unknown command" to; addressed to us, or in a private chat, it is."""
    me = "ordertrack_test_bot"
    assert core.parse("/weather", me, group=True) is None
    assert core.parse("/start", me, group=True) is None
    assert isinstance(core.parse("/weather@ordertrack_test_bot", me, group=True), core.Refusal)
    assert core.parse("/start@ordertrack_test_bot", me, group=True) == core.Ask("help")
    assert core.parse("/status", me, group=True) == core.Ask("status")
    assert core.parse("/help", me, group=True) == core.Ask("help")
    assert isinstance(core.parse("/order", me, group=True), core.Refusal)
    assert isinstance(core.parse("/weather", me), core.Refusal)
    assert core.parse("/start", me) == core.Ask("help")


def test_an_update_says_whether_it_came_from_a_group() -> None:
    def update(chat_id: int, kind: str) -> dict:
        chat = {"id": chat_id, "type": kind}
        return {"update_id": 1, "message": {"message_id": 2, "date": 3, "chat": chat, "text": "/x"}}

    assert core.read_update(update(-1001, "supergroup")).group  # type: ignore[union-attr]
    assert core.read_update(update(-5, "group")).group  # type: ignore[union-attr]
    assert not core.read_update(update(1001, "private")).group  # type: ignore[union-attr]
    key = core.read_update(update(1001, "private")).key  # type: ignore[union-attr]
    assert key == core.read_update(update(1001, "supergroup")).key  # type: ignore[union-attr]


def test_mute_takes_what_a_phone_user_types() -> None:
    """`/mute 30m` and `/mute 1h` were refused: a trader types units; a bare number is minutes."""
    for said, minutes in (("/mute 30", "30"), ("/mute 30m", "30"), ("/mute 30 min", "30"),
                          ("/mute 45 minutes", "45"), ("/mute 2h", "120"), ("/mute 1 hour", "60"),
                          ("/mute 24h", "1440"), ("/MUTE 5M", "5")):  # fmt: skip
        assert core.parse(said) == core.Ask("mute", minutes), said
    for bad in ("/mute", "/mute 0", "/mute 0h", "/mute 25h", "/mute 1441", "/mute -5",
                "/mute ten", "/mute 30s", "/mute 1.5h", "/mute 30 m please", "/mute 99999999"):  # fmt: skip
        refused = core.parse(bad)
        assert isinstance(refused, core.Refusal), bad
        assert refused.text == "Usage: /mute MINUTES (1 to 1440), or /mute 2h."


def test_in_a_group_other_bots_commands_are_left_to_them(bot, telegram, monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,-100200300")
    telegram.say(-100200300, "/weather")  # another bot's command, not addressed to anyone
    telegram.say(-100200300, "/start")
    telegram.say(-100200300, "/status")
    telegram.say(1001, "/weather")  # in a private chat it can only be for us
    assert bot().code == 0
    in_group = answered(telegram, "-100200300")
    assert len(in_group) == 1 and "Unknown command" not in in_group[0]
    assert len(answered(telegram, "1001")) == 1


def test_doctor_names_another_poller_the_last_run_met(bot, cli, telegram, settings) -> None:
    settings("[bot]\nenabled = true\n")
    telegram.bot_api.other_poller = True
    assert bot().code == ExitCode.CONFIG
    line = next(x for x in cli("doctor").out.splitlines() if " bot: " in x)
    assert line.startswith("PROBLEM") and "409 Conflict (since " in line
    assert "another program polls this token" in line
    telegram.bot_api.other_poller = False
    assert bot().code == 0  # the episode clears
    line = next(x for x in cli("doctor").out.splitlines() if " bot: " in x)
    assert line.startswith("ok") and "no webhook" in line


def test_the_report_caption_names_the_day_in_words(bot, telegram) -> None:
    telegram.say(1001, "/report")
    assert bot().code == 0
    (document,) = telegram.documents
    assert re.match(
        r"📊 Report \w{3} \d\d \w{3} 20\d\d so far \(\d\d:\d\d IST\)", document["caption"]
    )


def test_status_counts_notifications_waiting_not_the_bots_own_answers(bot, telegram) -> None:
    telegram.say(1001, "/help")
    telegram.say(1001, "/status")  # answered while /help's answer still waits in the outbox
    assert bot().code == 0
    status = next(t for t in answered(telegram) if t.startswith("ordertrack status"))
    assert "outbox waiting 0," in status, status
