"""``analyze time|blame|critical-chain|plot`` against real systemd 252's systemd-analyze.

Real systemd boots as PID 1 of a namespace (reference systemd.md O10/O11, §2.2) on a small
unit directory: oneshot and simple services chained by After=, one oneshot that goes
inactive again, one start over a second (so blame right-aligns ``1.1s`` against ``303ms``),
and ``default.target`` as an alias of ``multi-user.target``. Inside the namespace the test
runs ``systemd-analyze`` and ``systemctl show`` for every unit's timestamps; bootup's
renderers are fed those timestamps and must print exactly what systemd-analyze printed.

normalize(): the only allowed difference. systemd-analyze colours nothing here (its stdout
is a pipe, not a terminal), so there is nothing to strip; ``normalize`` removes ANSI colour
sequences anyway so a tool run on a terminal compares equal. The colours themselves are
compared once, unnormalised, with ``SYSTEMD_COLORS=1``. The plot is compared by
content, not text: the set of units with a bar, and each bar's start and phases (to the
3 decimals both print), since the SVG markup is bootup's own.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootup.analyze.blame import render_blame
from bootup.analyze.critical_chain import render_critical_chain
from bootup.analyze.plot import render_plot_svg
from bootup.analyze.timing import (
    SHOW_MANAGER_PROPERTIES,
    SHOW_UNIT_PROPERTIES,
    StartupTiming,
    render_time,
    timing_from_systemctl_show,
)
from support import require_tool
from systemd_pid1 import SystemdPid1

pytestmark = [pytest.mark.slow]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

UNITS = {
    "a.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 0.3\n",
    "b.service": (
        "[Unit]\nAfter=a.service\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 0.2\n"
    ),
    "c.service": "[Unit]\nAfter=b.service\n[Service]\nType=simple\nExecStart=/bin/sleep 1000\n",
    "d.service": "[Service]\nType=oneshot\nExecStart=/bin/sleep 0.1\n",
    "slow.service": ("[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 1.1\n"),
    "e.service": (
        "[Unit]\nAfter=slow.service d.service\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 0.05\n"
    ),
}
SERVICES = tuple(UNITS)


def normalize(text: str) -> str:
    """The one documented normalisation: drop ANSI colour sequences."""
    return _ANSI.sub("", text)


def _scenario(directory: Path) -> Path:
    units = directory / "scenario"
    units.mkdir()
    for stub in ("sysinit", "basic", "shutdown", "sockets", "timers", "paths", "slices"):
        (units / f"{stub}.target").write_text(f"[Unit]\nDescription={stub}\n")
    (units / "local-fs.target").write_text("[Unit]\nDescription=local-fs\n")
    wants = " ".join(SERVICES)
    (units / "multi-user.target").write_text(
        f"[Unit]\nRequires=basic.target\nAfter=basic.target\nWants={wants}\nAfter={wants}\n"
    )
    (units / "default.target").symlink_to("multi-user.target")
    for name, text in UNITS.items():
        (units / name).write_text(text)
    return units


class Oracle:
    """The booted manager, systemd-analyze's outputs, and the timings read from it."""

    def __init__(self, manager: SystemdPid1, workdir: Path) -> None:
        self.manager = manager
        listed = manager.systemctl("list-units", "--all", "--plain", "--no-legend")
        assert listed.returncode == 0, listed.stderr
        self.unit_names = [
            line.replace("●", "").split()[0] for line in listed.stdout.splitlines() if line.strip()
        ]
        shown_manager = manager.systemctl("show", "-p", ",".join(SHOW_MANAGER_PROPERTIES))
        shown_units = manager.systemctl(
            "show", "-p", ",".join(SHOW_UNIT_PROPERTIES), "--", *self.unit_names
        )
        assert shown_manager.returncode == 0, shown_manager.stderr
        assert shown_units.returncode == 0, shown_units.stderr
        self.show_text = shown_manager.stdout + "\n" + shown_units.stdout
        (workdir / "show.txt").write_text(self.show_text)
        self.timing: StartupTiming = timing_from_systemctl_show(self.show_text)

    def analyze(self, *args: str) -> str:
        done = self.manager.run("systemd-analyze", "--no-pager", *args)
        assert done.returncode == 0, done.stderr
        return normalize(done.stdout)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    require_tool("systemd-analyze", package="systemd")
    workdir = tmp_path_factory.mktemp("analyze-systemd")
    with SystemdPid1(_scenario(workdir), "multi-user.target", workdir=workdir) as manager:
        # Every service has settled once the startup finished (c.service keeps running).
        yield Oracle(manager, workdir)


def test_time_equals_systemd_analyze(oracle: Oracle) -> None:
    expected = oracle.analyze("time")
    assert expected.startswith("Startup finished in ")
    assert "multi-user.target reached after" in expected  # the alias was resolved
    assert render_time(oracle.timing) == expected


def test_blame_equals_systemd_analyze(oracle: Oracle) -> None:
    expected = oracle.analyze("blame")
    # The scenario's services all took time; slow.service (1.1 s) is first.
    assert expected.splitlines()[0].endswith(" slow.service")
    assert render_blame(oracle.timing) == expected


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("multi-user.target",),
        ("default.target",),
        ("c.service", "e.service", "d.service"),
        ("a.service",),
        ("nope.service",),
    ],
    ids=["default", "target", "alias", "several", "first", "unknown"],
)
def test_critical_chain_equals_systemd_analyze(oracle: Oracle, args: tuple[str, ...]) -> None:
    expected = oracle.analyze("critical-chain", *args)
    assert render_critical_chain(oracle.timing, args) == expected


