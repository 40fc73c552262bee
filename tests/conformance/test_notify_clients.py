"""Real sd_notify clients against NotifyServer: systemd-notify, sdnotify, systemd-python.

Each client runs in a real child process with ``NOTIFY_SOCKET`` set, as a service would.
The server must take what these clients actually send, including ``systemd-notify``'s
``BARRIER=1`` with an fd, which the client waits on until the server closes it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import pytest

import support
from bootup.runtime.notify import NotifyMessage, NotifyServer

pytestmark = pytest.mark.conformance


async def _serve_one_client(
    path: Path, argv: list[str], expected: int
) -> tuple[list[NotifyMessage], int, int]:
    """Run ``argv`` against a server at ``path``; return the messages, exit code and pid."""
    queue: asyncio.Queue[NotifyMessage] = asyncio.Queue()
    async with NotifyServer(path, queue.put_nowait) as server:
        env = dict(os.environ, NOTIFY_SOCKET=server.address)
        process = await asyncio.create_subprocess_exec(*argv, env=env)
        messages = [await asyncio.wait_for(queue.get(), 60) for _ in range(expected)]
        code = await asyncio.wait_for(process.wait(), 60)
        assert queue.empty()
    return messages, code, process.pid


@pytest.mark.parametrize("address", ["file", "abstract"])
def test_systemd_notify_ready_status(tmp_path: Path, address: str) -> None:
    tool = support.require_tool("systemd-notify", package="systemd")
    path = tmp_path / "notify" if address == "file" else Path(f"@bootup-sdn-{os.getpid()}")
    messages, code, child = asyncio.run(
        _serve_one_client(path, [tool, "--ready", "--status=up and running"], expected=2)
    )
    assert code == 0, "systemd-notify exits 0 once the barrier fd is closed"
    first, barrier = messages
    assert first.fields == {"READY": "1", "STATUS": "up and running"}
    # As root, systemd-notify sends its parent's pid (the "service"); otherwise its own.
    assert first.pid in {os.getpid(), child}
    assert barrier.fields == {"BARRIER": "1"}
    assert barrier.fds == 1


def test_systemd_notify_mainpid(tmp_path: Path) -> None:
    tool = support.require_tool("systemd-notify", package="systemd")
    messages, code, child = asyncio.run(
        _serve_one_client(tmp_path / "n", [tool, "--ready", "--pid=4242"], expected=2)
    )
    assert code == 0
    assert messages[0].fields == {"READY": "1", "MAINPID": "4242"}
    assert messages[0].pid in {os.getpid(), child}


def test_systemd_notify_run_by_the_service_itself(tmp_path: Path) -> None:
    """A shell service that calls systemd-notify: the message names the shell's pid."""
    tool = support.require_tool("systemd-notify", package="systemd")
    script = f'{tool} --status="pid $$" && {tool} --ready'
    messages, code, shell = asyncio.run(
        _serve_one_client(tmp_path / "n", ["/bin/sh", "-c", script], expected=4)
    )
    assert code == 0
    payloads = [m.fields for m in messages if "BARRIER" not in m.fields]
    assert payloads == [{"STATUS": f"pid {shell}"}, {"READY": "1"}]
    if os.getuid() == 0:  # root may send its parent's credentials; others send their own
        assert [m.pid for m in messages if "BARRIER" not in m.fields] == [shell, shell]


def _python_client(tmp_path: Path, module: str, code: str) -> list[NotifyMessage]:
    if importlib.util.find_spec(module.split(".", maxsplit=1)[0]) is None:
        if support.IN_CI:
            pytest.fail(f"{module} is not installed; the dev extra should provide it")
        pytest.skip(f"{module} is not installed (pip install the dev extra)")
    messages, exit_code, child = asyncio.run(
        _serve_one_client(tmp_path / "n", [sys.executable, "-c", code], expected=1)
    )
    assert exit_code == 0
    assert messages[0].pid == child, "a library sends with its own process's credentials"
    return messages


def test_sdnotify_package(tmp_path: Path) -> None:
    code = (
        "import sdnotify\n"
        "n = sdnotify.SystemdNotifier(debug=True)\n"
        "n.notify('READY=1\\nSTATUS=from sdnotify')\n"
    )
    messages = _python_client(tmp_path, "sdnotify", code)
    assert messages[0].fields == {"READY": "1", "STATUS": "from sdnotify"}


def test_systemd_python_daemon_notify(tmp_path: Path) -> None:
    code = (
        "from systemd import daemon\n"
        "assert daemon.notify('READY=1\\nSTATUS=from systemd-python\\nMAINPID=7'), 'not sent'\n"
    )
    messages = _python_client(tmp_path, "systemd.daemon", code)
    assert messages[0].fields == {"READY": "1", "STATUS": "from systemd-python", "MAINPID": "7"}
