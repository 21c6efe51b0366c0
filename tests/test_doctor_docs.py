"""doctor's fixes point at documentation that exists (issue 22 item 5): every page (and heading
anchor) its fixes can name, in the code that prints them, resolves in this repository; and a
broker problem's fix is about the broker in use."""

import re
from pathlib import Path

import pytest

from ordertrack.errors import ExitCode
from ordertrack.jobs import doctor, schedule
from tests.helpers import unwrapped

REPO = Path(__file__).parent.parent
SOURCES = [Path(doctor.__file__), Path(schedule.__file__)]
PAGE = re.compile(r"(README\.md|docs/[\w.-]+\.md)(?:#([\w-]+))?")
README_SECTION = re.compile(r"README: ([A-Z][\w -]*\w)")  # the old way: "README: <heading>"


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


def references() -> list[tuple[str, str | None]]:
    refs = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        refs += [(m.group(1), m.group(2)) for m in PAGE.finditer(text)]
        refs += [
            ("README.md", re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
            for m in README_SECTION.finditer(text)
        ]
    return refs


def test_the_anchor_rule_matches_the_links_the_docs_already_use():
    assert (
        "ordertrack-schedule-print--ordertrack-schedule-install--ordertrack-schedule-remove"
        in anchors(REPO / "docs" / "commands.md")
    )
    assert "a-first-day-with-ordertrack" in anchors(REPO / "README.md")


def test_there_are_references_to_check():
    assert len(references()) >= 5


@pytest.mark.parametrize(("page", "anchor"), sorted(set(references()), key=str))
def test_every_page_doctor_names_exists(page, anchor):
    path = REPO / page
    assert path.is_file(), page
    if anchor:
        assert anchor in anchors(path), f"{page} has no heading #{anchor}"


@pytest.mark.parametrize(
    ("broker", "named", "not_named"),
    [
        ("file", "docs/file-broker.md", "kotak"),
        ("kite", "docs/kite.md", "kotak"),
        ("kotak", "docs/kotak.md", "file-broker"),
    ],
)
@pytest.mark.parametrize("stage", ["settings", "read"])
def test_a_broker_fix_is_for_the_broker_in_use(broker, named, not_named, stage):
    fix = doctor._broker_fix(broker, stage)
    assert named in fix and not_named not in fix.lower()


def test_a_file_broker_failure_gets_no_kotak_advice(cli, broker, fresh_db):
    broker.orders()
    broker.write("holdings.json", "<html>502</html>")
    broker.write("positions.json", {"stat": "Ok", "stCode": 200, "data": []})
    result = cli("doctor")
    assert result.code == ExitCode.CONFIG
    [line] = [
        line for line in unwrapped(result.out).splitlines() if line.startswith("PROBLEM  broker")
    ]
    assert "docs/file-broker.md" in line and "Kotak" not in line, line
