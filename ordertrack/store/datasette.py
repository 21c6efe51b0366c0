"""A datasette metadata file for exploring the database: table descriptions and canned queries.

datasette is not a dependency; this is plain data. Times in the database are UTC ISO 8601;
the queries shift them by +05:30 to show and compare IST days (India has no daylight saving).
"""

from typing import Any

from ordertrack.core.models import EventKind

IST = "'+5 hours', '+30 minutes'"  # SQLite date modifiers from UTC to IST

TABLES = {
    "orders": "Every order the engine registered: its latest state, fills and reason.",
    "events": "Each change of an order's state (one row per fill, rejection, cancellation, "
    "expiry), in UTC.",
    "tracking": "Symbols ordertrack owns and the quantity it owns.",
    "tracking_changes": "Every change of a tracked quantity and its cause (system fill, manual "
    "trade, reconcile adjustment).",
    "outbox": "Notifications: waiting (PENDING), SENT, FAILED, DIGESTED or OFF.",
    "deliveries": "One row per notification and Telegram chat: attempts, outcome, last error.",
    "runs": "Each command run: start, end, outcome (ok, failed, locked, crashed), exit code,"
    " trigger (cron, manual, push: a verify `listen` ran on an order update).",
    "adjustments": "What reconcile decided for each symbol it compared with the broker.",
    "manual_orders": "Broker orders ordertrack did not place (trades made by hand).",
    "holdings_history": "Broker holdings as reconcile saw them, per IST day.",
    "seen_statuses": "Broker status texts seen for the first time (unknown ones are reported).",
    "telegram_chats": "What Telegram said about a chat: migrated to a supergroup, paused.",
    "feed": "Every recorded event in one increasing sequence (`ordertrack events`).",
    "webhook_deliveries": "One row per feed event and webhook: attempts, outcome, last error.",
    "webhooks": "How far each webhook's deliveries have been opened along the feed.",
    "locks": "Leases that keep overlapping runs apart.",
    "fills": "Each fill from the broker's trade book: quantity, price (NULL when the broker gave "
    "none worth believing), IST day; manual = an order ordertrack did not register.",
    "pnl_marks": "What the broker said each holding cost and was worth, per IST day: the cost a "
    "day's P&L starts from and the price unrealised P&L is valued at.",
    "sell_pnl": "What each sell's fill realised, as its notification said (before charges).",
    "position_prices": "The day's average buy and sell price per symbol from the positions' "
    "traded amounts: the price of a manual trade that has no other.",
    "pushes": "Order updates `listen` heard on the broker's stream (hints; never a verdict).",
    "listens": "Each `listen` process: connected since, last frame, reconnects, pushes.",
    "schedule_settings": "What `schedule install` recorded (the verify cadence, in minutes).",
    "bot_state": "`ordertrack bot`: the getUpdates offset, the command list registered, a 409"
    " episode, the mute.",
    "bot_updates": "Each Telegram update the bot handled (once), with its answer's outbox row.",
    "bot_strangers": "Chats not in TELEGRAM_CHAT_ID that wrote to the bot (never answered).",
}
# Never shown: the broker session holds a live access token.
HIDDEN = ("broker_sessions", "_sqlite_migrations")

