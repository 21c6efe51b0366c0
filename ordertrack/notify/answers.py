"""What the bot answers, worded from the same JSON the CLI prints (`status --json`,
`pending list --json`, `pending show --json`, `pnl --json`) and the day's summary: each answer
is a list of (html, plain) lines, every dynamic value escaped as for notifications."""

from datetime import datetime
from typing import Any

from ordertrack.core.bot_commands import PENDING_LINES, help_lines
from ordertrack.notify.messages import escape, inr, pnl_symbol, signed_inr, summary_lines
from ordertrack.text import inline
from ordertrack.timeutil import show

Lines = list[tuple[str, str]]


def _bold(text: str) -> tuple[str, str]:
    return f"<b>{escape(text)}</b>", text


def _line(text: object) -> tuple[str, str]:
    plain = inline(str(text))  # a broker's reason must not forge a line of the answer
    return escape(plain), plain


def _when(iso: str | None) -> str:
    return show(datetime.fromisoformat(iso)) if iso else "never"


def text(*lines: str) -> Lines:
    return [_line(line) for line in lines]


def help_answer() -> Lines:
    first, *rest = help_lines()
    return [_bold(first), *(_line(line) for line in rest)]


def status(data: dict[str, Any]) -> Lines:
    """What `ordertrack status` says, in a few lines."""
    orders = ", ".join(f"{k.lower()} {n}" for k, n in data["orders"].items() if n) or "none"
    box = data["outbox"]
    out = [
        _bold("ordertrack status"),
        _line(f"Broker: {data['broker']}; notifications: {data['notifications']}"),
        _line(f"Orders: {orders}"),
        _line(
            f"Tracked symbols: {data['tracked_symbols']}; outbox waiting {box['PENDING']},"
            f" failed {box['FAILED']}"
        ),
    ]
    for run in data["runs"]:
        code = "" if run.get("exit_code") in (None, 0) else f" (exit {run['exit_code']})"
        out.append(
            _line(
                f"{run['command']}: {run['outcome']}{code} at {_when(run['started_at'])}"
                + (f" — {run['error']}" if run.get("error") else "")
            )
        )
    if not data["runs"]:
        out.append(_line("No runs recorded yet."))
    out += [_line(f"⚠️ {late}") for late in data.get("overdue", [])]
    return out


def pending(rows: list[dict[str, Any]]) -> Lines:
    """Open orders, newest first, at most PENDING_LINES and a count of the rest."""
    if not rows:
        return [_line("No open orders.")]
    newest = sorted(rows, key=lambda r: r["id"], reverse=True)
    out = [_bold(f"Open orders: {len(rows)}")]
    for r in newest[:PENDING_LINES]:
        ident = r["order_id"] or f"#{r['id']}"
        price = f" @ {inr(r['price'])}" if r.get("price") else ""
        out.append(
            _line(
                f"{r['side']} {r['symbol']} {r['filled_qty']}/{r['qty']}{price} · {r['status']}"
                f" · {ident} · {_when(r['placed_at'])}"
            )
        )
    if len(rows) > PENDING_LINES:
        out.append(_line(f"… and {len(rows) - PENDING_LINES} more (ordertrack pending list)"))
    return out


def order(data: dict[str, Any]) -> Lines:
    o = data["order"]
    ident = o["order_id"] or f"#{o['id']}"
    avg = f" at {inr(o['avg_price'])}" if o.get("avg_price") else ""
    out = [
        _bold(f"Order {ident}: {o['side']} {o['symbol']}"),
        _line(f"{o['status']}: filled {o['filled_qty']}/{o['qty']}{avg}"),
    ]
    if o.get("reason"):
        out.append(_line(f"Reason: {o['reason']}"))
    out.append(_line(f"Placed {_when(o['placed_at'])}"))
    for e in data["events"]:
        fill = f" (filled {e['filled_qty']})" if e.get("filled_qty") else ""
        out.append(_line(f"· {_when(e['at'])} {e['kind']}{fill}"))
    if data.get("expiry"):
        x = data["expiry"]
        out.append(_line(f"Missed by {x['missed_fetches']} of {x['fetches_needed']} fetches"))
    return out


def today(summary: dict[str, Any]) -> Lines:
    first, *rest = summary_lines(summary)
    return [_bold(f"{first} (so far)"), *(_line(line) for line in rest)]


def pnl(figures: dict[str, Any], label: str) -> Lines:
    money = f"realised {signed_inr(figures['realised'])}"
    if figures.get("charges") is not None:
        money += f", charges {inr(figures['charges'])}, net {signed_inr(figures['net'])}"
    money += f", unrealised {signed_inr(figures['unrealised'])}"
    held = [r for r in figures["symbols"] if r["open_qty"]]
    valued = sum(1 for r in held if r["unrealised"] is not None)
    if valued < len(held):  # a total of 0.00 over holdings nobody priced is no figure
        money += f" on {valued} of {len(held)} open holdings (the rest: price unknown)"
    if figures.get("before_charges"):
        money += " (before charges)"
    out = [_bold(f"P&L {label}"), _line(money)]
    out += [_line(pnl_symbol(r, None)) for r in figures["symbols"]]
    if not figures["symbols"]:
        out.append(_line("No fills in this period."))
    return out
