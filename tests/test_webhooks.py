"""Webhooks (#16 part 2): every feed event POSTed to each [[webhook]], signed, in order, once
when nothing fails; retried on 5xx and timeouts with the same Idempotency-Key; a 4xx kept FAILED."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.timeutil import IST
from tests.helpers import kotak_row

SECRET = "whsec-test-4f1c9a7e2b6d8035"


class Receiver:
    """A loopback webhook receiver that checks each signature; `script` answers the next
    requests in turn ('ok', 'slow' (no reply in time), or an HTTP status), then 'ok'."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.script: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, mac = (
                    p.split("=", 1)[1] for p in self.headers["X-Ordertrack-Signature"].split(",")
                )
                expected = hmac.new(
                    SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256
                ).hexdigest()
                with receiver.lock:
                    answer = receiver.script.pop(0) if receiver.script else "ok"
                    receiver.got.append(
                        {
                            "key": self.headers["Idempotency-Key"],
                            "body": body,
                            "signed": hmac.compare_digest(mac, expected),
                            "answer": answer,
                        }
                    )
                if answer == "slow":
                    time.sleep(2)
                status = 200 if answer in ("ok", "slow") else int(answer)
                text = f"bad request, secret was {SECRET}" if status == 400 else "ok"
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(text.encode())
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[dict]:
        return [g for g in self.got if g["answer"] in ("ok",)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def hooked(cli, broker, receiver, tmp_path, monkeypatch) -> Receiver:
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = 1\n"
        f'[[webhook]]\nurl = "{receiver.url}"\nsecret_env = "ENGINE_HOOK_SECRET"\n'
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("ENGINE_HOOK_SECRET", SECRET)
    return receiver


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def day(cli, broker, clock, flush_codes: list[int] | None = None) -> None:
    """Execution, partial fill, rejection, cancellation, manual sell and expiry, flushing the
    outbox after each step."""
    codes = flush_codes if flush_codes is not None else []

    def flush() -> None:
        codes.append(cli("outbox", "flush").code)

    clock.move_to(ist(2026, 11, 27, 15, 0))
    flush()  # the webhook is seen before any event: it gets them all
    broker.history("other", kotak_row("other"))
    assert cli("pending", "add", "4", "--symbol", "ITC", "--side", "buy", "--qty", "100").code == 0
    clock.move_to(ist(2026, 11, 30, 9, 20))
    cli("track", "add", "TCS", "--qty", "50")
    for order_id, symbol, side in (
        ("1", "INFY", "buy"),
        ("2", "SBIN", "buy"),
        ("3", "IDEA", "sell"),
    ):
        assert (
            cli("pending", "add", order_id, "--symbol", symbol, "--side", side, "--qty", "100").code
            == 0
        )
    flush()
    broker.orders(
        kotak_row("1", "open", symbol="INFY", filled=40, avg="1850.00"),
        kotak_row("2", "rejected", symbol="SBIN", reason="RMS:Margin Exceeds"),
        kotak_row("3", "open", symbol="IDEA", side="S"),
    )
    clock.move_to(ist(2026, 11, 30, 10, 0))
    cli("verify")
    broker.orders(
        kotak_row("1", "complete", symbol="INFY", filled=100, avg="1851.00"),
        kotak_row("3", "cancelled", symbol="IDEA", side="S"),
    )
    clock.move_to(ist(2026, 11, 30, 12, 0))
    cli("verify")
    broker.write(
        "holdings.json",
        {
            "data": [
                {"symbol": s, "displaySymbol": s, "quantity": q, "averagePrice": 100.0}
                for s, q in (("TCS", 20), ("INFY", 100))
            ]
        },
    )
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
    clock.move_to(ist(2026, 11, 30, 16, 0))
    cli("reconcile")
    clock.move_to(ist(2026, 11, 30, 18, 0))
    cli("eod")
    for minutes in (5, 10, 20, 40, 80, 160):  # past every backoff
        clock.move_to(
            ist(2026, 11, 30, 18, minutes % 60)
            if minutes < 60
            else ist(2026, 11, 30, 18 + minutes // 60, minutes % 60)
        )
        flush()


def feed(cli) -> list[dict]:
    result = cli("events", "--json")
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def test_a_day_arrives_in_order_signed_each_exactly_once(cli, broker, hooked):
    with freeze_time(ist(2026, 11, 27, 15, 0)) as clock:
        day(cli, broker, clock)
        everything = feed(cli)
    kinds = {e["kind"] for e in everything}
    assert {"PARTIAL_FILL", "EXECUTED", "REJECTED", "CANCELLED", "MANUAL_TRADE", "EXPIRED"} <= kinds
    assert all(g["signed"] for g in hooked.got)
    assert [g["key"] for g in hooked.got] == [str(e["id"]) for e in everything]
    assert [json.loads(g["body"]) for g in hooked.got] == everything
    listed = json.loads(cli("outbox", "list", "--json").out)
    shown = {row["kind"]: [d["chat_id"] for d in row["deliveries"]] for row in listed}
    for kind in ("EXECUTED", "REJECTED", "MANUAL_TRADE", "EXPIRED"):
        assert shown[kind] == ["webhook:1"], (kind, shown)
    assert all(d["status"] == "SENT" for row in listed for d in row["deliveries"])


def test_failures_lose_nothing_and_a_duplicate_keeps_its_key(cli, broker, hooked, sql):
    hooked.script = ["500", "503", "slow", "429", "slow"]
    with freeze_time(ist(2026, 11, 27, 15, 0)) as clock:
        day(cli, broker, clock)
        everything = feed(cli)
    assert all(g["signed"] for g in hooked.got)
    firsts = list(dict.fromkeys(g["key"] for g in hooked.got))
    assert firsts == [str(e["id"]) for e in everything]  # in order, none lost
    by_key: dict[str, set[bytes]] = {}
    for g in hooked.got:
        by_key.setdefault(g["key"], set()).add(g["body"])
    assert all(len(bodies) == 1 for bodies in by_key.values())  # a repeat is the same event
    slow = [g["key"] for g in hooked.got if g["answer"] == "slow"]
    assert slow and all([g["key"] for g in hooked.got].count(key) >= 2 for key in slow)
    assert sql("SELECT DISTINCT status FROM webhook_deliveries") == [("SENT",)]


def test_a_4xx_is_failed_and_kept_and_the_secret_is_never_shown(
    cli, broker, hooked, sql, db_path, capsys, caplog
):
    hooked.script = ["ok", "400"]
    outputs: list[str] = []
    with freeze_time(ist(2026, 11, 27, 15, 0)) as clock:
        codes: list[int] = []
        day(cli, broker, clock, codes)
        everything = feed(cli)
        for args in (
            ("outbox", "list", "--json"),
            ("outbox", "flush"),
            ("status", "--json"),
            ("doctor",),
            ("events", "--json"),
        ):
            result = cli(*args)
            outputs += [result.out, result.err]
    refused = [g["key"] for g in hooked.got if g["answer"] == "400"]
    assert len(refused) == 1 and [g["key"] for g in hooked.got].count(refused[0]) == 1
    [(status, error)] = sql(
        "SELECT status, last_error FROM webhook_deliveries WHERE feed_id = ?", int(refused[0])
    )
    assert status == "FAILED" and "HTTP 400" in error
    assert {g["key"] for g in hooked.got} == {str(e["id"]) for e in everything}  # the rest went
    assert codes[0] == 0 and any(code != 0 for code in codes)
    outputs.append(caplog.text)
    for text in outputs:
        assert SECRET not in text
    for path in Path(db_path).parent.glob("ordertrack.db*"):
        assert SECRET.encode() not in path.read_bytes()
    assert cli("outbox", "flush", "--retry-failed").code == 0
    assert sql("SELECT status FROM webhook_deliveries WHERE feed_id = ?", int(refused[0])) == [
        ("SENT",)
    ]


def test_a_webhook_without_its_secret_is_held(cli, receiver, tmp_path, monkeypatch):
    """Held, not a configuration error (issue 23 row 13; tests/test_channels.py has the day)."""
    config = tmp_path / "ordertrack.toml"
    config.write_text(f'[[webhook]]\nurl = "{receiver.url}"\nsecret_env = "NOPE_SECRET"\n')
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    result = cli("outbox", "flush")
    assert result.code == 6 and result.err.count("NOPE_SECRET") == 1
    config.write_text(f'[[webhook]]\nurl = "{receiver.url}"\nsecret = "inline"\n')
    result = cli("outbox", "flush")
    assert result.code == 6 and "unknown setting secret" in result.err


# ---- command hooks (#16 part 3) ---------------------------------------------------------------

HOOK = """import json, os, sys
from pathlib import Path
here = Path(sys.argv[1])
event = json.loads(sys.stdin.read())
fail = here / "fail"
if fail.exists() and fail.read_text() != "0":
    fail.write_text(str(int(fail.read_text()) - 1))
    print("engine busy, try later")
    sys.exit(3)
with open(here / "got.jsonl", "a") as out:
    out.write(json.dumps([event, os.environ.get("TELEGRAM_BOT_TOKEN")]) + "\\n")
print("handled", event["id"])
"""


@pytest.fixture
def command_hook(cli, broker, tmp_path, monkeypatch) -> Path:
    import sys

    script = tmp_path / "engine-hook.py"
    script.write_text(HOOK)
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[[hook]]\n"
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))},"
        f" {json.dumps(str(tmp_path))}]\n"
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:hook-must-not-see-this")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")  # Telegram unreachable
    return tmp_path


