"""`ordertrack notify-test`: prove the Telegram set-up, or name what is wrong and how to fix it."""

import socket

import pytest

from ordertrack.errors import ExitCode
from tests import fake_telegram as fake
from tests.fake_telegram import TOKEN


def test_a_working_set_up_gets_a_real_test_message_in_every_chat(cli, telegram, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001, -1002002")
    result = cli("notify-test")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        "Bot: token accepted: @ordertrack_test_bot",
        "Chat 1001: test message delivered (message 101)",
        "Chat -1002002: test message delivered (message 102)",
    ]
    for chat in ("1001", "-1002002"):
        [text] = telegram.texts(chat)
        assert "must read exactly: M&M · BAJAJ_AUTO · a<b>c · 2*3 · ₹1,23,456.70" in text


def closed_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    "setup, code, line",
    [
        (
            {"TELEGRAM_BOT_TOKEN": None},
            ExitCode.CONFIG,
            "TELEGRAM_BOT_TOKEN is not set — create a bot with @BotFather",
        ),
        ({"TELEGRAM_CHAT_ID": None}, ExitCode.CONFIG, "TELEGRAM_CHAT_ID is not set"),
        (
            {"TELEGRAM_BOT_TOKEN": "123456789:revoked"},
            ExitCode.CONFIG,
            "bot: token invalid: Telegram answered 401 Unauthorized (wrong or revoked token) — copy "
            "the token again from @BotFather",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": "only-half-a-token"},
            ExitCode.CONFIG,
            "bot: token invalid: Telegram answered 404 Not Found",
        ),
        (
            {"TELEGRAM_API_URL": "unreachable"},
            ExitCode.UNDELIVERED,
            "bot: network: cannot connect to 127.0.0.1",
        ),
        (
            {"TELEGRAM_API_URL": "ftp://example.org"},
            ExitCode.CONFIG,
            "TELEGRAM_API_URL 'ftp://example.org' is not an http(s) URL",
        ),
        ({"me": fake.BAD_GATEWAY}, ExitCode.UNDELIVERED, "bot: Telegram server error (HTTP 502)"),
        ({"me": fake.MALFORMED}, ExitCode.UNDELIVERED, "bot: reply not understood"),
        (
            {"chat": fake.CHAT_NOT_FOUND},
            ExitCode.CONFIG,
            "chat 1001: chat not found — check TELEGRAM_CHAT_ID",
        ),
        (
            {"chat": fake.NOT_STARTED},
            ExitCode.CONFIG,
            "chat 1001: bot not started by the user — open the bot in Telegram and press Start",
        ),
        (
            {"chat": fake.BLOCKED},
            ExitCode.CONFIG,
            "chat 1001: bot blocked by the user — unblock the bot in Telegram",
        ),
        (
            {"chat": fake.NOT_MEMBER},
            ExitCode.CONFIG,
            "chat 1001: bot not in the group — add the bot to the group",
        ),
        (
            {"chat": fake.flood(30)},
            ExitCode.UNDELIVERED,
            "chat 1001: rate limited by Telegram for 30 s",
        ),
        (
            {"chat": fake.slow(0.5)},
            ExitCode.UNDELIVERED,
            "chat 1001: network: no reply in time from 127.0.0.1",
        ),
    ],
)
def test_each_failure_is_one_line_naming_cause_and_fix(
    cli, telegram, monkeypatch, tmp_path, setup, code, line
):
    config = tmp_path / "t.toml"
    config.write_text("[notify]\ntimeout_seconds = 0.2\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    for name, value in setup.items():
        if name == "me":
            telegram.me = value
        elif name == "chat":
            telegram.chats["1001"] = value
        elif value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, closed_url() if value == "unreachable" else value)
    result = cli("notify-test")
    assert result.code == code
    assert result.err.startswith(f"ordertrack: {line}"), result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    fake.assert_no_token(result.out, result.err)


def test_each_chat_is_checked_on_its_own(cli, telegram, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001,2002,-3003")
    telegram.chats["2002"] = fake.BLOCKED
    telegram.chats["-3003"] = fake.SERVER_ERROR
    result = cli("notify-test")
    assert result.code == ExitCode.CONFIG  # a set-up problem outranks a passing outage
    assert "Chat 1001: test message delivered" in result.out
    assert result.err.splitlines() == [
        "ordertrack: chat 2002: bot blocked by the user — unblock the bot in Telegram: open its "
        "chat and press Restart",
        "ordertrack: chat -3003: Telegram server error (HTTP 500) — usually brief: retried on a "
        "later run",
    ]


def test_a_migrated_group_gets_the_message_and_the_new_id(cli, telegram, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-3003")
    telegram.chats["-3003"] = fake.migrate("-1003003")
    result = cli("notify-test")
    assert result.code == 0
    assert (
        "Chat -3003: test message delivered (message 101); the group became supergroup "
        "-1003003: set TELEGRAM_CHAT_ID to -1003003"
    ) in result.out
    assert len(telegram.texts("-1003003")) == 1


def test_formatting_refused_falls_back_to_plain_text(cli, telegram):
    telegram.script(fake.CANT_PARSE)
    assert cli("notify-test").code == 0
    assert telegram.messages[0]["parse_mode"] is None


def test_token_comes_only_from_the_environment(cli, telegram):
    result = cli("notify-test", "--token", TOKEN)
    assert result.code == ExitCode.USAGE
    fake.assert_no_token(result.out, result.err)
