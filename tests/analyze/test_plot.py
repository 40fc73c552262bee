"""``analyze plot``: the SVG timeline and the HTML page, checked as XML and in Chromium.

The structure follows systemd-analyze 252's plot (one row per unit in activation order,
three phases, clipped at the finish); tests/conformance/test_analyze_systemd.py compares the
bars with real systemd's. Here: the document itself, 200 units, and a real browser (Debian's
chromium, headless) that must render a non-blank picture and run the page's script.
"""

from __future__ import annotations

import itertools
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from bootup.analyze.plot import plot_rows, render_plot_html, render_plot_svg
from bootup.analyze.timing import BootNotFinishedError, BootTiming, StartupTiming, UnitTiming
from support import require_tool

NS = "{http://www.w3.org/2000/svg}"


def _data() -> StartupTiming:
    return StartupTiming(
        BootTiming(finish=2.0),
        (
            UnitTiming("b.service", 0.5, 0.7, None, None, after=("a.service",)),
            UnitTiming("a.service", 0.1, 0.4, None, None),
            UnitTiming("oneshot.service", 0.2, None, None, 0.3),
            UnitTiming("stopping.service", 0.1, 0.2, 1.5, 3.0),
            UnitTiming("late.service", 2.5, 2.6, None, None),
            UnitTiming("never.service", None, None, None, None),
            UnitTiming("multi-user.target", 1.9, 1.9, None, None, names=("default.target",)),
        ),
    )


def _many(count: int) -> StartupTiming:
    units = tuple(
        UnitTiming(
            f"unit-{i:03d}-with-a-fairly-long-name.service",
            0.01 * i + 0.001,
            0.01 * i + 0.05,
            None,
            None,
        )
        for i in range(count)
    )
    return StartupTiming(BootTiming(finish=0.01 * count + 0.1), units)


def _units(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if g.get("class") == "unit"]


def test_one_bar_per_started_unit_in_activation_order() -> None:
    root = ET.fromstring(render_plot_svg(_data()))
    names = [g.get("data-unit") for g in _units(root)]
    # late.service began after the finish and never.service never began: no bars.
    assert names == [
        "a.service",
        "stopping.service",
        "oneshot.service",
        "b.service",
        "multi-user.target",
    ]
    for g in _units(root):
        assert [r.get("class") for r in g.iter(f"{NS}rect")] == [
            "activating",
            "active",
            "deactivating",
        ]
        title = g.find(f"{NS}title")
        assert title is not None
        assert title.text is not None
        assert title.text.startswith(f"{g.get('data-unit')}:\nActivating: ")


def test_phases_are_clipped_to_the_finish() -> None:
    rows = {row.unit.name: row for row in plot_rows(_data())}
    stopping = rows["stopping.service"]
    assert (stopping.activated, stopping.deactivating, stopping.deactivated) == (
        200_000,
        1_500_000,
        2_000_000,  # it went inactive at 3 s, after the 2 s finish
    )
    oneshot = rows["oneshot.service"]  # never active: all of it is "activating"
    assert (oneshot.activated, oneshot.deactivating, oneshot.deactivated) == (300_000,) * 3
    still_active = rows["a.service"]
    assert still_active.deactivating == still_active.deactivated == 2_000_000


def test_bar_geometry_is_100_pixels_per_second() -> None:
    root = ET.fromstring(render_plot_svg(_data()))
    b = next(g for g in _units(root) if g.get("data-unit") == "b.service")
    activating = b.find(f"{NS}rect")
    assert activating is not None
    assert (activating.get("x"), activating.get("width")) == ("50.000", "20.000")
    label = b.find(f"{NS}text")
    assert label is not None
    assert label.text == "b.service (200ms)"


def test_time_axis_has_gridlines_and_second_labels() -> None:
    root = ET.fromstring(render_plot_svg(_many(200)))
    lines = [line.get("class") for line in root.iter(f"{NS}line")]
    assert lines.count("sec01") == 19  # every 100 ms up to 2.1 s but the whole seconds
    assert lines.count("sec5") == 1  # 0 s
    assert lines.count("sec1") == 2  # 1 s and 2 s
    labels = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "sec"]
    assert labels == ["0.0s", "1.0s", "2.0s"]


