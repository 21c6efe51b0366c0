"""What every broker offers. Each call returns a Fetch: data, confirmed empty, or failed."""

from typing import Protocol

from ordertrack.core.models import Fetch


class Broker(Protocol):
    name: str

    def order_book(self) -> Fetch: ...

    def order_history(self, order_id: str) -> Fetch: ...

    def holdings(self) -> Fetch: ...

    def positions(self) -> Fetch: ...
