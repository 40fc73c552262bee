"""Invariants of the transaction engine on random unit graphs (Hypothesis)."""

from __future__ import annotations

import graphlib
import random

from hypothesis import given
from hypothesis import strategies as st

from bootup.transaction import (
    ActiveState,
    JobMode,
    JobType,
    TransactionError,
    UnitGraph,
    UnitNode,
    build_transaction,
)
from bootup.units.model import DependencyType

KINDS = [
    DependencyType.REQUIRES,
    DependencyType.WANTS,
    DependencyType.AFTER,
    DependencyType.BEFORE,
    DependencyType.CONFLICTS,
    DependencyType.REQUISITE,
    DependencyType.BINDS_TO,
    DependencyType.PART_OF,
]
NAMES = [f"u{i}.service" for i in range(8)]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[UnitNode], dict[str, ActiveState]]:
    count = draw(st.integers(min_value=1, max_value=len(NAMES)))
    names = NAMES[:count]
    nodes = []
    for name in names:
        deps: dict[DependencyType, tuple[str, ...]] = {}
        for kind in KINDS:
            targets = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
            if targets:
                deps[kind] = tuple(targets)
        nodes.append(UnitNode(name, dependencies=deps, allow_isolate=True))
    states = {
        name: draw(st.sampled_from([ActiveState.INACTIVE, ActiveState.ACTIVE])) for name in names
    }
    return nodes, states


@given(
    graphs(),
    st.sampled_from([JobType.START, JobType.STOP, JobType.RESTART]),
    st.sampled_from([JobMode.REPLACE, JobMode.ISOLATE, JobMode.FAIL]),
    st.randoms(),
)
def test_invariants(
    spec: tuple[list[UnitNode], dict[str, ActiveState]],
    job_type: JobType,
    mode: JobMode,
    rnd: random.Random,
) -> None:
    nodes, states = spec
    if mode is JobMode.ISOLATE:
        job_type = JobType.START
    graph = UnitGraph(nodes)
    anchor = nodes[0].name
    try:
        tr = build_transaction(graph, anchor, job_type, mode, states=states)
    except TransactionError as exc:
        outcome: object = (type(exc), str(exc))
    else:
        # The anchor job is present.
        assert anchor in tr.jobs
        # Every job waits only for jobs of the transaction (nothing is queued here).
        for unit, waits in tr.waits_for.items():
            assert unit in tr.jobs
            assert set(waits) <= set(tr.jobs)
        # No ordering cycle survives.
        graphlib.TopologicalSorter(dict(tr.waits_for)).prepare()
        # Every job but the anchor was pulled in by a job of the transaction. (Not always
        # from the anchor: like systemd, garbage collection keeps jobs that pull each other
        # in, and isolate mode does not collect at all.)
        for job in tr.jobs.values():
            if job.unit != anchor:
                assert job.pulled_by or mode is JobMode.ISOLATE, job.unit
                assert all(p.unit in tr.jobs for p in job.pulled_by), job.unit
        outcome = (tr.job_set(), dict(tr.waits_for))
    # The result does not depend on the order the units were given in.
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    assert _outcome(UnitGraph(shuffled), anchor, job_type, mode, states) == outcome


def _outcome(
    graph: UnitGraph,
    anchor: str,
    job_type: JobType,
    mode: JobMode,
    states: dict[str, ActiveState],
) -> object:
    try:
        tr = build_transaction(graph, anchor, job_type, mode, states=states)
    except TransactionError as exc:
        return (type(exc), str(exc))
    return (tr.job_set(), dict(tr.waits_for))
