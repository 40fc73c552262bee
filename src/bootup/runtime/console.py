"""systemd's console status lines for jobs, as the boot screen shows them.

``[  OK  ] Started api.service - API server.``, ``[FAILED] Failed to start worker.service -
Worker.``, ``         Starting x.service - X...``: the wording is systemd 252's per-type
status message table (src/core/job.c ``job_done_message_format``, and the
``status_message_formats`` of service.c, target.c and slice.c); units are named as
``StatusUnitFormat=combined`` does, "name - description". Colours only when asked for
(the CLI asks on a TTY), so logs and pipes get plain text.
"""

from __future__ import annotations

from typing import Final, TextIO

from bootup.runtime.jobs import JobEvent
from bootup.runtime.states import JobResult
from bootup.transaction.jobs import JobType
from bootup.units.values import format_timespan

__all__ = ("Console", "format_job_event", "job_message", "spinner_line", "unit_label")

_GREEN: Final = "\x1b[0;1;32m"
_RED: Final = "\x1b[0;1;31m"
_YELLOW: Final = "\x1b[0;1;33m"
_RESET: Final = "\x1b[0m"
_INDENT: Final = " " * 9

#: result -> (status word, colour)
_STATUS: Final[dict[JobResult, tuple[str, str]]] = {
    JobResult.DONE: ("  OK  ", _GREEN),
    JobResult.FAILED: ("FAILED", _RED),
    JobResult.TIMEOUT: (" TIME ", _RED),
    JobResult.DEPENDENCY: ("DEPEND", _YELLOW),
    JobResult.ASSERT: ("ASSERT", _YELLOW),
    JobResult.UNSUPPORTED: ("UNSUPP", _YELLOW),
    JobResult.INVALID: ("FAILED", _RED),
    JobResult.SKIPPED: (" INFO ", ""),
}

_START_DONE: Final[dict[JobResult, str]] = {
    JobResult.DONE: "Started {}.",
    JobResult.TIMEOUT: "Timed out starting {}.",
    JobResult.FAILED: "Failed to start {}.",
    JobResult.INVALID: "Failed to start {}.",
    JobResult.DEPENDENCY: "Dependency failed for {}.",
    JobResult.ASSERT: "Assertion failed for {}.",
    JobResult.UNSUPPORTED: "Starting of {} unsupported.",
    JobResult.SKIPPED: "{} is not active.",
}
_STOP_DONE: Final[dict[JobResult, str]] = {
    JobResult.DONE: "Stopped {}.",
    JobResult.FAILED: "Stopped {} with error.",
    JobResult.TIMEOUT: "Timed out stopping {}.",
}
_RELOAD_DONE: Final[dict[JobResult, str]] = {
    JobResult.DONE: "Reloaded {}.",
    JobResult.FAILED: "Reload failed for {}.",
    JobResult.TIMEOUT: "Timed out reloading {}.",
}
#: unit type -> (start done, stop done) overrides for result "done"
_TYPE_DONE: Final[dict[str, tuple[str, str]]] = {
    "target": ("Reached target {}.", "Stopped target {}."),
    "slice": ("Created slice {}.", "Removed slice {}."),
}


def unit_label(event: JobEvent) -> str:
    """``name - description`` (StatusUnitFormat=combined), or the name alone."""
    if event.description and event.description != event.unit:
        return f"{event.unit} - {event.description}"
    return event.unit


def job_message(event: JobEvent) -> str | None:
    """The finished-job message without its status word (what the journal records)."""
    if event.result is None:
        return None
    line = format_job_event(event)
    return None if line is None else line.split("] ", 1)[1]


def spinner_line(frame: int, description: str, elapsed: float, limit: float | None) -> str:
    """Systemd's "A start job is running for X (3s / 1min 30s)" line with its ``[ *** ]``.

    Only for a terminal: the caller rewrites it in place (carriage return) while a job waits.
    """
    width = 6
    pos = frame % (2 * (width - 1))
    pos = pos if pos < width else 2 * (width - 1) - pos
    stars = "".join("*" if abs(i - pos) <= 1 else " " for i in range(width))
    limit_text = "no limit" if limit is None else format_timespan(int(limit) * 1_000_000)
    spent = format_timespan(int(elapsed) * 1_000_000)
    return (
        f"[{_RED}{stars}{_RESET}] A start job is running for {description} ({spent} / {limit_text})"
    )


def format_job_event(event: JobEvent, *, colour: bool = False) -> str | None:
    """The console line for a job event, or None when systemd prints none."""
    label = unit_label(event)
    if event.result is None:
        if event.unit_type != "service":
            return None
        if event.type is JobType.START:
            return f"{_INDENT}Starting {label}..."
        if event.type in (JobType.STOP, JobType.RESTART):
            return f"{_INDENT}Stopping {label}..."
        if event.type is JobType.RELOAD:
            return f"{_INDENT}Reloading {label}..."
        return None
    if event.result is JobResult.CANCELED or event.detail == "skipped":
        return None
    if event.type in (JobType.START, JobType.RESTART, JobType.VERIFY_ACTIVE):
        if event.type is JobType.VERIFY_ACTIVE and event.result is JobResult.DONE:
            return None
        template = _START_DONE.get(event.result)
        if event.result is JobResult.DONE and event.unit_type in _TYPE_DONE:
            template = _TYPE_DONE[event.unit_type][0]
    elif event.type is JobType.STOP:
        template = _STOP_DONE.get(event.result)
        if event.result is JobResult.DONE and event.unit_type in _TYPE_DONE:
            template = _TYPE_DONE[event.unit_type][1]
    elif event.type is JobType.RELOAD:
        template = _RELOAD_DONE.get(event.result)
    else:
        return None
    if template is None:
        return None
    word, tint = _STATUS.get(event.result, ("FAILED", _RED))
    status = f"{tint}{word}{_RESET}" if colour and tint else word
    return f"[{status}] {template.format(label)}"


class Console:
    """Writes job status lines to a stream as events arrive (subscribe :meth:`handle`)."""

    def __init__(self, stream: TextIO, *, colour: bool = False) -> None:
        self.stream = stream
        self.colour = colour
        #: Every line written, for tests and for the demo's summary.
        self.lines: list[str] = []
        #: Whether a spinner line is on screen (terminal only).
        self.spinning = False

    def handle(self, event: object) -> None:
        """Print the line for a job event (other events are ignored)."""
        if not isinstance(event, JobEvent):
            return
        line = format_job_event(event, colour=self.colour)
        if line is None:
            return
        self.lines.append(line)
        prefix = "\r\x1b[K" if self.spinning else ""
        self.spinning = False
        self.stream.write(prefix + line + "\n")
        self.stream.flush()

    def spin(self, text: str) -> None:
        """Show (or replace) the spinner line; the next status line overwrites it."""
        self.spinning = True
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()

    def clear_spinner(self) -> None:
        """Remove the spinner line if one is shown."""
        if self.spinning:
            self.spinning = False
            self.stream.write("\r\x1b[K")
            self.stream.flush()
