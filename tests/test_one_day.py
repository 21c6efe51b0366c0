"""One truth for a day (issue 22 rows 4, 5, 6, 9; issue 23 row 15): eod, the daily summary,
the report, `status --json`, the datasette missed-runs query and the demo agree on which orders
and runs belong to a trading day, and count each order once."""

import json
import re
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrack.core.lifecycle import UNCONFIRMED
from ordertrack.core.trading_calendar import Calendar
from ordertrack.jobs import schedule
from ordertrack.notify.messages import message, summary_counts
from ordertrack.store import report_data, summary
from ordertrack.store.db import open_db
from ordertrack.store.report_data import Period
from ordertrack.timeutil import IST, to_db
from tests.helpers import kotak_row
from tests.report_day import DAY, Page, add, build, ist
from tests.test_report import report

OUTCOME_TILES = (
    "executed",
    "partially_filled",
    "rejected",
    "cancelled",
    "expired",
    "unconfirmed",
    "still_pending",
)


def _page(db_path: Path, day: str) -> str:
    target = db_path.parent / "reports" / f"{db_path.stem}-report-{day.replace('-', '')}.html"
    return target.read_text(encoding="utf-8")


def _health(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-state="(\w+)">.*?: (\d+)</span>', text)}


# ---- row 4: eod by hand on a Sunday ----------------------------------------------------------


def test_a_sunday_eod_closes_friday_with_fridays_orders_only(cli, broker, db_path):
    with freeze_time(ist(2026, 12, 4, 10, 0)) as clock:  # Friday
        add(cli, "1", "INFY", 10)
        broker.orders(kotak_row("1", "complete", symbol="INFY", qty=10, filled=10, avg="1500.00"))
        clock.move_to(ist(2026, 12, 4, 10, 30))
        assert cli("verify").code == 0  # the database's first run
        clock.move_to(ist(2026, 12, 6, 19, 0))  # Sunday evening: the engine queues Monday's
        add(cli, "2", "TCS", 5)
        add(cli, "3", "ITC", 3)
        broker.orders(
            kotak_row("1", "complete", symbol="INFY", qty=10, filled=10, avg="1500.00"),
            kotak_row("2", "open", symbol="TCS", qty=5),
            kotak_row("3", "open", symbol="ITC", qty=3),
        )
        clock.move_to(ist(2026, 12, 6, 19, 5))
        result = cli("eod")
        status = json.loads(cli("status", "--json").out)
    assert result.code == 0, result.err
    assert "Closing trading day Fri 04 Dec 2026" in result.out
    assert "Finished on Fri 04 Dec" in result.out and "Finished today" not in result.out
    with sqlite3.connect(db_path) as conn:
        [(payload,)] = conn.execute("SELECT payload FROM outbox WHERE kind = 'DAILY_SUMMARY'")
    sent = json.loads(payload)
    [telegram] = message("DAILY_SUMMARY", sent)
    assert (
        "Placed 1, executed 1, rejected 0, cancelled 0, partially filled 0, expired 0, "
        "still pending 0"
    ) in telegram.plain
    expected = {
        "placed": 1,
        "executed": 1,
        "rejected": 0,
        "cancelled": 0,
        "partially_filled": 0,
        "expired": 0,
        "unconfirmed": 0,
        "still_pending": 0,
    }
    assert status["last_closed_day"] == {"trading_day": "2026-12-04", "complete": True, **expected}
    text = _page(db_path, "2026-12-04")
    tiles = Page(text).tiles
    assert {k: int(tiles[k]) for k in expected} == expected
    # 09:15 and 09:45 came before the first run; 10:45..15:30 and reconcile were missed;
    # the eod slot is this very eod's
    assert _health(text) == {
        "ok": 1,
        "broker": 0,
        "failed": 0,
        "missed": 12,
        "running": 1,
        "upcoming": 0,
        "before": 2,
    }
    assert "eod: missed" not in text and "eod: running" in text


def test_status_json_keeps_every_other_key_and_counts_nothing_before_an_eod(cli, broker):
    broker.orders()
    with freeze_time(ist(2026, 12, 1, 12, 0)):
        assert cli("verify").code == 0
        data = json.loads(cli("status", "--json").out)
    assert data["last_closed_day"] is None
    assert list(data) == [
        "database",
        "schema",
        "broker",
        "notifications",
        "telegram_chats",
        "orders",
        "tracked_symbols",
        "outbox",
        "runs",
        "overdue",
        "last_closed_day",
    ]


# ---- row 5: the report -----------------------------------------------------------------------


REASON = "RMS:Margin Exceeds for TCS"


def test_an_order_filled_in_part_then_in_full_counts_once(cli, broker, tmp_path, no_holidays):
    with freeze_time(ist(2026, 12, 1, 9, 20)) as clock:
        for oid, symbol, qty in (("1", "INFY", 10), ("2", "TCS", 5), ("3", "ITC", 3)):
            add(cli, oid, symbol, qty)
        rejected = kotak_row("2", "rejected", symbol="TCS", qty=5, reason=REASON)
        itc = kotak_row("3", "complete", symbol="ITC", qty=3, filled=3, avg="400.00")
        broker.orders(
            kotak_row("1", "open", symbol="INFY", qty=10, filled=4, avg="1500.00"), rejected, itc
        )
        clock.move_to(ist(2026, 12, 1, 9, 30))
        assert cli("verify").code == 0
        broker.orders(
            kotak_row("1", "complete", symbol="INFY", qty=10, filled=10, avg="1500.00"),
            rejected,
            itc,
        )
        clock.move_to(ist(2026, 12, 1, 10, 0))
        assert cli("verify").code == 0
        clock.move_to(ist(2026, 12, 1, 18, 0))
        assert cli("eod").code == 0
    page = Page(report(cli, tmp_path, "--day", DAY))
    tiles = {k: int(v) for k, v in page.tiles.items() if k != "value_traded"}
    assert tiles["placed"] == 3 and tiles["executed"] == 2 and tiles["rejected"] == 1
    assert tiles["partially_filled"] == 0
    assert sum(tiles[k] for k in OUTCOME_TILES) == tiles["placed"]
    assert "".join(page.text).count(REASON) == 1


def test_still_open_now_counts_every_open_order_not_the_last_days(
    cli, broker, tmp_path, no_holidays
):
    """An order registered after Friday's close belongs to Monday: Friday's report says so
    in the count of what is open now (a new-user run saw "Still open now: 0" with 8 open)."""
    broker.orders()
    with freeze_time(ist(2026, 12, 4, 10, 0)) as clock:  # Friday
        add(cli, "1", "INFY", 10)
        clock.move_to(ist(2026, 12, 6, 19, 0))  # Sunday evening: Monday's orders
        add(cli, "2", "TCS", 5)
        add(cli, "3", "ITC", 3)
        text = report(cli, tmp_path, "--day", "2026-12-04")
    assert "Still open now: 3 order(s)" in text


def test_the_timeline_spans_the_session(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", DAY)
    # every order was placed at 09:20 IST: 20 minutes into the 09:00-15:45 axis of 990
    placed = re.findall(r'<rect x="([\d.]+)" y="3" width="3"', text)
    assert placed == ["48.9"] * 4
    axis = re.search(r'<div class="axis">(.*?)</div>', text)
    assert axis and re.findall(r"<span>(.*?)</span>", axis.group(1)) == [
        "09:00",
        "11:15",
        "13:30",
        "15:45",
    ]


def test_the_timeline_collapses_nights_and_weekends(cli, broker, tmp_path, no_holidays):
    broker.orders()
    with freeze_time(ist(2026, 12, 4, 15, 0)) as clock:  # Friday
        add(cli, "1", "INFY", 10)
        clock.move_to(ist(2026, 12, 7, 9, 30))  # Monday
        add(cli, "2", "TCS", 5)
        clock.move_to(ist(2026, 12, 7, 18, 5))
        out = tmp_path / "week.html"
        assert (
            cli("report", "--from", "2026-12-04", "--to", "2026-12-07", "--out", str(out)).code == 0
        )
    text = out.read_text(encoding="utf-8")
    placed = re.findall(r'<rect x="([\d.]+)" y="3" width="3"', text)
    # Friday 15:00 is 360/405 of the first half; Monday 09:30 30/405 into the second
    assert placed == ["440.0", "531.7"]
    assert "Sat 05 Dec" not in text.split('id="orders"')[1].split("</section>")[0]


def test_the_run_health_strip_has_the_schedules_slots(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", DAY)
    strip = text.split('id="run-health"')[1]
    slots = re.findall(r"<title>(\d\d:\d\d): ", strip)
    verify_job = next(j for j in schedule.JOBS if j.command == "verify")
    assert slots == [f"{t:%H:%M}" for t in verify_job.times]
    assert "15:30" in slots


def test_no_slot_is_missed_before_the_databases_first_run(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", "2026-11-30")  # the Monday before the first run
    assert _health(text)["missed"] == 0
    assert _health(text)["before"] == len(schedule.JOBS[0].times) + 2


# ---- the counts, property-tested -------------------------------------------------------------

CAL = Calendar(frozenset())
FRIDAY = date(2026, 12, 4)
STATES = ("PARTIALLY_FILLED", "EXECUTED", "REJECTED", "CANCELLED", "EXPIRED", "EXPIRED_UNC")
events_strategy = st.lists(st.tuples(st.sampled_from(STATES), st.integers(1, 5000)), max_size=4)
orders_strategy = st.lists(st.tuples(st.integers(0, 6 * 24 * 60), events_strategy), max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(orders=orders_strategy, day_offset=st.integers(0, 1))
def test_outcome_counts_add_up_to_placed_and_match_the_summary(tmp_path, orders, day_offset):
    """Any orders registered from Thursday to Tuesday, with any sequence of events, over the
    days around the weekend: each report day's outcomes add up to its placed, and its tiles are
    the daily summary's numbers (which the Telegram text shows)."""
    start = datetime.combine(date(2026, 12, 3), time(9, 0), tzinfo=IST)
    path = tmp_path / f"prop-{len(list(tmp_path.iterdir()))}.db"
    db = open_db(path)
    try:
        with db.conn:
            for n, (minute, events) in enumerate(orders):
                placed = start + timedelta(minutes=minute)
                db.execute(
                    "INSERT INTO orders (id, order_id, symbol, side, qty, placed_at,"
                    " status, created_at, updated_at) VALUES (?, ?, 'INFY', 'BUY', 10,"
                    " ?, 'PENDING', ?, ?)",
                    (n + 1, str(n + 1), *[to_db(placed)] * 3),
                )
                filled = 0
                for k, (state, later) in enumerate(events):
                    filled = min(10, filled + (4 if state == "PARTIALLY_FILLED" else 0))
                    status = "EXPIRED" if state == "EXPIRED_UNC" else state
                    reason = f"{UNCONFIRMED}: not seen" if state == "EXPIRED_UNC" else None
                    db.execute(
                        "INSERT INTO events (order_ref, key, kind, status, filled_qty,"
                        " at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            n + 1,
                            f"{n}-{k}",
                            status,
                            status,
                            filled,
                            to_db(placed + timedelta(minutes=later * (k + 1))),
                            reason,
                        ),
                    )
        day = CAL.next_trading_day(FRIDAY) if day_offset else FRIDAY
        for period in (Period(day, day), Period(FRIDAY, CAL.next_trading_day(FRIDAY))):
            data = report_data.gather(db, period, CAL, datetime(2026, 12, 9, tzinfo=IST))
            assert sum(data.glance[k] for k in OUTCOME_TILES) == data.glance["placed"]
            for s in data.summaries:
                numbers = summary.counts(s)
                assert sum(numbers[k] for k in OUTCOME_TILES) == numbers["placed"]
                shown = dict(summary_counts(s))
                assert shown["Placed"] == numbers["placed"]
                assert shown["Still pending"] == numbers["still_pending"]
                assert shown["Partially filled"] == numbers["partially_filled"]
            single = [summary.counts(s) for s in data.summaries]
            assert {k: sum(c[k] for c in single) for k in ("placed", *OUTCOME_TILES)} == {
                k: data.glance[k] for k in ("placed", *OUTCOME_TILES)
            }
        every = sum(
            summary.counts(summary.gather(db, d, None, CAL))["placed"]
            for d in (
                date(2026, 12, 3),
                FRIDAY,
                date(2026, 12, 7),
                date(2026, 12, 8),
                date(2026, 12, 9),
            )
        )
        last_close = CAL.close_of(date(2026, 12, 9))
        assert every == sum(
            1
            for minute, _ in orders
            if start + timedelta(minutes=minute) < last_close
            and start + timedelta(minutes=minute) >= CAL.close_of(date(2026, 12, 2))
        )
    finally:
        db.close()


# ---- row 6: datasette's missed-runs query ----------------------------------------------------


def test_missed_runs_start_at_the_first_run_and_count_a_weekend_eod(
    cli, db_path, fresh_db, no_holidays
):
    metadata = json.loads(cli("datasette-metadata").out)
    sql = metadata["databases"]["ordertrack"]["queries"]["missed_runs"]["sql"]
    today = datetime.now(IST).date()  # SQLite's 'now' is not frozen
    friday = today - timedelta(days=4)
    while friday.weekday() != 4:
        friday -= timedelta(days=1)
    first = friday - timedelta(days=7)

    def run(command: str, moment: datetime) -> None:
        conn.execute(
            "INSERT INTO runs (command, pid, started_at, outcome) VALUES (?, 1, ?, 'ok')",
            (command, to_db(moment)),
        )

    with sqlite3.connect(db_path) as conn:
        run("verify", datetime.combine(first, time(10, 0), tzinfo=IST))
        for n in range(7):
            day = first + timedelta(days=n)
            if day.weekday() < 5:
                run("eod", datetime.combine(day, time(18, 5), tzinfo=IST))
        run("eod", datetime.combine(friday + timedelta(days=1), time(11, 0), tzinfo=IST))
        missed = [r[0] for r in conn.execute(sql).fetchall() if r[1] == "eod"]
    assert missed, "the weekdays after that Friday have no eod"
    assert all(day > str(friday) for day in missed), missed


# ---- row 9: the demo on a Sunday -------------------------------------------------------------


def test_the_demo_on_a_sunday_plays_the_last_trading_day(cli, tmp_path):
    keep = tmp_path / "demo"
    with freeze_time(ist(2026, 12, 6, 12, 0)):  # Sunday
        result = cli("demo", "--keep", str(keep))
    assert result.code == 0, result.err
    assert (
        "No trading session today (Sun 06 Dec 2026): simulating the last trading day, "
        "Fri 04 Dec 2026." in result.out
    )
    assert "Fri 04 Dec 09:16: the market opens" in result.out
    with sqlite3.connect(keep / "demo.db") as conn:
        placed = [r[0] for r in conn.execute("SELECT placed_at FROM orders")]
    days = {datetime.fromisoformat(p).astimezone(IST).date() for p in placed}
    assert days == {date(2026, 12, 3), date(2026, 12, 4)}
    assert all(Calendar().is_trading_day(d) for d in days)


# ---- issue 23 row 15: bidi characters in the report ------------------------------------------


def test_bidi_characters_in_a_reason_are_visible_escapes_in_the_report(
    cli, broker, tmp_path, no_holidays
):
    reason = "RMS:\u202eLIAF\u202c margin \u200fshort\u2066x\u2069"
    with freeze_time(ist(2026, 12, 1, 9, 20)) as clock:
        add(cli, "1", "TCS", 5)
        broker.orders(kotak_row("1", "rejected", symbol="TCS", qty=5, reason=reason))
        clock.move_to(ist(2026, 12, 1, 9, 30))
        assert cli("verify").code == 0
    text = report(cli, tmp_path, "--day", DAY)
    for mark in "\u202e\u202c\u200f\u2066\u2069":
        assert mark not in text
    assert r"RMS:\u202eLIAF\u202c margin \u200fshort\u2066x\u2069" in text


def test_build_fixture_still_agrees(cli, broker, tmp_path, no_holidays):
    """The report day's eod summary, its report and status --json say the same numbers."""
    eod = build(cli, broker)
    with freeze_time(ist(2026, 12, 1, 18, 5)):
        status = json.loads(cli("status", "--json").out)
    tiles = Page(report(cli, tmp_path, "--day", DAY)).tiles
    numbers = summary.counts(eod["summary"])
    assert {k: int(tiles[k]) for k in numbers} == numbers
    assert status["last_closed_day"] == {"trading_day": DAY, "complete": True, **numbers}
    assert sum(numbers[k] for k in OUTCOME_TILES) == numbers["placed"] == 4
