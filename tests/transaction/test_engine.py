"""The transaction engine on hand-built graphs: systemd 252's decisions (reference §1.6, §7)."""

from __future__ import annotations

import pytest

from bootup.transaction import (
    ActiveState,
    ConflictingJobsError,
    DestructiveTransactionError,
    JobMode,
    JobRequestError,
    JobType,
    LoadState,
    OrderingCycleError,
    QueuedJob,
    UnitGraph,
    UnitLoadError,
    UnitNode,
    build_transaction,
)
from bootup.units.model import DependencyType

K = DependencyType


def node(name: str, **deps: tuple[str, ...] | bool | LoadState) -> UnitNode:
    flags = {k: v for k, v in deps.items() if not isinstance(v, tuple) or k == "aliases"}
    dependencies = {
        DependencyType[k.upper()]: v
        for k, v in deps.items()
        if isinstance(v, tuple) and k != "aliases"
    }
    return UnitNode(name, dependencies=dependencies, **flags)  # type: ignore[arg-type]


def jobs(graph: UnitGraph, unit: str, **kwargs: object) -> set[tuple[str, str]]:
    return build_transaction(graph, unit, **kwargs).job_set()  # type: ignore[arg-type]


def test_c01_requires_without_after_pulls_in_but_does_not_order() -> None:
    graph = UnitGraph([node("a.service", requires=("b.service",)), node("b.service")])
    tr = build_transaction(graph, "a.service")
    assert tr.job_set() == {("a.service", "start"), ("b.service", "start")}
    assert tr.waits_for == {"a.service": (), "b.service": ()}


def test_c02_after_alone_pulls_in_nothing() -> None:
    graph = UnitGraph([node("a.service", after=("b.service",)), node("b.service")])
    assert jobs(graph, "a.service") == {("a.service", "start")}


def test_requires_plus_after_orders_the_start() -> None:
    graph = UnitGraph(
        [node("a.service", requires=("b.service",), after=("b.service",)), node("b.service")]
    )
    tr = build_transaction(graph, "a.service")
    assert tr.waits_for["a.service"] == ("b.service",)
    assert tr.waits_for["b.service"] == ()


def test_c03_requisite_becomes_verify_active() -> None:
    graph = UnitGraph(
        [node("a.service", requisite=("b.service",), after=("b.service",)), node("b.service")]
    )
    assert jobs(graph, "a.service") == {("a.service", "start"), ("b.service", "verify-active")}


def test_c04_missing_and_masked_wants_are_skipped_with_systemds_message() -> None:
    graph = UnitGraph(
        [
            node("a.service", wants=("zz.service", "m.service")),
            node("m.service", load_state=LoadState.MASKED),
        ]
    )
    tr = build_transaction(graph, "a.service")
    assert tr.job_set() == {("a.service", "start")}
    assert "zz.service: Cannot add dependency job, ignoring: Unit zz.service not found." in tr.log
    assert "m.service: Cannot add dependency job, ignoring: Unit m.service is masked." in tr.log


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (None, "Unit zz.service not found."),
        (LoadState.MASKED, "Unit zz.service is masked."),
        (LoadState.BAD_SETTING, "Unit zz.service has a bad unit file setting."),
    ],
)
def test_c05_missing_or_masked_requires_fails(target: LoadState | None, message: str) -> None:
    nodes = [node("a.service", requires=("zz.service",))]
    if target is not None:
        nodes.append(node("zz.service", load_state=target))
    with pytest.raises(UnitLoadError, match=message) as info:
        build_transaction(UnitGraph(nodes), "a.service")
    assert info.value.unit == "zz.service"


def test_c06_cycle_between_wanted_jobs_is_broken_deterministically() -> None:
    graph = UnitGraph(
        [
            node("t.target", wants=("e.service", "f.service")),
            node("e.service", wants=("f.service",), after=("f.service",)),
            node("f.service", after=("e.service",)),
        ]
    )
    first = build_transaction(graph, "t.target")
    assert ("t.target", "start") in first.job_set()
    assert len(first.job_set()) == 2  # exactly one of e and f was deleted
    assert any("deleted to break ordering cycle" in line for line in first.log)
    for _ in range(5):
        assert build_transaction(graph, "t.target").job_set() == first.job_set()


