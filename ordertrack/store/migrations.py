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


@MIGRATIONS()
def m002_broker_session(db: Database) -> None:
    # The broker session, reused by later runs the same IST day. The login lease that keeps
    # two runs from logging in at once is a row in `locks` (name 'login:<broker>').
    db.execute("""CREATE TABLE broker_sessions (
        broker TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        sid TEXT NOT NULL,
        base_url TEXT NOT NULL,
        expires_at TEXT,
        trading_day TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""")


@MIGRATIONS()
def m003_telegram_delivery(db: Database) -> None:
    # One delivery per (notification, chat), so each chat succeeds or fails on its own and a
    # retry never resends to a chat that already has the message. `uncertain` counts attempts
    # whose outcome is unknown (no reply after sending); `parts_sent` lets a split message
    # resume after its last delivered part. telegram_chats remembers what Telegram told us about
    # a chat: the supergroup a group became, and a rate-limit pause.
    db.execute("""CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox (id),
        chat_id TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'PENDING',
        attempts INTEGER NOT NULL DEFAULT 0,
        uncertain INTEGER NOT NULL DEFAULT 0,
        parts_sent INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        message_id TEXT,
        claimed_by TEXT,
        claimed_until TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (outbox_id, chat_id)
    )""")
    db.execute("CREATE INDEX deliveries_status ON deliveries (status, chat_id)")
    db.execute("""CREATE TABLE telegram_chats (
        chat_id TEXT PRIMARY KEY,
        migrated_to TEXT,
        paused_until TEXT,
        updated_at TEXT NOT NULL
    )""")
    # A digest is an outbox row of its own; the rows it carries point at it.
    db.execute("ALTER TABLE outbox ADD COLUMN digest_id INTEGER REFERENCES outbox (id)")


@MIGRATIONS()
def m004_eod(db: Database) -> None:
    # Archived orders leave the working set but keep their events; the indexes serve the
    # daily summary, which reads one IST day of events and registrations.
    db.execute("ALTER TABLE orders ADD COLUMN archived_at TEXT")
    db.execute("CREATE INDEX events_at ON events (at)")
    db.execute("CREATE INDEX orders_placed_at ON orders (placed_at)")


@MIGRATIONS()
def m005_reconcile(db: Database) -> None:
    # Every change reconcile makes (or reports) has a deterministic key, so a re-run on the same
    # broker data finds it already recorded; broker orders ordertrack did not place are kept
    # so every change of a tracked quantity can be explained.
    db.execute("""CREATE TABLE adjustments (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        action TEXT NOT NULL,
        tracked_before INTEGER NOT NULL,
        owned INTEGER NOT NULL,
        tracked_after INTEGER NOT NULL,
        manual_orders TEXT NOT NULL,
        at TEXT NOT NULL,
        run_id INTEGER
    )""")
    db.execute("""CREATE TABLE manual_orders (
        order_id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        side TEXT,
        qty INTEGER,
        filled_qty INTEGER,
        avg_price REAL,
        broker_status TEXT,
        raw TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""")
    db.execute("""CREATE TABLE holdings_history (
        day TEXT NOT NULL,
        symbol TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        net_today INTEGER NOT NULL,
        raw TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (day, symbol)
    )""")


@MIGRATIONS()
def m006_missing_since(db: Database) -> None:
    # When a successful order-book fetch first stopped listing an open order: eod's expiry
    # reason says "not in the order book since …".
    db.execute("ALTER TABLE orders ADD COLUMN missing_since TEXT")


@MIGRATIONS()
def m007_local_ref_keys(db: Database) -> None:
    # Orders without a broker id were keyed 'local-N:…', which a real order id 'local-N' could
    # collide with; they are now '#N:…' ('#' is never in an order id). Renaming the stored keys
    # keeps re-runs idempotent across the upgrade. Only keys naming their own order's local id
    # are renamed (a real id 'local-5' on order 2 keeps its keys).
    db.execute(
        "UPDATE events SET key = '#' || substr(key, 7) WHERE key LIKE 'local-%'"
        " AND key LIKE 'local-' || order_ref || ':%'"
    )
    db.execute("UPDATE outbox SET key = '#' || substr(key, 7) WHERE key LIKE 'local-%:ambiguous:%'")


@MIGRATIONS()
def m008_lock_holder_identity(db: Database) -> None:
    # A pid alone names a process only until it is reused (PID 1 in every container): a lock
    # also records its holder's boot and start time, so a lock whose holder is gone is free.
    db.execute("ALTER TABLE locks ADD COLUMN boot_id TEXT")
    db.execute("ALTER TABLE locks ADD COLUMN started INTEGER")


