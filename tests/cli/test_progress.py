"""The client's spinner: systemd's "A start job is running for ..." line, only on a terminal.

The frames are stepped by hand (an injected clock and job source); the end-to-end tests run
a real client in a real pseudo-terminal (and, for contrast, on a pipe) against a real
manager whose notify service becomes ready only when the test writes to a FIFO.
"""

from __future__ import annotations

import argparse
import io
import os
import pty
import select
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootup.cli._progress import Progress, RunningJob, cylon, job_progress, progress_line
from control.manager_proc import SRC, RunningManager, spawn, write_project

SLOW = RunningJob(7, "start", "Slow service", 90.0)


def test_cylon_moves_like_systemds() -> None:
    frames = [cylon(p, colour=False) for p in range(8)]
    assert frames == [
        "*     ",
        "**    ",
        "***   ",
        " ***  ",
        "  *** ",
        "   ***",
        "    **",
        "     *",
    ]
    assert cylon(3, colour=True) == " \x1b[0;31m*\x1b[0;1;31m*\x1b[0m\x1b[0;31m*  \x1b[0m"


def test_line_text() -> None:
    assert progress_line(3, SLOW, 3.7, index=1, count=1, colour=False) == (
        "[ ***  ] A start job is running for Slow service (3s / 1min 30s)"
    )
    endless = RunningJob(8, "stop", "Web", None)
    assert progress_line(9, endless, 0.2, index=2, count=3, colour=False) == (
        "[   ***] (2 of 3) A stop job is running for Web (0 / no limit)"
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_frames_are_stepped_by_the_injected_clock() -> None:
    out = io.StringIO()
    clock = _Clock()
    jobs = [SLOW, RunningJob(9, "start", "Other", None)]
    progress = Progress(out, lambda: list(jobs), clock=clock, colour=False)
    progress.tick()
    clock.now += 61
    progress.tick()
    progress.tick()
    progress.tick()  # the fourth frame shows the second job
    frames = out.getvalue().split("\r")[1:]
    assert (
        frames[0]
        == "[*     ] (1 of 2) A start job is running for Slow service (0 / 1min 30s)\x1b[K"
    )
    assert frames[1] == (
        "[**    ] (1 of 2) A start job is running for Slow service (1min 1s / 1min 30s)\x1b[K"
    )
    assert (
        frames[3] == "[ ***  ] (2 of 2) A start job is running for Other (1min 1s / no limit)\x1b[K"
    )
    jobs.clear()
    progress.tick()  # nothing runs any more: the line is erased
    assert out.getvalue().endswith("\r\x1b[K")
    assert not progress.shown


def test_no_terminal_no_connection_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a pipe the context manager neither draws nor connects; on a terminal it connects."""
    path = tmp_path / "control.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    listener.setblocking(False)
    monkeypatch.setenv("BOOTUP_CONTROL_SOCKET", str(path))
    args = argparse.Namespace(no_block=False)
    out = io.StringIO()
    try:
        with job_progress(args, ["x.service"], stream=out):
            pass
        assert out.getvalue() == ""
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
        master, slave = pty.openpty()
        try:
            with os.fdopen(slave, "w", closefd=False) as terminal:
                assert terminal.isatty()
                with job_progress(args, ["x.service"], stream=terminal):
                    accepted, _ = _accept(listener)
                    accepted.close()
        finally:
            os.close(slave)
            os.close(master)
    finally:
        listener.close()


def _accept(listener: socket.socket) -> tuple[socket.socket, object]:
    ready, _, _ = select.select([listener], [], [], 30)
    assert ready, "the spinner never connected although stderr is a terminal"
    return listener.accept()


# --- end to end --------------------------------------------------------------------------

_NOTIFY = """\
import os, signal, socket, sys
with open(sys.argv[1]) as fifo:  # blocks until the test opens the FIFO for writing
    fifo.readline()
path = os.environ["NOTIFY_SOCKET"]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.sendto(b"READY=1", "\\0" + path[1:] if path.startswith("@") else path)
signal.pause()
"""

_DRIVER = """\
import argparse, sys
from bootup.cli._progress import job_progress
from bootup.control.client import Client
from bootup.control.address import find_socket
args = argparse.Namespace(no_block=False, project=sys.argv[1], system=False)
with Client(find_socket(project=sys.argv[1]), timeout=None) as client:
    with job_progress(args, ["slow.service"]):
        reply = client.call(
            "io.bootup.Manager.EnqueueJob", {"unit": "slow.service", "type": "start"}
        )
print("RESULT", reply["result"], file=sys.stderr)
"""


@pytest.fixture
def slow_project(tmp_path: Path) -> Iterator[tuple[RunningManager, Path]]:
    """A manager with slow.service, a notify service that waits for a line on a FIFO."""
    fifo = tmp_path / "ready.fifo"
    os.mkfifo(fifo)
    script = tmp_path / "slow.py"
    script.write_text(_NOTIFY)
    project = write_project(
        tmp_path / "project",
        {
            "slow.service": textwrap.dedent(
                f"""\
                [Unit]
                Description=Slow service
                [Service]
                Type=notify
                ExecStart={sys.executable} {script} {fifo}
                TimeoutStartSec=90
                """
            ),
        },
    )
    manager = spawn(project)
    try:
        yield manager, fifo
    finally:
        manager.stop()


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("BOOTUP_CONTROL_SOCKET", None)
    return env


def _read_until(master: int, needle: bytes, seen: bytearray, timeout: float = 60) -> None:
    """Read the pty until ``needle`` shows up (woken by select, bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} never appeared; got {bytes(seen)!r}"
        ready, _, _ = select.select([master], [], [], remaining)
        if ready:
            chunk = _read(master)
            assert chunk, f"the terminal closed before {needle!r}; got {bytes(seen)!r}"
            seen += chunk


def _read(master: int) -> bytes:
    try:
        return os.read(master, 65536)
    except OSError:  # EIO: every process closed the terminal
        return b""


def _read_to_end(master: int, seen: bytearray) -> None:
    """Read until the child closed the terminal (it exited)."""
    while chunk := _read(master):
        seen += chunk


def _release(fifo: Path) -> None:
    """Let slow.service get ready; returns once its process opened the FIFO (job running)."""
    with open(fifo, "w") as f:  # blocks until the service opens the FIFO for reading
        f.write("go\n")


def _start_on_pty(argv: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=_env())
    os.close(slave)
    return proc, master


@pytest.mark.slow
def test_spinner_on_a_terminal_and_nothing_on_a_pipe(
    slow_project: tuple[RunningManager, Path],
) -> None:
    """Two clients wait for the same start job: one on a terminal, one on pipes.

    The piped client starts first, so by the time the terminal shows its first frame (two
    seconds into its wait) the piped one has waited longer still; then the job is released
    and both must end: the terminal with the line erased, the pipes without any escape.
    """
    manager, fifo = slow_project
    argv = [sys.executable, "-c", _DRIVER, str(manager.directory)]
    piped = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_env(),
    )  # fmt: skip
    terminal, master = _start_on_pty(argv)
    seen = bytearray()
    try:
        _read_until(master, b"A start job is running for Slow service", seen)
        _read_until(master, b"/ 1min 30s)", seen)
        _release(fifo)
        _read_to_end(master, seen)
        assert terminal.wait(timeout=60) == 0, bytes(seen)
        stdout, stderr = piped.communicate(timeout=60)
    finally:
        for proc in (terminal, piped):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        os.close(master)
    output = bytes(seen)
    assert b"\x1b[0;31m*" in output  # the red cylon
    assert b"\r\x1b[KRESULT done" in output  # erased before the client's own output
    assert piped.returncode == 0, stderr
    assert stderr == b"RESULT done\n"
    assert stdout == b""


@pytest.mark.slow
def test_bootup_start_shows_the_spinner(slow_project: tuple[RunningManager, Path]) -> None:
    ctl = Path(SRC) / "bootup" / "cli" / "commands" / "ctl.py"
    if "job_progress" not in ctl.read_text():
        pytest.skip("ctl.py's _job_verb does not use job_progress yet (the lead's patch)")
    manager, fifo = slow_project
    argv = [sys.executable, "-m", "bootup", "start", "--project", str(manager.directory), "slow"]
    proc, master = _start_on_pty(argv)
    seen = bytearray()
    try:
        _read_until(master, b"A start job is running for Slow service", seen)
        _release(fifo)
        _read_to_end(master, seen)
        assert proc.wait(timeout=60) == 0, bytes(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert bytes(seen).endswith(b"\r\x1b[K")