def test_two_hundred_units_each_get_their_own_row_and_label() -> None:
    svg = render_plot_svg(_many(200))
    root = ET.fromstring(svg)
    groups = _units(root)
    assert len(groups) == 200
    ys = []
    for g in groups:
        text = g.find(f"{NS}text")
        assert text is not None
        assert text.text is not None
        assert text.text.startswith(f"{g.get('data-unit')} (")  # "name (49ms)"
        ys.append(float(text.get("y", "0")))
    assert ys == sorted(ys)
    assert min(b - a for a, b in itertools.pairwise(ys)) >= 20.0  # no overlap
    # The long names still fit: the document is at least as wide as the widest label.
    assert float(root.get("width", "0").removesuffix("px")) > 8.0 * len(
        groups[0].get("data-unit", "")
    )


def test_names_are_escaped() -> None:
    data = StartupTiming(
        BootTiming(finish=1.0), (UnitTiming("a&b<c>.service", 0.1, 0.2, None, None),)
    )
    root = ET.fromstring(render_plot_svg(data))
    assert [g.get("data-unit") for g in _units(root)] == ["a&b<c>.service"]
    assert (
        "</script>"
        not in render_plot_html(
            StartupTiming(BootTiming(finish=1.0), (UnitTiming("</script>", 0.1, 0.2, None, None),))
        )
        .split('id="units">', 1)[1]
        .split("</script>", 1)[0]
    )


def test_unfinished_startup_is_refused() -> None:
    with pytest.raises(BootNotFinishedError):
        render_plot_svg(StartupTiming(BootTiming(finish=None), ()))


def test_html_is_self_contained() -> None:
    page = render_plot_html(_data())
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script>" in page
    # Nothing is loaded from elsewhere: no src=/href= attributes, no URLs but the SVG
    # namespace name.
    assert not re.search(r"\b(src|href)\s*=", page)
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]


# --- in a real browser ------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    chromium = require_tool("chromium", package="chromium")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG into (width, height, rows of pixel bytes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8, depth
    assert colour in (2, 6), colour
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        method, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if method == 1:
                row[i] = (row[i] + left) & 0xFF
            elif method == 2:
                row[i] = (row[i] + up) & 0xFF
            elif method == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + pred) & 0xFF
        rows.append(bytes(row))
        previous = row
    # Drop the alpha channel: three bytes a pixel.
    return width, height, [b"".join(r[i : i + 3] for i in range(0, stride, bpp)) for r in rows]


def _red_pixels(rows: list[bytes]) -> int:
    """Pixels in the activating bars' red (255,0,0 at 70 % over white or the grey box)."""
    count = 0
    for row in rows:
        for i in range(0, len(row), 3):
            r, g, b = row[i], row[i + 1], row[i + 2]
            if r > 200 and g < 110 and b < 110:
                count += 1
    return count


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["html", "svg"])
def test_chromium_renders_a_non_blank_plot(tmp_path: Path, fmt: str) -> None:
    page = tmp_path / f"plot.{fmt}"
    data = _many(200)
    page.write_text(render_plot_html(data) if fmt == "html" else render_plot_svg(data))
    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,700", page.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    width, height, rows = _png_pixels(shot)
    assert (width, height) == (1000, 700)
    distinct = {row[i : i + 3] for row in rows for i in range(0, len(row), 3)}
    assert len(distinct) > 10, "the screenshot is blank"
    assert _red_pixels(rows) > 500, "no activating (red) bars were drawn"


@pytest.mark.slow
def test_chromium_dom_has_a_bar_for_every_unit(tmp_path: Path) -> None:
    page = tmp_path / "plot.html"
    data = _many(200)
    page.write_text(render_plot_html(data))
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    bars = re.findall(r'<g class="unit" data-unit="([^"]+)">', dom)
    assert bars == [u.name for u in data.units]
    # The page's script ran in the browser and found every bar.
    assert re.search(r'<body[^>]*data-units="200"', dom)


BOOTUP = (sys.executable, "-m", "bootup", "analyze")


def test_cli_writes_the_plot_atomically(tmp_path: Path) -> None:
    from bootup.analyze.timing import write_timing_file

    source = tmp_path / "timing.json"
    write_timing_file(source, _data())
    for fmt, start in (("html", "<!DOCTYPE html>"), ("svg", "<?xml")):
        out = tmp_path / f"plot.{fmt}"
        done = subprocess.run(
            [*BOOTUP, "plot", f"--format={fmt}", "--from-file", str(source), "-o", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert out.read_text().startswith(start)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.html", "plot.svg", "timing.json"]
