"""Every `--json` output of one fixed day, byte for byte as main printed it when the issue-24
restructure began (tests/golden/, written by scripts/pin_json.py). A difference here is a
behaviour change: fix the code, or — only when the change is meant — regenerate the goldens with
`python scripts/pin_json.py` and review their diff."""

import json

import pytest

from tests.json_pins import GOLDEN, Output, codes, collect, golden_path


@pytest.fixture(scope="module")
def outputs() -> list[Output]:
    return collect()


def _json_commands() -> set[tuple[str, ...]]:
    import typer

    from ordertrack.cli.app import app

    def walk(group: typer.Typer, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
        found = set()
        for c in group.registered_commands:
            assert c.callback is not None
            if "json_" in c.callback.__code__.co_varnames:
                found.add((*prefix, c.name or c.callback.__name__.replace("_", "-")))
        for g in group.registered_groups:
            assert g.typer_instance is not None and g.name is not None
            found |= walk(g.typer_instance, (*prefix, g.name))
        return found

    return walk(app, ())


def test_every_command_with_json_is_pinned(outputs):
    # broker login needs a Kite login page and a browser redirect: tests/test_kite_*.py cover it;
    # listen --json is a stream of timed events over a WebSocket: tests/test_listen.py reads it;
    # bot --json needs a Bot API server with updates: tests/test_bot.py pins its shape
    wanted = _json_commands() - {("broker", "login"), ("listen",), ("bot",)}
    assert len(wanted) >= 12  # found by the `json_` parameter: a rename must not empty this
    pinned = {tuple(o.argv[: len(c)]) for o in outputs for c in wanted}
    assert wanted - pinned == set()
    assert any(o.argv == ("datasette-metadata",) for o in outputs)  # JSON without --json


def test_exit_codes_and_argv_are_unchanged(outputs):
    assert codes(outputs) == (GOLDEN / "exit_codes.json").read_text(encoding="utf-8")


def test_outputs_are_byte_identical(outputs):
    import difflib

    differ = [o for o in outputs if o.out != golden_path(o.name).read_text(encoding="utf-8")]
    diffs = [
        "".join(
            difflib.unified_diff(
                golden_path(o.name).read_text(encoding="utf-8").splitlines(keepends=True),
                o.out.splitlines(keepends=True),
                f"tests/golden/{o.name}.json",
                " ".join(o.argv),
            )
        )
        for o in differ
    ]
    assert differ == [], "--json output changed (see tests/json_pins.py):\n" + "\n".join(diffs)


def test_goldens_are_json(outputs):
    for o in outputs:
        text = golden_path(o.name).read_text(encoding="utf-8")
        if o.argv[0] == "events":
            [json.loads(line) for line in text.splitlines()]
        else:
            json.loads(text)
