"""The unit graph a transaction is computed over.

A transaction needs little of a unit: its canonical name, its load state, its dependencies
by kind, and a few flags. :class:`UnitNode` is that view, so the engine stays a pure
function that tests can feed directly and that :mod:`bootup.units` feeds from unit files.

Dependencies are declared forward (``a Requires b``); :class:`UnitGraph` adds the inverse
of each (``b RequiredBy a``) exactly as systemd's ``unit_add_dependency()`` does, because
the engine acts on inverses too (a stop propagates over RequiredBy). The kinds, their inverses
and the load states are :mod:`bootup.units.model`'s (one table for the loader and the engine);
this module adds the behaviours each kind implies, systemd's dependency "atoms"
(src/core/unit-dependency-atom.c).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from bootup.units.model import INVERSE, DependencyType, LoadState

__all__ = (
    "ActiveState",
    "DependencyKind",
    "LoadState",
    "UnitGraph",
    "UnitNode",
)


class ActiveState(enum.StrEnum):
    """systemd's unit active states (``systemctl show -p ActiveState``)."""

    ACTIVE = "active"
    RELOADING = "reloading"
    INACTIVE = "inactive"
    FAILED = "failed"
    ACTIVATING = "activating"
    DEACTIVATING = "deactivating"
    MAINTENANCE = "maintenance"


#: The name the transaction API has always used for :class:`bootup.units.model.DependencyType`;
#: kept because modules above the engine (analyze, cli, benchmarks) import it from here.
DependencyKind = DependencyType

K = DependencyType

# The atoms the transaction engine acts on (systemd 252's atom_map), kind by kind.
PULL_IN_START: Final = (K.REQUIRES, K.BINDS_TO)
PULL_IN_START_IGNORED: Final = (K.WANTS, K.UPHOLDS)
PULL_IN_VERIFY: Final = (K.REQUISITE,)
PULL_IN_STOP: Final = (K.CONFLICTS,)
PULL_IN_STOP_IGNORED: Final = (K.CONFLICTED_BY,)
PROPAGATE_STOP: Final = (
    K.REQUIRED_BY,
    K.REQUISITE_OF,
    K.BOUND_BY,
    K.CONSISTS_OF,
    K.PROPAGATES_STOP_TO,
)
PROPAGATE_RESTART: Final = (K.REQUIRED_BY, K.REQUISITE_OF, K.BOUND_BY, K.CONSISTS_OF)


@dataclass(frozen=True, slots=True)
class UnitNode:
    """What the transaction engine knows of one unit.

    ``dependencies`` holds the dependencies declared *by this unit* (forward or inverse
    kinds both allowed, e.g. a ``.wants/`` link makes the target ``Wants`` the unit);
    :class:`UnitGraph` completes the inverses.
    """

    name: str
    load_state: LoadState = LoadState.LOADED
    dependencies: Mapping[DependencyType, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    allow_isolate: bool = False
    ignore_on_isolate: bool = False
    refuse_manual_start: bool = False
    refuse_manual_stop: bool = False
    can_start: bool = True
    can_reload: bool = False
    perpetual: bool = False
    load_error: str = ""


class UnitGraph:
    """All units known to a manager, with every dependency and its inverse.

    Names that a dependency mentions but no node defines become ``not-found`` units, as
    systemd loads a stub for every referenced name. Iteration is in name order, which is
    what makes the engine deterministic.
    """

    __slots__ = ("_aliases", "_cache", "_deps", "_nodes")

    def __init__(self, nodes: Iterable[UnitNode]) -> None:
        self._nodes: dict[str, UnitNode] = {}
        self._aliases: dict[str, str] = {}
        for node in nodes:
            self._nodes[node.name] = node
            for alias in node.aliases:
                if alias != node.name:
                    self._aliases[alias] = node.name
        self._deps: dict[str, dict[DependencyType, dict[str, None]]] = {}
        # deps() answers are asked for again and again by the engine's searches.
        self._cache: dict[tuple[str, tuple[DependencyType, ...]], list[str]] = {}
        for node in list(self._nodes.values()):
            for kind, targets in node.dependencies.items():
                for target in targets:
                    self._add(node.name, kind, self.canonical(target))

    def _add(self, name: str, kind: DependencyType, target: str) -> None:
        if target == name:
            return  # systemd ignores a unit's dependencies on itself, silently
        if target not in self._nodes:
            self._nodes[target] = UnitNode(target, LoadState.NOT_FOUND)
        self._deps.setdefault(name, {}).setdefault(kind, {})[target] = None
        inverse = INVERSE.get(kind)
        if inverse is not None:  # JoinsNamespaceOf= has none (see bootup.units.model.INVERSE)
            self._deps.setdefault(target, {}).setdefault(inverse, {})[name] = None

    def canonical(self, name: str) -> str:
        """The unit's own name for ``name`` (an alias resolves to its unit)."""
        return self._aliases.get(name, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, name: str) -> UnitNode:
        """The unit named ``name``; an unknown name is a ``not-found`` unit, as in systemd."""
        canonical = self.canonical(name)
        found = self._nodes.get(canonical)
        return found if found is not None else UnitNode(canonical, LoadState.NOT_FOUND)

    def names(self) -> list[str]:
        """Every unit's canonical name, sorted."""
        return sorted(self._nodes)

    def deps(self, name: str, *kinds: DependencyType) -> list[str]:
        """The units ``name`` has any of ``kinds`` on, sorted and without duplicates."""
        key = (name, kinds)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        by_kind = self._deps.get(self.canonical(name))
        found: set[str] = set()
        if by_kind:
            for kind in kinds:
                found.update(by_kind.get(kind, ()))
        result = self._cache[key] = sorted(found)
        return result

    def has_dep(self, name: str, kind: DependencyType, other: str) -> bool:
        """Whether ``name`` has a ``kind`` dependency on ``other``."""
        return other in self._deps.get(name, {}).get(kind, {})
