"""The Bot API client: classifying every reply, and talking to a real (local) server."""

import logging
import socket

import pytest

from ordertrack.errors import ConfigError
from ordertrack.notify.telegram import Bot, Scope, SendOutcome, api_chat_id, classify, explain
from tests import fake_telegram as fake
from tests.fake_telegram import TOKEN


def body(reply: fake.Reply) -> object:
    return reply.body


@pytest.mark.parametrize(
    "status, reply, outcome, scope",
    [
        (200, {"ok": True, "result": {"message_id": 5}}, SendOutcome.SENT, Scope.MESSAGE),
        (429, body(fake.flood(17)), SendOutcome.TRANSIENT, Scope.CHAT),
        (400, body(fake.migrate("-1001234567890")), SendOutcome.MIGRATE, Scope.CHAT),
        (502, None, SendOutcome.TRANSIENT, Scope.BOT),
        (500, body(fake.SERVER_ERROR), SendOutcome.TRANSIENT, Scope.BOT),
        (400, body(fake.CANT_PARSE), SendOutcome.PARSE_ERROR, Scope.MESSAGE),
        (400, body(fake.CHAT_NOT_FOUND), SendOutcome.PERMANENT, Scope.CHAT),
        (403, body(fake.BLOCKED), SendOutcome.PERMANENT, Scope.CHAT),
        (403, body(fake.NOT_STARTED), SendOutcome.PERMANENT, Scope.CHAT),
        (403, body(fake.NOT_MEMBER), SendOutcome.PERMANENT, Scope.CHAT),
        (401, body(fake.UNAUTHORIZED), SendOutcome.PERMANENT, Scope.BOT),
        (404, None, SendOutcome.PERMANENT, Scope.BOT),
        (
            400,
            {"ok": False, "description": "Bad Request: message is too long"},
            SendOutcome.PERMANENT,
            Scope.MESSAGE,
        ),
        (200, None, SendOutcome.UNKNOWN, Scope.BOT),  # a 200 we cannot read: maybe delivered
        (200, ["not", "an", "object"], SendOutcome.UNKNOWN, Scope.BOT),
    ],
)
def test_classify(status, reply, outcome, scope):
    answer = classify(status, reply, "<html><title>502 Bad Gateway</title></html>")
    assert (answer.outcome, answer.scope) == (outcome, scope)


def test_parameters_come_before_the_status():
    answer = classify(400, {"ok": False, "description": "odd", "parameters": {"retry_after": 3}})
    assert answer.outcome is SendOutcome.TRANSIENT and answer.retry_after == 3
    assert classify(400, body(fake.migrate("-100777"))).migrate_to == "-100777"


def test_odd_values_are_not_trusted():
    flood = {"ok": False, "error_code": 429, "parameters": {"retry_after": True}}
    assert classify(429, flood).retry_after is None
    sent = classify(200, {"ok": True, "result": {"message_id": "12"}})
    assert sent.outcome is SendOutcome.SENT and sent.message_id is None
    assert classify(200, {"ok": True, "result": {"message_id": 0}}).message_id == 0  # scheduled


def test_non_json_body_is_described_by_its_title():
    answer = classify(502, None, body(fake.BAD_GATEWAY))
    assert "502 Bad Gateway" in answer.description and "<" not in answer.description


@pytest.mark.parametrize(
    "reply, status, words, config",
    [
        (fake.UNAUTHORIZED, 401, "token invalid", True),
        (fake.CHAT_NOT_FOUND, 400, "chat not found", True),
        (fake.NOT_STARTED, 403, "press Start", True),
        (fake.BLOCKED, 403, "unblock", True),
        (fake.NOT_MEMBER, 403, "add the bot to the group", True),
        (fake.flood(9), 429, "rate limited by Telegram for 9 s", False),
        (fake.SERVER_ERROR, 500, "server error (HTTP 500)", False),
    ],
)
def test_explain_names_cause_and_fix(reply, status, words, config):
    diagnosis = explain(classify(status, reply.body))
    assert words in diagnosis.line() and diagnosis.config is config


def test_chat_ids_keep_their_type():
    assert api_chat_id("-1001234567890123") == -1001234567890123  # beyond 32 bits
    assert api_chat_id("@my_channel") == "@my_channel"


def bot(telegram, read_timeout=None, token=TOKEN):
    return Bot(token, telegram.url, read_timeout=read_timeout)


def test_send_posts_json_and_returns_the_message_id(telegram):
    answer = bot(telegram).send_message("1001", "<b>M&amp;M</b> & more", html=False, silent=True)
    assert answer.outcome is SendOutcome.SENT and answer.message_id == 101
    [sent] = telegram.sends()
    assert sent == {
        "chat_id": 1001,
        "text": "<b>M&amp;M</b> & more",
        "disable_notification": True,
        "link_preview_options": {"is_disabled": True},
    }
    assert telegram.texts() == ["<b>M&amp;M</b> & more"]  # plain text arrives as written


