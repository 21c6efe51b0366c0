"""`ordertrack bot` (issue 27): Telegram commands answered by a cron-run bot, against the
loopback Bot API (tests/fake_telegram.py) with getUpdates' real offset semantics."""

import json
from pathlib import Path

import pytest

from tests.fake_telegram import FakeTelegram

STRANGER = "-1009999"


@pytest.fixture
def bot(cli, telegram: FakeTelegram):
    """Run `ordertrack bot --wait 0` in-process and return the result."""

    def run(*args: str):
        return cli("bot", "--wait", "0", *args)

    return run


def test_status_is_answered_in_the_asking_chat(bot, telegram: FakeTelegram, cli) -> None:
    assert cli("pending", "add", "2611300001", "--symbol", "INFY", "--side", "buy", "--qty", "5").code == 0
    telegram.say(1001, "/status")
    result = bot()
    assert result.code == 0, result.err
    assert telegram.texts("1001")[0].startswith("ordertrack status")
    assert "pending 1" in telegram.texts("1001")[0]
