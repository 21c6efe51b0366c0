"""`ordertrack schedule`: IST job times as host-local cron lines with absolute paths, the
crontab block installed idempotently, systemd user timers as the alternative."""

import os
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack.errors import ExitCode
from ordertrack.jobs import schedule
from ordertrack.timeutil import IST

REPO = Path(__file__).parent.parent
UTC, KOLKATA, NEW_YORK = ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
WINTER, SUMMER = date(2026, 1, 5), date(2026, 7, 6)
VERIFY, RECONCILE, EOD, LISTEN = schedule.JOBS


def specs(job, zone, week):
    return schedule.cron_fields(schedule.host_firings(job, zone, week))


@pytest.mark.parametrize(
    ("zone", "week", "verify", "reconcile", "eod"),
    [
        (
            UTC,
            WINTER,
            ["45 3-9 * * 1-5", "15 4-9 * * 1-5", "0 10 * * 1-5"],
            ["15 10 * * 1-5"],
            ["30 12 * * 1-5"],
        ),
        (
            KOLKATA,
            WINTER,
            ["15 9-15 * * 1-5", "45 9-14 * * 1-5", "30 15 * * 1-5"],
            ["45 15 * * 1-5"],
            ["0 18 * * 1-5"],
        ),
        # EST = UTC-5: 09:15 IST is 22:45 the evening before (Sunday..Thursday)
        (
            NEW_YORK,
            WINTER,
            [
                "15 0-4 * * 1-5",
                "45 0-4 * * 1-5",
                "0 5 * * 1-5",
                "45 22,23 * * 0-4",
                "15 23 * * 0-4",
            ],
            ["15 5 * * 1-5"],
            ["30 7 * * 1-5"],
        ),
        # EDT = UTC-4: an hour later on the host clock
        (
            NEW_YORK,
            SUMMER,
            ["15 0-5 * * 1-5", "45 0-5 * * 1-5", "0 6 * * 1-5", "45 23 * * 0-4"],
            ["15 6 * * 1-5"],
            ["30 8 * * 1-5"],
        ),
    ],
)
def test_ist_times_become_host_local_fields(zone, week, verify, reconcile, eod):
    assert specs(VERIFY, zone, week) == verify
    assert specs(RECONCILE, zone, week) == reconcile
    assert specs(EOD, zone, week) == eod


@pytest.mark.parametrize(
    ("zone", "week"), [(UTC, WINTER), (KOLKATA, WINTER), (NEW_YORK, WINTER), (NEW_YORK, SUMMER)]
)
def test_every_line_fires_exactly_at_the_ist_moments(zone, week):
    """Walk the week minute by minute through the generated lines: the firings, seen in IST,
    are exactly the job's IST times on Monday..Friday."""
    block = schedule.cron_block(schedule.EXAMPLE_PATHS, zone, "z", week)
    for job in schedule.JOBS:
        lines = [l for l in block.splitlines() if f" {job.command} >> " in l]
        fired = set()
        for line in lines:
            t = datetime.combine(week, time(0), IST).astimezone(zone)
            while (when := schedule.next_firing(line, zone, t)) and when.astimezone(
                IST
            ).date() <= date.fromordinal(week.toordinal() + 4):
                fired.add(when.astimezone(IST).replace(tzinfo=None))
                t = when
        expected = {
            datetime.combine(date.fromordinal(week.toordinal() + d), t)
            for d in range(5)
            for t in job.times
        }
        assert fired == expected, job.command


def test_lines_use_absolute_paths_and_no_variables():
    paths = schedule.Paths(
        Path("/opt/o t/bin/ordertrack"),
        Path("/home/a/env"),
        Path("/var/log/o%d.log"),
        db=Path("/data/ot.db"),
    )
    line = schedule.command_line(VERIFY, paths)
    assert line == (
        "set -a; . /home/a/env; set +a; '/opt/o t/bin/ordertrack' --db /data/ot.db "
        "verify >> /var/log/o\\%d.log 2>&1"
    )  # cron turns \\% into %


