"""SIGKILL at many moments: `verify`, `reconcile` and `eod` as real processes, killed during
start-up, login, the broker fetch, the commit or the sending, then run again normally. The
scenario is in tests/reliability.py (shared with scripts/reliability_report.py). Then two bugs
the trials found, pinned down deterministically, and proof that the checks catch what they are
there to catch."""

import sqlite3
import time
from pathlib import Path

import pytest

from ordertrack.notify.messages import DUPLICATE_NOTE, escape
from tests import reliability
from tests.reliability import COMMANDS, CrashSettings, Figures

# CI size: 8 trials × 3 phases per command, each phase one killed run and one clean re-run.
CI = CrashSettings(trials=8, phases=3, workers=6)


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Figures]:
    """All trials of the three commands, run together (the workers wait on processes)."""
    figures = reliability.crash(tmp_path_factory.mktemp("crash"), COMMANDS, CI)
    return {f.scenario.removeprefix("crash "): f for f in figures}


def describe(figures: Figures) -> str:
    return (
        f"kills {figures.kills}, stages {dict(figures.stages)}, exit codes "
        f"{dict(figures.exit_codes)}; problems:\n" + "\n".join(figures.problems[:40])
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_killed_run_then_a_clean_one_lose_nothing_and_half_apply_nothing(crashes, command):
    figures = crashes[command]
    # after every kill: integrity ok, nothing half-applied (status, fills, events, tracking,
    # outbox, adjustments agree), no broken file named like a backup; after every clean re-run:
    # exit 0, every state the broker showed recorded with exactly its events, tracked
    # quantities right, no lock left, every notification sent (none held back by the killed
    # run's claim); at the end: every notification reached Telegram, a second copy only after
    # an unknown outcome and marked as a possible duplicate
    assert figures.problems == [], describe(figures)
    assert figures.lost == 0 and figures.duplicates_unexplained == 0
    assert figures.delivered > 0 and figures.events > 0
    assert figures.kills >= 17, describe(figures)  # 24 phases: a few runs end before the kill
    assert set(figures.exit_codes) <= {-9, 0, 4, 6}, describe(figures)
    # each explained duplicate has a cause: a kill after Telegram took the message, or a reply
    # that came after the read timeout
    assert figures.duplicates_explained <= figures.unrecorded_sends + figures.telegram_faults
    # the webhook: every feed event reached the receiver, signed; a repeat only with the same
    # Idempotency-Key and body, after a kill that fell between the receiver taking the event
    # and the database recording it
    assert figures.webhook_lost == 0 and figures.webhook_duplicates_unexplained == 0
    assert figures.webhook_delivered >= figures.events > 0
    assert figures.webhook_duplicates_explained <= figures.webhook_unrecorded


def test_kills_fall_at_many_points(crashes):
    total = Figures("all")
    for figures in crashes.values():
        total.add(figures)
    assert total.kills >= 50, describe(total)
    for stage in ("starting", "before commit", "while sending"):
        assert total.stages[stage] >= 2, describe(total)
    assert total.unrecorded_sends >= 1, describe(total)  # Telegram had it, the DB did not know


# ---- killed mid-send, killed mid-backup: found by the trials, pinned down here --------------


def test_the_run_after_a_kill_mid_send_sends_it_once_more_marked_as_a_duplicate(tmp_path):
    """README: after "a run killed mid-send" the message goes once more on a later run, marked.
    The claim of a killed sender must not wait for its 15-minute lease when its pid is gone
    (it did: the next run exited 0 with 'Telegram: 0 sent, 0 waiting')."""
    db_path = tmp_path / "ordertrack.db"
    plan = reliability.Plan(reliability.order_id(1), "SYMA", "BUY", 10, (("complete", 10),))
    reliability.prepare(db_path, [plan], {})
    with reliability.fakes(telegram_delay=10.0) as (kotak, telegram):
        kotak.orders = reliability.order_book([plan], 0)
        env = reliability.environment(
            db_path, reliability.write_config(tmp_path, 30.0), kotak, telegram, ("1001",)
        )
        runner = reliability.Runner(env)
        try:
            telegram.tripwire = reliability.Tripwire()
            telegram.tripwire.arm(1)  # Telegram takes the message, the reply is slow ...
            killed = runner.kill_after(0.1, "verify", after=telegram.tripwire.fired)
            assert killed.killed and len(telegram.messages) == 1  # ... and the run dies
            telegram.tripwire, telegram.delay = None, 0.0
            again = runner.run("verify")  # the next cron run, minutes later
        finally:
            runner.close()
    first = telegram.messages[0]["raw"]
    assert (again.code, again.err) == (0, "")
    assert [m["raw"] for m in telegram.messages] == [first, first + escape(f"\n{DUPLICATE_NOTE}")]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT status, uncertain FROM deliveries").fetchall() == [("SENT", 1)]


def test_an_eod_killed_mid_backup_leaves_no_broken_backup(tmp_path):
    """A backup's name only ever holds a complete copy. (It did not: VACUUM INTO wrote straight
    to the final name, so a kill mid-copy left an empty database named like a backup, kept
    among the newest copies unless eod ran again the same day.)"""
    db_path = tmp_path / "ordertrack.db"
    plans, _ = reliability.crash_plans(with_stale=False)
    reliability.prepare(db_path, plans[:1], {})
    with sqlite3.connect(db_path) as conn:  # a year of history: the copy takes a while
        ref = conn.execute("SELECT id FROM orders").fetchone()[0]
        conn.executemany(
            "INSERT INTO events (order_ref, key, kind, status, filled_qty, raw, at)"
            " VALUES (?, ?, 'NOTE', 'PENDING', 0, ?, '2025-11-24T04:00:00+00:00')",
            ((ref, f"history-{i}", "x" * 400) for i in range(60_000)),
        )
    folder = tmp_path / "backups"
    with reliability.fakes() as (kotak, telegram):
        kotak.orders = reliability.order_book(plans[:1], 0)
        env = reliability.environment(
            db_path, reliability.write_config(tmp_path, 5.0), kotak, telegram, ("1001",)
        )
        runner = reliability.Runner(env)
        try:
            process = runner.start("eod")
            while process.poll() is None:  # kill as soon as the copy has begun
                if folder.exists() and any(f.stat().st_size for f in folder.iterdir()):
                    process.kill()
                    break
                time.sleep(0.001)
            killed = runner.finish(process, ("eod",))
            if not killed.killed or any(
                map(reliability.complete_backup, folder.glob(f"{db_path.stem}-*.db"))
            ):
                pytest.skip("eod finished its backup before it could be killed")
            broken = [
                b.name
                for b in folder.glob(f"{db_path.stem}-*.db")
                if not reliability.complete_backup(b)
            ]
            assert broken == [], "a file named like a backup is not a complete copy"
            again = runner.run("eod")  # the same day: a complete backup, nothing left over
        finally:
            runner.close()
    assert again.code == 0, again.err
    backups = list(folder.glob(f"{db_path.stem}-*.db"))
    assert len(backups) == 1 and reliability.complete_backup(backups[0])
    assert sorted(p.name for p in folder.iterdir()) == [backups[0].name]


# ---- the checks can fail ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_verify(tmp_path_factory: pytest.TempPathFactory):
    """A database after one clean verify of the crash orders (second phase: fills, a
    rejection, a cancellation), and what Telegram received."""
    folder = tmp_path_factory.mktemp("clean")
    db_path = folder / "ordertrack.db"
    plans, start = reliability.crash_plans(with_stale=False)
    reliability.prepare(db_path, plans, start)
    with reliability.fakes() as (kotak, telegram):
        kotak.orders = reliability.order_book(plans, 1)
        env = reliability.environment(
            db_path, reliability.write_config(folder, 5.0), kotak, telegram, ("1001",)
        )
        runner = reliability.Runner(env)
        try:
            done = runner.run("verify")
        finally:
            runner.close()
    assert done.code == 0, done.err
    expected = {p.order_id: reliability.expect_order(p, [p.state(1)], True) for p in plans}
    tracked = reliability.expect_tracking(plans, expected, start)
    return db_path, plans, expected, tracked, list(telegram.messages)


def copy_of(db_path: Path, folder: Path, *tamper: str) -> Path:
    target = folder / "copy.db"
    with sqlite3.connect(db_path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
        for statement in tamper:
            copy.execute(statement)
    return target


def test_a_clean_run_passes_every_check(one_verify):
    db_path, plans, expected, tracked, received = one_verify
    assert reliability.consistency(db_path) == []
    assert reliability.check_orders(db_path, plans, expected, tracked) == ([], 0)
    counted = reliability.tally(db_path, received, ("1001",))
    assert (counted.problems, counted.lost, counted.duplicates_unexplained) == ([], 0, 0)
    assert counted.delivered >= 2  # a digest of the fills and the rejection on its own


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (
            "DELETE FROM tracking_changes WHERE cause = 'FILL' AND id = (SELECT min(id) FROM"
            " tracking_changes WHERE cause = 'FILL')",
            "moved the tracked quantity 0 times",
        ),
        (
            "UPDATE orders SET filled_qty = filled_qty + 1 WHERE status = 'EXECUTED'",
            "events add up to",
        ),
        (
            "UPDATE orders SET status = 'PENDING' WHERE status = 'REJECTED'",
            "PENDING but has events",
        ),
        ("DELETE FROM outbox WHERE kind = 'REJECTED'", "has no notification"),
        ("UPDATE tracking SET tracked_qty = tracked_qty + 5", "but its changes add up to"),
        ("DELETE FROM events WHERE kind = 'CANCELLED'", "CANCELLED but its final events are {}"),
    ],
    ids=[
        "fill-not-tracked",
        "filled-without-event",
        "status-behind-event",
        "lost-notification",
        "tracked-drifted",
        "status-without-event",
    ],
)
def test_half_applied_states_are_caught(one_verify, tmp_path, tamper, complaint):
    db_path = copy_of(one_verify[0], tmp_path, tamper)
    problems = reliability.consistency(db_path)
    assert any(complaint in p for p in problems), problems


