"""The systemctl-style verbs as a user runs them: real processes, exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control.manager_proc import UNITS, RunningManager, spawn, write_project
from control.manager_proc import run_bootup as bootup


def test_is_active_and_is_failed_exit_codes(running: RunningManager) -> None:
    project = str(running.directory)
    done = bootup("is-active", "--project", project, "web")
    assert (done.returncode, done.stdout) == (0, "active\n")
    done = bootup("is-active", "--project", project, "nope.service")
    assert (done.returncode, done.stdout) == (3, "inactive\n")
    done = bootup("is-active", "--project", project, "-q", "once.service", "web.service")
    assert (done.returncode, done.stdout) == (0, "")  # one active unit is enough
    done = bootup("is-failed", "--project", project, "web.service")
    assert (done.returncode, done.stdout) == (1, "active\n")


def test_the_project_is_found_from_the_working_directory(running: RunningManager) -> None:
    sub = running.directory / "sub" / "dir"
    sub.mkdir(parents=True, exist_ok=True)
    done = bootup("is-active", "web.service", cwd=sub)
    assert (done.returncode, done.stdout) == (0, "active\n")
    done = bootup("is-active", "--system", "web.service", cwd=sub)
    if Path("/run/bootup/control.sock").exists():
        pytest.skip("a system manager runs on this machine")
    assert done.returncode == 1
    assert "cannot connect to the bootup manager at /run/bootup/control.sock" in done.stderr


def test_start_failure_prints_systemctls_message(running: RunningManager) -> None:
    done = bootup("start", "--project", str(running.directory), "bad")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Job for bad.service failed because the control process exited with error code.",
        'See "bootup status bad.service" and "bootup logs -u bad.service" for details.',
    ]
    done = bootup("is-failed", "--project", str(running.directory), "bad")
    assert (done.returncode, done.stdout) == (0, "failed\n")
    done = bootup("start", "--project", str(running.directory), "nope")
    assert done.returncode == 5
    assert done.stderr == "Failed to start nope.service: Unit nope.service not found.\n"


def test_status_block(running: RunningManager) -> None:
    done = bootup("status", "--project", str(running.directory), "web.service", "-n", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "\u25cf web.service - Web server"
    web = running.directory / "web.service"
    assert lines[1] == f"     Loaded: loaded ({web}; enabled; preset: enabled)"
    assert lines[2].startswith("     Active: active (running) since ")
    assert lines[2].endswith(" ago")
    assert lines[3].startswith("   Main PID: ")
    assert lines[3].endswith(" (sleep)")
    pid = lines[3].split()[2]
    assert f"\u2514\u2500{pid} /bin/sleep 600" in done.stdout
    assert lines[-1].endswith("Started web.service - Web server.")
    done = bootup("status", "--project", str(running.directory), "nope.service")
    assert (done.returncode, done.stderr) == (4, "Unit nope.service could not be found.\n")


def test_list_units_table_json_and_filters(running: RunningManager) -> None:
    project = str(running.directory)
    done = bootup("list-units", "--project", project, "--no-legend", "--plain", "-t", "service")
    assert done.returncode == 0, done.stderr
    rows = [line.split(None, 4) for line in done.stdout.splitlines()]
    assert ["web.service", "loaded", "active", "running", "Web server"] in rows
    assert all(r[0].endswith(".service") for r in rows)
    done = bootup("list-units", "--project", project, "-o", "json", "--all", "*.service")
    data = json.loads(done.stdout)
    web = next(u for u in data if u["unit"] == "web.service")
    assert web == {
        "unit": "web.service",
        "load": "loaded",
        "active": "active",
        "sub": "running",
        "description": "Web server",
    }
    done = bootup("list-units", "--project", project)
    assert done.stdout.splitlines()[0].split() == ["UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"]
    assert "loaded units listed. Pass --all to see loaded but inactive units, too." in done.stdout
    done = bootup("list-jobs", "--project", project)
    assert (done.returncode, done.stdout) == (0, "No jobs running.\n")


def test_stop_start_no_block_and_glob(running: RunningManager) -> None:
    project = str(running.directory)
    assert bootup("stop", "--project", project, "web*").returncode == 0
    assert bootup("is-active", "--project", project, "web").stdout == "inactive\n"
    assert bootup("start", "--project", project, "--no-block", "web.service").returncode == 0
    # --no-block returned at once; a blocking restart now waits for the queued start too.
    assert bootup("restart", "--project", project, "web.service").returncode == 0
    assert bootup("is-active", "--project", project, "web").stdout == "active\n"


def test_start_wait_returns_when_the_unit_stops(running: RunningManager) -> None:
    done = bootup("start", "--project", str(running.directory), "--wait", "once.service")
    assert done.returncode == 0, done.stderr
    assert bootup("is-active", "--project", str(running.directory), "once").stdout == "inactive\n"


def test_kill_and_reset_failed(running: RunningManager) -> None:
    project = str(running.directory)
    done = bootup("kill", "--project", project, "-s", "KILL", "--kill-whom", "main", "web")
    assert done.returncode == 0, done.stderr
    done = bootup("start", "--project", project, "web")  # SIGKILL: failed, startable again
    assert done.returncode == 0
    done = bootup("kill", "--project", project, "-s", "NOPE", "web")
    assert (done.returncode, done.stderr) == (1, "Failed to parse signal string NOPE.\n")
    done = bootup("reset-failed", "--project", project)
    assert (done.returncode, done.stderr) == (0, "")


def test_isolate_and_exit(tmp_path: Path) -> None:
    units = dict(
        UNITS,
        **{
            "rescue.target": "[Unit]\nDescription=Rescue\nAllowIsolate=yes\n",
            "plain.target": "[Unit]\nDescription=Plain\n",
        },
    )
    manager = spawn(write_project(tmp_path, units))
    try:
        project = str(tmp_path)
        done = bootup("isolate", "--project", project, "plain.target")
        assert done.returncode == 1
        assert done.stderr == (
            "Failed to start plain.target: Operation refused, unit may not be isolated.\n"
        )
        assert bootup("is-active", "--project", project, "web").stdout == "active\n"
        assert bootup("isolate", "--project", project, "rescue.target").returncode == 0
        assert bootup("is-active", "--project", project, "web").stdout == "inactive\n"
        done = bootup("list-units", "--project", project, "--plain", "--no-legend", "*.target")
        assert [line.split()[0] for line in done.stdout.splitlines()] == ["rescue.target"]
        assert bootup("exit", "--project", project, "4").returncode == 0
        assert manager.process.wait(timeout=60) == 4
    finally:
        manager.stop()


def test_show_live_prints_properties(
    running: RunningManager, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from bootup.cli.commands.ctl import show_live

    args = argparse.Namespace(
        units=["web", "nope.service"],
        property=["Id,ActiveState", "SubState"],
        value=False,
        system=False,
        project=str(running.directory),
    )
    assert show_live(args) == 0
    assert capsys.readouterr().out == (
        "Id=web.service\nActiveState=active\nSubState=running\n\n"
        "Id=nope.service\nActiveState=inactive\nSubState=\n"
    )
    args.value = True
    args.units = ["web.service"]
    assert show_live(args) == 0
    assert capsys.readouterr().out == "web.service\nactive\nrunning\n"


def test_list_jobs_shows_a_pending_start(running: RunningManager) -> None:
    project = str(running.directory)
    done = bootup("start", "--project", project, "--no-block", "slow")
    assert done.returncode == 0, done.stderr
    try:
        done = bootup("list-jobs", "--project", project)
        lines = done.stdout.splitlines()
        assert lines[0].split() == ["JOB", "UNIT", "TYPE", "STATE"]
        assert lines[1].split()[1:] == ["slow.service", "start", "running"]
        assert lines[-1] == "1 jobs listed."
        done = bootup("list-units", "--project", project, "--plain", "--no-legend", "slow*")
        assert done.stdout.split()[:5] == ["slow.service", "loaded", "activating", "start", "start"]
        done = bootup("list-jobs", "--project", project, "-o", "json")
        [job] = json.loads(done.stdout)
        assert (job["unit"], job["type"], job["state"]) == ("slow.service", "start", "running")
    finally:
        assert bootup("stop", "--project", project, "slow").returncode == 0
    assert bootup("list-jobs", "--project", project).stdout == "No jobs running.\n"


def test_status_shows_the_journal_of_this_run_only(tmp_path: Path) -> None:
    """As systemctl status shows this boot's lines: a project's journal outlives its runs."""
    project = write_project(tmp_path / "project")
    for _ in range(2):
        manager = spawn(project)
        try:
            done = bootup("status", "web.service", "--project", str(project))
        finally:
            assert manager.stop() == 0
        assert done.returncode == 0, done.stderr
    started = [line for line in done.stdout.splitlines() if "Started web.service" in line]
    assert len(started) == 1, done.stdout
