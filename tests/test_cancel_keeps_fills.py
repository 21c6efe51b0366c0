"""A cancel never erases a fill (issue 23, row 3): `pending cancel` waits for a verify that is
between its order-book fetch and its commit, and a withdrawn order the broker later shows with
fills is corrected the way an expired one is."""

import json
import os
import subprocess
import sys
import threading
import time

from ordertrack.errors import ExitCode
from tests.fake_kotak import ORDERS, Scripted
from tests.helpers import book, kotak_row
from tests.test_overlap import take_lock

ID = "250122000624384"


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrack", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def until(check, seconds: float = 30.0) -> None:
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, "timed out"
        time.sleep(0.02)


def kinds(sql) -> list[str]:
    return [k for (k,) in sql("SELECT kind FROM events ORDER BY id")]


def queued(sql, kind: str) -> list[dict]:
    return [json.loads(p) for (p,) in sql("SELECT payload FROM outbox WHERE kind = ?", kind)]


def test_a_cancel_during_verifys_fetch_waits_and_the_fill_survives(kotak, cli, sql):
    assert cli("pending", "add", ID, "--symbol", "IDEA", "--side", "buy", "--qty", "10").code == 0
    held = threading.Event()
    kotak.script(
        ORDERS,
        Scripted(
            200,
            book(kotak_row(ID, "complete", symbol="IDEA", qty=10, filled=10, avg="9.39")),
            hold=held,
        ),
    )
    verify = start("verify")
    try:
        until(lambda: ORDERS in kotak.paths())  # verify has the lock and waits for the book
        cancel = start("pending", "cancel", ID)
        said = cancel.stderr.readline()  # the old code finished at once: EOF
    finally:
        held.set()
    assert verify.wait(60) == 0, verify.stderr.read()
    out, err = cancel.communicate(timeout=60)
    assert "waiting for another run (verify" in said
    assert cancel.returncode == ExitCode.USAGE, said + err
    assert err == f"ordertrack: order {ID} is already EXECUTED; nothing to withdraw\n"
    assert sql("SELECT status, filled_qty FROM orders") == [("EXECUTED", 10)]
    assert kinds(sql) == ["REGISTERED", "EXECUTED"]
    assert len(queued(sql, "EXECUTED")) == 1
    assert sql("SELECT tracked_qty FROM tracking") == [(10,)]


def test_a_cancel_that_cannot_get_the_lock_exits_5_and_changes_nothing(
    cli, broker, db_path, sql, tmp_path
):
    config = tmp_path / "c.toml"
    config.write_text("[lock]\nwait_seconds = 0\n")
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
    take_lock(db_path, os.getppid())  # a live process holds it
    result = cli("--config", str(config), "pending", "cancel", "1")
    assert result.code == ExitCode.LOCKED
    assert result.err.startswith("ordertrack: another run (verify") and result.err.count("\n") == 1
    assert sql("SELECT status FROM orders") == [("PENDING",)]


def test_a_withdrawn_order_the_book_shows_executed_is_corrected_once(cli, broker, sql):
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10").code == 0
    assert cli("pending", "cancel", "1").code == 0
    broker.orders(kotak_row("1", "complete", qty=10, filled=10, avg="1850.5"))
    first = json.loads(cli("verify", "--json").out)
    again = json.loads(cli("verify", "--json").out)
    assert (first["corrected"], again["corrected"]) == (1, 0)
    assert sql("SELECT status, filled_qty, avg_price FROM orders") == [("EXECUTED", 10, 1850.5)]
    assert kinds(sql) == ["REGISTERED", "WITHDRAWN", "CORRECTED"]
    (corrected,) = queued(sql, "CORRECTED")
    assert corrected["status"] == "EXECUTED" and corrected["filled_qty"] == 10
    assert corrected["reason"].startswith("was withdrawn (withdrawn by user)")
    assert sql("SELECT count(*) FROM outbox") == [(1,)]
    assert sql("SELECT tracked_qty FROM tracking") == [(10,)]


def test_a_withdrawn_order_keeps_each_later_fill(cli, broker, sql):
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10").code == 0
    assert cli("pending", "cancel", "1").code == 0
    broker.orders(kotak_row("1", "open", qty=10, filled=4, avg="1849.0"))
    assert cli("verify").code == 0
    assert sql("SELECT status, filled_qty FROM orders") == [("CANCELLED", 4)]
    broker.orders(kotak_row("1", "complete", qty=10, filled=10, avg="1849.5"))
    assert cli("verify").code == 0
    assert sql("SELECT status, filled_qty FROM orders") == [("EXECUTED", 10)]
    assert sql("SELECT delta_qty FROM events WHERE kind = 'CORRECTED' ORDER BY id") == [(4,), (6,)]
    assert sql("SELECT tracked_qty FROM tracking") == [(10,)]


def test_a_broker_cancelled_order_is_not_corrected_by_a_later_row(cli, broker, sql):
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "10").code == 0
    broker.orders(kotak_row("1", "cancelled", qty=10))
    assert cli("verify").code == 0
    broker.orders(kotak_row("1", "complete", qty=10, filled=10))
    assert cli("verify").code == 0
    assert sql("SELECT status, filled_qty FROM orders") == [("CANCELLED", 0)]
    assert "CORRECTED" not in kinds(sql)
