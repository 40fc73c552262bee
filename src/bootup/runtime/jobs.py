"""Installed jobs, the rule that says when one may run, and the events the manager emits.

systemd keeps at most one job per unit and runs a job as soon as ``job_is_runnable()``
holds (src/core/job.c): a start waits for every job of a unit it is ordered ``After=``; a
job of a unit ordered ``Before=`` another waits only when that other unit's job is a stop;
stops never wait for ``After=`` neighbours. Hence stop jobs go first and stop order is the
reverse of start order (shared/reference/systemd.md §1.1). :func:`is_runnable` is that rule
over the manager's job table, evaluated again for a unit's neighbours whenever a job
finishes, so dispatch costs the degree of the finished unit, not the size of the queue.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bootup.runtime.states import ActiveState, JobResult
from bootup.transaction.jobs import JobType

__all__ = (
    "JobEvent",
    "JobState",
    "RunJob",
    "UnitEvent",
    "is_runnable",
)

_ids = itertools.count(1)
_STOPPING = (JobType.STOP, JobType.RESTART)


class JobState(StrEnum):
    """``systemctl list-jobs`` STATE column."""

    WAITING = "waiting"
    RUNNING = "running"


@dataclass(eq=False, slots=True)
class RunJob:
    """A job installed in the manager; ``done`` resolves to its result."""

    unit: str
    type: JobType
    done: asyncio.Future[JobResult]
    id: int = field(default_factory=lambda: next(_ids))
    state: JobState = JobState.WAITING
    irreversible: bool = False

    @property
    def finished(self) -> bool:
        """Whether the job has a result."""
        return self.done.done()


def is_runnable(
    job: RunJob,
    jobs: Mapping[str, RunJob],
    after: Callable[[str], tuple[str, ...]],
    before: Callable[[str], tuple[str, ...]],
) -> bool:
    """Systemd's ``job_is_runnable()`` over the installed jobs ``jobs`` (one per unit)."""
    if job.type is JobType.NOP:
        return True
    if job.type not in _STOPPING:
        for other in after(job.unit):
            other_job = jobs.get(other)
            if other_job is not None and other_job is not job and other_job.type is not JobType.NOP:
                return False
    for other in before(job.unit):
        other_job = jobs.get(other)
        if other_job is not None and other_job is not job and other_job.type in _STOPPING:
            return False
    return True


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A job started (``result`` None) or finished, for the console and for tests."""

    unit: str
    type: JobType
    description: str
    unit_type: str
    result: JobResult | None = None
    #: Extra words systemd's status line may carry (the failed condition, for instance).
    detail: str = ""


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """A unit's active state changed."""

    unit: str
    old: ActiveState
    new: ActiveState
    sub_state: str
