"""`report --all-accounts` (issue 29): one page, the combined totals first, then a section per
account drawn by the single-account report's own parts (jobs/report.py), each under its
account's heading and anchors."""

from dataclasses import dataclass
from datetime import datetime

from ordertrack.jobs import pnl_report, report
from ordertrack.jobs.report import GLANCE_LABELS, HEADINGS, esc
from ordertrack.notify.messages import inr, signed_inr
from ordertrack.store.report_data import Period, ReportData
from ordertrack.timeutil import show

CSS = """
.account{border-top:3px solid #3949ab;margin-top:2.2em;padding-top:.4em}
.account>h2{font-size:1.35em}
.account section h2{font-size:1.05em}
table.accounts{border-collapse:collapse;margin:.6em 0}
table.accounts td,table.accounts th{padding:.2em .7em;border-bottom:1px solid #ddd;text-align:right}
table.accounts td:first-child,table.accounts th:first-child{text-align:left}
"""


@dataclass(frozen=True)
class Part:
    account: str
    data: ReportData | None
    error: str | None  # why this account has no section (its database is missing, …)


def _totals(parts: list[Part]) -> str:
    """The accounts' glance figures added up, one tile each, and a row per account."""
    datas = [p.data for p in parts if p.data is not None]
    keys = [key for key, _ in GLANCE_LABELS]
    tiles = [
        f'<div class="tile" data-key="{key}"><b>{sum(int(d.glance[key]) for d in datas)}</b>'
        f"<span>{label}</span></div>"
        for key, label in GLANCE_LABELS
    ]
    traded = sum(float(d.glance["value_traded"]) for d in datas)
    realised = sum(float(d.pnl["realised"] or 0) for d in datas if d.pnl)
    head = "".join(f"<th>{esc(label)}</th>" for _, label in GLANCE_LABELS[:4])
    rows = "".join(
        f'<tr data-account="{esc(p.account)}"><td><a href="#account-{esc(p.account)}">'
        f"{esc(p.account)}</a></td>"
        + (
            "".join(f"<td>{p.data.glance[k]}</td>" for k in keys[:4])
            + f"<td>{esc(signed_inr((p.data.pnl or {}).get('realised') or 0))}</td>"
            if p.data is not None
            else f'<td colspan="5" class="warn">{esc(p.error or "")}</td>'
        )
        + "</tr>"
        for p in parts
    )
    return (
        f'<div class="tiles">{"".join(tiles)}</div>'
        f'<div class="tile wide" data-key="value_traded" data-value="{traded:.2f}">'
        f"<b>{esc(inr(traded))}</b><span>value traded, all accounts</span></div>"
        f'<p id="combined-pnl">Realised P&amp;L, all accounts: <b>{esc(signed_inr(realised))}</b>'
        "</p>"
        f'<table class="accounts"><tr><th>account</th>{head}<th>realised</th></tr>{rows}</table>'
    )


def _account(part: Part) -> str:
    anchor = f"account-{part.account}"
    if part.data is None:
        body = f'<p class="warn">{esc(part.error or "no data")}</p>'
    else:
        d = part.data
        bodies = (
            report.glance(d),
            report.timeline(d),
            report.rejections(d),
            report.tracked(d),
            report.health(d),
            report.notifications(d),
            pnl_report.section(d.pnl),
        )
        body = "".join(
            f'<section id="{anchor}-{title.lower().replace(" ", "-").replace("&", "and")}">'
            f"<h2>{esc(title)}</h2>{part_body}</section>"
            for title, part_body in zip(HEADINGS, bodies, strict=False)
        )
    return (
        f'<article class="account" id="{anchor}"><h2>Account {esc(part.account)}</h2>'
        f"{body}</article>"
    )


def page(parts: list[Part], period: Period, now: datetime) -> str:
    title = f"ordertrack report · all accounts · {period.label()}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{report.CSS}{pnl_report.CSS}{CSS}</style></head>"
        f'<body><main><h1>{esc(title)}</h1><p class="sub">Generated {esc(show(now))}. '
        f"Times are IST. {len(parts)} accounts.</p>"
        f'<section id="combined"><h2>All accounts</h2>{_totals(parts)}</section>'
        f"{''.join(_account(p) for p in parts)}</main></body></html>\n"
    )
