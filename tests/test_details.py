"""Details a user looks for: an open order's road to expiry; the newest notifications first."""

import json

from tests.helpers import kotak_row


def add(cli, order_id: str, symbol: str = "INFY") -> None:
    assert (
        cli("pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", "1").code == 0
    )


def test_pending_show_counts_missed_fetches_and_says_when_expiry_may_come(cli, broker) -> None:
    add(cli, "1")
    broker.orders(kotak_row("2", "open"))  # a successful fetch without order 1
    assert cli("verify").code == 0
    data = json.loads(cli("pending", "show", "1", "--json").out)
    expiry = data["expiry"]
    assert (expiry["missed_fetches"], expiry["fetches_needed"]) == (1, 3)
    assert expiry["missing_since"].endswith("+05:30")
    assert expiry["eligible_from"].endswith("+05:30")
    shown = " ".join(cli("pending", "show", "1").out.split())
    assert "Missed by 1 of the 3 successful fetches that expiry needs (since " in shown
    assert "eligible for expiry from " in shown


def test_a_finished_order_has_no_expiry(cli, broker) -> None:
    add(cli, "1")
    broker.orders(kotak_row("1", "complete", qty=1, filled=1, avg="10.00"))
    assert cli("verify").code == 0
    assert json.loads(cli("pending", "show", "1", "--json").out)["expiry"] is None
    assert "eligible for expiry" not in cli("pending", "show", "1").out


def test_outbox_list_shows_the_newest_first(cli, broker) -> None:
    for order_id, symbol in (("1", "INFY"), ("2", "TCS")):
        add(cli, order_id, symbol)
        broker.orders(kotak_row(order_id, "complete", symbol=symbol, qty=1, filled=1, avg="10.00"))
        cli("verify")
    newest = [r["text"].split(" (")[0] for r in json.loads(cli("outbox", "list", "--json").out)]
    assert newest == ["Executed: BUY TCS 1/1", "Executed: BUY INFY 1/1"]
    oldest = json.loads(cli("outbox", "list", "--oldest", "--json").out)
    assert [r["id"] for r in oldest] == sorted(r["id"] for r in oldest)
    [latest] = json.loads(cli("outbox", "list", "--limit", "1", "--json").out)
    assert "TCS" in latest["text"]
