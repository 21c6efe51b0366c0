"""The daily summary's Telegram text with every section filled: a snapshot, and clean splits."""

from ordertrack.notify.messages import message, summary_lines
from tests.fake_telegram import visible_text


def row(
    oid: str,
    symbol: str,
    side: str = "BUY",
    qty: int = 10,
    filled: int = 10,
    price: float | None = 184990.0,
    reason: str | None = None,
    **extra: object,
) -> dict:
    return {
        "order_id": oid,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "filled_qty": filled,
        "avg_price": price,
        "reason": reason,
        **extra,
    }


FULL = {
    "trading_day": "2026-11-30",
    "complete": True,
    "corrected": False,
    "broker_error": None,
    "placed": 9,
    "executed": [row("261130000000001", "MRF-EQ")],
    "rejected": [
        row("261130000000002", "TCS-EQ", qty=5, filled=0, price=None, reason="RMS:Margin Exceeds")
    ],
    "cancelled": [
        row("261130000000003", "INFY-EQ", "SELL", 20, 4, 1520.5, reason="cancelled by user")
    ],
    "expired": [
        row(
            "261130000000004",
            "SBIN-EQ",
            qty=3,
            filled=0,
            price=None,
            reason="not seen in the order book for 3 fetches",
        )
    ],
    "unconfirmed": [
        row(
            "261130000000005",
            "M&M-EQ",
            qty=2,
            filled=0,
            price=None,
            reason="final state unconfirmed: not in the order book",
        )
    ],
    "corrections": [],
    "partially_filled": 1,
    "still_pending": [
        row(
            "261130000000006", "ITC-EQ", qty=100, filled=40, price=412.35, status="PARTIALLY_FILLED"
        ),
        row("261130000000007", "WIPRO-EQ", qty=7, filled=0, price=None, status="PENDING"),
    ],
    "tracked": [{"symbol": "ITC-EQ", "tracked_qty": 40}, {"symbol": "MRF-EQ", "tracked_qty": 10}],
    "manual_trades": 1,
    "notifications_failed": 2,
}

SNAPSHOT = """\
📊 Daily summary Mon 30 Nov 2026
Placed 9, executed 1, rejected 1, cancelled 1, partially filled 1, expired 1, final state \
unconfirmed 1, still pending 1
Executed: BUY MRF-EQ 10/10 at ₹1,84,990.00 (order 261130000000001)
Partially filled, still open: BUY ITC-EQ 40/100 at ₹412.35 (order 261130000000006)
Rejected: BUY TCS-EQ 0/5 (order 261130000000002): RMS:Margin Exceeds
Cancelled: SELL INFY-EQ 4/20 at ₹1,520.50 (order 261130000000003): cancelled by user
Expired: BUY SBIN-EQ 0/3 (order 261130000000004): not seen in the order book for 3 fetches
Final state unconfirmed (expired without the broker's word; check them in the broker's app):
  BUY M&M-EQ 0/2 (order 261130000000005): final state unconfirmed: not in the order book
Still pending: BUY WIPRO-EQ 0/7 (order 261130000000007)
Tracked: ITC-EQ 40, MRF-EQ 10
Manual trades detected: 1
Notifications that could not be delivered: 2"""


def test_every_section_on_telegram() -> None:
    [part] = message("DAILY_SUMMARY", FULL)
    assert part.plain == SNAPSHOT
    assert visible_text(part.html) == SNAPSHOT


def test_terminal_and_telegram_say_the_same() -> None:
    assert "\n".join(summary_lines(FULL)) == SNAPSHOT.removeprefix("📊 ")


def test_a_long_summary_splits_between_lines() -> None:
    many = {**FULL, "executed": [row(f"2611300000{n:05d}", f"SYM{n}-EQ") for n in range(400)]}
    parts = message("DAILY_SUMMARY", many)
    assert len(parts) > 1
    lines = [line for p in parts for line in p.plain.splitlines()]
    for n in range(400):  # every order whole, on one line of one part
        assert any(
            line.startswith(
                f"Executed: BUY SYM{n}-EQ 10/10 at ₹1,84,990.00 (order 2611300000{n:05d})"
            )
            for line in lines
        ), n