@MIGRATIONS()
def m009_event_broker_time(db: Database) -> None:
    # The broker's own time of the change an event records (normalised by the broker's parser),
    # so reconcile need not dig Kotak's fields out of `raw`. Old rows stay NULL: readers fall
    # back to the event's `at`.
    db.execute("ALTER TABLE events ADD COLUMN broker_time TEXT")


@MIGRATIONS()
def m010_verify_indexes(db: Database) -> None:
    # verify counts and lists the notifications it queued by run: without an index that read
    # scans the whole outbox, which grows by every notification ever sent.
    db.execute("CREATE INDEX outbox_run ON outbox (run_id)")


# Each source of the event feed: its table, and the kind, time and rows of it the feed takes.
_FEED_SOURCES = (
    ("events", "SELECT kind, at, 'events', id FROM events WHERE 1"),
    (
        "tracking_changes",
        "SELECT 'TRACKING_CHANGE', at, 'tracking_changes', id FROM tracking_changes WHERE 1",
    ),
    ("adjustments", "SELECT 'MANUAL_TRADE', at, 'adjustments', id FROM adjustments WHERE 1"),
    ("outbox", "SELECT kind, created_at, 'outbox', id FROM outbox WHERE kind = 'SYSTEM_ALERT'"),
)


@MIGRATIONS()
def m011_event_feed(db: Database) -> None:
    # One increasing sequence over every kind of recorded event (order events, tracking changes,
    # manual trades, run alerts), for `ordertrack events --since`. Triggers add a row in the same
    # transaction as the insert they follow, so no writing path can forget one; writers are
    # serialised, so a reader never sees a higher id commit after a lower one was read.
    # AUTOINCREMENT: an id is never reused, even after a rollback.
    db.execute("""CREATE TABLE feed (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        source_id INTEGER NOT NULL,
        UNIQUE (source, source_id)
    )""")
    db.execute("CREATE INDEX feed_kind ON feed (kind, id)")
    for table, rows in _FEED_SOURCES:
        db.execute(
            f"CREATE TRIGGER feed_{table} AFTER INSERT ON {table} BEGIN"
            f" INSERT INTO feed (kind, at, source, source_id) {rows} AND id = NEW.id; END"
        )
    # Rows recorded before the feed existed join it in the order they happened.
    union = " UNION ALL ".join(rows for _, rows in _FEED_SOURCES)
    db.execute(
        f"INSERT INTO feed (kind, at, source, source_id) SELECT * FROM ({union}) ORDER BY 2, 3, 4"
    )


@MIGRATIONS()
def m012_webhook_deliveries(db: Database) -> None:
    # One delivery per feed event and webhook ('webhook:<n>', the n-th [[webhook]]), keyed by the
    # feed id, which is also the Idempotency-Key a receiver sees. Its own table, not `deliveries`:
    # those hang off outbox rows, which Telegram mutes and digests; an engine must get every event.
    db.execute("""CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feed (id),
        destination TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'PENDING',
        attempts INTEGER NOT NULL DEFAULT 0,
        uncertain INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        claimed_by TEXT,
        claimed_until TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (feed_id, destination)
    )""")
    db.execute(
        "CREATE INDEX webhook_deliveries_status ON webhook_deliveries"
        " (destination, status, feed_id)"
    )
    # How far each webhook's deliveries have been opened: a feed id, never moved back.
    db.execute("""CREATE TABLE webhooks (
        destination TEXT PRIMARY KEY,
        opened_to INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )""")


@MIGRATIONS()
def m013_eod_indexes(db: Database) -> None:
    # eod reads the day's tracking changes by time and archives settled orders: without these
    # both read every row ever written (found by tests/test_query_plans.py).
    db.execute("CREATE INDEX tracking_changes_at ON tracking_changes (at)")
    db.execute("CREATE INDEX orders_archived ON orders (archived_at, updated_at)")


@MIGRATIONS()
def m014_delivery_retention(db: Database) -> None:
    # eod deletes finished deliveries older than [eod] delivered_keep_days: it finds them by age,
    # and a digest row is deleted only when none of the rows it carried is left.
    db.execute("CREATE INDEX deliveries_created ON deliveries (created_at)")
    db.execute("CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at)")
    db.execute("CREATE INDEX outbox_created ON outbox (created_at)")
    db.execute("CREATE INDEX outbox_digest ON outbox (digest_id) WHERE digest_id IS NOT NULL")


