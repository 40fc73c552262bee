"""A real project manager with its control socket, run as a separate process by the tests.

The manager reaps every child with ``waitpid(-1)``, so it cannot share a process with a
test that runs subprocesses; this script gives each test its own manager process. It prints
``READY <socket>`` once the socket listens and the start job finished, and exits on SIGTERM
or on a Varlink ``Exit`` call (with that exit code).

Usage: python manager_proc.py DIR [--readers owner|all] [--unit default.target]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bootup.control.address import project_socket
from bootup.control.server import serve
from bootup.runtime.project import project_manager, write_units

SCRIPT = Path(__file__).resolve()

#: A project: a long-running service pulled in by multi-user.target, one that fails and a
#: oneshot, and a notify service that never gets ready; only web.service starts at boot.
UNITS: dict[str, str] = {
    "web.service": "[Unit]\nDescription=Web server\n[Service]\nExecStart=/bin/sleep 600\n",
    "bad.service": "[Unit]\nDescription=Broken\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "once.service": "[Service]\nType=oneshot\nExecStart=/bin/echo hello-from-once\n",
    "slow.service": (
        "[Service]\nType=notify\nExecStart=/bin/sleep 600\nTimeoutStartSec=infinity\n"
    ),
    "multi-user.target.wants/web.service": "-> ../web.service",
}


def write_project(directory: Path, units: dict[str, str] | None = None) -> Path:
    """Write ``units`` (default :data:`UNITS`) into ``directory``; return it."""
    write_units(directory, units or UNITS)
    return directory


SRC = SCRIPT.parents[2] / "src"


@dataclass
class RunningManager:
    """A manager process started by :func:`spawn`; ``stop()`` ends it and returns its code."""

    process: subprocess.Popen[str]
    directory: Path
    socket: Path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
        return code


def spawn(
    directory: Path, *, readers: str = "owner", unit: str = "default.target"
) -> RunningManager:
    """Start a manager on ``directory`` and return once it serves and ``unit`` started."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(directory), "--readers", readers, "--unit", unit],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until READY (or EOF if the manager died)
    if not line.startswith("READY "):
        process.kill()
        process.wait()
        raise RuntimeError(f"manager did not start (exit {process.returncode}): {line!r}")
    return RunningManager(process, directory, Path(line.split(" ", 1)[1].strip()))


async def main(directory: str, readers: str, unit: str) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    code = 0

    def on_exit(exit_code: int) -> None:
        nonlocal code
        code = exit_code
        loop.call_soon(stop.set)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with project_manager(directory) as manager:
        assert readers in ("owner", "all")
        server = await serve(
            manager,
            project_socket(directory),
            readers="all" if readers == "all" else "owner",
            on_exit=on_exit,
        )
        try:
            await manager.start_unit(unit)
            print(f"READY {server.path}", flush=True)
            await stop.wait()
        finally:
            await server.close()
            await manager.shutdown()
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--readers", default="owner", choices=("owner", "all"))
    parser.add_argument("--unit", default="default.target")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.directory, args.readers, args.unit)))


def run_bootup(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bootup ARGS`` as a user would, finding managers on its own.

    ``BOOTUP_CONTROL_SOCKET`` is removed from the environment (unless ``env`` sets it), so
    the socket is found through ``--project``, the working directory or ``--system``.
    """
    environment = dict(os.environ, PYTHONPATH=str(SRC))
    environment.pop("BOOTUP_CONTROL_SOCKET", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bootup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=environment,
    )
