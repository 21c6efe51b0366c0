"""Command hooks that cannot block their channel (#23 item 2; rows 2, 4, 5): a hook is finished
when its own process exits, an overrunning hook is killed with its whole process group, and its
output is read in bounded chunks, only the tail kept. Real processes: shell scripts as hooks."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ordertrack.notify import hookrun
from tests.peak import peak_mib

SCRIPTS = Path(__file__).parent.parent / "scripts"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper does not count: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    ends = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < ends:
        time.sleep(0.05)
    return not alive(pid)


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a test's hooks left behind, killed at the end whatever happens."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def configure(tmp_path: Path, monkeypatch, script: str, timeout: float = 2.0) -> None:
    hook = tmp_path / "hook.sh"
    hook.write_text(script)
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        f"[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = {timeout}\n"
        f'[[hook]]\ncommand = ["/bin/sh", {json.dumps(str(hook))}]\n'
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))


def one_event(cli) -> None:
    """The hook sees the feed from now on; then one event (a registration) for it."""
    assert cli("outbox", "flush").code == 0
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5").code == 0


def test_a_background_child_does_not_hold_the_hook_open(
    cli, broker, tmp_path, monkeypatch, sql, leftovers
):
    """Row 2: `(sleep 30 &)` keeps the output pipe open; the hook itself exited 0 at once."""
    pid_file = tmp_path / "child.pid"
    configure(
        tmp_path, monkeypatch, f"(sleep 30 & echo $! > {pid_file})\necho handled\n", timeout=5
    )
    one_event(cli)
    started = time.monotonic()
    flushed = cli("outbox", "flush")
    took = time.monotonic() - started
    leftovers.append(int(pid_file.read_text()))
    assert flushed.code == 0, flushed.err
    assert took < 3  # not the 5-second timeout: a loaded machine has room
    assert sql("SELECT status, last_error FROM webhook_deliveries") == [("SENT", "output: handled")]
    assert alive(leftovers[0])  # a background job the hook started is its own business


def test_an_overrunning_hook_is_killed_with_its_grandchild(
    cli, broker, tmp_path, monkeypatch, sql, leftovers
):
    """Row 4: `sleep 300 & wait` overruns; the whole group goes, not only the shell."""
    pid_file = tmp_path / "grandchild.pid"
    configure(
        tmp_path, monkeypatch, f"echo started\nsleep 300 &\necho $! > {pid_file}\nwait\n", timeout=1
    )
    one_event(cli)
    flushed = cli("outbox", "flush")
    leftovers.append(int(pid_file.read_text()))
    assert flushed.code == 6
    [(status, error)] = sql("SELECT status, last_error FROM webhook_deliveries")
    assert status == "UNKNOWN"
    assert error == "the hook ran longer than 1 s and was stopped; output: started"
    assert gone_within(leftovers[0], 2.0)


def test_a_hook_printing_hundreds_of_megabytes_keeps_only_its_tail(
    broker, tmp_path, monkeypatch, sql
):
    """Row 5: 200 MB of output; the process's peak memory stays far below it, the tail kept."""
    configure(
        tmp_path,
        monkeypatch,
        "head -c 200000000 /dev/zero | tr '\\0' x\necho\necho 'the last words'\n",
        timeout=60,
    )
    env = dict(os.environ)
    cli = [sys.executable, "-m", "ordertrack"]
    subprocess.run([*cli, "outbox", "flush"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*cli, "pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5"],
        env=env,
        check=True,
        capture_output=True,
    )
    code, peak = peak_mib([*cli, "outbox", "flush"], env)
    assert code == 0
    assert peak < 100, f"peak {peak:.0f} MiB"
    [(status, error)] = sql("SELECT status, last_error FROM webhook_deliveries")
    assert status == "SENT"
    assert error.endswith("xxx\\nthe last words") and len(error) <= 310 + len("output: ")


# ---- the runner itself (ordertrack/notify/hookrun.py) -----------------------------------------


def test_stdin_larger_than_a_pipe_reaches_the_hook_whole():
    """The event is fed as the hook reads, beside its output: neither side can deadlock."""
    event = b"x" * (1 << 20)
    ran = hookrun.run(["/bin/sh", "-c", "wc -c; echo done >&2"], event, 10, dict(os.environ))
    assert ran.code == 0 and ran.output.split() == [b"1048576", b"done"]


def test_a_hook_that_ignores_its_stdin_still_finishes():
    ran = hookrun.run(["/bin/sh", "-c", "exit 3"], b"x" * (1 << 20), 10, dict(os.environ))
    assert (ran.code, ran.output) == (3, b"")


def test_a_hook_that_cannot_start_raises_oserror():
    with pytest.raises(OSError):
        hookrun.run(["/nonexistent/hook"], b"{}", 1, dict(os.environ))
