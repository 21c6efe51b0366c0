"""Side channels (issue 23 rows 12 and 13): `outbox flush` and `verify` count Telegram, each
webhook and each hook under its own name; a webhook or hook that cannot send (its secret unset,
its table broken) is held — its events wait, tracking goes on, the run exits 6 — and sends
them all in feed order once fixed."""

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.timeutil import IST
from tests.helpers import kotak_row, unwrapped
from tests.webhook_receiver import SECRET

HOOK = """import json, sys
from pathlib import Path
event = json.loads(sys.stdin.read())
with open(Path(sys.argv[1]) / "hook.jsonl", "a") as out:
    out.write(json.dumps(event) + "\\n")
"""


def configure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: str, hook: bool = True
) -> Path:
    """A config with `webhook` (a [[webhook]] table's body) and a command hook (named by its
    program, sys.executable, in output)."""
    script = tmp_path / "engine-hook.py"
    script.write_text(HOOK)
    command = json.dumps([sys.executable, str(script), str(tmp_path)])
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[notify]\ntimeout_seconds = 1\n"
        f"[[webhook]]\n{webhook}\n" + (f"[[hook]]\ncommand = {command}\n" if hook else "")
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    return config


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def three_fills(cli, broker) -> None:
    """Three registered orders, all filled at the broker (verify is left to the test)."""
    for n, symbol in (("1", "INFY"), ("2", "SBIN"), ("3", "ITC")):
        assert (
            cli("pending", "add", n, "--symbol", symbol, "--side", "buy", "--qty", "100").code == 0
        )
    broker.orders(
        *(
            kotak_row(n, "complete", symbol=s, filled=100, avg="10.00")
            for n, s in (("1", "INFY"), ("2", "SBIN"), ("3", "ITC"))
        )
    )


def feed_ids(sql) -> list[int]:
    return [i for (i,) in sql("SELECT id FROM feed ORDER BY id")]


# ---- row 12: counts named by channel -----------------------------------------------------------


def test_flush_counts_each_webhook_and_hook_under_its_own_name(
    cli, broker, receiver, tmp_path, monkeypatch, sql
):
    """No Telegram: nothing is called Telegram's; the webhook (named by its URL, query hidden)
    and the hook (by its program) each get their own line, in verify and in outbox flush."""
    configure(
        tmp_path,
        monkeypatch,
        f'url = "{receiver.url}?token=q-secret-77"\nsecret_env = "ENGINE_HOOK_SECRET"',
    )
    monkeypatch.setenv("ENGINE_HOOK_SECRET", SECRET)
    with freeze_time(ist(2026, 11, 30, 9, 30)) as clock:
        assert cli("outbox", "flush").code == 0  # both channels start before any event
        three_fills(cli, broker)
        receiver.script = ["400", "500"]  # the first event fails for good, the second waits
        clock.move_to(ist(2026, 11, 30, 10, 0))
        verified = cli("verify")
        events = len(feed_ids(sql))
        assert verified.code == ExitCode.UNDELIVERED
        webhook = f"Webhook {receiver.url}?<redacted>"
        assert f"{webhook}: 0 sent, {events - 1} waiting, 1 failed." in verified.out
        assert f"Hook {sys.executable}: {events} sent, 0 waiting, 0 failed." in verified.out
        clock.move_to(ist(2026, 11, 30, 10, 5))  # past the 500's backoff
        flushed = cli("outbox", "flush")
    assert flushed.code == 0, flushed.err
    assert f"{webhook}: {events - 1} sent, 0 waiting, 0 failed." in flushed.out
    assert f"Hook {sys.executable}: 0 sent, 0 waiting, 0 failed." in flushed.out
    assert "Telegram:" not in flushed.out + verified.out
    assert "q-secret-77" not in flushed.out + flushed.err + verified.out + verified.err


def test_telegram_and_a_named_webhook_are_counted_apart(
    cli, broker, receiver, telegram, tmp_path, monkeypatch, sql
):
    configure(
        tmp_path,
        monkeypatch,
        f'name = "engine"\nurl = "{receiver.url}"\n'
        'secret_env = "ENGINE_HOOK_SECRET"\nkinds = ["EXECUTED"]',
        hook=False,
    )
    monkeypatch.setenv("ENGINE_HOOK_SECRET", SECRET)
    with freeze_time(ist(2026, 11, 30, 9, 30)) as clock:
        cli("outbox", "flush")
        three_fills(cli, broker)
        clock.move_to(ist(2026, 11, 30, 10, 0))
        verified = cli("verify")
    assert verified.code == 0, verified.err
    messages = sql("SELECT count(*) FROM deliveries WHERE status = 'SENT'")[0][0]
    assert messages >= 3
    assert f"Telegram: {messages} sent, 0 waiting, 0 failed." in verified.out
    assert "Webhook engine: 3 sent, 0 waiting, 0 failed." in verified.out  # EXECUTED only


