"""docs/commands.md's usage blocks are what the Typer app says (scripts/gen_commands_doc.py)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "scripts" / "gen_commands_doc.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_commands_doc", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_usage_blocks_equal_the_typer_app():
    gen = _generator()
    text = gen.DOC.read_text(encoding="utf-8")
    assert gen.render(text, gen.blocks()) == text, (
        "docs/commands.md is stale: run python scripts/gen_commands_doc.py"
    )


def test_every_command_has_a_block_with_its_options():
    gen = _generator()
    text = gen.DOC.read_text(encoding="utf-8")
    for name, block in gen.blocks().items():
        assert f"<!-- usage: {name} -->\n```\n{block}```\n<!-- /usage -->" in text
    assert "  --follow-up-to SECONDS  Then keep printing new events" in text


def test_a_command_without_a_marker_is_an_error():
    gen = _generator()
    text = gen.DOC.read_text(encoding="utf-8").replace("<!-- usage: eod -->", "<!-- eod -->")
    with pytest.raises(SystemExit, match=r"commands without a marker \['eod'\]"):
        gen.render(text, gen.blocks())
    with pytest.raises(SystemExit, match=r"unknown commands \['pending frobnicate'\]"):
        gen.render(
            text.replace("<!-- eod -->", "<!-- usage: eod -->")
            + "<!-- usage: pending frobnicate -->\n<!-- /usage -->\n",
            gen.blocks(),
        )


def test_check_mode_ignores_the_terminal_and_settings(tmp_path):
    env = {
        **os.environ,
        "COLUMNS": "40",
        "TERM": "xterm-256color",
        "FORCE_COLOR": "1",
        "ORDERTRACK_DB": str(tmp_path / "x.db"),
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_mode_fails_on_a_stale_block(tmp_path, monkeypatch):
    gen = _generator()
    stale = tmp_path / "commands.md"
    stale.write_text(
        gen.DOC.read_text(encoding="utf-8").replace("  --oldest  ", "  --newest  ", 1),
        encoding="utf-8",
    )
    monkeypatch.setattr(gen, "DOC", stale)
    monkeypatch.setattr(sys, "argv", ["gen_commands_doc.py", "--check"])
    assert gen.main() == 1
