"""systemd units written to systemd's rules (issue 23 item 5): ExecStart's words quoted, `%`
doubled everywhere specifiers are expanded, `$` doubled in arguments, so a virtualenv under a
path with a space, a `%` or a `$` runs what was installed. Checked by systemd itself
(`systemd-analyze verify`, which needs no running systemd) when it is on the machine, and by
parsing the units back with systemd's quoting rules always."""

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack.errors import ConfigError
from ordertrack.jobs import schedule

HOSTILE = "o t%h$HOME"  # a space, a specifier and a variable in one folder name


def hostile_paths(root: Path) -> schedule.Paths:
    venv = root / HOSTILE / ".venv" / "bin"
    venv.mkdir(parents=True)
    executable = venv / "ordertrack"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    env_file = root / HOSTILE / "env"
    env_file.write_text("ORDERTRACK_BROKER=file\n")
    return schedule.Paths(
        executable,
        env_file,
        root / HOSTILE / "ordertrack.log",
        db=root / HOSTILE / r"""o 't\".db""",
        config=root / HOSTILE / "c%d.toml",
    )


def unit_values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    paths = hostile_paths(tmp_path)
    folder = tmp_path / "units"
    folder.mkdir()
    for name, text in schedule.systemd_units(paths).items():
        (folder / name).write_text(text)
    for job in schedule.JOBS:
        names = [str(folder / f"ordertrack-{job.command}.{kind}") for kind in ("service", "timer")]
        done = subprocess.run(
            ["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stderr == "", done.stderr  # not even a warning


def test_the_units_parse_back_to_the_installed_paths(tmp_path):
    paths = hostile_paths(tmp_path)
    service = unit_values(schedule.systemd_units(paths)["ordertrack-verify.service"])
    assert schedule.systemd_words(service["ExecStart"]) == [
        str(paths.executable),
        "--db",
        str(paths.db),
        "--config",
        str(paths.config),
        "verify",
    ]
    assert schedule.systemd_path(service["EnvironmentFile"]) == str(paths.env_file)
    assert schedule.systemd_path(service["StandardOutput"]) == f"append:{paths.log_file}"
    assert "%h" not in service["ExecStart"].replace("%%", "")  # never the home folder


def test_systemd_quoting_by_hand():
    """The parser follows systemd.syntax(7), so its answers here are systemd's."""
    assert schedule.systemd_words('"/a b/x" --db "/d/$$H%%" plain') == [
        "/a b/x",
        "--db",
        "/d/$H%",
        "plain",
    ]
    assert schedule.systemd_words(r"'/a \"q\" b' \\x") == ['/a "q" b', "\\x"]


NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


@given(NAMES, NAMES)
@settings(max_examples=300, deadline=None)
def test_any_argument_round_trips(folder, name):
    folder = folder.replace("/", "_")
    paths = schedule.Paths(
        Path("/opt/venv/bin/ordertrack"),
        Path(f"/e/{folder}"),
        Path(f"/l/{name}"),
        db=Path(f"/d/{folder}/{name}"),
    )
    if folder != folder.rstrip(" \t") or name != name.rstrip(" \t"):
        with pytest.raises(ConfigError, match="ends with a space"):  # systemd would strip it
            schedule.systemd_units(paths)
        return
    service = unit_values(schedule.systemd_units(paths)["ordertrack-eod.service"])
    assert schedule.systemd_words(service["ExecStart"])[2] == str(paths.db)
    assert schedule.systemd_path(service["EnvironmentFile"]) == str(paths.env_file)
    assert schedule.systemd_path(service["StandardOutput"]) == f"append:{paths.log_file}"


@pytest.mark.parametrize(
    "bad", ['/o"t/ordertrack', "/o't/ordertrack", "/o\\t/ordertrack", "/o\nt/ordertrack"]
)
def test_an_executable_systemd_cannot_run_is_refused(bad):
    paths = schedule.Paths(Path(bad), Path("/e/env"), Path("/l/log"))
    with pytest.raises(ConfigError, match="systemd"):
        schedule.systemd_units(paths)
