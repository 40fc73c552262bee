"""The pure pieces: job_is_runnable, state tables, console wording, the manual clock."""

from __future__ import annotations

import asyncio

import pytest

from bootup.runtime.clock import ManualClock
from bootup.runtime.console import format_job_event, job_message, spinner_line
from bootup.runtime.jobs import JobEvent, RunJob, is_runnable
from bootup.runtime.states import ActiveState, JobResult, ServiceState, active_state_of
from bootup.transaction.jobs import JobType

# b has After=a (so a has Before=b).
AFTER = {"b": ("a",)}
BEFORE = {"a": ("b",)}


def _after(name: str) -> tuple[str, ...]:
    return AFTER.get(name, ())


def _before(name: str) -> tuple[str, ...]:
    return BEFORE.get(name, ())


def _job(loop: asyncio.AbstractEventLoop, unit: str, job_type: JobType) -> RunJob:
    return RunJob(unit, job_type, loop.create_future())


@pytest.mark.parametrize(
    ("a_type", "b_type", "a_runnable", "b_runnable"),
    [
        # start a + start b: a first (job.c job_compare()).
        (JobType.START, JobType.START, True, False),
        # start a + stop b: b is stopped first, then a is started.
        (JobType.START, JobType.STOP, False, True),
        # stop a + stop b: b first (reverse of start order).
        (JobType.STOP, JobType.STOP, False, True),
        # stop a + start b: the stop goes first.
        (JobType.STOP, JobType.START, True, False),
        # restart counts as a stop until it starts.
        (JobType.RESTART, JobType.RESTART, False, True),
        (JobType.NOP, JobType.START, True, True),
    ],
)
def test_job_is_runnable_table(
    a_type: JobType, b_type: JobType, a_runnable: bool, b_runnable: bool
) -> None:
    loop = asyncio.new_event_loop()
    try:
        jobs = {"a": _job(loop, "a", a_type), "b": _job(loop, "b", b_type)}
        assert is_runnable(jobs["a"], jobs, _after, _before) is a_runnable
        assert is_runnable(jobs["b"], jobs, _after, _before) is b_runnable
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("state", "active"),
    [
        (ServiceState.DEAD, ActiveState.INACTIVE),
        (ServiceState.START_PRE, ActiveState.ACTIVATING),
        (ServiceState.RUNNING, ActiveState.ACTIVE),
        (ServiceState.EXITED, ActiveState.ACTIVE),
        (ServiceState.RELOAD, ActiveState.RELOADING),
        (ServiceState.STOP_SIGTERM, ActiveState.DEACTIVATING),
        (ServiceState.FAILED, ActiveState.FAILED),
        (ServiceState.AUTO_RESTART, ActiveState.ACTIVATING),
    ],
)
def test_service_sub_state_maps_to_active_state(state: ServiceState, active: ActiveState) -> None:
    assert active_state_of(state) is active


def _event(
    unit: str, unit_type: str, job_type: JobType, result: JobResult | None, desc: str = "Thing"
) -> JobEvent:
    return JobEvent(unit, job_type, desc, unit_type, result)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            _event("api.service", "service", JobType.START, None, "API server"),
            "         Starting api.service - API server...",
        ),
        (
            _event("api.service", "service", JobType.START, JobResult.DONE, "API server"),
            "[  OK  ] Started api.service - API server.",
        ),
        (
            _event("w.service", "service", JobType.START, JobResult.FAILED),
            "[FAILED] Failed to start w.service - Thing.",
        ),
        (
            _event("w.service", "service", JobType.START, JobResult.DEPENDENCY),
            "[DEPEND] Dependency failed for w.service - Thing.",
        ),
        (
            _event("w.service", "service", JobType.START, JobResult.ASSERT),
            "[ASSERT] Assertion failed for w.service - Thing.",
        ),
        (
            _event("x.socket", "socket", JobType.START, JobResult.UNSUPPORTED),
            "[UNSUPP] Starting of x.socket - Thing unsupported.",
        ),
        (
            _event(
                "multi-user.target", "target", JobType.START, JobResult.DONE, "Multi-User System"
            ),
            "[  OK  ] Reached target multi-user.target - Multi-User System.",
        ),
        (
            _event("m.target", "target", JobType.STOP, JobResult.DONE, "m.target"),
            "[  OK  ] Stopped target m.target.",
        ),
        (
            _event("w.service", "service", JobType.STOP, None),
            "         Stopping w.service - Thing...",
        ),
        (
            _event("w.service", "service", JobType.STOP, JobResult.DONE),
            "[  OK  ] Stopped w.service - Thing.",
        ),
        (_event("t.target", "target", JobType.START, None), None),
        (_event("w.service", "service", JobType.START, JobResult.CANCELED), None),
    ],
)
def test_console_lines_use_systemds_wording(event: JobEvent, line: str | None) -> None:
    assert format_job_event(event) == line


def test_console_colours_only_the_status_word() -> None:
    line = format_job_event(
        _event("a.service", "service", JobType.START, JobResult.DONE), colour=True
    )
    assert line == "[\x1b[0;1;32m  OK  \x1b[0m] Started a.service - Thing."


def test_manual_clock_fires_due_timers_in_order_and_honours_cancel() -> None:
    clock = ManualClock()
    fired: list[str] = []
    clock.call_later(2.0, lambda: fired.append("two"))
    clock.call_later(1.0, lambda: fired.append("one"))
    cancelled = clock.call_later(1.5, lambda: fired.append("never"))
    cancelled.cancel()
    start = clock.monotonic()
    assert clock.advance(1.0) == 1
    assert fired == ["one"]
    assert clock.pending == 1
    assert clock.advance(5.0) == 1
    assert fired == ["one", "two"]
    assert clock.monotonic() == start + 6.0


def test_spinner_and_journal_messages() -> None:
    line = spinner_line(2, "Slow one", 3.2, 90.0)
    assert line.endswith("] A start job is running for Slow one (3s / 1min 30s)")
    assert "***" in line
    done = _event("a.service", "service", JobType.START, JobResult.DONE, "A")
    assert job_message(done) == "Started a.service - A."
    assert job_message(_event("a.service", "service", JobType.START, None)) is None
