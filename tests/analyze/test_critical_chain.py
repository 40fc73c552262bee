"""``analyze critical-chain``: the walk along the last-activated After= unit.

The expected trees are systemd-analyze 252's own output for the recorded boot below; the
cases systemd's boot did not exercise (a loop, colour, an unfinished startup) are worked out
from src/analyze/analyze-critical-chain.c's rules by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootup.analyze.critical_chain import HEADER, render_critical_chain
from bootup.analyze.timing import (
    BootNotFinishedError,
    BootTiming,
    StartupTiming,
    UnitTiming,
    timing_from_systemctl_show,
    write_timing_file,
)

# Recorded with systemd 252.39-1~deb12u2 as PID 1 of a namespace (container mode), by the
# scenario of tests/conformance/test_analyze_systemd.py: `systemctl show` of the manager and
# of every unit (tests/data/analyze/systemctl-show-boot.txt, shared with the other
# analyze tests), and what systemd-analyze printed for that boot.
SHOW = (Path(__file__).parent.parent / "data" / "analyze" / "systemctl-show-boot.txt").read_text()

CHAIN_DEFAULT = """\
The time when unit became active or started is printed after the "@" character.
The time the unit took to start is printed after the "+" character.

multi-user.target @1.230s
└─e.service @1.178s +52ms
  └─slow.service @63ms +1.100s
    └─sysinit.target @58ms
"""

CHAIN_SEVERAL = """\
The time when unit became active or started is printed after the "@" character.
The time the unit took to start is printed after the "+" character.

c.service @598ms
└─b.service @382ms +202ms
  └─a.service @59ms +307ms
    └─sysinit.target @58ms
e.service +52ms
└─slow.service @63ms +1.100s
  └─sysinit.target @58ms
d.service +104ms
└─sysinit.target @58ms
"""

CHAIN_FUZZ = """\
The time when unit became active or started is printed after the "@" character.
The time the unit took to start is printed after the "+" character.

multi-user.target @1.230s
├─e.service @1.178s +52ms
│ ├─slow.service @63ms +1.100s
│ │ ├─sysinit.target @58ms
│ │ ├─basic.target @58ms
│ │ └─system.slice @52ms
│ │   └─-.slice @52ms
│ ├─sysinit.target @58ms
│ │ └─...
│ ├─basic.target @58ms
│ │ └─...
│ └─system.slice @52ms
│   └─...
├─slow.service @63ms +1.100s
│ └─...
├─c.service @598ms
│ ├─b.service @382ms +202ms
│ │ ├─a.service @59ms +307ms
│ │ │ ├─sysinit.target @58ms
│ │ │ │ └─...
│ │ │ ├─basic.target @58ms
│ │ │ │ └─...
│ │ │ └─system.slice @52ms
│ │ │   └─...
│ │ ├─sysinit.target @58ms
│ │ │ └─...
│ │ ├─basic.target @58ms
│ │ │ └─...
│ │ └─system.slice @52ms
│ │   └─...
│ ├─sysinit.target @58ms
│ │ └─...
│ ├─basic.target @58ms
│ │ └─...
│ └─system.slice @52ms
│   └─...
├─b.service @382ms +202ms
│ └─...
├─a.service @59ms +307ms
│ └─...
└─basic.target @58ms
  └─...
