"""Job types and modes, and the algebra systemd applies to them (src/core/job.c).

The merge table, the collapse rules and the redundancy and applicability predicates are the
facts of systemd 252's ``job_merging_table``, ``job_type_collapse()``,
``job_type_is_redundant()`` and ``unit_job_is_applicable()``, restated as Python data.
"""

from __future__ import annotations

import enum
from typing import Final

from bootup.transaction.graph import ActiveState, UnitNode

__all__ = (
    "JobMode",
    "JobType",
    "collapse",
    "is_applicable",
    "is_conflicting",
    "is_redundant",
    "merge",
)


class JobType(enum.StrEnum):
    """What a job does to its unit; the spelling is systemd's (``systemctl list-jobs``)."""

    START = "start"
    VERIFY_ACTIVE = "verify-active"
    STOP = "stop"
    RELOAD = "reload"
    RESTART = "restart"
    NOP = "nop"
    # These three never enter a transaction: they collapse first, by the unit's state.
    TRY_RESTART = "try-restart"
    TRY_RELOAD = "try-reload"
    RELOAD_OR_START = "reload-or-start"


class JobMode(enum.StrEnum):
    """How a new transaction treats the jobs already queued (``systemctl --job-mode=``)."""

    FAIL = "fail"
    REPLACE = "replace"
    REPLACE_IRREVERSIBLY = "replace-irreversibly"
    ISOLATE = "isolate"
    FLUSH = "flush"
    IGNORE_DEPENDENCIES = "ignore-dependencies"
    IGNORE_REQUIREMENTS = "ignore-requirements"
    TRIGGERING = "triggering"


_ACTIVE_OR_RELOADING: Final = frozenset({ActiveState.ACTIVE, ActiveState.RELOADING})

# The merging table of job.c for the five mergeable types: (a, b) -> result, None = conflict.
# It is symmetric; equal types merge to themselves.
_MERGE: Final[dict[frozenset[JobType], JobType | None]] = {
    frozenset({JobType.VERIFY_ACTIVE, JobType.START}): JobType.START,
    frozenset({JobType.STOP, JobType.START}): None,
    frozenset({JobType.STOP, JobType.VERIFY_ACTIVE}): None,
    frozenset({JobType.RELOAD, JobType.START}): JobType.RELOAD_OR_START,
    frozenset({JobType.RELOAD, JobType.VERIFY_ACTIVE}): JobType.RELOAD,
    frozenset({JobType.RELOAD, JobType.STOP}): None,
    frozenset({JobType.RESTART, JobType.START}): JobType.RESTART,
    frozenset({JobType.RESTART, JobType.VERIFY_ACTIVE}): JobType.RESTART,
    frozenset({JobType.RESTART, JobType.STOP}): None,
    frozenset({JobType.RESTART, JobType.RELOAD}): JobType.RESTART,
}


def merge(a: JobType, b: JobType) -> JobType | None:
    """Merge two jobs for one unit, or return None when they conflict (start vs stop)."""
    if a == b:
        return a
    return _MERGE.get(frozenset({a, b}))


def collapse(job_type: JobType, state: ActiveState) -> JobType:
    """Turn the conditional job types into real ones for a unit in ``state``."""
    active = state in _ACTIVE_OR_RELOADING
    if job_type is JobType.TRY_RESTART:
        return JobType.RESTART if active else JobType.NOP
    if job_type is JobType.TRY_RELOAD:
        return JobType.RELOAD if active else JobType.NOP
    if job_type is JobType.RELOAD_OR_START:
        return JobType.RELOAD if active else JobType.START
    return job_type


def is_conflicting(a: JobType, b: JobType) -> bool:
    """Whether a queued job of type ``a`` would be replaced by one of type ``b``."""
    if JobType.NOP in (a, b):
        return False
    merged = merge(a, b)
    return merged is None


def is_redundant(job_type: JobType, state: ActiveState) -> bool:
    """Whether the job would change nothing for a unit in ``state`` (restart never is)."""
    if job_type in (JobType.START, JobType.VERIFY_ACTIVE):
        return state in _ACTIVE_OR_RELOADING
    if job_type is JobType.STOP:
        return state in (ActiveState.INACTIVE, ActiveState.FAILED)
    if job_type is JobType.RELOAD:
        return state is ActiveState.RELOADING
    return job_type is JobType.NOP


def is_applicable(job_type: JobType, unit: UnitNode) -> bool:
    """Whether the unit can have such a job at all (``unit_job_is_applicable``)."""
    if job_type in (JobType.START, JobType.VERIFY_ACTIVE, JobType.NOP):
        # Units bootup cannot start itself (devices) may still become active by events.
        return True
    if job_type is JobType.STOP:
        return not unit.perpetual
    if job_type in (JobType.RESTART, JobType.TRY_RESTART):
        return not unit.perpetual and unit.can_start
    if job_type in (JobType.RELOAD, JobType.TRY_RELOAD):
        return unit.can_reload
    return unit.can_reload and unit.can_start
