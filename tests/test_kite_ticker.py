"""Our Kite WebSocket fake and the official client agree: KiteTicker (kiteconnect, Twisted and
Autobahn underneath) connects to tests/fake_stream.py with its own URL shape and sees our order
frames arrive as its on_order_update. Run in a child process: Twisted's reactor starts once."""

import json
import subprocess
import sys
import time

import pytest

from tests.fake_kite import kite_row
from tests.fake_stream import FakeKiteTicker

pytest.importorskip("kiteconnect")

CLIENT = r"""
import json, sys
from kiteconnect import KiteTicker
from twisted.internet import reactor

kws = KiteTicker("apikey1", sys.argv[2], root=sys.argv[1], reconnect=False)
kws.on_connect = lambda ws, response: print("connected", flush=True)
def on_order_update(ws, data):
    print(json.dumps(data, default=str), flush=True)
    reactor.callFromThread(reactor.stop)
kws.on_order_update = on_order_update
def on_error(ws, code, reason):
    print("error", code, reason, flush=True)
    reactor.callFromThread(reactor.stop)
kws.on_error = on_error
kws.on_close = lambda ws, code, reason: print("closed", code, reason, flush=True)
kws.on_noreconnect = lambda ws: reactor.callFromThread(reactor.stop)
kws.connect()
"""


def test_kiteticker_hears_our_order_frames():
    fake = FakeKiteTicker(lambda key, token: (key, token) == ("apikey1", "tok1")).begin()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", CLIENT, fake.url, "tok1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "connected"
        fake.wait_connected()
        time.sleep(0.3)  # KiteTicker heard a few of our 1-byte heartbeats first
        row = kite_row("220303000308933", "REJECTED", reason="RMS:Margin Exceeds")
        fake.push(row)
        heard = json.loads(child.stdout.readline())
        child.wait(20)
    finally:
        fake.stop()
    assert heard["order_id"] == "220303000308933"
    assert heard["status"] == "REJECTED" and heard["status_message"] == "RMS:Margin Exceeds"
    assert fake.handshakes[0].startswith("/?api_key=apikey1&access_token=tok1")


def test_kiteticker_is_refused_with_a_bad_token():
    fake = FakeKiteTicker(lambda key, token: False).begin()
    try:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, fake.url, "stale"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        fake.stop()
    assert "connected" not in done.stdout
    assert "403" in done.stdout + done.stderr
