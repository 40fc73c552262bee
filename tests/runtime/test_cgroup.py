# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""KillMode=control-group through a cgroup v2 subtree: what process groups cannot track.

A daemon child that calls ``setsid()`` and starts over with an empty environment leaves
both the unit's process group and its ``INVOCATION_ID=`` behind; only the cgroup it was
born in still holds it. These tests run a real ``bootup up`` and need a writable cgroup v2
hierarchy below the test's own cgroup (skipped otherwise).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.runtime.journal import JournalReader
from bootup.runtime.process import CgroupTree
from bootup.runtime.project import write_units

BOOTUP = [sys.executable, "-m", "bootup"]


def _require_cgroups() -> None:
    tree = CgroupTree.create()
    if tree is None:
        pytest.skip(
            "no writable cgroup v2 hierarchy below this process's cgroup "
            "(/proc/self/mountinfo, /proc/self/cgroup): bootup falls back to process groups"
        )
    tree.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _read_until(stream: object, marker: str) -> list[str]:
    lines: list[str] = []
    assert hasattr(stream, "readline")
    while True:
        line = stream.readline()
        assert line, f"manager ended before {marker!r}: {lines}"
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines


@pytest.mark.parametrize("kill_mode", ["control-group", "mixed"])
def test_a_child_that_escapes_session_and_environment_is_killed_at_stop(
    tmp_path: Path, kill_mode: str
) -> None:
    _require_cgroups()
    pidfile = tmp_path / "escaped.pid"
    go = tmp_path / "go"
    os.mkfifo(go)
    script = tmp_path / "escape.sh"
    # Once told to (the manager has moved the main process into the unit's cgroup by then;
    # a fork at the script's very first line can race that move, see _move_to_cgroup),
    # the inner sh runs in a new session with an empty environment, then sleeps.
    script.write_text(
        f"read go < {go}\n"
        "setsid env -i /bin/sh -c "
        f"'echo $$ > {pidfile}; echo escaped-ready; exec sleep 300' &\nwait\n"
    )
    units = write_units(
        tmp_path / "units",
        {
            "escape.service": (
                "[Unit]\nDescription=Escaping daemon\n[Service]\n"
                f"KillMode={kill_mode}\nExecStart=/bin/sh {script}\n"
            ),
            "multi-user.target": "[Unit]\nDescription=Everything\nWants=escape.service\nAfter=escape.service\n",
        },
    )
    manager = subprocess.Popen(
        [*BOOTUP, "up", str(units)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    escaped: int | None = None
    try:
        assert manager.stdout is not None
        _read_until(manager.stdout, "supervising")
        go.write_text("go\n")
        # Follow the journal (event-driven) until the escaped process has announced itself.
        reader = JournalReader(units / ".bootup" / "journal.db")
        try:
            reader.wait_for_change(0)
            messages = [e.message for e in reader.query()]
            while "escaped-ready" not in messages:
                assert reader.wait_for_change(60), f"escaped-ready never logged: {messages}"
                messages = [e.message for e in reader.query()]
        finally:
            reader.close()
        escaped = int(pidfile.read_text())
        environ = Path(f"/proc/{escaped}/environ").read_bytes()
        assert b"INVOCATION_ID=" not in environ  # today's marker is gone ...
        assert os.getpgid(escaped) == escaped  # ... and so is the process group
        tracking = [m for m in messages if m.startswith("Tracking unit processes in cgroup v2")]
        assert tracking, messages
        subtree = tracking[0].removeprefix("Tracking unit processes in cgroup v2 subtree ")
        subtree = subtree.removesuffix(".")
        cgroup = Path(f"/proc/{escaped}/cgroup").read_text()
        assert "/escape.service-" in cgroup, cgroup
        manager.send_signal(signal.SIGTERM)
        assert manager.wait(timeout=120) == 0
        assert not _alive(escaped), f"pid {escaped} survived the stop"
        assert not os.path.exists(subtree), f"{subtree} was not removed"
    finally:
        if manager.poll() is None:
            manager.kill()
            manager.wait(timeout=60)
        if escaped is not None and _alive(escaped):
            os.kill(escaped, signal.SIGKILL)
            pidfd = os.pidfd_open(escaped)
            select.select([pidfd], [], [], 60)
            os.close(pidfd)
        for stream in (manager.stdout, manager.stderr):
            if stream is not None:
                stream.close()
