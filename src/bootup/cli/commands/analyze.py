"""``bootup analyze``: systemd-analyze's verbs. Other modules add theirs.

Every module named ``_analyze_*.py`` beside this one that defines
``register_analyze(analyze_subparsers)`` contributes verbs (``time``, ``blame``, ...).

``dot`` and ``why`` use the running manager's loaded dependency graph when one answers
(``--project DIR``, ``--system``, or the enclosing project with a running ``bootup up``),
as systemd-analyze asks PID 1; with ``--root``, ``--offline`` or no manager they read the
unit files, as before. Both paths build the same :class:`~bootup.transaction.UnitGraph`,
so the output differs only where the manager's state differs from the files (a change not
yet daemon-reload'ed).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import TYPE_CHECKING, Any

from bootup.cli._units import add_unit_path_options, load_all_graph, load_graph

if TYPE_CHECKING:
    from bootup.transaction import UnitGraph

__all__ = ("graph_from_reply", "register")

_OFFLINE_HELP = "read the unit files even when a manager is running"


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
    dot.add_argument("--offline", action="store_true", help=_OFFLINE_HELP)
    dot.set_defaults(handler=_dot)

    why = verbs.add_parser("why", help="why a unit is (or is not) started when a target starts")
    why.add_argument("unit", metavar="UNIT")
    why.add_argument("--from", dest="target", default="default.target", metavar="TARGET")
    add_unit_path_options(why)
    why.add_argument("--offline", action="store_true", help=_OFFLINE_HELP)
    why.set_defaults(handler=_why)

    from bootup.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_analyze_"):
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
            module.register_analyze(verbs)


def _dot(args: argparse.Namespace) -> int:
    from bootup.analyze.dot import LEGEND, DotMode, render_dot

    mode = DotMode.ORDER if args.order else DotMode.REQUIRE if args.require else DotMode.ALL
    graph = _live_graph(args) or load_all_graph(args)
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

    graph = _live_graph(args) or load_graph(args, [args.target, args.unit])
    report = explain_why(graph, args.unit, args.target)
    sys.stdout.write(render_why(report))
    return 0 if report.job is not None else 1


def _live_graph(args: argparse.Namespace) -> UnitGraph | None:
    """The running manager's graph, or None to read the files (``--root``, none running)."""
    if getattr(args, "offline", False) or getattr(args, "root", None) is not None:
        return None
    from bootup.control.address import find_socket
    from bootup.control.client import Client

    path = find_socket(
        project=getattr(args, "project", None), system=getattr(args, "system", False)
    )
    if not path.is_socket():
        return None
    with Client(path, timeout=60.0) as client:
        reply = client.call("io.bootup.Manager.GetUnitGraph")
    return graph_from_reply(reply)


def graph_from_reply(reply: dict[str, Any]) -> UnitGraph:
    """Rebuild the engine's graph from a ``GetUnitGraph`` reply (unknown kinds skipped)."""
    import dataclasses

    from bootup.transaction import UnitGraph
    from bootup.transaction.graph import DependencyKind, LoadState, UnitNode

    kinds = {k.value: k for k in DependencyKind}
    # Every boolean field is set: a flag the reply does not list is false (can_start too).
    flags = [f.name for f in dataclasses.fields(UnitNode) if isinstance(f.default, bool)]
    nodes: list[UnitNode] = []
    for unit in reply["units"]:
        dependencies = {
            kinds[kind]: tuple(targets)
            for kind, targets in unit["dependencies"].items()
            if kind in kinds
        }
        listed = set(unit["flags"])
        set_flags = {f: f in listed for f in flags}
        nodes.append(
            UnitNode(
                name=unit["name"],
                load_state=LoadState(unit["load_state"]),
                dependencies=dependencies,
                aliases=tuple(unit["aliases"]),
                load_error=unit["load_error"],
                **set_flags,
            )
        )
    return UnitGraph(nodes)
