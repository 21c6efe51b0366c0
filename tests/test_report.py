"""`ordertrack report`: one self-contained page whose numbers are the daily summary's."""

import os
import re
import stat

import pytest
from freezegun import freeze_time

from ordertrack.jobs.report import HEADINGS
from tests.report_day import DAY, HOSTILE, Page, ist


def report(cli, tmp_path, *args):
    out = tmp_path / "report.html"
    with freeze_time(ist(2026, 12, 1, 18, 5)):
        result = cli("report", *args, "--out", str(out))
    assert result.code == 0, result.err
    assert result.out.strip() == f"report written to {out}"
    return out.read_text(encoding="utf-8")


def test_the_page_parses_with_every_section(cli, tmp_path, day):
    page = Page(report(cli, tmp_path, "--day", DAY))
    assert page.headings == list(HEADINGS)
    assert page.tags[0][0] == "html"


def test_the_page_fetches_nothing(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", DAY)
    page = Page(text)
    links = [
        (tag, name, value)
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if name in ("src", "href", "xlink:href", "srcset", "action", "data")
    ]
    assert links == []
    assert not {tag for tag, _ in page.tags} & {"script", "img", "link", "iframe", "object"}
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert styles and not any("@import" in s or "url(" in s for s in styles)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)


def test_a_hostile_reason_is_shown_as_text(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", DAY)
    assert "<script" not in text and 'evil.example/x.png"' not in text
    page = Page(text)
    assert HOSTILE in page.text  # the rejections table shows it exactly as the broker sent it


def test_the_numbers_are_the_daily_summarys(cli, tmp_path, day):
    summary = day["summary"]
    tiles = Page(report(cli, tmp_path, "--day", DAY)).tiles
    assert {
        key: int(tiles[key])
        for key in ("placed", "executed", "partially_filled", "rejected", "cancelled", "expired")
    } == {
        "placed": summary["placed"],
        "executed": len(summary["executed"]),
        "partially_filled": summary["partially_filled"],
        "rejected": len(summary["rejected"]),
        "cancelled": len(summary["cancelled"]),
        "expired": len(summary["expired"]),
    }
    value = sum(r["filled_qty"] * r["avg_price"] for r in summary["executed"])
    assert float(tiles["value_traded"]) == value == 15000.0
    assert (summary["placed"], len(summary["rejected"]), summary["partially_filled"]) == (4, 2, 1)


def test_rejections_are_grouped_by_reason_with_counts(cli, tmp_path, day):
    text = report(cli, tmp_path, "--week")
    section = text.split('id="rejections-by-reason"')[1].split("</section>")[0]
    rows = re.findall(r'<td class="r">(.*?)</td><td class="n">(\d+)</td>', section)
    assert len(rows) == 1 and rows[0][1] == "2"


def test_run_health_shows_ok_broker_failure_and_missed_slots(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", DAY)
    counts = dict(re.findall(r'data-state="(\w+)">.*?: (\d+)</span>', text))
    # the schedule's 14 verify slots (15:30 too): 09:30 ok, 10:00 broker down, 12 missed;
    # reconcile missed; eod ok
    assert counts == {
        "ok": "2",
        "broker": "1",
        "failed": "0",
        "missed": "13",
        "running": "0",
        "upcoming": "0",
        "before": "0",
    }
    assert "10:15: broker failure" not in text and "09:45: broker failure" in text


def test_tracked_quantity_history_and_notifications(cli, tmp_path, day):
    text = report(cli, tmp_path, "--day", DAY)
    tracked = text.split('id="tracked-quantities"')[1].split("</section>")[0]
    assert "<b>INFY</b>" in tracked and "0 → 10" in tracked
    assert "<b>WIPRO</b>" in tracked and "0 → 5" in tracked
    notes = text.split('id="notifications"')[1]
    assert "not taken up by any channel" in notes  # no Telegram configured: all waiting


def test_default_file_is_in_the_current_folder_and_owner_only(cli, tmp_path, day, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with freeze_time(ist(2026, 12, 1, 18, 5)):
        result = cli("report")
    target = tmp_path / f"ordertrack-report-{DAY}.html"
    assert result.code == 0, result.err
    assert result.out.strip() == f"report written to {target.name}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_out_dash_prints_the_page(cli, day):
    with freeze_time(ist(2026, 12, 1, 18, 5)):
        result = cli("report", "--from", "2026-11-30", "--to", DAY, "--out", "-")
    assert result.code == 0, result.err
    assert result.out.startswith("<!DOCTYPE html>")
    assert "30 Nov 2026 – 01 Dec 2026" in result.out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--day", "2026-13-01"], "--day '2026-13-01' is not a date"),
        (["--day", "yesterday"], "is not a date"),
        (["--from", "2026-12-02", "--to", "2026-12-01"], "--from 2026-12-02 is after --to"),
        (["--to", "2026-12-01"], "--to needs --from"),
        (["--day", "2026-12-01", "--week"], "choose one of"),
        (["--from", "2024-01-01", "--to", "2026-12-01"], "more than 400 days"),
    ],
)
def test_bad_periods_are_usage_errors(cli, day, args, words):
    result = cli("report", *args)
    assert result.code == 2
    assert words in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_no_database_is_a_database_error_and_creates_none(cli, db_path):
    result = cli("report")
    assert result.code == 7
    assert "no database" in result.err
    assert not db_path.exists()


def test_an_unwritable_target_is_one_line(cli, tmp_path, day):
    result = cli("report", "--out", str(tmp_path / "missing" / "r.html"))
    assert result.code == 2
    assert "cannot write" in result.err and result.err.count("\n") == 1


def test_an_empty_database_still_makes_a_page(cli, tmp_path, fresh_db):
    page = Page(report(cli, tmp_path))
    assert page.headings == list(HEADINGS)
    assert "No orders in this period." in page.text


def test_no_secret_reaches_the_page(cli, tmp_path, day, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:SECRET-token-value")
    monkeypatch.setenv("KOTAK_MPIN", "918273")
    text = report(cli, tmp_path, "--week")
    assert "SECRET-token-value" not in text and "918273" not in text
    assert os.environ["KOTAK_MPIN"] == "918273"
