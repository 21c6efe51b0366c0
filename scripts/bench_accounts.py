"""Benchmark: what grows with the number of accounts (issue 29), with the file broker.

For each size (default 1, 10, 50 accounts, each with --orders open orders), as cron runs them:
one firing is one `ordertrack --account NAME verify` process per account, each reading its own
order book once. Measured: the processes and order-book reads of one firing (counted from the
runs the accounts' databases recorded), the wall time of one account's run (median), the CPU
of the whole firing, the wall time of the stagger slot with the most accounts in it (those
start together: ceil(N / 12) processes at once), the combined views (`status --all-accounts`,
`report --all-accounts`, `doctor --all-accounts --offline`: one process reading every account),
and the disk the accounts take after the firing (databases, env files).

Prints figures; asserts nothing about time (machines are shared and noisy).

    python scripts/bench_accounts.py [--sizes 1,10,50] [--orders 20] [--repeat 3]
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXECUTABLE = Path(os.path.abspath(sys.executable)).parent / "ordertrack"
SLOTS = 12  # core/accounts.STAGGER_SLOTS


def row(i: int) -> dict:
    return {
        "nOrdNo": f"26112400{i:07d}",
        "ordSt": "open",
        "stat": "Ok",
        "trdSym": f"SYM{i}-EQ",
        "sym": f"SYM{i}",
        "exSeg": "nse_cm",
        "trnsTp": "B",
        "qty": 10,
        "fldQty": 0,
        "unFldSz": 10,
        "avgPrc": "0.00",
        "rejRsn": "--",
        "ordDtTm": "24-Nov-2026 09:20:00",
        "updRecvTm": 1764000000000000000 + i,
    }


def run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return time.perf_counter() - started


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def set_up(home: Path, n: int, orders: int) -> tuple[dict[str, str], list[str]]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "ORDERTRACK_OUTPUT": "log",
        "ORDERTRACK_CRONTAB": str(home / "no-crontab"),
    }
    names = [f"acct{i:03d}" for i in range(n)]
    folder = home / "config" / "ordertrack" / "accounts"
    folder.mkdir(parents=True)
    for name in names:
        broker = home / "brokers" / name
        broker.mkdir(parents=True)
        (broker / "orders.json").write_text(
            json.dumps({"stat": "Ok", "data": [row(i) for i in range(orders)]})
        )
        env_file = folder / f"{name}.env"
        env_file.write_text(f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={broker}\n")
        env_file.chmod(0o600)
        lines = "".join(
            json.dumps(
                {"order_id": f"26112400{i:07d}", "symbol": f"SYM{i}", "side": "buy", "qty": 10}
            )
            + "\n"
            for i in range(orders)
        )
        feed = broker / "orders.jsonl"
        feed.write_text(lines)
        run([str(EXECUTABLE), "--account", name, "pending", "add", "--from", str(feed)], env)
    return env, names


def firing(env: dict[str, str], names: list[str]) -> tuple[list[float], float]:
    """One firing, account after account: each run's wall time, and the CPU of them all."""
    cpu = children_cpu()
    walls = [run([str(EXECUTABLE), "--account", n, "verify"], env) for n in names]
    return walls, children_cpu() - cpu


def slot(env: dict[str, str], names: list[str]) -> float:
    """The busiest stagger slot: its accounts' verify started at once; wall until all end."""
    crowd = names[::SLOTS][: math.ceil(len(names) / SLOTS)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(EXECUTABLE), "--account", n, "verify"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in crowd
    ]
    if any(p.wait() != 0 for p in procs):
        sys.exit("a verify in the slot failed")
    return time.perf_counter() - started


def disk(home: Path) -> int:
    return sum(
        p.stat().st_size for p in home.rglob("*") if p.is_file() and "brokers" not in p.parts
    )


def verify_runs(home: Path, names: list[str]) -> int:
    import sqlite3

    total = 0
    for name in names:
        db = home / "data" / "ordertrack" / "accounts" / name / f"{name}.db"
        with sqlite3.connect(db) as conn:
            total += conn.execute("SELECT count(*) FROM runs WHERE command='verify'").fetchone()[0]
    return total


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure(n: int, orders: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ot-bench-accounts-") as tmp:
        home = Path(tmp)
        env, names = set_up(home, n, orders)
        walls, cpus = [], []
        for _ in range(repeat):
            w, cpu = firing(env, names)
            walls += w
            cpus.append(cpu)
        reads = verify_runs(home, names) / repeat
        used = disk(home)
        slots = [slot(env, names) for _ in range(repeat)]
        views = {
            view: median([run([str(EXECUTABLE), *args], env) for _ in range(repeat)])
            for view, args in (
                ("status", ["status", "--all-accounts", "--json"]),
                ("report", ["report", "--all-accounts", "--out", str(home / "all.html")]),
            )
        }
        doctor = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(
                [str(EXECUTABLE), "doctor", "--all-accounts", "--offline"],
                env=env,
                capture_output=True,
                check=False,  # exit 3: no schedule installed here, which is expected
            )
            doctor.append(time.perf_counter() - started)
        return {
            "accounts": n,
            "processes": n,
            "reads": reads,
            "run": median(walls),
            "cpu": median(cpus),
            "slot": median(slots),
            "crowd": math.ceil(n / SLOTS),
            "status": views["status"],
            "report": views["report"],
            "doctor": median(doctor),
            "disk": used / 1024 / n,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"file broker, {args.orders} open orders an account, medians of {args.repeat};"
        f" {os.cpu_count()} cores"
    )
    print(
        "| accounts | processes / firing | order-book reads / firing | one run (s) |"
        " CPU of a firing (s) | busiest slot (procs, s) | status --all (s) |"
        " report --all (s) | doctor --all (s) | disk an account (KiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        m = measure(n, args.orders, args.repeat)
        print(
            f"| {n} | {m['processes']} | {m['reads']:.0f} | {m['run']:.2f} | {m['cpu']:.2f} |"
            f" {m['crowd']}, {m['slot']:.2f} | {m['status']:.2f} | {m['report']:.2f} |"
            f" {m['doctor']:.2f} | {m['disk']:.0f} |"
        )


if __name__ == "__main__":
    main()
