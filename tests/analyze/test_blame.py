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
# of every unit, and what systemd-analyze printed for that boot.
SHOW = """\
FirmwareTimestampMonotonic=0
LoaderTimestampMonotonic=0
InitRDTimestampMonotonic=0
UserspaceTimestampMonotonic=3551285781
FinishTimestampMonotonic=3552524084
SecurityStartTimestampMonotonic=0

Id=dev-vda.device
Names=dev-vda.device
After=
InactiveExitTimestampMonotonic=3551338117
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=-.mount
Names=-.mount
After=-.slice
InactiveExitTimestampMonotonic=3551338110
ActiveEnterTimestampMonotonic=3551338110
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=mnt-sandboxing-model_tools_env-v1-python.mount
Names=mnt-sandboxing-model_tools_env-v1-python.mount
After=systemd-journald.socket local-fs-pre.target system.slice -.mount swap.target
InactiveExitTimestampMonotonic=3551338114
ActiveEnterTimestampMonotonic=3551338114
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=init.scope
Names=init.scope
After=-.slice
InactiveExitTimestampMonotonic=3551338108
ActiveEnterTimestampMonotonic=3551338108
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=a.service
Names=a.service
After=system.slice systemd-journald.socket sysinit.target basic.target
InactiveExitTimestampMonotonic=3551345302
ActiveEnterTimestampMonotonic=3551652597
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=b.service
Names=b.service
After=system.slice systemd-journald.socket basic.target a.service sysinit.target
InactiveExitTimestampMonotonic=3551668629
ActiveEnterTimestampMonotonic=3551870632
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=c.service
Names=c.service
After=systemd-journald.socket sysinit.target b.service system.slice basic.target
InactiveExitTimestampMonotonic=3551884292
ActiveEnterTimestampMonotonic=3551884292
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=d.service
Names=d.service
After=sysinit.target systemd-journald.socket system.slice basic.target
InactiveExitTimestampMonotonic=3551345764
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=3551449832

Id=e.service
Names=e.service
After=slow.service basic.target d.service systemd-journald.socket system.slice sysinit.target
InactiveExitTimestampMonotonic=3552464237
ActiveEnterTimestampMonotonic=3552516414
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=slow.service
Names=slow.service
After=systemd-journald.socket system.slice basic.target sysinit.target
InactiveExitTimestampMonotonic=3551349052
ActiveEnterTimestampMonotonic=3552449578
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=-.slice
Names=-.slice
After=
InactiveExitTimestampMonotonic=3551338100
ActiveEnterTimestampMonotonic=3551338100
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=system.slice
Names=system.slice
After=-.slice
InactiveExitTimestampMonotonic=3551338103
ActiveEnterTimestampMonotonic=3551338103
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=systemd-journald.socket
Names=systemd-journald.socket
After=
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=basic.target
Names=basic.target
After=
InactiveExitTimestampMonotonic=3551344541
ActiveEnterTimestampMonotonic=3551344541
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=local-fs-pre.target
Names=local-fs-pre.target
After=
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=local-fs.target
Names=local-fs.target
After=mnt-sandboxing-model_tools_env-v1-python.mount
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=multi-user.target
Names=multi-user.target default.target
After=c.service a.service basic.target b.service d.service e.service slow.service
InactiveExitTimestampMonotonic=3552516511
ActiveEnterTimestampMonotonic=3552516511
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=shutdown.target
Names=shutdown.target
After=multi-user.target a.service d.service e.service local-fs.target basic.target \
slow.service b.service c.service sysinit.target
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=swap.target
Names=swap.target
After=
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=sysinit.target
Names=sysinit.target
After=
InactiveExitTimestampMonotonic=3551344671
ActiveEnterTimestampMonotonic=3551344671
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0

Id=umount.target
Names=umount.target
After=mnt-sandboxing-model_tools_env-v1-python.mount
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0
"""

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
