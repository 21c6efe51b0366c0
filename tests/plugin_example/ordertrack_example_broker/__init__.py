"""A minimal ordertrack broker plugin: it reads its broker's replies from one JSON file named
by EXAMPLE_BROKER_FILE (its own settings prefix, EXAMPLE_BROKER_), shaped

    {"orders": [{"id": "…", "state": "complete", "symbol": "INFY", "side": "BUY",
                 "qty": 10, "filled": 10, "price": 1500.5, "reason": null}],
     "holdings": [{"symbol": "INFY", "qty": 10, "t1": 0}],
     "positions": [{"symbol": "INFY", "net": 10}]}

and answers in ordertrack's normalised types (ordertrack.plugins, API version 1)."""

import json
import os
from pathlib import Path
from typing import Any

from ordertrack.errors import ConfigError
from ordertrack.plugins import (
    API_VERSION,
    BrokerOrder,
    BrokerState,
    Fetch,
    Holding,
    Outcome,
    Position,
    Side,
)

if API_VERSION != 1:
    raise ImportError(f"ordertrack plugin API {API_VERSION} is not the 1 this plugin knows")

STATES = {
    "complete": BrokerState.COMPLETE,
    "rejected": BrokerState.REJECTED,
    "cancelled": BrokerState.CANCELLED,
    "open": BrokerState.WORKING,
}


class ExampleBroker:
    name = "example"

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def from_settings(cls, settings: Any, db: Any) -> "ExampleBroker":
        value = os.environ.get("EXAMPLE_BROKER_FILE", "").strip()
        if not value:
            raise ConfigError("ORDERTRACK_BROKER=example needs EXAMPLE_BROKER_FILE")
        return cls(Path(value))

    def _read(self, key: str) -> list[dict[str, Any]] | None:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            return None
        return rows if isinstance(rows, list) else None

    def order_book(self) -> Fetch:
        rows = self._read("orders")
        if rows is None:
            return Fetch(Outcome.FAILED, error=f"{self.path} has no usable orders")
        return Fetch(
            Outcome.OK if rows else Outcome.EMPTY,
            items=tuple(
                BrokerOrder(
                    order_id=str(r["id"]),
                    status_text=r["state"],
                    state=STATES.get(r["state"], BrokerState.UNKNOWN),
                    symbol=r["symbol"],
                    side=Side(r["side"]),
                    qty=r["qty"],
                    filled_qty=r["filled"],
                    avg_price=r.get("price") if r["filled"] else None,
                    reason=r.get("reason"),
                    tag=None,
                    placed_at=None,
                    updated_ns=0,
                    state_at=None,
                    updated_at=None,
                    raw=r,
                )
                for r in rows
            ),
        )

    def order_history(self, order_id: str) -> Fetch:
        return Fetch(Outcome.UNSUPPORTED)

    def holdings(self) -> Fetch:
        rows = self._read("holdings")
        if rows is None:
            return Fetch(Outcome.FAILED, error=f"{self.path} has no usable holdings")
        return Fetch(
            Outcome.OK,
            items=tuple(Holding(r["symbol"], r["qty"], r.get("t1", 0), raw=r) for r in rows),
        )

    def positions(self) -> Fetch:
        rows = self._read("positions")
        if rows is None:
            return Fetch(Outcome.FAILED, error=f"{self.path} has no usable positions")
        items = tuple(Position(r["symbol"], r["net"], raw=r) for r in rows)
        return Fetch(Outcome.OK if items else Outcome.EMPTY, items=items)
