"""``bootup analyze``: systemd-analyze's verbs. Other modules add theirs.

Every module named ``_analyze_*.py`` beside this one that defines
``register_analyze(analyze_subparsers)`` contributes verbs (``time``, ``blame``, ...).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Any

from bootup.cli._units import add_unit_path_options, load_all_graph, load_graph

__all__ = ("register",)


def register(subparsers: Any) -> None:
    """Add ``analyze`` and its verbs."""
    parser = subparsers.add_parser(
        "analyze", help="analyze units and transactions (as systemd-analyze)"
    )
    verbs = parser.add_subparsers(dest="analyze_command", metavar="VERB", required=True)

    dot = verbs.add_parser("dot", help="dependency graph in Graphviz dot syntax")
    dot.add_argument("patterns", nargs="*", metavar="PATTERN")
    mode = dot.add_mutually_exclusive_group()
    mode.add_argument("--order", action="store_true", help="only ordering edges")
    mode.add_argument("--require", action="store_true", help="only requirement edges")
    dot.add_argument("--from-pattern", action="append", default=[], metavar="GLOB")
    dot.add_argument("--to-pattern", action="append", default=[], metavar="GLOB")
    add_unit_path_options(dot)
    dot.set_defaults(handler=_dot)

    why = verbs.add_parser("why", help="why a unit is (or is not) started when a target starts")
    why.add_argument("unit", metavar="UNIT")
    why.add_argument("--from", dest="target", default="default.target", metavar="TARGET")
    add_unit_path_options(why)
    why.set_defaults(handler=_why)

    from bootup.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_analyze_"):
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
            module.register_analyze(verbs)


def _dot(args: argparse.Namespace) -> int:
    from bootup.analyze.dot import LEGEND, DotMode, render_dot

    mode = DotMode.ORDER if args.order else DotMode.REQUIRE if args.require else DotMode.ALL
    graph = load_all_graph(args)
    sys.stdout.write(
        render_dot(
            graph,
            mode,
            patterns=args.patterns,
            from_patterns=args.from_pattern,
            to_patterns=args.to_pattern,
        )
    )
    sys.stderr.write(LEGEND)
    return 0


def _why(args: argparse.Namespace) -> int:
    from bootup.analyze.why import explain_why, render_why

    graph = load_graph(args, [args.target, args.unit])
    report = explain_why(graph, args.unit, args.target)
    sys.stdout.write(render_why(report))
    return 0 if report.job is not None else 1
