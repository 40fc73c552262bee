"""``bootup up [DIR]``: bring a project's units up and supervise them in the foreground.

Unprivileged project mode: only DIR's unit files (plus the special targets a project gets),
runtime state in ``DIR/.bootup/`` (journal, notify socket, lock). Prints systemd's console
lines as jobs run, stays in the foreground, and on Ctrl-C or SIGTERM stops everything in
reverse order within the stop timeouts, then exits 0.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

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
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    colour = sys.stdout.isatty() and not args.no_color
    return asyncio.run(
        run_up(
            args.directory,
            unit=args.unit,
            colour=colour,
            exit_after_start=args.exit_after_start,
        )
    )


async def run_up(
    directory: str,
    *,
    unit: str = "default.target",
    colour: bool = False,
    exit_after_start: bool = False,
) -> int:
    """Lock DIR, start ``unit``, supervise until SIGINT/SIGTERM, stop in reverse order.

    Returns the exit code: 0 after a clean stop (1 with ``exit_after_start`` when the start
    job failed).
    """
    import asyncio
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
            spinner = asyncio.ensure_future(_spin(manager, console)) if colour else None
            server = await _serve_control(manager, directory, stop, exit_code)
            start = asyncio.ensure_future(manager.start_unit(unit))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if start.done():
                result = start.result()
            if start.done() and not stop.is_set():
                running = sum(
                    1
                    for r in manager.runtimes.values()
                    if r.active_state is ActiveState.ACTIVE and r.unit.type.value == "service"
                )
                outcome = "reached" if result is JobResult.DONE else f"failed ({result.value})"
                print(
                    f"bootup: {unit} {outcome}; {running} services active, "
                    "supervising (Ctrl-C to stop)",
                    flush=True,
                )
                if not exit_after_start:
                    await stopped
            stopped.cancel()
            if not start.done():
                start.cancel()
            print("bootup: stopping all units", flush=True)
            await manager.shutdown()
            if spinner is not None:
                spinner.cancel()
                console.clear_spinner()
            if server is not None:
                await server.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
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
