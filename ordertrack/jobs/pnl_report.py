"""The report's P&L section (issue 26): totals, realised P&L by symbol as a bar chart, and
cumulative realised P&L over the period as a line. Inline SVG, no script, every value
escaped; the numbers are `ordertrack pnl --json`'s own (jobs/pnl.py)."""

import html
from typing import Any

from ordertrack.notify.messages import inr, signed_inr

HEADING = "Profit and loss"
GAIN, LOSS, LINE = "#00897b", "#d81b60", "#ff6f00"  # none of them used elsewhere on the page
CSS = """
.pnl-row{display:grid;grid-template-columns:7em 1fr 8em;align-items:center;gap:6px;margin:3px 0}
.pnl-row svg{height:16px}.pnl-row .n{text-align:right;white-space:nowrap}
.pnl-line{height:140px}.pnl-scroll{overflow-x:auto}
#pnl-table td.n{white-space:nowrap}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def block(db: Any, period: Any, charges: dict[str, Any] | None) -> dict[str, Any]:
    """The section's data: the period's figures with its days and price sources."""
    from ordertrack.jobs import pnl

    return {**pnl.figures(db, period, charges), **pnl.extras(db, period)}


def section(p: dict[str, Any] | None) -> str:
    if p is None:
        return '<p class="note">No P&amp;L for this period.</p>'
    totals = (
        f"Realised <b>{_esc(signed_inr(p['realised']))}</b>, unrealised "
        f"<b>{_esc(signed_inr(p['unrealised']))}</b>"
    )
    if p["charges"] is None:
        totals += " (before charges)"
    else:
        totals += f"; charges {_esc(inr(p['charges']))}, net <b>{_esc(signed_inr(p['net']))}</b>"
    sources = sorted({s for s in p.get("sources", {}).values() if s})
    note = (
        f'<p class="note">Unrealised valued at: {_esc(", ".join(sources))}.</p>' if sources else ""
    )
    if not p["symbols"]:
        return f'<p id="pnl-totals">{totals}</p><p class="note">No fills in this period.</p>'
    return (
        f'<p id="pnl-totals">{totals}</p>{note}{bars(p["symbols"])}{line(p["days"])}'
        f"{table(p['symbols'])}"
    )


def bars(symbols: list[dict[str, Any]]) -> str:
    """Realised P&L by symbol: one row each (name, bar, amount), gains right of the middle
    line, losses left of it; the rows reflow on a phone."""
    top = max((abs(s["realised"]) for s in symbols), default=0) or 1
    rows = []
    for s in symbols:
        width = abs(s["realised"]) / top * 100
        x = 100 if s["realised"] >= 0 else 100 - width
        colour = GAIN if s["realised"] >= 0 else LOSS
        rows.append(
            f'<div class="pnl-row"><span>{_esc(s["symbol"])}</span>'
            f'<svg viewBox="0 0 200 16" preserveAspectRatio="none" role="img" '
            f'aria-label="{_esc(s["symbol"])} realised {_esc(signed_inr(s["realised"]))}">'
            f'<rect class="pnl-bar" x="{x:.1f}" y="0" width="{max(width, 0.5):.1f}" '
            f'height="16" fill="{colour}" data-symbol="{_esc(s["symbol"])}" '
            f'data-realised="{s["realised"]:.2f}"/>'
            f'<line x1="100" y1="0" x2="100" y2="16" stroke="#9e9e9e" '
            f'vector-effect="non-scaling-stroke"/></svg>'
            f'<span class="n">{_esc(signed_inr(s["realised"]))}</span></div>'
        )
    return f"<h3>Realised by symbol</h3>{''.join(rows)}"


def line(days: list[dict[str, Any]]) -> str:
    """Cumulative realised P&L, day by day over the period."""
    if not days:
        return ""
    values = [d["cumulative"] for d in days]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1
    step = 1000 / max(len(days) - 1, 1)
    points = " ".join(
        f"{k * step:.1f},{130 - (v - low) / span * 120:.1f}" for k, v in enumerate(values)
    )
    zero = 130 - (0 - low) / span * 120
    dots = "".join(
        f'<circle cx="{k * step:.1f}" cy="{130 - (v - low) / span * 120:.1f}" r="0" '
        f'fill="{LINE}" data-day="{_esc(d["day"])}" data-cumulative="{v:.2f}">'
        f"<title>{_esc(d['day'])}: {_esc(signed_inr(v))}</title></circle>"
        for k, (d, v) in enumerate(zip(days, values, strict=True))
    )
    return (
        f'<h3>Cumulative realised</h3><svg class="pnl-line" viewBox="-10 0 1020 140" '
        f'preserveAspectRatio="none" role="img" aria-label="cumulative realised P&amp;L">'
        f'<line x1="0" y1="{zero:.1f}" x2="1000" y2="{zero:.1f}" stroke="#9e9e9e"/>'
        f'<polyline id="pnl-cumulative" points="{points}" fill="none" stroke="{LINE}" '
        f'stroke-width="2" vector-effect="non-scaling-stroke"/>{dots}</svg>'
        f'<div class="axis"><span>{_esc(days[0]["day"])}</span>'
        f"<span>{_esc(days[-1]['day'])}</span></div>"
    )


def _manual(s: dict[str, Any]) -> str:
    manual = _esc(signed_inr(s["manual"]))
    return f'<br><span class="note">manual {manual}</span>' if s["manual"] else ""


def table(symbols: list[dict[str, Any]]) -> str:
    head = "".join(
        f'<th class="n">{h}</th>'
        for h in ("Bought", "Sold", "Avg cost", "Realised", "Open", "Close", "Unrealised")
    )
    rows = "".join(
        f'<tr><td>{_esc(s["symbol"])}{_manual(s)}</td><td class="n">{s["bought_qty"]}</td>'
        f'<td class="n">{s["sold_qty"]}</td>'
        f'<td class="n">{_esc(inr(s["avg_cost"]))}</td>'
        f'<td class="n">{_esc(signed_inr(s["realised"]))}</td><td class="n">{s["open_qty"]}</td>'
        f'<td class="n">{_esc(inr(s["close_price"]))}</td>'
        f'<td class="n">{_esc(signed_inr(s["unrealised"]) if s["open_qty"] else "-")}</td></tr>'
        for s in symbols
    )
    return (
        f'<div class="pnl-scroll"><table id="pnl-table"><thead><tr><th>Symbol</th>{head}'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )
