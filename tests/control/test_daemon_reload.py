"""daemon-reload against a running manager: Varlink Reload and ``bootup daemon-reload``.

Each test edits its own project's unit files, so each runs its own manager process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootup.control.client import Client
from bootup.runtime.project import write_units
from control.manager_proc import UNITS, RunningManager, spawn, write_project
from control.manager_proc import run_bootup as bootup

M = "io.bootup.Manager"
WARNING = (
    "Warning: The unit file, source configuration file or drop-ins of {} changed on disk. "
    "Run 'bootup daemon-reload' to reload units.\n"
)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[RunningManager]:
    running = spawn(write_project(tmp_path / "project"))
    try:
        yield running
    finally:
        running.stop()


def touch_later(path: Path) -> None:
    """An edit the manager has not seen: the mtime moves 10 s past the load."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))


def show(project: Path, unit: str, *props: str) -> dict[str, str]:
    done = bootup("show", "--project", str(project), "-p", ",".join(props), unit)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def test_edit_then_daemon_reload(manager: RunningManager) -> None:
    project = manager.directory
    before = show(project, "web.service", "MainPID", "NeedDaemonReload", "Description")
    assert before["NeedDaemonReload"] == "no"
    write_units(
        project,
        {"web.service": UNITS["web.service"].replace("Web server", "Web server v2")},
    )
    touch_later(project / "web.service")
    assert show(project, "web.service", "NeedDaemonReload") == {"NeedDaemonReload": "yes"}
    status = bootup("status", "--project", str(project), "web.service")
    assert status.returncode == 0
    assert status.stderr == WARNING.format("web.service")
    restart = bootup("try-restart", "--project", str(project), "once.service")
    assert restart.stderr == ""  # other units are not affected

    done = bootup("daemon-reload", "--project", str(project))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    after = show(project, "web.service", "MainPID", "NeedDaemonReload", "Description")
    assert after == {
        "MainPID": before["MainPID"],  # still the same process: it was not restarted
        "NeedDaemonReload": "no",
        "Description": "Web server v2",
    }
    assert bootup("status", "--project", str(project), "web.service").stderr == ""


def test_start_warns_about_a_changed_drop_in(tmp_path: Path) -> None:
    units = dict(UNITS, **{"once.service.d/a.conf": "[Unit]\nDocumentation=man:once(1)\n"})
    running = spawn(write_project(tmp_path / "project", units))
    try:
        project = running.directory
        write_units(project, {"once.service.d/env.conf": "[Service]\nEnvironment=X=1\n"})
        done = bootup("start", "--project", str(project), "once.service")
        assert done.returncode == 0
        assert done.stderr == WARNING.format("once.service")
        # A new drop-in directory is not noticed before a reload (systemd 252's unit path
        # cache; tests/conformance/test_reload_systemd.py shows systemd doing the same).
        write_units(project, {"web.service.d/env.conf": "[Service]\nEnvironment=X=1\n"})
        done = bootup("status", "--project", str(project), "web.service")
        assert (done.returncode, done.stderr) == (0, "")
    finally:
        running.stop()


def test_new_removed_and_running_removed_units(manager: RunningManager) -> None:
    project = manager.directory
    write_units(
        project, {"new.service": "[Unit]\nDescription=Newcomer\n[Service]\nExecStart=/bin/true\n"}
    )
    (project / "once.service").unlink()
    (project / "web.service").unlink()  # web.service runs
    with Client(manager.socket) as client:
        assert client.call(f"{M}.Reload") == {}
        names = {u["name"] for u in client.call(f"{M}.ListUnits", {"all": True})["units"]}
    assert "new.service" in names
    assert "once.service" not in names
    assert show(project, "new.service", "LoadState", "Description") == {
        "LoadState": "loaded",
        "Description": "Newcomer",
    }
    assert show(project, "once.service", "LoadState", "ActiveState") == {
        "LoadState": "not-found",
        "ActiveState": "inactive",
    }
    # systemd keeps a running unit whose file vanished: not-found, still running.
    assert show(project, "web.service", "LoadState", "ActiveState", "SubState") == {
        "LoadState": "not-found",
        "ActiveState": "active",
        "SubState": "running",
    }
    assert bootup("stop", "--project", str(project), "web.service").returncode == 0
    assert show(project, "web.service", "LoadState", "ActiveState") == {
        "LoadState": "not-found",
        "ActiveState": "inactive",
    }


def test_queued_jobs_survive_a_reload(tmp_path: Path) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    units = dict(
        UNITS,
        **{
            "gate.service": f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'read x < {fifo}'\n",
            "after.service": (
                "[Unit]\nWants=gate.service\nAfter=gate.service\n"
                "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
            ),
        },
    )
    running = spawn(write_project(tmp_path / "project", units))
    try:
        with Client(running.socket) as client, Client(running.socket) as watcher:
            events = watcher.stream(f"{M}.Subscribe", {"units": ["after.service"]})
            assert next(events)["event"] == "subscribed"
            queued = client.call(
                f"{M}.EnqueueJob", {"unit": "after.service", "type": "start", "no_block": True}
            )
            before = client.call(f"{M}.ListJobs")["jobs"]
            assert {j["unit"] for j in before} == {"gate.service", "after.service"}
            assert client.call(f"{M}.Reload") == {}
            assert client.call(f"{M}.ListJobs")["jobs"] == before
            opener = threading.Thread(target=fifo.write_text, args=("go\n",))
            opener.start()
            for event in events:
                job = event.get("job")
                if job and job["unit"] == "after.service" and job["result"] is not None:
                    assert job["result"] == "done"
                    break
            opener.join()
            assert queued["job_id"] is not None
            state = client.call(
                f"{M}.GetProperties", {"name": "after.service", "properties": ["ActiveState"]}
            )
            assert state["properties"] == {"ActiveState": "active"}
    finally:
        running.stop()


def test_daemon_reexec_is_refused_clearly(running: RunningManager) -> None:
    done = bootup("daemon-reexec", "--project", str(running.directory))
    assert done.returncode == 1
    assert "daemon-reexec is not supported yet" in done.stderr
