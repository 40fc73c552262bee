"""Build a transaction the way systemd 252 does (src/core/transaction.c).

Design. The engine is a pure function: a :class:`~bootup.transaction.graph.UnitGraph`, the
units' active states and the jobs already queued go in; a
:class:`~bootup.transaction.result.Transaction` or a :class:`TransactionError` comes out.
It follows systemd's steps in systemd's order, because the observable result (which job is
dropped to break a cycle, which of two conflicting jobs survives, which message is printed)
depends on that order:

1. add the anchor job and, recursively, the jobs its dependencies pull in, each linked to
   the job that pulled it in, the link saying whether it *matters* (Requires, BindsTo,
   Requisite, Conflicts) and whether it comes from a conflict; isolate and triggering modes
   add their stop jobs;
2. mark the jobs that matter to the anchor (reachable over mattering links);
3. in mode ``fail``, drop the non-mattering jobs that would stop a running unit or replace
   a queued job;
4. drop redundant jobs (a start of an active unit, a stop of an inactive one);
5. until no ordering cycle remains: collect garbage (not in isolate mode), then search the
   ordering graph; on a cycle, delete the first job along the cycle (walking back from
   where it was found) whose unit does not matter to the anchor, or fail;
6. until every unit has one job: merge each unit's jobs by the merge table; two that cannot
   merge lose the one that does not matter (stops before starts, unless the stop comes
   from a Conflicts=), or the transaction fails;
7. drop redundant jobs again, refuse to replace queued jobs where the mode forbids it, and
   merge with the queued jobs.

Determinism. systemd visits its hash maps in a random order, so when it breaks a cycle
between two jobs that do not matter, either may go. bootup visits units in name order and
each unit's dependencies in name order; the rule is therefore: *the first not-mattering job
met when walking back along the cycle from the last job reached, in a depth-first search
started from the units in name order, is deleted*. The same input always gives the same
transaction.

Recursion is as deep as the longest dependency chain; the limit is raised for the call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from bootup.transaction import graph as g
from bootup.transaction.errors import (
    ConflictingJobsError,
    DestructiveTransactionError,
    JobNotApplicableError,
    JobRequestError,
    OrderingCycleError,
    UnitLoadError,
)
from bootup.transaction.graph import ActiveState, UnitGraph
from bootup.transaction.jobs import (
    JobMode,
    JobType,
    collapse,
    is_applicable,
    is_conflicting,
    is_redundant,
    merge,
)
from bootup.transaction.result import Job, Pull, QueuedJob, Transaction
from bootup.units.model import DependencyType, LoadState

__all__ = ("build_transaction",)

_STOPPING = (JobType.STOP, JobType.RESTART)
_INACTIVE = (ActiveState.INACTIVE, ActiveState.FAILED)


@dataclass(eq=False, slots=True)
class _Link:
    """``subject`` pulled ``object`` in (``subject`` None: the request itself)."""

    subject: _Job | None
    object: _Job
    matters: bool
    conflicts: bool
    kind: str


@dataclass(eq=False, slots=True)
class _Job:
    unit: str
    type: JobType
    installed: bool = False
    irreversible: bool = False
    matters_to_anchor: bool = False
    ignore_order: bool = False
    generation: int = 0
    marker: _Job | None = None
    subject_links: list[_Link] = field(default_factory=list)
    object_links: list[_Link] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.unit}/{self.type}"


class _Again(Exception):
    """A job was dropped; the step must run again."""


class _AddError(Exception):
    """Adding a job failed; ``kind`` says whether the caller may ignore it."""

    def __init__(self, error: UnitLoadError | JobNotApplicableError) -> None:
        super().__init__(str(error))
        self.error = error


_LOAD_MESSAGES = {
    LoadState.NOT_FOUND: "Unit {} not found.",
    LoadState.BAD_SETTING: "Unit {} has a bad unit file setting.",
    LoadState.MASKED: "Unit {} is masked.",
}


class _Builder:
    def __init__(
        self,
        graph: UnitGraph,
        states: Mapping[str, ActiveState],
        queued: Mapping[str, QueuedJob],
        irreversible: bool,
    ) -> None:
        self.graph = graph
        self.states = states
        self.irreversible = irreversible
        self.jobs: dict[str, list[_Job]] = {}
        self.anchor: _Job | None = None
        self.log: list[str] = []
        self.order: list[str] | None = None
        # Jobs whose unlinking may have left other jobs with nothing pulling them in.
        self.orphans: list[_Job] = []
        # Cycle search state kept across passes: see verify_order().
        self.acyclic: set[_Job] = set()
        self.verify_units: list[str] | None = None
        self.verify_index = 0
        self.heads_changed = False
        self.installed: dict[str, _Job] = {
            graph.canonical(unit): _Job(
                graph.canonical(unit), q.type, installed=True, irreversible=q.irreversible
            )
            for unit, q in queued.items()
        }

    # -- state -----------------------------------------------------------------------

    def state(self, unit: str) -> ActiveState:
        found = self.states.get(unit)
        if found is not None:
            return found
        return ActiveState.ACTIVE if self.graph.node(unit).perpetual else ActiveState.INACTIVE

    def head(self, unit: str) -> _Job | None:
        jobs = self.jobs.get(unit)
        return jobs[0] if jobs else None

    def heads(self) -> list[_Job]:
        # Units only leave the transaction once it is built, so one sorted list serves.
        if self.order is None or len(self.order) != len(self.jobs):
            self.order = sorted(self.jobs)
        return [self.jobs[unit][0] for unit in self.order if unit in self.jobs]

    # -- adding jobs -----------------------------------------------------------------

    def add_one(self, job_type: JobType, unit: str) -> tuple[_Job, bool]:
        jobs = self.jobs.setdefault(unit, [])
        for job in jobs:
            if job.type is job_type:
                return job, False
        job = _Job(unit, job_type, irreversible=self.irreversible)
        jobs.insert(0, job)  # systemd prepends: the newest job heads the unit's list
        return job, True

    def add(
        self,
        job_type: JobType,
        unit: str,
        by: _Job | None,
        *,
        matters: bool,
        conflicts: bool,
        kind: str,
        ignore_requirements: bool = False,
        ignore_order: bool = False,
    ) -> None:
        node = self.graph.node(unit)
        if job_type is not JobType.STOP and node.load_state is not LoadState.LOADED:
            template = _LOAD_MESSAGES.get(node.load_state)
            message = (
                template.format(node.name)
                if template
                else f"Unit {node.name} failed to load properly, please adjust/correct and "
                f"reload service manager: {node.load_error or 'Invalid argument'}"
            )
            raise _AddError(UnitLoadError(node.name, node.load_state, message))
        if not is_applicable(job_type, node):
            raise _AddError(JobNotApplicableError(node.name, job_type))

        job, is_new = self.add_one(job_type, node.name)
        job.ignore_order = job.ignore_order or ignore_order
        link = _Link(by, job, matters, conflicts, kind)
        job.object_links.insert(0, link)
        if by is None:
            self.anchor = job
        else:
            by.subject_links.insert(0, link)

        if not is_new or ignore_requirements or job_type is JobType.NOP:
            return
        if job_type in (JobType.START, JobType.RESTART):
            self._pull(job, g.PULL_IN_START, JobType.START, matters=True, ignorable=False)
            self._pull(job, g.PULL_IN_START_IGNORED, JobType.START, matters=False, ignorable=True)
            self._pull(job, g.PULL_IN_VERIFY, JobType.VERIFY_ACTIVE, matters=True, ignorable=False)
            self._pull(
                job, g.PULL_IN_STOP, JobType.STOP, matters=True, ignorable=False, conflicts=True
            )
            self._pull(job, g.PULL_IN_STOP_IGNORED, JobType.STOP, matters=False, ignorable=True)
        if job_type in _STOPPING:
            restarted: set[str] = set()
            if job_type is JobType.RESTART:
                for kind_, dep in self._deps(job.unit, g.PROPAGATE_RESTART):
                    restarted.add(dep)
                    propagated = collapse(JobType.TRY_RESTART, self.state(dep))
                    if propagated is JobType.NOP:
                        continue
                    self._add_required(propagated, dep, job, kind_)
            for kind_, dep in self._deps(job.unit, g.PROPAGATE_STOP):
                if dep not in restarted:
                    self._add_required(JobType.STOP, dep, job, kind_)
        if job_type is JobType.RELOAD:
            for kind_, dep in self._deps(job.unit, (DependencyType.PROPAGATES_RELOAD_TO,)):
                propagated = collapse(JobType.TRY_RELOAD, self.state(dep))
                if propagated is JobType.NOP:
                    continue
                try:
                    self.add(propagated, dep, job, matters=False, conflicts=False, kind=kind_)
                except _AddError as exc:
                    self.log.append(f"{dep}: Cannot add dependency reload job, ignoring: {exc}")

    def _deps(
        self, unit: str, kinds: tuple[DependencyType, ...]
    ) -> Iterator[tuple[DependencyType, str]]:
        # One visit per unit (systemd iterates a set of units per atom), in name order.
        seen: dict[str, DependencyType] = {}
        for kind in kinds:
            for dep in self.graph.deps(unit, kind):
                seen.setdefault(dep, kind)
        for dep in sorted(seen):
            yield seen[dep], dep

    def _add_required(self, job_type: JobType, unit: str, by: _Job, kind: str) -> None:
        try:
            self.add(job_type, unit, by, matters=True, conflicts=False, kind=kind)
        except _AddError as exc:
            if not isinstance(exc.error, JobNotApplicableError):
                raise

    def _pull(
        self,
        job: _Job,
        kinds: tuple[DependencyType, ...],
        job_type: JobType,
        *,
        matters: bool,
        ignorable: bool,
        conflicts: bool = False,
    ) -> None:
        for kind, dep in self._deps(job.unit, kinds):
            try:
                self.add(job_type, dep, job, matters=matters, conflicts=conflicts, kind=kind)
            except _AddError as exc:
                if ignorable:
                    self.log.append(f"{dep}: Cannot add dependency job, ignoring: {exc}")
                elif not isinstance(exc.error, JobNotApplicableError):
                    raise

    def add_isolate_jobs(self) -> None:
        assert self.anchor is not None
        for unit in self.graph.names():
            node = self.graph.node(unit)
            if node.ignore_on_isolate:
                continue
            if self.state(unit) in _INACTIVE and unit not in self.installed:
                continue
            if self.jobs.get(unit):
                continue
            try:
                self.add(
                    JobType.STOP, unit, self.anchor, matters=True, conflicts=False, kind="isolate"
                )
            except _AddError as exc:
                self.log.append(f"{unit}: Cannot add isolate job, ignoring: {exc}")

    def add_triggering_jobs(self, unit: str) -> None:
        assert self.anchor is not None
        for trigger in self.graph.deps(unit, DependencyType.TRIGGERED_BY):
            if self.state(trigger) in _INACTIVE and trigger not in self.installed:
                continue
            if self.jobs.get(trigger):
                continue
            try:
                self.add(
                    JobType.STOP,
                    trigger,
                    self.anchor,
                    matters=True,
                    conflicts=False,
                    kind=DependencyType.TRIGGERED_BY,
                )
            except _AddError as exc:
                self.log.append(f"{unit}: Cannot add triggered by job, ignoring: {exc}")

    # -- deleting jobs ---------------------------------------------------------------

    def delete(self, job: _Job, *, delete_dependencies: bool) -> None:
        jobs = self.jobs.get(job.unit)
        if jobs is None or job not in jobs:
            return
        was_head = jobs[0] is job
        jobs.remove(job)
        if jobs:
            self.orphans.append(jobs[0])
            # A new head job may order differently (a stop instead of a start): the cycle
            # search cannot trust what it learnt about the old one.
            self.heads_changed = self.heads_changed or was_head
        else:
            del self.jobs[job.unit]
        self.orphans.extend(link.object for link in job.subject_links)
        while job.subject_links:
            self._free(job.subject_links[0])
        while job.object_links:
            link = job.object_links[0]
            other = link.subject if link.matters else None
            self._free(link)
            if other is not None and delete_dependencies:
                self.log.append(f"{other.unit}: Deleting job {other} as dependency of job {job}")
                self.delete(other, delete_dependencies=True)

    @staticmethod
    def _free(link: _Link) -> None:
        if link.subject is not None:
            link.subject.subject_links.remove(link)
        link.object.object_links.remove(link)

    def delete_unit(self, unit: str) -> None:
        while self.jobs.get(unit):
            self.delete(self.jobs[unit][0], delete_dependencies=True)

    # -- activation steps ------------------------------------------------------------

    def mark_matters(self, job: _Job, generation: int) -> None:
        job.matters_to_anchor = True
        job.generation = generation
        for link in job.subject_links:
            if link.matters and link.object.generation != generation:
                self.mark_matters(link.object, generation)

    def unit_matters(self, unit: str) -> bool:
        return any(job.matters_to_anchor for job in self.jobs.get(unit, ()))

    def minimize_impact(self) -> None:
        again = True
        while again:
            again = False
            for head in self.heads():
                for job in list(self.jobs.get(head.unit, ())):
                    if job.matters_to_anchor:
                        continue
                    stops_running = job.type is JobType.STOP and self.state(job.unit) in (
                        ActiveState.ACTIVE,
                        ActiveState.RELOADING,
                        ActiveState.ACTIVATING,
                    )
                    queued = self.installed.get(job.unit)
                    changes_queued = queued is not None and is_conflicting(job.type, queued.type)
                    if not stops_running and not changes_queued:
                        continue
                    self.log.append(f"{job.unit}: Deleting {job} to minimize impact.")
                    self.delete(job, delete_dependencies=True)
                    again = True
                    break
                if again:
                    break

    def drop_redundant(self) -> None:
        # One pass is enough: dropping a redundant job deletes no other job and changes no
        # other unit's redundancy (systemd rescans after each drop to the same effect).
        for head in self.heads():
            queued = self.installed.get(head.unit)
            keep = any(
                job is self.anchor
                or not is_redundant(job.type, self.state(job.unit))
                or (queued is not None and is_conflicting(job.type, queued.type))
                for job in self.jobs[head.unit]
            )
            if not keep:
                while self.jobs.get(head.unit):
                    self.delete(self.jobs[head.unit][0], delete_dependencies=False)

    def collect_garbage(self, *, everything: bool) -> None:
        """Delete head jobs that nothing pulls in, until none is left.

        A worklist replaces systemd's rescan after each deletion: only jobs that lost a
        link (or became their unit's head) can have become garbage, so after the first full
        scan only those are looked at. Peeling unreferenced jobs reaches the same fixed
        point in any order, in linear time overall.
        """
        pending = list(reversed(self.heads())) if everything else []
        while pending or self.orphans:
            if not pending:
                pending, self.orphans = self.orphans[::-1], []
            head = pending.pop()
            jobs = self.jobs.get(head.unit)
            if not jobs or jobs[0] is not head or head is self.anchor or head.object_links:
                continue
            self.delete(head, delete_dependencies=True)

    def verify_order(self, generation: int) -> None:
        """Search the ordering graph for a cycle, from every unit in name order.

        After a cycle is broken systemd starts the search over. Deleting jobs cannot create
        a cycle, so every job a previous pass finished exploring is still cycle-free, and the
        units searched from before are finished: the new pass resumes where the last one
        stopped and skips finished jobs. It finds the same cycle systemd's restart would find
        first, without the quadratic cost.
        """
        if self.verify_units is None or self.heads_changed:
            self.verify_units = sorted(self.jobs)
            self.verify_index = 0
            self.acyclic.clear()
            self.heads_changed = False
        while self.verify_index < len(self.verify_units):
            head = self.head(self.verify_units[self.verify_index])
            if head is not None and head not in self.acyclic:
                self._verify_one(head, None, generation)
            self.verify_index += 1

    def _verify_one(self, job: _Job, came_from: _Job | None, generation: int) -> None:
        if job in self.acyclic:
            return
        if job.generation == generation:
            if job.marker is None:
                return
            self._break_cycle(job, came_from, generation)
        job.marker = came_from if came_from is not None else job
        job.generation = generation
        for direction in (DependencyType.BEFORE, DependencyType.AFTER):
            for unit in self.graph.deps(job.unit, direction):
                other = self.head(unit) or self.installed.get(unit)
                if other is None or _compare(job, other, direction) >= 0:
                    continue
                self._verify_one(other, job, generation)
        job.marker = None
        self.acyclic.add(job)

    def _break_cycle(self, job: _Job, came_from: _Job | None, generation: int) -> None:
        path: list[_Job] = []
        victim: _Job | None = None
        k = came_from
        while k is not None:
            path.append(k)
            if victim is None and k.unit in self.jobs and not self.unit_matters(k.unit):
                victim = k
            if k is job:
                break
            k = k.marker if (k.generation == generation and k.marker is not k) else None
        for index, step in enumerate(path):
            what = "ordering cycle" if index == 0 else "dependency"
            self.log.append(f"{job.unit}: Found {what} on {step}")
        if victim is not None:
            self.log.append(
                f"{job.unit}: Job {victim} deleted to break ordering cycle starting with {job}"
            )
            self.delete_unit(victim.unit)
            raise _Again
        self.log.append(f"{job.unit}: Unable to break cycle starting with {job}")
        raise OrderingCycleError(tuple((step.unit, str(step.type)) for step in path))

    def merge_jobs(self) -> None:
        for head in self.heads():
            merged = head.type
            for other in self.jobs[head.unit][1:]:
                result = merge(merged, other.type)
                if result is not None:
                    merged = collapse(result, self.state(head.unit))
                    continue
                if self._delete_one_unmergeable(self.jobs[head.unit]):
                    raise _Again
                raise ConflictingJobsError(other.unit, merged, other.type)
        for unit in sorted(self.jobs):
            jobs = self.jobs[unit]
            merged = jobs[0].type
            for other in jobs[1:]:
                result = merge(merged, other.type)
                assert result is not None
                merged = collapse(result, self.state(unit))
            survivor = jobs[0]
            while len(jobs) > 1:
                other = jobs[1]
                if other is self.anchor:
                    self._merge_into(other, survivor, merged)
                    survivor = other
                else:
                    self._merge_into(survivor, other, merged)
            survivor.type = merged

    def _merge_into(self, job: _Job, other: _Job, merged: JobType) -> None:
        job.type = merged
        job.irreversible = job.irreversible or other.irreversible
        job.matters_to_anchor = job.matters_to_anchor or other.matters_to_anchor
        for link in other.subject_links:
            link.subject = job
        job.subject_links[:0] = other.subject_links
        for link in other.object_links:
            link.object = job
        job.object_links[:0] = other.object_links
        other.subject_links = []
        other.object_links = []
        self.delete(other, delete_dependencies=True)

    def _delete_one_unmergeable(self, jobs: list[_Job]) -> bool:
        for index, j in enumerate(jobs):
            for k in jobs[index + 1 :]:
                if merge(j.type, k.type) is not None:
                    continue
                if not j.matters_to_anchor and not k.matters_to_anchor:
                    if j.type is JobType.STOP:
                        victim = k if _is_conflicted_by(j) else j
                    elif k.type is JobType.STOP:
                        victim = j if _is_conflicted_by(k) else k
                    else:
                        victim = j
                elif not j.matters_to_anchor:
                    victim = j
                elif not k.matters_to_anchor:
                    victim = k
                else:
                    return False
                self.log.append(
                    f"{victim.unit}: Fixing conflicting jobs {j},{k} by deleting job {victim}"
                )
                self.delete(victim, delete_dependencies=True)
                return True
        return False

    def check_destructive(self, mode: JobMode) -> None:
        assert self.anchor is not None
        for head in self.heads():
            queued = self.installed.get(head.unit)
            if (
                queued is not None
                and (mode is JobMode.FAIL or queued.irreversible)
                and is_conflicting(queued.type, head.type)
            ):
                raise DestructiveTransactionError(
                    f"Transaction for {self.anchor} is destructive ({head.unit} has "
                    f"'{queued.type}' job queued, but '{head.type}' is included in transaction)."
                )


def _compare(a: _Job, b: _Job, direction: DependencyType) -> int:
    """Systemd's ``job_compare()``: < 0 when ``a`` runs before ``b``, given a ``direction`` b."""
    if JobType.NOP in (a.type, b.type) or a.ignore_order or b.ignore_order:
        return 0
    if direction is DependencyType.AFTER:
        return -_compare(b, a, DependencyType.BEFORE)
    return 1 if b.type in _STOPPING else -1


def _is_conflicted_by(job: _Job) -> bool:
    return any(link.conflicts for link in job.object_links)


@contextmanager
def _recursion_room(depth: int) -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, depth))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def build_transaction(
    graph: UnitGraph,
    unit: str,
    job_type: JobType = JobType.START,
    mode: JobMode = JobMode.REPLACE,
    *,
    states: Mapping[str, ActiveState] | None = None,
    queued: Mapping[str, QueuedJob] | None = None,
    manual: bool = False,
) -> Transaction:
    """Compute the transaction systemd would install for ``job_type`` on ``unit``.

    Args:
        graph: every unit the manager knows.
        unit: the unit of the anchor job (an alias is resolved).
        job_type: what is asked for; try-restart, try-reload and reload-or-start collapse
            by the unit's state first, as systemd does.
        mode: the job mode (``systemctl --job-mode=``).
        states: the units' active states; absent units are inactive (perpetual ones
            active).
        queued: jobs already queued, by unit.
        manual: the request comes from a user, so RefuseManualStart=/Stop= apply.

    Returns:
        The jobs, why each is there, what each waits for, and systemd's log lines.

    Raises:
        TransactionError: with systemd's message, when systemd would refuse.
    """
    states = states or {}
    queued = queued or {}
    name = graph.canonical(unit)
    node = graph.node(name)
    if mode is JobMode.ISOLATE and job_type is not JobType.START:
        raise JobRequestError("Isolate is only valid for start.")
    if mode is JobMode.ISOLATE and not node.allow_isolate:
        raise JobRequestError("Operation refused, unit may not be isolated.")
    if mode is JobMode.TRIGGERING and job_type is not JobType.STOP:
        raise JobRequestError("--job-mode=triggering is only valid for stop.")
    if manual and (
        (job_type is not JobType.STOP and node.refuse_manual_start)
        or (job_type in _STOPPING and node.refuse_manual_stop)
    ):
        raise JobRequestError(
            f"Operation refused, unit {name} may be requested by dependency only "
            "(it is configured to refuse manual start/stop)."
        )
    builder = _Builder(graph, states, queued, mode is JobMode.REPLACE_IRREVERSIBLY)
    builder.log.append(f"{name}: Trying to enqueue job {name}/{job_type}/{mode}")
    job_type = collapse(job_type, builder.state(name))
    with _recursion_room(4 * len(graph) + 1000):
        try:
            builder.add(
                job_type,
                name,
                None,
                matters=True,
                conflicts=False,
                kind="request",
                ignore_requirements=mode
                in (JobMode.IGNORE_DEPENDENCIES, JobMode.IGNORE_REQUIREMENTS),
                ignore_order=mode is JobMode.IGNORE_DEPENDENCIES,
            )
        except _AddError as exc:
            raise exc.error from None
        if mode is JobMode.ISOLATE:
            builder.add_isolate_jobs()
        if mode is JobMode.TRIGGERING:
            builder.add_triggering_jobs(name)
        _activate(builder, mode)
    return _result(builder, mode)