@MIGRATIONS()
def m015_fills(db: Database) -> None:
    # P&L (issue 26). `fills`: each fill from the broker's trade book (source 'trade_book'),
    # prices as exact decimal text, NULL when the broker gave none worth believing.
    db.execute("""CREATE TABLE fills (
        id INTEGER PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        qty INTEGER NOT NULL CHECK (qty > 0),
        price TEXT,
        at TEXT NOT NULL,
        day TEXT NOT NULL,
        manual INTEGER NOT NULL DEFAULT 0,
        recorded_at TEXT NOT NULL
    )""")
    db.execute("CREATE INDEX fills_day ON fills (day, symbol)")
    db.execute("CREATE INDEX fills_order ON fills (order_id)")
    # What the broker said a holding cost and was worth, per IST day: a day's starting cost
    # and the prices unrealised P&L is valued at.
    db.execute("""CREATE TABLE pnl_marks (
        day TEXT NOT NULL,
        symbol TEXT NOT NULL,
        qty INTEGER NOT NULL,
        avg_price TEXT,
        price TEXT,
        price_source TEXT,
        broker_cost TEXT,
        broker_value TEXT,
        broker_pnl TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (day, symbol)
    )""")
    # Today's average buy and sell price per symbol from the positions' traded amounts: the
    # price of a manual trade that has no other.
    db.execute("""CREATE TABLE position_prices (
        day TEXT NOT NULL,
        symbol TEXT NOT NULL,
        buy_avg TEXT,
        sell_avg TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (day, symbol)
    )""")
    # What a sell's execution realised, by its event: the notification and the feed read it.
    db.execute("""CREATE TABLE sell_pnl (
        event_id INTEGER PRIMARY KEY REFERENCES events (id),
        realised TEXT NOT NULL,
        avg_cost TEXT,
        at TEXT NOT NULL
    )""")


@MIGRATIONS()
def m016_run_trigger(db: Database) -> None:
    # What started a run: cron (or any unattended caller), a person at a terminal, or a push
    # heard by `listen`. Push runs add speed, never health: overdue checks and the report's
    # scheduled slots read only the others. Rows before this migration were cron's.
    db.execute("ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'cron'")
    # The pushes `listen` heard, kept as the audit trail (a push never settles an order).
    db.execute("""CREATE TABLE pushes (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        broker TEXT NOT NULL,
        order_id TEXT,
        payload TEXT NOT NULL
    )""")
    db.execute("CREATE INDEX pushes_at ON pushes (at)")
    # One row per `listen` process: what `status` shows of the stream.
    db.execute("""CREATE TABLE listens (
        id INTEGER PRIMARY KEY,
        pid INTEGER NOT NULL,
        broker TEXT NOT NULL,
        started_at TEXT NOT NULL,
        state TEXT NOT NULL,
        connected_since TEXT,
        last_frame_at TEXT,
        reconnects INTEGER NOT NULL DEFAULT 0,
        pushes INTEGER NOT NULL DEFAULT 0,
        verifies INTEGER NOT NULL DEFAULT 0,
        ended_at TEXT,
        note TEXT
    )""")
    # The polling cadence `schedule install --every N` wrote (minutes): the report's slots and
    # the overdue checks follow what is installed, not a constant.
    db.execute("CREATE TABLE schedule_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


@MIGRATIONS()
def m017_bot(db: Database) -> None:
    # `ordertrack bot` (issue 27): what it keeps between cron runs. bot_state holds single
    # values (the getUpdates offset, the command list last registered, an open 409 episode,
    # the mute). bot_updates records every update claimed, in the transaction that queues its
    # answer: the offset alone cannot say "answered" (ids become random after a quiet week).
    # bot_strangers: chats not in TELEGRAM_CHAT_ID that wrote, each logged once.
    db.execute("CREATE TABLE bot_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    # An update is known by its id and its message (chat, message id, date): after a quiet week
    # Telegram picks ids at random, so an old id may come back on a new message.
    db.execute("""CREATE TABLE bot_updates (
        key TEXT PRIMARY KEY,
        update_id INTEGER NOT NULL,
        chat_id TEXT,
        command TEXT,
        outbox_id INTEGER,  -- its answer's row; no foreign key: eod may forget delivered rows
        claimed_at TEXT NOT NULL
    )""")
    db.execute("""CREATE TABLE bot_strangers (
        chat_id TEXT PRIMARY KEY,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        messages INTEGER NOT NULL DEFAULT 1
    )""")
