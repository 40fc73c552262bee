"""Build the transaction engine's :class:`UnitGraph` from units loaded by :mod:`bootup.units`.

systemd loads a unit when something refers to it, so the graph of a request is the closure
of its anchor over every dependency; units nothing refers to play no part (and are not
stopped by an isolate, as they are not loaded).
"""

from __future__ import annotations

from collections.abc import Iterable

from bootup.transaction.graph import UnitGraph, UnitNode
from bootup.units.dependencies import load_graph as load_units
from bootup.units.loader import Loader
from bootup.units.model import DependencyType, Unit, UnitType

__all__ = ("load_graph", "unit_node")

#: Units the system manager creates at start-up and never stops (``unit->perpetual``):
#: the root and system slices (slice.c), PID 1's own scope, and the root mount.
PERPETUAL = frozenset({"-.slice", "system.slice", "init.scope", "-.mount"})

_BOOLEAN_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})


def _flag(unit: Unit, key: str) -> bool:
    values = unit.setting("Unit", key)
    return bool(values) and values[-1].strip().lower() in _BOOLEAN_TRUE


def unit_node(unit: Unit) -> UnitNode:
    """The engine's view of one loaded unit."""
    deps: dict[DependencyType, list[str]] = {}
    for dep in unit.dependencies:
        deps.setdefault(dep.type, []).append(dep.target)
    can_reload = (
        (
            unit.type is UnitType.SERVICE
            and unit.service is not None
            and bool(unit.service.exec_reload)
        )
        or unit.type is UnitType.MOUNT
        or DependencyType.PROPAGATES_RELOAD_TO in deps
    )
    return UnitNode(
        name=unit.name,
        load_state=unit.load_state,
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


def load_graph(loader: Loader, roots: Iterable[str] | None = None) -> UnitGraph:
    """Load ``roots`` (default: every unit on the path) and every unit they refer to.

    The units come with their default, implicit and inverse dependencies
    (:func:`bootup.units.dependencies.load_graph`), as systemd's dump shows them.
    """
    units = load_units(loader, roots)
    return UnitGraph(unit_node(unit) for unit in units.values())
