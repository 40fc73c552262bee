"""Build the transaction engine's :class:`UnitGraph` from units loaded by :mod:`bootup.units`.

systemd loads a unit when something refers to it, so the graph of a request is the closure
of its anchor over every dependency; units nothing refers to play no part (and are not
stopped by an isolate, as they are not loaded).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bootup.transaction.graph import DependencyKind, LoadState, UnitGraph, UnitNode
from bootup.units.loader import Loader
from bootup.units.model import Unit, UnitType

__all__ = ("load_graph", "unit_node")

#: Units systemd creates itself and never stops (``unit->perpetual``).
PERPETUAL = frozenset({"-.slice", "init.scope", "-.mount"})

_BOOLEAN_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})


def _flag(unit: Unit, key: str) -> bool:
    values = unit.setting("Unit", key)
    return bool(values) and values[-1].strip().lower() in _BOOLEAN_TRUE


def unit_node(unit: Unit) -> UnitNode:
    """The engine's view of one loaded unit."""
    deps: dict[DependencyKind, list[str]] = {}
    for dep in unit.dependencies:
        deps.setdefault(DependencyKind(dep.type.value), []).append(dep.target)
    can_reload = (
        (
            unit.type is UnitType.SERVICE
            and unit.service is not None
            and bool(unit.service.exec_reload)
        )
        or unit.type is UnitType.MOUNT
        or DependencyKind.PROPAGATES_RELOAD_TO in deps
    )
    return UnitNode(
        name=unit.name,
        load_state=LoadState(unit.load_state.value),
        dependencies={kind: tuple(targets) for kind, targets in deps.items()},
        aliases=unit.aliases,
        allow_isolate=_flag(unit, "AllowIsolate"),
        ignore_on_isolate=_flag(unit, "IgnoreOnIsolate"),
        refuse_manual_start=_flag(unit, "RefuseManualStart"),
        refuse_manual_stop=_flag(unit, "RefuseManualStop"),
        can_start=unit.type is not UnitType.DEVICE,
        can_reload=can_reload,
        perpetual=unit.name in PERPETUAL,
        load_error=unit.load_error or "",
    )


def load_graph(loader: Loader, roots: Iterable[str]) -> UnitGraph:
    """Load ``roots`` and every unit they refer to, transitively, into a graph."""
    nodes: dict[str, UnitNode] = {}
    queue = deque(roots)
    seen: set[str] = set(queue)
    while queue:
        unit = loader.load(queue.popleft())
        if unit.name in nodes:
            continue
        nodes[unit.name] = unit_node(unit)
        seen.update(unit.names)
        for dep in unit.dependencies:
            if dep.target not in seen:
                seen.add(dep.target)
                queue.append(dep.target)
    return UnitGraph(nodes.values())
