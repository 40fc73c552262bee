"""enable/disable/is-enabled/reenable/mask through a running manager, as systemctl with PID 1.

The same operations offline (``--offline``) on an identical copy of the project must print
the same lines and make the same links: the manager runs the same install code on its own
search path, then reloads, so its dependency graph shows the new ``Wants=``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootup.control.client import Client
from bootup.control.errors import NotSupportedCallError
from bootup.runtime.project import SPECIAL_TARGETS
from control.manager_proc import UNITS, RunningManager, spawn, write_project
from control.manager_proc import run_bootup as bootup

M = "io.bootup.Manager"
INSTALLABLE = dict(
    UNITS,
    **{
        "api.service": (
            "[Unit]\nDescription=API\n[Service]\nExecStart=/bin/sleep 600\n"
            "[Install]\nWantedBy=multi-user.target\nAlias=backend.service\n"
        ),
        "worker.service": (
            "[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=multi-user.target\n"
        ),
        # Defined in the project (not provided in .bootup/units), so that the offline twin,
        # which reads the project directory only, sees the same target.
        "multi-user.target": SPECIAL_TARGETS["multi-user.target"],
    },
)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[RunningManager]:
    running = spawn(write_project(tmp_path / "project", INSTALLABLE))
    try:
        yield running
    finally:
        running.stop()


def show(project: Path, unit: str, *props: str) -> dict[str, str]:
    done = bootup("show", "--project", str(project), "-p", ",".join(props), unit)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def links(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): os.readlink(p)
        for p in sorted(directory.rglob("*"))
        if p.is_symlink() and ".bootup" not in p.parts
    }


def test_enable_and_disable_live_match_offline(manager: RunningManager, tmp_path: Path) -> None:
    project = manager.directory
    twin = tmp_path / "twin"  # the same files, no manager: the offline path
    shutil.copytree(project, twin, symlinks=True, ignore=shutil.ignore_patterns(".bootup"))
    assert show(project, "api.service", "UnitFileState", "UnitFilePreset") == {
        "UnitFileState": "disabled",
        "UnitFilePreset": "enabled",
    }

    live = bootup("enable", "--project", str(project), "api")
    offline = bootup("enable", "--project", str(twin), "--offline", "api")
    assert live.returncode == offline.returncode == 0
    assert live.stderr == offline.stderr.replace(str(twin), str(project))
    assert f"Created symlink {project}/multi-user.target.wants/api.service" in live.stderr
    assert links(project) == {k: v.replace(str(twin), str(project)) for k, v in links(twin).items()}
    # The manager reloaded: its graph has the new Wants= and the state is fresh.
    assert "api.service" in show(project, "multi-user.target", "Wants")["Wants"].split()
    assert show(project, "api.service", "UnitFileState", "NeedDaemonReload") == {
        "UnitFileState": "enabled",
        "NeedDaemonReload": "no",
    }
    done = bootup("is-enabled", "--project", str(project), "api.service", "backend.service")
    assert (done.returncode, done.stdout) == (0, "enabled\nalias\n")
    done = bootup("is-enabled", "--project", str(project), "nope.service")
    assert (done.returncode, done.stderr) == (
        1,
        "Failed to get unit file state for nope.service: No such file or directory\n",
    )

    live = bootup("disable", "--project", str(project), "api.service")
    offline = bootup("disable", "--project", str(twin), "--offline", "api.service")
    assert live.returncode == offline.returncode == 0
    assert live.stderr == offline.stderr.replace(str(twin), str(project))
    assert 'Removed "' in live.stderr
    assert "api.service" not in show(project, "multi-user.target", "Wants")["Wants"].split()
    done = bootup("is-enabled", "--project", str(project), "api.service")
    assert (done.returncode, done.stdout) == (1, "disabled\n")


def test_enable_now_starts_and_disable_now_stops(manager: RunningManager) -> None:
    project = str(manager.directory)
    done = bootup("enable", "--now", "--project", project, "worker")
    assert done.returncode == 0, done.stderr
    assert bootup("is-active", "--project", project, "worker").stdout == "active\n"
    done = bootup("reenable", "--project", project, "worker.service")
    assert done.returncode == 0, done.stderr
    assert "Removed" in done.stderr
    assert "Created symlink" in done.stderr
    done = bootup("disable", "--now", "--project", project, "worker")
    assert done.returncode == 0, done.stderr
    assert bootup("is-active", "--project", project, "worker").stdout == "inactive\n"
    done = bootup("reenable", "--now", "--project", project, "worker")
    assert done.returncode == 1
    assert "reenable --now is not supported yet" in done.stderr


def test_no_reload_leaves_every_unit_needing_a_reload(manager: RunningManager) -> None:
    project = manager.directory
    done = bootup("enable", "--no-reload", "--project", str(project), "worker.service")
    assert done.returncode == 0, done.stderr
    # systemd's unit_file_state_outdated: the manager has not seen the new links yet.
    assert show(project, "web.service", "NeedDaemonReload") == {"NeedDaemonReload": "yes"}
    assert "worker.service" not in show(project, "multi-user.target", "Wants")["Wants"]
    assert bootup("daemon-reload", "--project", str(project)).returncode == 0
    assert show(project, "web.service", "NeedDaemonReload") == {"NeedDaemonReload": "no"}
    assert "worker.service" in show(project, "multi-user.target", "Wants")["Wants"].split()


def test_mask_and_refusals_through_the_manager(manager: RunningManager) -> None:
    project = manager.directory
    # In project mode the unit files live in the configuration directory itself, so a
    # mask link cannot replace one: refused as systemctl refuses it in /etc.
    done = bootup("mask", "--project", str(project), "worker.service")
    assert (done.returncode, done.stderr) == (
        1,
        f'Failed to mask unit, file "{project}/worker.service" already exists.\n',
    )
    # A provided special target (in .bootup/units) can be masked, and unmasked.
    done = bootup("mask", "--project", str(project), "paths.target")
    assert (done.returncode, done.stderr) == (
        0,
        f"Created symlink {project}/paths.target \u2192 /dev/null.\n",
    )
    assert show(project, "paths.target", "LoadState", "UnitFileState") == {
        "LoadState": "masked",
        "UnitFileState": "masked",
    }
    done = bootup("unmask", "--project", str(project), "paths.target")
    assert (done.returncode, done.stderr) == (0, f'Removed "{project}/paths.target".\n')
    assert show(project, "paths.target", "LoadState")["LoadState"] == "loaded"
    done = bootup("enable", "--project", str(project), "missing.service")
    assert (done.returncode, done.stderr) == (
        1,
        "Failed to enable unit, unit missing.service does not exist.\n",
    )
    with (
        Client(manager.socket) as client,
        pytest.raises(NotSupportedCallError, match="enable --runtime"),
    ):
        client.call(f"{M}.EnableUnitFiles", {"files": ["api.service"], "runtime": True})


def test_status_properties_for_the_loaded_line_and_main_pid(manager: RunningManager) -> None:
    with Client(manager.socket) as client:
        props = client.call(f"{M}.GetStatus", {"name": "web.service", "lines": 0})["properties"]
    assert (props["UnitFileState"], props["UnitFilePreset"]) == ("enabled", "enabled")
    assert props["FragmentPath"] == str(manager.directory / "web.service")
    assert props["DropInPaths"] == ""
    assert props["NeedDaemonReload"] == "no"
    pid = int(props["MainPID"])
    assert pid > 0
    assert props["ExecMainPID"] == str(pid)
    assert int(props["ExecMainStartTimestampRealtime"]) > 0
    assert props["ExecMainExitTimestampRealtime"] == "0"
    cgroup = props["ControlGroup"]
    if cgroup:  # the manager tracks cgroups: the kernel agrees on the process's cgroup
        unified = next(
            line[3:].strip()
            for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
            if line.startswith("0::")
        )
        assert cgroup == unified
        assert props["TasksCurrent"] == "1"  # /bin/sleep, one thread
    else:
        assert props["TasksCurrent"] == "[not set]"
