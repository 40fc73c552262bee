"""The spinner a client draws while it waits for jobs, like systemd's console.

systemd's manager prints ``[  *** ] A start job is running for Slow service (3s / 1min
30s)`` on the console while jobs run (manager.c ``manager_print_jobs_in_progress``): after
2 s without progress, then every third of a second, the "cylon" moving one step per frame,
and when several jobs run, ``(2 of 3)`` before the text, switching to the next job every
third frame. ``bootup start|stop|restart|isolate`` draws the same line on its own stderr
while it blocks on the job, so an interactive user sees what is still running.

Only on a terminal: when stderr is not a TTY :func:`job_progress` does nothing at all (no
second connection, no thread, no escape sequence), so scripts and logs get clean output.

The drawing (:class:`Progress`) is separate from its timing: :meth:`Progress.tick` draws
one frame from an injected clock and an injected source of running jobs, and the thread
that calls it waits on an injected timer, so a test steps frames without sleeping.

Wiring (ctl.py's ``_job_verb``)::

    from bootup.cli._progress import job_progress
    with job_progress(args, units):
        ...  # the EnqueueJob calls that block until the jobs finish
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    import argparse

    from bootup.control.client import Client

__all__ = ("Progress", "RunningJob", "cylon", "job_progress", "progress_line")

#: Before the first frame (JOBS_IN_PROGRESS_WAIT_USEC): quick jobs never flash a spinner.
FIRST_FRAME_AFTER: Final = 2.0
#: Between frames (JOBS_IN_PROGRESS_PERIOD_USEC).
FRAME_PERIOD: Final = 1.0 / 3
#: Frames per job when several run (JOBS_IN_PROGRESS_PERIOD_DIVISOR).
FRAMES_PER_JOB: Final = 3
_WIDTH: Final = 6
_RED: Final = "\x1b[0;31m"
_HIGHLIGHT_RED: Final = "\x1b[0;1;31m"
_NORMAL: Final = "\x1b[0m"
_ERASE_LINE: Final = "\x1b[K"
_MANAGER: Final = "io.bootup.Manager"


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job the spinner shows: its type, its unit's description, and its time limit."""

    id: int
    type: str
    description: str
    #: JobTimeoutSec=/TimeoutStartSec= in seconds, or None for no limit.
    limit: float | None


def cylon(position: int, *, colour: bool) -> str:
    """The six-character "cylon" of frame ``position`` (0..7), as systemd's draw_cylon().

    Three stars move right and back; at the ends only one or two are visible. The centre
    star is bright red, its neighbours red (only with colour).
    """
    red, bright, normal = (_RED, _HIGHLIGHT_RED, _NORMAL) if colour else ("", "", "")
    out = ""
    if position > 1:
        out += " " * (position - 2) + red + "*"
    if 0 < position <= _WIDTH:
        out += bright + "*"
    out += normal
    if position < _WIDTH:
        out += red + "*" + " " * max(0, _WIDTH - 1 - position) + normal
    return out


def _position(frame: int) -> int:
    """Frame number to cylon position: 0..7 and back (a period of 14 frames)."""
    pos = frame % 14
    return 14 - pos if pos >= 8 else pos


def progress_line(
    frame: int, job: RunningJob, elapsed: float, *, index: int, count: int, colour: bool
) -> str:
    """``[  *** ] (1 of 2) A start job is running for X (3s / 1min 30s)`` (no line end)."""
    from bootup.units.values import format_timespan

    of = f"({index} of {count}) " if count > 1 else ""
    spent = format_timespan(int(elapsed) * 1_000_000, 1_000_000)
    limit = "no limit" if job.limit is None else format_timespan(int(job.limit * 1e6), 1_000_000)
    return (
        f"[{cylon(_position(frame), colour=colour)}] {of}A {job.type} job is running for "
        f"{job.description} ({spent} / {limit})"
    )


