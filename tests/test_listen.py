"""`ordertrack listen` end to end: the real CLI against loopback WebSocket servers that speak
Kite's and Kotak Neo's order-update protocols, their REST fakes and the fake Bot API.

Every interval `listen` waits on is shrunk (jobs/listen.TIMING), never a 30 s sleep; each test
ends `listen` with a real SIGTERM from a driver thread, as cron's kill would."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from ordertrack.core.listen import Timing
from ordertrack.jobs import listen as listen_job
from ordertrack.timeutil import IST
from tests.fake_kite import kite_row, ok
from tests.helpers import book, kotak_row

FAST = Timing(
    debounce=0.2,
    backoff_first=0.05,
    backoff_max=0.2,
    data_watchdog=0.8,
    ack_timeout=0.5,
    ping_timeout=2.0,
    token_check=0.2,
    file_poll=0.05,
)
OPEN_ID = "220303000308933"  # OPEN in the fake Kite's book


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(listen_job, "TIMING", FAST)


def until_later() -> str:
    """An --until far enough ahead for any test (the driver ends listen first)."""
    end = datetime.now(IST) + timedelta(minutes=2)
    if end.date() != datetime.now(IST).date():
        pytest.skip("too close to midnight IST for an --until today")
    return end.strftime("%H:%M")


def eventually(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def listen(cli, driver: Callable[[], None], *args: str):
    """Run `ordertrack listen` in this (main) thread while `driver` acts as the broker; the
    driver's end sends SIGTERM, which must end listen with exit 0."""
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            driver()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)
        finally:
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    result = cli("listen", "--until", until_later(), "--json", *args)
    thread.join(5)
    if failure:
        raise failure[0]
    return result


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def state(sql) -> list[tuple]:
    try:
        return sql("SELECT state FROM listens")
    except Exception:  # noqa: BLE001 - not migrated yet
        return []


def push_runs(sql) -> int:
    return sql("SELECT count(*) FROM runs WHERE trigger = 'push' AND outcome != 'running'")[0][0]


def book_fetches(kite) -> int:
    return sum(1 for p in kite.paths() if p == "/orders")


def add(cli, order_id: str = OPEN_ID) -> None:
    assert (
        cli("pending", "add", order_id, "--symbol", "INFY", "--side", "buy", "--qty", "10").code
        == 0
    )


# ---- Kite --------------------------------------------------------------------------------------


def test_kite_update_is_verified_and_notified(cli, kite_login, kite_ticker, telegram, sql):
    add(cli)

    def broker() -> None:
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)  # the catch-up verify on connect
        rejected = kite_row(OPEN_ID, "REJECTED", reason="RMS:Margin Exceeds")
        kite_login.orders = ok([rejected])
        kite_ticker.push(rejected)
        eventually(lambda: any("REJECTED" in t.upper() for t in telegram.texts()))

    result = listen(cli, broker)
    assert result.code == 0, result.err
    kinds = [e["event"] for e in events(result.out)]
    assert kinds[:2] == ["connect", "verify"]
    assert {"event": "push", "order_id": OPEN_ID, "verify": True}.items() <= next(
        e for e in events(result.out) if e["event"] == "push"
    ).items()
    assert "Margin Exceeds" in "\n".join(telegram.texts())
    assert sql("SELECT status FROM orders")[0][0] == "REJECTED"
    assert sql("SELECT count(*) FROM pushes WHERE order_id = ?", OPEN_ID)[0][0] == 1
    assert sql("SELECT DISTINCT trigger FROM runs WHERE command = 'verify'") == [("push",)]


