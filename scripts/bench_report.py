"""Benchmark: `ordertrack report` as a whole process over a year of history.

Builds the eod benchmark's database (250 trading days × 50 orders, with events, outbox rows,
runs and tracking changes), then times the report for the newest day, for its week and for the
whole year. Target: under 1 s for the day on a 2-core machine.

    python scripts/bench_report.py [--days 250] [--orders 50] [--repeat 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_eod import build, timed  # noqa: E402 (the same data as the eod benchmark)

from ordertrack.core.trading_calendar import Calendar, ist_date  # noqa: E402
from ordertrack.timeutil import utcnow  # noqa: E402


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
        day = Calendar().previous_trading_day(ist_date(utcnow()))  # the newest day built
        env = {**os.environ, "ORDERTRACK_DB": str(db_path)}
        cli = [sys.executable, "-m", "ordertrack", "report"]
        out = Path(tmp) / "report.html"
        one = [
            timed([*cli, "--day", str(day), "--out", str(out)], env) for _ in range(options.repeat)
        ]
        size = out.stat().st_size
        week = [timed([*cli, "--week", "--out", str(out)], env) for _ in range(options.repeat)]
        since = str(day - timedelta(days=364))
        year = [
            timed([*cli, "--from", since, "--out", str(out)], env) for _ in range(options.repeat)
        ]
    print(
        f"history: {options.days} trading days x {options.orders} orders = {total} orders "
        f"(built in {built:.1f} s); python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    print(
        f"  report --day {day} (median of {options.repeat}): {statistics.median(one):5.2f} s"
        f"   runs: {', '.join(f'{t:.2f}' for t in one)}   page {size / 1024:.0f} KiB"
    )
    print(
        f"  report --week (median of {options.repeat}): {statistics.median(week):5.2f} s"
        f"   runs: {', '.join(f'{t:.2f}' for t in week)}"
    )
    print(
        f"  report --from {since} (median of {options.repeat}): "
        f"{statistics.median(year):5.2f} s   runs: {', '.join(f'{t:.2f}' for t in year)}"
    )


if __name__ == "__main__":
    main()
