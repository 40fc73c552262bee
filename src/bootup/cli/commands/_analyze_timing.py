"""``bootup analyze time|blame|critical-chain|plot``: the startup, from recorded timestamps.

The data comes from ``--from-file`` (bootup's timing JSON, a manager's ``state.json`` or
saved ``systemctl show`` output) or from the ``state.json`` a running manager keeps
current: a project's ``DIR/.bootup/state.json`` (``--project DIR``, default the enclosing
project's) or the system manager's ``/run/bootup/state.json`` (``--system``). Every
timestamp in it, the manager's start and finish included, was taken by the manager.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bootup.analyze.timing import StartupTiming

__all__ = ("load_startup", "register_analyze")


#: Where the system manager (``bootup init``) records its state.
SYSTEM_STATE = "/run/bootup/state.json"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-file",
        metavar="FILE",
        help="read timings from FILE (timing JSON, state.json or `systemctl show` output)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--project",
        metavar="DIR",
        help="read the state a bootup manager records in DIR/.bootup "
        "(default: the enclosing project's, else the system manager's)",
    )
    where.add_argument(
        "--system", action="store_true", help=f"read the system manager's state ({SYSTEM_STATE})"
    )


def register_analyze(analyze_subparsers: Any) -> None:
    """Add ``time``, ``blame``, ``critical-chain`` and ``plot`` to ``bootup analyze``."""
    time = analyze_subparsers.add_parser("time", help="how long the startup took")
    _common(time)
    time.set_defaults(handler=_time)

    blame = analyze_subparsers.add_parser("blame", help="units by start-up time, slowest first")
    _common(blame)
    blame.set_defaults(handler=_blame)

    chain = analyze_subparsers.add_parser(
        "critical-chain", help="the chain of units that held a unit's start back"
    )
    chain.add_argument("units", nargs="*", metavar="UNIT")
    chain.add_argument(
        "--fuzz",
        default="0",
        metavar="TIMESPAN",
        help="also show units that became active this close to the last one",
    )
    chain.add_argument("--no-color", action="store_true", help="never colour the output")
    _common(chain)
    chain.set_defaults(handler=_critical_chain)

    plot = analyze_subparsers.add_parser("plot", help="the startup as an SVG or HTML timeline")
    plot.add_argument("--format", choices=("svg", "html"), default="svg")
    plot.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically)")
    _common(plot)
    plot.set_defaults(handler=_plot)

    dump = analyze_subparsers.add_parser(
        "timing-dump", help="the recorded timings as bootup's timing JSON (for --from-file)"
    )
    _common(dump)
    dump.set_defaults(handler=_dump)


def state_file(args: argparse.Namespace, cwd: str | None = None) -> str:
    """The ``state.json`` to analyse.

    ``--project DIR``'s, ``--system``'s, else the nearest enclosing project's (the rule the
    live verbs use to find a manager), else the system manager's.
    """
    project: str | None = getattr(args, "project", None)
    if project:
        return os.path.join(os.path.abspath(project), ".bootup", "state.json")
    if getattr(args, "system", False):
        return SYSTEM_STATE
    from bootup.control.address import enclosing_project_file

    here = os.path.abspath(cwd or os.getcwd())
    found = enclosing_project_file("state.json", here)
    if found is not None:
        return found
    if os.path.isfile(SYSTEM_STATE):
        return SYSTEM_STATE
    return os.path.join(here, "units", ".bootup", "state.json")


def _recorded_timing(path: str) -> StartupTiming:
    """The timings in a manager's ``state.json``.

    Snapshots from before bootup recorded After= lists get them from the project's files.
    """
    import json
    from pathlib import Path

    from bootup.analyze.timing import TimingDataError, timing_from_snapshot

    state = Path(path)
    try:
        text = state.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TimingDataError(
            str(state),
            "file",
            "the state a running bootup manager records (start one with `bootup up DIR`, "
            "or pass --project DIR, --system or --from-file FILE)",
            "no such file",
        ) from None
    try:
        snapshot = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimingDataError(str(state), "JSON", "valid JSON", exc.msg, line=exc.lineno) from exc
    if not isinstance(snapshot, dict):
        raise TimingDataError(str(state), "top level", "a JSON object", type(snapshot).__name__)
    units = snapshot.get("units")
    complete = isinstance(units, dict) and all(
        isinstance(p, dict) and "After" in p for p in units.values()
    )
    if complete or state.parent.name != ".bootup":
        return timing_from_snapshot(snapshot, source=str(state))
    from bootup.runtime.project import ProjectDir
    from bootup.transaction.graph import DependencyKind
    from bootup.transaction.units_graph import load_graph
    from bootup.units.loader import Loader

    graph = load_graph(Loader(ProjectDir(state.parent.parent).search_path()))
    after = {name: graph.deps(name, DependencyKind.AFTER) for name in graph.names()}
    aliases = {name: [a for a in graph.node(name).aliases if a != name] for name in graph.names()}
    return timing_from_snapshot(snapshot, after=after, aliases=aliases, source=str(state))


def load_startup(args: argparse.Namespace) -> StartupTiming:
    """The timings the verbs work on, from ``--from-file`` or a manager's recorded state."""
    from bootup.analyze.timing import load_timing_file

    if args.from_file:
        return load_timing_file(args.from_file)
    return _recorded_timing(state_file(args))


def _time(args: argparse.Namespace) -> int:
    from bootup.analyze.timing import render_time

    sys.stdout.write(render_time(load_startup(args)))
    return 0


def _blame(args: argparse.Namespace) -> int:
    from bootup.analyze.blame import render_blame

    sys.stdout.write(render_blame(load_startup(args)))
    return 0


def _critical_chain(args: argparse.Namespace) -> int:
    from bootup.analyze.critical_chain import render_critical_chain
    from bootup.units.values import parse_timespan

    fuzz_usec = parse_timespan(args.fuzz)
    colour = _use_colour(args.no_color)
    text = render_critical_chain(
        load_startup(args), args.units, fuzz=fuzz_usec / 1_000_000, colour=colour
    )
    sys.stdout.write(text)
    return 0


def _use_colour(no_color: bool) -> bool:
    """Colour as systemd-analyze does: on a terminal, unless NO_COLOR or TERM=dumb.

    ``SYSTEMD_COLORS`` decides outright when set (``1``/``yes``/``true``: always), as it
    does for systemd's tools.
    """
    if no_color:
        return False
    forced = os.environ.get("SYSTEMD_COLORS")
    if forced is not None:
        return forced.lower() in ("1", "yes", "y", "true", "t", "on", "16", "256", "24bit")
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _plot(args: argparse.Namespace) -> int:
    from bootup.analyze.plot import render_plot_html, render_plot_svg

    data = load_startup(args)
    text = render_plot_html(data) if args.format == "html" else render_plot_svg(data)
    if args.output:
        _write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _dump(args: argparse.Namespace) -> int:
    from bootup.analyze.timing import timing_to_json

    sys.stdout.write(timing_to_json(load_startup(args)))
    return 0


def _write_atomic(path: str, text: str) -> None:
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