def test_a_missing_event_or_state_is_caught(one_verify, tmp_path):
    db_path, plans, expected, tracked, _ = one_verify
    copy = copy_of(
        db_path, tmp_path, "DELETE FROM events WHERE kind = 'PARTIAL_FILL' AND filled_qty = 4"
    )
    problems, lost = reliability.check_orders(copy, plans, expected, tracked)
    assert lost == 1 and problems
    ahead = {**expected, plans[0].order_id: reliability.Expected("EXECUTED", 10, ())}
    assert reliability.check_orders(db_path, plans, ahead, tracked)[0]


def test_duplicates_and_losses_at_telegram_are_caught(one_verify):
    db_path, _, _, _, received = one_verify
    first, *rest = received
    again = {**first, "raw": first["raw"] + escape(f"\n{DUPLICATE_NOTE}")}
    cases = {
        "unmarked second copy": ([first, first, *rest], "duplicates_unexplained"),
        "marked copy without an unknown outcome": ([first, again, *rest], "duplicates_unexplained"),
        "message never arrived": (rest, "lost"),
        "message nobody queued": (
            [*received, {**first, "raw": "Executed: BUY ZZZ"}],
            "duplicates_unexplained",
        ),
    }
    for name, (messages, figure) in cases.items():
        counted = reliability.tally(db_path, messages, ("1001",))
        assert getattr(counted, figure) == 1 and counted.problems, name


