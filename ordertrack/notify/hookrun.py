"""Running one command hook: its own process group, a deadline, and a bounded output tail.

The hook is finished when its own process exits. A background job it leaves behind (`cmd &`)
may keep the output pipe open; that pipe is not waited for: what it has written by then is
read, and the rest is not ours to read. At the deadline the whole process group is killed
(SIGKILL), the hook's children with it, and the hook is reaped, so nothing of that group is
left running or as a zombie. stdout and stderr share one pipe and are read in chunks, keeping
only the last KEEP bytes: a hook printing gigabytes costs a few hundred KiB at most.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ordertrack.net import monotonic

CHUNK = 65536
KEEP = 16384  # bytes of output kept: ample for the 300 characters a delivery stores
TICK = 0.02  # seconds between checks that the hook has exited while its pipe stays open
DRAIN = 0.05  # seconds spent reading what is left in the pipe once the hook has exited


@dataclass(frozen=True)
class Ran:
    code: int | None  # None: stopped at the deadline
    output: bytes  # the last KEEP bytes of stdout and stderr together


class _Tail:
    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > KEEP:
            del self.data[:-KEEP]


def run(command: Sequence[str], stdin: bytes, timeout: float, env: dict[str, str]) -> Ran:
    """Run `command` with `stdin`; raises OSError when it cannot be started."""
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None
    tail = _Tail()
    try:
        code = _follow(process, stdin, monotonic() + timeout, tail)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): the hook's group goes with us
        _kill_group(process)
        raise
    finally:
        for pipe in (process.stdin, process.stdout):
            if not pipe.closed:
                pipe.close()
    return Ran(code, bytes(tail.data))


def _follow(process: subprocess.Popen[bytes], stdin: bytes, ends: float, tail: _Tail) -> int | None:
    """Feed stdin and read output until the hook exits (its exit code) or `ends` (None)."""
    assert process.stdin is not None and process.stdout is not None
    out, into = process.stdout.fileno(), process.stdin.fileno()
    os.set_blocking(out, False)
    os.set_blocking(into, False)
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as selector:
        selector.register(out, selectors.EVENT_READ)
        if pending:
            selector.register(into, selectors.EVENT_WRITE)
        else:
            process.stdin.close()
        while process.poll() is None:
            left = ends - monotonic()
            if left <= 0:
                _kill_group(process)
                return None
            if not selector.get_map():  # output ended and stdin written: only the exit left
                _wait(process, left)
                continue
            for key, _ in selector.select(min(left, TICK)):
                if key.fd == out and not _read(out, tail):
                    selector.unregister(out)
                elif key.fd == into:
                    pending = _write(into, pending)
                    if not pending:
                        selector.unregister(into)
                        process.stdin.close()
    _drain(out, tail)
    return process.returncode


def _wait(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(seconds)


def _read(fd: int, tail: _Tail) -> bool:
    """One chunk into the tail; False at end of output."""
    try:
        chunk = os.read(fd, CHUNK)
    except BlockingIOError:
        return True
    tail.add(chunk)
    return bool(chunk)


def _write(fd: int, pending: memoryview) -> memoryview:
    """Part of stdin; what is left (nothing when the hook closed its stdin)."""
    try:
        return pending[os.write(fd, pending[:CHUNK]) :]
    except BlockingIOError:
        return pending
    except (BrokenPipeError, OSError):  # the hook does not read its stdin: its choice
        return memoryview(b"")


def _drain(fd: int, tail: _Tail) -> None:
    """What the exited hook left in the pipe, for at most DRAIN seconds: a background child
    holding the pipe open and printing on must not hold the run."""
    ends = monotonic() + DRAIN
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := ends - monotonic()) > 0 and selector.select(left):
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                return
            tail.add(chunk)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the hook's process group (its children too), then reap the hook."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is already gone
        pass
    except PermissionError:  # the hook changed its uid: at least the hook itself
        process.kill()
    process.wait()
