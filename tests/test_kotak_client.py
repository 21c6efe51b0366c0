"""The client's calls that no command test reaches directly: order history and the trade book."""

import json
import os
from urllib.parse import parse_qs

import pytest

from ordertrack.broker.base import Broker, make_broker
from ordertrack.broker.kotak.client import KotakClient
from ordertrack.config import load
from ordertrack.core.book import Outcome
from ordertrack.store.db import open_db
from tests.fake_kotak import HISTORY, TRADES, FakeKotak, Scripted
from tests.helpers import kotak_row


@pytest.fixture
def client(kotak: FakeKotak, db_path) -> KotakClient:
    broker: Broker = make_broker(load(os.environ), open_db(db_path))
    assert isinstance(broker, KotakClient)
    return broker


def test_order_history_posts_the_order_number_and_returns_the_current_state(client, kotak):
    kotak.histories["250122000624384"] = [
        kotak_row("250122000624384", "complete", qty=1, filled=1, avg="9.39"),
        kotak_row("250122000624384", "open pending", qty=1),
    ]
    fetch = client.order_history("250122000624384")
    assert fetch.outcome is Outcome.OK
    assert [(row.status_text, row.filled_qty) for row in fetch.items] == [("complete", 1)]
    sent = [r for r in kotak.requests if r.path == HISTORY][0]
    assert sent.method == "POST"
    assert json.loads(parse_qs(sent.body)["jData"][0]) == {"nOrdNo": "250122000624384"}


def test_an_unknown_order_has_no_history(client):
    assert client.order_history("999").outcome is Outcome.EMPTY


def test_a_failed_history_lookup_is_failed_not_empty(client, kotak):
    kotak.script(HISTORY, Scripted(200, {"stat": "Not_Ok", "stCode": 1005, "errMsg": "oops"}))
    fetch = client.order_history("250122000624384")
    assert fetch.outcome is Outcome.FAILED and "oops, code 1005" in (fetch.error or "")


def test_trades_returns_the_fills(client, kotak):
    fetch = client.trades()
    assert fetch.outcome is Outcome.OK
    assert fetch.items[0]["flId"] == "1"
    assert TRADES in kotak.paths()


def test_one_client_logs_in_once_for_every_call(client, kotak):
    for call in (client.order_book, client.holdings, client.positions, client.trades):
        assert call().usable
    assert kotak.logins == 1
