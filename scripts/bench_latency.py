"""Benchmark: broker change → Telegram delivered, with `ordertrack listen` (issue 25).

Loopback brokers — Kite's REST fake and its WebSocket fake (tests/fake_kite.py,
tests/fake_stream.py) — change M orders at random moments of a simulated session, then a burst
of 20 in one second with the stream cut in its middle (the second half changes while we are
away and is never pushed). A loopback Bot API (tests/fake_telegram.py) records when each message
arrives. Realistic delays: 0.5-1.5 s on every order-book reply, 0.3 s on every Telegram call.

Prints p50/p95/max of change → delivered with `listen` (a burst counts once: its first message),
changes missed (target 0), book fetches the burst cost, beside the analytic figures for polling
every 1 and 30 minutes. Cannot be measured here: the broker's own delay between an order's change
and its push. Asserts nothing about time.

    python scripts/bench_latency.py [--orders 10] [--seconds 20] [--seed 7]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ordertrack.timeutil import IST
from tests.fake_kite import ORDERS, SECRETS, FakeKite, kite_row, ok
from tests.fake_kotak import _Handler, _Server
from tests.fake_stream import FakeKiteTicker
from tests.fake_telegram import TOKEN, FakeTelegram

BOOK_DELAY = (0.5, 1.5)
TELEGRAM_DELAY = 0.3


class SlowKite(FakeKite):
    """The REST fake with the order book answering in 0.5-1.5 s, counting fetches."""

    fetches = 0

    def handle(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        # the book as it stands when the request arrives, answered after the delay: a change
        # made while the reply is on its way is not in it (the stricter reading)
        reply = super().handle(method, path, headers, body)
        if path == ORDERS:
            SlowKite.fetches += 1
            time.sleep(random.uniform(*BOOK_DELAY))
        return reply


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10, help="single changes (M)")
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated session length")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    random.seed(args.seed)
    end = datetime.now(IST) + timedelta(minutes=3)
    if end.date() != datetime.now(IST).date():
        sys.exit("too close to midnight IST for an --until today; try again after 00:05 IST")

    kite = SlowKite()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = kite  # type: ignore[assignment]
    kite.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    ticker = FakeKiteTicker(lambda key, token: token in kite._access, heartbeat=1.0).begin()
    telegram = FakeTelegram().start()
    delivered: list[tuple[float, str]] = []

    def on_send(body: dict) -> None:
        time.sleep(TELEGRAM_DELAY)
        delivered.append((time.monotonic(), str(body.get("text", ""))))

    telegram.on_send = on_send
    singles = [f"26010100010{n:04d}" for n in range(args.orders)]
    burst = [f"26010100020{n:04d}" for n in range(20)]
    rows = {i: kite_row(i, "OPEN") for i in singles + burst}
    kite.orders = ok(list(rows.values()))

    with tempfile.TemporaryDirectory(prefix="ordertrack-latency-") as tmp:
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("ORDERTRACK_", "KITE_", "TELEGRAM_"))
            },
            **SECRETS,
            "ORDERTRACK_DB": str(Path(tmp) / "bench.db"),
            "ORDERTRACK_BROKER": "kite",
            "ORDERTRACK_KITE_URL": kite.url,
            "ORDERTRACK_KITE_WS_URL": ticker.url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": "1001",
            "TELEGRAM_API_URL": telegram.url,
        }

        def cli(*words: str, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
            return subprocess.run(
                [sys.executable, "-m", "ordertrack", *words],
                env=env,
                capture_output=True,
                text=True,
                **kw,
            )

        assert cli("broker", "login", kite.request_token()).returncode == 0
        lines = "\n".join(
            json.dumps({"order_id": i, "symbol": "INFY", "side": "buy", "qty": 10})
            for i in singles + burst
        )
        assert cli("pending", "add", "--from", "-", input=lines).returncode == 0
        listen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ordertrack",
                "listen",
                "--until",
                end.strftime("%H:%M"),
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ticker.wait_connected()
        time.sleep(3)  # the connect verify
        changes: dict[str, float] = {}

        def change(order_id: str, push: bool = True) -> None:
            row = kite_row(order_id, "REJECTED", reason="RMS:Margin Exceeds")
            rows[order_id] = row
            kite.orders = ok(list(rows.values()))
            changes[order_id] = time.monotonic()
            if push:
                ticker.push(row)

        moments = sorted(random.uniform(0, args.seconds) for _ in singles)
        started = time.monotonic()
        for order_id, at in zip(singles, moments, strict=True):
            time.sleep(max(0.0, started + at - time.monotonic()))
            change(order_id)
        time.sleep(4)
        fetches_before = SlowKite.fetches
        burst_start = time.monotonic()
        for n, order_id in enumerate(burst):
            change(order_id, push=n < 10)
            if n == 9:
                ticker.drop()  # the second half changes while the stream is down
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            any(i in text for _, text in delivered) for i in singles + burst
        ):
            time.sleep(0.2)
        burst_fetches = SlowKite.fetches - fetches_before
        listen.terminate()
        listen.wait(20)

    def first_delivery(order_id: str) -> float | None:
        return next((t for t, text in delivered if order_id in text), None)

    latencies = [d - changes[i] for i in singles if (d := first_delivery(i)) is not None]
    burst_first = min((d for i in burst if (d := first_delivery(i)) is not None), default=None)
    if burst_first is not None:
        latencies.append(burst_first - burst_start)
    missed = [i for i in singles + burst if first_delivery(i) is None]
    ticker.stop()
    telegram.stop()
    server.shutdown()
    print(
        f"listen (Kite WebSocket, book reply {BOOK_DELAY[0]}-{BOOK_DELAY[1]} s, Telegram"
        f" {TELEGRAM_DELAY} s a call): {len(singles)} single changes + a burst of 20 cut in"
        " the middle"
    )
    print(
        f"  change → Telegram delivered: p50 {statistics.median(latencies):.2f} s,"
        f" p95 {percentile(latencies, 0.95):.2f} s, max {max(latencies):.2f} s"
        f" ({len(latencies)} samples, the burst counted once)"
    )
    print(
        f"  changes missed: {len(missed)} of {len(singles) + len(burst)}"
        f"{' ' + ', '.join(missed) if missed else ''}"
    )
    print(f"  book fetches during the burst (incl. the reconnect verify): {burst_fetches}")
    fetch, send = sum(BOOK_DELAY) / 2, TELEGRAM_DELAY
    for every in (1, 30):
        period = every * 60
        print(
            f"polling every {every} min (analytic, uniform change time): p50"
            f" {period * 0.5 + fetch + send:.0f} s, p95 {period * 0.95 + fetch + send:.0f} s,"
            f" max {period + BOOK_DELAY[1] + send:.0f} s"
        )
    print("not measurable here: the broker's own delay between an order's change and its push")


if __name__ == "__main__":
    main()