def test_dst_zones_are_flagged_in_the_block():
    assert "daylight saving" in schedule.cron_block(schedule.EXAMPLE_PATHS, NEW_YORK, "NY", WINTER)
    assert "daylight saving" not in schedule.cron_block(schedule.EXAMPLE_PATHS, UTC, "UTC", WINTER)


def test_crontab_example_is_the_generated_block_for_a_utc_host():
    assert (REPO / "crontab.example").read_text() == schedule.example()


def test_host_zone_comes_from_tz_first():
    assert schedule.host_zone({"TZ": ":America/New_York"})[1] == "America/New_York"


def test_systemd_units_carry_the_ist_zone_and_persistent_eod():
    units = schedule.systemd_units(schedule.EXAMPLE_PATHS)
    assert set(units) == {
        f"ordertrack-{j.command}.{k}" for j in schedule.JOBS for k in ("service", "timer")
    }
    eod_timer = units["ordertrack-eod.timer"]
    assert "OnCalendar=Mon..Fri *-*-* 18:00:00 Asia/Kolkata" in eod_timer
    assert "Persistent=true" in eod_timer
    assert "Persistent=false" in units["ordertrack-verify.timer"]
    assert units["ordertrack-verify.timer"].count("OnCalendar=") == len(VERIFY.times)
    service = units["ordertrack-verify.service"]
    assert "EnvironmentFile=/home/trader/.config/ordertrack/env" in service
    assert "ExecStart=/home/trader/ordertrack/.venv/bin/ordertrack verify" in service


# ---- the CLI, against a fake crontab ---------------------------------------------------------


def test_install_is_idempotent_and_leaves_the_rest_alone(cli, fake_crontab, env_file, tmp_path):
    fake_crontab.write_text("MAILTO=me\n5 4 * * * backup.sh\n")
    for _ in range(2):
        result = cli("schedule", "install")
        assert result.code == 0, result.err
    text = fake_crontab.read_text()
    assert text.startswith("MAILTO=me\n5 4 * * * backup.sh\n")
    assert text.count(schedule.BEGIN) == 1 and text.count(schedule.END) == 1
    assert f". {env_file};" in text
    assert f">> {tmp_path / 'data' / 'ordertrack.log'} 2>&1" in text  # beside the env's db
    assert "$" not in text and "CRON_TZ" not in text
    assert (tmp_path / "data").is_dir()
    assert cli("schedule", "remove").code == 0
    assert fake_crontab.read_text() == "MAILTO=me\n5 4 * * * backup.sh\n"


def test_install_into_an_empty_crontab(cli, fake_crontab, env_file):
    assert cli("schedule", "install").code == 0
    assert fake_crontab.read_text().startswith(schedule.BEGIN)


@pytest.mark.parametrize("problem", ["missing", "readable"])
def test_install_refuses_an_unsafe_env_file(cli, fake_crontab, env_file, problem):
    if problem == "missing":
        env_file.unlink()
    else:
        env_file.chmod(0o644)
    result = cli("schedule", "install")
    assert result.code == ExitCode.CONFIG
    assert ("does not exist" if problem == "missing" else "chmod 600") in result.err
    assert not fake_crontab.exists()


def test_print_shows_each_line_with_its_next_ist_firing(cli, fake_crontab, env_file):
    result = cli("schedule", "print")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    jobs = [i for i, l in enumerate(lines) if not l.startswith("#")]
    assert jobs and all(
        lines[i + 1].startswith("#   next: ") and lines[i + 1].endswith(" IST") for i in jobs
    )
    assert not fake_crontab.exists()


def test_systemd_install_and_remove(cli, fake_crontab, env_file, tmp_path):
    result = cli("schedule", "install", "--systemd")
    assert result.code == 0, result.err
    assert "loginctl enable-linger" in result.out
    units = tmp_path / "home" / ".config" / "systemd" / "user"
    assert len(list(units.glob("ordertrack-*"))) == 8  # verify, reconcile, eod, listen
    assert "Asia/Kolkata" in (units / "ordertrack-verify.timer").read_text()
    assert cli("schedule", "remove", "--systemd").code == 0
    assert not list(units.glob("ordertrack-*"))


