"""``bootup up [DIR]``: bring a project's units up and supervise them in the foreground.

Unprivileged project mode: only DIR's unit files (plus the special targets a project gets),
runtime state in ``DIR/.bootup/`` (journal, notify socket, lock). Prints systemd's console
lines as jobs run, stays in the foreground, and on Ctrl-C or SIGTERM stops everything in
reverse order within the stop timeouts, then exits 0.

``bootup up -d DIR`` starts the same manager in the background (a new session, stdio to
``DIR/.bootup/up.log``, detached so the caller's shell may exit) and returns once the start
job of the default target finished: exit 0 when it was reached, 1 when it failed, naming
the result, the failed units and the log. The readiness signal is an event: the background
manager writes one line to a pipe (``--ready-fd``) when the start job finishes, and the
caller blocks reading it; a manager that dies first closes the pipe, which ends the wait
too. ``bootup exit`` (in DIR, or with ``--project DIR``) stops it cleanly.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    import subprocess
    from pathlib import Path

    from bootup.control.server import ControlServer
    from bootup.runtime.console import Console
    from bootup.runtime.manager import Manager

__all__ = ("register",)


def register(subparsers: Any) -> None:
    """Add ``up``."""
    parser = subparsers.add_parser(
        "up",
        help="start a project's units and supervise them until Ctrl-C",
        description=(
            "Start default.target of the unit files in DIR (default ./units), print the "
            "console status lines, supervise, and stop everything on SIGINT/SIGTERM."
        ),
    )
    parser.add_argument("directory", nargs="?", default="units", metavar="DIR")
    parser.add_argument("--unit", default="default.target", help="the unit to start")
    parser.add_argument("--no-color", action="store_true", help="never colour the output")
    parser.add_argument(
        "--exit-after-start",
        action="store_true",
        help="stop everything and exit once the start job finished (exit 1 if it failed)",
    )
    parser.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run the manager in the background; return once the target is reached (or failed)",
    )
    # Internal: the pipe a detached manager reports its start result on.
    parser.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    if args.detach:
        return detach(args.directory, unit=args.unit)
    colour = sys.stdout.isatty() and not args.no_color
    return asyncio.run(
        run_up(
            args.directory,
            unit=args.unit,
            colour=colour,
            exit_after_start=args.exit_after_start,
            ready_fd=args.ready_fd,
        )
    )


def detach(directory: str, *, unit: str = "default.target") -> int:
    """``up -d``: start the manager in the background, wait for its start job's result.

    Raises:
        ProjectLockedError: a manager already runs on DIR (checked before starting one;
            a race with another ``up`` is caught by the background manager's own lock).
    """
    import fcntl
    import os
    import subprocess
    import sys
    from pathlib import Path

    from bootup.errors import ManagerError
    from bootup.runtime.project import ProjectLockedError

    path = Path(directory).resolve()
    if not path.is_dir():
        raise ManagerError(
            f"{path}: expected a directory of unit files, found "
            + ("a file" if path.exists() else "nothing")
        )
    state = path / ".bootup"
    state.mkdir(exist_ok=True)
    lock = os.open(state / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(lock, 32, 0).decode(errors="replace").strip()
        raise ProjectLockedError(path, holder) from None
    finally:
        os.close(lock)
    log_path = state / "up.log"
    argv = [sys.executable, "-m", "bootup", "up", str(path), "--unit", unit, "--no-color"]
    read_end, write_end = os.pipe()
    try:
        with open(log_path, "ab") as log:
            child = subprocess.Popen(
                [*argv, "--ready-fd", str(write_end)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                start_new_session=True,
            )
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "rb") as ready:
            read_end = -1
            line = ready.readline().decode(errors="replace").strip()  # the event: one line
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    return _report(line, unit, child, log_path)


def _report(line: str, unit: str, child: subprocess.Popen[bytes], log_path: Path) -> int:
    """Print what the background manager said on its ready pipe; return the exit code."""
    import sys

    result, _, failed = line.partition(" ")
    if result == "done":
        print(
            f"bootup: {unit} reached; manager running in the background (pid {child.pid}), "
            f"log {log_path}; 'bootup exit' stops it"
        )
        return 0
    if not result:
        code = child.wait()
        last = _last_line(log_path)
        print(
            f"bootup: the background manager exited with code {code} before {unit} was "
            f"reached: {last}; log {log_path}",
            file=sys.stderr,
        )
        return 1
    culprits = f"; failed units: {failed}" if failed else ""
    print(
        f"bootup: {unit} failed ({result}){culprits}; the manager keeps running in the "
        f"background (pid {child.pid}) for 'bootup status'; log {log_path}; "
        "'bootup exit' stops it",
        file=sys.stderr,
    )
    return 1


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def _signal_ready(fd: int | None, manager: Manager, result: object) -> None:
    """Tell ``up -d`` how the start job ended: ``RESULT [FAILED-UNITS]``, then close."""
    import contextlib
    import os

    from bootup.runtime.states import ActiveState, JobResult

    if fd is None:
        return
    failed = sorted(
        name for name, r in manager.runtimes.items() if r.active_state is ActiveState.FAILED
    )
    word = result.value if isinstance(result, JobResult) else "canceled"
    line = f"{word} {','.join(failed)}".strip() + "\n"
    with contextlib.suppress(OSError):
        os.write(fd, line.encode())
    with contextlib.suppress(OSError):
        os.close(fd)


async def run_up(
    directory: str,
    *,
    unit: str = "default.target",
    colour: bool = False,
    exit_after_start: bool = False,
    ready_fd: int | None = None,
) -> int:
    """Lock DIR, start ``unit``, supervise until SIGINT/SIGTERM, stop in reverse order.

    Returns the exit code: 0 after a clean stop (1 with ``exit_after_start`` when the start
    job failed). With ``ready_fd``, the start job's result is written there (``up -d``).
    """
    import asyncio
    import os
    import signal
    import sys

    from bootup.runtime.console import Console
    from bootup.runtime.project import project_manager
    from bootup.runtime.states import ActiveState, JobResult

    console = Console(sys.stdout, colour=colour)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    result = JobResult.CANCELED
    exit_code: list[int] = [0]
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with project_manager(directory) as manager:
            # Deferred: each line is printed after state.json reflects its event.
            def deferred(event: object) -> None:
                loop.call_soon(console.handle, event)

            manager.subscribe(deferred)
            loop.add_signal_handler(signal.SIGHUP, manager.request_reload)  # as systemd
            spinner = asyncio.ensure_future(_spin(manager, console)) if colour else None
            server = await _serve_control(manager, directory, stop, exit_code)
            try:
                start = asyncio.ensure_future(manager.start_unit(unit))
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if start.done():
                    result = start.result()
                _signal_ready(ready_fd, manager, result)
                ready_fd = None
                if start.done() and not stop.is_set():
                    running = sum(
                        1
                        for r in manager.runtimes.values()
                        if r.active_state is ActiveState.ACTIVE and r.unit.type.value == "service"
                    )
                    outcome = "reached" if result is JobResult.DONE else f"failed ({result.value})"
                    # The hint only when it is true: --exit-after-start stops at once.
                    hint = "" if exit_after_start else ", supervising (Ctrl-C to stop)"
                    print(f"bootup: {unit} {outcome}; {running} services active{hint}", flush=True)
                    if not exit_after_start:
                        await stopped
                stopped.cancel()
                if not start.done():
                    start.cancel()
                print("bootup: stopping all units", flush=True)
                await manager.shutdown()
            finally:
                # Also when the start request itself fails (no such unit, a refused
                # transaction): never leave a socket file nobody serves.
                if spinner is not None:
                    spinner.cancel()
                    console.clear_spinner()
                if server is not None:
                    await server.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if ready_fd is not None:  # never got as far as the start job: EOF tells up -d
            os.close(ready_fd)
    print("bootup: all units stopped", flush=True)
    if exit_after_start and result is not JobResult.DONE:
        return 1
    return exit_code[0]


async def _serve_control(
    manager: Manager, directory: str, stop: asyncio.Event, exit_code: list[int]
) -> ControlServer | None:
    """Serve DIR/.bootup/control.sock for ``bootup`` clients; its ``Exit`` call stops us.

    A control socket that cannot be served is reported and the manager runs without it.
    """
    import sys

    from bootup.control.address import project_socket
    from bootup.control.server import serve
    from bootup.errors import Error

    def on_exit(code: int) -> None:
        exit_code[0] = code
        stop.set()

    try:
        return await serve(manager, project_socket(directory), on_exit=on_exit)
    except (Error, OSError) as exc:
        print(f"bootup: control socket unavailable, continuing without it: {exc}", file=sys.stderr)
        return None


async def _spin(manager: Manager, console: Console) -> None:
    """On a terminal: systemd's "A start job is running for ..." line while a job waits.

    A UI animation, ticking once a second only while some job runs; idle, it waits on the
    manager's events and costs nothing.
    """
    import asyncio
    import time

    from bootup.runtime.console import spinner_line
    from bootup.runtime.jobs import JobState
    from bootup.runtime.service import ServiceRuntime

    frame = 0
    seen: dict[int, float] = {}
    while True:
        await manager.wait_until(
            lambda: any(j.state is JobState.RUNNING for j in manager.jobs.values())
        )
        await asyncio.sleep(1.0)
        running = sorted(
            (j for j in manager.jobs.values() if j.state is JobState.RUNNING), key=lambda j: j.id
        )
        if not running:
            console.clear_spinner()
            continue
        job = running[0]
        now = time.monotonic()
        elapsed = now - seen.setdefault(job.id, now - 1.0)
        runtime = manager.runtime(job.unit)
        limit = None
        if isinstance(runtime, ServiceRuntime) and runtime.config is not None:
            limit = runtime.config.timeout_start
        description = runtime.unit.display_description
        console.spin(spinner_line(frame, description, elapsed, limit))
        frame += 1
