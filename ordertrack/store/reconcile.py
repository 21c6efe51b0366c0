"""What reconcile reads and writes: facts per tracked symbol, manual orders, adjustments and
the dated holdings history."""

import json
from datetime import date, datetime

from ordertrack.core.book import BrokerOrder, Holding
from ordertrack.core.models import local_ref
from ordertrack.core.reconcile_plan import Decision, Facts
from ordertrack.store.db import Database
from ordertrack.store.orders import OPEN
from ordertrack.timeutil import from_db, to_db


def facts(db: Database, symbol: str, tracked: int, today_start: str) -> Facts:
    """`last_fill` is the broker's time of the latest system fill, else when ordertrack saw it
    (events recorded before the broker's time was kept)."""
    in_flight = tuple(
        r[0] or local_ref(r[1])
        for r in db.execute(
            "SELECT order_id, id FROM orders WHERE symbol = ? AND status IN (?, ?) ORDER BY id",
            (symbol, *OPEN),
        )
    )
    last = db.execute(
        "SELECT e.broker_time, e.at FROM events e JOIN orders o ON o.id = e.order_ref"
        " WHERE o.symbol = ? AND e.delta_qty > 0 ORDER BY e.id DESC LIMIT 1",
        (symbol,),
    ).fetchone()
    last_fill = (from_db(last[0]) or from_db(last[1])) if last else None
    return Facts(
        symbol, tracked, in_flight, last_fill, filled_today=bool(last and last[1] >= today_start)
    )


def record_manual_orders(
    db: Database, book: tuple[BrokerOrder, ...], ids: set[str], now: datetime
) -> None:
    for row in book:
        if row.order_id in ids:
            db.execute(
                "INSERT INTO manual_orders (order_id, symbol, side, qty, filled_qty, avg_price,"
                " broker_status, raw, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?) ON CONFLICT (order_id) DO UPDATE SET filled_qty = excluded.filled_qty,"
                " avg_price = excluded.avg_price, broker_status = excluded.broker_status,"
                " raw = excluded.raw, updated_at = excluded.updated_at",
                (
                    row.order_id,
                    row.symbol,
                    row.side.value if row.side else None,
                    row.qty,
                    row.filled_qty,
                    row.avg_price,
                    row.status_text,
                    json.dumps(row.raw, sort_keys=True),
                    to_db(now),
                    to_db(now),
                ),
            )


def last_tracking_change(db: Database, symbol: str) -> int | None:
    found = db.execute(
        "SELECT max(id) FROM tracking_changes WHERE symbol = ?", (symbol,)
    ).fetchone()[0]
    return int(found) if found is not None else None


def insert_adjustment(
    db: Database, key: str, d: Decision, now: datetime, run_id: int | None
) -> bool:
    """Record a finding once; False when `key` was recorded before."""
    return bool(
        db.execute(
            "INSERT OR IGNORE INTO adjustments (key, symbol, action, tracked_before, owned,"
            " tracked_after, manual_orders, at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                d.symbol,
                d.action,
                d.tracked,
                d.owned,
                d.new_qty,
                json.dumps(d.manual_orders),
                to_db(now),
                run_id,
            ),
        ).rowcount
    )


def save_holdings(
    db: Database,
    day: date,
    now: datetime,
    rows: tuple[Holding, ...],
    owned: dict[str, int],
    net: dict[str, int],
    tracked: list[str],
) -> None:
    """Append the tracked symbols' holdings to the dated history (one row per symbol and day)."""
    raw = {h.symbol: h.raw for h in rows}
    for symbol in tracked:
        db.execute(
            "INSERT OR REPLACE INTO holdings_history (day, symbol, quantity, net_today, raw, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                day.isoformat(),
                symbol,
                owned.get(symbol, 0),
                net.get(symbol, 0),
                json.dumps(raw.get(symbol), sort_keys=True),
                to_db(now),
            ),
        )
