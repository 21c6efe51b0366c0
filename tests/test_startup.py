"""Start-up (issue 15): the commands an engine and cron call most import only what they use."""

import json
import subprocess
import sys

import pytest

# pydantic: Typer 0.29 and later convert every parameter through it (~80 ms a call); the
# dependency is capped below 0.29 for that reason.
HEAVY = (
    "rich",
    "requests",
    "sqlite_utils",
    "pydantic",
    "ordertrack.notify.delivery",
    "ordertrack.broker",
    "tomllib",
    "ordertrack.notify.messages",
    "ordertrack.jobs.schedule",
    "ordertrack.jobs.runner",
    "websockets",
    "csv",  # only `pending add --from x.csv` reads one
    "zoneinfo",  # IST is a fixed offset; the host's zone is `schedule`'s and `doctor`'s
    "ordertrack.core.book",  # the broker's books: only a command that reads one
    "ordertrack.core.lifecycle",
    "json",  # a registration stores no broker row; --json and --from load it
)
# What an idle run (nothing to send, nothing failing) does not need either (issue 24).
IDLE_UNUSED = (
    "ordertrack.notify.telegram",
    "ordertrack.notify.webhook",
    "ordertrack.notify.messages",
    "ordertrack.jobs.unstarted",
    "ordertrack.jobs.schedule",
    "ordertrack.jobs.pnl",  # read only when the book shows a fill not yet recorded
    "ordertrack.notify.ping",  # only with a monitor URL set
    "ordertrack.core.matching",  # only when an order waits for its broker id
    "ordertrack.core.listen",  # the file broker's stream is `listen`'s
    "secrets",  # lock tokens come from os.urandom: secrets loads hmac, hashlib, random
    "socket",  # the host name comes from platform (Typer loads it anyway)
)
PROBE = """
import sys
from ordertrack.cli.app import run
code = run(sys.argv[1:])
heavy = sorted(m for m in {heavy} if m in sys.modules)
import json  # after the look: json is one of the modules looked for
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


def loaded(env: dict, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture
def env(db_path, monkeypatch):
    import os

    return {**os.environ, "ORDERTRACK_DB": str(db_path), "ORDERTRACK_OUTPUT": "log"}


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["pending", "add", "1", "--symbol", "INFY", "--side", "buy", "--qty", "1"],
    ],
)
def test_hot_commands_import_only_what_they_use(env, args):
    subprocess.run(
        [sys.executable, "-m", "ordertrack", "track", "list"],
        env=env,
        capture_output=True,
        check=False,
    )  # create the database first
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ordertrack",
            "pending",
            "add",
            "0",
            "--symbol",
            "TCS",
            "--side",
            "buy",
            "--qty",
            "1",
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    assert loaded(env, *args) == {"code": 0, "heavy": []}


def test_the_package_import_loads_no_api(env):
    code = "import sys, ordertrack; print('ordertrack.api' in sys.modules, ordertrack.__version__)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "False"


@pytest.mark.parametrize("args", [["verify"], ["status", "--json"]])
def test_an_idle_verify_loads_no_http_or_table_library(env, broker, args):
    """The 30-minute run with nothing to send (file broker, no Telegram, no webhook), and an
    engine's look at the status, need neither the HTTP stack nor rich nor sqlite-utils."""
    from tests.helpers import kotak_row

    subprocess.run(
        [
            sys.executable,
            "-m",
            "ordertrack",
            "pending",
            "add",
            "1",
            "--symbol",
            "INFY",
            "--side",
            "buy",
            "--qty",
            "1",
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    broker.orders(kotak_row("1", "open"))
    probe = PROBE.format(
        heavy=("rich", "requests", "urllib3", "tenacity", "sqlite_utils", "pydantic", *IDLE_UNUSED)
    )
    for k in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "ORDERTRACK_PING_URL"):
        env.pop(k, None)
    env |= {"ORDERTRACK_BROKER": "file", "ORDERTRACK_BROKER_DIR": str(broker.folder)}
    result = subprocess.run(
        [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, check=False
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"code": 0, "heavy": []}


def test_command_signatures_are_not_strings():
    """Typer reads every command's signature on each start, whichever command runs: a string
    annotation (`from __future__ import annotations`) costs a compile and an eval each, ~10 ms a
    call over the whole app (issue 24)."""
    import typer

    from ordertrack.cli.app import app

    def callbacks(group: typer.Typer):
        yield group.registered_callback.callback if group.registered_callback else None
        yield from (c.callback for c in group.registered_commands)
        for g in group.registered_groups:
            yield from callbacks(g.typer_instance)

    found = [f for f in callbacks(app) if f is not None]
    assert len(found) > 20
    strings = [
        f"{f.__name__}({name})"
        for f in found
        for name, hint in f.__annotations__.items()
        if isinstance(hint, str)
    ]
    assert strings == []


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["verify", "--json"], ["verify"]),
        (["--db", "x.db", "pending", "add", "1"], ["pending"]),
        (["--config=c.toml", "track", "list"], ["track"]),
        (["--help"], None),
        ([], None),
        (["no-such-command"], None),
    ],
)
def test_only_the_invoked_branch_of_the_app_is_built(argv, names):
    """Typer reads the signature of every command it builds, on each start: a run builds its
    own command's branch; help and an unknown word the whole app (issue 24)."""
    from ordertrack.cli.app import _command, app

    built = sorted(_command(argv).commands)  # type: ignore[attr-defined]
    everything = sorted(typer_names(app))
    assert built == (everything if names is None else names)
    assert len(everything) >= 15


@pytest.mark.parametrize(
    ("argv", "leaves"),
    [
        (["pending", "add", "1"], ["add"]),
        (["--db", "pending", "pending", "list"], ["list"]),  # the --db value is not the command
        (["pending", "--help"], None),
        (["pending", "ad"], None),  # a typo: the whole group, for its suggestion
        (["pending"], None),
    ],
)
def test_only_the_invoked_command_of_a_group_is_built(argv, leaves):
    """`pending add` builds add alone, not pending's other commands; the group's help and an
    unknown sub-command word get the whole group (issue 24)."""
    from ordertrack.cli.app import _command, app

    group = _command(argv).commands["pending"]  # type: ignore[attr-defined]
    pending = next(g.typer_instance for g in app.registered_groups if g.name == "pending")
    everything = sorted(typer_names(pending))
    assert sorted(group.commands) == (everything if leaves is None else leaves)
    assert len(everything) >= 4


def typer_names(app) -> list[str]:
    import typer

    return [
        c.name or typer.main.get_command_name(c.callback.__name__) for c in app.registered_commands
    ] + [g.name for g in app.registered_groups]
