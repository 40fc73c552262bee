"""``bootup list-dependencies``: the dependency tree of a unit, offline."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bootup.cli._units import add_unit_path_options, load_all_graph, load_graph

__all__ = ("register",)


def register(subparsers: Any) -> None:
    """Add ``list-dependencies``."""
    parser = subparsers.add_parser(
        "list-dependencies",
        help="show the units a unit pulls in (or is pulled in by, or ordered with)",
        description="Show a tree of the units UNIT depends on, as systemctl list-dependencies.",
    )
    parser.add_argument("unit", nargs="?", default="default.target", metavar="UNIT")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reverse", action="store_true", help="units that depend on UNIT")
    group.add_argument("--after", action="store_true", help="units UNIT is ordered after")
    group.add_argument("--before", action="store_true", help="units UNIT is ordered before")
    parser.add_argument("--all", action="store_true", help="expand every unit, not only targets")
    parser.add_argument("--plain", action="store_true", help="no tree drawing, no glyphs")
    parser.add_argument("--no-pager", action="store_true", help="accepted for compatibility")
    add_unit_path_options(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from bootup.analyze.deptree import DependencyDirection, render_tree

    direction = DependencyDirection.REQUIRES
    if args.reverse:
        direction = DependencyDirection.REVERSE
    elif args.after:
        direction = DependencyDirection.AFTER
    elif args.before:
        direction = DependencyDirection.BEFORE
    # Offline there is no set of "loaded units": the inverse directions need every unit on
    # the search path, or nothing would point back at the unit.
    if direction is DependencyDirection.REQUIRES:
        graph = load_graph(args, [args.unit])
    else:
        graph = load_all_graph(args)
    text = render_tree(
        graph,
        args.unit,
        direction,
        expand_all=args.all,
        plain=args.plain,
        colour=sys.stdout.isatty(),
    )
    sys.stdout.write(text)
    return 0
