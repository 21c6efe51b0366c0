"""Benchmark: `eod` and `status` as whole processes over a year of history.

Builds 250 trading days × 50 orders (with their events, outbox rows, runs and tracking changes),
then times the processes. Prints figures; targets: under 1 s each on a 2-core machine.

    python scripts/bench_eod.py [--days 250] [--orders 50] [--repeat 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from ordertrack.core.trading_calendar import Calendar, ist_date
from ordertrack.store.db import open_db
from ordertrack.timeutil import IST, to_db, utcnow

KINDS = ("EXECUTED", "REJECTED", "CANCELLED", "EXPIRED")


def build(db_path: Path, days: int, per_day: int) -> int:
    db = open_db(db_path)
    calendar = Calendar()
    day = ist_date(utcnow())
    trading = []
    while len(trading) < days:
        day = calendar.previous_trading_day(day)
        trading.append(day)
    orders, events, outbox, runs, changes = [], [], [], [], []
    n = 0
    for d in reversed(trading):
        base = datetime(d.year, d.month, d.day, 9, 30, tzinfo=IST)
        for i in range(per_day):
            n += 1
            at = to_db(base + timedelta(minutes=i * 5))
            kind = KINDS[n % 4]
            symbol = f"SYM{n % 200}"
            orders.append(
                (
                    n,
                    f"{d:%y%m%d}{n:09d}",
                    symbol,
                    "BUY",
                    10,
                    at,
                    kind.replace("EXECUTED", "EXECUTED"),
                    10 if kind == "EXECUTED" else 0,
                    at,
                    at,
                )
            )
            events.append((n, f"{n}:REGISTERED", "REGISTERED", "PENDING", 0, 0, at))
            events.append(
                (
                    n,
                    f"{n}:{kind}",
                    kind,
                    kind,
                    10 if kind == "EXECUTED" else 0,
                    10 if kind == "EXECUTED" else 0,
                    at,
                )
            )
            outbox.append(
                (
                    f"{n}:{kind}",
                    kind,
                    json.dumps(
                        {
                            "order_id": str(n),
                            "symbol": symbol,
                            "side": "BUY",
                            "qty": 10,
                            "filled_qty": 10,
                        }
                    ),
                    at,
                    "SENT",
                )
            )
            if kind == "EXECUTED":
                changes.append((symbol, 10, 10, "FILL", n, at))
        stamp = to_db(base + timedelta(hours=8, minutes=30))
        runs += [("verify", 1, stamp, stamp, "ok", 0)] * 13 + [("eod", 1, stamp, stamp, "ok", 0)]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO orders (id, order_id, symbol, side, qty, placed_at, status, filled_qty,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            orders,
        )
        db.conn.executemany(
            "INSERT INTO events (order_ref, key, kind, status, filled_qty, delta_qty, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        db.conn.executemany(
            "INSERT INTO outbox (key, kind, payload, created_at, status) VALUES (?, ?, ?, ?, ?)",
            outbox,
        )
        db.conn.executemany(
            "INSERT INTO runs (command, pid, started_at, ended_at, outcome,"
            " exit_code) VALUES (?, ?, ?, ?, ?, ?)",
            runs,
        )
        db.conn.executemany(
            "INSERT INTO tracking_changes (symbol, delta, qty_after, cause,"
            " order_ref, at) VALUES (?, ?, ?, ?, ?, ?)",
            changes,
        )
        db.conn.executemany(
            "INSERT OR IGNORE INTO tracking (symbol, tracked_qty, status,"
            " started_at, updated_at) VALUES (?, 10, 'ACTIVE', ?, ?)",
            [(c[0], c[5], c[5]) for c in changes],
        )
    db.close()
    return n


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "ordertrack.db"
        started = time.perf_counter()
        total = build(db_path, options.days, options.orders)
        built = time.perf_counter() - started
        folder = Path(tmp) / "broker"
        folder.mkdir()
        (folder / "orders.json").write_text(json.dumps({"stat": "Not_Ok", "stCode": 5203}))
        config = Path(tmp) / "ordertrack.toml"  # the benchmark's day counts as a session
        config.write_text("[calendar]\nnse_holidays = false\n")
        env = {
            **os.environ,
            "ORDERTRACK_DB": str(db_path),
            "ORDERTRACK_BROKER": "file",
            "ORDERTRACK_BROKER_DIR": str(folder),
            "ORDERTRACK_CONFIG": str(config),
        }
        cli = [sys.executable, "-m", "ordertrack"]
        eod = [timed([*cli, "eod", "--json"], env) for _ in range(options.repeat)]
        summary = subprocess.run(
            [*cli, "eod", "--json"], env=env, capture_output=True, text=True, check=False
        ).stdout
        session = json.loads(summary)["session"]
        status = [timed([*cli, "status", "--json"], env) for _ in range(options.repeat)]
        size = db_path.stat().st_size
    print(
        f"history: {options.days} trading days x {options.orders} orders = {total} orders "
        f"(built in {built:.1f} s), database {size / 2**20:.1f} MiB; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    print(
        f"  eod    (median of {options.repeat}): {statistics.median(eod):5.2f} s   "
        f"runs: {', '.join(f'{t:.2f}' for t in eod)}   (trading session: {session})"
    )
    print(
        f"  status (median of {options.repeat}): {statistics.median(status):5.2f} s   "
        f"runs: {', '.join(f'{t:.2f}' for t in status)}"
    )


if __name__ == "__main__":
    main()
