"""`ordertrack events` and api.events: one increasing, resumable feed of everything recorded."""

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack import api
from ordertrack.errors import UsageError
from ordertrack.store import feed
from ordertrack.store.migrations import MIGRATIONS
from ordertrack.timeutil import IST
from tests.helpers import kotak_row

DOCS = Path(__file__).parent.parent / "docs" / "events.md"


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def events(cli, *args: str) -> list[dict]:
    result = cli("events", "--json", *args)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


@pytest.fixture
def day(cli, broker, tmp_path, monkeypatch):
    """A day of events: registrations, a partial fill, an execution, a rejection, a manual sell,
    a run alert (the broker down) and an expiry at the close."""
    config = tmp_path / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    broker.history("other", kotak_row("other"))  # the broker has an order history to ask
    with freeze_time(ist(2026, 11, 27, 15, 0)) as clock:  # Friday: ITC's order, never filled
        assert (
            cli("pending", "add", "4", "--symbol", "ITC", "--side", "buy", "--qty", "100").code == 0
        )
        clock.move_to(ist(2026, 11, 30, 9, 20))
        cli("track", "add", "TCS", "--qty", "50")
        for order_id, symbol, side in (
            ("1", "INFY", "buy"),
            ("2", "SBIN", "buy"),
            ("3", "IDEA", "sell"),
        ):
            assert (
                cli(
                    "pending", "add", order_id, "--symbol", symbol, "--side", side, "--qty", "100"
                ).code
                == 0
            )
        broker.orders(
            kotak_row("1", "open", symbol="INFY", filled=40, avg="1850.00"),
            kotak_row("2", "rejected", symbol="SBIN", reason="RMS:Margin Exceeds"),
            kotak_row("3", "open", symbol="IDEA", side="S"),
        )
        clock.move_to(ist(2026, 11, 30, 10, 0))
        assert cli("verify").code == 0
        broker.orders(
            kotak_row("1", "complete", symbol="INFY", filled=100, avg="1851.00"),
            kotak_row("2", "rejected", symbol="SBIN", reason="RMS:Margin Exceeds"),
            kotak_row("3", "open", symbol="IDEA", side="S"),
        )
        for hour in (11, 12, 13):
            clock.move_to(ist(2026, 11, 30, hour, 0))
            assert cli("verify").code == 0
        broker.write("orders.json", "not json")
        clock.move_to(ist(2026, 11, 30, 14, 0))
        assert cli("verify").code == 4
        broker.orders(
            kotak_row("1", "complete", symbol="INFY", filled=100, avg="1851.00"),
            kotak_row("3", "cancelled", symbol="IDEA", side="S"),
        )
        broker.write(
            "holdings.json",
            {
                "data": [
                    {"symbol": s, "displaySymbol": s, "quantity": q, "averagePrice": 100.0}
                    for s, q in (("TCS", 20), ("INFY", 100))
                ]
            },
        )
        broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
        clock.move_to(ist(2026, 11, 30, 16, 0))
        assert cli("reconcile").code == 0
        clock.move_to(ist(2026, 11, 30, 18, 0))
        assert cli("eod").code == 0


def test_a_day_arrives_in_order_each_once(cli, day):
    got = events(cli)
    assert [e["id"] for e in got] == sorted({e["id"] for e in got})
    assert [e["at"] for e in got] == sorted(e["at"] for e in got)
    kinds = [(e["kind"], e["symbol"]) for e in got]
    for expected in [
        ("PARTIAL_FILL", "INFY"),
        ("EXECUTED", "INFY"),
        ("REJECTED", "SBIN"),
        ("CANCELLED", "IDEA"),
        ("MANUAL_TRADE", "TCS"),
        ("EXPIRED", "ITC"),
    ]:
        assert kinds.count(expected) == 1, (expected, kinds)
    assert kinds.index(("PARTIAL_FILL", "INFY")) < kinds.index(("EXECUTED", "INFY"))
    fill = next(e for e in got if e["kind"] == "PARTIAL_FILL")
    assert (
        fill["order_id"],
        fill["side"],
        fill["qty"],
        fill["filled_qty"],
        fill["delta_qty"],
        fill["avg_price"],
        fill["status"],
    ) == ("1", "BUY", 100, 40, 40, 1850.0, "PARTIALLY_FILLED")
    rejected = next(e for e in got if e["kind"] == "REJECTED")
    assert "Margin" in rejected["reason"] and rejected["status"] == "REJECTED"
    manual = next(e for e in got if e["kind"] == "MANUAL_TRADE")
    assert (manual["side"], manual["qty"], manual["tracked_qty"], manual["reason"]) == (
        "SELL",
        30,
        20,
        "manual_sell",
    )
    [alert] = [e for e in got if e["kind"] == "SYSTEM_ALERT"]
    assert alert["detail"]["command"] == "verify" and "broker unavailable" in alert["reason"]
    causes = [e["reason"] for e in got if e["kind"] == "TRACKING_CHANGE"]
    assert causes == ["TRACK_ADD", "TRACK_ADD", "FILL", "FILL", "MANUAL_SELL"]  # INFY: 40, 60


def test_since_resumes_exactly_after_the_last_id_seen(cli, day):
    everything = events(cli)
    for cut in range(len(everything) + 1):
        last = everything[cut - 1]["id"] if cut else 0
        assert events(cli, "--since", str(last)) == everything[cut:]
    assert events(cli, "--since", str(everything[-1]["id"] + 100)) == []
    assert api.events(since=everything[3]["id"]) == everything[4:]
    assert events(cli, "--limit", "2") == everything[:2]


