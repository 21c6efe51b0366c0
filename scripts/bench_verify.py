"""Benchmark: `ordertrack verify` as a whole process, 10,000 open orders, 10,000-row book.

Prints figures; asserts nothing about time (machines are shared and noisy). Target: under 2 s
for the verify that changes every order, on a 2-core machine, with exactly one order-book read.

    python scripts/bench_verify.py [--orders 10000] [--repeat 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATUSES = ("complete", "open", "rejected", "open", "cancelled", "after market order req received")


def row(i: int, status: str) -> dict:
    filled = {"complete": 10, "open": 4 if i % 2 else 0, "cancelled": 3}.get(status, 0)
    return {"nOrdNo": f"26112400{i:07d}", "ordSt": status, "stat": "Ok", "trdSym": f"SYM{i % 500}-EQ",
            "sym": f"SYM{i % 500}", "exSeg": "nse_cm", "trnsTp": "B" if i % 3 else "S",
            "qty": 10, "fldQty": filled, "unFldSz": 10 - filled, "avgPrc": "101.25",
            "rejRsn": "RMS:Margin Exceeds" if status == "rejected" else "--",
            "ordDtTm": "24-Nov-2026 09:20:00", "updRecvTm": 1764000000000000000 + i}


def timed(args: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return elapsed, result.stdout


def book_reads(env: dict) -> int:
    """Run verify in-process with a counting broker: how many order-book reads one run makes."""
    os.environ.update(env)
    from ordertrack import config
    from ordertrack.jobs import verify
    from ordertrack.broker.base import make_broker
    from ordertrack.broker.file import FileBroker
    from ordertrack.store.db import open_db
    from ordertrack.timeutil import utcnow

    reads = 0
    original = FileBroker.order_book

    def counting(self):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        return original(self)

    FileBroker.order_book = counting  # type: ignore[method-assign]
    settings = config.load(os.environ)
    db = open_db(settings.db_path)
    verify.run(db, make_broker(settings, db), settings, utcnow())
    return reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    n = options.orders
    cli = [sys.executable, "-m", "ordertrack"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "broker"
        folder.mkdir()
        env = {**os.environ, "ORDERTRACK_DB": f"{tmp}/bench.db", "ORDERTRACK_BROKER": "file",
               "ORDERTRACK_BROKER_DIR": str(folder)}
        with open(f"{tmp}/orders.jsonl", "w") as handle:
            for i in range(n):
                handle.write(json.dumps({"order_id": f"26112400{i:07d}", "symbol": f"SYM{i % 500}",
                                         "side": "buy" if i % 3 else "sell", "qty": 10}) + "\n")
        rows = [row(i, STATUSES[i % len(STATUSES)]) for i in range(n)]
        (folder / "orders.json").write_text(json.dumps({"stat": "Ok", "stCode": 200, "data": rows}))
        startup, _ = timed([*cli, "--version"], env)
        imported, _ = timed([*cli, "pending", "add", "--from", f"{tmp}/orders.jsonl"], env)
        first, out = timed([*cli, "verify", "--json"], env)
        counts = json.loads(out)
        again = [timed([*cli, "verify", "--json"], env)[0] for _ in range(options.repeat)]
        # a fresh book that changes every still-open order once more
        rows = [row(i, "complete") for i in range(n)]
        (folder / "orders.json").write_text(json.dumps({"stat": "Ok", "stCode": 200, "data": rows}))
        second, _ = timed([*cli, "verify", "--json"], env)
        size = Path(f"{tmp}/bench.db").stat().st_size
        reads = book_reads(env)
    print(f"orders: {n}, book rows: {n}, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"  process start (--version):            {startup:6.2f} s")
    print(f"  pending add --from ({n} orders):    {imported:6.2f} s")
    print(f"  verify, every order changes:          {first:6.2f} s   {counts}")
    print(f"  verify, same book again (median of {options.repeat}): "
          f"{statistics.median(again):6.2f} s")
    print(f"  verify, remaining orders complete:    {second:6.2f} s")
    print(f"  order-book reads per verify run:      {reads}")
    print(f"  database size:                        {size / 2**20:6.1f} MiB")


if __name__ == "__main__":
    main()
