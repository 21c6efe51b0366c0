"""Overlapping cron runs: never corrupt, never double-record, never 'database is locked'."""

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from ordertrack.errors import ExitCode, LockHeld
from ordertrack.store.db import open_db
from ordertrack.store.locks import single_flight
from ordertrack.timeutil import to_db, utcnow
from tests.helpers import kotak_row


def take_lock(db_path, pid, expires_in=timedelta(minutes=30), host=None):
    db = open_db(db_path)
    db.execute(
        "INSERT OR REPLACE INTO locks (name, command, pid, host, token, acquired_at,"
        " expires_at) VALUES ('broker-run', 'verify', ?, ?, 't', ?, ?)",
        (pid, host or socket.gethostname(), to_db(utcnow()), to_db(utcnow() + expires_in)),
    )
    db.conn.commit()
    db.close()


def test_a_held_lock_exits_5_and_changes_nothing(cli, broker, db_path, sql, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[lock]\nwait_seconds = 0\n")
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    broker.orders(kotak_row("1", "complete", qty=1, filled=1))
    take_lock(db_path, os.getppid())  # a live process holds it
    result = cli("--config", str(config), "verify")
    assert result.code == ExitCode.LOCKED
    assert "another run (verify" in result.err
    assert sql("SELECT status FROM orders") == [("PENDING",)]
    assert sql("SELECT outcome, exit_code FROM runs") == [("locked", 5)]


def test_lock_of_a_dead_process_is_taken_over(cli, broker, db_path, sql):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    broker.orders(kotak_row("1", "complete", qty=1, filled=1))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    take_lock(db_path, int(dead))
    assert cli("verify").code == 0
    assert sql("SELECT count(*) FROM locks") == [(0,)]


def test_expired_lease_is_taken_over_even_from_another_host(cli, broker, db_path):
    cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1")
    broker.orders(kotak_row("1", "open", qty=1))
    take_lock(db_path, 1, expires_in=timedelta(seconds=-1), host="elsewhere")
    assert cli("verify").code == 0


def test_lock_is_released_when_the_body_fails(db_path):
    db = open_db(db_path)
    with pytest.raises(RuntimeError):
        with single_flight(db, "verify", 0, timedelta(minutes=1)):
            raise RuntimeError("boom")
    with single_flight(db, "verify", 0, timedelta(minutes=1)):
        with pytest.raises(LockHeld):
            with single_flight(open_db(db_path), "eod", 0, timedelta(minutes=1)):
                pass


def test_eight_verify_processes_at_once(cli, broker, sql, tmp_path, monkeypatch):
    orders = [(str(i), f"SYM{i}") for i in range(40)]
    path = tmp_path / "orders.jsonl"
    path.write_text(
        "".join(
            f'{{"order_id": "{o}", "symbol": "{s}", "side": "buy", "qty": 10}}\n' for o, s in orders
        )
    )
    assert cli("pending", "add", "--from", str(path)).code == 0
    broker.orders(
        *[
            kotak_row(
                o,
                "complete" if int(o) % 2 else "open",
                symbol=s,
                qty=10,
                filled=10 if int(o) % 2 else 4,
            )
            for o, s in orders
        ]
    )
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ordertrack", "verify"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert not any("locked" in err for _, err in results)
    assert sql("SELECT status, count(*) FROM orders GROUP BY status") == [
        ("EXECUTED", 20),
        ("PARTIALLY_FILLED", 20),
    ]
    assert sql("SELECT kind, count(*) FROM events GROUP BY kind") == [
        ("EXECUTED", 20),
        ("PARTIAL_FILL", 20),
        ("REGISTERED", 40),
    ]
    assert sql("SELECT count(*) FROM outbox") == [(40,)]
    assert sql("SELECT sum(tracked_qty) FROM tracking") == [(20 * 10 + 20 * 4,)]
    assert sql("PRAGMA integrity_check") == [("ok",)]