def test_c06_deleting_the_wanting_unit_garbage_collects_what_only_it_wanted() -> None:
    # e wants f; f is wanted by nobody else; breaking the cycle at e takes f along.
    graph = UnitGraph(
        [
            node("t.target", wants=("e.service",), requires=("f2.service",)),
            node("e.service", wants=("f.service",), after=("f.service",)),
            node("f.service", after=("e.service",)),
            node("f2.service"),
        ]
    )
    tr = build_transaction(graph, "t.target")
    assert ("e.service", "start") not in tr.job_set() or ("f.service", "start") not in (
        tr.job_set()
    )


def test_c07_cycle_between_required_jobs_fails() -> None:
    graph = UnitGraph(
        [
            node("t.target", requires=("a.service",)),
            node("a.service", requires=("c.service",), after=("c.service",)),
            node("c.service", requires=("a.service",), after=("a.service",)),
        ]
    )
    with pytest.raises(OrderingCycleError, match="Transaction order is cyclic") as info:
        build_transaction(graph, "t.target")
    units = {unit for unit, _ in info.value.cycle}
    assert units == {"a.service", "c.service"}


def test_c08_conflicting_wanted_units_drop_the_conflicted_start() -> None:
    graph = UnitGraph(
        [
            node("t.target", wants=("p.service", "q.service")),
            node("p.service", conflicts=("q.service",)),
            node("q.service"),
        ]
    )
    tr = build_transaction(graph, "t.target")
    assert tr.job_set() == {("t.target", "start"), ("p.service", "start")}
    # systemd logs the pair in the order the jobs were added, which depends on its hash
    # order; the decision is what matters: q's start is the job deleted.
    assert any(
        line.startswith("q.service: Fixing conflicting jobs q.service/")
        and line.endswith("by deleting job q.service/start")
        for line in tr.log
    )


def test_c09_conflicting_required_units_fail_with_systemds_message() -> None:
    graph = UnitGraph(
        [
            node("both.target", requires=("p.service", "q.service")),
            node("p.service", conflicts=("q.service",)),
            node("q.service"),
        ]
    )
    with pytest.raises(ConflictingJobsError) as info:
        build_transaction(graph, "both.target")
    assert str(info.value) == (
        "Transaction contains conflicting jobs 'stop' and 'start' for both.target. "
        "Probably contradicting requirement dependencies configured."
    )


def test_redundant_jobs_are_dropped_but_the_anchor_stays() -> None:
    graph = UnitGraph([node("a.service", requires=("b.service",)), node("b.service")])
    tr = build_transaction(
        graph,
        "a.service",
        states={"a.service": ActiveState.ACTIVE, "b.service": ActiveState.ACTIVE},
    )
    assert tr.job_set() == {("a.service", "start")}


def test_conflict_on_inactive_unit_vanishes() -> None:
    graph = UnitGraph([node("a.service", conflicts=("b.service",)), node("b.service")])
    assert jobs(graph, "a.service") == {("a.service", "start")}
    active = build_transaction(graph, "a.service", states={"b.service": ActiveState.ACTIVE})
    assert active.job_set() == {("a.service", "start"), ("b.service", "stop")}
    # Stop jobs run before start jobs: a's start waits for b's stop.
    assert active.waits_for["a.service"] == ()
    graph2 = UnitGraph(
        [node("a.service", conflicts=("b.service",), after=("b.service",)), node("b.service")]
    )
    ordered = build_transaction(graph2, "a.service", states={"b.service": ActiveState.ACTIVE})
    assert ordered.waits_for["a.service"] == ("b.service",)


