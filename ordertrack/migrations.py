"""Schema, as append-only migrations. Never edit an applied migration: add a new one."""

from sqlite_utils import Database, Migrations

MIGRATIONS = Migrations("ordertrack")

_INITIAL = [
    """CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        order_id TEXT UNIQUE,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        qty INTEGER NOT NULL CHECK (qty > 0),
        price REAL,
        amo INTEGER NOT NULL DEFAULT 0,
        tag TEXT,
        placed_at TEXT NOT NULL,
        status TEXT NOT NULL,
        filled_qty INTEGER NOT NULL DEFAULT 0,
        avg_price REAL,
        reason TEXT,
        broker_status TEXT,
        missing_count INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX orders_status ON orders (status)",
    "CREATE INDEX orders_symbol ON orders (symbol)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        order_ref INTEGER NOT NULL REFERENCES orders (id),
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        filled_qty INTEGER NOT NULL,
        delta_qty INTEGER NOT NULL DEFAULT 0,
        avg_price REAL,
        reason TEXT,
        broker_status TEXT,
        raw TEXT,
        at TEXT NOT NULL,
        run_id INTEGER
    )""",
    "CREATE INDEX events_order ON events (order_ref)",
    """CREATE TABLE tracking (
        symbol TEXT PRIMARY KEY,
        tracked_qty INTEGER NOT NULL CHECK (tracked_qty >= 0),
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        stopped_at TEXT
    )""",
    """CREATE TABLE tracking_changes (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        delta INTEGER NOT NULL,
        qty_after INTEGER NOT NULL,
        cause TEXT NOT NULL,
        order_ref INTEGER REFERENCES orders (id),
        event_id INTEGER REFERENCES events (id),
        note TEXT,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX tracking_changes_symbol ON tracking_changes (symbol)",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        destination TEXT,
        status TEXT NOT NULL DEFAULT 'PENDING',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        message_id TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        run_id INTEGER
    )""",
    "CREATE INDEX outbox_status ON outbox (status)",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL,
        exit_code INTEGER,
        counts TEXT,
        error TEXT
    )""",
    "CREATE INDEX runs_command ON runs (command, started_at)",
    """CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        token TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    """CREATE TABLE seen_statuses (
        status_text TEXT PRIMARY KEY,
        first_seen_at TEXT NOT NULL,
        order_id TEXT,
        raw TEXT
    )""",
]


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    for statement in _INITIAL:
        db.execute(statement)
