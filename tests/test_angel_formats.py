"""The file broker reads Angel One's and Fyers' reply shapes (ORDERTRACK_BROKER_FORMAT=angel,
fyers): the samples in docs/angel.md and docs/fyers.md are a working broker folder."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode

DOCS = Path(__file__).parent.parent / "docs"


def samples(doc: str) -> dict[str, dict]:
    """Each ```json block under a '### <file>' heading of the doc's file-broker section."""
    text = (DOCS / doc).read_text()
    section = text[text.index("## The file broker in") :]
    section = section[: section.index("\n## ", 5)]
    return {
        name: json.loads(block)
        for name, block in re.findall(r"^### (\S+)\n+```json\n(.*?)```", section, flags=re.M | re.S)
    }


@pytest.mark.parametrize("fmt", ["angel", "fyers"])
def test_the_doc_samples_work(cli, tmp_path, monkeypatch, sql, fmt):
    folder = tmp_path / "broker"
    folder.mkdir()
    found = samples(f"{fmt}.md")
    assert set(found) == {"orders.json", "holdings.json", "positions.json"}
    for name, body in found.items():
        (folder / name).write_text(json.dumps(body))
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    monkeypatch.setenv("ORDERTRACK_BROKER_FORMAT", fmt)
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(folder))
    check = cli("broker", "check")
    assert " ".join(check.out.split()) == "Order book: 2, Holdings: 2, Positions: 1", check.err
    for oid, symbol, side, qty in (
        ("261130000000001", "INFY", "buy", "10"),
        ("261130000000002", "TCS", "sell", "5"),
    ):
        assert (
            cli("pending", "add", oid, "--symbol", symbol, "--side", side, "--qty", qty).code == 0
        )
    with freeze_time(datetime.now(UTC) + timedelta(minutes=1)) as clock:
        assert cli("verify").code == 0
        # Fyers' book has no fill time: reconcile waits settle_minutes after ordertrack saw it
        clock.tick(timedelta(minutes=11))
        plan = json.loads(cli("reconcile", "--dry-run", "--json").out)
    # today's buy is in positions (not yet in holdings): owned 10 = tracked 10
    assert [(d["symbol"], d["action"], d["owned"]) for d in plan["decisions"]] == [
        ("INFY", "none", 10)
    ]
    orders = {o["order_id"]: o for o in json.loads(cli("pending", "list", "--all", "--json").out)}
    assert orders["261130000000001"]["status"] == "EXECUTED"
    assert orders["261130000000001"]["avg_price"] == 1520.5
    assert orders["261130000000002"]["status"] == "REJECTED"
    assert orders["261130000000002"]["reason"] == "RMS:Margin Exceeds"


def test_an_unknown_format_is_refused(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(tmp_path))
    monkeypatch.setenv("ORDERTRACK_BROKER_FORMAT", "shoonya")
    result = cli("broker", "check")
    assert result.code == ExitCode.CONFIG
    assert "kotak, kite, angel, fyers" in result.err
