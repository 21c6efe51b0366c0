"""How the account views are drawn (issue 29): each account's own view under its name, by the
single-account renderers of cli/render.py."""

from typing import Any

from ordertrack.cli import render
from ordertrack.text import one_line
from ordertrack.timeutil import from_db, show


def heading(name: str) -> None:
    render.console.print(f"\n== account {name} ==")


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
        render.hanging(f"{row['account']:<16}", one_line(f"{row['broker']:<6} {row['db']}  {said}"))


def status_all(views: list[tuple[str, Any, str | None]]) -> None:
    for name, view, error in views:
        heading(name)
        if view is None:
            render.console.print(f"PROBLEM: {error}")
        else:
            render.status_view(view)


def pnl_all(data: dict[str, Any], views: list[tuple[str, Any, Any]]) -> None:
    from ordertrack.notify.messages import signed_inr

    for name, figures, extra in views:
        heading(name)
        if figures is None:
            render.console.print(f"PROBLEM: {extra}")
        else:
            render.pnl_table(figures, *extra)
    total = data["total"]
    render.console.print(
        "\nAll accounts: realised "
        + (signed_inr(total["realised"]) if total["realised"] is not None else "none")
        + ", unrealised "
        + (signed_inr(total["unrealised"]) if total["unrealised"] is not None else "none")
    )


def doctor_all(views: list[tuple[str, list[Any]]]) -> None:
    for name, checks in views:
        heading(name)
        for r in checks:
            label, line = (
                ("skipped", f"{r.check}: {r.detail.removeprefix('skipped: ')}")
                if r.skipped
                else ("ok", f"{r.check}: {r.detail}")
                if r.ok
                else ("PROBLEM", f"{r.check}: {r.detail} — fix: {r.fix}")
            )
            render.hanging(f"{label:<9}", line)
