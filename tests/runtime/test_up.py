# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""``bootup up DIR`` as a user runs it: a real process, real signals, its console output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bootup.runtime.project import SPECIAL_TARGETS, ProjectDir, write_units

BOOTUP = [sys.executable, "-m", "bootup"]
UNITS = {
    "db.service": "[Unit]\nDescription=Database\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    "web.service": "[Unit]\nDescription=Web server\nRequires=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 300\n",
    "app.target": "[Unit]\nDescription=App\nWants=web.service\n",
    "multi-user.target.wants/app.target": "-> ../app.target",
}


def _up(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOOTUP, "up", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_up_prints_systemd_console_lines_and_exits_after_start(tmp_path: Path) -> None:
    write_units(tmp_path, UNITS)
    done = _up(tmp_path, "--exit-after-start")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    expected = [
        "         Starting db.service - Database...",
        "[  OK  ] Started db.service - Database.",
        "         Starting web.service - Web server...",
        "[  OK  ] Started web.service - Web server.",
        "[  OK  ] Reached target app.target - App.",
        "[  OK  ] Reached target multi-user.target - Multi-User System.",
        "         Stopping web.service - Web server...",
        "[  OK  ] Stopped web.service - Web server.",
        "[  OK  ] Stopped db.service - Database.",
    ]
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert "\x1b[" not in done.stdout  # no colours on a pipe


def test_up_reports_a_failed_unit_and_exits_1(tmp_path: Path) -> None:
    write_units(
        tmp_path,
        {
            "worker.service": "[Unit]\nDescription=Worker\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
            "multi-user.target": "[Unit]\nDescription=Everything\nRequires=worker.service\nAfter=worker.service\n",
        },
    )
    done = _up(tmp_path, "--exit-after-start")
    assert done.returncode == 1
    assert "[FAILED] Failed to start worker.service - Worker." in done.stdout
    assert "[DEPEND] Dependency failed for multi-user.target - Everything." in done.stdout


def test_sigterm_stops_everything_in_reverse_order_and_exits_0(tmp_path: Path) -> None:
    write_units(tmp_path, UNITS)
    proc = subprocess.Popen(
        [*BOOTUP, "up", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if "supervising" in line:
            break
    state = json.loads((tmp_path / ".bootup" / "state.json").read_text())
    web_pid = int(state["units"]["web.service"]["MainPID"])
    assert web_pid > 0
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    tail = rest.splitlines()
    assert tail.index("[  OK  ] Stopped web.service - Web server.") < tail.index(
        "[  OK  ] Stopped db.service - Database."
    )
    assert not os.path.exists(f"/proc/{web_pid}")


def test_a_second_manager_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    write_units(tmp_path, UNITS)
    with ProjectDir(tmp_path):
        done = _up(tmp_path, "--exit-after-start")
    assert done.returncode == 1
    assert "another bootup manager is already running on" in done.stderr
    assert f"(pid {os.getpid()})" in done.stderr


def test_project_gets_the_special_targets_it_does_not_define(tmp_path: Path) -> None:
    write_units(tmp_path, {"multi-user.target": "[Unit]\nDescription=Mine\n"})
    with ProjectDir(tmp_path) as project:
        provided = sorted(p.name for p in project.units_dir.iterdir())
        default = os.readlink(project.units_dir / "default.target")
    assert provided == sorted({*SPECIAL_TARGETS, "default.target"} - {"multi-user.target"})
    assert default == str(tmp_path.resolve() / "multi-user.target")


def test_up_on_a_missing_directory_names_it(tmp_path: Path) -> None:
    done = _up(tmp_path / "nope", "--exit-after-start")
    assert done.returncode == 1
    assert f"{tmp_path / 'nope'}: expected a directory of unit files, found nothing" in done.stderr


def test_sigterm_during_a_start_that_never_finishes_still_exits_0(tmp_path: Path) -> None:
    write_units(
        tmp_path,
        {
            "n.service": "[Unit]\nDescription=Never ready\n[Service]\nType=notify\nExecStart=/bin/sleep 300\n",
            "multi-user.target": "[Unit]\nDescription=All\nWants=n.service\nAfter=n.service\n",
        },
    )
    proc = subprocess.Popen(
        [*BOOTUP, "up", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("         Starting n.service"):
            break
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "[  OK  ] Stopped n.service - Never ready." in rest.splitlines()


def test_control_socket_serves_clients_and_exit_stops_the_manager(tmp_path: Path) -> None:
    write_units(tmp_path, UNITS)
    proc = subprocess.Popen(
        [*BOOTUP, "up", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "supervising" in line:
            break
    active = subprocess.run(
        [*BOOTUP, "is-active", "web.service"],
        cwd=tmp_path,  # clients find DIR/.bootup/control.sock from the working directory
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (active.returncode, active.stdout.strip()) == (0, "active"), active.stderr
    done = subprocess.run(
        [*BOOTUP, "exit"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "[  OK  ] Stopped web.service - Web server." in rest.splitlines()


def test_show_asks_the_running_manager_and_reads_files_when_offline(tmp_path: Path) -> None:
    write_units(tmp_path, UNITS)
    proc = subprocess.Popen(
        [*BOOTUP, "up", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if "supervising" in line:
                break

        def show(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*BOOTUP, "show", "--project", str(tmp_path), *args],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip

        live = show("web.service", "-p", "ActiveState,SubState")
        assert live.returncode == 0, live.stderr
        assert live.stdout.splitlines() == ["ActiveState=active", "SubState=running"]
        offline = show("--offline", "web.service", "-p", "Id,LoadState")
        assert offline.stdout.splitlines() == ["Id=web.service", "LoadState=loaded"]
    finally:
        proc.terminate()
        proc.communicate(timeout=120)
    assert proc.returncode == 0
