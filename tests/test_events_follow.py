"""`ordertrack events --follow-up-to N` (#16): what is there, then each new event as soon as
another process commits it, for up to N seconds — real processes on one database."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ordertrack.store import feed


@pytest.fixture
def env(db_path: Path) -> dict[str, str]:
    return {**os.environ, "ORDERTRACK_DB": str(db_path), "ORDERTRACK_OUTPUT": "log"}


def ordertrack(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordertrack", *args],
        env=env,
        text=True,
        capture_output=True,
        check=False,
        timeout=60,
    )


def add(env: dict[str, str], order_id: str, symbol: str = "INFY") -> None:
    done = ordertrack(
        env, "pending", "add", order_id, "--symbol", symbol, "--side", "buy", "--qty", "10"
    )
    assert done.returncode == 0, done.stderr


class Follower:
    """`events --follow-up-to` as a process; each line it prints is kept with the moment it
    arrived."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ordertrack", "events", *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.started = time.monotonic()
        self.lines: list[tuple[float, dict]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), json.loads(line)))

    def wait_for(self, count: int, seconds: float = 10.0) -> None:
        ends = time.monotonic() + seconds
        while len(self.lines) < count and time.monotonic() < ends:
            time.sleep(0.02)
        assert len(self.lines) >= count, self.lines

    def finish(self, timeout: float = 30.0) -> tuple[int, float, str]:
        """Exit code, seconds from start to exit, stderr."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        ended = time.monotonic() - self.started
        self.reader.join(5)
        assert self.process.stderr is not None
        return code, ended, self.process.stderr.read()


def test_follows_events_another_process_records_as_they_are_committed(env):
    add(env, "1")
    follower = Follower(env, "--json", "--follow-up-to", "20", "--kind", "REGISTERED")
    follower.wait_for(1)  # what was already there
    assert [e["order_id"] for _, e in follower.lines] == ["1"]
    for n, order_id in enumerate(("2", "3"), 2):
        add(env, order_id)
        committed = time.monotonic()
        follower.wait_for(n)
        assert follower.lines[-1][0] - committed < 2.0  # polled every 0.25 s, not at the end
    ordertrack(env, "track", "add", "TCS", "--qty", "5")  # a TRACKING_CHANGE: not its kind
    add(env, "4")
    follower.wait_for(4)
    follower.process.terminate()
    follower.finish()
    got = [e for _, e in follower.lines]
    assert [e["order_id"] for e in got] == ["1", "2", "3", "4"]
    assert {e["kind"] for e in got} == {"REGISTERED"}
    assert [e["id"] for e in got] == sorted({e["id"] for e in got})
    everything = [
        json.loads(line) for line in ordertrack(env, "events", "--json").stdout.splitlines()
    ]
    assert got == [e for e in everything if e["kind"] == "REGISTERED"]  # same objects


def test_it_ends_after_n_seconds_with_exit_0(env):
    add(env, "1")
    follower = Follower(env, "--follow-up-to", "2", "--json")
    code, seconds, err = follower.finish()
    assert (code, err) == (0, "")
    assert [e["order_id"] for _, e in follower.lines] == ["1"]
    assert 2.0 <= seconds < 2.0 + 5.0  # start-up (a few tenths) and one poll at most beyond


def test_limit_still_caps_the_count_and_ends_it_early(env):
    add(env, "1")
    follower = Follower(env, "--follow-up-to", "60", "--limit", "3", "--json")
    follower.wait_for(1)
    add(env, "2")
    add(env, "3")
    code, seconds, err = follower.finish(timeout=30)
    assert (code, err) == (0, "") and seconds < 30
    assert [e["order_id"] for _, e in follower.lines] == ["1", "2", "3"]


@pytest.mark.parametrize("value", ["-1", "3601", "soon"])
def test_a_bad_duration_is_a_usage_error(cli, fresh_db, value):
    result = cli("events", "--follow-up-to", value)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and "--follow-up-to" in result.err


def test_follow_polls_data_version_until_the_time_is_up(fresh_db):
    """In-process, with a fake clock: an idle feed is only asked for its data version."""
    from ordertrack.store.db import open_db

    db = open_db(fresh_db)
    now = [0.0]
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        now[0] += seconds

    try:
        got = list(feed.follow(db, 0, seconds=1.0, clock=lambda: now[0], sleep=sleep))
    finally:
        db.close()
    assert got == [] and now[0] == pytest.approx(1.0)
    assert naps == [feed.POLL] * 4


def test_a_busy_feed_does_not_keep_it_going_past_its_time(fresh_db):
    """Another process commits before every look: new events are printed, and it still ends
    when the time is up."""
    from ordertrack import api
    from ordertrack.store.db import open_db

    db = open_db(fresh_db)
    now = [0.0]
    added = iter(range(1, 1000))

    def sleep(seconds: float) -> None:
        now[0] += seconds
        api.register_order("INFY", "buy", 1, order_id=str(next(added)), db_path=fresh_db)

    try:
        got = list(feed.follow(db, 0, seconds=1.0, clock=lambda: now[0], sleep=sleep))
    finally:
        db.close()
    assert now[0] == pytest.approx(1.0)
    assert [e["order_id"] for e in got] == ["1", "2", "3"]  # the 4th came as time ran out
