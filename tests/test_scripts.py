"""The benchmark scripts run (at a tiny size), so they cannot rot unnoticed."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent.parent / "scripts"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        (
            "bench_verify.py",
            ["--orders", "60", "--repeat", "1", "--singles", "2"],
            "order-book reads per verify run:      1",
        ),
        ("bench_startup.py", ["--repeat", "1"], "ordertrack pending add"),
        ("bench_bot.py", ["--repeat", "1"], "Bot API requests per run:    1"),
        (
            "bench_bounds.py",
            ["--hook-mb", "1", "--reply-mb", "1"],
            "hook overrunning with a grandchild: UNKNOWN",
        ),
        ("bench_eod.py", ["--days", "3", "--orders", "5", "--repeat", "1"], "status (median of 1)"),
        (
            "bench_report.py",
            ["--days", "3", "--orders", "5", "--repeat", "1"],
            "report --week (median of 1)",
        ),
        (
            "bench_accounts.py",
            ["--sizes", "1,2", "--orders", "2", "--repeat", "1"],
            "| 2 | 2 | 2 |",
        ),
        (
            "bench_retention.py",
            ["--days", "3", "--orders", "5", "--keep", "1"],
            "webhook_deliveries",
        ),
        (
            "reliability_report.py",
            [
                "--orders",
                "5",
                "--verifies",
                "2",
                "--rounds",
                "1",
                "--trials",
                "1",
                "--phases",
                "1",
                "--chats",
                "1",
                "--workers",
                "3",
            ],
            "| total ",
        ),
    ],
)
def test_benchmark_scripts_run(script, args, expect):
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout
