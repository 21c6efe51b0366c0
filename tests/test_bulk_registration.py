"""A burst of registrations in one process (issue 15): `pending add --from -` for any engine,
`registrations()` for an engine in Python (one connection, many orders)."""

import io
import json
import sqlite3
import subprocess
import sys

import pytest

import ordertrack
from ordertrack.errors import ExitCode, UsageError

LINES = "".join(
    json.dumps(o) + "\n"
    for o in (
        {"order_id": "101", "symbol": "INFY", "side": "buy", "qty": 10},
        {"symbol": "TCS-EQ", "side": "sell", "qty": 2, "tag": "exit-1"},
    )
)


def test_from_stdin_registers_json_lines_all_or_nothing(cli, sql, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(LINES))
    result = cli("pending", "add", "--from", "-")
    assert result.code == 0, result.err
    assert "Imported 2 orders (0 already registered)" in result.out
    assert sql("SELECT order_id, symbol, side, tag FROM orders ORDER BY id") == [
        ("101", "INFY", "BUY", None),
        (None, "TCS", "SELL", "exit-1"),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO(LINES + "{not json\n"))
    result = cli("pending", "add", "--from", "-")
    assert result.code == ExitCode.USAGE
    assert "stdin line 3: not valid JSON" in result.err
    assert sql("SELECT count(*) FROM orders") == [(2,)]


def test_from_stdin_with_nothing_is_refused(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    result = cli("pending", "add", "--from", "-")
    assert result.code == ExitCode.USAGE
    assert "stdin holds no orders" in result.err


def test_registrations_share_one_connection_and_commit_each_order(db_path, monkeypatch):
    opened = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3, "connect", lambda *a, **k: opened.append(a) or real_connect(*a, **k)
    )
    with ordertrack.registrations() as orders:
        assert orders.add("INFY", "buy", 10, order_id="1") == "added"
        reader = real_connect(db_path)  # committed before add() returned
        assert reader.execute("SELECT count(*) FROM orders").fetchone() == (1,)
        for n in range(2, 50):
            assert orders.add("INFY", "buy", 10, order_id=str(n)) == "added"
        assert orders.add("INFY", "buy", 10, order_id="1") == "unchanged"
        with pytest.raises(UsageError, match="other details"):
            orders.add("INFY", "buy", 11, order_id="1")
        assert orders.add("TCS", "sell", 1, tag="t") == "added"
    assert len(opened) == 1
    assert reader.execute("SELECT count(*) FROM orders").fetchone() == (50,)


def order_line(order_id: str, qty: int = 1, **extra: str) -> str:
    return json.dumps(
        {"order_id": order_id, "symbol": "INFY", "side": "buy", "qty": qty, **extra},
        ensure_ascii=False,
    )


def test_from_stdin_names_the_physical_line_blank_lines_counted(sql):
    sent = (
        "\n".join(
            [
                order_line("1"),
                "",
                order_line("2"),
                "  ",
                "",
                order_line("3", qty=-1),
                order_line("4"),
            ]
        )
        + "\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ordertrack", "pending", "add", "--from", "-"],
        input=sent.encode(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.decode() == (
        "ordertrack: stdin line 6: qty must be between 1 and"
        " 1000000000, not -1; nothing was imported\n"
    )
    assert sql("SELECT count(*) FROM orders") == [(0,)]


def test_a_csv_file_names_the_physical_line(cli, sql, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"order_id,symbol,side,qty\r\n1,INFY,buy,1\r\n\r\n2,INFY,buy,x\r\n")
    result = cli("pending", "add", "--from", str(path))
    assert result.code == ExitCode.USAGE
    assert f"{path} line 4: qty must be a whole number" in result.err
    assert sql("SELECT count(*) FROM orders") == [(0,)]


@pytest.mark.parametrize("inside", ["\u2028", "\u2029", "\x85"])
def test_lines_split_only_on_newlines_not_on_separators_inside_a_string(cli, sql, tmp_path, inside):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(
        (
            order_line("1", note=f"a{inside}b")
            + "\r\n"
            + order_line("2")
            + "\r\n"
            + "\r\n"
            + order_line("3", qty=0)
            + "\r\n"
        ).encode()
    )
    result = cli("pending", "add", "--from", str(path))
    assert result.code == ExitCode.USAGE
    assert f"{path} line 4: qty must be between 1" in result.err  # not line 1 or 5
    path.write_bytes((order_line("1", note=f"a{inside}b") + "\r\n" + order_line("2")).encode())
    assert cli("pending", "add", "--from", str(path)).code == 0
    assert sql("SELECT order_id FROM orders ORDER BY id") == [("1",), ("2",)]
