"""The floor plan holds: Kotak stays in its room, and the core does no I/O (issue 13)."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ordertrack"
KOTAK = PACKAGE / "broker" / "kotak"
# Kotak Neo's own field names: a second broker must not have to touch code that reads them.
KOTAK_FIELDS = re.compile(
    r"\b(ordSt|nOrdNo|trdSym|displaySymbol|flBuyQty|flSellQty|fldQty|avgPrc"
    r"|updRecvTm|hsUpTm|exCfmTm|flDtTm|ordDtTm|rejRsn)\b"
)
KITE = PACKAGE / "broker" / "kite"
# Kite Connect's own field and error names (broker-apis.md §11): they stay in broker/kite.
KITE_FIELDS = re.compile(
    r"\b(transaction_type|filled_quantity|pending_quantity"
    r"|cancelled_quantity|t1_quantity|status_message|order_timestamp"
    r"|exchange_timestamp|exchange_update_timestamp|average_price"
    r"|error_type|TokenException|X-Kite-Version)\b"
)
ANGEL = PACKAGE / "broker" / "angel"
# Angel One SmartAPI's own field names and error codes (tests/fixtures/angel/SOURCE.md).
ANGEL_FIELDS = re.compile(
    r"\b(orderstatus|filledshares|unfilledshares|averageprice"
    r"|transactiontype|uniqueorderid|exchorderupdatetime|updatetime"
    r"|t1quantity|realisedquantity|jwtToken|refreshToken|errorcode"
    r"|X-PrivateKey|AG8001|AB1050|getOrderBook|loginByPassword)\b"
)
FYERS = PACKAGE / "broker" / "fyers"
# Fyers API v3's own field names (tests/fixtures/fyers/SOURCE.md).
FYERS_FIELDS = re.compile(
    r"\b(orderBook|tradeBook|netPositions|filledQty|tradedPrice"
    r"|orderDateTime|holdingType|offlineOrder|orderTag|limitPrice"
    r"|appIdHash|validate-authcode|dayBuyQty|daySellQty)\b"
)
# A field name two brokers share stays in those two brokers' packages.
SHARED_FIELDS = {"tradingsymbol": (KITE, ANGEL)}
FORBIDDEN_IN_CORE = {
    "ordertrack.store",
    "ordertrack.broker",
    "ordertrack.notify",
    "ordertrack.cli",
    "ordertrack.jobs",
    "ordertrack.config",
    "ordertrack.net",
    "ordertrack.api",
    "requests",
    "sqlite_utils",
    "sqlite3",
    "tenacity",
    "urllib",
    "http",
    "socket",
    "subprocess",
    "rich",
    "typer",
}


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
    leaks = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in modules(PACKAGE)
        if KOTAK not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if KOTAK_FIELDS.search(line)
    ]
    assert leaks == []


def test_kite_field_names_appear_only_in_broker_kite():
    leaks = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in modules(PACKAGE)
        if KITE not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if KITE_FIELDS.search(line)
    ]
    assert leaks == []


def leaks_outside(fields: re.Pattern[str], *homes: Path) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in modules(PACKAGE)
        if not any(home in path.parents for home in homes)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if fields.search(line)
    ]


@pytest.mark.parametrize(
    "fields,home", [(ANGEL_FIELDS, ANGEL), (FYERS_FIELDS, FYERS)], ids=["angel", "fyers"]
)
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
    bad = {
        name
        for name in imported(path)
        if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN_IN_CORE)
    }
    assert bad == set()


def test_reconcile_job_runs_no_sql():
    source = (PACKAGE / "jobs" / "reconcile.py").read_text(encoding="utf-8")
    assert not re.search(r"\.execute\(|\b(SELECT|INSERT|UPDATE|DELETE)\b", source)


def test_config_does_not_import_the_brokers():
    assert not {n for n in imported(PACKAGE / "config.py") if n.startswith("ordertrack.broker")}


# ---- commands are thin (issue 24): the CLI parses, calls one jobs entry, renders, exits ----

CLI_APP = PACKAGE / "cli" / "app.py"


def ordertrack_modules(path: Path) -> set[str]:
    """The project's modules a file imports, a `from package import module` counted as the
    module (so `from ordertrack.jobs import commands` is ordertrack.jobs.commands)."""
    found = set()
    for name in imported(path):
        if not name.startswith("ordertrack"):
            continue
        as_file = PACKAGE.parent / Path(*name.split("."))
        if as_file.with_suffix(".py").is_file() or (as_file / "__init__.py").is_file():
            found.add(name)
    # `from ordertrack.x import name` also adds ordertrack.x; drop a package whose module is in
    return {m for m in found if not any(o.startswith(f"{m}.") for o in found) or m == "ordertrack"}


def test_cli_app_reaches_no_store_broker_or_notifier():
    bad = {
        n
        for n in imported(CLI_APP)
        if n.startswith(("ordertrack.store", "ordertrack.broker", "ordertrack.notify"))
    }
    assert bad == set()


def test_cli_app_imports_few_modules_outside_cli():
    outside = {m for m in ordertrack_modules(CLI_APP) if not m.startswith("ordertrack.cli")}
    assert len(outside) <= 12, sorted(outside)


def test_only_jobs_entries_start_a_broker_run():
    callers = sorted(
        str(path.relative_to(PACKAGE))
        for path in modules(PACKAGE)
        if re.search(r"\bbroker_run\(", path.read_text(encoding="utf-8"))
        and path.name != "runner.py"
    )
    assert callers == ["jobs/commands.py"]


def test_schedule_files_are_written_by_jobs_schedule_alone():
    source = CLI_APP.read_text(encoding="utf-8")
    assert not re.findall(r"\.unlink\(|write_crontab|systemd_units|\.mkdir\(|write_text", source)


# ---- one vocabulary (issue 24) ------------------------------------------------------------------


def test_project_modules_are_imported_under_their_own_names():
    """`store` meant store.orders in some files and store.reconcile in another: a module is
    called by its own name (an `_job` suffix where a jobs entry shares a command's name)."""
    renamed = []
    for path in modules(PACKAGE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ordertrack"):
                renamed += [
                    f"{path.relative_to(PACKAGE)}: {a.name} as {a.asname}"
                    for a in node.names
                    if a.asname in ("store", "registry", "runlog")
                ]
    assert renamed == []


def test_errors_end_in_one_suffix_and_the_documented_old_names_still_work():
    from ordertrack import errors

    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__name__ == name
    ]
    assert [n for n in classes if n.endswith("Problem")] == []
    assert errors.UsageProblem is errors.UsageError
    assert errors.DatabaseProblem is errors.DatabaseError


def test_event_kinds_are_one_enum_beside_status():
    from ordertrack.core.models import KINDS, EventKind
    from ordertrack.store import feed

    assert feed.KINDS == KINDS == tuple(EventKind)
    assert not {n for n in imported(PACKAGE / "config.py") if n.startswith("ordertrack.store")}


def _kind_words(tree: ast.AST, words: set[str]) -> list[tuple[int, str]]:
    """Event-kind words written as string literals where they are dict keys or compared."""
    found: list[tuple[int, str]] = []

    def literal(node: ast.AST | None) -> None:
        if isinstance(node, ast.Constant) and node.value in words:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            for element in node.elts:
                literal(element)

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                literal(key)
        elif isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                literal(operand)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_label":
            for arg in node.args:
                literal(arg)
    return found


def test_event_kinds_are_compared_and_keyed_as_the_enum():
    """`EventKind.EXECUTED`, not "EXECUTED", wherever a module keys or compares by an event's
    kind (issue 24); the broker packages keep their own status words, and the migrations the
    words they wrote then. Stored and configured values are the same words either way."""
    from ordertrack.core.models import EventKind

    words = {kind.value for kind in EventKind}
    skip = (PACKAGE / "broker", PACKAGE / "core" / "models.py", PACKAGE / "store" / "migrations.py")
    bare = [
        f"{path.relative_to(PACKAGE)}:{line} {word}"
        for path in modules(PACKAGE)
        if not any(path.is_relative_to(s) for s in skip)
        for line, word in _kind_words(ast.parse(path.read_text(encoding="utf-8")), words)
    ]
    assert bare == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycle_between_modules():
    """Imports inside functions count too: a lazy import still ties two modules together
    (a merge once made jobs/pnl -> jobs/report -> jobs/pnl_report -> jobs/pnl)."""
    names = {_module_name(p): p for p in modules(PACKAGE)}
    graph = {
        name: {n for n in imported(path) if n in names and n != name}
        for name, path in names.items()
    }
    graph = {
        name: {n for n in edges if not name.startswith(f"{n}.")}  # a package's own face
        for name, edges in graph.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt] if nxt in trail else [name, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
