"""Property: whatever fills and manual trades happen, reconciliation keeps tracked quantity
within what the account owns, never negative, and a second reconcile changes nothing."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack.core.reconcile_plan import ABSORB, IGNORE, Facts, decide

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SETTLE = timedelta(minutes=10)

operation = st.tuples(
    st.sampled_from(["system_buy", "system_sell", "manual_buy", "manual_sell", "reconcile"]),
    st.integers(min_value=1, max_value=500),
)


def reconcile(tracked: int, owned: int, policy: str) -> int:
    decision = decide(Facts("INFY", tracked), {"INFY": owned}, {}, {}, NOW, SETTLE, policy)
    return decision.new_qty if decision.action in ("manual_sell", "manual_buy") else tracked


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40), st.sampled_from([ABSORB, IGNORE]))
def test_tracked_quantity_stays_within_what_is_owned(operations, policy):
    owned = tracked = 0
    for op, qty in operations:
        if op == "system_buy":
            owned, tracked = owned + qty, tracked + qty
        elif op == "system_sell":  # a sell fills at most what the account holds
            qty = min(qty, owned)
            owned, tracked = owned - qty, tracked - min(qty, tracked)
        elif op == "manual_buy":
            owned += qty
        elif op == "manual_sell":
            owned -= min(qty, owned)
        else:
            tracked = reconcile(tracked, owned, policy)
            assert 0 <= tracked <= owned
            if policy == ABSORB:
                assert tracked == owned
            assert reconcile(tracked, owned, policy) == tracked  # a second run is a no-op
        assert tracked >= 0