def test_a_push_is_verified_while_earlier_messages_go_out(
    cli, kite_login, kite_ticker, telegram, sql
):
    """Telegram takes about one message a second a chat: the messages of one verify go out
    from listen's courier thread while the stream is read, so a push heard meanwhile gets its
    verify at once instead of waiting behind them (the bench's p95, scripts/bench_latency.py)."""
    ids = ["260101000000101", "260101000000102", "260101000000103"]
    rows = {i: kite_row(i, "OPEN") for i in ids}
    kite_login.orders = ok(list(rows.values()))
    for order_id in ids:
        add(cli, order_id)
    telegram.on_send = lambda body: time.sleep(0.4)

    def reject(*which: str) -> None:
        for order_id in which:
            rows[order_id] = kite_row(order_id, "REJECTED", reason="RMS:Margin Exceeds")
        kite_login.orders = ok(list(rows.values()))
        for order_id in which:
            kite_ticker.push(rows[order_id])

    def broker() -> None:
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)
        reject(ids[0], ids[1])
        eventually(lambda: len(telegram.texts()) >= 1)  # the second waits for the pace
        reject(ids[2])
        eventually(lambda: len(telegram.texts()) >= 3)

    result = listen(cli, broker)
    assert result.code == 0, result.err
    seen = events(result.out)
    third = next(
        n
        for n, e in enumerate(seen)
        if e["event"] == "verify"
        and e["trigger"] == "push"
        and e.get("rejected") == 1
        and n > next(m for m, f in enumerate(seen) if f.get("order_id") == ids[2])
    )
    first_delivery = next(n for n, e in enumerate(seen) if e["event"] == "deliver")
    assert third < first_delivery, seen
    assert sum(e.get("sent", 0) for e in seen if e["event"] == "deliver") == 3


def test_a_burst_costs_one_to_three_book_fetches(cli, kite_login, kite_ticker, telegram, sql):
    ids = [f"2203030009{n:05d}" for n in range(20)]
    for order_id in ids:
        add(cli, order_id)
    kite_login.orders = ok([kite_row(i, "OPEN") for i in ids])

    def broker() -> None:
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)
        before = book_fetches(kite_login)
        kite_login.orders = ok([kite_row(i, "COMPLETE", filled=10, avg=100.0) for i in ids])
        for order_id in ids:  # 20 updates within one second
            kite_ticker.push(kite_row(order_id, "COMPLETE", filled=10, avg=100.0))
            time.sleep(0.04)
        eventually(lambda: sql("SELECT count(*) FROM orders WHERE status = 'EXECUTED'")[0][0] == 20)
        time.sleep(0.5)
        fetched.append(book_fetches(kite_login) - before)

    fetched: list[int] = []
    assert listen(cli, broker).code == 0
    assert 1 <= fetched[0] <= 3


def test_a_disconnect_mid_burst_misses_nothing(cli, kite_login, kite_ticker, telegram, sql):
    ids = [f"2203030008{n:05d}" for n in range(6)]
    for order_id in ids:
        add(cli, order_id)
    kite_login.orders = ok([kite_row(i, "OPEN") for i in ids])

    def broker() -> None:
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)
        kite_login.orders = ok([kite_row(i, "REJECTED", reason="RMS") for i in ids])
        kite_ticker.push(kite_row(ids[0], "REJECTED", reason="RMS"))
        kite_ticker.drop()  # the other five changed while we were away: never pushed
        kite_ticker.wait_connected(2)
        eventually(lambda: sql("SELECT count(*) FROM orders WHERE status = 'REJECTED'")[0][0] == 6)

    result = listen(cli, broker)
    assert result.code == 0, result.err
    kinds = [e["event"] for e in events(result.out)]
    assert "disconnect" in kinds and kinds.count("connect") >= 2


def test_a_silent_server_is_left_within_the_watchdog(cli, kite_login, kite_ticker, sql):
    kite_ticker.heartbeat = None  # open, but no frame ever

    def broker() -> None:
        kite_ticker.wait_connected()
        started = time.monotonic()
        kite_ticker.wait_connected(2)
        took.append(time.monotonic() - started)

    took: list[float] = []
    result = listen(cli, broker)
    assert result.code == 0, result.err
    assert took[0] < FAST.data_watchdog + 2
    reasons = [e["reason"] for e in events(result.out) if e["event"] == "disconnect"]
    assert reasons and "no frame" in reasons[0]


