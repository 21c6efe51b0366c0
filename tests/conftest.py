import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ordertrack.cli.app import run
from tests.helpers import BrokerFiles


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's real settings, secrets or database."""
    for name in list(os.environ):
        if name.startswith(("ORDERTRACK_", "KOTAK_", "KITE_", "ANGEL_", "FYERS_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ORDERTRACK_DB", str(tmp_path / "ordertrack.db"))
    monkeypatch.setenv("COLUMNS", "200")
    # `schedule` must never reach the developer's crontab or systemd units
    monkeypatch.setenv("ORDERTRACK_CRONTAB", str(tmp_path / "no-crontab-in-tests"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ordertrack.db"


@pytest.fixture
def fresh_db(db_path: Path) -> Path:
    """An empty, migrated database (read-only commands never create one)."""
    from ordertrack.store.db import open_db

    open_db(db_path).close()
    return db_path


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BrokerFiles:
    files = BrokerFiles(tmp_path / "broker")
    monkeypatch.setenv("ORDERTRACK_BROKER", "file")
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(files.folder))
    return files


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the real CLI entry point in-process and capture what it prints."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def sql(db_path: Path) -> Callable[..., list[tuple]]:
    def query(statement: str, *params: object) -> list[tuple]:
        with sqlite3.connect(db_path) as conn:
            return conn.execute(statement, params).fetchall()

    return query
