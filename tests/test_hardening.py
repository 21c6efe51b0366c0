"""Issue 12: what an outside attack run broke, end to end through the real CLI and the loopback
fakes — bad input that ended as "internal error", Ctrl-C, the lock after PID reuse, control
characters from the broker, and secrets in URLs."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.store import locks
from ordertrack.store.db import open_db
from ordertrack.timeutil import UTC, to_db
from tests import fake_telegram as tg
from tests.fake_kotak import ist
from tests.helpers import kotak_row

NOW = ist("2026-11-25 10:00")  # a Wednesday, in session


def no_traceback(result, code: int, says: str) -> None:
    assert result.code == code, result.err
    assert result.err.startswith("ordertrack: ") and result.err.count("\n") == 1, result.err
    assert says in result.err, result.err
    assert "Traceback" not in result.out + result.err


# ---- item 8: bad input ----------------------------------------------------------------------


def test_a_non_ascii_consumer_key_is_a_config_error(cli, kotak, monkeypatch):
    monkeypatch.setenv("KOTAK_CONSUMER_KEY", "ck-SECRET-5f0c1a9e7d\u00e9")
    with freeze_time(NOW):
        result = cli("broker", "check")
    no_traceback(result, 3, "KOTAK_CONSUMER_KEY must be printable ASCII")
    assert "5f0c1a9e7d" not in result.err and kotak.requests == []


def test_a_negative_retry_after_from_telegram_is_no_pause(cli, broker, telegram, sql):
    with freeze_time(NOW):
        assert (
            cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
        )
        broker.orders(kotak_row("1", "complete", qty=1, filled=1, avg="10.00"))
        telegram.chats["1001"] = tg.flood(-1)
        result = cli("verify")
    no_traceback(result, 6, "rate limited by Telegram")
    assert "-1" not in result.err and all(s >= 0 for s in telegram.sleeps), telegram.sleeps
    assert sql("SELECT paused_until FROM telegram_chats") in ([], [(None,)])


# ---- item 9: Ctrl-C -------------------------------------------------------------------------


def _ordertrack(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrack", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _env(db_path: Path, broker_dir: Path) -> dict[str, str]:
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ORDERTRACK_", "KOTAK_", "TELEGRAM_"))
        },
        "ORDERTRACK_DB": str(db_path),
        "ORDERTRACK_BROKER": "file",
        "ORDERTRACK_BROKER_DIR": str(broker_dir),
        "PYTHONUNBUFFERED": "1",
    }


def _hold_lock(db_path: Path, pid: int, **identity: object) -> None:
    now = datetime.now(UTC)
    columns = {
        "name": "broker-run",
        "command": "eod",
        "pid": pid,
        "host": socket.gethostname(),
        "token": "t0",
        "acquired_at": to_db(now),
        "expires_at": to_db(now + timedelta(minutes=30)),
        **identity,
    }
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            f"INSERT INTO locks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            tuple(columns.values()),
        )


def test_ctrl_c_while_waiting_for_the_lock_is_one_line_exit_130_and_recorded(
    cli, broker, db_path, sql
):
    broker.orders()
    open_db(db_path).close()  # the database exists
    holder = subprocess.Popen(["sleep", "60"])
    try:
        _hold_lock(db_path, holder.pid)
        run = _ordertrack(_env(db_path, broker.folder), "verify")
        started = time.monotonic()
        said = run.stderr.readline()  # blocks until the run says what it waits for
        waited = time.monotonic() - started
        assert f"waiting for another run (eod, pid {holder.pid}, since " in said, said
        assert 1.5 < waited < 15, waited
        run.send_signal(signal.SIGINT)
        rest = run.communicate(timeout=10)[1]
        assert time.monotonic() - started - waited < 10  # at once, not after the lock wait
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 130, rest
    assert rest == "ordertrack: interrupted\n", rest
    assert sql("SELECT outcome, exit_code, error FROM runs WHERE command = 'verify'") == [
        ("interrupted", 130, "interrupted")
    ]
    status = cli("status")
    assert "interrupted" in status.out and "KeyboardInterrupt" not in status.out


# ---- item 10: the lock after PID reuse --------------------------------------------------------


@pytest.fixture
def short_lock_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "lock.toml"
    config.write_text("[lock]\nwait_seconds = 1\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))


THIS_BOOT = locks.boot_id()
needs_proc = pytest.mark.skipif(THIS_BOOT is None, reason="needs Linux /proc")


@needs_proc
@pytest.mark.parametrize(
    "identity",
    [
        {"boot_id": THIS_BOOT, "started": 1},  # PID 1 now: a restarted container's init
        {"boot_id": "00000000-0000-0000-0000-000000000000", "started": None},  # before a reboot
    ],
    ids=["pid reused", "other boot"],
)
def test_a_lock_whose_holder_is_gone_is_free_though_its_pid_lives(
    cli, broker, db_path, sql, short_lock_wait, identity
):
    broker.orders()
    open_db(db_path).close()  # the database exists
    pid = os.getpid()  # alive: a pid check alone would wait, then exit 5
    if identity["started"] is not None:
        identity = {**identity, "started": locks.start_time(pid) + 1}
    _hold_lock(db_path, pid, **identity)
    result = cli("verify")
    assert (result.code, result.err) == (0, "")
    assert sql("SELECT count(*) FROM locks") == [(0,)]


@needs_proc
def test_a_lock_whose_holder_lives_still_holds(cli, broker, db_path, short_lock_wait):
    broker.orders()
    open_db(db_path).close()  # the database exists
    holder = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.1)
        _hold_lock(db_path, holder.pid, boot_id=THIS_BOOT, started=locks.start_time(holder.pid))
        result = cli("verify")
    finally:
        holder.kill()
        holder.wait()
    no_traceback(result, 5, f"another run (eod, pid {holder.pid}) holds the lock")


def test_a_run_records_who_holds_the_lock(cli, broker, sql, monkeypatch):
    broker.orders()
    seen = []
    real = locks._try_take

    def spy(db, *args):
        held = real(db, *args)
        seen.extend(db.execute("SELECT pid, boot_id, started FROM locks").fetchall())
        return held

    monkeypatch.setattr(locks, "_try_take", spy)
    assert cli("verify").code == 0
    assert seen == [(os.getpid(), locks.boot_id(), locks.start_time(os.getpid()))]


# ---- item 11: control characters from outside -----------------------------------------------

FORGED = "\x1b[2J\x1b[1;1HRMS: margin \x1b]0;owned\x07short\nFAKE: Executed: BUY TCS 1/1"


def forged_line(text: str) -> bool:
    """An ESC or BEL that reaches the terminal, or a line of its own (a table may wrap a long
    reason inside its cell: that line starts with the table's border)."""
    return (
        "\x1b" in text
        or "\x07" in text
        or any(line.lstrip(" •").startswith("FAKE") for line in text.splitlines())
    )


def test_a_forged_broker_reason_reaches_no_terminal_log_or_message_intact(
    cli, broker, telegram, sql
):
    with freeze_time(NOW):
        assert (
            cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
        )
        broker.orders(kotak_row("1", "rejected", qty=1, reason=FORGED))
        shown = [
            cli("verify"),
            cli("pending", "list", "--all"),
            cli("pending", "show", "1"),
            cli("outbox", "list"),
            cli("status"),
        ]
    assert all(r.code == 0 for r in shown), [r.err for r in shown]
    for result in shown:
        assert not forged_line(result.out + result.err), result.out
    assert "margin \\x1b]0;owned\\x07short FAKE: Executed: BUY TCS 1/1" in shown[0].out
    [text] = telegram.texts("1001")
    assert not forged_line(text), text
    assert "short FAKE: Executed: BUY TCS 1/1" in text
    # What the broker said is kept as it said it, for the record.
    assert sql("SELECT reason FROM orders") == [(FORGED,)]


@pytest.mark.parametrize("symbol", ["INFY\n-EQ", "INFY\nTCS", "IN\x1bFY", "INFY-\nEQ"])
def test_a_symbol_with_a_line_break_is_refused(cli, sql, symbol):
    result = cli("pending", "add", "1", "--symbol", symbol, "--side", "buy", "--qty", "1")
    no_traceback(result, 2, "invalid symbol")
    assert sql("SELECT count(*) FROM orders") == [(0,)]


def test_whitespace_around_a_symbol_is_trimmed_not_stored(cli, sql):
    assert (
        cli("pending", "add", "1", "--symbol", " infy-eq\n", "--side", "buy", "--qty", "1").code
        == 0
    )
    assert sql("SELECT symbol FROM orders") == [("INFY",)]


# ---- item 12: secrets in URLs ----------------------------------------------------------------

URL_SECRETS = ("hunter2pass", "opsuser", "s3cr3t-query-key")


def _with_secrets(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://opsuser:hunter2pass@{rest}?key=s3cr3t-query-key"


def _nowhere() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def assert_no_url_secret(*texts: str, db_path: Path) -> None:
    for text in texts:
        for secret in URL_SECRETS:
            assert secret not in text, text
    for path in [*db_path.parent.glob(db_path.name + "*"), *db_path.parent.rglob("*.db")]:
        for secret in URL_SECRETS:
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("where", ["refused", "hostile scheme"])
def test_a_kotak_login_url_with_userinfo_and_query_is_shown_redacted(
    cli, kotak, db_path, monkeypatch, where
):
    url = _with_secrets(_nowhere() if where == "refused" else "ftp://127.0.0.1:1")
    monkeypatch.setenv("ORDERTRACK_KOTAK_LOGIN_URL", url)
    with freeze_time(NOW):
        outputs = [
            cli("verify"),
            cli("broker", "check"),
            cli("status"),
            cli("status", "--json"),
            cli("eod"),
        ]
    assert outputs[0].code == (4 if where == "refused" else 3), outputs[0].err
    assert_no_url_secret(*(r.out + r.err for r in outputs), db_path=db_path)


@pytest.mark.parametrize("where", ["refused", "hostile scheme"])
def test_a_telegram_api_url_with_userinfo_and_query_is_shown_redacted(
    cli, broker, telegram, db_path, monkeypatch, where
):
    url = _with_secrets(_nowhere() if where == "refused" else "gopher://127.0.0.1:1")
    monkeypatch.setenv("TELEGRAM_API_URL", url)
    with freeze_time(NOW):
        assert (
            cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1").code == 0
        )
        broker.orders(kotak_row("1", "complete", qty=1, filled=1, avg="10.00"))
        outputs = [
            cli("verify"),
            cli("notify-test"),
            cli("outbox", "flush"),
            cli("outbox", "list", "--json"),
            cli("status", "--json"),
            cli("eod"),
        ]
    assert outputs[0].code in (3, 6), outputs[0].err
    assert_no_url_secret(*(r.out + r.err for r in outputs), db_path=db_path)


def test_redact_hides_userinfo_and_query_of_any_url():
    from ordertrack.text import redact

    line = (
        "cannot reach https://me:pw@example.com:8443/hc/abc?token=XYZ&x=1 and "
        "'http://u@h/p?q' (see http://plain.example/path)"
    )
    assert redact(line, env={}) == (
        "cannot reach https://<redacted>@example.com:8443/hc/abc?<redacted> and "
        "'http://<redacted>@h/p?<redacted>' (see http://plain.example/path)"
    )


def test_a_login_lease_left_by_a_killed_run_is_swept_by_the_next_run(cli, broker, db_path, sql):
    """Killed after saving the session but before releasing the login lease: later runs reuse
    the session and never take that lease, so the next lock taken sweeps it."""
    broker.orders()
    open_db(db_path).close()  # the database exists
    gone = subprocess.Popen(["true"])
    gone.wait()
    _hold_lock(db_path, gone.pid, name="login:kotak", command="login")
    assert cli("verify").code == 0
    assert sql("SELECT count(*) FROM locks") == [(0,)]
