"""Issue 12: what an outside attack run broke, end to end through the real CLI and the loopback
fakes — bad input that ended as "internal error", Ctrl-C, the lock after PID reuse, control
characters from the broker, and secrets in URLs."""

from freezegun import freeze_time

from tests import fake_telegram as tg
from tests.fake_kotak import kotak, ist  # noqa: F401 (fixture)
from tests.fake_telegram import telegram  # noqa: F401 (fixture)
from tests.helpers import kotak_row

NOW = ist("2026-11-25 10:00")  # a Wednesday, in session


def no_traceback(result, code: int, says: str) -> None:
    assert result.code == code, result.err
    assert result.err.startswith("ordertrack: ") and result.err.count("\n") == 1, result.err
    assert says in result.err, result.err
    assert "Traceback" not in result.out + result.err


# ---- item 8: bad input ----------------------------------------------------------------------


def test_a_non_ascii_consumer_key_is_a_config_error(cli, kotak, monkeypatch):
    monkeypatch.setenv("KOTAK_CONSUMER_KEY", "ck-SECRET-5f0c1a9e7d\u00e9")
    with freeze_time(NOW):
        result = cli("broker", "check")
    no_traceback(result, 3, "KOTAK_CONSUMER_KEY must be printable ASCII")
    assert "5f0c1a9e7d" not in result.err and kotak.requests == []


def test_a_negative_retry_after_from_telegram_is_no_pause(cli, broker, telegram, sql):
    with freeze_time(NOW):
        assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy",
                   "--qty", "1").code == 0
        broker.orders(kotak_row("1", "complete", qty=1, filled=1, avg="10.00"))
        telegram.chats["1001"] = tg.flood(-1)
        result = cli("verify")
    no_traceback(result, 6, "rate limited by Telegram")
    assert "-1" not in result.err and all(s >= 0 for s in telegram.sleeps), telegram.sleeps
    assert sql("SELECT paused_until FROM telegram_chats") in ([], [(None,)])
