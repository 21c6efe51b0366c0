"""What the trader reads: HTML that Telegram accepts and shows exactly as the data was written."""

from datetime import UTC, datetime

import pytest

from ordertrack.notify import messages
from ordertrack.notify.messages import escape, inr, message, split, units
from tests.fake_telegram import visible_text

AT = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 09:30 IST
NASTY = [
    "M&M",
    "BAJAJ_AUTO",
    "BAJAJ-AUTO",
    "a<b",
    "x > y",
    "*bold*",
    "_it_",
    "`tick`",
    "&amp; literally",
    "<b>not bold</b>",
    "-1.5% (partial)",
    "₹ 🙂 emoji",
    '\'"quotes"',
]


@pytest.mark.parametrize("text", NASTY)
def test_escaped_text_arrives_exactly_as_written(text):
    assert visible_text(escape(text)) == text


def test_unescaped_text_is_what_telegram_refuses():  # the check above can fail
    with pytest.raises(ValueError, match="can't parse entities"):
        visible_text("a<b")
    with pytest.raises(ValueError):
        visible_text("M&M")


def order(**extra):
    return {
        "order_id": "250122000624384",
        "symbol": "M&M",
        "side": "BUY",
        "qty": 100,
        "filled_qty": 40,
        "avg_price": 2950.5,
        "reason": None,
        "amo": False,
        **extra,
    }


KINDS = [
    ("EXECUTED", order(filled_qty=100)),
    ("PARTIAL_FILL", order()),
    ("REJECTED", order(filled_qty=0, avg_price=None, reason="RMS:<qty> & *margin*_x")),
    ("CANCELLED", order(reason="cancelled by user")),
    ("EXPIRED", order(reason="stale")),
    ("UNKNOWN_STATUS", order(broker_status="<weird>")),
    ("AMBIGUOUS_MATCH", order(candidates=["1", "2"])),
    ("SYSTEM_ALERT", {"command": "verify", "text": "no verify since 09:15 <IST>"}),
    (
        "MANUAL_TRADE",
        {
            "symbol": "BAJAJ_AUTO",
            "action": "manual_sell",
            "tracked": 10,
            "owned": 5,
            "new_qty": 5,
            "manual_orders": ["77<x>"],
        },
    ),
    (
        "MANUAL_TRADE",
        {
            "symbol": "A&B",
            "action": "manual_sell",
            "tracked": 10,
            "owned": 0,
            "new_qty": 0,
            "manual_orders": [],
            "tracked_days": 3,
        },
    ),
    ("SOMETHING_NEW", {"detail": "<x> & y"}),
    (
        "DAILY_SUMMARY",
        {
            "trading_day": "2026-11-24",
            "complete": True,
            "broker_error": None,
            "placed": 2,
            "executed": [],
            "cancelled": [],
            "expired": [],
            "rejected": [{"side": "BUY", "symbol": "M&M", "qty": 1, "reason": "<RMS> & *x*"}],
            "partially_filled": 0,
            "still_pending": [],
            "tracked": [],
            "manual_trades": 0,
            "notifications_failed": 0,
        },
    ),
    (
        "DIGEST",
        {
            "items": [
                {"kind": "EXECUTED", "payload": order(filled_qty=100)},
                {"kind": "CANCELLED", "payload": order(symbol="A_B")},
            ]
        },
    ),
]


@pytest.mark.parametrize("kind, payload", KINDS, ids=[k for k, _ in KINDS])
def test_every_kind_is_valid_html_saying_the_same_as_its_plain_text(kind, payload):
    [part] = message(kind, payload, AT)
    assert visible_text(part.html) == part.plain


def test_order_message_names_everything_the_trader_needs():
    [part] = message("PARTIAL_FILL", order(amo=True), AT)
    assert part.plain == (
        "◐ Partially filled: BUY M&M (AMO)\n"
        "Filled 40/100 at ₹2,950.50 · value ₹1,18,020.00 · 60 remaining\n"
        "Order 250122000624384 · 24 Nov 2026 09:30 IST"
    )
    assert part.html.startswith("◐ <b>Partially filled</b>: BUY <b>M&amp;M</b> (AMO)")


def test_rejection_keeps_the_brokers_reason_verbatim():
    payload = order(filled_qty=0, avg_price=None, reason="RMS:Margin Exceeds <5000> & *x*_y")
    [part] = message("REJECTED", payload, AT)
    assert "Reason: RMS:Margin Exceeds <5000> & *x*_y" in visible_text(part.html).split("\n")
    assert "Filled 0/100\n" in part.plain


@pytest.mark.parametrize(
    "amount, text",
    [
        (1234567.5, "₹12,34,567.50"),
        (100000, "₹1,00,000.00"),
        (99999, "₹99,999.00"),
        (100, "₹100.00"),
        (0.5, "₹0.50"),
        (-1500, "-₹1,500.00"),
        (None, "-"),
    ],
)
def test_rupees_use_indian_grouping(amount, text):
    assert inr(amount) == text


def digest(n, symbol="INFY"):
    return {
        "items": [
            {
                "kind": "EXECUTED",
                "payload": order(order_id=f"2501220006{i:05}", symbol=symbol, filled_qty=100),
            }
            for i in range(n)
        ]
    }


def test_a_long_message_splits_on_lines_into_numbered_valid_parts():
    parts = message("DIGEST", digest(150), AT)
    assert len(parts) > 2
    seen = []
    for k, part in enumerate(parts, 1):
        shown = visible_text(part.html)
        assert shown == part.plain and units(shown) <= messages.LIMIT < 4096
        assert shown.split("\n")[0].endswith(f"({k}/{len(parts)})")
        seen += [line for line in shown.split("\n")[1:]]
    assert seen == messages.lines("DIGEST", digest(150), AT, messages.PLAIN)[1:]


def test_a_short_message_is_one_unnumbered_part():
    [part] = message("DIGEST", digest(3), AT)
    assert "(1/" not in part.plain


def test_a_line_longer_than_a_message_is_cut_at_spaces():
    reason = " ".join(f"word{i}&<>" for i in range(1500))  # ~15 000 characters
    parts = message("REJECTED", order(reason=reason), AT)
    assert len(parts) >= 4
    shown = [visible_text(p.html) for p in parts]
    assert all(units(s) <= messages.LIMIT for s in shown)
    body = " ".join(
        line
        for s in shown
        for line in s.split("\n")[1:]
        if not line.startswith(("Filled", "Order"))
    )
    assert body == f"Reason: {reason}"


def test_chop_never_breaks_an_emoji_and_keeps_every_character():
    text = "🙂" * 3000  # 6000 UTF-16 units, no spaces
    pieces = messages.chop(text, 101)
    assert "".join(pieces) == text
    assert all(units(p) <= 101 for p in pieces)


def test_split_counts_utf16_units_not_characters():
    pairs = [("title", "title")] + [("🙂" * 50, "🙂" * 50)] * 100  # 10 000 units, 5 000 chars
    parts = split(pairs, 4000)
    assert len(parts) == 3
    assert all(units(p.plain) <= 4000 for p in parts)


def test_notify_test_message_proves_escaping():
    [part] = messages.setup_check("my_bot", "-100123", AT)
    assert visible_text(part.html).split("\n")[2] == (
        "These must read exactly: M&M · BAJAJ_AUTO · a<b>c · 2*3 · ₹1,23,456.70"
    )
