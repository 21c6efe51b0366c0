"""What a notification says, from the payload stored in the outbox: plain text for the
console, and Telegram HTML (every dynamic value escaped) split into parts that fit."""

import html
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ordertrack.core.lifecycle import UNCONFIRMED
from ordertrack.core.models import EventKind
from ordertrack.text import inline_all
from ordertrack.timeutil import show


def inr(amount: float | None) -> str:
    """₹ with Indian digit grouping: 1234567.5 → ₹12,34,567.50."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    whole, frac = f"{abs(amount):.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return f"{sign}₹{','.join([*groups, tail])}.{frac}"


def signed_inr(amount: float | None) -> str:
    """A P&L amount: ₹ then its sign (+, or a true minus), Indian grouping: ₹+1,412.50."""
    if amount is None:
        return "price unknown"
    return "₹" + ("−" if amount < 0 else "+") + inr(abs(amount)).removeprefix("₹")


def realised_line(p: dict[str, Any]) -> str:
    """A sell's P&L, when its payload carries one (verify read the trade book)."""
    if p.get("realised") is None:
        return ""
    avg = f" (avg cost {inr(p['avg_cost'])})" if p.get("avg_cost") is not None else ""
    return f"realised {signed_inr(p['realised'])}{avg}"


# Each kind's icon and word, shared by the one-line text and the Telegram message.
_ORDER_KINDS: dict[str, tuple[str, str]] = {
    EventKind.EXECUTED: ("✅", "Executed"),
    EventKind.PARTIAL_FILL: ("◐", "Partially filled"),
    EventKind.REJECTED: ("❌", "Rejected"),
    EventKind.CANCELLED: ("🚫", "Cancelled"),
    EventKind.EXPIRED: ("⌛", "Expired"),
    EventKind.CORRECTED: ("🔁", "Corrected"),
}


def _label(kind: str) -> str:
    return _ORDER_KINDS[kind][1]


def _expired_label(p: dict[str, Any]) -> str:
    """An expiry without the broker's word is an alert: the trader must look at the order."""
    if str(p.get("reason") or "").startswith(UNCONFIRMED):
        label = _label(EventKind.EXPIRED)
        return f"{label}, final state unconfirmed (check it in the broker's app)"
    return _label(EventKind.EXPIRED)


def _order_line(p: dict[str, Any]) -> str:
    return f"{p['side']} {p['symbol']} {p['filled_qty']}/{p['qty']} (order {p['order_id']})"


def _pnl_tail(p: dict[str, Any]) -> str:
    line = realised_line(p)
    return f", {line}" if line else ""


def plain_text(kind: str, p: dict[str, Any]) -> str:
    p = inline_all(p)  # a broker's reason must not start a line of its own
    avg = p.get("avg_price")
    if kind == EventKind.EXECUTED:
        value = avg * p["filled_qty"] if avg else None
        return f"{_label(kind)}: {_order_line(p)} at {inr(avg)}, value {inr(value)}" + _pnl_tail(p)
    if kind == EventKind.PARTIAL_FILL:
        remaining = p["qty"] - p["filled_qty"]
        return f"{_label(kind)}: {_order_line(p)} at {inr(avg)}, {remaining} remaining" + _pnl_tail(
            p
        )
    if kind == EventKind.REJECTED:
        return f"{_label(kind)}: {_order_line(p)}: {p.get('reason') or 'no reason given'}"
    if kind == EventKind.CANCELLED:
        return f"{_label(kind)}: {_order_line(p)}" + (f": {p['reason']}" if p.get("reason") else "")
    if kind == EventKind.EXPIRED:
        return f"{_expired_label(p)}: {_order_line(p)}: {p.get('reason')}"
    if kind == EventKind.CORRECTED:
        return (
            f"{_label(kind)}: {_order_line(p)} is {p['status']} after all"
            + (f" at {inr(avg)}" if avg else "")
            + f": {p.get('reason')}"
        )
    if kind == EventKind.UNKNOWN_STATUS:
        return (
            f"Unknown broker status {p['broker_status']!r} on order {p['order_id']} "
            f"({p['symbol']}); the order stays open"
        )
    if kind == "AMBIGUOUS_MATCH":
        return (
            f"Cannot tell which broker order is {p['side']} {p['symbol']} {p['qty']} "
            f"(registered without an id): candidates {', '.join(p['candidates'])}"
        )
    if kind == "DAILY_SUMMARY":
        return "\n".join(summary_lines(p))
    if kind == EventKind.MANUAL_TRADE:
        return _manual_trade(p)
    if kind == "DAILY_REPORT":
        return f"{report_caption(p)}: {p.get('path')}"
    if kind == EventKind.SYSTEM_ALERT:
        return f"{_TITLES[kind][1]} ({p['command']}): {p['text']}"
    if kind == "ANSWER":
        said = p.get("caption") or " / ".join(str(line) for line in p.get("plain", [])[:2])
        return f"Answer to {p.get('command', '?')} in chat {p.get('chat')}: {said}"
    if kind == "DIGEST":
        items = p.get("items", [])
        return f"Digest of {len(items)} updates: " + "; ".join(
            plain_text(i["kind"], i["payload"]) for i in items
        )
    return f"{kind}: {p}"


