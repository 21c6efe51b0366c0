"""The house keeps its paperwork (issue 24, item 3): tests findable from the module they test,
the LICENSE the package declares, pre-commit hooks that run the project's own tools."""

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
ROW = re.compile(r"^\| `(ordertrack/[^`]+\.py)` \| (.+) \|$", re.M)


def _map() -> dict[str, list[str]]:
    text = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    return {m[1]: re.findall(r"`([^`]+)`", m[2]) for m in ROW.finditer(text)}


def _has_code(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return len(body) > (1 if body and isinstance(body[0], ast.Expr) else 0)


def test_every_module_is_in_the_test_map():
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "ordertrack").rglob("*.py")
        if p.name != "__init__.py" or _has_code(p)
    }
    assert modules - set(_map()) == set(), "add a row to tests/README.md for each new module"
    assert set(_map()) - modules == set(), "tests/README.md names a module that is gone"


def test_every_test_file_the_map_names_exists():
    named = {name for tests in _map().values() for name in tests}
    assert named and all(name.startswith("test_") for name in named)
    assert {n for n in named if not (ROOT / "tests" / n).is_file()} == set()


def test_license_is_the_mit_licence_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the ordertrack developers\n")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_pre_commit_runs_ruff_and_mypy_locally_from_the_venv():
    text = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert re.findall(r"^\s*- repo: (\S+)", text, re.M) == ["local"]  # no network to install
    entries = re.findall(r"^\s*entry: (.+)$", text, re.M)
    assert entries == [
        ".venv/bin/ruff check --force-exclude",
        ".venv/bin/ruff format --force-exclude",
        ".venv/bin/mypy",
    ]
    assert set(re.findall(r"^\s*language: (\S+)", text, re.M)) == {"system"}
    extras = " ".join(
        tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
            "optional-dependencies"
        ]["test"]
    )
    assert "ruff" in extras and "mypy" in extras  # the tools the hooks run are installed
