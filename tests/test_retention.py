"""Retention for deliveries (issue 23 row 16): eod deletes finished Telegram deliveries, webhook
deliveries and outbox rows older than [eod] delivered_keep_days (default 90). Orders, events and
the feed stay whole; nothing waiting is touched; an outbox row goes only after all its
deliveries; so a year of history leaves the tables bounded by the window, not by the year."""

import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from ordertrack.store import maintenance
from ordertrack.store.db import open_db
from ordertrack.timeutil import IST, to_db, utcnow
from tests.helpers import kotak_row
from tests.webhook_receiver import SECRET

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from bench_eod import build
from bench_retention import deliveries as year_of_deliveries

KEPT_WHOLE = ("orders", "events", "feed")
DELIVERY_TABLES = ("outbox", "deliveries", "webhook_deliveries")


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def rows(db_path: Path, statement: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(statement, params).fetchall()


def count(db_path: Path, table: str, where: str = "1", *params: object) -> int:
    return rows(db_path, f"SELECT count(*) FROM {table} WHERE {where}", *params)[0][0]


def eod_on_history(tmp_path: Path, monkeypatch, cli, days: int) -> tuple[Path, dict[str, int]]:
    """The eod benchmark's history of `days` trading days (4 orders a day) with a year's
    deliveries, closed by one real eod."""
    db_path = tmp_path / f"{days}" / "ordertrack.db"
    db_path.parent.mkdir()
    build(db_path, days, 4)
    year_of_deliveries(db_path)
    folder = tmp_path / f"{days}" / "broker"
    folder.mkdir()
    (folder / "orders.json").write_text('{"stat": "Not_Ok", "stCode": 5203}')
    config = tmp_path / f"{days}" / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n[eod]\nbackups = 0\n")
    monkeypatch.setenv("ORDERTRACK_DB", str(db_path))
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(folder))
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    whole = {t: count(db_path, t) for t in KEPT_WHOLE}
    built = {
        t: rows(db_path, f"SELECT coalesce(max(id), 0) FROM {t}")[0][0] for t in DELIVERY_TABLES
    }
    waiting = [count(db_path, t, "status = 'PENDING'") for t in DELIVERY_TABLES]
    assert cli("eod").code == 0
    assert {t: count(db_path, t) for t in KEPT_WHOLE} == whole
    assert [
        count(db_path, t, "status = 'PENDING' AND id <= ?", built[t]) for t in DELIVERY_TABLES
    ] == waiting  # eod's own summary aside
    return db_path, built


def test_a_year_of_deliveries_is_bounded_by_the_window_not_the_history(cli, tmp_path, monkeypatch):
    """A 100-day and a 250-day history keep the same finished rows after eod: those of the last
    90 days. Before, nothing was ever deleted (the 250-day tables were 2.5 times larger)."""
    cutoff = to_db(utcnow() - timedelta(days=90))
    kept = {}
    for days in (100, 250):
        db_path, built = eod_on_history(tmp_path, monkeypatch, cli, days)
        for table in DELIVERY_TABLES:
            old = count(db_path, table, "created_at < ? AND status != 'PENDING'", cutoff)
            assert old == 0, (days, table)
        kept[days] = [
            count(
                db_path,
                t,
                "id <= ? AND NOT (status = 'PENDING' AND created_at < ?)",
                built[t],
                cutoff,
            )
            for t in DELIVERY_TABLES
        ]  # the window, whole
        assert all(n > 100 for n in kept[days])
    assert kept[100] == kept[250]


