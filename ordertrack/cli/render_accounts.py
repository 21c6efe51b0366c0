"""How the account views are drawn (issue 29): each account's own view under its name, by the
single-account renderers of cli/render.py."""

from typing import Any

from ordertrack.cli import render
from ordertrack.text import one_line
from ordertrack.timeutil import from_db, show


def heading(name: str, first: bool = False) -> None:
    render.console.print(("" if first else "\n") + f"== account {name} ==")


def accounts_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        render.console.print("No accounts yet: ordertrack accounts add NAME [--broker kotak]")
        return
    for row in rows:
        last = max(
            (r for r in row["runs"] if r.get("started_at")),
            key=lambda r: r["started_at"],
            default=None,
        )
        said = (
            f"last run {last['command']} {last['outcome']} at {show(from_db(last['started_at']))}"
            if last
            else "no runs yet"
        )
        if row.get("error"):
            said = f"PROBLEM: {row['error']}"
        # the database path is long (60 columns and more): its own line, so name, broker and
        # last run stay one line that reads across
        render.hanging(f"{row['account']:<16}", one_line(f"{row['broker']:<6} {said}"))
        render.hanging(" " * 16, row["db"])


def status_all(views: list[tuple[str, Any, str | None]]) -> None:
    for n, (name, view, error) in enumerate(views):
        heading(name, n == 0)
        if view is None:
            render.console.print(f"PROBLEM: {error}")
        else:
            render.status_view(view)


def pnl_all(data: dict[str, Any], views: list[tuple[str, Any, Any]]) -> None:

    for n, (name, figures, extra) in enumerate(views):
        heading(name, n == 0)
        if figures is None:
            render.console.print(f"PROBLEM: {extra}")
        else:
            render.pnl_table(figures, *extra)
    render.console.print("")
    render.console.print(pnl_total(data), markup=False)


def pnl_total(data: dict[str, Any]) -> str:
    """The all-accounts line, saying what the single-account total says: how many holdings
    the unrealised figure covers (0.00 over holdings nobody priced is no figure) and charges."""
    from ordertrack.notify.messages import inr, signed_inr

    total = data["total"]
    said = "All accounts: realised " + (
        signed_inr(total["realised"]) if total["realised"] is not None else "none"
    )
    said += ", unrealised " + (
        signed_inr(total["unrealised"]) if total["unrealised"] is not None else "none"
    )
    held = [r for a in data["accounts"] for r in a.get("symbols", ()) if r.get("open_qty")]
    valued = sum(1 for r in held if r.get("unrealised") is not None)
    if valued < len(held):
        said += f" on {valued} of {len(held)} open holdings (the rest: price unknown)"
    if total["charges"] is None:
        return said + " (before charges)"
    return said + f"; charges {inr(total['charges'])}, net {signed_inr(total['net'])}"


def doctor_all(views: list[tuple[str, list[Any]]]) -> None:
    failing = []
    for n, (name, checks) in enumerate(views):
        heading(name, n == 0)
        for r in checks:
            label, line = (
                ("skipped", f"{r.check}: {r.detail.removeprefix('skipped: ')}")
                if r.skipped
                else ("ok", f"{r.check}: {r.detail}")
                if r.ok
                else ("PROBLEM", f"{r.check}: {r.detail}" + (f" — fix: {r.fix}" if r.fix else ""))
            )
            render.hanging(f"{label:<9}", line)
        if not all(r.ok for r in checks):
            failing.append(name)
    if len(views) < 2:  # one account's checks say it all
        return
    render.console.print("")
    render.hanging(
        "",
        f"{len(failing)} of {len(views)} accounts with a problem: {', '.join(failing)}"
        if failing
        else f"All {len(views)} accounts ok.",
    )
