"""reset-failed, NeedDaemonReload= and daemon-reload compared with real systemd 252 as PID 1.

The same unit set boots under systemd (a PID namespace, tests/systemd_pid1.py) and under a
bootup project manager (tests/control/manager_proc.py). Both then get the same edits (a
fragment touched, a drop-in added, the file of a running unit removed), ``reset-failed``,
``daemon-reload`` and a stop; after each step ``systemctl show`` and ``bootup show`` must
print the same values for the properties below.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootup.control.client import Client
from control.manager_proc import RunningManager, spawn
from control.manager_proc import run_bootup as _bootup
from systemd_pid1 import SystemdPid1

pytestmark = [pytest.mark.slow]

M = "io.bootup.Manager"

PROPS = (
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "NeedDaemonReload",
    "UnitFileState",
    "UnitFilePreset",
    "NRestarts",
)
SERVICES = ("web.service", "bad.service", "edit.service", "rungone.service", "flaky.service")
UNITS = {
    "web.service": "[Unit]\nDescription=Web\n[Service]\nExecStart=/bin/sleep 600\n",
    "bad.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "edit.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    "rungone.service": "[Service]\nExecStart=/bin/sleep 600\n",
    # Fails, is restarted, and hits its start limit: reset-failed must clear NRestarts= too.
    "flaky.service": (
        "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=1h\n"
        "[Service]\nExecStart=/bin/false\nRestart=always\nRestartSec=0\n"
    ),
}


def _write(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for stub in ("sysinit", "basic", "shutdown", "sockets", "timers", "paths", "slices"):
        (directory / f"{stub}.target").write_text(f"[Unit]\nDescription={stub}\n")
    wants = " ".join(SERVICES)
    (directory / "multi-user.target").write_text(
        f"[Unit]\nRequires=basic.target\nAfter=basic.target\nWants={wants}\n"
    )
    (directory / "default.target").symlink_to("multi-user.target")
    for name, text in UNITS.items():
        (directory / name).write_text(text)
    (directory / "bad.service.d").mkdir()
    (directory / "bad.service.d" / "a.conf").write_text("[Unit]\nDocumentation=man:bad(8)\n")
    return directory


def _edit(directory: Path) -> None:
    """The same edits for both managers: nothing here is read before a daemon-reload."""
    st = (directory / "edit.service").stat()
    os.utime(directory / "edit.service", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    # A drop-in in a directory that existed, and one in a new directory (which 252 does
    # not notice before a reload: its unit path cache lists the directories there were).
    (directory / "bad.service.d" / "b.conf").write_text("[Unit]\nDescription=Bad 2\n")
    (directory / "web.service.d").mkdir()
    (directory / "web.service.d" / "desc.conf").write_text("[Unit]\nDescription=Web 2\n")
    (directory / "rungone.service").unlink()


class Pair:
    """The two managers, driven step by step with the same verbs."""

    def __init__(self, judge: SystemdPid1, ours: RunningManager) -> None:
        self.judge = judge
        self.ours = ours

    def systemctl(self, *args: str) -> None:
        done = self.judge.systemctl(*args)
        assert done.returncode == 0, done.stderr
        mine = _bootup(args[0], "--project", str(self.ours.directory), *args[1:])
        assert mine.returncode == 0, mine.stderr

    def compare(self, units: tuple[str, ...] = SERVICES, props: tuple[str, ...] = PROPS) -> None:
        expected = self.judge.show(units, props)
        done = _bootup("show", "--project", str(self.ours.directory), "-p", ",".join(props), *units)
        assert done.returncode == 0, done.stderr
        blocks = [b for b in done.stdout.split("\n\n") if b.strip()]
        got = {
            unit: dict(line.split("=", 1) for line in block.splitlines())
            for unit, block in zip(units, blocks, strict=True)
        }
        assert got == expected, f"{got}\n{expected}"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    judge_units = _write(tmp_path / "judge-units")
    ours = spawn(_write(tmp_path / "project"), unit="multi-user.target")
    try:
        with SystemdPid1(judge_units, "multi-user.target", workdir=tmp_path / "judge") as judge:
            yield Pair(judge, ours)
    finally:
        ours.stop()


def _wait_for_flaky_to_give_up(pair: Pair) -> None:
    pair.judge.wait_for(r"flaky\.service: Start request repeated too quickly")
    with Client(pair.ours.socket) as client, Client(pair.ours.socket) as watcher:
        events = watcher.stream(f"{M}.Subscribe", {"units": ["flaky.service"]})
        next(events)  # subscribed: no later change is missed
        query = {"name": "flaky.service", "properties": ["ActiveState"]}
        if client.call(f"{M}.GetProperties", query)["properties"]["ActiveState"] == "failed":
            return
        for event in events:
            change = event.get("unit")
            if change and change["new_state"] == "failed":
                return


def test_edit_reset_failed_reload_and_stop_as_systemd(pair: Pair) -> None:
    _wait_for_flaky_to_give_up(pair)
    pair.compare()  # after the boot: bad.service and flaky.service failed, the others active
    assert pair.judge.show(["bad.service"], ["ActiveState"])["bad.service"] == {
        "ActiveState": "failed"
    }
    _edit(pair.judge.unit_dir)
    _edit(pair.ours.directory)
    pair.compare()  # NeedDaemonReload=yes where a file changed, before any reload
    assert pair.judge.show(SERVICES, ["NeedDaemonReload"]) == {
        "web.service": {"NeedDaemonReload": "no"},
        "bad.service": {"NeedDaemonReload": "yes"},
        "edit.service": {"NeedDaemonReload": "yes"},
        "rungone.service": {"NeedDaemonReload": "yes"},
        "flaky.service": {"NeedDaemonReload": "no"},
    }
    for verb in ("restart", "status"):  # both warn that edit.service changed on disk
        theirs = pair.judge.systemctl(verb, "edit.service")
        ours = _bootup(verb, "--project", str(pair.ours.directory), "edit.service")
        assert "changed on disk" in theirs.stderr
        assert ours.stderr == theirs.stderr.replace("systemctl", "bootup")
        assert ours.returncode == theirs.returncode == 0
    pair.systemctl("reset-failed", "bad.service")
    pair.compare(("bad.service",))
    pair.systemctl("reset-failed")  # every unit: flaky.service too, NRestarts=0
    pair.systemctl("daemon-reload")
    pair.compare()  # rungone.service: not-found, still running
    pair.compare(("web.service", "bad.service"), ("Description", "NeedDaemonReload"))
    pair.systemctl("stop", "rungone.service")
    pair.compare(("rungone.service",))
