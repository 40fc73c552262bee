"""Options shared by the verbs that read unit files offline (``--root``, ``--project``).

``--project DIR`` reads what a project manager (``bootup up DIR``) would load: DIR, then the
special targets it provides (sysinit.target, basic.target, ..., default.target). Those live
in ``DIR/.bootup/units`` once a manager has run there; before that they are written to a
temporary directory for the duration of the load, never into DIR (an offline verb must not
modify the project). The offline graph then equals the live one.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bootup.transaction import UnitGraph
    from bootup.units.paths import SearchPath

__all__ = ("add_unit_path_options", "load_all_graph", "load_graph", "offline_search_path")


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


@contextlib.contextmanager
def offline_search_path(args: argparse.Namespace) -> Iterator[SearchPath]:
    """The search path of ``--root``/``--project``/the system, valid inside the ``with``.

    Raises:
        bootup.units.paths.SearchPathError: ``--root`` or ``--project`` names no directory.
    """
    from bootup.units.paths import search_path

    root, project = _paths(args)
    path = search_path(root=root, project=project, must_exist=True)
    if project is None:
        yield path
        return
    from bootup.runtime.project import ProjectDir

    provided = ProjectDir(path.dirs[0])
    if provided.units_dir.is_dir():  # a manager has run here: exactly its search path
        yield provided.search_path()
        return
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="bootup-special-targets.") as scratch:
        # ProjectDir's own rules (which targets the project lacks, where default.target
        # points), redirected from DIR/.bootup/units to the scratch directory.
        provided.units_dir = Path(scratch)
        provided.write_special_targets()
        yield provided.search_path()


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

    with offline_search_path(args) as path:
        if not generators:
            return load(Loader(path), roots)
        with generated(path) as with_generated:
            return load(Loader(with_generated), roots)


def load_all_graph(args: argparse.Namespace) -> UnitGraph:
    """The graph of every unit on the search path (what ``analyze dot`` draws)."""
    from bootup.transaction.units_graph import load_graph as load
    from bootup.units.loader import Loader

    with offline_search_path(args) as path:
        return load(Loader(path))
