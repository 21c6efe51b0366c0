"""Benchmark: hooks that cannot block their channel and replies that cannot swell (issue 23).

Runs `ordertrack outbox flush` as a whole process, one event waiting, against:

  - a [[hook]] that exits at once leaving a background child (`(sleep 30 &)`),
  - a [[hook]] that overruns its 1-second timeout with a grandchild (`sleep 300 & wait`),
  - a [[hook]] printing --hook-mb MB,
  - a [[webhook]] answering 200 with a --reply-mb MB body, and with a gzip body that inflates
    to --reply-mb MB (about a thousandth of it on the wire),

and prints, for each, the delivery's status, the run's time, the processes left afterwards (the
hook, the child it started, anything else in its process group), and the run's peak resident
memory (wait4's accounting, forked from a small launcher as scripts/bench_verify.py does).
Target: under 150 MB.

Everything is on 127.0.0.1, in a temporary folder; every run has a timeout and every process
the hooks leave behind is killed before the script ends.

    python scripts/bench_bounds.py [--hook-mb 400] [--reply-mb 300]
"""

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import webhook_receiver  # noqa: E402
from tests.peak import peak_mib  # noqa: E402

SECRET = "bench-bounds-secret"
CLI = [sys.executable, "-m", "ordertrack"]


def _state(stat: Path) -> tuple[str, int] | None:
    """(state letter, process group) of one /proc/<pid>/stat, None when the process is gone."""
    try:
        fields = stat.read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[2])


def left(hook: int, child: int) -> tuple[int, int]:
    """(running, zombie) among the hook, the child it recorded and every other process in the
    hook's own process group (the hook's pid names it when the hook leads its group)."""
    found = {pid: _state(Path(f"/proc/{pid}/stat")) for pid in (hook, child)}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        state = _state(stat)
        if state is not None and state[1] == hook:
            found[int(stat.parent.name)] = state
    states = [state[0] for state in found.values() if state is not None]
    return sum(s != "Z" for s in states), sum(s == "Z" for s in states)


class Case:
    """One database and config, one event waiting for its channel."""

    def __init__(self, root: Path, name: str, channel: str, timeout: float):
        self.folder = root / name
        self.folder.mkdir()
        (self.folder / "broker").mkdir()
        config = self.folder / "ordertrack.toml"
        config.write_text(
            f"[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = {timeout}\n{channel}"
        )
        self.env = {
            **os.environ,
            "ORDERTRACK_DB": str(self.folder / "bench.db"),
            "ORDERTRACK_CONFIG": str(config),
            "ORDERTRACK_BROKER": "file",
            "ORDERTRACK_BROKER_DIR": str(self.folder / "broker"),
            "BENCH_SECRET": SECRET,
        }
        for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "ORDERTRACK_PING_URL"):
            self.env.pop(name, None)
        self.run("outbox", "flush")  # the channel sees the feed from here on
        self.run("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5")

    def run(self, *args: str) -> None:
        subprocess.run([*CLI, *args], env=self.env, capture_output=True, timeout=120, check=False)

    def flush(self) -> tuple[float, float]:
        """(seconds, peak MiB) of one `outbox flush`."""
        started = time.perf_counter()
        _, peak = peak_mib([*CLI, "outbox", "flush"], self.env)
        return time.perf_counter() - started, peak

    def status(self) -> str:
        """The delivery's status, as `outbox list` shows it."""
        with sqlite3.connect(self.folder / "bench.db") as db:
            found = db.execute("SELECT status FROM webhook_deliveries").fetchall()
        return ", ".join(status for (status,) in found) or "no delivery"


def hook(script: Path, text: str) -> str:
    script.write_text(text)
    return f'[[hook]]\ncommand = ["/bin/sh", {json.dumps(str(script))}]\n'


def hook_cases(root: Path, hook_mb: int) -> list[str]:
    lines, pids = [], []
    try:
        pid = root / "background.pid"
        case = Case(
            root,
            "background",
            hook(
                root / "background.sh",
                f"echo $$ > {pid}.hook\n(sleep 30 & echo $! > {pid})\necho handled\n",
            ),
            2,
        )
        seconds, peak = case.flush()
        pids.append(int(pid.read_text()))
        running, zombies = left(int(Path(f"{pid}.hook").read_text()), pids[-1])
        lines.append(
            f"hook leaving a background child: {case.status()} in {seconds:.2f} s;"
            f" left afterwards: {running} running (the background child is left to"
            f" run), {zombies} zombie; peak {peak:.0f} MiB"
        )
        pid = root / "grandchild.pid"
        case = Case(
            root,
            "overrun",
            hook(
                root / "overrun.sh", f"echo $$ > {pid}.hook\nsleep 300 &\necho $! > {pid}\nwait\n"
            ),
            1,
        )
        seconds, peak = case.flush()
        pids.append(int(pid.read_text()))
        hook_pid = int(Path(f"{pid}.hook").read_text())
        running, zombies = left(hook_pid, pids[-1])
        ends = time.monotonic() + 2.0  # the killed grandchild is init's to reap
        while zombies and not running and time.monotonic() < ends:
            time.sleep(0.05)
            running, zombies = left(hook_pid, pids[-1])
        lines.append(
            f"hook overrunning with a grandchild: {case.status()} in {seconds:.2f} s;"
            f" left afterwards: {running} running, {zombies} zombie (after init's"
            f" reaping, ≤ 2 s); peak {peak:.0f} MiB"
        )
        case = Case(
            root,
            "loud",
            hook(
                root / "loud.sh", f"head -c {hook_mb * 1000 * 1000} /dev/zero | tr '\\0' x\necho\n"
            ),
            120,
        )
        seconds, peak = case.flush()
        lines.append(
            f"hook printing {hook_mb} MB: {case.status()} in {seconds:.2f} s; peak {peak:.0f} MiB"
        )
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # a child the bench's hooks started
                os.kill(pid, signal.SIGKILL)
    return lines


def webhook_cases(root: Path, reply_mb: int) -> list[str]:
    webhook_receiver.HUGE = reply_mb * 1000 * 1000
    webhook_receiver.bomb(webhook_receiver.HUGE)
    receiver = webhook_receiver.Receiver(SECRET).start()
    channel = f'[[webhook]]\nurl = "{receiver.url}"\nsecret_env = "BENCH_SECRET"\n'
    packed = len(webhook_receiver.bomb(webhook_receiver.HUGE)) // 1000
    lines = []
    try:
        for answer, what in (
            ("ok", "2-byte body"),
            ("huge", f"{reply_mb} MB body"),
            ("bomb", f"{packed} KB gzip body inflating to {reply_mb} MB"),
        ):
            case = Case(root, f"webhook-{answer}", channel, 60)
            receiver.script = [answer]
            seconds, peak = case.flush()
            lines.append(
                f"webhook answering 200 with a {what}: {case.status()} in"
                f" {seconds:.2f} s; peak {peak:.0f} MiB"
            )
    finally:
        receiver.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hook-mb", type=int, default=400)
    parser.add_argument("--reply-mb", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ordertrack-bounds-") as tmp:
        root = Path(tmp)
        _, floor = peak_mib([sys.executable, "-c", "pass"], dict(os.environ))
        print(f"python -c pass: peak {floor:.0f} MiB")
        for line in [*hook_cases(root, args.hook_mb), *webhook_cases(root, args.reply_mb)]:
            print(line, flush=True)


if __name__ == "__main__":
    main()