# ---- the daily summary: its one wording, for Telegram, the outbox listing and eod's tables ----

SUMMARY_TITLE = "Daily summary"
SUMMARY_CORRECTED = "Corrected: replaces the incomplete summary sent earlier for this day"
# Finished orders by summary list, and the word each is shown with.
SUMMARY_OUTCOMES = {
    "executed": "Executed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "unconfirmed": "Expired, final state unconfirmed",
    "corrections": "Corrected",
}


def summary_unreachable(s: dict[str, Any]) -> str:
    return f"Broker unreachable at end of day, final states unknown: {s['broker_error']}"


def summary_counts(s: dict[str, Any], everything: bool = False) -> list[tuple[str, int]]:
    """The day's counts as (label, number); final state unconfirmed only when there are any;
    `everything` adds manual trades and undelivered notifications (lines of their own in text)."""
    unconfirmed = len(s.get("unconfirmed", []))
    # partially filled orders are counted once, under their own name: the counts add up
    pending = [r for r in s["still_pending"] if r.get("status") != "PARTIALLY_FILLED"]
    extras = [("Manual trades", s["manual_trades"]), ("Undelivered", s["notifications_failed"])]
    return [
        ("Placed", s["placed"]),
        ("Executed", len(s["executed"])),
        ("Rejected", len(s["rejected"])),
        ("Cancelled", len(s["cancelled"])),
        ("Partially filled", s["partially_filled"]),
        ("Expired", len(s["expired"])),
        *([("Final state unconfirmed", unconfirmed)] if unconfirmed else []),
        ("Still pending", len(pending)),
        *(extras if everything else []),
    ]


SUMMARY_MANUAL = "Manual trades detected"
SUMMARY_PARTIAL = "Partially filled, still open"
SUMMARY_PENDING = "Still pending"
SUMMARY_UNDELIVERED = "Notifications that could not be delivered"


def summary_tracked(s: dict[str, Any]) -> str:
    return "Tracked: " + ", ".join(f"{t['symbol']} {t['tracked_qty']}" for t in s["tracked"])


def summary_lines(s: dict[str, Any]) -> list[str]:
    """The daily summary as plain text, one fact per line (so a long one splits cleanly)."""
    lines = [
        f"{SUMMARY_TITLE} {date.fromisoformat(s['trading_day']):%a %d %b %Y}"
        + (" (corrected)" if s.get("corrected") else "")
    ]
    if s.get("corrected"):
        lines.append(SUMMARY_CORRECTED)
    if not s["complete"]:
        lines.append(summary_unreachable(s))
    counts = summary_counts(s)
    lines.append(
        ", ".join(
            f"{label if k == 0 else label.lower()} {n}" for k, (label, n) in enumerate(counts)
        )
    )
    lines += _summary_orders(s)
    if s["tracked"]:
        lines.append(summary_tracked(s))
    lines += pnl_lines(s.get("pnl"))
    if s["manual_trades"]:
        lines.append(f"{SUMMARY_MANUAL}: {s['manual_trades']}")
    if s["notifications_failed"]:
        lines.append(f"{SUMMARY_UNDELIVERED}: {s['notifications_failed']}")
    return lines