def test_a_refused_session_alerts_once_and_exits_4(
    cli, kite_login, kite_ticker, telegram, sql, monkeypatch
):
    kite_ticker.refuse = 403
    end = datetime.now(IST) + timedelta(seconds=70)
    if end.date() != datetime.now(IST).date():
        pytest.skip("too close to midnight IST")
    shift = end.replace(second=0, microsecond=0) - datetime.now(IST) - timedelta(seconds=1.5)
    monkeypatch.setattr(listen_job, "clock", lambda: datetime.now(IST) + shift)
    result = cli("listen", "--until", end.strftime("%H:%M"))
    assert result.code == 4
    assert "ordertrack broker login" in result.err
    assert len(kite_ticker.handshakes) <= 3  # no loop: one refusal, a token look now and then
    alerts = [t for t in telegram.texts() if "refused the session" in t]
    assert len(alerts) == 1
    assert "kiteaccessSECRET" not in result.err + result.out + "".join(telegram.texts())


def test_a_fresh_token_after_a_refusal_resumes(cli, kite, kite_ticker, telegram, sql):
    def broker() -> None:  # no token yet: listen waits for the morning's `broker login`
        eventually(lambda: kite_ticker.handshakes == [] and state(sql) == [("refused",)])
        assert cli_login(kite) == 0
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)

    def cli_login(fake) -> int:
        from ordertrack.cli.app import run

        return run(["broker", "login", fake.request_token()])

    assert listen(cli, broker).code == 0


def test_until_already_past_is_a_usage_error(cli, broker):
    now = datetime.now(IST)
    if now.hour == 0 and now.minute == 0:
        pytest.skip("no earlier time today")
    result = cli("listen", "--until", "00:00")
    assert result.code == 2
    assert "already passed" in result.err and "Traceback" not in result.err


def test_until_is_honoured(cli, broker, monkeypatch):
    broker.orders()
    end = datetime.now(IST) + timedelta(minutes=1)
    if end.date() != datetime.now(IST).date():
        pytest.skip("too close to midnight IST")
    shift = end.replace(second=0, microsecond=0) - datetime.now(IST) - timedelta(seconds=1)
    monkeypatch.setattr(listen_job, "clock", lambda: datetime.now(IST) + shift)
    started = time.monotonic()
    result = cli("listen", "--until", end.strftime("%H:%M"), "--json")
    assert result.code == 0, result.err
    assert time.monotonic() - started < 5
    assert [e["event"] for e in events(result.out)][:2] == ["connect", "verify"]


def test_a_cron_verify_runs_beside_listen(cli, kite_login, kite_ticker, telegram, sql):
    add(cli)

    def broker() -> None:
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)
        env = {**os.environ}
        for _ in range(3):
            kite_ticker.push(kite_row(OPEN_ID, "OPEN"))
            done = subprocess.run(
                [sys.executable, "-m", "ordertrack", "verify"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            codes.append((done.returncode, done.stderr))

    codes: list[tuple[int, str]] = []
    result = listen(cli, broker)
    assert result.code == 0, result.err
    assert [c for c, _ in codes] == [0, 0, 0], codes
    assert not any("locked" in e for _, e in codes)
    assert sql("SELECT count(*) FROM runs WHERE trigger = 'cron' AND outcome = 'ok'")[0][0] == 3


def test_an_untracked_order_sends_nothing(cli, kite_login, kite_ticker, telegram, sql):
    add(cli)

    def broker() -> None:
        kite_ticker.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)
        kite_ticker.push(kite_row("999999999999999", "REJECTED"))
        eventually(lambda: sql("SELECT count(*) FROM pushes")[0][0] == 1)
        time.sleep(FAST.debounce * 3)

    result = listen(cli, broker)
    pushes = [e for e in events(result.out) if e["event"] == "push"]
    assert pushes and pushes[0]["verify"] is False
    assert push_runs(sql) == 1
    assert telegram.texts() == []


# ---- Kotak Neo ---------------------------------------------------------------------------------


def test_kotak_feed_handshake_acknowledged(cli, kotak, kotak_feed, telegram, sql):
    assert (
        cli(
            "pending", "add", "250122000700111", "--symbol", "INFY", "--side", "buy", "--qty", "100"
        ).code
        == 0
    )

    def broker() -> None:
        kotak_feed.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)
        row = kotak_row("250122000700111", "rejected", reason="RMS:Blocked")
        kotak.orders = book(row)
        kotak_feed.push(row)
        eventually(lambda: any("Blocked" in t for t in telegram.texts()))

    assert listen(cli, broker).code == 0
    first = json.loads(kotak_feed.first_frames[0])
    assert first["type"] == "cn" and first["src"] == "WEB" and first["Sid"]


