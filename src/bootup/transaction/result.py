"""What a transaction is made of, for the manager that runs it and the tools that explain it."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from bootup.transaction.jobs import JobMode, JobType

__all__ = ("Job", "Pull", "QueuedJob", "Transaction")


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job already queued in the manager when a new transaction is computed."""

    type: JobType
    irreversible: bool = False


@dataclass(frozen=True, slots=True)
class Pull:
    """One reason a job is in the transaction: ``unit``'s job pulled it in over ``kind``.

    ``unit`` is None for the request itself (the anchor). ``kind`` is a dependency kind
    (``Requires``, ``Wants``, ``ConflictedBy``...), ``request`` or ``isolate``.
    """

    unit: str | None
    job_type: JobType | None
    kind: str
    matters: bool


@dataclass(frozen=True, slots=True)
class Job:
    """A job of the transaction: its unit, its type, and who pulled it in."""

    unit: str
    type: JobType
    matters_to_anchor: bool
    pulled_by: tuple[Pull, ...]


@dataclass(frozen=True, slots=True)
class Transaction:
    """The jobs to install, in no particular order, plus the order they must run in.

    ``waits_for[u]`` names the units whose jobs ``u``'s job waits for (systemd's
    ``job_is_runnable()``: After= for starts, reversed for stops, stops before starts).
    ``cancelled`` names queued jobs an isolate or flush cancels. ``log`` holds the lines
    systemd logs at debug level for the same decisions.
    """

    anchor: str
    mode: JobMode
    jobs: Mapping[str, Job]
    waits_for: Mapping[str, tuple[str, ...]]
    cancelled: tuple[str, ...]
    log: tuple[str, ...]

    def job_set(self) -> set[tuple[str, str]]:
        """``{(unit, job type)}``: the form the conformance tests compare with systemd's."""
        return {(job.unit, str(job.type)) for job in self.jobs.values()}

    def why(self, unit: str) -> tuple[Pull, ...]:
        """The shortest chain of pulls from the anchor to ``unit``'s job, anchor first.

        Empty when the unit has no job. Each element says which unit pulled the next one in
        and over which dependency, so tools can print "multi-user.target Wants
        cron.service".
        """
        if unit not in self.jobs:
            return ()
        previous: dict[str, tuple[str, Pull] | None] = {unit: None}
        queue = deque([unit])
        while queue:
            current = queue.popleft()
            for pull in self.jobs[current].pulled_by:
                if pull.unit is None:
                    chain: list[Pull] = []
                    step: str | None = current
                    while step is not None:
                        entry = previous[step]
                        if entry is None:
                            break
                        step, via = entry
                        chain.append(via)
                    # `current` is the anchor; `chain` runs from it down to `unit`.
                    return (pull, *chain)
                if pull.unit in self.jobs and pull.unit not in previous:
                    previous[pull.unit] = (current, pull)
                    queue.append(pull.unit)
        return ()
