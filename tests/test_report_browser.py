"""The report opened in headless Chromium at phone and desktop widths: it renders, shows its
headings and logs no console errors. `.ci/run` installs Debian's chromium when it is missing."""

import struct
import zlib

import pytest
from freezegun import freeze_time

from ordertrack.jobs.report import HEADINGS
from tests.helpers import CHROMIUM, chromium
from tests.report_day import DAY, build, ist

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed: as root on Debian, .ci/run installs it "
    "(apt-get install -y chromium)",
)


def _unfilter(kind: int, line: bytearray, previous: bytes, channels: int) -> bytes:
    for x in range(len(line)):
        left = line[x - channels] if x >= channels else 0
        up, corner = previous[x], previous[x - channels] if x >= channels else 0
        if kind == 1:
            line[x] = (line[x] + left) & 255
        elif kind == 2:
            line[x] = (line[x] + up) & 255
        elif kind == 3:
            line[x] = (line[x] + (left + up) // 2) & 255
        elif kind == 4:
            guess = left + up - corner
            pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
            line[x] = (
                line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
            ) & 255
    return bytes(line)


def pixels(png: bytes) -> tuple[int, int, list[list[bytes]]]:
    """Width, height and RGB pixel rows of an 8-bit RGB or RGBA PNG (what Chromium writes),
    with plain zlib: no imaging dependency."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    raw, stride = zlib.decompress(data), width * channels
    rows, previous = [], bytes(stride)
    for y in range(height):
        at = y * (stride + 1)
        previous = _unfilter(raw[at], bytearray(raw[at + 1 : at + 1 + stride]), previous, channels)
        rows.append([previous[x : x + 3] for x in range(0, stride, channels)])
    return width, height, rows


@pytest.fixture
def page(cli, broker, no_holidays, tmp_path):
    build(cli, broker)
    out = tmp_path / "report.html"
    with freeze_time(ist(2026, 12, 1, 18, 5)):
        assert cli("report", "--day", DAY, "--out", str(out)).code == 0
    return out


@pytest.mark.parametrize("width", [360, 1280])
def test_the_page_renders_in_chromium(page, tmp_path, width):
    shot = tmp_path / f"report-{width}.png"
    result = chromium(
        page, tmp_path / f"profile-{width}", f"--screenshot={shot}", f"--window-size={width},1000"
    )
    assert shot.exists(), result.stderr[-2000:]
    got_width, height, rows = pixels(shot.read_bytes())
    assert (got_width, height) == (width, 1000)
    sample = [pixel for row in rows[::5] for pixel in row[::3]]
    background = max(set(sample), key=sample.count)
    inked = sum(pixel != background for pixel in sample) / len(sample)
    assert len(set(sample)) > 20, "the page looks blank"
    assert inked > 0.02, f"almost nothing drawn ({inked:.1%} of pixels)"
    means = [sum(channel) / len(sample) for channel in zip(*sample, strict=False)]
    variance = sum((value - means[0]) ** 2 for value, *_ in sample) / len(sample)
    assert variance > 100, f"red channel variance {variance:.0f}: a flat page"
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert console == []


def test_chromium_sees_every_heading_and_no_console_error(page, tmp_path):
    result = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    for heading in HEADINGS:
        assert f">{heading}</h2>" in result.stdout
    assert "ordertrack report · Tue 01 Dec 2026" in result.stdout
    assert not [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "ERR_" in line
    ]
