# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""``bootup up DIR --exit-after-start`` must not promise to supervise when it is about to exit.

Found by the golden-file tests: the summary line ended in "supervising (Ctrl-C to stop)"
right before "stopping all units" and the exit. (Here rather than tests/runtime because the
fix came with the analysis work; the supervising case is tests/runtime/test_up.py's.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootup.runtime.project import write_units

BOOTUP = [sys.executable, "-m", "bootup"]


def _up(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOOTUP, "up", str(directory), "--exit-after-start", "--no-color", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("exec_start", "code", "summary"),
    [
        ("/bin/false", 1, "bootup: job.service failed (failed); 0 services active"),
        ("/bin/true", 0, "bootup: job.service reached; 0 services active"),
    ],
)
def test_exit_after_start_summary_has_no_supervising_hint(
    tmp_path: Path, exec_start: str, code: int, summary: str
) -> None:
    write_units(
        tmp_path,
        {
            "job.service": f"[Unit]\nDescription=Job\n[Service]\nType=oneshot\nExecStart={exec_start}\n"
        },
    )
    done = _up(tmp_path, "--unit", "job.service")
    assert done.returncode == code, done.stderr
    lines = done.stdout.splitlines()
    assert summary in lines
    assert "supervising" not in done.stdout
    assert lines.index(summary) + 1 == lines.index("bootup: stopping all units")
