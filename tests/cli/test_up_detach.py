# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""``bootup up -d DIR``: a project's manager in the background, then ``status`` and ``exit``.

The background manager is detached (a new session, re-parented when ``up -d`` exits), so a
test could not wait for it. Each scenario therefore runs in a small driver process that is
a child subreaper (``PR_SET_CHILD_SUBREAPER``): the detached manager is re-parented to the
driver, which waits for it with ``waitpid`` (an event, no polling) and reports its exit
status together with what each command printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bootup.runtime.project import write_units

BOOTUP = str(Path(sys.executable).with_name("bootup"))

UNITS = {
    "web.service": "[Unit]\nDescription=Web server\n[Service]\nExecStart=/bin/sleep 600\n",
    "multi-user.target.wants/web.service": "-> ../web.service",
}
FAILING = {
    "bad.service": "[Unit]\nDescription=Broken\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "default.target": "[Unit]\nDescription=App\nRequires=bad.service\nAfter=bad.service\n",
}

#: Runs a list of bootup command lines in DIR as a subreaper; waits for the background
#: manager (its pid is in up -d's output) after the last one; prints JSON.
DRIVER = r"""
import ctypes, json, os, re, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
bootup, directory, steps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out, pid = [], None
for argv in steps:
    done = subprocess.run([bootup, *argv], cwd=directory, capture_output=True, text=True, timeout=120)
    out.append({"argv": argv, "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr})
    found = re.search(r"\(pid (\d+)\)", done.stdout + done.stderr)
    if pid is None and argv[:2] == ["up", "-d"] and found:
        pid = int(found.group(1))
status = None
if pid is not None:
    _, raw = os.waitpid(pid, 0)
    status = os.waitstatus_to_exitcode(raw)
socket = os.path.join(directory, ".bootup", "control.sock")
print(json.dumps({"steps": out, "manager_exit": status, "socket_left": os.path.exists(socket)}))
"""


def _drive(directory: Path, *steps: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, BOOTUP, str(directory), json.dumps(list(steps))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_up_detach_returns_when_reached_then_status_and_exit(tmp_path: Path) -> None:
    write_units(tmp_path, UNITS)
    run = _drive(
        tmp_path,
        ["up", "-d", "."],
        ["status", "web.service"],
        ["up", "-d", "."],
        ["exit"],
    )
    up, status, again, stop = run["steps"]
    assert up["rc"] == 0, up
    assert "bootup: default.target reached; manager running in the background (pid " in up["stdout"]
    assert f"log {tmp_path / '.bootup' / 'up.log'}" in up["stdout"]
    # up -d returned after the target was reached: status sees the service running at once
    assert status["rc"] == 0, status
    assert "Active: active (running)" in status["stdout"]
    assert again["rc"] == 1
    assert "another bootup manager is already running on" in again["stderr"]
    assert stop["rc"] == 0, stop
    assert run["manager_exit"] == 0
    assert run["socket_left"] is False
    log = (tmp_path / ".bootup" / "up.log").read_text()
    assert "[  OK  ] Started web.service - Web server." in log
    assert log.rstrip().endswith("bootup: all units stopped")


def test_up_detach_exits_1_when_the_default_target_fails(tmp_path: Path) -> None:
    write_units(tmp_path, FAILING)
    run = _drive(tmp_path, ["up", "-d", "."], ["is-failed", "bad.service"], ["exit"])
    up, failed, stop = run["steps"]
    assert up["rc"] == 1, up
    assert "bootup: default.target failed (dependency); failed units: bad.service" in up["stderr"]
    assert str(tmp_path / ".bootup" / "up.log") in up["stderr"]
    assert (failed["rc"], failed["stdout"].strip()) == (0, "failed")
    assert stop["rc"] == 0
    assert run["manager_exit"] == 0


def test_up_detach_reports_a_manager_that_dies_before_the_target(tmp_path: Path) -> None:
    """A start request the manager refuses ends it; up -d sees the pipe close and says why."""
    (tmp_path / "broken.target").write_text("[Unit]\nRequires=nothere.service\n")
    done = subprocess.run(
        [BOOTUP, "up", "-d", str(tmp_path), "--unit", "broken.target"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert (
        "the background manager exited with code 1 before broken.target was reached" in done.stderr
    )
    assert "Unit nothere.service not found." in done.stderr
    assert not (tmp_path / ".bootup" / "control.sock").exists()