# ---- a crontab is bytes (issue 23 items 8, 9) ------------------------------------------------

USER_CRONTAB = b"MAILTO=me\r\n# caf\xe9 (Latin-1)\n\n\n5 4 * * * backup.sh\t"  # no final newline


def test_install_and_remove_keep_every_byte_of_the_rest(cli, fake_crontab, env_file):
    fake_crontab.write_bytes(USER_CRONTAB)
    for _ in range(2):
        result = cli("schedule", "install")
        assert result.code == 0, result.err
        installed = fake_crontab.read_bytes()
        assert installed.startswith(USER_CRONTAB + b"\n" + schedule.BEGIN.encode())
        assert installed.count(schedule.END.encode()) == 1
    result = cli("schedule", "remove")
    assert result.code == 0, result.err
    assert fake_crontab.read_bytes() == USER_CRONTAB


def test_lines_after_the_block_stay_where_they_are(cli, fake_crontab, env_file):
    fake_crontab.write_bytes(b"A=1\n")
    assert cli("schedule", "install").code == 0
    fake_crontab.write_bytes(fake_crontab.read_bytes() + b"7 7 * * * later.sh\r\n")
    assert cli("schedule", "install").code == 0
    assert fake_crontab.read_bytes().endswith(schedule.END.encode() + b"\n7 7 * * * later.sh\r\n")
    assert cli("schedule", "remove").code == 0
    assert fake_crontab.read_bytes() == b"A=1\n7 7 * * * later.sh\r\n"


@given(st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")))
@settings(max_examples=300, deadline=None)
def test_install_then_remove_is_the_identity(user):
    block = schedule.cron_block(schedule.EXAMPLE_PATHS, UTC, "UTC", WINTER)
    installed = schedule.replace_block(user, block)
    assert schedule.replace_block(installed, block) == installed  # idempotent
    assert schedule.our_block(installed) == block.splitlines()[1:-1]
    assert schedule.replace_block(installed, "") == user


def test_read_env_file_sees_what_sh_sets(tmp_path, monkeypatch) -> None:
    """The env file as cron's sh sources it: compared with a real `sh`, including an unquoted
    leading ~ (expanded) and a quoted one (kept)."""
    import subprocess

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    env_file = tmp_path / "env"
    env_file.write_text(
        "ORDERTRACK_CONFIG=~/.config/ordertrack/config.toml\n"
        "export ORDERTRACK_DB='~/literal.db'\n"
        'TELEGRAM_CHAT_ID="1001"\n'
        "ORDERTRACK_LOG_DIR=~\n"
    )
    shown = subprocess.run(
        ["sh", "-c", f'set -a; . "{env_file}"; env -0'],
        capture_output=True,
        check=True,
        env={"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    ).stdout.decode()
    by_sh = dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)
    read = schedule.read_env_file(env_file)
    assert read == {name: by_sh[name] for name in read}
    assert read["ORDERTRACK_CONFIG"] == str(tmp_path / "home" / ".config/ordertrack/config.toml")
    assert read["ORDERTRACK_DB"] == "~/literal.db"


@pytest.mark.parametrize("value", ['"~/ot/x.db"', "~/ot/x.db", "'~/ot/x.db'"])
def test_the_database_of_a_line_takes_crons_home_for_a_tilde_quoted_or_not(
    tmp_path, monkeypatch, value
):
    """Cron's HOME is the passwd entry's: `~` in the env file means that home, whether sh
    expands it (unquoted) or ordertrack does (quoted), not the installing shell's."""
    env_file = tmp_path / "env"
    env_file.write_text(f"ORDERTRACK_DB={value}\n")
    monkeypatch.setenv("HOME", str(tmp_path / "shell-home"))
    monkeypatch.setattr(schedule, "passwd_home", lambda: "/srv/trader")
    assert schedule.database_of(env_file) == Path("/srv/trader/ot/x.db")
    assert os.environ["HOME"] == str(tmp_path / "shell-home")  # given back
