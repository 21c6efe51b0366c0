"""Benchmark: start-up of the commands an engine and cron call most, as whole processes.

Every case runs once per round, rounds one after another (so a drift of the machine's speed
touches every case alike); each figure is the median of --repeat rounds, and each ratio the
median of the per-round ratios to `python -c "import typer"` (Typer is the floor a Typer CLI
cannot go below). Asserts nothing about time. Targets (issue 24): `pending add` ≤ 1.5× and an
idle `verify` of 250 open orders (file broker, nothing changes) ≤ 2.0× the Typer import.
Where the time goes: `python -X importtime -m ordertrack pending add …`.

Measure an installed copy, not an editable one (its path hook costs ~10 ms a process):

    python -m venv /tmp/ot && /tmp/ot/bin/pip install .
    /tmp/ot/bin/python scripts/bench_startup.py
    python scripts/bench_startup.py [--repeat 20] [--orders 250]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGETS = {"ordertrack pending add": 1.5, "ordertrack verify, idle": 2.0}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds, and the CPU seconds (user + system) of the child: on a busy machine the
    CPU figure is the steadier one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # from the temporary folder: `-m ordertrack` must load the installed copy, not ./ordertrack
    result = subprocess.run(args, env=env, capture_output=True, check=False, cwd=env["BENCH_CWD"])
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def idle_book(folder: Path, orders: int, cli: list[str], env: dict[str, str]) -> None:
    """`orders` registered orders, all open at the broker, already seen once by verify."""
    ids = [f"26112400{i:07d}" for i in range(orders)]
    lines = [
        {"order_id": i, "symbol": f"SYM{n % 50}", "side": "buy", "qty": 10}
        for n, i in enumerate(ids)
    ]
    (folder / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in lines))
    rows = [
        {
            "nOrdNo": i,
            "ordSt": "open",
            "stat": "Ok",
            "trdSym": f"SYM{n % 50}-EQ",
            "trnsTp": "B",
            "qty": 10,
            "fldQty": 0,
            "avgPrc": "0.00",
            "rejRsn": "--",
            "ordDtTm": "24-Nov-2026 09:20:00",
            "updRecvTm": 1764000000000000000 + n,
        }
        for n, i in enumerate(ids)
    ]
    (folder / "orders.json").write_text(json.dumps({"stat": "Ok", "stCode": 200, "data": rows}))
    timed([*cli, "pending", "add", "--from", str(folder / "orders.jsonl")], env)
    timed([*cli, "verify"], env)  # first sight records each order's broker status


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--orders", type=int, default=250, help="open orders of the idle verify")
    options = parser.parse_args()
    repeat = options.repeat
    # The installed command, as cron and an engine run it; `python -m ordertrack` (a checkout
    # without the script) also loads runpy and __main__, ~3 ms more.
    script = Path(sys.executable).parent / "ordertrack"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "ordertrack"]
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ORDERTRACK_", "KOTAK_", "KITE_", "TELEGRAM_"))
    }
    with tempfile.TemporaryDirectory() as tmp:
        base["BENCH_CWD"] = tmp
        env = {**base, "ORDERTRACK_DB": f"{tmp}/bench.db", "ORDERTRACK_OUTPUT": "log"}
        timed([*cli, "track", "add", "INFY"], env)
        idle = {
            **base,
            "ORDERTRACK_DB": f"{tmp}/idle.db",
            "ORDERTRACK_OUTPUT": "log",
            "ORDERTRACK_BROKER": "file",
            "ORDERTRACK_BROKER_DIR": tmp,
        }
        idle_book(Path(tmp), options.orders, cli, idle)
        numbers = iter(range(1, 10**6))
        add, flags = [*cli, "pending", "add"], ["--symbol", "INFY", "--side", "buy", "--qty", "1"]
        cases: list[tuple[str, Callable[[], tuple[float, float]]]] = [
            ("python -c pass", lambda: timed([sys.executable, "-c", "pass"], env)),
            (
                "python -c 'import typer'",
                lambda: timed([sys.executable, "-c", "import typer"], env),
            ),
            ("ordertrack --version", lambda: timed([*cli, "--version"], env)),
            ("ordertrack --help", lambda: timed([*cli, "--help"], env)),
            ("ordertrack status --json", lambda: timed([*cli, "status", "--json"], env)),
            ("ordertrack pending add", lambda: timed([*add, str(next(numbers)), *flags], env)),
            ("ordertrack verify, idle", lambda: timed([*cli, "verify"], idle)),
        ]
        where = subprocess.run(
            [sys.executable, "-c", "import ordertrack; print(ordertrack.__file__)"],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
        ).stdout.strip()
        rounds = [{name: run() for name, run in cases} for _ in range(repeat)]
    typer = "python -c 'import typer'"
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, medians of {repeat} rounds;"
        f" idle verify: {options.orders} open orders, file broker, nothing changes"
    )
    print(f"ordertrack from {where}, run as {' '.join(cli)}")
    print(f"  {'command':32} {'seconds':>8} {'× pass':>7} {'× typer':>8} {'cpu × typer':>12}")
    for name, _ in cases:
        seconds = statistics.median(r[name][0] for r in rounds)
        vs_pass = statistics.median(r[name][0] / r["python -c pass"][0] for r in rounds)
        vs_typer = statistics.median(r[name][0] / r[typer][0] for r in rounds)
        cpu = statistics.median(r[name][1] / r[typer][1] for r in rounds)
        target = f"  (target ≤ {TARGETS[name]}×)" if name in TARGETS else ""
        print(f"  {name:32} {seconds:8.3f} {vs_pass:7.1f} {vs_typer:8.2f} {cpu:12.2f}{target}")


if __name__ == "__main__":
    main()
