"""Webhooks when things die (#16, "What it must show"): the receiver answering 5xx, timing out,
SIGKILLed mid-run and started again on the same port, and the sender (`python -m ordertrack
verify` / `outbox flush`) SIGKILLed mid-send. All real processes. Nothing is lost, and every
duplicate carries the same Idempotency-Key and body.

The sender's backoff counts real minutes; between runs, `minutes_pass()` moves the waiting
deliveries' next attempt into the past, as the next cron run (minutes later) would find them."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import kotak_row
from tests.webhook_receiver import received

SECRET = "whsec-kills-8c1d2e3f4a5b6c7d"
RECEIVER = Path(__file__).parent / "webhook_receiver.py"
ROOT = Path(__file__).resolve().parent.parent


class ReceiverProcess:
    """tests/webhook_receiver.py as a process of its own, which the test can SIGKILL and start
    again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> "ReceiverProcess":
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVER), str(self.folder), SECRET, str(self.port)],
            text=True,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ordertrack"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def answer(self, *answers: str) -> None:
        (self.folder / "script").write_text("\n".join(answers))

    def got(self) -> list[dict]:
        return received(self.folder)

    def wait_for(self, answer: str, count: int, seconds: float = 20.0) -> dict:
        """The `count`-th request answered `answer`, once it has arrived."""
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            found = [g for g in self.got() if g["answer"] == answer]
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.02)
        raise AssertionError(f"no {answer!r} request #{count}: {self.got()}")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    folder = tmp_path / "receiver"
    folder.mkdir()
    found = ReceiverProcess(folder).start()
    yield found
    found.kill()


@pytest.fixture
def env(broker, receiver, tmp_path, db_path, monkeypatch) -> dict[str, str]:
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = 1\n"
        f'[[webhook]]\nurl = "{receiver.url}"\nsecret_env = "ENGINE_HOOK_SECRET"\n'
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("ENGINE_HOOK_SECRET", SECRET)
    return {**os.environ, "ORDERTRACK_DB": str(db_path), "ORDERTRACK_OUTPUT": "log"}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrack", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "ordertrack", *args],
        env=env,
        text=True,
        capture_output=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def killed(process: subprocess.Popen[str]) -> None:
    """SIGKILL, then reap it (as cron's shell would): a zombie still holds its pid."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def minutes_pass(db_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at ="
            " '2000-01-01T00:00:00.000000+00:00' WHERE next_attempt_at IS NOT NULL"
        )


def statuses(db_path: Path) -> list[tuple[int, str, int, int]]:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT feed_id, status, attempts, uncertain FROM webhook_deliveries ORDER BY feed_id"
        ).fetchall()


def feed(env: dict[str, str]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "ordertrack", "events", "--json"],
        env=env,
        text=True,
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def settle(env: dict[str, str], db_path: Path) -> None:
    """Clean runs, minutes apart, until nothing waits (the final clean runs)."""
    for _ in range(5):
        minutes_pass(db_path)
        code, err = run(env, "outbox", "flush")
        if code == 0:
            return
    raise AssertionError(f"deliveries still waiting: {statuses(db_path)} — {err}")


def count_by_key(got: list[dict], events: list[dict]) -> dict[str, int]:
    """The promise, counted by Idempotency-Key: every feed event received at least once, one
    key per event, and a repeat only with the same key and body. Returns the copies per key."""
    assert all(g["signed"] for g in got), "a request with a bad signature"
    by_key: dict[str, set[str]] = {}
    for g in got:
        by_key.setdefault(g["key"], set()).add(g["body"])
    ids = {str(e["id"]): e for e in events}
    assert set(by_key) - set(ids) == set(), "a key for no event"
    assert set(ids) - set(by_key) == set(), "lost: events never received"
    for key, bodies in by_key.items():
        assert len(bodies) == 1, f"key {key} came with different bodies"
        assert json.loads(next(iter(bodies))) == ids[key], f"key {key} is not its event"
    firsts = list(dict.fromkeys(g["key"] for g in got))
    assert firsts == sorted(firsts, key=int), "not in feed order"
    return {key: sum(g["key"] == key for g in got) for key in by_key}


def test_5xx_timeouts_a_killed_receiver_and_a_killed_sender_lose_nothing(
    cli, broker, receiver, env, db_path
):
    started = time.monotonic()
    assert run(env, "outbox", "flush")[0] == 0  # the webhook is seen before any event
    for n, symbol in enumerate(("INFY", "SBIN", "IDEA", "TCS", "ITC", "WIPRO"), 1):
        assert (
            cli("pending", "add", str(n), "--symbol", symbol, "--side", "buy", "--qty", "100").code
            == 0
        )

    # the receiver fails with 500, then 503: the same event again, minutes later
    receiver.answer("500", "503")
    assert run(env, "outbox", "flush")[0] == 6
    minutes_pass(db_path)
    assert run(env, "outbox", "flush")[0] == 6
    settle(env, db_path)

    # the receiver takes the event but answers after the sender's timeout: unknown, sent again
    broker.orders(
        kotak_row("1", "open", symbol="INFY", filled=40, avg="1850.00"),
        kotak_row("2", "rejected", symbol="SBIN", reason="RMS:Margin Exceeds"),
    )
    receiver.answer("slow")
    code, err = run(env, "verify")
    assert code == 6 and f"webhook {receiver.url}: no reply in time" in err  # named by its URL
    slow = receiver.wait_for("slow", 1)
    settle(env, db_path)

    # the receiver is SIGKILLed while it holds a request (it has the event), then is down for a
    # run, then comes back on the same port
    broker.orders(
        kotak_row("1", "complete", symbol="INFY", filled=100, avg="1851.00"),
        kotak_row("3", "cancelled", symbol="IDEA"),
    )
    receiver.answer("hang")
    sender = start(env, "verify")
    cut = receiver.wait_for("hang", 1)
    receiver.kill()
    assert sender.wait(timeout=30) == 6
    minutes_pass(db_path)
    assert run(env, "outbox", "flush")[0] == 6  # nobody listens: connection refused
    receiver.start()
    settle(env, db_path)

    # the sender is SIGKILLed mid-send: the next run sends the event again at once, without
    # waiting for the claim's 15-minute lease, and with the same key
    broker.orders(
        kotak_row("4", "complete", symbol="TCS", filled=100, avg="3000.00"),
        kotak_row("5", "rejected", symbol="ITC", reason="RMS:Blocked"),
    )
    receiver.answer("hang")
    sender = start(env, "verify")
    orphan = receiver.wait_for("hang", 2)
    killed(sender)
    assert run(env, "outbox", "flush")[0] == 0  # no minutes_pass: due at once
    settle(env, db_path)

    events = feed(env)
    copies = count_by_key(receiver.got(), events)
    for repeated in (slow, cut, orphan):  # the unknown outcomes: each sent again, same key
        assert copies[repeated["key"]] >= 2, (repeated, copies)
    assert {status for _, status, _, _ in statuses(db_path)} == {"SENT"}
    assert {"PARTIAL_FILL", "EXECUTED", "REJECTED", "CANCELLED"} <= {e["kind"] for e in events}
    assert time.monotonic() - started < 60


def test_a_killed_senders_claim_is_sent_again_by_the_next_run_at_once(cli, receiver, env, db_path):
    """Part 4: a claim names its sender's process; when that is gone, the next run takes the
    claim back (an unknown outcome) instead of waiting for the 15-minute lease."""
    assert run(env, "outbox", "flush")[0] == 0
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5").code == 0
    receiver.answer("hang")
    sender = start(env, "outbox", "flush")
    first = receiver.wait_for("hang", 1)
    assert [s for _, s, _, _ in statuses(db_path)] == ["SENDING"]
    killed(sender)
    assert run(env, "outbox", "flush")[0] == 0
    [again] = [g for g in receiver.got() if g["answer"] == "ok"]
    assert (again["key"], again["body"]) == (first["key"], first["body"])
    [(_, status, attempts, uncertain)] = statuses(db_path)
    assert (status, attempts, uncertain) == ("SENT", 2, 1)


HOOK = """import json, sys, time
from pathlib import Path
here = Path(sys.argv[1])
event = json.loads(sys.stdin.read())
with open(here / "got.jsonl", "a") as out:
    out.write(json.dumps(event["id"]) + "\\n")
