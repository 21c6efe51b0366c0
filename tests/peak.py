"""A command's peak resident memory, measured as scripts/bench_verify.py does: forked from a
small launcher (a child's peak counts its forker's memory), read from wait4's accounting."""

import subprocess
import sys

LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_mib(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    """(exit code, peak resident MiB) of one run of `args`."""
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    return int(out[0]), int(out[1]) / 1024
