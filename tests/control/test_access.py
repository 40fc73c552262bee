"""Access control: socket modes, and SO_PEERCRED checks against a process of another user."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import support
from bootup.control.access import AccessPolicy, Peer
from bootup.control.client import Client
from bootup.control.errors import PermissionDeniedError
from control.manager_proc import SRC, RunningManager, spawn, write_project

M = "io.bootup.Manager"
NOBODY = 65534

#: Runs as nobody with the system's Python (the venv lives under /root, which nobody cannot
#: enter); the client needs only the standard library.
CLIENT = """
import json, sys
from bootup.control.client import Client
from bootup.control.errors import CallError, ConnectError
out = {}
try:
    with Client(sys.argv[1], timeout=60) as c:
        out["units"] = len(c.call("io.bootup.Manager.ListUnits")["units"])
        try:
            c.call("io.bootup.Manager.EnqueueJob", {"unit": "once.service", "type": "start"})
            out["start"] = "allowed"
        except CallError as exc:
            out["start"] = [exc.name, str(exc)]
        try:
            c.call("io.bootup.Manager.Exit", {"exit_code": 9})
            out["exit"] = "allowed"
        except CallError as exc:
            out["exit"] = exc.name
except (CallError, ConnectError) as exc:
    out["error"] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


def _as_nobody(socket_path: Path) -> dict[str, object]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    python = support.require_tool("python3", package="python3")
    if not python.startswith(("/usr/", "/bin/")):
        python = shutil.which("python3", path="/usr/bin:/bin") or python
    done = subprocess.run(
        [python, "-c", CLIENT, str(socket_path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A project directory every user may traverse (pytest's tmp_path is root-only)."""
    directory = Path(tempfile.mkdtemp(prefix="bootup-access-", dir="/tmp"))
    directory.chmod(0o755)
    try:
        yield write_project(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _once_state(manager: RunningManager) -> str:
    with Client(manager.socket) as client:
        props = client.call(f"{M}.GetProperties", {"name": "once.service"})["properties"]
        return str(props["ExecMainPID"])


def test_other_user_may_read_but_not_change_state(open_dir: Path) -> None:
    manager = spawn(open_dir, readers="all")
    try:
        assert stat.S_IMODE(manager.socket.stat().st_mode) == 0o666
        outcome = _as_nobody(manager.socket)
        assert isinstance(outcome["units"], int)
        assert outcome["units"] > 0
        start = outcome["start"]
        assert isinstance(start, list)
        name, message = str(start[0]), str(start[1])
        assert name == f"{M}.PermissionDenied"
        assert "Access denied: io.bootup.Manager.EnqueueJob changes the manager's state" in message
        assert f"uid {NOBODY}" in message
        assert outcome["exit"] == f"{M}.PermissionDenied"
        # The manager is unharmed: once.service never ran, the owner can still start it.
        assert _once_state(manager) == "0"
        assert manager.process.poll() is None
        with Client(manager.socket) as client:
            reply = client.call(f"{M}.EnqueueJob", {"unit": "once.service", "type": "start"})
            assert reply["result"] == "done"
        assert _once_state(manager) != "0"
    finally:
        assert manager.stop() == 0


def test_by_default_other_users_cannot_even_connect(open_dir: Path) -> None:
    manager = spawn(open_dir)
    try:
        assert stat.S_IMODE(manager.socket.stat().st_mode) == 0o600
        outcome = _as_nobody(manager.socket)
        assert outcome["error"] == [
            "ConnectError",
            f"cannot connect to the bootup manager at {manager.socket}: Permission denied",
        ]
        assert manager.process.poll() is None
    finally:
        assert manager.stop() == 0


@pytest.mark.parametrize(
    ("readers", "uid", "changes_state", "allowed"),
    [
        ("owner", 1000, True, True),
        ("owner", 0, True, True),
        ("owner", 1001, False, False),
        ("all", 1001, False, True),
        ("all", 1001, True, False),
        ("all", 0, True, True),
    ],
)
def test_policy_table(readers: str, uid: int, changes_state: bool, allowed: bool) -> None:
    policy = AccessPolicy(1000, "all" if readers == "all" else "owner")
    peer = Peer(pid=1, uid=uid, gid=uid)
    assert policy.allows(peer, changes_state=changes_state) is allowed
    if not allowed:
        with pytest.raises(PermissionDeniedError, match=f"uid {uid} may not do"):
            policy.check("io.bootup.Manager.X", peer, changes_state=changes_state)
