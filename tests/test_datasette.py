"""`ordertrack datasette-metadata`: descriptions and canned queries that run on a real database."""

import json
import sqlite3
from datetime import datetime, time, timedelta

import pytest

from ordertrack.timeutil import IST, to_db
from tests.report_day import HOSTILE, build


@pytest.fixture
def metadata(cli, broker, no_holidays):
    build(cli, broker)
    result = cli("datasette-metadata")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_every_table_is_described_or_hidden(metadata, db_path):
    tables = metadata["databases"]["ordertrack"]["tables"]
    with sqlite3.connect(db_path) as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
    assert names <= set(tables), names - set(tables)
    assert tables["broker_sessions"] == {"hidden": True}  # it holds a live access token


def test_canned_queries_run_against_the_database(metadata, db_path):
    queries = metadata["databases"]["ordertrack"]["queries"]
    assert set(queries) == {
        "todays_orders",
        "rejections_by_reason",
        "manual_trades",
        "missed_runs",
        "realised_by_sell",
    }
    with sqlite3.connect(db_path) as conn:
        answers = {name: conn.execute(q["sql"]).fetchall() for name, q in queries.items()}
    assert answers["rejections_by_reason"] == [(HOSTILE, 2, "2026-12-01", "2026-12-01")]
    assert answers["manual_trades"] == []
    assert answers["realised_by_sell"] == []  # tests/test_pnl_e2e.py has sells


def test_missed_runs_finds_a_verify_gap(metadata, db_path):
    sql = metadata["databases"]["ordertrack"]["queries"]["missed_runs"]["sql"]
    yesterday = datetime.now(IST).date() - timedelta(days=1)  # SQLite's 'now' is not frozen
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM runs")
        for hour, minute in ((10, 0), (10, 30), (12, 0)):
            at = datetime.combine(yesterday, time(hour, minute), tzinfo=IST)
            conn.execute(
                "INSERT INTO runs (command, pid, started_at, outcome) VALUES ('verify',"
                " 1, ?, 'ok')",
                (to_db(at),),
            )
        gaps = [r for r in conn.execute(sql).fetchall() if r[1] == "verify"]
    assert gaps == [
        (str(yesterday), "verify", f"{yesterday} 10:30:00", f"{yesterday} 12:00:00", 90)
    ]


def test_the_database_name_follows_the_file(cli, tmp_path):
    result = cli("--db", str(tmp_path / "trades.db"), "datasette-metadata")
    assert result.code == 0, result.err
    assert list(json.loads(result.out)["databases"]) == ["trades"]
