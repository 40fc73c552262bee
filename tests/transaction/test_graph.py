"""The unit graph shares bootup.units' dependency table: one enum, one inverse map."""

from __future__ import annotations

import bootup.transaction
from bootup.transaction import LoadState, UnitGraph, UnitNode
from bootup.transaction import graph as transaction_graph
from bootup.units import model
from bootup.units.model import INVERSE, DependencyType


def test_the_engine_uses_the_units_enum_and_load_states() -> None:
    # The old names stay importable for the modules above the engine (analyze, cli).
    assert bootup.transaction.DependencyKind is DependencyType
    assert transaction_graph.DependencyKind is DependencyType
    assert bootup.transaction.LoadState is model.LoadState


def test_every_declared_kind_gets_the_units_inverse() -> None:
    kinds = [k for k in DependencyType if k is not DependencyType.JOINS_NAMESPACE_OF]
    nodes = [UnitNode(f"{k.value}.service", dependencies={k: ("t.service",)}) for k in kinds]
    graph = UnitGraph([*nodes, UnitNode("t.service")])
    for kind in kinds:
        source = f"{kind.value}.service"
        assert graph.deps(source, kind) == ["t.service"], kind
        assert graph.has_dep("t.service", INVERSE[kind], source), kind


def test_joins_namespace_of_has_no_inverse_edge() -> None:
    """systemd 252's ``--test`` dump lists JoinsNamespaceOf= on the declaring unit only."""
    graph = UnitGraph(
        [
            UnitNode("r.service", dependencies={DependencyType.JOINS_NAMESPACE_OF: ("e.service",)}),
            UnitNode("e.service"),
        ]
    )
    assert graph.deps("r.service", DependencyType.JOINS_NAMESPACE_OF) == ["e.service"]
    assert graph.deps("e.service", *DependencyType) == []


def test_a_missing_target_becomes_a_not_found_unit() -> None:
    graph = UnitGraph([UnitNode("a.service", dependencies={DependencyType.WANTS: ("b.service",)})])
    assert graph.node("b.service").load_state is LoadState.NOT_FOUND
    assert graph.deps("b.service", DependencyType.WANTED_BY) == ["a.service"]