def _activate(builder: _Builder, mode: JobMode) -> None:
    assert builder.anchor is not None
    for job in builder.installed.values():
        job.generation = 0
    generation = 1
    builder.mark_matters(builder.anchor, generation)
    generation += 1
    if mode is JobMode.FAIL:
        builder.minimize_impact()
    builder.drop_redundant()
    generation = _break_cycles(builder, mode, generation, collect_everything=True)
    while True:
        try:
            builder.merge_jobs()
        except _Again:
            if mode is not JobMode.ISOLATE:
                builder.collect_garbage(everything=False)
            continue
        break
    builder.drop_redundant()
    # systemd searches for cycles before merging, over each unit's newest job only; a
    # merge can still leave one (a dropped stop uncovers a start ordered both ways), and
    # systemd then installs jobs that wait for each other forever. bootup searches the
    # merged jobs once more, with the same rule.
    builder.verify_units = None
    builder.acyclic.clear()
    _break_cycles(builder, mode, generation, collect_everything=False)
    builder.check_destructive(mode)


def _break_cycles(
    builder: _Builder, mode: JobMode, generation: int, *, collect_everything: bool
) -> int:
    """Steps 4 and 5: collect garbage and break ordering cycles until none is left."""
    while True:
        if mode is not JobMode.ISOLATE:
            builder.collect_garbage(everything=collect_everything)
            collect_everything = False
        generation += 1
        try:
            builder.verify_order(generation)
        except _Again:
            continue
        return generation