"""


@pytest.fixture
def data() -> StartupTiming:
    return timing_from_systemctl_show(SHOW)


def test_default_target_equals_recorded_systemd_output(data: StartupTiming) -> None:
    assert render_critical_chain(data) == CHAIN_DEFAULT
    assert render_critical_chain(data, ["multi-user.target"]) == CHAIN_DEFAULT


def test_several_units_equal_recorded_systemd_output(data: StartupTiming) -> None:
    assert render_critical_chain(data, ["c.service", "e.service", "d.service"]) == CHAIN_SEVERAL


def test_fuzz_equals_recorded_systemd_output(data: StartupTiming) -> None:
    assert render_critical_chain(data, ["multi-user.target"], fuzz=2.0) == CHAIN_FUZZ


def test_colour_highlights_units_whose_start_took_time(data: StartupTiming) -> None:
    text = render_critical_chain(data, ["e.service"], colour=True)
    assert text.splitlines()[3] == "\x1b[0;1;31me.service +52ms\x1b[0m"
    assert text.splitlines()[4] == "└─\x1b[0;1;31mslow.service @63ms +1.100s\x1b[0m"
    assert text.splitlines()[5] == "  └─sysinit.target @58ms"  # took no time: plain


def test_a_unit_met_again_prints_dots_instead_of_looping() -> None:
    # x After y, y After x (a cycle systemd would have broken; the walk must still end).
    units = (
        UnitTiming("x.service", 0.1, 0.2, None, None, after=("y.service",)),
        UnitTiming("y.service", 0.05, 0.1, None, None, after=("x.service",)),
    )
    text = render_critical_chain(StartupTiming(BootTiming(finish=1.0), units), ["x.service"])
    assert text == HEADER + (
        "x.service +100ms\n└─y.service @50ms +50ms\n  └─x.service @100ms +100ms\n    └─...\n"
    )


def test_units_activated_after_the_finish_are_not_followed() -> None:
    units = (
        UnitTiming("a.service", 0.1, 0.2, None, None, after=("late.service", "b.service")),
        UnitTiming("late.service", 0.3, 2.0, None, None),
        UnitTiming("b.service", 0.05, 0.1, None, None),
    )
    text = render_critical_chain(StartupTiming(BootTiming(finish=1.0), units), ["a.service"])
    assert text == HEADER + "a.service +100ms\n└─b.service @50ms +50ms\n"


def test_unknown_unit_prints_nothing_but_the_header(data: StartupTiming) -> None:
    assert render_critical_chain(data, ["nope.service"]) == HEADER


def test_unfinished_startup_is_refused() -> None:
    with pytest.raises(BootNotFinishedError, match="Please try again later"):
        render_critical_chain(StartupTiming(BootTiming(finish=None), ()))


BOOTUP = (sys.executable, "-m", "bootup", "analyze")


def test_cli_critical_chain_from_file(tmp_path: Path) -> None:
    path = tmp_path / "show.txt"
    path.write_text(SHOW)
    done = subprocess.run(
        [*BOOTUP, "critical-chain", "--fuzz=2s", "multi-user.target", "--from-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == CHAIN_FUZZ  # a pipe: no colour


def test_a_chain_deeper_than_pythons_recursion_limit() -> None:
    # Found by benchmarks/analyze_plot.py: a recursive walk died at ~1000 levels.
    depth = sys.getrecursionlimit() + 100
    units = tuple(
        UnitTiming(
            f"u{i}.service",
            0.001 * i + 0.001,
            0.001 * i + 0.0015,
            None,
            None,
            after=(f"u{i - 1}.service",) if i else (),
        )
        for i in range(depth)
    )
    data = StartupTiming(BootTiming(finish=0.001 * depth + 1), units)
    lines = render_critical_chain(data, [units[-1].name]).splitlines()
    assert len(lines) == 3 + depth
    assert lines[-1] == "  " * (depth - 2) + "└─u0.service @1ms +500us"


@pytest.mark.parametrize(("env", "coloured"), [({"SYSTEMD_COLORS": "1"}, True), ({}, False)])
def test_cli_colours_when_systemd_colors_says_so(
    tmp_path: Path, env: dict[str, str], coloured: bool
) -> None:
    path = tmp_path / "show.txt"
    path.write_text(SHOW)
    done = subprocess.run(
        [*BOOTUP, "critical-chain", "e.service", "--from-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stderr
    assert ("\x1b[0;1;31me.service +52ms\x1b[0m" in done.stdout) is coloured


# --- the data's default unit (found by the golden-file tests) ----------------------------

GOLDEN = Path(__file__).parent.parent / "data" / "cli-golden"


def test_cli_without_a_unit_follows_the_files_default_unit() -> None:
    # timing-no-alias.json names multi-user.target its default unit and has no unit called
    # default.target: the chain is multi-user.target's, not an empty one.
    done = subprocess.run(
        [*BOOTUP, "critical-chain", "--from-file", str(GOLDEN / "timing-no-alias.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[3] == "multi-user.target @2.500s"
    assert lines[-1].endswith("sysinit.target @150ms")
    assert len(lines) > 4


def test_cli_default_unit_missing_from_the_data_prints_the_header_only(tmp_path: Path) -> None:
    """As systemd-analyze 252 does when default.target is not loaded (the conformance test
    test_failed_units_and_an_unnamed_default_target checks it against the real tool)."""
    units = (UnitTiming("a.service", 0.1, 0.2, None, None),)
    data = StartupTiming(BootTiming(finish=1.0), units, default_unit="graphical.target")
    path = tmp_path / "timing.json"
    write_timing_file(path, data)
    done = subprocess.run(
        [*BOOTUP, "critical-chain", "--from-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, HEADER)
    named = subprocess.run(
        [*BOOTUP, "critical-chain", "a.service", "--from-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert named.returncode == 0, named.stderr
    assert named.stdout == HEADER + "a.service +100ms\n"
