"""`outbox list|flush` and `status`: every chat's delivery, visible; the [notify] settings."""

import json

import pytest

from ordertrack.errors import ExitCode
from tests import fake_telegram as fake
from tests.helpers import kotak_row


def event(cli, broker, order_id="1", symbol="INFY"):
    assert (
        cli("pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", "1").code == 0
    )
    broker.orders(kotak_row(order_id, "complete", symbol=symbol, qty=1, filled=1, avg="10.00"))


@pytest.fixture
def half_delivered(cli, broker, telegram, monkeypatch):
    """One event: chat 1001 has it, chat 2002 blocked the bot."""
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,2002")
    telegram.chats["2002"] = fake.BLOCKED
    event(cli, broker)
    assert cli("verify").code == ExitCode.UNDELIVERED
    return telegram


def test_list_shows_each_chats_delivery_and_last_error(cli, half_delivered):
    table = cli("outbox", "list", "--status", "failed")
    assert table.code == 0
    assert "1001: SENT (message 101)" in table.out
    assert "2002: FAILED (1 attempt) — bot blocked by" in table.out  # (the table wraps)
    [row] = json.loads(cli("outbox", "list", "--json").out)
    assert row["status"] == "FAILED" and row["text"].startswith("Executed: BUY INFY 1/1")
    sent, failed = row["deliveries"]
    assert (sent["chat_id"], sent["status"], sent["message_id"], sent["last_error"]) == (
        "1001",
        "SENT",
        "101",
        None,
    )
    assert sent["sent_at"].endswith("+05:30")
    assert (failed["chat_id"], failed["status"]) == ("2002", "FAILED")
    assert failed["last_error"].startswith("bot blocked by the user — unblock the bot")
    assert failed["last_error"].endswith("[Telegram 403: Forbidden: bot was blocked by the user]")


def test_status_reports_failed_deliveries_per_chat(cli, half_delivered):
    out = cli("status").out
    assert "notifications: telegram (2 chats)" in out
    assert "outbox waiting: 0, failed: 1" in out
    assert "Telegram chat 2002: sent 0, waiting 0, failed 1; last error: bot blocked" in out
    data = json.loads(cli("status", "--json").out)
    assert data["outbox"]["FAILED"] == 1
    assert [(c["chat_id"], c["sent"], c["failed"]) for c in data["telegram_chats"]] == [
        ("1001", 1, 0),
        ("2002", 0, 1),
    ]


def test_flush_retry_failed_resends_only_to_the_chat_that_failed(cli, half_delivered):
    del half_delivered.chats["2002"]  # the user unblocked the bot
    result = cli("outbox", "flush", "--retry-failed")
    assert result.code == 0
    assert result.out.splitlines() == [
        "Re-queued 1 failed delivery.",
        "Telegram: 1 sent, 0 waiting, 0 failed.",
    ]
    assert [m["chat_id"] for m in half_delivered.messages] == ["1001", "2002"]
    assert json.loads(cli("outbox", "list", "--json").out)[0]["status"] == "SENT"


def test_flush_with_nothing_to_do(cli, telegram):
    result = cli("outbox", "flush")
    assert (result.code, result.out) == (0, "Telegram: 0 sent, 0 waiting, 0 failed.\n")


def test_unknown_status_filter_is_a_usage_error(cli):
    result = cli("outbox", "list", "--status", "LOST")
    assert result.code == ExitCode.USAGE
    assert result.err == (
        "ordertrack: --status must be one of PENDING, SENT, FAILED, DIGESTED, OFF, HELD\n"
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ("executed = 'loud'", "notify.executed must be one of on, silent, off"),
        ("timeout_seconds = 0", "notify.timeout_seconds must be a number above 0"),
        ("timeout_seconds = '30'", "notify.timeout_seconds must be a number above 0"),
        ("digest_after = -1", "notify.digest_after must be a whole number, 0 or more"),
        ("rejection = 'off'", "unknown setting notify.rejection"),
    ],
)
def test_bad_notify_settings_are_exit_3(cli, tmp_path, body, message):
    config = tmp_path / "c.toml"
    config.write_text(f"[notify]\n{body}\n")
    result = cli("--config", str(config), "outbox", "flush")
    assert result.code == ExitCode.CONFIG and message in result.err


def test_notify_settings_are_read(tmp_path):
    from ordertrack import config

    path = tmp_path / "c.toml"
    path.write_text(
        "[notify]\nexecuted = 'silent'\nalerts = 'off'\ndigest_after = 0\ntimeout_seconds = 12\n"
    )
    settings = config.load({}, tmp_path / "x.db", path)
    assert settings.notify_levels["executed"] == "silent"
    assert settings.notify_levels["alerts"] == "off" and settings.notify_levels["rejected"] == "on"
    assert (settings.notify_digest_after, settings.telegram_timeout) == (0, 12.0)
