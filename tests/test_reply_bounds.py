"""Bounded replies end to end (#23 item 4, row 6): a webhook answering 200 with a 300 MB body or
with a 300 KB gzip body that inflates to 300 MB is delivered, its body read no further than the
cap; ordertrack's peak memory stays far below the body. And the file broker's reads are capped
as a broker's HTTP reply is."""

import os
import sys

import pytest

from ordertrack.errors import ExitCode
from tests import webhook_receiver
from tests.helpers import kotak_row
from tests.peak import peak_mib
from tests.webhook_receiver import Receiver

SECRET = "whsec-bounds-7d1e0c"
MiB = 1024 * 1024


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    found = Receiver(SECRET).start()
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = 20\n"
        f'[[webhook]]\nurl = "{found.url}"\nsecret_env = "BOUNDS_SECRET"\n'
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("BOUNDS_SECRET", SECRET)
    yield found
    found.stop()


@pytest.mark.parametrize("answer", ["huge", "bomb"])
def test_a_huge_2xx_webhook_reply_counts_and_is_not_read_whole(cli, broker, receiver, sql, answer):
    webhook_receiver.bomb(webhook_receiver.HUGE)  # 300 MB inflated; built now, not mid-send
    assert cli("outbox", "flush").code == 0  # the webhook sees the feed from here on
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5").code == 0
    receiver.script = [answer]
    code, peak = peak_mib([sys.executable, "-m", "ordertrack", "outbox", "flush"], dict(os.environ))
    assert code == 0
    assert sql("SELECT status, last_error FROM webhook_deliveries") == [("SENT", None)]
    assert [g["answer"] for g in receiver.got] == [answer]
    assert peak < 100, f"peak {peak:.0f} MiB"


def test_a_file_broker_reply_past_64_mib_is_refused_unread(cli, broker, sql):
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5").code == 0
    broker.orders(kotak_row("1", "complete", filled=5, avg="10.00"))
    with open(broker.folder / "orders.json", "r+b") as book:  # sparse: no disk used
        book.seek(64 * MiB)
        book.write(b" ")
    before = sql("SELECT status, filled_qty FROM orders")
    result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert result.err.strip().endswith("orders.json is larger than 64 MiB"), result.err
    assert sql("SELECT status, filled_qty FROM orders") == before
