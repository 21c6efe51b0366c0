"""The stored broker session: JWT expiry, the IST-day rule, storage, and the login lease."""

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ordertrack.broker.kotak import session as sessions
from ordertrack.broker.kotak.session import Session, jwt_expiry, reusable
from ordertrack.errors import BrokerUnavailable
from ordertrack.store import locks
from ordertrack.store.db import open_db, transaction
from ordertrack.timeutil import UTC, to_db, utcnow
from tests.fake_kotak import ist


def jwt(claims: object) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.c2ln"


def session(created: datetime, expires: datetime | None = None, token: str = "t1") -> Session:
    return Session(token, "sid", "https://e43.example", created, expires, sessions.ist_day(created))


# ---- JWT exp ---------------------------------------------------------------------------------


EXP = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_jwt_expiry_reads_the_exp_claim_without_verifying():
    assert jwt_expiry(jwt({"sub": "x", "exp": EXP.timestamp()})) == EXP


@pytest.mark.parametrize(
    "token",
    [
        jwt({"sub": "x"}),  # no exp
        jwt({"exp": "tomorrow"}),
        jwt({"exp": True}),
        jwt({"exp": 10**20}),
        jwt([1, 2]),
        "not-a-jwt",
        "a.b.c",
        "a.!!!.c",
        "",
    ],
)
def test_jwt_expiry_is_none_when_unreadable(token):
    assert jwt_expiry(token) is None


# ---- reuse rule ------------------------------------------------------------------------------


def test_a_session_is_reused_the_same_ist_day():
    assert reusable(session(ist("2026-11-24 09:00")), ist("2026-11-24 15:00"))


def test_a_session_is_not_reused_on_the_next_ist_day_even_on_the_same_utc_date():
    # 23:50 IST and 00:20 IST next day are both 24 Nov in UTC.
    login, later = ist("2026-11-24 23:50"), ist("2026-11-25 00:20")
    assert login.date() == later.date()
    assert not reusable(session(login), later)


def test_a_session_about_to_expire_is_not_reused():
    login = ist("2026-11-24 09:00")
    expires = login + timedelta(hours=1)
    assert reusable(session(login, expires), expires - timedelta(minutes=5))
    assert not reusable(session(login, expires), expires - timedelta(minutes=1))
    assert not reusable(session(login, expires), expires + timedelta(minutes=1))


def test_the_token_the_broker_just_refused_is_not_reused():
    s = session(ist("2026-11-24 09:00"), token="dead")
    assert not reusable(s, ist("2026-11-24 09:05"), stale_token="dead")
    assert reusable(s, ist("2026-11-24 09:05"), stale_token="other")


def test_create_takes_expiry_from_the_token_and_the_day_from_ist():
    s = Session.create(
        jwt({"exp": int(EXP.timestamp())}), "sid", "https://e43.example/", ist("2026-11-24 00:30")
    )
    assert s.trading_day == date(2026, 11, 24)
    assert s.expires_at == EXP
    assert s.base_url == "https://e43.example"


def test_the_token_is_not_in_the_repr():
    assert "secret-token" not in repr(session(utcnow(), token="secret-token"))


# ---- storage ---------------------------------------------------------------------------------


@pytest.fixture
def db(db_path):
    return open_db(db_path)


def test_a_saved_session_loads_back(db):
    saved = session(ist("2026-11-24 09:00"), ist("2026-11-24 23:59"))
    sessions.save(db, "kotak", saved)
    assert sessions.load(db, "kotak") == saved
    assert sessions.load(db, "kite") is None


def test_an_unreadable_stored_session_counts_as_none(db):
    sessions.save(db, "kotak", session(ist("2026-11-24 09:00")))
    with transaction(db):
        db.execute("UPDATE broker_sessions SET trading_day = 'garbage'")
    assert sessions.load(db, "kotak") is None


def test_obtain_logs_in_once_and_then_reuses(db):
    logins = []

    def login() -> Session:
        logins.append(1)
        return session(utcnow(), token=f"t{len(logins)}")

    first, fresh = sessions.obtain(db, "kotak", login)
    again, fresh_again = sessions.obtain(db, "kotak", login)
    assert (fresh, fresh_again, len(logins)) == (True, False, 1)
    assert again == first
    renewed, fresh = sessions.obtain(db, "kotak", login, stale_token=first.token)
    assert (renewed.token, fresh, len(logins)) == ("t2", True, 2)


def test_a_failed_login_stores_nothing_and_frees_the_lease(db):
    def login() -> Session:
        raise BrokerUnavailable("refused")

    with pytest.raises(BrokerUnavailable):
        sessions.obtain(db, "kotak", login)
    assert db.execute("SELECT count(*) FROM broker_sessions").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM locks").fetchone()[0] == 0


# ---- the login lease -------------------------------------------------------------------------


def _hold(db, pid: int, expires: datetime) -> None:
    with transaction(db):
        db.execute(
            "INSERT INTO locks (name, command, pid, host, token, acquired_at,"
            " expires_at) VALUES ('login:kotak', 'login', ?, ?, 'other', ?, ?)",
            (pid, socket.gethostname(), to_db(utcnow()), to_db(expires)),
        )


def test_a_held_lease_is_not_taken(db):
    _hold(db, os.getpid(), utcnow() + timedelta(minutes=1))
    assert locks._try_take(db, "login:kotak", "login", "mine", sessions.LEASE) is not None


def test_an_expired_lease_is_taken(db):
    _hold(db, os.getpid(), utcnow() - timedelta(seconds=1))
    assert locks._try_take(db, "login:kotak", "login", "mine", sessions.LEASE) is None


def test_the_lease_of_a_dead_process_is_taken(db):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    _hold(db, int(gone.stdout), utcnow() + timedelta(minutes=1))
    assert locks._try_take(db, "login:kotak", "login", "mine", sessions.LEASE) is None


def test_a_run_that_waits_for_another_login_reuses_its_session(db_path: Path):
    open_db(db_path)
    logins: list[str] = []
    results: list[tuple[Session, bool]] = []

    def slow_login() -> Session:
        logins.append(threading.current_thread().name)
        time.sleep(0.5)
        return session(utcnow(), token=f"t{len(logins)}")

    def run() -> None:
        results.append(sessions.obtain(open_db(db_path), "kotak", slow_login))

    threads = [threading.Thread(target=run, name=f"run{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(logins) == 1
    assert sorted(fresh for _, fresh in results) == [False, True]
    assert results[0][0].token == results[1][0].token == "t1"


def test_waiting_for_a_lease_is_bounded(db, monkeypatch):
    monkeypatch.setattr(locks, "POLL_SECONDS", 0.001)
    monkeypatch.setattr(sessions, "LOGIN_WAIT_SECONDS", 0.005)
    _hold(db, os.getpid(), utcnow() + timedelta(minutes=1))
    with pytest.raises(BrokerUnavailable, match="another ordertrack run is still logging in"):
        with sessions.login_lease(db, "kotak"):
            pass
