"""eod writes the day's report beside the database, keeps the newest few, and with
`[report] telegram = true` sends it as a document through the outbox."""

import json
import stat
from pathlib import Path

import pytest
from freezegun import freeze_time

from ordertrack.errors import ExitCode
from tests.fake_telegram import NOT_FOUND_ECHO, assert_no_token, error
from tests.report_day import DAY, build, ist


@pytest.fixture
def settings(tmp_path, monkeypatch):
    config = tmp_path / "ordertrack.toml"

    def write(report: str = "") -> None:
        config.write_text(f"[calendar]\nnse_holidays = false\n{report}")

    write()
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(config))
    return write


def eod(cli, code=0):
    result = cli("eod", "--json")
    assert result.code == code, result.err
    return json.loads(result.out) if result.out else None


def test_eod_writes_an_owner_only_report_beside_the_database(cli, broker, settings, db_path):
    summary = build(cli, broker)
    folder = db_path.parent / "reports"
    target = folder / "ordertrack-report-20261201.html"
    assert summary["report"] == str(target) and summary["report_error"] is None
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text(encoding="utf-8")
    assert "ordertrack report · Tue 01 Dec 2026" in text
    assert 'data-key="placed"><b>4</b>' in text
    assert not list(folder.glob(".*"))  # no partial file left behind


def test_only_the_newest_reports_are_kept(cli, broker, settings, db_path):
    settings("[report]\nkeep = 2\n")
    broker.orders()
    for day in (1, 2, 3, 4):  # Tue to Fri
        with freeze_time(ist(2026, 12, day, 18, 0)):
            eod(cli)
    names = sorted(p.name for p in (db_path.parent / "reports").iterdir())
    assert names == ["ordertrack-report-20261203.html", "ordertrack-report-20261204.html"]


def test_keep_0_writes_no_report(cli, broker, settings, db_path):
    settings("[report]\nkeep = 0\n")
    broker.orders()
    with freeze_time(ist(2026, 12, 1, 18, 0)):
        assert eod(cli)["report"] is None
    assert not (db_path.parent / "reports").exists()


def test_a_weekend_eod_leaves_the_closed_days_page_and_sends_it_no_second_time(
    cli, broker, settings, db_path, telegram
):
    settings("[report]\ntelegram = true\n")
    broker.orders()
    with freeze_time(ist(2026, 12, 4, 18, 0)):  # Friday
        friday = eod(cli)
    page = Path(friday["report"])
    written = page.read_bytes()
    with freeze_time(ist(2026, 12, 5, 18, 0)):  # Saturday: Friday is closed already
        result = eod(cli)
    assert result["trading_day"] == "2026-12-04" and result["session"] is False
    assert result["report"] is None and page.read_bytes() == written
    assert len(telegram.documents) == 1


def test_a_report_that_cannot_be_written_does_not_stop_eod(cli, broker, settings, db_path):
    (db_path.parent / "reports").write_text("a file where the folder should be")
    broker.orders()
    with freeze_time(ist(2026, 12, 1, 18, 0)):
        result = eod(cli)
    assert result["report"] is None and "daily report not written" in result["report_error"]
    assert result["backup"] and result["integrity"] == "ok"


def test_a_bad_report_setting_is_a_config_error(cli, settings):
    settings('[report]\ntelegram = "yes"\n')
    result = cli("eod")
    assert result.code == ExitCode.CONFIG
    assert "report.telegram must be true or false" in result.err


def test_telegram_gets_the_report_as_a_document_once(cli, broker, settings, telegram, db_path):
    settings("[report]\ntelegram = true\n")
    build(cli, broker)
    [document] = telegram.documents
    target = db_path.parent / "reports" / "ordertrack-report-20261201.html"
    assert document["chat_id"] == "1001"
    assert document["filename"] == target.name
    assert document["content"] == target.read_bytes()
    assert document["caption"] == f"📊 Daily report {DAY}"
    assert any("Daily summary" in t for t in telegram.texts())
    with freeze_time(ist(2026, 12, 1, 18, 30)):
        eod(cli)  # a re-run rewrites the file but sends nothing twice
    assert len(telegram.documents) == 1


def test_no_document_unless_asked(cli, broker, settings, telegram):
    build(cli, broker)
    assert telegram.documents == []
    assert [c["method"] for c in telegram.calls].count("senddocument") == 0


def test_a_refused_document_is_kept_and_retried_like_any_notification(
    cli, broker, settings, telegram, sql
):
    settings("[report]\ntelegram = true\n")
    broker.orders()
    telegram.chats["1001"] = error(502, "Bad Gateway")
    with freeze_time(ist(2026, 12, 1, 18, 0)):
        eod(cli, ExitCode.UNDELIVERED)
    assert sql("SELECT status FROM outbox WHERE kind = 'DAILY_REPORT'") == [("PENDING",)]
    assert telegram.documents == []
    del telegram.chats["1001"]
    with freeze_time(ist(2026, 12, 1, 19, 0)):
        assert cli("outbox", "flush").code == 0
    assert len(telegram.documents) == 1
    assert sql("SELECT status FROM outbox WHERE kind = 'DAILY_REPORT'") == [("SENT",)]


def test_a_pruned_report_fails_for_good_with_its_reason(
    cli, broker, settings, telegram, sql, db_path
):
    settings("[report]\ntelegram = true\n")
    broker.orders()
    telegram.chats["1001"] = error(502, "Bad Gateway")
    with freeze_time(ist(2026, 12, 1, 18, 0)):
        eod(cli, ExitCode.UNDELIVERED)
    for path in (db_path.parent / "reports").iterdir():
        path.unlink()
    del telegram.chats["1001"]
    with freeze_time(ist(2026, 12, 1, 20, 0)):
        result = cli("outbox", "flush")
    assert result.code == ExitCode.UNDELIVERED
    [(status, reason)] = sql("SELECT status, last_error FROM outbox WHERE kind = 'DAILY_REPORT'")
    assert status == "FAILED" and "cannot be read" in reason
    assert telegram.documents == []


def test_the_token_stays_out_of_a_refused_documents_error(
    cli, broker, settings, telegram, sql, db_path
):
    settings("[report]\ntelegram = true\n")
    broker.orders()

    def proxy_for_documents(body):  # a proxy page that echoes the path, token and all
        if "document" in body:
            telegram.chats["1001"] = NOT_FOUND_ECHO

    telegram.on_send = proxy_for_documents
    with freeze_time(ist(2026, 12, 1, 18, 0)):
        result = cli("eod")
    assert result.code == ExitCode.UNDELIVERED
    [(error_text,)] = sql("SELECT last_error FROM outbox WHERE kind = 'DAILY_REPORT'")
    assert "/sendDocument" in error_text
    assert_no_token(result.out, result.err, error_text, db_path=db_path)
