"""A host built in a folder for `schedule.Host`: a /proc with the given processes, systemd
running or not, users that linger. Lets the cron/systemd checks be tested without a daemon."""

from pathlib import Path

from ordertrack.jobs import schedule


def fake_host(
    root: Path,
    *processes: str,
    systemd: bool = False,
    lingering: tuple[str, ...] = (),
    euid: int = 1000,
    installed: tuple[str, ...] = ("cron",),
) -> schedule.Host:
    """`processes`: names as /proc/PID/comm shows them; "busybox crond" is busybox running an
    applet; a trailing " (zombie)" marks a dead one."""
    proc = root / "proc"
    (proc / "self").mkdir(parents=True, exist_ok=True)  # not a pid: ignored like the real one
    for pid, text in enumerate(processes, start=100):
        name, _, state = text.partition(" (")
        words = name.split()
        folder = proc / str(pid)
        folder.mkdir()
        (folder / "comm").write_text(words[0] + "\n")
        (folder / "cmdline").write_bytes(b"\0".join(w.encode() for w in words) + b"\0")
        (folder / "stat").write_text(f"{pid} ({words[0]}) {'Z' if state else 'S'} 1 1 1\n")
    run = root / "run" / "systemd" / "system"
    if systemd:
        run.mkdir(parents=True)
    linger = root / "linger"
    linger.mkdir()
    for user in lingering:
        (linger / user).touch()
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for program in installed:
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    return schedule.Host(
        proc=proc, systemd_running=run, linger=linger, euid=euid, path=str(bin_dir)
    )
