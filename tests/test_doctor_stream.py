"""`doctor` (online) opens the order-update stream `listen` would hold, waits a bounded time
for its first sign of life and closes it: the real CLI against the loopback stream fakes
(tests/fake_stream.py) speaking Kite's and Kotak Neo's protocols, including a feed that never
acknowledges, a silent server and a refused session."""

import json
import time

import pytest

from ordertrack.jobs import doctor_stream


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(doctor_stream, "WAIT", 0.5)


def stream_check(cli) -> dict:
    data = json.loads(cli("doctor", "--json").out)
    return next(c for c in data["checks"] if c["check"] == "stream")


def test_kite_stream_that_heartbeats_is_ok(cli, kite_login, kite_ticker):
    check = stream_check(cli)
    assert check["ok"] and not check["skipped"], check
    assert "kite: the order stream accepted the session and sent its first frame" in check["detail"]
    assert kite_ticker.connects == 1 and kite_ticker.wait_closed()  # opened once, closed


def test_kite_stream_that_never_speaks_is_a_problem(cli, kite_login, kite_ticker):
    kite_ticker.heartbeat = None
    started = time.monotonic()
    check = stream_check(cli)
    assert not check["ok"]
    assert "opened but sent no frame within 0.5 s" in check["detail"]
    assert "docs/listen.md" in check["fix"]
    assert time.monotonic() - started < 10  # bounded


def test_kite_stream_refusing_the_session_names_the_daily_login(cli, kite_login, kite_ticker):
    kite_ticker.refuse = 403
    check = stream_check(cli)
    assert not check["ok"]
    assert check["detail"] == "Kite's order stream refused the session (HTTP 403)"
    assert "ordertrack broker login" in check["fix"]
    assert "access_token" not in json.dumps(check)


def test_kite_without_todays_token_says_so_without_connecting(cli, kite, kite_ticker, fresh_db):
    check = stream_check(cli)
    assert not check["ok"] and "no valid access token" in check["detail"]
    assert "ordertrack broker login" in check["fix"]
    assert kite_ticker.handshakes == []


def test_kotak_feed_that_acknowledges_is_ok(cli, kotak, kotak_feed):
    check = stream_check(cli)
    assert check["ok"], check
    assert "kotak: the order stream acknowledged the session" in check["detail"]
    assert len(kotak_feed.first_frames) == 1


def test_kotak_feed_that_never_acknowledges_is_a_problem_after_both_forms(cli, kotak, kotak_feed):
    kotak_feed.ack = "none"
    started = time.monotonic()
    check = stream_check(cli)
    assert not check["ok"]
    assert "did not acknowledge the session within 0.5 s" in check["detail"]
    assert "docs/listen.md" in check["fix"]
    # the JSON first frame, then the raw-string form, as listen alternates
    assert [f.startswith('{"') for f in kotak_feed.first_frames] == [True, False]
    assert time.monotonic() - started < 15


def test_kotak_feed_acknowledging_only_the_raw_form_is_ok(cli, kotak, kotak_feed):
    kotak_feed.ack = "raw-only"
    check = stream_check(cli)
    assert check["ok"], check
    assert len(kotak_feed.first_frames) == 2


def test_kotak_feed_refusing_the_session(cli, kotak, kotak_feed):
    kotak_feed.valid = lambda text: False
    check = stream_check(cli)
    assert not check["ok"] and check["detail"] == "Kotak Neo's order feed refused the session"
    assert "docs/kotak.md" in check["fix"]


def test_kotak_feed_handshake_refused_with_401(cli, kotak, kotak_feed):
    kotak_feed.refuse = 401
    check = stream_check(cli)
    assert not check["ok"] and "HTTP 401" in check["detail"]
    assert "docs/kotak.md" in check["fix"]


def test_file_broker_stream_is_ok(cli, broker, fresh_db):
    check = stream_check(cli)
    assert check["ok"] and "orders.json is watched" in check["detail"]


@pytest.mark.parametrize("name", ["angel", "fyers"])
def test_brokers_without_a_stream_are_skipped(cli, monkeypatch, name, fresh_db):
    monkeypatch.setenv("ORDERTRACK_BROKER", name)
    check = stream_check(cli)
    assert check["skipped"] and "has no push stream here" in check["detail"]


def test_offline_skips_the_stream(cli, kite_login, kite_ticker):
    data = json.loads(cli("doctor", "--offline", "--json").out)
    check = next(c for c in data["checks"] if c["check"] == "stream")
    assert check["skipped"] and kite_ticker.connects == 0