def test_transient_errors_are_retried_in_the_run_then_returned(telegram):
    telegram.script(fake.BAD_GATEWAY, fake.OK)
    assert bot(telegram).send_message("1001", "hi").outcome is SendOutcome.SENT
    telegram.script(*[fake.BAD_GATEWAY] * 3)
    answer = bot(telegram).send_message("1001", "hi")
    assert (answer.outcome, answer.status) == (SendOutcome.TRANSIENT, 502)
    assert len(telegram.sends()) == 5 and len(telegram.texts()) == 1


def test_retry_after_is_honoured_in_the_run(telegram):
    telegram.script(fake.flood(3), fake.OK)
    assert bot(telegram).send_message("1001", "hi").outcome is SendOutcome.SENT
    assert telegram.sleeps == [3.0]


def test_a_read_timeout_is_not_repeated_blindly(telegram):
    telegram.script(fake.slow(0.6))
    answer = bot(telegram, read_timeout=0.2).send_message("1001", "hi")
    assert answer.outcome is SendOutcome.UNKNOWN and answer.status is None
    assert len(telegram.sends()) == 1 and telegram.texts() == ["hi"]  # it did arrive


def test_malformed_json_is_an_unknown_outcome(telegram):
    telegram.script(fake.MALFORMED)
    assert bot(telegram).send_message("1001", "hi").outcome is SendOutcome.UNKNOWN


def test_a_reply_past_1_mib_is_not_read_whole_and_the_outcome_is_unknown(telegram):
    """#23 row 6: Telegram's answers are a few hundred bytes; 2 MiB is not read on."""
    padded = '{"ok": true, "result": {"message_id": 9, "text": "' + "x" * (2 << 20) + '"}}'
    telegram.script(fake.Reply(200, padded, accept=True))
    answer = bot(telegram).send_message("1001", "hi")
    assert answer.outcome is SendOutcome.UNKNOWN
    assert answer.description.startswith("reply larger than 1 MiB from 127.0.0.1:")
    assert len(telegram.sends()) == 1  # not repeated blindly


def test_nothing_listening_is_a_network_failure(telegram):  # (its retry waits are not slept)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer = Bot(TOKEN, f"http://127.0.0.1:{port}").get_me()
    assert (answer.outcome, answer.status) == (SendOutcome.TRANSIENT, None)
    assert explain(answer).cause.startswith("network: cannot connect to 127.0.0.1")


def test_get_me_and_token_errors(telegram):
    assert bot(telegram).get_me().result["username"] == "ordertrack_test_bot"
    assert bot(telegram, token="123:wrong").get_me().status == 401
    assert bot(telegram, token="not-a-token").get_me().status == 404


def test_the_token_never_reaches_an_answer(telegram):
    telegram.script(fake.NOT_FOUND_ECHO)
    answer = bot(telegram).send_message("1001", "hi")
    assert "Cannot POST /bot<TELEGRAM_BOT_TOKEN>/sendMessage" in answer.description
    fake.assert_no_token(answer.description, repr(bot(telegram)))


@pytest.fixture
def urllib3_level():
    logger = logging.getLogger("urllib3")
    level = logger.level
    yield logger
    logger.setLevel(level)


def test_urllib3_debug_lines_with_the_token_are_kept_out_of_logs(telegram, caplog, urllib3_level):
    caplog.set_level(logging.DEBUG)
    bot(telegram).send_message("1001", "hi")
    fake.assert_no_token(caplog.text)
    client = bot(telegram)
    urllib3_level.setLevel(logging.DEBUG)  # without the guard, the request line leaks the token
    client.send_message("1001", "hi")
    assert TOKEN.split(":")[1] in caplog.text


def test_api_url_must_be_http():
    with pytest.raises(ConfigError, match="TELEGRAM_API_URL 'api.telegram.org' is not"):
        Bot(TOKEN, "api.telegram.org")


@pytest.mark.parametrize("asked", [-1, -0.5, float("nan")])
def test_a_negative_retry_after_is_no_pause(asked):
    answer = classify(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": asked},
        },
    )
    assert answer.retry_after is None and answer.outcome.value == "transient"


def test_an_endless_retry_after_is_a_day_at_most():
    answer = classify(429, {"ok": False, "parameters": {"retry_after": 10**400}})
    assert answer.retry_after == 86400


def test_the_pace_counts_from_the_start_of_the_last_send(telegram):
    """One send a second per chat, counted from the start of the last: a call that takes
    0.3 s leaves 0.7 s to wait, not a full second more (which made the pace 1.3 s a message
    and held listen's alerts back; scripts/bench_latency.py)."""
    import time

    telegram.on_send = lambda body: time.sleep(0.3)
    client = bot(telegram)
    assert client.send_message("1001", "one").outcome is SendOutcome.SENT
    assert client.send_message("1001", "two").outcome is SendOutcome.SENT
    (gap,) = telegram.sleeps
    assert 0.5 < gap < 0.75, gap
    assert client.send_message("1002", "another chat").outcome is SendOutcome.SENT
    assert len(telegram.sleeps) == 1  # the pace is per chat
