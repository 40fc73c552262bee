"""bootup prints what systemctl 252 prints: the golden files, compared with bootup's output.

The unit set of ``tests/data/systemctl-golden/units/`` runs under a real bootup project
manager (its own process, ``control/manager_proc.py``) and every recorded command runs
through a link named ``systemctl`` to bootup's console script, from the project directory,
exactly as recorded from real systemd (``tests/conformance/test_systemctl_output.py``).
Both sides go through the same :func:`normalise`; what remains must be equal byte for byte.

Two differences are removed here, on bootup's side only, each for a reason of the judge:

* the journald links (``systemd-journald.*``, ``sysinit.target.wants/``) are not copied:
  they exist so the judge has a journal; bootup has its own;
* journal lines of the manager itself (``bootup[...]:``) are dropped: the judge's manager
  logs to the console, so its status output has no ``systemd[1]:`` lines to compare with.

Nothing else is excused: no command is an expected failure. (t-enabled.service is enabled
on both sides: the judge boots with its ``.wants/`` link in a private /etc/systemd/system.)
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance.test_systemctl_output import (
    COMMANDS,
    UNITS,
    Command,
    Output,
    load_golden,
    normalise,
    run_all,
)
from control.manager_proc import SRC, RunningManager, spawn

pytestmark = pytest.mark.slow

_MANAGER_LINES = re.compile(r"^<TIME> <HOST> bootup(\[<PID>\])?: .*\n", re.M)


def _copy_units(project: Path) -> None:
    for entry in UNITS.iterdir():
        if entry.name.startswith(("systemd-journald", "sysinit.target.wants")):
            continue
        if entry.is_dir():
            shutil.copytree(entry, project / entry.name, symlinks=True)
        else:
            shutil.copy(entry, project / entry.name, follow_symlinks=False)


def _systemctl_link(directory: Path) -> Path:
    script = Path(sys.executable).with_name("bootup")
    link = directory / "bin" / "systemctl"
    link.parent.mkdir()
    link.symlink_to(script)
    return link


def _run_on_pty(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, int]:
    """Run with stdout on a pseudo-terminal (colours on); return its output and exit code."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(slave)
        slave = -1
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return b"".join(chunks).decode().replace("\r\n", "\n"), proc.returncode


@pytest.fixture(scope="module")
def bootup_outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Output]]:
    """Every golden command's output from bootup, after the same normalisation."""
    base = tmp_path_factory.mktemp("golden")
    project = base / "project"
    project.mkdir()
    _copy_units(project)
    systemctl = _systemctl_link(base)
    env = dict(os.environ, PYTHONPATH=str(SRC), COLUMNS="80")
    env.pop("BOOTUP_CONTROL_SOCKET", None)
    manager: RunningManager = spawn(project, unit="t-golden.target")
    try:
        _wait_until_settled(manager.socket)

        def run(command: Command) -> Output:
            argv = [str(systemctl), "--no-pager", *command.args]
            if command.colour:  # as recorded: SYSTEMD_COLORS=1, and a terminal too
                coloured = dict(env, SYSTEMD_COLORS="1", SYSTEMD_URLIFY="0")
                stdout, code = _run_on_pty(argv, project, coloured)
                stderr = ""
            else:
                done = subprocess.run(
                    argv, cwd=project, env=env, capture_output=True, text=True,
                    timeout=60, check=False,
                )  # fmt: skip
                stdout, stderr, code = done.stdout, done.stderr, done.returncode
            stdout = _MANAGER_LINES.sub("", normalise(stdout, str(project)))
            if stdout.endswith("\n\n"):  # only manager lines were in the journal part
                stdout = stdout[:-1]
            return Output(stdout, normalise(stderr, str(project)), code)

        def start_slow() -> None:
            with _watch(manager.socket, "t-slow.service", "activating") as reached:
                done = subprocess.run(
                    [str(systemctl), "start", "--no-block", "t-slow.service"],
                    cwd=project, env=env, capture_output=True, text=True, timeout=60,
                    check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                reached()  # the job runs (not "waiting") once the unit is activating

        yield run_all(run, start_slow)
    finally:
        manager.stop()


@contextlib.contextmanager
def _watch(socket: Path, unit: str, state: str) -> Iterator[Callable[[], None]]:
    """Subscribe to ``unit`` now; the yielded function blocks until it is in ``state``."""
    from bootup.control.client import Client

    manager = "io.bootup.Manager"
    with Client(socket, timeout=60) as watcher, Client(socket, timeout=60) as client:
        events = watcher.stream(f"{manager}.Subscribe", {"units": [unit]})
        next(events)  # subscribed: no later change is missed

        def reached() -> None:
            props = client.call(
                f"{manager}.GetProperties", {"name": unit, "properties": ["ActiveState"]}
            )["properties"]
            if props["ActiveState"] == state:
                return
            for event in events:
                change = event.get("unit")
                if change and change["new_state"] == state:
                    return

        yield reached


def _wait_until_settled(socket: Path) -> None:
    """Block until t-bad.service failed and its output reached the journal.

    Event-driven: subscribe to unit changes and journal lines first, then check the state
    already reached, then wait for the events still missing.
    """
    from bootup.control.client import Client

    manager = "io.bootup.Manager"
    units = ["t-bad.service"]
    wanted = {("t-bad.service", "bad-start")}
    with Client(socket, timeout=60) as watcher, Client(socket, timeout=60) as client:
        events = watcher.stream(f"{manager}.Subscribe", {"units": units, "logs": True})
        next(events)  # subscribed: nothing after this point is missed
        failed = (
            client.call(
                f"{manager}.GetProperties",
                {"name": "t-bad.service", "properties": ["ActiveState"]},
            )["properties"]["ActiveState"]
            == "failed"
        )
        for unit in units:
            log = client.call(f"{manager}.GetStatus", {"name": unit, "lines": 10})["log"]
            wanted -= {(unit, e["message"]) for e in log}
        while not (failed and wanted == set()):
            event = next(events)
            if event.get("event") == "log":
                wanted.discard((event["log"]["unit"], event["log"]["message"]))
            change = event.get("unit")
            if change and change["unit"] == "t-bad.service" and change["new_state"] == "failed":
                failed = True


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_bootup_prints_what_systemctl_prints(
    command: Command, bootup_outputs: dict[str, Output]
) -> None:
    expected = load_golden()[command.name]
    got = bootup_outputs[command.name]
    assert got.returncode == expected.returncode, got.stderr
    assert got.stdout == expected.stdout
    if not command.colour:
        assert got.stderr == expected.stderr