def pnl_lines(p: dict[str, Any] | None, label: str = "P&L today") -> list[str]:
    """The P&L block of a summary (jobs/pnl.py day_block): totals, then one line a symbol."""
    if not p:
        return []
    money = (
        f"realised {signed_inr(p['realised'])}"
        + (
            f", charges {inr(p['charges'])}, net {signed_inr(p['net'])}"
            if p.get("charges") is not None
            else ""
        )
        + f", unrealised {signed_inr(p['unrealised'])} on {p.get('valued', 0)} tracked"
        f" holdings" + (" (before charges)" if p.get("before_charges") else "")
    )
    lines = [f"{label}: {money}"]
    sources, unknown = p.get("sources", {}), p.get("unknown", {})
    for r in p["symbols"]:
        lines.append("  " + pnl_symbol(r, sources.get(r["symbol"]), unknown.get(r["symbol"], 0)))
    lines += [
        f"P&L check: {m}; its figures may be wrong (a corporate action or a trade"
        " outside this account's view?)"
        for m in p.get("mismatches", [])
    ]
    lines += [broker_pnl_line(d) for d in p.get("broker_pnl", [])]
    if p.get("problem"):
        lines.append(f"P&L uses the order book's prices where fills are missing: {p['problem']}")
    return lines


def broker_pnl_line(d: dict[str, Any]) -> str:
    """One holding whose unrealised P&L the broker puts differently (jobs/pnl.py
    broker_differences), with what explains the difference."""
    why = []
    for part in d["parts"]:
        amount = signed_inr(part["amount"])
        if part["what"] == "price":
            why.append(
                f"the price {amount}: ordertrack's {inr(d['price'])}"
                f" ({d.get('price_source') or 'mark'}), the broker's {inr(d['broker_price'])}"
            )
        elif part["what"] == "average cost":
            why.append(
                f"the average cost {amount}: ordertrack's {inr(d['avg_cost'])},"
                f" the broker's {inr(d['broker_avg_cost'])}"
            )
        elif part["what"] == "quantity":
            why.append(
                f"the quantity {amount}: ordertrack's {d['qty']}, the broker's {d['broker_qty']}"
            )
        else:
            why.append(f"{amount} not explained by price, cost or quantity (charges?)")
    return (
        f"P&L vs broker: {d['symbol']} unrealised {signed_inr(d['ours'])} here,"
        f" {signed_inr(d['broker'])} by the broker ({signed_inr(d['difference'])}"
        + (f": {'; '.join(why)}" if why else "")
        + ")"
    )


def pnl_symbol(r: dict[str, Any], source: str | None, unknown: int = 0) -> str:
    parts = [
        f"{r['symbol']}: bought {r['bought_qty']}, sold {r['sold_qty']}",
        f"realised {signed_inr(r['realised'])}"
        + (f" ({signed_inr(r['manual'])} manual)" if r.get("manual") else ""),
    ]
    if r["open_qty"]:
        at = f" at {inr(r['close_price'])} ({source})" if r.get("close_price") is not None else ""
        cost = f", avg cost {inr(r['avg_cost'])}" if r.get("avg_cost") is not None else ""
        parts.append(f"open {r['open_qty']}{cost}, unrealised {signed_inr(r['unrealised'])}{at}")
    if unknown:
        parts.append(f"{unknown} fill(s) price unknown, left out")
    return ", ".join(parts)


def _summary_order(r: dict[str, Any], reason: bool = False) -> str:
    """One order of the summary: side, symbol, filled/qty, price, id (and why it ended)."""
    price = f" at {inr(r['avg_price'])}" if r.get("avg_price") else ""
    ref = f" (order {r['order_id']})" if r.get("order_id") else ""
    why = f": {r.get('reason') or 'no reason given'}" if reason else ""
    qty = f"{r.get('filled_qty') or 0}/{r.get('qty', '?')}"
    return f"{r.get('side', '?')} {r.get('symbol', '?')} {qty}{price}{ref}{why}"


