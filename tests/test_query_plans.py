"""Every statement a busy verify, eod and pending command runs finds its rows through an
index on the tables that grow with every order (issue 15): a full scan of them would make each
run slower as the history grows. Checked with SQLite's own EXPLAIN QUERY PLAN."""

import re
import sqlite3

import pytest
from freezegun import freeze_time

from ordertrack.store import db as store_db
from tests.helpers import kotak_row

# Tables that grow with every order. Small ones (tracking, locks) may scan, and so may `runs`
# (one row per run, ~5,000 a year: its per-command summaries read it whole in about a ms).
GROWING = (
    "orders",
    "events",
    "outbox",
    "deliveries",
    "feed",
    "tracking_changes",
    "webhook_deliveries",
    "adjustments",
)
# Reading the newest rows by primary key stops after LIMIT rows: not a scan of the table.
NEWEST = re.compile(r"ORDER BY (\w+\.)?id (DESC )?LIMIT \d+$")
# `status` counts every order by status: from the index alone, a few ms per 100,000 orders.
ALLOWED = ("SELECT status, count(*) FROM orders GROUP BY status",)


@pytest.fixture
def statements(monkeypatch):
    """Every SQL statement ordertrack runs, with its parameters filled in."""
    seen: list[str] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(store_db.sqlite3, "connect", traced)
    return seen


def full_scans(db_path, statements: list[str]) -> set[str]:
    found = set()
    with sqlite3.connect(db_path) as conn:
        for statement in statements:
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT .* SELECT|WITH)", statement, re.I):
                continue
            for *_, detail in conn.execute("EXPLAIN QUERY PLAN " + statement):
                table = re.match(r"SCAN (\w+)", detail)
                if (
                    table
                    and table.group(1) in GROWING
                    and not NEWEST.search(statement)
                    and statement not in ALLOWED
                ):
                    found.add(f"{detail}: {statement[:160]}")
    return found


@freeze_time("2026-11-24 05:00:00")  # Tuesday 10:30 IST
def test_a_busy_days_commands_use_indexes(cli, broker, db_path, statements):
    cli("track", "add", "S0", "--qty", "5")  # creates the database: migrations may scan
    statements.clear()
    for n in range(1, 41):
        assert (
            cli(
                "pending", "add", str(n), "--symbol", f"S{n % 7}", "--side", "buy", "--qty", "10"
            ).code
            == 0
        )
    states = ("complete", "open", "rejected", "cancelled")
    broker.orders(
        *(
            kotak_row(str(n), states[n % 4], symbol=f"S{n % 7}", filled=10 if n % 4 == 0 else 0)
            for n in range(1, 36)
        )
    )
    for command in (
        ["verify"],
        ["verify"],
        ["reconcile"],
        ["eod"],
        ["pending", "list"],
        ["status"],
        ["events"],
        ["outbox", "list"],
        ["pending", "show", "3"],
    ):
        cli(*command)
    assert len(statements) > 100
    assert full_scans(db_path, statements) == set()
