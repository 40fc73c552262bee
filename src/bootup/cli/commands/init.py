"""``bootup init``: run the system manager, as a container's (or a machine's) PID 1.

What it does is described in :mod:`bootup.runtime.system`: the system unit search path,
state and the 0600 root-owned control socket in /run/bootup, the journal, the init
signals, orphan reaping, ordered shutdown and the exit code. It refuses to run beside the
machine's own init (not PID 1, in the initial PID namespace); in a container it may run
under another init (tini as PID 1, bootup as its child). This module only parses the
command line the way systemd does as PID 1 (``--unit=``, and the words the kernel passes
on from its command line: ``systemd.unit=X``, ``single``/``s``/``S``/``1``, ``2``-``5``,
``emergency``), prints the console lines, and serves the control socket.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bootup.control.server import ControlServer
    from bootup.runtime.manager import Manager
    from bootup.runtime.system import SystemSupervisor

__all__ = ("register", "unit_from_words")

#: Kernel command-line words systemd reads as the unit to start (src/core/main.c).
_RUNLEVEL_WORDS = {
    "single": "rescue.target",
    "s": "rescue.target",
    "S": "rescue.target",
    "1": "rescue.target",
    "2": "runlevel2.target",
    "3": "runlevel3.target",
    "4": "runlevel4.target",
    "5": "runlevel5.target",
    "emergency": "emergency.target",
}


def register(subparsers: Any) -> None:
    """Add ``init``."""
    parser = subparsers.add_parser(
        "init",
        help="run the system manager (PID 1 of a machine or container)",
        description=(
            "Start default.target (or --unit, or systemd.unit= / a runlevel word) on the "
            "system unit search path, supervise as PID 1 (reaping every orphan), serve "
            "/run/bootup/control.sock, and shut down in order on SIGRTMIN+3/4/5, SIGINT "
            "or SIGTERM."
        ),
    )
    parser.add_argument("--unit", default=None, help="the unit to start instead of default.target")
    parser.add_argument("--system", action="store_true", help="accepted (always system mode)")
    parser.add_argument("--no-color", action="store_true", help="never colour the output")
    parser.add_argument(
        "words",
        nargs="*",
        metavar="WORD",
        help="kernel command-line words: systemd.unit=X, single, 1-5, emergency (others ignored)",
    )
    parser.set_defaults(handler=_run)


def unit_from_words(words: list[str], unit: str | None) -> str:
    """The unit to start: ``--unit``, else the last ``systemd.unit=``, else a runlevel word.

    As in systemd's main.c, ``systemd.unit=`` overrides a runlevel word, and ``--unit``
    (parsed from argv after the kernel command line) overrides both.
    """
    if unit:
        return unit
    chosen: str | None = None
    from_runlevel: str | None = None
    for word in words:
        if word.startswith("systemd.unit="):
            chosen = word.split("=", 1)[1]
        elif word in _RUNLEVEL_WORDS:
            from_runlevel = _RUNLEVEL_WORDS[word]
    return chosen or from_runlevel or "default.target"


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import sys

    from bootup.errors import ManagerError

    if os.geteuid() != 0:
        raise ManagerError(
            "bootup init runs the system manager, which needs root (it owns /run/bootup and "
            f"its 0600 control socket); this process runs as uid {os.geteuid()}"
        )
    from bootup.runtime.system import in_initial_pid_namespace

    if os.getpid() != 1 and in_initial_pid_namespace():
        # The machine has its own init; starting default.target of /lib/systemd/system
        # beside it would fight it for every service. Under a container's init (tini,
        # docker --init) bootup runs as PID 2 or so in the container's namespace: allowed.
        raise ManagerError(
            f"bootup init is not PID 1 (pid {os.getpid()}) and runs in the machine's own PID "
            "namespace, where another init manages the system; refusing. Run it as a "
            "container's init, e.g. unshare --pid --fork --mount --mount-proc bootup init"
        )
    colour = sys.stdout.isatty() and not args.no_color
    return asyncio.run(run_init(unit_from_words(args.words, args.unit), colour=colour))


def _pretty_name() -> str:
    """PRETTY_NAME of /etc/os-release, as systemd's "Welcome to ...!" line shows it."""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip().strip("\"'")
    except OSError:
        pass
    return "Linux"


async def run_init(unit: str = "default.target", *, colour: bool = False) -> int:
    """Run the system manager until a shutdown request; return the exit code."""
    import asyncio
    import sys
    import time

    from bootup import __version__
    from bootup.analyze.timing import format_timespan
    from bootup.runtime.console import Console
    from bootup.runtime.states import JobResult
    from bootup.runtime.system import SystemDir, SystemSupervisor, system_manager

    began = time.monotonic()

    def say(line: str) -> None:
        print(line, flush=True)

    say(f"bootup {__version__} running in system mode.")
    say(f"Welcome to {_pretty_name()}!")
    console = Console(sys.stdout, colour=colour)
    loop = asyncio.get_running_loop()
    system = SystemDir()
    async with system_manager(system) as manager:
        supervisor = SystemSupervisor(manager, system, say)
        supervisor.install()
        try:
            manager.subscribe(lambda event: loop.call_soon(console.handle, event))
            server = await _serve_control(manager, supervisor)
            start = asyncio.ensure_future(manager.start_unit(unit))
            requested = asyncio.ensure_future(supervisor.wait())
            await asyncio.wait({start, requested}, return_when=asyncio.FIRST_COMPLETED)
            if start.done() and not start.cancelled() and start.exception() is None:
                result = start.result()
                supervisor.update_runlevel()
                if result is JobResult.DONE:
                    elapsed = format_timespan(int((time.monotonic() - began) * 1_000_000))
                    manager.log(None, f"Startup finished in {elapsed}.")
                    say(f"Startup finished in {elapsed}.")
                else:
                    message = f"Failed to start {unit} ({result.value}); still supervising."
                    manager.log(None, message, priority=3)
                    say(message)
            elif start.done() and not start.cancelled():
                message = f"Failed to start {unit}: {start.exception()}"
                manager.log(None, message, priority=3)
                say(message)
            await requested
            if not start.done():
                start.cancel()
            code = await supervisor.finish()
            if server is not None:
                await server.close()
        finally:
            supervisor.uninstall()
    return code


async def _serve_control(manager: Manager, supervisor: SystemSupervisor) -> ControlServer | None:
    """Serve /run/bootup/control.sock (0600, root's); ``Exit`` is ``systemctl exit``."""
    import sys

    from bootup.control.server import serve
    from bootup.errors import Error

    try:
        return await serve(manager, supervisor.system.socket_path, on_exit=supervisor.exit)
    except (Error, OSError) as exc:
        print(f"bootup: control socket unavailable, continuing without it: {exc}", file=sys.stderr)
        return None
