"""``analyze dot``: the dependency graph in Graphviz syntax, as systemd-analyze writes it.

Same conventions as systemd 252's src/analyze/analyze-dot.c: one ``"unit"->"dep"`` edge a
line, coloured green for After=, black for Requires=, dark blue for Requisite=, grey66 for
Wants= and red for Conflicts=; ``--order`` keeps only ordering edges, ``--require`` only
requirement edges; positional patterns keep edges with either end matching, and
``--from-pattern``/``--to-pattern`` filter each end.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from fnmatch import fnmatchcase

from bootup.transaction.graph import DependencyKind, UnitGraph

__all__ = ("DotMode", "LEGEND", "render_dot")

K = DependencyKind

LEGEND = (
    "   Color legend: black     = Requires\n"
    "                 dark blue = Requisite\n"
    "                 dark grey = Wants\n"
    "                 red       = Conflicts\n"
    "                 green     = After\n"
)


class DotMode(enum.Enum):
    """Which edges to draw."""

    ALL = "all"
    ORDER = "order"
    REQUIRE = "require"


_ORDER = ((K.AFTER, "green"),)
_REQUIRE = (
    (K.REQUIRES, "black"),
    (K.REQUISITE, "darkblue"),
    (K.WANTS, "grey66"),
    (K.CONFLICTS, "red"),
)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatchcase(name, p) for p in patterns)


def render_dot(
    graph: UnitGraph,
    mode: DotMode = DotMode.ALL,
    *,
    patterns: Sequence[str] = (),
    from_patterns: Sequence[str] = (),
    to_patterns: Sequence[str] = (),
) -> str:
    """Render every unit's edges, units in name order."""
    kinds = (_ORDER if mode is not DotMode.REQUIRE else ()) + (
        _REQUIRE if mode is not DotMode.ORDER else ()
    )
    lines = ["digraph systemd {"]
    for unit in graph.names():
        if not _matches(unit, from_patterns):
            continue
        for kind, colour in kinds:
            for dep in graph.deps(unit, kind):
                if not _matches(dep, to_patterns):
                    continue
                if patterns and not (_matches(unit, patterns) or _matches(dep, patterns)):
                    continue
                lines.append(f'\t"{unit}"->"{dep}" [color="{colour}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