def test_kotak_feed_without_ack_switches_to_the_raw_form(cli, kotak, kotak_feed, sql):
    kotak_feed.ack = "raw-only"

    def broker() -> None:
        kotak_feed.wait_connected()
        eventually(lambda: push_runs(sql) >= 1)

    result = listen(cli, broker)
    assert result.code == 0, result.err
    assert kotak_feed.first_frames[0].startswith('{"type": "cn"')
    assert kotak_feed.first_frames[1].startswith("{type:cn,Authorization:")
    reasons = [e["reason"] for e in events(result.out) if e["event"] == "disconnect"]
    assert "did not acknowledge" in reasons[0]


def test_kotak_feed_401_gets_one_fresh_login_then_exit_4(cli, kotak, kotak_feed, telegram, sql):
    kotak_feed.refuse = 401
    result = cli("listen", "--until", until_later())
    assert result.code == 4
    assert "refused the session" in result.err
    assert len(kotak_feed.handshakes) == 2  # the stored session, one fresh login, no loop
    assert kotak.logins == 2
    assert sum("refused the session" in t for t in telegram.texts()) == 1


# ---- file broker -------------------------------------------------------------------------------


def test_file_broker_change_by_rename_is_heard(cli, broker, sql):
    broker.orders(kotak_row("1001", "open"))
    assert (
        cli("pending", "add", "1001", "--symbol", "INFY", "--side", "buy", "--qty", "100").code == 0
    )

    def driver() -> None:
        eventually(lambda: push_runs(sql) >= 1)
        time.sleep(0.1)
        staged = broker.folder / "orders.json.new"
        staged.write_text(json.dumps(book(kotak_row("1001", "complete", filled=100, avg="10.00"))))
        staged.replace(broker.folder / "orders.json")
        eventually(lambda: sql("SELECT status FROM orders") == [("EXECUTED",)])

    result = listen(cli, driver)
    assert result.code == 0, result.err
    assert any(e["event"] == "push" and e["order_id"] == "1001" for e in events(result.out))


def test_sigint_exits_130(broker, tmp_path):
    broker.orders()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ordertrack", "listen", "--until", until_later(), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert json.loads(line)["event"] == "connect"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


# ---- status, overdue, report slots -------------------------------------------------------------


def test_status_shows_listen_and_push_runs_apart(cli, broker, monkeypatch):
    test_until_is_honoured(cli, broker, monkeypatch)
    data = json.loads(cli("status", "--json").out)
    assert data["listen"]["broker"] == "file" and data["listen"]["verifies"] >= 1
    assert data["listen"]["ended_at"]
    assert "verify (push)" in [r["command"] for r in data["runs"]]
    assert "verify" not in [r["command"] for r in data["runs"]]
    assert "Listen (file): stopped at" in cli("status").out


def test_push_runs_neither_fill_slots_nor_clear_overdue(fresh_db):
    from ordertrack.store import runs
    from ordertrack.store.db import open_db

    db = open_db(fresh_db)
    cron = runs.begin(db, "verify", "cron")
    runs.finish(db, cron, "ok", 0)
    cron_started = runs.history(db)["verify"][0]
    time.sleep(0.01)
    push = runs.begin(db, "verify", "push")
    runs.finish(db, push, "ok", 0)
    assert runs.history(db)["verify"][0] == cron_started  # the push run does not count
    assert db.execute("SELECT trigger FROM runs ORDER BY id").fetchall() == [("cron",), ("push",)]


def test_push_verifies_never_ping_the_monitor(cli, broker, monkeypatch, ping_server, sql):
    monkeypatch.setenv("ORDERTRACK_PING_URL", ping_server.url)
    test_until_is_honoured(cli, broker, monkeypatch)
    assert push_runs(sql) >= 1
    assert ping_server.seen() == []  # a cron verify would have pinged /start and the URL
    assert cli("verify").code == 0
    assert ping_server.seen() == ["/start", ""]