def _summary_orders(s: dict[str, Any]) -> list[str]:
    word = SUMMARY_OUTCOMES
    open_ = s.get("still_pending", [])
    lines = [f"{word['executed']}: {_summary_order(r)}" for r in s["executed"]]
    lines += [
        f"{SUMMARY_PARTIAL}: {_summary_order(r)}"
        for r in open_
        if r.get("status") == "PARTIALLY_FILLED"
    ]
    lines += [f"{word['rejected']}: {_summary_order(r, True)}" for r in s["rejected"]]
    lines += [
        f"{word['cancelled']}: {_summary_order(r, bool(r.get('reason')))}"
        for r in s.get("cancelled", [])
    ]
    lines += [f"{word['expired']}: {_summary_order(r, True)}" for r in s["expired"]]
    if s.get("unconfirmed"):
        lines.append(
            "Final state unconfirmed (expired without the broker's word; check them in"
            " the broker's app):"
        )
        lines += [f"  {_summary_order(r, True)}" for r in s["unconfirmed"]]
    lines += [f"{word['corrections']}: {_summary_order(r, True)}" for r in s.get("corrections", [])]
    lines += [
        f"{SUMMARY_PENDING}: {_summary_order(r)}"
        for r in open_
        if r.get("status") != "PARTIALLY_FILLED"
    ]
    if s.get("earlier"):
        lines.append(f"{SUMMARY_EARLIER}:")
        lines += [
            f"  {_EARLIER_WORDS.get(r['outcome'], r['outcome'])}: "
            f"{_summary_order(r, bool(r.get('reason')))}"
            for r in s["earlier"]
        ]
    return lines


SUMMARY_EARLIER = "Settled now, registered on an earlier trading day (counted on that day)"
_EARLIER_WORDS = {**SUMMARY_OUTCOMES, "unconfirmed": "Final state unconfirmed"}


# ---- Telegram: HTML with every dynamic value escaped, in parts that fit ----------------------

LIMIT = 3900  # UTF-16 units of visible text per part: Telegram's 4096, with room to spare
DUPLICATE_NOTE = "↻ Sent again: an earlier attempt got no reply, so this may be a duplicate."
_TITLES: dict[str, tuple[str, str]] = {
    EventKind.SYSTEM_ALERT: ("⚠️", "ordertrack alert"),
    EventKind.UNKNOWN_STATUS: ("⚠️", "Unknown broker status"),
    "AMBIGUOUS_MATCH": ("⚠️", "Cannot tell which broker order it is"),
    EventKind.MANUAL_TRADE: ("✋", "Manual trade detected"),
}
# plain_text() has their words
_SENTENCES = (EventKind.UNKNOWN_STATUS, "AMBIGUOUS_MATCH", EventKind.MANUAL_TRADE)


def escape(value: object) -> str:
    """Telegram HTML: & first, then < and >; quotes need no escaping outside attributes."""
    return html.escape(str(value), quote=False)


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Part:
    html: str
    plain: str  # the same words without markup: the fallback when Telegram cannot parse it


@dataclass(frozen=True)
class _Style:
    markup: bool

    def text(self, value: object) -> str:
        return escape(value) if self.markup else str(value)

    def bold(self, value: object) -> str:
        return f"<b>{self.text(value)}</b>" if self.markup else str(value)


HTML, PLAIN = _Style(True), _Style(False)


def _fills(kind: str, p: dict[str, Any]) -> str:
    filled, qty, avg = p.get("filled_qty") or 0, p.get("qty"), p.get("avg_price")
    text = f"Filled {filled}/{qty}"
    if avg and filled:
        text += f" at {inr(avg)} · value {inr(avg * filled)}"
    elif p.get("price"):
        text += f" · limit price {inr(p['price'])}"
    if kind == EventKind.PARTIAL_FILL and isinstance(qty, int):
        text += f" · {qty - filled} remaining"
    return text


