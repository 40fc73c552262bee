"""``list-dependencies``: the dependency tree of a unit, laid out as systemctl lays it out.

systemctl 252 (src/systemctl/systemctl-list-dependencies.c) follows Requires=, Requisite=,
Wants=, BindsTo= and ConsistsOf= (the inverses with ``--reverse``, After=/Before= with
``--after``/``--before``), lists non-target units before targets, each group sorted by name
without regard to case, expands only targets unless ``--all``, and prints a unit already
on the current branch as ``...`` instead of looping.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from bootup.transaction.graph import ActiveState, DependencyKind, UnitGraph

__all__ = ("DependencyDirection", "render_tree")

K = DependencyKind


class DependencyDirection(enum.Enum):
    """Which edges the tree follows."""

    REQUIRES = (K.REQUIRES, K.REQUISITE, K.WANTS, K.BINDS_TO, K.CONSISTS_OF)
    REVERSE = (K.REQUIRED_BY, K.REQUISITE_OF, K.WANTED_BY, K.BOUND_BY, K.PART_OF)
    AFTER = (K.AFTER,)
    BEFORE = (K.BEFORE,)


_GLYPHS = {
    ActiveState.ACTIVE: "●",
    ActiveState.RELOADING: "↻",
    ActiveState.ACTIVATING: "↻",
    ActiveState.DEACTIVATING: "↻",
    ActiveState.FAILED: "\u00d7",  # multiplication sign, as systemctl prints
    ActiveState.MAINTENANCE: "○",
    ActiveState.INACTIVE: "○",
}
_COLOURS = {ActiveState.ACTIVE: "\x1b[0;1;32m", ActiveState.FAILED: "\x1b[0;1;31m"}


def _sort_key(name: str) -> tuple[bool, str]:
    return (name.endswith(".target"), name.lower())


def render_tree(
    graph: UnitGraph,
    root: str,
    direction: DependencyDirection = DependencyDirection.REQUIRES,
    *,
    expand_all: bool = False,
    plain: bool = False,
    colour: bool = False,
    states: Mapping[str, ActiveState] | None = None,
) -> str:
    """Render the tree under ``root`` as text, one unit per line."""
    states = states or {}
    lines = [graph.canonical(root)]

    def state_of(unit: str) -> ActiveState:
        return states.get(unit, ActiveState.INACTIVE)

    def walk(unit: str, prefix: str, path: tuple[str, ...]) -> None:
        children = sorted(graph.deps(unit, *direction.value), key=_sort_key)
        for index, child in enumerate(children):
            last = index == len(children) - 1
            branch = "" if plain else ("└─" if last else "├─")
            if plain:
                indent = prefix + "  "
                lead = indent
            else:
                lead = prefix + branch
                indent = prefix + ("  " if last else "│ ")
            if child in path:
                lines.append(f"{lead}...")
                continue
            state = state_of(child)
            if plain:
                lines.append(f"{lead}{child}")
            else:
                glyph = _GLYPHS[state]
                if colour and state in _COLOURS:
                    glyph = f"{_COLOURS[state]}{glyph}\x1b[0m"
                lines.append(f"{glyph} {lead}{child}")
            if expand_all or child.endswith(".target"):
                walk(child, indent, (*path, child))

    walk(graph.canonical(root), "", (graph.canonical(root),))
    return "\n".join(lines) + "\n"
