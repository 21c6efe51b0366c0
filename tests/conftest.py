import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from ordertrack.cli.app import run
from tests import fake_angel, fake_fyers, fake_kite, fake_kotak, fake_ping, fake_telegram
from tests.fake_angel import FakeAngel
from tests.fake_fyers import FakeFyers
from tests.fake_kite import FakeKite
from tests.fake_kotak import FakeKotak
from tests.fake_ping import FakePing
from tests.fake_stream import FakeKiteTicker, FakeKotakFeed
from tests.fake_telegram import FakeTelegram
from tests.helpers import BrokerFiles, cron_binary, running_cron, start_cron, stop_cron
from tests.report_day import build
from tests.webhook_receiver import SECRET, Receiver


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


# ---- shared fixtures: more than one test module takes them (issue 24: no fixture is imported
# across modules). The loopback fakes themselves live in tests/fake_*.py.


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """The fake Bot API, with TELEGRAM_* pointing at it (tests/fake_telegram.py)."""
    yield from fake_telegram.running(monkeypatch)


@pytest.fixture
def kotak(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKotak]:
    """A running fake Kotak Neo, with ordertrack configured to log in to it."""
    yield from fake_kotak.running(monkeypatch)


@pytest.fixture
def kite(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKite]:
    """A running fake Kite, with ordertrack configured to use it (no token stored yet).

    A real token made in the minutes before 06:00 IST ends at 06:00 and is not used within two
    minutes of its end, so a test logging in then found it spent at once (CI at 05:58 IST: 16
    failures). Here a token made in the last ten minutes before 06:00 ends the next morning;
    the rule itself is tested on its own (test_kite_format)."""
    from ordertrack.broker import daily_token

    ends = daily_token.next_morning
    monkeypatch.setattr(daily_token, "next_morning", lambda now: ends(now + timedelta(minutes=10)))
    yield from fake_kite.running(monkeypatch)


@pytest.fixture
def kite_login(cli, kite: FakeKite) -> FakeKite:
    """The fake Kite with today's access token stored by `ordertrack broker login`."""
    result = cli(
        "broker",
        "login",
        f"https://example.com/?request_token={kite.request_token()}&action=login&status=success",
    )
    assert result.code == 0, result.err
    return kite


@pytest.fixture
def angel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAngel]:
    """A running fake SmartAPI, with ordertrack configured to use it (no session stored)."""
    yield from fake_angel.running(monkeypatch)


@pytest.fixture
def fyers(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFyers]:
    """A running fake Fyers, with ordertrack configured to use it (no token stored yet)."""
    yield from fake_fyers.running(monkeypatch)


@pytest.fixture
def fyers_login(cli, fyers: FakeFyers) -> FakeFyers:
    """The fake Fyers with today's access token stored by `ordertrack broker login`."""
    result = cli(
        "broker",
        "login",
        f"{fake_fyers.SECRETS['FYERS_REDIRECT_URL']}?s=ok&code=200"
        f"&auth_code={fyers.auth_code()}&state=ordertrack",
    )
    assert result.code == 0, result.err
    return fyers


@pytest.fixture
def kite_ticker(kite: FakeKite, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKiteTicker]:
    """Kite's WebSocket beside the fake Kite REST (`kite`): it accepts the tokens that fake
    issued, so `broker login` opens both (tests/fake_stream.py)."""
    fake = FakeKiteTicker(
        lambda key, token: key == fake_kite.SECRETS["KITE_API_KEY"] and token in kite._access
    ).begin()
    monkeypatch.setenv("ORDERTRACK_KITE_WS_URL", fake.url)
    yield fake
    fake.stop()


@pytest.fixture
def kotak_feed(kotak: FakeKotak, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKotakFeed]:
    """Kotak Neo's order feed beside the fake Kotak REST (`kotak`): it accepts a first frame
    that carries a session that fake issued."""
    fake = FakeKotakFeed(lambda text: any(token in text for token in kotak._sessions)).begin()
    monkeypatch.setenv("ORDERTRACK_KOTAK_WS_URL", fake.url)
    yield fake
    fake.stop()


@pytest.fixture
def installable(tmp_path, monkeypatch):
    """A fake crontab program and a HOME with an env file: `schedule install` runs as is."""
    store = tmp_path / "crontab.txt"
    fake = tmp_path / "bin" / "crontab"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {store} 2>/dev/null || '
        f'{{ echo "no crontab for you" >&2; exit 1; }}; else cat > {store}; fi\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("ORDERTRACK_CRONTAB", str(fake))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TZ", "UTC")
    env_file = tmp_path / "home" / ".config" / "ordertrack" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(f"ORDERTRACK_DB={tmp_path / 'ordertrack.db'}\n")  # the shell's too
    env_file.chmod(0o600)
    return store


@pytest.fixture
def ping_server() -> Iterator[FakePing]:
    """A fake dead-man's-switch monitor (tests/fake_ping.py)."""
    yield from fake_ping.running()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(SECRET).start()
    yield found
    found.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For several accounts (test_accounts.py, test_account_bot.py): a HOME whose accounts live
    in the platform folders; no ORDERTRACK_DB in the shell."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.delenv("ORDERTRACK_DB")
    monkeypatch.setenv("TZ", "UTC")
    return tmp_path / "home"


@pytest.fixture
def fake_crontab(tmp_path, monkeypatch):
    store = tmp_path / "crontab.txt"
    fake = tmp_path / "bin" / "crontab"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {store} 2>/dev/null || '
        f'{{ echo "no crontab for you" >&2; exit 1; }}; else cat > {store}; fi\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("ORDERTRACK_CRONTAB", str(fake))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return store


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / "home" / ".config" / "ordertrack" / "env"
    path.parent.mkdir(parents=True)
    path.write_text(f"ORDERTRACK_DB={tmp_path / 'data' / 'ot.db'}\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def no_holidays(tmp_path, monkeypatch):
    config = tmp_path / "ordertrack.toml"
    config.write_text("[calendar]\nnse_holidays = false\n")
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    return config


@pytest.fixture
def day(cli, broker, no_holidays):
    return build(cli, broker)


@pytest.fixture
def root_crontab():
    """A throw-away HOME; root's crontab saved as bytes and put back byte for byte after."""
    cron_binary()
    saved = subprocess.run(["crontab", "-l"], capture_output=True)
    home = Path(tempfile.mkdtemp(prefix="ot-cron-"))
    try:
        yield home
    finally:
        if saved.returncode == 0:
            subprocess.run(["crontab", "-"], input=saved.stdout, check=True)
        else:
            subprocess.run(["crontab", "-r"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def cron_home(root_crontab):
    started = None if running_cron() else start_cron()
    try:
        yield root_crontab
    finally:
        if started is not None:
            stop_cron(started)