def _result(builder: _Builder, mode: JobMode) -> Transaction:
    assert builder.anchor is not None
    final = {unit: jobs[0] for unit, jobs in builder.jobs.items()}
    jobs: dict[str, Job] = {}
    for unit in sorted(final):
        job = final[unit]
        pulls = tuple(
            Pull(
                unit=link.subject.unit if link.subject is not None else None,
                job_type=link.subject.type if link.subject is not None else None,
                kind=link.kind,
                matters=link.matters,
            )
            for link in reversed(job.object_links)
        )
        jobs[unit] = Job(unit, job.type, job.matters_to_anchor, pulls)
    waits: dict[str, tuple[str, ...]] = {}
    for unit, job in final.items():
        before: set[str] = set()
        for direction in (DependencyType.AFTER, DependencyType.BEFORE):
            for other_unit in builder.graph.deps(unit, direction):
                other = final.get(other_unit) or builder.installed.get(other_unit)
                if other is not None and _compare(job, other, direction) > 0:
                    before.add(other_unit)
        waits[unit] = tuple(sorted(before))
    cancelled: tuple[str, ...] = ()
    if mode in (JobMode.ISOLATE, JobMode.FLUSH):
        cancelled = tuple(
            sorted(
                unit
                for unit in builder.installed
                if unit not in final and not builder.graph.node(unit).ignore_on_isolate
            )
        )
    return Transaction(
        anchor=builder.anchor.unit,
        mode=mode,
        jobs=jobs,
        waits_for=waits,
        cancelled=cancelled,
        log=tuple(builder.log),
    )
