"""docs/file-broker.md's samples are a working broker folder; `demo --keep` leaves one too."""

import json
import re
from datetime import datetime
from pathlib import Path

from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.timeutil import IST

DOC = Path(__file__).parent.parent / "docs" / "file-broker.md"


def samples() -> dict[str, dict]:
    """Each ```json block under a '## <file> —' heading, by file name."""
    found = {}
    for name, block in re.findall(
        r"^## (\S+) —.*?```json\n(.*?)```", DOC.read_text(), flags=re.M | re.S
    ):
        found[name.replace("&lt;", "<").replace("&gt;", ">")] = json.loads(block)
    return found


def test_the_doc_names_the_fields_ordertrack_reads() -> None:
    text = DOC.read_text()
    for field in (
        "nOrdNo",
        "ordSt",
        "trdSym",
        "trnsTp",
        "fldQty",
        "avgPrc",
        "rejRsn",
        "ordDtTm",
        "hsUpTm",
        "updRecvTm",
        "displaySymbol",
        "quantity",
        "flBuyQty",
        "flSellQty",
    ):
        assert f"`{field}`" in text, field
    assert "`[reconcile] settle_minutes` compares" in text


def test_the_doc_samples_work(cli, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "broker"
    (folder / "history").mkdir(parents=True)
    found = samples()
    assert set(found) == {
        "orders.json",
        "holdings.json",
        "positions.json",
        "history/<id>.json",
        "trades.json",
    }
    for name in ("orders.json", "holdings.json", "positions.json", "trades.json"):
        (folder / name).write_text(json.dumps(found[name]))
    (folder / "history" / "261130000000003.json").write_text(json.dumps(found["history/<id>.json"]))
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(folder))
    assert (
        " ".join(cli("broker", "check").out.split()) == "Order book: 2, Holdings: 2, Positions: 1"
    )
    for oid, symbol, side in (
        ("261130000000001", "INFY", "buy"),
        ("261130000000002", "TCS", "sell"),
    ):
        assert (
            cli(
                "pending",
                "add",
                oid,
                "--symbol",
                symbol,
                "--side",
                side,
                "--qty",
                "10" if symbol == "INFY" else "5",
            ).code
            == 0
        )
    assert cli("verify").code == 0
    orders = {o["order_id"]: o for o in json.loads(cli("pending", "list", "--all", "--json").out)}
    assert orders["261130000000001"]["status"] == "EXECUTED"
    assert orders["261130000000001"]["avg_price"] == 1520.5
    assert orders["261130000000002"]["reason"] == "RMS:Margin Exceeds"
    assert cli("reconcile", "--dry-run", "--json").code == 0
    # the trade book's two fills, not the order book's 1520.50, are INFY's cost
    pnl = json.loads(cli("pnl", "--day", "2026-11-30", "--json").out)
    assert [(s["symbol"], s["bought_qty"], s["avg_cost"]) for s in pnl["symbols"]] == [
        ("INFY", 10, 1520.51)
    ]


def test_demo_keep_leaves_a_working_folder(cli, tmp_path, monkeypatch) -> None:
    # a trading day: the demo's fills are today's (on a weekend it plays Friday's)
    with freeze_time(datetime(2026, 12, 1, 12, 0, tzinfo=IST)):
        _demo_keep_leaves_a_working_folder(cli, tmp_path, monkeypatch)


def _demo_keep_leaves_a_working_folder(cli, tmp_path, monkeypatch) -> None:
    keep = tmp_path / "play"
    result = cli("demo", "--keep", str(keep))
    assert result.code == 0 and f"kept in {keep}" in result.out
    monkeypatch.setenv("ORDERTRACK_DB", str(keep / "demo.db"))
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(keep / "broker"))
    # the three scripted orders and the SBIN sell that `listen` saw rejected
    assert len(json.loads(cli("pending", "list", "--all", "--json").out)) == 4
    decisions = json.loads(cli("reconcile", "--dry-run", "--json").out)["decisions"]
    # no manual trade: today's fills are deferred until positions show them (Kotak's field
    # names stay in broker/kotak, so the demo writes holdings only)
    assert {d["symbol"]: d["action"] for d in decisions} == {
        "INFY": "deferred",
        "ITBEES": "deferred",
    }
    assert cli("verify").code == 0
    again = cli("demo", "--keep", str(keep))  # never over an earlier one
    assert again.code == ExitCode.USAGE and "exists already" in again.err


def test_the_kept_demos_notifications_never_reach_a_real_chat(
    cli, tmp_path, monkeypatch, telegram
) -> None:
    """Shown on the terminal by the demo; a new user who then sets Telegram up in the same
    shell got four stale 'Executed … 09:16' messages from the kept database."""
    keep = tmp_path / "play"
    with freeze_time(datetime(2026, 12, 1, 12, 0, tzinfo=IST)):
        assert cli("demo", "--keep", str(keep)).code == 0
        monkeypatch.setenv("ORDERTRACK_DB", str(keep / "demo.db"))
        assert cli("outbox", "flush").code == 0
    assert telegram.sends() == []
    statuses = {r["status"] for r in json.loads(cli("outbox", "list", "--json").out)}
    assert statuses == {"OFF"}
