"""``analyze dot`` and ``analyze why`` against a running manager (its loaded graph).

The project defines every target itself, so the manager's search path and the offline one
(``--project DIR --offline``, the unit files only) see the same units: live and offline
output must then be equal, and differ exactly while a change is not daemon-reload'ed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootup.runtime.project import SPECIAL_TARGETS, write_units
from control.manager_proc import UNITS, RunningManager, spawn, write_project
from control.manager_proc import run_bootup as bootup

PROJECT_UNITS = dict(UNITS, **SPECIAL_TARGETS, **{"default.target": "-> multi-user.target"})
EDGE = '"multi-user.target"->"once.service" [color="grey66"];'


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[RunningManager]:
    running = spawn(write_project(tmp_path / "project", PROJECT_UNITS))
    try:
        yield running
    finally:
        running.stop()


def analyze(project: Path, *args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
    extra = ("--offline",) if offline else ()
    return bootup("analyze", *args, "--project", str(project), *extra)


def test_live_dot_and_why_equal_offline_until_a_change(manager: RunningManager) -> None:
    project = manager.directory
    live, offline = analyze(project, "dot"), analyze(project, "dot", offline=True)
    assert live.returncode == offline.returncode == 0
    assert live.stdout == offline.stdout
    assert '"web.service"->"basic.target" [color="green"];' in live.stdout  # After=
    assert EDGE not in live.stdout
    for unit in ("web.service", "once.service"):
        live, offline = analyze(project, "why", unit), analyze(project, "why", unit, offline=True)
        assert (live.returncode, live.stdout) == (offline.returncode, offline.stdout)

    # once.service gets wanted by multi-user.target; the manager has not read it yet.
    write_units(project, {"multi-user.target.wants/once.service": "-> ../once.service"})
    live, offline = analyze(project, "dot"), analyze(project, "dot", offline=True)
    assert EDGE in offline.stdout
    assert EDGE not in live.stdout
    why = analyze(project, "why", "once.service")
    assert (why.returncode, why.stdout.splitlines()[0]) == (
        1,
        "once.service is not started by multi-user.target:",
    )

    assert bootup("daemon-reload", "--project", str(project)).returncode == 0
    live = analyze(project, "dot")
    assert live.stdout == offline.stdout
    live, offline = (
        analyze(project, "why", "once.service"),
        analyze(project, "why", "once.service", offline=True),
    )
    assert live.returncode == 0
    assert (live.returncode, live.stdout) == (offline.returncode, offline.stdout)
    assert "Wants= once.service" in live.stdout


def test_root_always_reads_the_files(manager: RunningManager, tmp_path: Path) -> None:
    # With --root the manager is never asked (the tree under DIR is what is analyzed).
    (tmp_path / "empty").mkdir()
    done = bootup("analyze", "dot", "--root", str(tmp_path / "empty"), "web.service")
    assert done.returncode == 0
    assert "web.service" not in done.stdout
