"""Benchmark: what eod's delivery retention ([eod] delivered_keep_days) leaves of a year.

Builds the eod benchmark's history (250 trading days × 50 orders, scripts/bench_eod.py), gives
every notification a Telegram delivery and every feed event a webhook delivery as a year of
running would (all sent, one in every 500 still waiting), then runs `ordertrack eod` as a whole
process and prints each table's rows before and after, the time eod took, and the file size.

    python scripts/bench_retention.py [--days 250] [--orders 50] [--keep 90]
"""

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_eod import build, timed  # noqa: E402 (the same data as the eod benchmark)

TABLES = ("outbox", "deliveries", "webhook_deliveries", "orders", "events", "feed")
WAITING_EVERY = 500  # one delivery in this many is still waiting: retention must keep it


def deliveries(db_path: Path) -> None:
    """A year of sending: one Telegram delivery per outbox row, one webhook delivery per feed
    event, all SENT at the time they were made but one in WAITING_EVERY (PENDING)."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "INSERT INTO deliveries (outbox_id, chat_id, status, attempts, created_at, sent_at)"
            f" SELECT id, '1001', CASE WHEN id % {WAITING_EVERY} = 0 THEN 'PENDING'"
            " ELSE 'SENT' END, 1, created_at, created_at FROM outbox"
        )
        conn.execute(f"UPDATE outbox SET status = 'PENDING' WHERE id % {WAITING_EVERY} = 0")
        conn.execute(
            "INSERT INTO webhook_deliveries (feed_id, destination, status, attempts, created_at,"
            f" sent_at) SELECT id, 'webhook:1', CASE WHEN id % {WAITING_EVERY} = 0"
            " THEN 'PENDING' ELSE 'SENT' END, 1, at, at FROM feed"
        )


def counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--keep", type=int, default=90)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "ordertrack.db"
        total = build(db_path, options.days, options.orders)
        deliveries(db_path)
        before, size_before = counts(db_path), db_path.stat().st_size
        folder = Path(tmp) / "broker"
        folder.mkdir()
        (folder / "orders.json").write_text('{"stat": "Not_Ok", "stCode": 5203}')
        config = Path(tmp) / "ordertrack.toml"
        config.write_text(
            f"[calendar]\nnse_holidays = false\n[eod]\nbackups = 0\n"
            f"delivered_keep_days = {options.keep}\n"
        )
        env = {
            **os.environ,
            "ORDERTRACK_DB": str(db_path),
            "ORDERTRACK_BROKER": "file",
            "ORDERTRACK_BROKER_DIR": str(folder),
            "ORDERTRACK_CONFIG": str(config),
        }
        cli = [sys.executable, "-m", "ordertrack", "eod", "--json"]
        first = timed(cli, env)
        again = timed(cli, env)
        after = counts(db_path)
        with sqlite3.connect(db_path) as conn:
            conn.execute("VACUUM")
        size_after = db_path.stat().st_size
    print(
        f"history: {options.days} trading days x {options.orders} orders = {total} orders; "
        f"[eod] delivered_keep_days = {options.keep}"
    )
    for table in TABLES:
        print(f"  {table:<19} {before[table]:>8} rows before eod  {after[table]:>8} after")
    print(f"  eod: {first:.2f} s (deleting), {again:.2f} s (the next day's, nothing old left)")
    print(
        f"  database: {size_before / 2**20:.1f} MiB before, {size_after / 2**20:.1f} MiB after"
        " eod and VACUUM"
    )


if __name__ == "__main__":
    main()