def _order(kind: str, p: dict[str, Any], at: datetime | None, s: _Style) -> list[str]:
    icon, label = _ORDER_KINDS[kind]
    if kind == EventKind.EXPIRED and _expired_label(p) != label:
        icon, label = "⚠️", _expired_label(p)
    elif kind == EventKind.CORRECTED:
        label = f"Corrected, {str(p.get('status', '')).lower()} after all"
    head = f"{icon} {s.bold(label)}: {s.text(p.get('side', ''))} {s.bold(p.get('symbol', '?'))}" + (
        " (AMO)" if p.get("amo") else ""
    )
    reason = p.get("reason")
    why = (
        f"Reason: {reason or 'no reason given'}"
        if kind == EventKind.REJECTED
        or (reason and kind in (EventKind.CANCELLED, EventKind.EXPIRED, EventKind.CORRECTED))
        else ""
    )
    ref = " · ".join(
        x for x in (f"Order {p['order_id']}" if p.get("order_id") else "", show(at)) if x
    )
    return [head, s.text(_fills(kind, p)), s.text(realised_line(p)), s.text(why), s.text(ref)]


def _digest(p: dict[str, Any], at: datetime | None, s: _Style) -> list[str]:
    items = p.get("items", [])
    updates = f"{len(items)} order update{'s' if len(items) != 1 else ''}"
    head = f"📋 {s.bold(updates)}" + s.text(f" · {show(at)}" if at else "")
    return [head, *(_digest_line(i["kind"], i["payload"], s) for i in items)]


def _digest_line(kind: str, p: dict[str, Any], s: _Style) -> str:
    if kind not in _ORDER_KINDS:
        return s.text(plain_text(kind, p))
    icon, label = _ORDER_KINDS[kind]
    return f"{icon} {label} {s.text(p.get('side', ''))} {s.bold(p.get('symbol', '?'))}" + s.text(
        f" · {_fills(kind, p)} · order {p.get('order_id')}"
    )


def _summary(p: dict[str, Any], s: _Style) -> list[str]:
    first, *rest = summary_lines(p)
    return [f"📊 {s.bold(first)}", *(s.text(line) for line in rest)]


def _other(kind: str, p: dict[str, Any], at: datetime | None, s: _Style) -> list[str]:
    """Manual trades, alerts and any kind added later: a title, then the facts."""
    icon, title = _TITLES.get(kind, ("⚠️", kind.replace("_", " ").capitalize()))
    if kind == EventKind.SYSTEM_ALERT and p.get("command"):
        title += f" ({p['command']})"
    head = f"{icon} {s.bold(title)}" + (
        f": {s.bold(p['symbol'])}" if kind == EventKind.MANUAL_TRADE and p.get("symbol") else ""
    )
    text = p.get("text") or p.get("message")
    if isinstance(text, str):
        body = [text]
    elif kind in _SENTENCES:
        body = [plain_text(kind, p)]
    else:
        body = [f"{key}: {value}" for key, value in sorted(p.items()) if value not in (None, "")]
    return [head, *(s.text(line) for line in body), s.text(show(at))]


ANSWER = "ANSWER"  # a bot command's answer: its lines are stored with it (jobs/bot.py)


def lines(kind: str, payload: dict[str, Any], at: datetime | None, s: _Style) -> list[str]:
    if kind == ANSWER:  # written and escaped by the bot; each stored line is one line already
        return [str(line) for line in payload.get("html" if s.markup else "plain", [])]
    payload = inline_all(payload)  # a broker's reason must not forge a line of the message
    if kind in _ORDER_KINDS:
        return _order(kind, payload, at, s)
    if kind == "DIGEST":
        return _digest(payload, at, s)
    if kind == "DAILY_SUMMARY":
        return _summary(payload, s)
    return _other(kind, payload, at, s)


def message(
    kind: str,
    payload: dict[str, Any],
    at: datetime | None = None,
    limit: int = LIMIT,
    account: str | None = None,
) -> list[Part]:
    """The Telegram message for one outbox row, in as many parts as it needs; with an account
    (issue 29), a last line naming it: accounts may share one chat, and "Executed: BUY INFY"
    alone does not say whose. A bot's answer goes only to the chat that asked, and names the
    accounts it is about itself."""
    pairs = [
        (h, p)
        for h, p in zip(
            lines(kind, payload, at, HTML), lines(kind, payload, at, PLAIN), strict=False
        )
        if p
    ]
    if account and kind != ANSWER:  # an answer names its accounts itself (jobs/account_bot)
        pairs.append((f"Account {HTML.bold(account)}", f"Account {account}"))
    return split(pairs, limit)


