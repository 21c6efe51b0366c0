"""The daily HTML report: one self-contained page (inline CSS and SVG, no script, nothing
fetched), readable on a 360-px phone and printable. Every value from outside is escaped here."""

import html
import re
import sqlite3
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ordertrack import files
from ordertrack.config import Settings
from ordertrack.core.models import EventKind, Status
from ordertrack.errors import DatabaseError
from ordertrack.jobs import pnl_report
from ordertrack.notify.messages import inr
from ordertrack.store import maintenance, outbox, report_data
from ordertrack.store.db import Database, transaction
from ordertrack.store.report_data import Period, ReportData
from ordertrack.text import inline, redact
from ordertrack.timeutil import IST, from_db, show

STATUS_COLOURS: dict[str, str] = {
    Status.EXECUTED: "#2e7d32",
    Status.PARTIALLY_FILLED: "#00838f",
    Status.PENDING: "#757575",
    Status.REJECTED: "#c62828",
    Status.CANCELLED: "#424242",
    Status.EXPIRED: "#ef6c00",
}
# events whose quantity is a fill (a cancellation may carry the fills seen just before it)
_FILLED = (EventKind.PARTIAL_FILL, EventKind.EXECUTED, EventKind.CANCELLED)
SLOT_STATES = {
    "ok": ("#2e7d32", "ran ok"),
    "broker": ("#f9a825", "broker failure"),
    "failed": ("#6a1b9a", "failed"),
    "missed": ("#d50000", "missed"),
    "running": ("#1565c0", "running or unfinished"),
    "upcoming": ("#e0e0e0", "not due yet"),
    "before": ("#f5f5f5", "before the database's first run"),
}
GLANCE_LABELS = (
    ("placed", "placed"),
    ("executed", "executed"),
    ("partially_filled", "partially filled"),
    ("rejected", "rejected"),
    ("cancelled", "cancelled"),
    ("expired", "expired"),
    ("unconfirmed", "expired, final state unconfirmed"),
    ("still_pending", "still pending"),
)
HEADINGS = (
    "At a glance",
    "Orders",
    "Rejections by reason",
    "Tracked quantities",
    "Run health",
    "Notifications",
    pnl_report.HEADING,
)

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212121;
background:#fafafa;-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:960px;margin:0 auto;padding:12px}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .5em;
border-bottom:2px solid #e0e0e0;padding-bottom:.2em}
.sub,.note{color:#616161;font-size:.9em}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.5em .8em}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(100px,1fr));gap:8px}
.tile{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px;text-align:center}
.tile b{display:block;font-size:1.5em}.tile span{color:#616161;font-size:.85em}
.tile.wide{margin-top:8px}
.order{margin:6px 0;break-inside:avoid}.order .l{font-size:.9em;overflow-wrap:anywhere}
.axis{display:flex;justify-content:space-between;color:#757575;font-size:.75em}
svg{display:block;width:100%}
.bar{height:12px}.strip{max-width:480px}
table{border-collapse:collapse;width:100%;font-size:.9em;background:#fff}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;white-space:nowrap}td.r{overflow-wrap:anywhere}
.sym{margin:10px 0;break-inside:avoid}
.legend span{display:inline-block;margin-right:10px;font-size:.85em}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.day{display:grid;grid-template-columns:7.5em 1fr;align-items:center;gap:6px;margin:3px 0}
@media (max-width:480px){.day{grid-template-columns:1fr;gap:0;margin:6px 0}}
@media print{body{background:#fff}main{max-width:none}h2{break-after:avoid}}
"""


def esc(value: object) -> str:
    """HTML-escaped, with control and bidi characters shown as escapes (text.inline): a
    reason holding U+202E cannot turn the rest of its line around on the page."""
    return html.escape(inline(str(value)), quote=True)


def _ist(moment: datetime | None) -> str:
    return moment.astimezone(IST).strftime("%d %b %H:%M") if moment else ""


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


# ---- at a glance -----------------------------------------------------------------------------


def glance(data: ReportData) -> str:
    tiles = [
        f'<div class="tile" data-key="{key}"><b>{data.glance[key]}</b><span>{label}</span></div>'
        for key, label in GLANCE_LABELS
    ]
    value = (
        f'<div class="tile wide" data-key="value_traded" '
        f'data-value="{data.glance["value_traded"]:.2f}">'
        f"<b>{esc(inr(float(data.glance['value_traded'])))}</b>"
        "<span>value traded (executed and cancelled orders' fills)</span></div>"
    )
    warnings = [
        f'<p class="warn">{esc(s["trading_day"])}: broker unreachable at end of day, '
        f"final states unknown: {esc(redact(str(s['broker_error'])))}</p>"
        for s in data.summaries
        if not s["complete"]
    ]
    last = data.summaries[-1] if data.summaries else None
    pending = (
        f'<p class="note">Still open now: {data.open_now} order(s); '
        f"manual trades in the period: {sum(s['manual_trades'] for s in data.summaries)}"
        "</p>"
        if last
        else ""
    )
    return "".join(warnings) + f'<div class="tiles">{"".join(tiles)}</div>' + value + pending


# ---- order timeline --------------------------------------------------------------------------


SESSION_FROM, SESSION_TO = time(9, 0), time(15, 45)  # IST: the timeline's hours of each day


class Axis:
    """The period's trading sessions (09:00–15:45 IST) laid end to end on 0..990: nights and
    days without a session take no width, so the day's fills spread across the bar."""

    def __init__(self, days: list[date]):
        self.spans = [
            (
                datetime.combine(d, SESSION_FROM, tzinfo=IST),
                datetime.combine(d, SESSION_TO, tzinfo=IST),
            )
            for d in days
        ]

    def x(self, moment: datetime | None) -> float:
        if moment is None or not self.spans:
            return 0.0
        width = 990 / len(self.spans)
        for k, (start, end) in enumerate(self.spans):
            if moment < end:
                inside = max(0.0, (moment - start) / (end - start))
                return (k + inside) * width
        return 990.0

    def ticks(self) -> list[str]:
        if len(self.spans) == 1:
            start, end = self.spans[0]
            return [f"{start + (end - start) * k / 3:%H:%M}" for k in range(4)]
        return [f"{start:%a %d %b}" for start, _ in self.spans[:8]]


def _order_svg(order: dict[str, Any], axis: Axis) -> str:
    x = axis.x
    colour = STATUS_COLOURS.get(order["status"], "#757575")
    start = x(from_db(order["placed_at"]))
    ends = [from_db(e["at"]) for e in order["events"]]
    end = max([start, *(x(m) for m in ends)])
    parts = [
        f'<rect x="{start:.1f}" y="7" width="{max(end - start, 1):.1f}" height="2" '
        f'fill="{colour}"/>',
        f'<rect x="{start:.1f}" y="3" width="3" height="10" fill="#9e9e9e"/>',
    ]
    for e in order["events"]:
        if e["delta_qty"] and e["kind"] in _FILLED:
            parts.append(
                f'<rect x="{x(from_db(e["at"])):.1f}" y="2" width="6" height="12" '
                f'fill="#00838f"><title>fill +{esc(e["delta_qty"])} at '
                f"{esc(_ist(from_db(e['at'])))}</title></rect>"
            )
    if not Status(order["status"]).is_open:
        parts.append(f'<rect x="{end:.1f}" y="1" width="8" height="14" fill="{colour}"/>')
    return (
        '<svg class="bar" viewBox="0 0 1000 16" preserveAspectRatio="none" role="img" '
        f'aria-label="{esc(order["status"])}">{"".join(parts)}</svg>'
    )


def _order_label(order: dict[str, Any]) -> str:
    fill = f"{order['filled_qty']}/{order['qty']}"
    price = f" at {inr(order['avg_price'])}" if order["avg_price"] else ""
    # a rejection's reason is shown once, under "Rejections by reason", with its orders
    reason = (
        f" — {order['reason']}"
        if order["reason"] and order["status"] in (Status.CANCELLED, Status.EXPIRED)
        else ""
    )
    colour = STATUS_COLOURS.get(order["status"], "#757575")
    return (
        f'<div class="l">{esc(order["side"])} <b>{esc(order["symbol"])}</b> {esc(fill)}'
        f'{" (AMO)" if order["amo"] else ""} · <b style="color:{colour}">'
        f"{esc(order['status'])}</b>{esc(price)}{esc(reason)} · placed "
        f"{esc(_ist(from_db(order['placed_at'])))} · order {esc(order['order_id'] or '?')}"
        "</div>"
    )


def timeline(data: ReportData) -> str:
    if not data.orders:
        return '<p class="note">No orders in this period.</p>'
    days = [start.astimezone(IST).date() for start, _ in data.sessions]
    scale = Axis(days or [data.generated_at.astimezone(IST).date()])
    axis = (
        '<div class="axis">' + "".join(f"<span>{esc(t)}</span>" for t in scale.ticks()) + "</div>"
    )
    legend = (
        '<p class="legend"><span><i style="background:#9e9e9e"></i>placed</span>'
        '<span><i style="background:#00838f"></i>fill</span>'
        "<span>bar colour: final state</span></p>"
    )
    rows = "".join(
        f'<div class="order">{_order_label(o)}{_order_svg(o, scale)}</div>' for o in data.orders
    )
    more = (
        f'<p class="note">…and {data.orders_left_out} more orders not drawn.</p>'
        if data.orders_left_out
        else ""
    )
    return legend + axis + rows + more


# ---- rejections ------------------------------------------------------------------------------


def rejections(data: ReportData) -> str:
    if not data.rejections:
        return '<p class="note">No rejections.</p>'
    top = max(r["count"] for r in data.rejections)
    rows = "".join(
        f'<tr><td class="r">{esc(r["reason"])}<br><span class="note">order '
        f'{esc(", ".join(r["orders"]))}</span></td><td class="n">{r["count"]}</td>'
        f'<td style="width:35%"><svg class="bar" viewBox="0 0 100 12" preserveAspectRatio="none">'
        f'<rect width="{r["count"] / top * 100:.1f}" height="12" fill="#c62828"/></svg></td></tr>'
        for r in data.rejections
    )
    return (
        '<table><thead><tr><th>Reason</th><th class="n">Count</th><th></th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


# ---- tracked quantities ----------------------------------------------------------------------


def _steps(entry: dict[str, Any]) -> str:
    """A step chart of the tracked quantity over the period's changes."""
    quantities = [entry["start_qty"], *(c["qty_after"] for c in entry["changes"])]
    top = max(max(quantities), 1)
    count = len(quantities)
    points = []
    for k, qty in enumerate(quantities):
        y = 38 - qty / top * 34
        points += [f"{k / count * 300:.1f},{y:.1f}", f"{(k + 1) / count * 300:.1f},{y:.1f}"]
    return (
        '<svg viewBox="0 0 300 40" preserveAspectRatio="none" style="height:40px" '
        f'role="img" aria-label="quantity history"><polyline points="{" ".join(points)}" '
        'fill="none" stroke="#1565c0" stroke-width="2" vector-effect="non-scaling-stroke"/>'
        "</svg>"
    )


def tracked(data: ReportData) -> str:
    blocks = []
    for entry in data.tracking:
        rows = "".join(
            f"<tr><td>{esc(_ist(from_db(c['at'])))}</td><td>{esc(c['cause'])}</td>"
            f'<td class="n">{c["delta"]:+d}</td><td class="n">{c["qty_after"]}</td></tr>'
            for c in entry["changes"][-50:]
        )
        blocks.append(
            f'<div class="sym"><b>{esc(entry["symbol"])}</b> '
            f'<span class="note">{entry["start_qty"]} → {entry["changes"][-1]["qty_after"]}'
            f"</span>{_steps(entry)}<table><thead><tr><th>When (IST)</th><th>Cause</th>"
            f'<th class="n">Change</th><th class="n">Quantity</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )
    if data.unchanged:
        blocks.append(
            '<p class="note">Unchanged: '
            + ", ".join(f"{esc(r['symbol'])} {r['tracked_qty']}" for r in data.unchanged)
            + "</p>"
        )
    return "".join(blocks) or '<p class="note">No tracked symbols.</p>'


# ---- run health ------------------------------------------------------------------------------


_MARKS = {"09:15": "09:15", "12:15": "12:15", "reconcile": "R", "eod": "E"}


def _strip(slots: list[dict[str, Any]]) -> str:
    """One cell per slot (verify, then reconcile and eod set apart), a few labelled below."""
    cells = []
    for k, slot in enumerate(slots):
        colour, words = SLOT_STATES[slot["state"]]
        x = k * 20 + {"verify": 0, "reconcile": 8, "eod": 16}.get(slot["kind"], 0)
        cells.append(
            f'<rect x="{x}" y="0" width="17" height="20" fill="{colour}">'
            f"<title>{esc(slot['label'])}: {esc(words)}</title></rect>"
        )
        if slot["label"] in _MARKS:
            cells.append(
                f'<text x="{x}" y="31" font-size="9" fill="#616161">{_MARKS[slot["label"]]}</text>'
            )
    width = len(slots) * 20 + 16
    return (
        f'<svg class="strip" viewBox="0 0 {width} 33" role="img" '
        f'aria-label="run health">{"".join(cells)}</svg>'
    )


def health(data: ReportData) -> str:
    if not data.slots:
        return '<p class="note">No trading day in this period.</p>'
    days: dict[str, list[dict[str, Any]]] = {}
    for slot in data.slots:
        days.setdefault(f"{slot['start']:%a %d %b}", []).append(slot)
    counts = {state: sum(s["state"] == state for s in data.slots) for state in SLOT_STATES}
    legend = (
        '<p class="legend">'
        + "".join(
            f'<span data-state="{state}"><i style="background:{colour}"></i>{words}: '
            f"{counts[state]}</span>"
            for state, (colour, words) in SLOT_STATES.items()
        )
        + "</p>"
    )
    rows = "".join(
        f'<div class="day"><span>{esc(day)}</span>{_strip(slots)}</div>'
        for day, slots in days.items()
    )
    return (
        legend + '<p class="note">Each day: verify every 30 minutes from 09:15 IST, then '
        "reconcile and eod.</p>" + rows
    )


# ---- notifications ---------------------------------------------------------------------------


def notifications(data: ReportData) -> str:
    if not data.notifications:
        return '<p class="note">No notifications queued in this period.</p>'
    rows = "".join(
        f'<tr><td>{esc(r["channel"])}</td><td class="n">{r["sent"] or 0}</td>'
        f'<td class="n">{r["waiting"] or 0}</td><td class="n">{r["failed"] or 0}</td>'
        "</tr>"
        for r in data.notifications
    )
    return (
        '<table><thead><tr><th>Channel</th><th class="n">Delivered</th>'
        '<th class="n">Waiting</th><th class="n">Failed</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


# ---- the page --------------------------------------------------------------------------------


def page(data: ReportData) -> str:
    sections = (
        glance(data),
        timeline(data),
        rejections(data),
        tracked(data),
        health(data),
        notifications(data),
        pnl_report.section(data.pnl),
    )
    body = "".join(_section(title, part) for title, part in zip(HEADINGS, sections, strict=False))
    title = f"ordertrack report · {data.period.label()}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{pnl_report.CSS}</style></head><body><main>"
        f'<h1>{esc(title)}</h1><p class="sub">Generated {esc(show(data.generated_at))}. '
        "Times are IST.</p>"
        f"{body}</main></body></html>\n"
    )


def write(document: str, target: Path) -> Path:
    """Write owner-only (the page holds trading data), replacing any earlier file whole; a
    target that is not a regular file (FIFO, device, socket, folder) is refused unwritten."""
    return files.replace_whole(target, document)


def default_name(period: Period) -> str:
    if period.first == period.last:
        return f"ordertrack-report-{period.first}.html"
    return f"ordertrack-report-{period.first}_{period.last}.html"


# ---- eod: the day's report in reports/, and on Telegram when asked ---------------------------

KIND = "DAILY_REPORT"  # the outbox kind notify sends as a document (sendDocument)


def daily(
    db: Database,
    settings: Settings,
    day: date,
    now: datetime,
    broker_error: str | None,
    run_id: int | None,
    send: bool = True,
) -> Path | None:
    """Write the day's report beside the database (the newest `[report] keep` of this
    database's stay) and, with `[report] telegram = true` and `send`, queue it as a document,
    once per day and outcome, like the summary."""
    if settings.report_keep <= 0:
        return None
    data = report_data.gather(db, Period(day, day), settings.missing.calendar, now, broker_error)
    data.pnl = pnl_report.block(db, data.period, settings.charges)
    db_path = settings.db_path.expanduser()
    folder = maintenance.private_folder(db_path.parent / "reports")
    target = write(page(data), folder / f"{db_path.stem}-report-{day:%Y%m%d}.html")
    mine = re.compile(rf"{re.escape(db_path.stem)}-report-\d{{8}}\.html")
    maintenance.prune(maintenance.owned_matching(folder, mine), target, settings.report_keep)
    if settings.report_telegram and send:
        outcome = "final" if broker_error is None else "incomplete"
        payload = {
            "trading_day": day.isoformat(),
            "path": str(target),
            "complete": broker_error is None,
        }
        with transaction(db):
            outbox.enqueue(db, f"report:{day}:{outcome}", KIND, payload, now, run_id)
    return target


def for_eod(
    db: Database,
    settings: Settings,
    day: date,
    now: datetime,
    broker_error: str | None,
    run_id: int | None,
    send: bool,
) -> tuple[str | None, str | None]:
    """(path written, problem). The report is a convenience: failing to write it must not stop
    eod's archive and backup, so the failure is returned, not raised."""
    try:
        written = daily(db, settings, day, now, broker_error, run_id, send)
    except DatabaseError as exc:
        return None, f"daily report not written: {exc.message}"
    except (OSError, sqlite3.Error) as exc:
        return None, f"daily report not written: {exc}"
    return (str(written) if written else None), None