# ---- row 13: a side channel never stops tracking ----------------------------------------------


def test_a_webhook_without_its_secret_is_held_while_tracking_goes_on(
    cli, broker, receiver, tmp_path, monkeypatch, sql
):
    configure(
        tmp_path, monkeypatch, f'url = "{receiver.url}"\nsecret_env = "NOPE_SECRET"', hook=False
    )
    broker.write("holdings.json", {"data": []})
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
    with freeze_time(ist(2026, 11, 30, 9, 30)) as clock:
        assert cli("outbox", "flush").code == ExitCode.UNDELIVERED  # held from the start
        three_fills(cli, broker)
        clock.move_to(ist(2026, 11, 30, 10, 0))
        verified = cli("verify")
        clock.move_to(ist(2026, 11, 30, 16, 0))
        reconciled = cli("reconcile")
        clock.move_to(ist(2026, 11, 30, 18, 30))
        closed = cli("eod")
        for run in (verified, reconciled, closed):
            assert run.code == ExitCode.UNDELIVERED, run.err
            assert run.err.count("NOPE_SECRET") == 1, run.err  # named once, on one line
        assert sql("SELECT status, filled_qty FROM orders ORDER BY id") == [("EXECUTED", 100)] * 3
        assert sql("SELECT kind FROM outbox WHERE kind = 'DAILY_SUMMARY'") == [("DAILY_SUMMARY",)]
        assert receiver.got == []
        held = sql("SELECT feed_id, status FROM webhook_deliveries ORDER BY feed_id")
        assert held == [(i, "PENDING") for i in feed_ids(sql)] and len(held) >= 6
        doctor = cli("doctor", "--offline")
        problems = [line for line in unwrapped(doctor.out).splitlines() if "NOPE_SECRET" in line]
        assert len(problems) == 1
        assert problems[0].startswith(f"PROBLEM  channels: webhook {receiver.url} is held")
        assert "fix: " in problems[0]
        monkeypatch.setenv("NOPE_SECRET", SECRET)
        flushed = cli("outbox", "flush")
    assert flushed.code == 0, flushed.err
    assert f"Webhook {receiver.url}: {len(held)} sent, 0 waiting, 0 failed." in flushed.out
    assert [int(g["key"]) for g in receiver.got] == feed_ids(sql)  # every event, in feed order
    assert all(g["signed"] for g in receiver.got)


@pytest.mark.parametrize(
    "broken", ['colour = "blue"', 'notify = { executed = "off" }', 'kinds = ["NOT_A_KIND"]']
)
def test_a_broken_channel_table_is_held_and_opens_its_events_once_fixed(
    cli, broker, receiver, tmp_path, monkeypatch, sql, broken
):
    table = f'url = "{receiver.url}"\nsecret_env = "ENGINE_HOOK_SECRET"'
    config = configure(tmp_path, monkeypatch, f"{table}\n{broken}")
    monkeypatch.setenv("ENGINE_HOOK_SECRET", SECRET)
    with freeze_time(ist(2026, 11, 30, 9, 30)) as clock:
        assert cli("outbox", "flush").code == ExitCode.UNDELIVERED
        three_fills(cli, broker)
        clock.move_to(ist(2026, 11, 30, 10, 0))
        verified = cli("verify")
        assert verified.code == ExitCode.UNDELIVERED, verified.err
        assert verified.err.count("[[webhook]] 1") == 1, verified.err
        assert f"Hook {sys.executable}: " in verified.out  # the healthy one still delivers
        assert sql("SELECT count(*) FROM orders WHERE status = 'EXECUTED'") == [(3,)]
        config.write_text(config.read_text().replace(broken, ""))
        assert cli("outbox", "flush").code == 0
    assert [int(g["key"]) for g in receiver.got] == feed_ids(sql)


# ---- row 16: [eod] delivered_keep_days is checked ----------------------------------------------


@pytest.mark.parametrize("value", ["0", "-3", '"90"', "1.5", "36601"])
def test_delivered_keep_days_must_be_a_whole_number_of_days(
    cli, fresh_db, tmp_path, monkeypatch, value
):
    config = tmp_path / "ordertrack.toml"
    config.write_text(f"[eod]\ndelivered_keep_days = {value}\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    result = cli("status")
    assert result.code == ExitCode.CONFIG
    assert len(result.err.splitlines()) == 1 and "eod.delivered_keep_days must be" in result.err
    config.write_text("[eod]\ndelivered_keep_days = 1\n")
    assert cli("status").code == 0
