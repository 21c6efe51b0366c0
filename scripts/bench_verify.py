"""Benchmark: `ordertrack` as whole processes, the way an engine and cron call it.

Cases (medians of --repeat runs, each beside `python -c pass` and the bare JSON load of the
book, as ratios): --help, one `pending add`, 250 single registrations, `pending add --from`,
verify of N open orders that all execute, verify of N open orders where nothing changes, and
the normal 30-minute run: verify of 250 open orders where nothing changes.

Prints figures; asserts nothing about time (machines are shared and noisy). Targets (issue 15):
`pending add` and `--help` ≤ 0.15 s, all-execute ≤ 2.0 s, idle ≤ 0.8 s, idle 250 ≤ 0.2 s,
memory ≤ 3× the book. Memory is each process's peak resident size (wait4's accounting); what
verify adds above ordertrack's own start-up is set beside what json.load adds for the book.

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
from collections.abc import Callable
from pathlib import Path

STATUSES = ("complete", "open", "rejected", "open", "cancelled", "after market order req received")
SINGLE_ADDS = 250


def row(i: int, status: str) -> dict:
    filled = {"complete": 10, "open": 4 if i % 2 else 0, "cancelled": 3}.get(status, 0)
    return {
        "nOrdNo": f"26112400{i:07d}",
        "ordSt": status,
        "stat": "Ok",
        "trdSym": f"SYM{i % 500}-EQ",
        "sym": f"SYM{i % 500}",
        "exSeg": "nse_cm",
        "trnsTp": "B" if i % 3 else "S",
        "qty": 10,
        "fldQty": filled,
        "unFldSz": 10 - filled,
        "avgPrc": "101.25",
        "rejRsn": "RMS:Margin Exceeds" if status == "rejected" else "--",
        "ordDtTm": "24-Nov-2026 09:20:00",
        "updRecvTm": 1764000000000000000 + i,
    }


def order(i: int) -> dict:
    return {
        "order_id": f"26112400{i:07d}",
        "symbol": f"SYM{i % 500}",
        "side": "buy" if i % 3 else "sell",
        "qty": 10,
    }


def timed(args: list[str], env: dict, stdin: str | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False, input=stdin)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return elapsed, result.stdout


# A child's peak memory counts the memory of whoever forked it (Linux keeps the larger of the
# two across exec), so the measured command is forked from this small launcher, not from the
# benchmark: every figure then has the same floor, the launcher's, seen in `python -c pass`.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_mib(args: list[str], env: dict) -> float:
    """The command's peak resident memory in MiB (one run)."""
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    if out[0] != "0":
        sys.exit(f"{' '.join(args)} failed ({out[0]})")
    return int(out[1]) / 1024


class Book:
    """One database and broker folder per case."""

    def __init__(self, tmp: str, name: str):
        self.folder = Path(tmp) / name
        self.folder.mkdir()
        self.env = {
            **os.environ,
            "ORDERTRACK_DB": str(self.folder / "bench.db"),
            "ORDERTRACK_BROKER": "file",
            "ORDERTRACK_BROKER_DIR": str(self.folder),
            "ORDERTRACK_OUTPUT": "log",
        }
        self.env.pop("TELEGRAM_BOT_TOKEN", None)
        self.env.pop("ORDERTRACK_PING_URL", None)

    def orders(self, n: int) -> Path:
        path = self.folder / "orders.jsonl"
        path.write_text("".join(json.dumps(order(i)) + "\n" for i in range(n)))
        return path

    def book(self, n: int, status: Callable[[int], str]) -> Path:
        path = self.folder / "orders.json"
        rows = [row(i, status(i)) for i in range(n)]
        path.write_text(json.dumps({"stat": "Ok", "stCode": 200, "data": rows}))
        return path

    def reset(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.env['ORDERTRACK_DB']}{suffix}").unlink(missing_ok=True)


def book_reads(env: dict) -> int:
    """Run verify in-process with a counting broker: how many order-book reads one run makes."""
    os.environ.update(env)
    from ordertrack import config
    from ordertrack.broker.base import make_broker
    from ordertrack.broker.file import FileBroker
    from ordertrack.jobs import verify
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


