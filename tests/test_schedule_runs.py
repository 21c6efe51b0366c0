"""Can the installed schedule run on this host (issue 22 item 1)? A crontab needs a cron daemon;
systemd user timers need systemd, enabled timers and a lingering user. Checked against a host
built in a folder (tests/fake_host.py); tests/test_schedule_cron.py checks the real daemon."""

from pathlib import Path

import pytest

from ordertrack.errors import ExitCode
from ordertrack.jobs import schedule
from tests.fake_host import fake_host
from tests.helpers import unwrapped


@pytest.mark.parametrize(
    ("processes", "found"),
    [
        (("init", "sshd", "cron"), [102]),
        (("crond",), [100]),
        (("cronie",), [100]),
        (("busybox crond -f",), [100]),
        (("busybox sh", "anacron", "crontab -e", "cron-apt"), []),
        (("cron (zombie)",), []),
        ((), []),
    ],
)
def test_cron_daemons_are_found_in_proc(tmp_path, processes, found):
    assert schedule.cron_daemons(fake_host(tmp_path, *processes)) == found


def test_a_missing_proc_is_no_daemon(tmp_path):
    assert schedule.cron_daemons(schedule.Host(proc=tmp_path / "nowhere")) == []


@pytest.mark.parametrize(
    ("euid", "systemd", "installed", "fix"),
    [
        (1000, True, ("cron",), "sudo systemctl enable --now cron"),
        (0, True, ("cron",), "systemctl enable --now cron"),
        (1000, True, ("crond",), "sudo systemctl enable --now crond"),
        (1000, False, ("cron",), "start it: sudo service cron start (this host has no systemd)"),
        (
            1000,
            True,
            (),
            "sudo apt-get install cron (or your system's cron package), then sudo "
            "systemctl enable --now cron",
        ),
        (
            0,
            True,
            (),
            "apt-get install cron (or your system's cron package), then systemctl "
            "enable --now cron",
        ),
    ],
)
def test_no_cron_daemon_is_trouble_with_the_fix(tmp_path, euid, systemd, installed, fix):
    host = fake_host(tmp_path, "sshd", systemd=systemd, euid=euid, installed=installed)
    trouble = schedule.cron_trouble(host)
    assert trouble == schedule.Trouble(
        "no cron daemon is running, so the crontab's lines never run", fix
    )


def test_a_running_cron_is_no_trouble(tmp_path):
    assert schedule.cron_trouble(fake_host(tmp_path, "cron")) is None


def enable(units: Path, *jobs: str) -> None:
    """What `systemctl --user enable` does: a link in timers.target.wants to the unit file."""
    wants = units / "timers.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        (units / f"ordertrack-{job}.timer").touch()
        (wants / f"ordertrack-{job}.timer").symlink_to(units / f"ordertrack-{job}.timer")


def test_systemd_timers_need_systemd_enabled_timers_and_linger(tmp_path):
    units = tmp_path / "units"
    no_systemd = fake_host(tmp_path / "a")
    assert "systemd is not running" in schedule.systemd_trouble(units, "trader", no_systemd).detail
    host = fake_host(tmp_path / "b", systemd=True)
    enable(units, "verify")
    trouble = schedule.systemd_trouble(units, "trader", host)
    assert trouble.detail == "ordertrack-reconcile.timer, ordertrack-eod.timer not enabled"
    (units / "ordertrack-listen.timer").touch()  # installed for a broker that pushes
    trouble = schedule.systemd_trouble(units, "trader", host)
    assert trouble.detail == (
        "ordertrack-reconcile.timer, ordertrack-eod.timer, ordertrack-listen.timer not enabled"
    )
    assert trouble.fix == (
        "systemctl --user enable --now ordertrack-reconcile.timer "
        "ordertrack-eod.timer ordertrack-listen.timer"
    )
    enable(units, "reconcile", "eod", "listen")
    trouble = schedule.systemd_trouble(units, "trader", host)
    assert "trader does not linger" in trouble.detail
    assert trouble.fix == "sudo loginctl enable-linger trader"
    lingering = fake_host(tmp_path / "c", systemd=True, lingering=("trader",))
    assert schedule.systemd_trouble(units, "trader", lingering) is None


# ---- the CLI -----------------------------------------------------------------------------------


def test_install_without_a_cron_daemon_warns_and_still_installs(
    cli, installable, tmp_path, monkeypatch
):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "sshd", systemd=True))
    result = cli("schedule", "install")
    assert result.code == 0
    assert result.err == (
        "ordertrack: no cron daemon is running, so the crontab's lines never "
        "run: sudo systemctl enable --now cron\n"
    )
    assert schedule.BEGIN in installable.read_text()


def test_install_with_cron_running_says_nothing_on_stderr(cli, installable, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    result = cli("schedule", "install")
    assert result.code == 0 and result.err == ""


def test_systemd_install_on_a_host_without_systemd_warns(cli, installable, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host"))
    result = cli("schedule", "install", "--systemd")
    assert result.code == 0
    assert "systemd is not running on this host" in result.err
    assert len(result.err.splitlines()) == 1


def schedule_line(result) -> str:
    return next(line for line in unwrapped(result.out).splitlines() if "schedule:" in line)


def test_doctor_says_no_cron_daemon_is_a_problem(cli, installable, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "cron"))
    assert cli("schedule", "install").code == 0
    assert schedule_line(cli("doctor", "--offline")).startswith("ok       schedule: crontab: ")
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "gone", systemd=True))
    result = cli("doctor", "--offline")
    assert result.code == ExitCode.CONFIG
    assert schedule_line(result) == (
        "PROBLEM  schedule: crontab: no cron daemon is running, so the crontab's lines never "
        "run — fix: sudo systemctl enable --now cron"
    )


def test_doctor_checks_systemd_timers_are_enabled_and_linger(
    cli, installable, tmp_path, monkeypatch
):
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "h1", systemd=True))
    monkeypatch.setenv("USER", "trader")
    monkeypatch.setenv("LOGNAME", "trader")
    assert cli("schedule", "install", "--systemd").code == 0
    line = schedule_line(cli("doctor", "--offline"))
    assert line.startswith("PROBLEM  schedule: systemd timers: ordertrack-verify.timer, "), line
    enable(schedule.systemd_dir(), "verify", "reconcile", "eod", "listen")
    line = schedule_line(cli("doctor", "--offline"))
    assert "trader does not linger" in line and "sudo loginctl enable-linger trader" in line
    monkeypatch.setattr(
        schedule, "HOST", fake_host(tmp_path / "h2", systemd=True, lingering=("trader",))
    )
    line = schedule_line(cli("doctor", "--offline"))
    assert line.startswith("ok       schedule: systemd timers: 4 jobs"), line
