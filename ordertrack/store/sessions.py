"""Broker sessions kept between runs, one row per broker (the broker module reads them)."""

from typing import Any

from ordertrack.store.db import Database, transaction


def load(db: Database, broker: str) -> dict[str, Any] | None:
    rows = list(
        db.query(
            "SELECT token, sid, base_url, created_at, expires_at, trading_day FROM broker_sessions"
            " WHERE broker = ?",
            (broker,),
        )
    )
    return rows[0] if rows else None


def save(db: Database, broker: str, row: dict[str, Any]) -> None:
    """Replace the broker's session; `row` holds the columns `load` returns, stored as given."""
    with transaction(db):
        db.execute(
            "INSERT OR REPLACE INTO broker_sessions (broker, token, sid, base_url, expires_at,"
            " trading_day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                broker,
                row["token"],
                row["sid"],
                row["base_url"],
                row["expires_at"],
                row["trading_day"],
                row["created_at"],
            ),
        )
