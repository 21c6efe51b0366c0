"""What a command returns (pipx's OperationResult idea): one type for every jobs entry, and the
JSON shape of each record a command prints. The CLI prints `Result.json` as it is (--json) or
draws its human view from `Result.view`; the shapes are pinned byte for byte
(tests/test_json_pins.py), so they live here once, below the CLI and the demo alike."""

from dataclasses import dataclass, field
from typing import Any

from ordertrack.core.models import Order
from ordertrack.errors import OrdertrackError
from ordertrack.timeutil import from_db, show_iso

MAX_LINES = 20  # notifications a run echoes on the terminal; the outbox keeps them all


@dataclass
class Result:
    """`json`: what --json prints. `view`: what the human view draws besides (a job's own
    result, rows). `notices`: this run's queued notifications to echo, `queued` their number.
    `report`: the delivery report when the command delivered. `problem`: the error to exit
    with once everything is shown (the run's work is done and recorded); `exit`, a silent one."""

    json: Any = None
    view: Any = None
    notices: list[Any] = field(default_factory=list)
    queued: int = 0
    report: Any = None
    problem: OrdertrackError | None = None
    exit: int = 0  # a silent exit code, for a command whose own lines said why


def order_json(order: Order) -> dict[str, Any]:
    """An order as `pending list/show --json` print it (the stored columns' shape)."""
    return {
        "id": order.id,
        "order_id": order.order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "qty": order.qty,
        "filled_qty": order.filled_qty,
        "avg_price": order.avg_price,
        "status": order.status.value,
        "reason": order.reason,
        "placed_at": show_iso(order.placed_at),
        "updated_at": show_iso(order.updated_at),
        "price": order.price,
        "amo": order.amo,
        "tag": order.tag,
        "broker_status": order.broker_status,
    }


def event_json(e: dict[str, Any]) -> dict[str, Any]:
    import json

    return {
        **e,
        "at": show_iso(from_db(e["at"])),
        "raw": json.loads(e["raw"]) if e["raw"] else None,
    }


def run_json(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, **{k: show_iso(from_db(r[k])) for k in ("started_at", "ended_at", "last_ok")}}


def tracking_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": row["symbol"],
        "tracked_qty": row["tracked_qty"],
        "status": row["status"],
        "started_at": show_iso(from_db(row["started_at"])),
        "updated_at": show_iso(from_db(row["updated_at"])),
    }


def outbox_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "text": _text(row),
        "destination": row["destination"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "created_at": show_iso(from_db(row["created_at"])),
        "sent_at": show_iso(from_db(row["sent_at"])),
        "payload": row["payload"],
        "digest_id": row.get("digest_id"),
        "deliveries": [delivery_json(d) for d in row.get("deliveries", [])],
    }


def delivery_json(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, **{k: show_iso(from_db(d[k])) for k in ("next_attempt_at", "sent_at")}}


def eod_json(result: Any) -> dict[str, Any]:
    return {
        "trading_day": result.trading_day,
        "session": result.session,
        "broker": "ok" if result.broker_error is None else "failed",
        "broker_error": result.broker_error,
        "verify": result.counts,
        "summary": result.summary,
        "summary_queued": result.summary_queued,
        "archived_orders": result.archived_orders,
        "archived_symbols": result.archived_symbols,
        "integrity": result.integrity,
        "backup": result.backup,
        "backup_error": result.backup_error,
        "db_size_bytes": result.db_size,
        "report": result.report,
        "report_error": result.report_error,
    }


def decision_json(d: Any) -> dict[str, Any]:
    return {
        "symbol": d.symbol,
        "action": d.action,
        "tracked": d.tracked,
        "owned": d.owned,
        "new_qty": d.new_qty,
        "reason": d.reason,
        "manual_orders": list(d.manual_orders),
        "stops_tracking": d.stops_tracking,
    }


def change_json(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": show_iso(from_db(c["at"])),
        "cause": c["cause"],
        "delta": c["delta"],
        "qty_after": c["qty_after"],
        "order_id": c["order_id"] or (f"#{c['order_ref']}" if c["order_ref"] else None),
        "note": c["note"],
    }


def _text(row: dict[str, Any]) -> str:
    """An outbox row's message as one plain text (the messages module loads when needed)."""
    from ordertrack.notify import messages

    return messages.plain_text(row["kind"], row["payload"])