def test_critical_chain_colours_equal_systemd_analyze_on_a_terminal(oracle: Oracle) -> None:
    # SYSTEMD_COLORS=1 makes systemd-analyze colour as it does on a terminal.
    done = oracle.manager.run(
        "env", "SYSTEMD_COLORS=1", "systemd-analyze", "--no-pager", "critical-chain", "c.service"
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b[0;1;31m" in done.stdout
    assert render_critical_chain(oracle.timing, ["c.service"], colour=True) == done.stdout


def test_critical_chain_fuzz_equals_systemd_analyze(oracle: Oracle) -> None:
    expected = oracle.analyze("critical-chain", "--fuzz=2s", "multi-user.target")
    assert expected.count("\n") > 8  # the fuzz really widened the tree
    assert render_critical_chain(oracle.timing, ["multi-user.target"], fuzz=2.0) == expected


def _systemd_bars(svg: str) -> dict[str, list[tuple[str, float, float]]]:
    """systemd's plot: unit -> its (class, x, width) rects, from its first chart group.

    systemd writes each unit as its rects followed by a text naming it ("name (took)").
    """
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    chart = next(g for g in root.iter(f"{ns}g") if "translate" in g.get("transform", ""))
    bars: dict[str, list[tuple[str, float, float]]] = {}
    pending: list[tuple[str, float, float]] = []
    for element in chart:
        if element.tag == f"{ns}rect" and element.get("class") in (
            "activating",
            "active",
            "deactivating",
        ):
            pending.append(
                (
                    element.get("class", ""),
                    float(element.get("x", "0")),
                    float(element.get("width", "0")),
                )
            )
        elif element.tag == f"{ns}text" and element.get("class") in ("left", "right"):
            name = re.sub(r" \([^()]*\)$", "", element.text or "")
            if pending:
                bars[name] = pending
            pending = []
    return bars


def _bootup_bars(svg: str) -> dict[str, list[tuple[str, float, float]]]:
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    return {
        g.get("data-unit", ""): [
            (r.get("class", ""), float(r.get("x", "0")), float(r.get("width", "0")))
            for r in g.iter(f"{ns}rect")
        ]
        for g in root.iter(f"{ns}g")
        if g.get("class") == "unit"
    }


def test_plot_has_the_same_bars_as_systemd_analyze(oracle: Oracle) -> None:
    theirs = _systemd_bars(oracle.analyze("plot"))
    # The manager's own row (bootup draws it as a separate "manager" group).
    assert theirs.pop("systemd")
    ours = _bootup_bars(render_plot_svg(oracle.timing))
    assert set(SERVICES) <= set(theirs)
    assert set(ours) == set(theirs)
    for name, rects in theirs.items():
        mine = ours[name]
        assert [c for c, _, _ in mine] == [c for c, _, _ in rects], name
        for (css, x, width), (_, their_x, their_width) in zip(mine, rects, strict=True):
            # Both print 3 decimals of 0.1 px/ms; allow one rounding step either way.
            assert abs(x - their_x) <= 0.0015, (name, css, x, their_x)
            assert abs(width - their_width) <= 0.0025, (name, css, width, their_width)


def test_failed_units_and_an_unnamed_default_target(tmp_path: Path) -> None:
    """No default.target alias ("was never reached"), a failing oneshot, a skipped unit."""
    require_tool("systemd-analyze", package="systemd")
    units = tmp_path / "scenario"
    units.mkdir()
    for stub in ("sysinit", "basic", "shutdown", "sockets", "timers", "paths", "slices"):
        (units / f"{stub}.target").write_text(f"[Unit]\nDescription={stub}\n")
    services = {
        "fails.service": "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'sleep 0.1; exit 3'\n",
        "skipped.service": (
            "[Unit]\nConditionPathExists=/nonexistent\n[Service]\nExecStart=/bin/sleep 1\n"
        ),
        "after-fail.service": (
            "[Unit]\nAfter=fails.service\n"
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 0.05\n"
        ),
    }
    for name, text in services.items():
        (units / name).write_text(text)
    wants = " ".join(services)
    (units / "multi-user.target").write_text(
        f"[Unit]\nRequires=basic.target\nAfter=basic.target\nWants={wants}\nAfter={wants}\n"
    )
    with SystemdPid1(units, "multi-user.target", workdir=tmp_path) as manager:
        oracle = Oracle(manager, tmp_path)
        assert oracle.analyze("time").endswith("\ndefault.target was never reached.\n")
        assert render_time(oracle.timing) == oracle.analyze("time")
        blame = oracle.analyze("blame")
        assert " fails.service\n" in blame  # a failed start still took time
        assert render_blame(oracle.timing) == blame
        for args in ((), ("multi-user.target",), ("after-fail.service",), ("fails.service",)):
            expected = oracle.analyze("critical-chain", *args)
            assert render_critical_chain(oracle.timing, args) == expected, args
        theirs = _systemd_bars(oracle.analyze("plot"))
        theirs.pop("systemd")
        assert set(_bootup_bars(render_plot_svg(oracle.timing))) == set(theirs)