while (here / "hold").exists():  # the engine is slow: the sender is killed meanwhile
    time.sleep(0.05)
"""


def test_a_killed_senders_hook_claim_is_run_again_at_once(cli, tmp_path, db_path, monkeypatch):
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[[hook]]\ncommand = ["
        + ", ".join(json.dumps(p) for p in (sys.executable, str(script), str(tmp_path)))
        + "]\n"
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    env = {**os.environ, "ORDERTRACK_DB": str(db_path), "ORDERTRACK_OUTPUT": "log"}
    assert run(env, "outbox", "flush")[0] == 0
    assert cli("pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "5").code == 0
    (tmp_path / "hold").touch()
    sender = start(env, "outbox", "flush")
    log = tmp_path / "got.jsonl"
    ends = time.monotonic() + 20
    while not log.exists() and time.monotonic() < ends:
        time.sleep(0.02)
    killed(sender)
    (tmp_path / "hold").unlink()  # the orphaned hook ends too
    assert run(env, "outbox", "flush")[0] == 0
    ids = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert [(s, a, u) for _, s, a, u in statuses(db_path)] == [("SENT", 2, 1)]


def test_a_claim_names_its_process_so_a_reused_pid_is_not_mistaken_for_it():
    import socket

    from ordertrack.store.locks import boot_id, claimant, claimant_gone, start_time

    mine = claimant()
    assert not claimant_gone(mine)
    host, pid, started, boot, token = mine.split(":")
    assert (host, int(pid), boot) == (socket.gethostname(), os.getpid(), boot_id() or "")
    if start_time(os.getpid()) is not None:  # Linux: another process under this pid
        assert claimant_gone(f"{host}:{pid}:{int(started) + 1}:{boot}:{token}")
    assert not claimant_gone(f"elsewhere:{pid}:{started}:{boot}:{token}")  # its lease
    assert not claimant_gone("not a sender") and not claimant_gone(None)


def test_a_claim_written_before_claims_named_their_process_still_recovers():
    """0.2's Telegram claims name host:pid:random only: the pid alone is asked, as then."""
    import socket
    import subprocess

    from ordertrack.store.locks import claimant_gone

    host = socket.gethostname()
    assert not claimant_gone(f"{host}:{os.getpid()}:ab12cd34")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert claimant_gone(f"{host}:{gone}:ab12cd34")
    assert not claimant_gone(f"elsewhere:{gone}:ab12cd34")


def test_the_webhook_module_loads_no_http_library():
    """A run with no webhook configured must not pay for requests (issue 15's start-up work):
    it loads only when a webhook is posted to."""
    code = (
        "import sys, ordertrack.notify.webhook; print(sorted(m for m in ('requests',"
        " 'urllib3', 'tenacity') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], text=True, capture_output=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"
