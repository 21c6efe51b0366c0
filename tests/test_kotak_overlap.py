"""Real processes against the fake Kotak Neo: `python -m ordertrack`, and overlapping runs
that must share one login (Kotak keeps one session per account; two logins end each other's)."""

import subprocess
import sys

import pytest

from tests.fake_kotak import LOGIN


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrack", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.fixture
def database(cli) -> None:
    assert (
        cli(
            "pending", "add", "250122000624384", "--symbol", "IDEA", "--side", "buy", "--qty", "1"
        ).code
        == 0
    )


def test_broker_check_and_verify_as_processes_share_one_login(kotak, database):
    code, out, err = finish(start("broker", "check"))
    assert (code, err) == (0, "")
    assert out.startswith("Session: logged in now")
    code, out, err = finish(start("verify"))
    assert (code, err) == (0, "")
    assert "Executed: BUY IDEA 1/1" in out
    assert kotak.logins == 1


@pytest.mark.parametrize("command", [("verify",), ("broker", "check")], ids=["verify", "check"])
def test_two_overlapping_runs_log_in_once(kotak, database, command):
    kotak.login_delay = 0.5  # the second run arrives while the first is logging in
    runs = [start(*command) for _ in range(2)]
    results = [finish(run) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert kotak.logins == 1
    assert kotak.paths().count(LOGIN) == 1


def test_a_failed_login_as_a_process_is_one_line_exit_4(kotak, database, monkeypatch):
    monkeypatch.setenv("KOTAK_MPIN", "000000")
    code, out, err = finish(start("verify"))
    assert (code, out) == (4, "")
    assert err == (
        "ordertrack: Kotak Neo login failed: the MPIN was refused (Invalid MPIN,"
        " code 10401): check KOTAK_MPIN\n"
    )
