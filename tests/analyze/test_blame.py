"""``analyze blame``: units by start-up time, right-aligned, slowest first.

The expected text is systemd-analyze 252's own output for the recorded boot below; the
tie and alignment cases are worked out from src/analyze/analyze-blame.c by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bootup.analyze.blame import blame_rows, render_blame
from bootup.analyze.timing import BootTiming, StartupTiming, UnitTiming, timing_from_systemctl_show

# Recorded with systemd 252.39-1~deb12u2 as PID 1 of a namespace (container mode), by the
# scenario of tests/conformance/test_analyze_systemd.py: `systemctl show` of the manager and
# of every unit (tests/data/analyze/systemctl-show-boot.txt, shared with the other
# analyze tests), and what systemd-analyze printed for that boot.
SHOW = (Path(__file__).parent.parent / "data" / "analyze" / "systemctl-show-boot.txt").read_text()

BLAME = """\
1.100s slow.service
 307ms a.service
 202ms b.service
 104ms d.service
  52ms e.service
"""


def test_blame_equals_recorded_systemd_output() -> None:
    assert render_blame(timing_from_systemctl_show(SHOW)) == BLAME


def test_units_that_took_no_time_or_never_started_are_left_out() -> None:
    names = [u.name for u in blame_rows(timing_from_systemctl_show(SHOW))]
    assert "multi-user.target" not in names  # activating == activated
    assert "dev-vda.device" not in names  # still activating: no duration yet
    assert "swap.target" not in names  # never started


def test_durations_are_right_aligned_and_ties_keep_listing_order() -> None:
    data = StartupTiming(
        BootTiming(finish=100.0),
        (
            UnitTiming("short.service", 1.0, 1.005, None, None),
            UnitTiming("tie-1.service", 1.0, 1.5, None, None),
            UnitTiming("long.service", 1.0, 91.5, None, None),
            UnitTiming("tie-2.service", 2.0, 2.5, None, None),
            UnitTiming("oneshot.service", 1.0, None, None, 1.25),
        ),
    )
    assert render_blame(data) == (
        "1min 30.500s long.service\n"
        "       500ms tie-1.service\n"
        "       500ms tie-2.service\n"
        "       250ms oneshot.service\n"
        "         5ms short.service\n"
    )


def test_blame_needs_no_finished_startup() -> None:
    data = StartupTiming(BootTiming(finish=None), (UnitTiming("a.service", 0.1, 0.3, None, None),))
    assert render_blame(data) == "200ms a.service\n"


def test_cli_blame_from_file(tmp_path: Path) -> None:
    path = tmp_path / "show.txt"
    path.write_text(SHOW)
    done = subprocess.run(
        [sys.executable, "-m", "bootup", "analyze", "blame", "--from-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == BLAME


def test_cli_reports_a_bad_file_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "show.txt"
    path.write_text(SHOW.replace("InactiveExitTimestampMonotonic=3551345302", "Inactive"))
    done = subprocess.run(
        [sys.executable, "-m", "bootup", "analyze", "blame", "--from-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"bootup: {path}:")
    assert "expected KEY=VALUE" in done.stderr