class Progress:
    """Draws the spinner line on a terminal stream, one frame per :meth:`tick`.

    Args:
        stream: the terminal (stderr).
        running: returns the jobs running now (asked once per frame).
        clock: monotonic seconds; a job's time counts from the first frame that saw it
            (the control socket does not say when a job began).
        colour: ANSI colours in the cylon.
    """

    def __init__(
        self,
        stream: TextIO,
        running: Callable[[], list[RunningJob]],
        *,
        clock: Callable[[], float] = time.monotonic,
        colour: bool = True,
    ) -> None:
        self.stream = stream
        self.running = running
        self.clock = clock
        self.colour = colour
        self.frame = 0
        #: Whether a spinner line is on the screen now.
        self.shown = False
        self._first_seen: dict[int, float] = {}

    def tick(self) -> None:
        """Draw the next frame, or clear the line when no job runs any more."""
        jobs = self.running()
        now = self.clock()
        for job in jobs:
            self._first_seen.setdefault(job.id, now)
        if not jobs:
            self.clear()
            return
        index = (self.frame // FRAMES_PER_JOB) % len(jobs)
        job = jobs[index]
        line = progress_line(
            self.frame,
            job,
            now - self._first_seen[job.id],
            index=index + 1,
            count=len(jobs),
            colour=self.colour,
        )
        self.frame += 1
        self.stream.write(f"\r{line}{_ERASE_LINE}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the spinner line if one is shown (the cursor goes back to its start)."""
        if self.shown:
            self.shown = False
            self.stream.write(f"\r{_ERASE_LINE}")
            self.stream.flush()


class _ManagerJobs:
    """The running jobs of the named units, from a second connection to the manager."""

    def __init__(self, client: Client, units: list[str]) -> None:
        self.client = client
        self.units = set(units)
        self._details: dict[str, tuple[str, float | None]] = {}

    def __call__(self) -> list[RunningJob]:
        reply = self.client.call(f"{_MANAGER}.ListJobs")
        jobs: list[dict[str, Any]] = reply["jobs"]
        out = []
        for job in jobs:
            if job["state"] != "running":
                continue
            description, limit = self._describe(job["unit"])
            out.append(RunningJob(job["id"], job["type"], description, limit))
        return out

    def _describe(self, unit: str) -> tuple[str, float | None]:
        """The unit's description (its name without one) and its start time limit.

        Named as systemd 252's spinner names units under StatusUnitFormat=description
        ("A start job is running for Slow service"): the line is short on purpose.
        """
        from bootup.units.values import parse_timespan

        known = self._details.get(unit)
        if known is not None:
            return known
        props = self.client.call(
            f"{_MANAGER}.GetProperties",
            {"name": unit, "properties": ["Description", "TimeoutStartUSec"]},
        )["properties"]
        description = props.get("Description") or ""
        label = description or unit
        limit: float | None = None
        timeout = props.get("TimeoutStartUSec") or ""
        if timeout and timeout != "infinity":
            with contextlib.suppress(ValueError):
                limit = parse_timespan(timeout) / 1e6
        self._details[unit] = (label, limit)
        return label, limit


@contextlib.contextmanager
def spinning(progress: Progress, wait: Callable[[float], bool]) -> Iterator[None]:
    """Run ``progress`` in a thread while the body blocks; clear it afterwards.

    ``wait(seconds)`` returns True once the body finished (a ``threading.Event.wait``, or a
    test's stepping timer); the first frame comes after :data:`FIRST_FRAME_AFTER`.
    """
    lock = threading.Lock()  # the frame being drawn finishes before the line is cleared

    def run() -> None:
        if wait(FIRST_FRAME_AFTER):
            return
        while True:
            with lock:
                try:
                    progress.tick()
                except Exception:
                    return
            if wait(FRAME_PERIOD):
                return

    thread = threading.Thread(target=run, name="bootup-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            progress.clear()
        thread.join(timeout=5)


@contextlib.contextmanager
def job_progress(
    args: argparse.Namespace, units: list[str], *, stream: TextIO | None = None
) -> Iterator[None]:
    """Show systemd's spinner on stderr while the body waits for ``units``' jobs.

    Nothing happens (no connection, no thread) unless ``stream`` (stderr) is a terminal and
    the verb waits for its jobs (no ``--no-block``).
    """
    out = sys.stderr if stream is None else stream
    if getattr(args, "no_block", False) or not out.isatty():
        yield
        return
    from bootup.control.address import find_socket
    from bootup.control.client import Client
    from bootup.errors import Error

    try:
        path = find_socket(
            project=getattr(args, "project", None), system=getattr(args, "system", False)
        )
        client = Client(path, timeout=10)
    except (Error, OSError):
        yield  # the verb itself reports an unreachable manager
        return
    done = threading.Event()
    with client:
        progress = Progress(out, _ManagerJobs(client, units))
        try:
            with spinning(progress, done.wait):
                try:
                    yield
                finally:
                    done.set()
        finally:
            done.set()
