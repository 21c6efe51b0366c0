"""Overlapping cron runs as real processes: 8 `verify` and one `eod` at once, against one
database, the fake Kotak Neo and the fake Telegram, while every order-book request moves the
orders on. The scenario itself is in tests/reliability.py (shared with
scripts/reliability_report.py)."""

from tests import reliability
from tests.reliability import Figures


def describe(figures: Figures) -> str:
    return (
        f"exit codes {dict(figures.exit_codes)}, logins {figures.logins}, "
        f"{figures.seconds:.1f} s; problems:\n" + "\n".join(figures.problems)
    )


def test_eight_verifies_and_an_eod_at_once_while_the_order_book_moves(tmp_path):
    figures = reliability.overlap(tmp_path, orders=12, verifies=8)
    # every promise the scenario checks: final states, each event once (and no state skipped,
    # since every book a run fetched was committed before the next fetch), tracked quantities,
    # one login, every notification exactly once per chat, no "database is locked"
    assert figures.problems == [], describe(figures)
    assert figures.runs == 8 + 1 + 2  # and the final clean verify and outbox flush
    assert set(figures.exit_codes) <= {0, 5, 6}, describe(figures)
    assert figures.logins == 1
    # 12 orders in five kinds, each seen in every state the broker showed: 3 × (3 partial fills
    # + executed), 3 rejected, 2 × (partial + cancelled), 2 sells × (partial + executed),
    # 2 × 2 partial fills
    assert figures.events == 27, describe(figures)
    assert figures.delivered > 0 and figures.lost == 0
    assert (figures.duplicates_explained, figures.duplicates_unexplained) == (0, 0)


def test_the_expected_events_follow_from_the_books_served():
    """The model the overlap scenario checks against, on its own: an order seen at every step
    has every event; one whose intermediate states fell between two fetches has fewer."""
    plan = reliability.Plan(
        "1", "INFY", "BUY", 10, (("open", 0), ("open", 2), ("open", 5), ("complete", 10))
    )
    every = reliability.expect_order(plan, [plan.state(s) for s in range(5)], True)
    assert every.events == (
        ("REGISTERED", 0),
        ("PARTIAL_FILL", 2),
        ("PARTIAL_FILL", 5),
        ("EXECUTED", 10),
    )
    skipped = reliability.expect_order(plan, [plan.state(0), plan.state(3)], True)
    assert skipped == reliability.Expected("EXECUTED", 10, (("REGISTERED", 0), ("EXECUTED", 10)))
    cancelled = reliability.Plan("2", "INFY", "BUY", 9, (("open", 0), ("cancelled", 3)))
    assert reliability.expect_order(cancelled, [("cancelled", 3)], True).events == (
        ("REGISTERED", 0),
        ("PARTIAL_FILL", 3),
        ("CANCELLED", 3),
    )