def test_kind_filter_keeps_the_ids(cli, day):
    everything = events(cli)
    chosen = events(cli, "--kind", "executed, REJECTED")
    assert chosen == [e for e in everything if e["kind"] in ("EXECUTED", "REJECTED")]
    assert api.events(kinds=["manual_trade"]) == [
        e for e in everything if e["kind"] == "MANUAL_TRADE"
    ]


def test_new_events_get_higher_ids_than_any_read(cli, broker, day):
    last = events(cli)[-1]["id"]
    with freeze_time(ist(2026, 12, 1, 9, 30)):
        cli("pending", "add", "9", "--symbol", "WIPRO", "--side", "buy", "--qty", "5")
    [new] = events(cli, "--since", str(last))
    assert (new["kind"], new["symbol"], new["id"]) == ("REGISTERED", "WIPRO", last + 1)


def test_schema_is_pinned_and_documented(cli, day):
    got = events(cli)
    assert {tuple(e) for e in got} == {feed.FIELDS}
    assert {e["schema_version"] for e in got} == {1}
    documented = re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), re.MULTILINE)
    assert tuple(documented[: len(feed.FIELDS)]) == feed.FIELDS
    assert f"| `schema_version` | `{feed.SCHEMA_VERSION}` |" in DOCS.read_text()
    # The whole of one event, key order included: a change here is a change of the contract.
    fill = next(e for e in got if e["kind"] == "PARTIAL_FILL")
    assert json.dumps(fill) == json.dumps(
        {
            "schema_version": 1,
            "id": 6,
            "at": "2026-11-30T04:30:00.000000+00:00",
            "kind": "PARTIAL_FILL",
            "order_ref": 2,
            "order_id": "1",
            "tag": None,
            "symbol": "INFY",
            "side": "BUY",
            "qty": 100,
            "filled_qty": 40,
            "delta_qty": 40,
            "avg_price": 1850.0,
            "status": "PARTIALLY_FILLED",
            "reason": None,
            "tracked_qty": None,
            "run_id": 1,
            "detail": {"broker_status": "open"},
        }
    )


def test_every_kind_is_documented_and_an_unknown_one_refused(cli, day):
    text = DOCS.read_text()
    assert all(f"`{kind}`" in text for kind in feed.KINDS)
    assert {e["kind"] for e in events(cli)} <= set(feed.KINDS)
    result = cli("events", "--kind", "EXECUTED,FILLED")
    assert result.code == 2 and "unknown event kind FILLED" in result.err
    with pytest.raises(UsageError):
        api.events(kinds=["filled"])


def test_text_lines_without_json(cli, day):
    result = cli("events", "--kind", "REJECTED")
    assert result.code == 0
    [line] = result.out.splitlines()
    assert "REJECTED" in line and "SBIN" in line and "Margin" in line


def test_events_needs_an_existing_database(cli):
    assert cli("events").code != 0


def test_rows_recorded_before_the_feed_join_it_in_time_order(tmp_path):
    db_file = tmp_path / "old.db"
    from sqlite_utils import Database

    db = Database(sqlite3.connect(db_file))
    before = [m for m in MIGRATIONS._migrations if m.name < "m011"]
    for migration in before:
        migration.fn(db)
    db.execute(
        "INSERT INTO tracking_changes (symbol, delta, qty_after, cause, at)"
        " VALUES ('B', 5, 5, 'TRACK_ADD', '2026-11-30T05:00:00.000000+00:00')"
    )
    db.execute(
        "INSERT INTO tracking_changes (symbol, delta, qty_after, cause, at)"
        " VALUES ('A', 5, 5, 'TRACK_ADD', '2026-11-30T04:00:00.000000+00:00')"
    )
    db.execute(
        "INSERT INTO outbox (key, kind, payload, created_at) VALUES"
        ' (\'x\', \'SYSTEM_ALERT\', \'{"command": "eod", "text": "late"}\','
        " '2026-11-30T04:30:00.000000+00:00')"
    )
    db.execute(
        "INSERT INTO outbox (key, kind, payload, created_at) VALUES"
        " ('y', 'EXECUTED', '{}', '2026-11-30T04:31:00.000000+00:00')"
    )
    [m011] = [m for m in MIGRATIONS._migrations if m.name.startswith("m011")]
    m011.fn(db)
    for later in [m for m in MIGRATIONS._migrations if m.name > "m012"]:
        later.fn(db)  # the feed is read in today's schema (m015 added sells' realised P&L)
    got = feed.since(db)
    assert [(e["id"], e["kind"], e["symbol"] or e["reason"]) for e in got] == [
        (1, "TRACKING_CHANGE", "A"),
        (2, "SYSTEM_ALERT", "late"),
        (3, "TRACKING_CHANGE", "B"),
    ]


@pytest.mark.parametrize(
    "since, limit",
    [(10**30, None), (2**63, None), (0, 2**63), (-1, None), (0, 0), (0, -5), ("5", None), (0, 2.5)],
)
def test_api_since_and_limit_beyond_sqlites_integers_are_a_value_error(fresh_db, since, limit):
    with pytest.raises(ValueError, match=r"(since|limit) must be a whole number") as caught:
        api.events(since=since, limit=limit)
    assert isinstance(caught.value, UsageError) and "\n" not in str(caught.value)


def test_api_track_symbol_bounds_its_quantity(fresh_db):
    for qty in (10**30, -1, 1.5):
        with pytest.raises(ValueError, match="qty must be a whole number from 0 to"):
            api.track_symbol("INFY", qty)  # type: ignore[arg-type]
    assert api.events() == []
