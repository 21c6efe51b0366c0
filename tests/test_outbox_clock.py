"""A clock set back never strands a notification (issue 12, item 7): no next attempt and no
chat pause is ever further ahead than the longest backoff from now."""

from datetime import datetime, timedelta

from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.notify.policy import MAX_BACKOFF, backoff
from ordertrack.timeutil import IST
from tests import fake_telegram as fake
from tests.helpers import kotak_row

AHEAD = datetime(2027, 11, 23, 10, 0, tzinfo=IST)  # the clock a year ahead
RIGHT = datetime(2026, 11, 23, 10, 0, tzinfo=IST)  # and set right again


def a_failed_attempt_while_ahead(cli, broker, telegram, *replies):
    with freeze_time(AHEAD):
        assert (
            cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
        )
        broker.orders(kotak_row("1", "complete", qty=1, filled=1))
        telegram.script(*replies)
        assert cli("verify").code == ExitCode.UNDELIVERED
        telegram.queue.clear()


def test_a_retry_scheduled_while_the_clock_was_ahead_is_due_within_the_longest_backoff(
    cli, broker, telegram, sql
):
    a_failed_attempt_while_ahead(cli, broker, telegram, *[fake.SERVER_ERROR] * 10)
    with freeze_time(RIGHT):
        assert cli("outbox", "flush").code == 0
    assert len(telegram.texts()) == 1


def test_a_retry_within_the_longest_backoff_still_waits(cli, broker, telegram, sql):
    a_failed_attempt_while_ahead(cli, broker, telegram, *[fake.SERVER_ERROR] * 10)
    with freeze_time(AHEAD + timedelta(seconds=10)):
        assert cli("outbox", "flush").code == ExitCode.UNDELIVERED  # backoff honoured
    assert telegram.texts() == []


def test_retry_failed_is_not_held_back_by_a_chat_paused_into_the_future(cli, broker, telegram, sql):
    a_failed_attempt_while_ahead(cli, broker, telegram, fake.flood(86400 * 30))
    with freeze_time(RIGHT):
        result = cli("outbox", "flush", "--retry-failed")
    assert result.code == 0, result.err
    assert len(telegram.texts()) == 1


def test_telegrams_retry_after_is_capped_at_the_longest_backoff():
    assert backoff(1, retry_after=86400 * 365) == MAX_BACKOFF
    assert backoff(30) == MAX_BACKOFF