def median(times: list[float]) -> float:
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--singles",
        type=int,
        default=SINGLE_ADDS,
        help="single `pending add` processes in the registration case",
    )
    options = parser.parse_args()
    n, repeat = options.orders, options.repeat
    cli = [sys.executable, "-m", "ordertrack"]
    figures: list[tuple[str, float]] = []
    peaks: dict[str, float] = {}

    def seconds(args: list[str], env: dict) -> float:
        return median([timed(args, env)[0] for _ in range(repeat)])

    with tempfile.TemporaryDirectory() as tmp:
        base = Book(tmp, "base")
        book_path = base.book(n, lambda i: "complete")
        load = [sys.executable, "-c", f"import json; json.load(open({str(book_path)!r}))"]
        figures.append(("python -c pass", seconds([sys.executable, "-c", "pass"], base.env)))
        figures.append(
            ("python -c 'import typer'", seconds([sys.executable, "-c", "import typer"], base.env))
        )
        figures.append((f"bare json.load of the {n}-row book", seconds(load, base.env)))
        figures.append(("ordertrack --help", seconds([*cli, "--help"], base.env)))
        figures.append(("ordertrack --version", seconds([*cli, "--version"], base.env)))
        peaks["python -c pass"] = peak_mib([sys.executable, "-c", "pass"], base.env)
        peaks["json.load of the book"] = peak_mib(load, base.env)
        empty = Book(tmp, "empty")
        empty.book(0, lambda i: "open")
        peaks["verify, empty book"] = peak_mib([*cli, "verify", "--json"], empty.env)

        singles = Book(tmp, "singles")
        adds = []
        for i in range(options.singles):
            o = order(i)
            adds.append(
                timed(
                    [
                        *cli,
                        "pending",
                        "add",
                        o["order_id"],
                        "--symbol",
                        o["symbol"],
                        "--side",
                        o["side"],
                        "--qty",
                        str(o["qty"]),
                    ],
                    singles.env,
                )[0]
            )
        figures.append(("pending add (one order, median)", median(adds[1:] or adds)))
        figures.append((f"{options.singles} single pending add calls (total)", sum(adds)))

        big = Book(tmp, "big")
        orders = big.orders(n)
        imports, executes = [], []
        for attempt in range(repeat + 1):
            big.reset()
            imports.append(timed([*cli, "pending", "add", "--from", str(orders)], big.env)[0])
            big.book(n, lambda i: "complete")
            verify = [*cli, "verify", "--json"]
            if attempt == repeat:  # one more, for its memory
                peaks["verify, every one executes"] = peak_mib(verify, big.env)
            else:
                executes.append(timed(verify, big.env)[0])
        big.reset()
        timed([*cli, "pending", "add", "--from", str(orders)], big.env)
        big.book(n, lambda i: "open")
        timed([*cli, "verify", "--json"], big.env)  # first sight records the broker status
        figures.append((f"pending add --from, {n} orders", median(imports)))
        figures.append((f"verify, {n} open orders, every one executes", median(executes)))
        figures.append(
            (
                f"verify, {n} open orders, nothing changes",
                seconds([*cli, "verify", "--json"], big.env),
            )
        )
        peaks["verify, nothing changes"] = peak_mib([*cli, "verify", "--json"], big.env)

        day = Book(tmp, "day")
        timed([*cli, "pending", "add", "--from", str(day.orders(250))], day.env)
        day.book(250, lambda i: "open")
        timed([*cli, "verify", "--json"], day.env)
        figures.append(
            (
                "verify, 250 open orders, nothing changes",
                seconds([*cli, "verify", "--json"], day.env),
            )
        )

        mixed = Book(tmp, "mixed")
        timed([*cli, "pending", "add", "--from", str(mixed.orders(n))], mixed.env)
        mixed.book(n, lambda i: STATUSES[i % len(STATUSES)])
        counts = json.loads(timed([*cli, "verify", "--json"], mixed.env)[1])
        size = Path(mixed.env["ORDERTRACK_DB"]).stat().st_size
        book_mib = book_path.stat().st_size / 2**20
        reads = book_reads(mixed.env)
    report(figures, n, repeat)
    memory(peaks, n, book_mib)
    print(f"  mixed book verify counts: {counts}")
    print(f"  order-book reads per verify run:      {reads}")
    print(f"  database size:                        {size / 2**20:6.1f} MiB")


def report(figures: list[tuple[str, float]], n: int, repeat: int) -> None:
    floor, parse = figures[0][1], figures[2][1]
    print(
        f"orders: {n}, python {sys.version.split()[0]}, {os.cpu_count()} cores, medians of {repeat}"
    )
    print(f"  {'case':48} {'seconds':>8} {'× pass':>7} {'× load':>7}")
    for name, seconds in figures:
        print(f"  {name:48} {seconds:8.3f} {seconds / floor:7.1f} {seconds / parse:7.1f}")


def memory(peaks: dict[str, float], n: int, book_mib: float) -> None:
    """What verify adds to a verify of an empty book beside what json.load adds to a bare
    interpreter: the book's cost, without the interpreter's, the imports' and SQLite's."""
    load_cost = max(peaks["json.load of the book"] - peaks["python -c pass"], 0.1)
    print("  peak memory (MiB): " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    print(f"  the {n}-row book: {book_mib:.1f} MiB of JSON, {load_cost:.1f} MiB once loaded")
    for case in ("verify, every one executes", "verify, nothing changes"):
        extra = peaks[case] - peaks["verify, empty book"]
        print(
            f"  {case}: {extra:.1f} MiB above an empty book = {extra / load_cost:.1f}× the "
            f"loaded book, {extra / book_mib:.1f}× its JSON bytes"
        )


if __name__ == "__main__":
    main()
