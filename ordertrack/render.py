"""Turning results into terminal tables or stable JSON. The only module that prints."""

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from ordertrack.messages import inr
from ordertrack.timeutil import from_db, show, show_iso

# Markup off: symbols and broker reasons are data, never rich markup. Cron logs are not
# terminals: give them room instead of rich's default 80 columns.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 132
console = Console(highlight=False, markup=False, emoji=False, width=_WIDTH)
MAX_LINES = 20  # notifications echoed on the terminal per run; the outbox keeps them all

ORDER_JSON = ("id", "order_id", "symbol", "side", "qty", "filled_qty", "avg_price", "status",
              "reason", "placed_at", "updated_at", "price", "amo", "tag", "broker_status")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def order_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ORDER_JSON}
    out["amo"] = bool(out["amo"])
    for key in ("placed_at", "updated_at"):
        out[key] = show_iso(from_db(out[key]))
    return out


def orders_table(rows: list[dict[str, Any]], title: str) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    for name in ("Order", "Symbol", "Side", "Filled/Qty", "Avg", "Status", "Placed (IST)"):
        table.add_column(name, no_wrap=True)
    table.add_column("Reason", overflow="fold")
    for r in rows:
        table.add_row(r["order_id"] or f"#{r['id']}", r["symbol"], r["side"],
                      f"{r['filled_qty']}/{r['qty']}", inr(r["avg_price"]) if r["avg_price"]
                      else "", r["status"] + (" (AMO)" if r["amo"] else ""),
                      show(from_db(r["placed_at"])), r["reason"] or "")
    console.print(table)


def event_json(e: dict[str, Any]) -> dict[str, Any]:
    return {**e, "at": show_iso(from_db(e["at"])), "raw": json.loads(e["raw"]) if e["raw"] else None}


def run_json(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, **{k: show_iso(from_db(r[k])) for k in ("started_at", "ended_at", "last_ok")}}


def order_detail(row: dict[str, Any], events: list[dict[str, Any]]) -> None:
    orders_table([row], "Order")
    table = Table(title="Events")
    for name in ("When (IST)", "Event", "Status", "Filled", "Broker status", "Reason"):
        table.add_column(name)
    for e in events:
        filled = f"{e['filled_qty']}" + (f" (+{e['delta_qty']})" if e["delta_qty"] else "")
        table.add_row(show(from_db(e["at"])), e["kind"], e["status"], filled,
                      e["broker_status"] or "", e["reason"] or "")
    console.print(table)


def tracking_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"symbol": row["symbol"], "tracked_qty": row["tracked_qty"], "status": row["status"],
            "started_at": show_iso(from_db(row["started_at"])),
            "updated_at": show_iso(from_db(row["updated_at"]))}


def tracking_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("Tracked symbols: none")
        return
    table = Table(title="Tracked symbols")
    for name in ("Symbol", "Quantity", "Status", "Since (IST)"):
        table.add_column(name)
    for r in rows:
        table.add_row(r["symbol"], str(r["tracked_qty"]), r["status"],
                      show(from_db(r["started_at"])))
    console.print(table)


def outbox_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "status": row["status"], "text": row["text"],
            "destination": row["destination"], "attempts": row["attempts"],
            "last_error": row["last_error"], "created_at": show_iso(from_db(row["created_at"])),
            "sent_at": show_iso(from_db(row["sent_at"])), "payload": row["payload"]}


def outbox_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("Outbox: empty")
        return
    table = Table(title="Outbox")
    for name in ("Id", "Created (IST)", "Status", "Message", "Last error"):
        table.add_column(name)
    for r in rows:
        table.add_row(str(r["id"]), show(from_db(r["created_at"])), r["status"], r["text"],
                      r["last_error"] or "")
    console.print(table)


def notifications(rows: list[dict[str, Any]], total: int) -> None:
    for row in rows[:MAX_LINES]:
        console.print(f"• {row['text']}")
    if total > MAX_LINES:
        console.print(f"… and {total - MAX_LINES} more (ordertrack outbox list)")


def counts_line(title: str, counts: dict[str, int]) -> None:
    parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)
    console.print(f"{title}: {parts or 'nothing to check'}")


def status_view(data: dict[str, Any]) -> None:
    console.print(f"Database: {data['database']} (schema {data['schema']})")
    console.print(f"Broker: {data['broker']}; notifications: {data['notifications']}")
    counts_line("Orders", data["orders"])
    console.print(f"Tracked symbols: {data['tracked_symbols']}; outbox waiting: "
                  f"{data['outbox']['PENDING']}, failed: {data['outbox']['FAILED']}")
    table = Table(title="Last runs")
    for name in ("Command", "Started (IST)", "Outcome", "Exit", "Last success (IST)", "Error"):
        table.add_column(name)
    for r in data["runs"]:
        table.add_row(r["command"], show(from_db(r["started_at"])), r["outcome"],
                      "" if r["exit_code"] is None else str(r["exit_code"]),
                      show(from_db(r["last_ok"])), r["error"] or "")
    console.print(table if data["runs"] else "No runs recorded yet.")
