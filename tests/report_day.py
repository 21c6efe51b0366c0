"""A trading day worth reporting, built through the real commands: an execution, two
rejections with a hostile reason, a partial fill, a missed and a broker-failed verify slot."""

from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from freezegun import freeze_time

from ordertrack.timeutil import IST
from tests.helpers import SESSION_EXPIRED, kotak_row

DAY = "2026-12-01"  # a Tuesday
HOSTILE = (
    '<script>alert("x")</script><img src="https://evil.example/x.png"> &amp; R&D <b>margin</b>'
)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def add(cli: Any, order_id: str, symbol: str, qty: int) -> None:
    result = cli("pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", str(qty))
    assert result.code == 0, result.err


def build(cli: Any, broker: Any) -> dict[str, Any]:
    """Runs the day; returns eod --json's output."""
    import json

    with freeze_time(ist(2026, 12, 1, 9, 20)) as clock:
        add(cli, "1", "INFY", 10)
        add(cli, "2", "TCS", 5)
        add(cli, "3", "ITC", 3)
        add(cli, "4", "WIPRO", 20)
        broker.orders(
            kotak_row("1", "complete", symbol="INFY", qty=10, filled=10, avg="1500.00"),
            kotak_row("2", "rejected", symbol="TCS", qty=5, reason=HOSTILE),
            kotak_row("3", "rejected", symbol="ITC", qty=3, reason=HOSTILE),
            kotak_row("4", "open", symbol="WIPRO", qty=20, filled=5, avg="400.00"),
        )
        clock.move_to(ist(2026, 12, 1, 9, 30))
        assert cli("verify").code == 0
        clock.move_to(ist(2026, 12, 1, 10, 0))
        good = (broker.folder / "orders.json").read_text()
        broker.write("orders.json", SESSION_EXPIRED)
        assert cli("verify").code == 4
        broker.write("orders.json", good)
        clock.move_to(ist(2026, 12, 1, 18, 0))
        result = cli("eod", "--json")
        assert result.code == 0, result.err
    return json.loads(result.out)


class Page(HTMLParser):
    """What a reader of the page gets: tags, attributes, visible text, tile numbers."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self.tiles: dict[str, str] = {}
        self._open: list[str] = []
        self._tile: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag not in ("meta", "rect", "br", "img", "polyline", "i"):
            self._open.append(tag)
        if found.get("data-key"):
            self._tile = found["data-key"]
            self.tiles[self._tile] = found.get("data-value") or ""

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        where = self._open[-1] if self._open else ""
        if where == "h2":
            self.headings.append(data.strip())
        if where == "b" and self._tile and not self.tiles[self._tile]:
            self.tiles[self._tile] = data.strip()
            self._tile = None