QUERIES = {
    "todays_orders": {
        "title": "Today's orders (IST)",
        "sql": "SELECT order_id, symbol, side, qty, filled_qty, avg_price, status, reason,"
        f" datetime(placed_at, {IST}) AS placed_ist FROM orders"
        f" WHERE date(placed_at, {IST}) = date('now', {IST}) ORDER BY placed_at",
    },
    "rejections_by_reason": {
        "title": "Rejections by reason",
        "sql": "SELECT coalesce(nullif(trim(reason), ''), 'no reason given') AS reason,"
        " count(*) AS rejections, min(date(at, " + IST + ")) AS first_day,"
        " max(date(at, " + IST + ")) AS last_day FROM events"
        f" WHERE kind = '{EventKind.REJECTED}'"
        " GROUP BY 1 ORDER BY rejections DESC",
    },
    "manual_trades": {
        "title": "Manual trades reconcile found",
        "sql": f"SELECT datetime(at, {IST}) AS at_ist, symbol, action, tracked_before, owned,"
        " tracked_after, manual_orders FROM adjustments WHERE action LIKE 'manual%'"
        " ORDER BY at DESC",
    },
    "realised_by_sell": {
        "title": "Realised P&L of each tracked sell (before charges)",
        "description": "As the execution notifications said it. `ordertrack pnl` also counts "
        "manual trades, charges and unrealised P&L.",
        "sql": f"SELECT date(e.at, {IST}) AS day_ist, o.symbol, o.order_id, e.kind,"
        " e.filled_qty, CAST(s.avg_cost AS REAL) AS avg_cost,"
        " CAST(s.realised AS REAL) AS realised FROM sell_pnl s"
        " JOIN events e ON e.id = s.event_id JOIN orders o ON o.id = e.order_ref"
        " ORDER BY e.at DESC",
    },
    "missed_runs": {
        "title": "Missed runs: verify gaps over 45 minutes in a day, weekdays without an eod",
        "description": "Last 30 days, from the database's first run (nothing was due before "
        "it). A weekday's eod is any successful eod from its 18:00 IST to the "
        "next weekday's (a late one, or one on the weekend, closes it). Exchange "
        "holidays are not known here, so a holiday shows as a weekday without "
        "eod; `ordertrack report` uses the real calendar.",
        "sql": "WITH verify AS (SELECT started_at, date(started_at, " + IST + ") AS day,"
        " lag(started_at) OVER (PARTITION BY date(started_at, " + IST + ")"
        " ORDER BY started_at) AS previous FROM runs WHERE command = 'verify'"
        " AND trigger != 'push' AND started_at >= datetime('now', '-30 days')),"
        " first(at) AS (SELECT datetime(min(started_at), " + IST + ") FROM runs),"
        " days(day) AS (SELECT date('now', " + IST + ", '-30 days') UNION ALL"
        " SELECT date(day, '+1 day') FROM days WHERE day < date('now', " + IST + ", '-1 day')),"
        " due(day, due_at, until) AS (SELECT day, day || ' 18:30:00',"
        " date(day, CASE strftime('%w', day) WHEN '5' THEN '+3 days' ELSE '+1 day' END)"
        " || ' 18:00:00' FROM days WHERE strftime('%w', day) NOT IN ('0', '6'))"
        " SELECT day, 'verify' AS command, datetime(previous, " + IST + ") AS last_run_ist,"
        " datetime(started_at, " + IST + ") AS next_run_ist,"
        " CAST(round((julianday(started_at) - julianday(previous)) * 1440) AS INTEGER)"
        " AS gap_minutes FROM verify WHERE previous IS NOT NULL"
        " AND julianday(started_at) - julianday(previous) > 45.0 / 1440"
        " UNION ALL SELECT day, 'eod', NULL, NULL, NULL FROM due, first"
        " WHERE due_at >= first.at AND due_at <= datetime('now', " + IST + ")"
        " AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.command = 'eod'"
        " AND r.outcome = 'ok' AND datetime(r.started_at, " + IST + ") >= day || ' 18:00:00'"
        " AND datetime(r.started_at, " + IST + ") < due.until)"
        " ORDER BY day, command",
    },
}


def metadata(database: str = "ordertrack") -> dict[str, Any]:
    """`database` is the name datasette gives the file: its name without .db."""
    tables: dict[str, Any] = {name: {"description": text} for name, text in TABLES.items()}
    tables.update({name: {"hidden": True} for name in HIDDEN})
    return {
        "title": "ordertrack",
        "description": "Orders an auto-trading engine placed, their fills and rejections, "
        "tracked quantities, runs and notifications. Times are UTC; the canned "
        "queries show IST.",
        "databases": {database: {"tables": tables, "queries": QUERIES}},
    }
