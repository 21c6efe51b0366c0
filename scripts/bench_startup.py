"""Benchmark: start-up of the commands an engine and cron call most, as whole processes.

Medians of --repeat runs beside `python -c pass` and `python -c "import typer"` (Typer is the
floor a Typer CLI cannot go below). Asserts nothing about time. Target (issue 15): `pending add`
and `--help` ≤ 0.15 s. Where the time goes: `python -X importtime -m ordertrack --help`.

    python scripts/bench_startup.py [--repeat 20]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def median_time(args: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(args, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    repeat = parser.parse_args().repeat
    cli = [sys.executable, "-m", "ordertrack"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ORDERTRACK_DB": f"{tmp}/bench.db", "ORDERTRACK_OUTPUT": "log"}
        for name in ("TELEGRAM_BOT_TOKEN", "ORDERTRACK_PING_URL", "ORDERTRACK_CONFIG"):
            env.pop(name, None)
        subprocess.run([*cli, "track", "add", "INFY"], env=env, capture_output=True, check=True)
        numbers = iter(range(1, 10**6))
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import typer'", [sys.executable, "-c", "import typer"]),
            ("ordertrack --version", [*cli, "--version"]),
            ("ordertrack --help", [*cli, "--help"]),
            ("ordertrack status --json", [*cli, "status", "--json"]),
        ]
        figures = [(name, median_time(args, env, repeat)) for name, args in cases]
        adds = []
        for _ in range(repeat):
            adds.append(median_time([*cli, "pending", "add", str(next(numbers)), "--symbol",
                                     "INFY", "--side", "buy", "--qty", "1"], env, 1))
        figures.append(("ordertrack pending add", statistics.median(adds)))
    floor = figures[0][1]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, medians of {repeat}")
    print(f"  {'command':32} {'seconds':>8} {'× pass':>7}")
    for name, seconds in figures:
        print(f"  {name:32} {seconds:8.3f} {seconds / floor:7.1f}")


if __name__ == "__main__":
    main()