def test_webhook_losses_and_unexplained_repeats_are_caught(one_verify):
    """The webhook count by Idempotency-Key, on a receiver log made up by hand."""
    from ordertrack.notify.webhook import body_of
    from ordertrack.store import feed
    from ordertrack.store.db import open_db

    db_path = one_verify[0]
    db = open_db(db_path)
    try:
        everything = feed.since(db)
    finally:
        db.close()
    got = [{"key": str(e["id"]), "body": body_of(e).decode(), "signed": True} for e in everything]
    clean = reliability.webhook_tally(db_path, got)
    assert (clean.delivered, clean.lost, clean.duplicates_unexplained, clean.problems) == (
        len(everything),
        0,
        0,
        [],
    )
    first, second, *rest = got
    cases = {
        "never arrived": ([second, *rest], "lost"),
        "repeat without an unknown outcome": (
            [first, first, second, *rest],
            "duplicates_unexplained",
        ),
        "a key for no event": ([*got, {**first, "key": "99999"}], "duplicates_unexplained"),
        "one key, two bodies": (
            [*got, {**first, "body": second["body"]}],
            "duplicates_unexplained",
        ),
        "a bad signature": ([{**first, "signed": False}, second, *rest], "lost"),
    }
    for name, (received, figure) in cases.items():
        counted = reliability.webhook_tally(db_path, received)
        assert getattr(counted, figure) >= 1 and counted.problems, name