def test_a_command_hook_gets_every_event_once_in_order_even_after_failures(
    cli, broker, command_hook, sql
):
    (command_hook / "fail").write_text("2")  # the first two runs exit 3: retried
    with freeze_time(ist(2026, 11, 27, 15, 0)) as clock:
        day(cli, broker, clock)
        everything = feed(cli)
    got = [json.loads(line) for line in (command_hook / "got.jsonl").read_text().splitlines()]
    assert [event for event, _ in got] == everything
    assert {token for _, token in got} == {None}  # secrets are not passed on
    assert sql("SELECT DISTINCT status FROM webhook_deliveries") == [("SENT",)]
    errors = [e for (e,) in sql("SELECT last_error FROM webhook_deliveries ORDER BY feed_id")]
    assert errors[0].startswith("output: handled")
    first = sql("SELECT attempts FROM webhook_deliveries ORDER BY feed_id LIMIT 1")
    assert first == [(3,)]


# ---- routing per channel (#16 part 4) ---------------------------------------------------------


def test_routing_rejections_to_telegram_and_everything_to_the_webhook(
    cli, broker, receiver, telegram, tmp_path, monkeypatch, sql
):
    """[notify] is Telegram's: all off but `rejected`. The webhook's kinds (all, by default)
    are its own: it hears every event of the day, each exactly once."""
    from ordertrack.config import NOTIFY_EVENTS

    levels = "".join(
        f'{name} = "{"on" if name == "rejected" else "off"}"\n' for name in NOTIFY_EVENTS
    )
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = 1\n"
        f'{levels}[[webhook]]\nurl = "{receiver.url}"\n'
        'secret_env = "ENGINE_HOOK_SECRET"\n'
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("ENGINE_HOOK_SECRET", SECRET)
    with freeze_time(ist(2026, 11, 27, 15, 0)) as clock:
        codes: list[int] = []
        day(cli, broker, clock, codes)
        everything = feed(cli)
    assert set(codes) == {0}
    assert [m["chat_id"] for m in telegram.messages] == ["1001"]
    [text] = telegram.texts()
    assert "SBIN" in text and "RMS:Margin Exceeds" in text  # the rejection, and nothing else
    assert {"EXECUTED", "PARTIAL_FILL", "CANCELLED", "MANUAL_TRADE", "EXPIRED", "REJECTED"} <= {
        e["kind"] for e in everything
    }
    assert all(g["signed"] for g in receiver.got)
    assert [g["key"] for g in receiver.got] == [str(e["id"]) for e in everything]  # once each
    assert [json.loads(g["body"]) for g in receiver.got] == everything
    assert sql("SELECT DISTINCT status FROM webhook_deliveries") == [("SENT",)]


@pytest.mark.parametrize("table", ["webhook", "hook"])
def test_notify_levels_inside_a_channel_point_to_kinds(cli, tmp_path, monkeypatch, table):
    config = tmp_path / "ordertrack.toml"
    target = (
        'url = "http://127.0.0.1:9/h"\nsecret_env = "S"\n'
        if table == "webhook"
        else 'command = ["true"]\n'
    )
    config.write_text(f'[[{table}]]\n{target}notify = {{ executed = "off" }}\n')
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("S", SECRET)
    result = cli("outbox", "flush")
    assert result.code == 6  # the channel is held (issue 23 row 13), not the whole run stopped
    assert "[notify] levels are Telegram's" in result.err and "kinds" in result.err