def test_stop_propagates_over_required_by_in_reverse_order() -> None:
    graph = UnitGraph(
        [node("a.service", requires=("b.service",), after=("b.service",)), node("b.service")]
    )
    states = {"a.service": ActiveState.ACTIVE, "b.service": ActiveState.ACTIVE}
    tr = build_transaction(graph, "b.service", JobType.STOP, states=states)
    assert tr.job_set() == {("a.service", "stop"), ("b.service", "stop")}
    assert tr.waits_for["b.service"] == ("a.service",)  # a stops first
    assert tr.waits_for["a.service"] == ()


def test_restart_propagates_as_try_restart_to_active_dependents_only() -> None:
    graph = UnitGraph(
        [
            node("a.service", requires=("b.service",)),
            node("c.service", requires=("b.service",)),
            node("b.service"),
        ]
    )
    states = {"a.service": ActiveState.ACTIVE, "b.service": ActiveState.ACTIVE}
    tr = build_transaction(graph, "b.service", JobType.RESTART, states=states)
    assert tr.job_set() == {("b.service", "restart"), ("a.service", "restart")}


def test_try_restart_of_an_inactive_unit_is_a_nop() -> None:
    graph = UnitGraph([node("a.service")])
    assert jobs(graph, "a.service", job_type=JobType.TRY_RESTART) == {("a.service", "nop")}


def test_isolate_stops_active_units_not_wanted_and_honours_ignore_on_isolate() -> None:
    graph = UnitGraph(
        [
            node("rescue.target", requires=("r.service",), allow_isolate=True),
            node("r.service"),
            node("x.service"),
            node("y.service", ignore_on_isolate=True),
            node("z.service"),
        ]
    )
    states = dict.fromkeys(("x.service", "y.service"), ActiveState.ACTIVE)
    tr = build_transaction(graph, "rescue.target", mode=JobMode.ISOLATE, states=states)
    assert tr.job_set() == {
        ("rescue.target", "start"),
        ("r.service", "start"),
        ("x.service", "stop"),
    }
    assert tr.why("x.service")[-1].kind == "isolate"


def test_isolate_refused_without_allow_isolate() -> None:
    graph = UnitGraph([node("a.target")])
    with pytest.raises(JobRequestError, match="unit may not be isolated"):
        build_transaction(graph, "a.target", mode=JobMode.ISOLATE)


def test_fail_mode_refuses_to_replace_a_queued_job() -> None:
    graph = UnitGraph([node("a.service")])
    queued = {"a.service": QueuedJob(JobType.STOP)}
    with pytest.raises(DestructiveTransactionError, match="is destructive"):
        build_transaction(graph, "a.service", mode=JobMode.FAIL, queued=queued)
    tr = build_transaction(graph, "a.service", queued=queued)
    assert tr.job_set() == {("a.service", "start")}


def test_ignore_dependencies_adds_only_the_anchor() -> None:
    graph = UnitGraph(
        [node("a.service", requires=("b.service",), after=("b.service",)), node("b.service")]
    )
    tr = build_transaction(graph, "a.service", mode=JobMode.IGNORE_DEPENDENCIES)
    assert tr.job_set() == {("a.service", "start")}


def test_why_explains_the_chain_from_the_anchor() -> None:
    graph = UnitGraph(
        [
            node("multi-user.target", wants=("cron.service",)),
            node("cron.service", requires=("sysinit.target",)),
            node("sysinit.target"),
        ]
    )
    tr = build_transaction(graph, "multi-user.target")
    chain = tr.why("sysinit.target")
    assert [(p.unit, p.kind) for p in chain] == [
        (None, "request"),
        ("multi-user.target", "Wants"),
        ("cron.service", "Requires"),
    ]


def test_aliases_resolve_to_the_unit() -> None:
    graph = UnitGraph([node("multi-user.target", aliases=("runlevel3.target",)), node("x.service")])
    assert jobs(graph, "runlevel3.target") == {("multi-user.target", "start")}


def test_refuse_manual_start() -> None:
    graph = UnitGraph([node("a.service", refuse_manual_start=True)])
    with pytest.raises(JobRequestError, match="may be requested by dependency only"):
        build_transaction(graph, "a.service", manual=True)
    assert jobs(graph, "a.service") == {("a.service", "start")}