def setup_check(bot: str, chat: str, at: datetime) -> list[Part]:
    """The `notify-test` message; its third line proves escaping survives the trip."""
    proof = f"These must read exactly: M&M · BAJAJ_AUTO · a<b>c · 2*3 · {inr(123456.7)}"

    def build(s: _Style) -> list[str]:
        return [
            f"✅ {s.bold('ordertrack test message')}",
            s.text(f"Notifications from @{bot} reach this chat ({chat})."),
            s.text(proof),
            s.text(show(at)),
        ]

    return split(list(zip(build(HTML), build(PLAIN), strict=False)), LIMIT)


def split(pairs: list[tuple[str, str]], limit: int = LIMIT) -> list[Part]:
    """(html, plain) lines → parts whose visible text fits `limit`, cut at line boundaries.

    Each part is valid markup on its own (lines are whole), and every part after a split repeats
    the first line with its number: "… (2/3)". A line too long for any part is cut into plain
    pieces at spaces (losing its bold, keeping every character).
    """
    whole = "\n".join(p for _, p in pairs)
    if units(whole) <= limit:
        return [Part("\n".join(h for h, _ in pairs), whole)]
    (title_html, title), body = pairs[0], pairs[1:]
    room = limit - units(title) - len(" (99/99)") - 1
    pieces = [piece for pair in body for piece in _fit(pair, room)]
    groups = _pack(pieces, room)
    return [
        Part(
            "\n".join([f"{title_html} ({k}/{len(groups)})", *(h for h, _ in group)]),
            "\n".join([f"{title} ({k}/{len(groups)})", *(p for _, p in group)]),
        )
        for k, group in enumerate(groups, 1)
    ]


def _fit(pair: tuple[str, str], room: int) -> list[tuple[str, str]]:
    if units(pair[1]) <= room:
        return [pair]
    return [(escape(chunk), chunk) for chunk in chop(pair[1], room)]


def _pack(pieces: list[tuple[str, str]], room: int) -> list[list[tuple[str, str]]]:
    groups: list[list[tuple[str, str]]] = [[]]
    used = 0
    for piece in pieces:
        size = units(piece[1]) + 1  # with its newline
        if groups[-1] and used + size > room:
            groups.append([])
            used = 0
        groups[-1].append(piece)
        used += size
    return groups


def chop(text: str, room: int) -> list[str]:
    """Cut text into pieces of at most `room` UTF-16 units, at spaces where possible. Cuts fall
    between characters, so a surrogate pair (an emoji) is never broken."""
    pieces, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if units(candidate) <= room:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        for char in word:
            if units(current + char) > room:
                pieces.append(current)
                current = ""
            current += char
    return [*pieces, current] if current else pieces


def report_caption(p: dict[str, Any]) -> str:
    """The daily report document's caption (the file's place on the server stays out of it)."""
    state = "" if p.get("complete", True) else " (broker unreachable: final states unknown)"
    return f"Daily report {p.get('trading_day')}{state}"


def _manual_trade(p: dict[str, Any]) -> str:
    orders = f" (broker orders {', '.join(p['manual_orders'])})" if p["manual_orders"] else ""
    if p["action"] == "manual_buy_ignored":
        return (
            f"Manual buy on {p['symbol']}: broker shows {p['owned']}, tracked "
            f"{p['tracked']}; tracked quantity left as it is{orders}"
        )
    if p["new_qty"] == 0:
        days = p.get("tracked_days", 0)
        return (
            f"Manual sell on {p['symbol']}: nothing left at the broker; tracking stopped "
            f"after {days} day{'' if days == 1 else 's'}{orders}"
        )
    verb = "sell" if p["action"] == "manual_sell" else "buy"
    return (
        f"Manual {verb} on {p['symbol']}: tracked quantity {p['tracked']} → {p['new_qty']}{orders}"
    )
