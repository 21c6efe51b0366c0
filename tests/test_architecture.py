"""The floor plan holds: Kotak stays in its room, and the core does no I/O (issue 13)."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ordertrack"
KOTAK = PACKAGE / "broker" / "kotak"
# Kotak Neo's own field names: a second broker must not have to touch code that reads them.
KOTAK_FIELDS = re.compile(r"\b(ordSt|nOrdNo|trdSym|displaySymbol|flBuyQty|flSellQty|fldQty|avgPrc"
                          r"|updRecvTm|hsUpTm|exCfmTm|flDtTm|ordDtTm|rejRsn)\b")
KITE = PACKAGE / "broker" / "kite"
# Kite Connect's own field and error names (broker-apis.md §11): they stay in broker/kite.
KITE_FIELDS = re.compile(r"\b(transaction_type|filled_quantity|pending_quantity"
                         r"|cancelled_quantity|t1_quantity|status_message|order_timestamp"
                         r"|exchange_timestamp|exchange_update_timestamp|average_price"
                         r"|error_type|TokenException|X-Kite-Version)\b")
ANGEL = PACKAGE / "broker" / "angel"
# Angel One SmartAPI's own field names and error codes (tests/fixtures/angel/SOURCE.md).
ANGEL_FIELDS = re.compile(r"\b(orderstatus|filledshares|unfilledshares|averageprice"
                          r"|transactiontype|uniqueorderid|exchorderupdatetime|updatetime"
                          r"|t1quantity|realisedquantity|jwtToken|refreshToken|errorcode"
                          r"|X-PrivateKey|AG8001|AB1050|getOrderBook|loginByPassword)\b")
FYERS = PACKAGE / "broker" / "fyers"
# Fyers API v3's own field names (tests/fixtures/fyers/SOURCE.md).
FYERS_FIELDS = re.compile(r"\b(orderBook|tradeBook|netPositions|filledQty|tradedPrice"
                          r"|orderDateTime|holdingType|offlineOrder|orderTag|limitPrice"
                          r"|appIdHash|validate-authcode|dayBuyQty|daySellQty)\b")
# A field name two brokers share stays in those two brokers' packages.
SHARED_FIELDS = {"tradingsymbol": (KITE, ANGEL)}
FORBIDDEN_IN_CORE = {"ordertrack.store", "ordertrack.broker", "ordertrack.notify", "ordertrack.cli",
                     "ordertrack.jobs", "ordertrack.config", "ordertrack.net", "ordertrack.api",
                     "requests", "sqlite_utils", "sqlite3", "tenacity", "urllib", "http", "socket",
                     "subprocess", "rich", "typer"}


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_kotak_field_names_appear_only_in_broker_kotak():
    leaks = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in modules(PACKAGE) if KOTAK not in path.parents
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if KOTAK_FIELDS.search(line)]
    assert leaks == []


def test_kite_field_names_appear_only_in_broker_kite():
    leaks = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in modules(PACKAGE) if KITE not in path.parents
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if KITE_FIELDS.search(line)]
    assert leaks == []


def leaks_outside(fields: re.Pattern[str], *homes: Path) -> list[str]:
    return [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
            for path in modules(PACKAGE) if not any(home in path.parents for home in homes)
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if fields.search(line)]


@pytest.mark.parametrize("fields,home", [(ANGEL_FIELDS, ANGEL), (FYERS_FIELDS, FYERS)],
                         ids=["angel", "fyers"])
def test_new_brokers_field_names_stay_in_their_package(fields, home):
    assert leaks_outside(fields, home) == []
    assert any(fields.search(p.read_text(encoding="utf-8")) for p in modules(home))


def test_shared_field_names_stay_in_the_brokers_that_share_them():
    for name, homes in SHARED_FIELDS.items():
        assert leaks_outside(re.compile(rf"\b{name}\b"), *homes) == []


def test_the_new_field_checks_would_catch_a_leak():
    assert ANGEL_FIELDS.search('row.get("t1quantity")')
    assert FYERS_FIELDS.search('payload["netPositions"]')


def test_the_kite_field_check_would_catch_a_leak():
    assert KITE_FIELDS.search('row.get("t1_quantity")')
    assert any(KITE_FIELDS.search(p.read_text(encoding="utf-8")) for p in modules(KITE))


@pytest.mark.parametrize("path", modules(PACKAGE / "core"), ids=lambda p: p.name)
def test_core_imports_nothing_that_does_io(path):
    bad = {name for name in imported(path)
           if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN_IN_CORE)}
    assert bad == set()


def test_reconcile_job_runs_no_sql():
    source = (PACKAGE / "jobs" / "reconcile.py").read_text(encoding="utf-8")
    assert not re.search(r"\.execute\(|\b(SELECT|INSERT|UPDATE|DELETE)\b", source)


def test_config_does_not_import_the_brokers():
    assert not {n for n in imported(PACKAGE / "config.py") if n.startswith("ordertrack.broker")}
