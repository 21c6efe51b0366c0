"""The dead-man's switch: scheduled commands ping /start, then the bare URL or /<exit code>,
within a few seconds even when the monitor is dead or slow, and never show its secret path."""

import socket
import time

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.notify import ping
from tests.fake_ping import UUID
from tests.helpers import kotak_row

NOW = "2026-12-07T04:00:02Z"  # 09:30:02 IST, a Monday


@pytest.fixture
def monitored(monkeypatch, ping_server):
    monkeypatch.setenv("ORDERTRACK_PING_URL", ping_server.url)
    return ping_server


def test_a_successful_verify_pings_start_then_success(cli, broker, monitored):
    broker.orders(kotak_row("1", "complete", filled=100, avg="10.00"))
    with freeze_time(NOW, tick=True):
        result = cli("verify")
    assert result.code == 0, result.err
    assert monitored.seen() == ["/start", ""]


def test_a_failed_run_pings_its_exit_code(cli, broker, monitored):
    broker.write("orders.json", "not json")
    with freeze_time(NOW, tick=True):
        result = cli("verify")
    assert result.code == ExitCode.BROKER
    assert monitored.seen() == ["/start", f"/{int(ExitCode.BROKER)}"]


def test_eod_and_reconcile_ping_too_but_read_only_commands_do_not(cli, broker, monitored):
    broker.orders()
    broker.write("holdings.json", {"data": []})
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
    with freeze_time("2026-12-07T12:30:00Z", tick=True):
        cli("eod")
        cli("reconcile")
        cli("status")
        cli("reconcile", "--dry-run")
    assert monitored.seen().count("/start") == 2
    assert "" in monitored.seen() or "/4" in monitored.seen()


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/{UUID}"


def test_a_dead_monitor_does_not_fail_the_run_and_its_secret_stays_hidden(
    cli, broker, monkeypatch, sql
):
    monkeypatch.setenv(
        "ORDERTRACK_PING_URL", closed_url().replace("//", "//hcuser:s3cretpw@") + "?key=qsecret"
    )
    broker.orders()
    with freeze_time(NOW, tick=True):
        result = cli("verify")
    assert result.code == 0
    assert "ping to http://127.0.0.1" in result.err and "failed" in result.err
    dump = "\n".join(map(str, sql("SELECT * FROM runs") + sql("SELECT * FROM outbox")))
    for secret in (UUID, "s3cretpw", "hcuser", "qsecret"):
        assert secret not in result.out + result.err + dump


def test_a_slow_monitor_delays_the_run_by_seconds_only(cli, broker, monitored):
    monitored.delay = 30.0  # answers long after any deadline
    broker.orders()
    started = time.monotonic()
    with freeze_time(NOW, tick=True):
        result = cli("verify")
    elapsed = time.monotonic() - started
    assert result.code == 0
    assert elapsed < 12, elapsed  # two pings, each bounded by ping.POLICY
    assert "no reply in time" in result.err and UUID not in result.err


def test_a_monitor_answering_megabytes_is_a_ping_problem_read_no_further(ping_server):
    """#23 item 4: a ping's reply is read up to 1 MiB."""
    ping_server.size = 50 * 1024 * 1024
    problem = ping.Pinger(ping_server.url).ping()
    assert problem is not None and problem.startswith("ping to http://127.0.0.1:")
    assert problem.endswith("failed: reply larger than 1 MiB from 127.0.0.1")
    assert UUID not in problem


def test_the_endpoint_keeps_query_and_the_public_form_drops_secrets():
    url = "https://user:pw@hc-ping.com/abc-uuid?k=v"
    assert ping.endpoint(url, "start") == "https://user:pw@hc-ping.com/abc-uuid/start?k=v"
    assert ping.public(url) == "https://hc-ping.com/…"


def test_a_bad_ping_url_is_a_config_error(cli, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_PING_URL", "hc-ping.com/uuid")
    result = cli("status")
    assert result.code == ExitCode.CONFIG and "ORDERTRACK_PING_URL" in result.err
