"""Options shared by the verbs that read unit files offline (``--root``, ``--project``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bootup.transaction import UnitGraph
    from bootup.units.loader import Loader

__all__ = ("add_unit_path_options", "load_all_graph", "load_graph")


def add_unit_path_options(parser: argparse.ArgumentParser) -> None:
    """``--root=DIR`` (systemctl's) and ``--project=DIR`` (only that directory's units)."""
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="operate on the unit files under DIR",
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="use only the unit files in DIR (project mode)",
    )
    parser.add_argument("--system", action="store_true", help="the system manager (default)")


def _paths(args: argparse.Namespace) -> tuple[str | None, str | None]:
    root: str | None = getattr(args, "root", None)
    project: str | None = getattr(args, "project", None)
    return root, project


def _loader(args: argparse.Namespace) -> Loader:
    from bootup.units.loader import Loader
    from bootup.units.paths import search_path

    root, project = _paths(args)
    return Loader(search_path(root=root, project=project))


def load_graph(
    args: argparse.Namespace, roots: Iterable[str], *, generators: bool = False
) -> UnitGraph:
    """The graph of ``roots`` and everything they refer to.

    With ``generators``, the system's generators run first into a temporary directory that
    takes the place of /run/systemd/generator*, as ``systemd --test`` does.
    """
    from bootup.transaction.units_graph import load_graph as load
    from bootup.units.generators import generated
    from bootup.units.loader import Loader
    from bootup.units.paths import search_path

    root, project = _paths(args)
    path = search_path(root=root, project=project)
    if not generators:
        return load(Loader(path), roots)
    with generated(path) as with_generated:
        return load(Loader(with_generated), roots)


def load_all_graph(args: argparse.Namespace) -> UnitGraph:
    """The graph of every unit on the search path (what ``analyze dot`` draws)."""
    from bootup.transaction.units_graph import load_graph as load

    return load(_loader(args))