def test_an_outbox_row_waits_for_all_its_deliveries_and_alerts_and_digests_are_kept_right(fresh_db):
    """Store level: a finished row with a delivery still waiting stays; a run alert (a source of
    the feed) stays; a digest goes with the rows it carried, only once it is finished."""
    now = utcnow()
    old, recent = to_db(now - timedelta(days=200)), to_db(now - timedelta(days=3))
    db = open_db(fresh_db)
    outbox = [  # key, kind, status, digest_id, created_at
        ("sent", "EXECUTED", "SENT", None, old),
        ("one-chat-waits", "EXECUTED", "SENT", None, old),
        ("alert", "SYSTEM_ALERT", "SENT", None, old),
        ("muted", "CANCELLED", "OFF", None, old),
        ("digest", "DIGEST", "SENT", None, old),
        ("member", "EXECUTED", "DIGESTED", 5, old),
        ("digest-waits", "DIGEST", "PENDING", None, old),
        ("member-waits", "EXECUTED", "DIGESTED", 7, old),
        ("recent", "EXECUTED", "SENT", None, recent),
    ]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO outbox (key, kind, payload, status, digest_id,"
            " created_at) VALUES (?, ?, '{}', ?, ?, ?)",
            outbox,
        )
        db.conn.executemany(
            "INSERT INTO deliveries (outbox_id, chat_id, status, created_at,"
            " sent_at) VALUES (?, ?, ?, ?, ?)",
            [
                (1, "1001", "SENT", old, old),
                (2, "1001", "SENT", old, old),
                (2, "1002", "PENDING", old, None),
                (3, "1001", "SENT", old, old),
                (5, "1001", "SENT", old, old),
                (7, "1001", "PENDING", old, None),
                (9, "1001", "SENT", recent, recent),
            ],
        )
    gone = maintenance.forget_deliveries(db, now, 90)
    left = [key for (key,) in db.execute("SELECT key FROM outbox ORDER BY id").fetchall()]
    waiting = db.execute("SELECT outbox_id, status FROM deliveries ORDER BY id").fetchall()
    db.close()
    assert left == ["one-chat-waits", "alert", "digest-waits", "member-waits", "recent"]
    assert [tuple(r) for r in waiting] == [(2, "PENDING"), (7, "PENDING"), (9, "SENT")]
    assert gone == {"deliveries": 4, "webhook_deliveries": 0, "outbox": 4, "bot_updates": 0}


def three_fills(cli, broker) -> None:
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
    broker.write("holdings.json", {"data": []})
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})


@pytest.mark.parametrize("keep", [None, 200])
def test_eod_forgets_what_telegram_and_a_webhook_delivered_and_keeps_what_waits(
    cli, broker, telegram, receiver, tmp_path, monkeypatch, sql, keep
):
    """The real day: Telegram and webhook 'engine' deliver three fills; webhook 'later' lacks its
    secret and holds them. 119 days on, eod deletes what was delivered (default 90 days; kept
    with delivered_keep_days = 200) and keeps what 'later' still owes, which goes out whole."""
    config = tmp_path / "ordertrack.toml"
    config.write_text(
        "[calendar]\nnse_holidays = false\n[eod]\nbackups = 0\n"
        + (f"delivered_keep_days = {keep}\n" if keep else "")
        + "".join(
            f'[[webhook]]\nname = "{name}"\nurl = "{receiver.url}"\nsecret_env = "{env}"\n'
            for name, env in (("engine", "ENGINE_SECRET"), ("later", "LATER_SECRET"))
        )
    )
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    monkeypatch.setenv("ENGINE_SECRET", SECRET)
    with freeze_time(ist(2026, 8, 3, 9, 30)) as clock:
        cli("outbox", "flush")
        three_fills(cli, broker)
        clock.move_to(ist(2026, 8, 3, 10, 0))
        assert cli("verify").code == ExitCode.UNDELIVERED  # 'later' is held
        day_one = [i for (i,) in sql("SELECT id FROM feed ORDER BY id")]
        sent_telegram = sql("SELECT count(*) FROM deliveries WHERE status = 'SENT'")[0][0]
        assert sent_telegram >= 3 and len(receiver.got) == len(day_one)
        whole = {t: sql(f"SELECT count(*) FROM {t}") for t in KEPT_WHOLE}
        clock.move_to(ist(2026, 11, 30, 18, 30))
        assert cli("eod").code == ExitCode.UNDELIVERED
        assert {
            t: sql(f"SELECT count(*) FROM {t}")[0][0] >= whole[t][0][0] for t in KEPT_WHOLE
        } == dict.fromkeys(KEPT_WHOLE, True)
        old = "created_at < '2026-08-04'"
        engine = sql(
            f"SELECT count(*) FROM webhook_deliveries WHERE destination = 'webhook:1' AND {old}"
        )[0][0]
        telegram_old = sql(f"SELECT count(*) FROM deliveries WHERE {old}")[0][0]
        outbox_old = sql(f"SELECT count(*) FROM outbox WHERE {old}")[0][0]
        held = sql(
            f"SELECT feed_id FROM webhook_deliveries WHERE destination = 'webhook:2'"
            f" AND status = 'PENDING' AND {old} ORDER BY feed_id"
        )
        assert [i for (i,) in held] == day_one  # what 'later' owes is never deleted
        if keep is None:
            assert (engine, telegram_old, outbox_old) == (0, 0, 0)
        else:
            assert engine == len(day_one) and telegram_old == sent_telegram and outbox_old >= 3
        monkeypatch.setenv("LATER_SECRET", SECRET)
        before = len(receiver.got)
        assert cli("outbox", "flush").code == 0
    later = [int(g["key"]) for g in receiver.got[before:]]
    assert later == [i for (i,) in sql("SELECT id FROM feed ORDER BY id")]  # the feed is whole
