"""Off a terminal (cron's log), every line starts with the IST time and the command, tables
become one line per row, nothing wraps; on a terminal layout (COLUMNS set) output is as before."""

import re

import pytest
from freezegun import freeze_time

from tests.helpers import kotak_row

NOW = "2026-12-07T04:00:02Z"  # 09:30:02 IST
REASON = (
    "RMS:Margin Exceeds,Cash Available:5000.00,Additional margin required:890560.00 for "
    "entity account-XXXXX across exchange across segment across product"
)


@pytest.fixture
def log_mode(monkeypatch):
    monkeypatch.delenv("COLUMNS")  # as under cron: no terminal, no layout asked for


def test_verify_writes_timestamped_lines_with_whole_rejection_reasons(cli, broker, log_mode):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    cli("pending", "add", "2", "--symbol", "TCS", "--side", "buy", "--qty", "5")
    broker.orders(
        kotak_row("1", "complete", filled=100, avg="10.00"),
        kotak_row("2", "rejected", symbol="TCS", qty=5, reason=REASON),
    )
    with freeze_time(NOW):
        result = cli("verify")
    lines = result.out.splitlines()
    assert lines and all(line.startswith("2026-12-07T09:30:02+05:30 verify ") for line in lines)
    [rejected] = [line for line in lines if "Rejected" in line]
    assert rejected.endswith(REASON)  # whole, on its own line
    assert sum("Executed" in line for line in lines) == 1  # one line per change


def test_tables_become_one_line_per_row_without_box_drawing(cli, log_mode):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    with freeze_time(NOW):
        result = cli("pending", "list")
    [line] = result.out.splitlines()
    assert re.match(
        r"2026-12-07T09:30:02\+05:30 pending Open orders: Order=1; Symbol=INFY; "
        r"Side=BUY; Filled/Qty=0/100; ",
        line,
    ), line
    assert not re.search("[─━│┃┏┓┗┛┡┩╇]", result.out)


def test_errors_are_timestamped_too(cli, log_mode, fresh_db):
    with freeze_time(NOW):
        result = cli("pending", "show", "42")
    assert (
        result.err == "2026-12-07T09:30:02+05:30 pending ordertrack: order 42 is not registered\n"
    )


def test_json_stays_plain_json(cli, log_mode):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    assert cli("pending", "list", "--json").out.startswith("[")


def test_terminal_layout_is_unchanged(cli):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    out = cli("pending", "list").out
    assert "┃ Order" in out and not out.startswith("20")


def test_ordertrack_output_decides_explicitly(cli, monkeypatch):
    monkeypatch.setenv("ORDERTRACK_OUTPUT", "log")
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    assert cli("pending", "list").out.startswith("20")


# ---- warnings from below the CLI go through its `warn` (issue 24) ----------------------------


def test_a_database_mended_on_opening_says_so_in_a_log_line(cli, log_mode, db_path):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    db_path.chmod(0o644)
    with freeze_time(NOW):
        result = cli("pending", "list")
    assert result.err == (
        f"2026-12-07T09:30:02+05:30 pending ordertrack: database {db_path} was "
        "readable by others (mode 0644); made it owner-only (0600)\n"
    )


def test_the_kotak_login_host_fallback_says_so_in_a_log_line(cli, log_mode, kotak):
    kotak.send_base_url = False
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "100")
    result = cli("verify")
    [line] = [line for line in result.err.splitlines() if "baseUrl" in line]
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30 verify ordertrack: Kotak Neo's login "
        r"reply had no usable baseUrl; using the login host 127\.0\.0\.1",
        line,
    ), line
