"""Offline unit-file verbs: verify, cat, show, [Install] operations and unit-paths.

Each verb mirrors a real tool run offline: ``systemd-analyze verify`` and ``unit-paths``,
``systemctl cat``/``show`` (from the files, no manager needed) and ``systemctl --root=DIR
enable|disable|reenable|mask|unmask|is-enabled|set-default|get-default|list-unit-files``,
with the same messages (on stderr), outputs and exit codes. ``--root=DIR`` and
``--project=DIR`` (search that directory only) go after the verb. Heavy imports happen
inside the handlers so that registering these verbs stays cheap.

``show`` and the ``[Install]`` verbs go through the running manager when one answers (for
``--project DIR``, or the enclosing project, or the system), as systemctl goes through
PID 1: the manager edits its own search path and reloads, and ``--now`` works there. With
``--root``, ``--offline`` or no manager they work on the files, as above.
"""

from __future__ import annotations

import argparse
import os
import sys

# typing costs ~3 ms to import and only the type checker needs it (``show`` runs in
# scripts' loops); mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bootup.units.install import Change
    from bootup.units.paths import SearchPath

__all__ = ("register", "report_changes")

_SubParsers = argparse._SubParsersAction


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a value given before the verb (if the top-level parser defines the same
    # option) is not overwritten by this parser's default.
    parent.add_argument(
        "--root", metavar="DIR", default=argparse.SUPPRESS, help="operate on the tree under DIR"
    )
    where = parent.add_mutually_exclusive_group()
    where.add_argument(
        "--project",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="project mode: DIR is the whole unit search path",
    )
    where.add_argument(
        "--system",
        action="store_true",
        help="the system manager and unit files (the default outside a project)",
    )
    parent.add_argument("--no-pager", action="store_true", help="accepted for compatibility")
    return parent


def _add(
    subparsers: _SubParsers[argparse.ArgumentParser],
    name: str,
    help_text: str,
    parent: argparse.ArgumentParser,
) -> argparse.ArgumentParser | None:
    if name in subparsers.choices:
        return None  # another module owns this verb; never break the whole CLI over it
    return subparsers.add_parser(name, help=help_text, parents=[parent])


#: systemctl options of the [Install] verbs that bootup does not implement yet; accepted so
#: that using one fails loudly (NotSupportedError) instead of as a usage error. ``--now``
#: works against a running manager only.
_UNSUPPORTED_FLAGS = ("--runtime", "--now", "--user", "--global", "--force")
_FLAG_HELP = {"--now": "also start (enable) or stop (disable, mask) the units; live only"}


def register(subparsers: _SubParsers[argparse.ArgumentParser]) -> None:
    """Add the offline unit-file verbs."""
    parent = _common()
    p = _add(subparsers, "verify", "check unit files like systemd-analyze verify", parent)
    if p is not None:
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument(
            "--unsupported",
            action="store_true",
            help="also list settings bootup parses but does not act on (bootup-specific lines)",
        )
        p.add_argument(
            "--man",
            default="no",
            help="only --man=no: checking man pages is not supported yet",
        )
        p.set_defaults(handler=_verify)
    p = _add(subparsers, "cat", "print a unit's file and drop-ins like systemctl cat", parent)
    if p is not None:
        p.add_argument("units", nargs="+", metavar="UNIT")
        p.set_defaults(handler=_cat)
    p = _add(
        subparsers,
        "show",
        "print unit properties like systemctl show (live from a running manager, else offline)",
        parent,
    )
    if p is not None:
        p.add_argument("units", nargs="+", metavar="UNIT")
        p.add_argument(
            "--offline",
            action="store_true",
            help="read the unit files even when a manager is running",
        )
        p.add_argument("-p", "--property", action="append", default=[], metavar="NAME")
        p.add_argument("--value", action="store_true", help="print values only")
        p.add_argument("--json", action="store_true", help="print a JSON object per unit")
        p.set_defaults(handler=_show)
    for verb, text in (
        ("enable", "create the links a unit's [Install] section asks for"),
        ("disable", "remove a unit's links"),
        ("reenable", "disable, then enable"),
        ("mask", "link units to /dev/null"),
        ("unmask", "remove /dev/null links"),
        ("is-enabled", "print the unit file state"),
    ):
        p = _add(subparsers, verb, text, parent)
        if p is not None:
            p.add_argument("units", nargs="+", metavar="UNIT")
            for flag in _UNSUPPORTED_FLAGS:
                p.add_argument(
                    flag, action="store_true", help=_FLAG_HELP.get(flag, "not supported yet")
                )
            p.add_argument(
                "--no-reload", action="store_true", help="do not reload the manager afterwards"
            )
            p.add_argument(
                "--offline",
                action="store_true",
                help="edit the files even when a manager is running (it is not told)",
            )
            p.set_defaults(handler=_install_verb, verb=verb)
    p = _add(subparsers, "set-default", "point default.target at a target", parent)
    if p is not None:
        p.add_argument("unit", metavar="UNIT")
        p.set_defaults(handler=_set_default)
    p = _add(subparsers, "get-default", "print what default.target points at", parent)
    if p is not None:
        p.set_defaults(handler=_get_default)
    p = _add(subparsers, "list-unit-files", "list unit files and their states", parent)
    if p is not None:
        p.add_argument("patterns", nargs="*", metavar="PATTERN")
        p.add_argument("--json", action="store_true", help="print a JSON array")
        p.set_defaults(handler=_list_unit_files)
    p = _add(subparsers, "unit-paths", "print the unit search path", parent)
    if p is not None:
        p.set_defaults(handler=_unit_paths)


def _search_path(args: argparse.Namespace) -> SearchPath:
    from bootup.units.paths import search_path

    root, project = getattr(args, "root", None), getattr(args, "project", None)
    return search_path(root=root, project=project, must_exist=True)


def _err(text: str) -> None:
    sys.stdout.flush()
    print(text, file=sys.stderr)


def _unit_paths(args: argparse.Namespace) -> int:
    sp = _search_path(args)
    for directory in sp.dirs:
        print(sp.host(directory))
    return 0


def _mangle(name: str) -> str:
    """Systemctl's name mangling: a bare name (no type suffix, no path) is a service."""
    from bootup.units.model import unit_type_of

    if "/" in name or any(c in name for c in "*?[") or unit_type_of(name) is not None:
        return name
    return f"{name}.service"


def _live_socket(args: argparse.Namespace) -> bool:
    """Whether to ask a running manager: as ``show``, unless ``--root`` or ``--offline``."""
    if getattr(args, "offline", False) or getattr(args, "root", None) is not None:
        return False
    import stat

    from bootup.control.address import locate_socket

    system = getattr(args, "system", False)
    path = locate_socket(project=getattr(args, "project", None), system=system)
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _install_verb(args: argparse.Namespace) -> int:
    from bootup.errors import NotSupportedError, UnitError, UnitNotFoundError
    from bootup.units.install import Installer, UnitFileState

    args.units = [_mangle(name) for name in args.units]
    live = _live_socket(args)
    for flag in _UNSUPPORTED_FLAGS:
        if flag == "--now" and live:
            continue
        if getattr(args, flag.lstrip("-"), False):
            raise NotSupportedError(f"{args.verb} {flag} is not supported yet")
    if live:
        from bootup.cli.commands.ctl import install_live

        return install_live(args)
    installer = Installer(_search_path(args))
    verb: str = args.verb
    units: list[str] = args.units
    if verb == "is-enabled":
        ok = False
        for name in units:
            try:
                state = installer.state(name)
            except UnitNotFoundError:
                # systemctl stops at the first unit it cannot find.
                _err(f"Failed to get unit file state for {name}: No such file or directory")
                return 1
            finally:
                for warning in installer.warnings:
                    _err(warning)
                installer.warnings.clear()
            if state is UnitFileState.BAD:
                _err(f"Failed to get unit file state for {name}: Bad message")
                return 1
            print(state.value)
            ok = ok or state.counts_as_enabled
        return 0 if ok else 1
    changes: list[Change] = []
    failure: str | None = None
    try:
        installer.apply(verb, units, changes)
    except UnitError as exc:
        bare = getattr(exc, "bare", False)
        failure = f"Failed to {verb} {exc}" if bare else f"Failed to {verb} unit, {exc}"
    return report_changes(verb, changes, installer.warnings, failure)


def report_changes(
    verb: str, changes: list[Change], warnings: list[str], failure: str | None
) -> int:
    """Print an [Install] operation's warnings and changes as systemctl does; its exit code.

    Shared by the offline path and the live one (the manager sends the same changes).
    """
    for warning in warnings:  # logged while reading, before the summary
        _err(warning)
    for change in changes:  # what was done before a failure is reported too
        text = str(change)
        if text.startswith("unit ") and text.endswith("does not exist."):
            text = f"Failed to {verb} unit, {text}"
        if change.kind == "error":
            text = f"Failed to {verb} {text}" if change.bare else f"Failed to {verb} unit, {text}"
            failure = failure or ""
        _err(text)
    if failure is not None:
        if failure:
            _err(failure)
        return 1
    return 0


def _set_default(args: argparse.Namespace) -> int:
    from bootup.errors import UnitError
    from bootup.units.install import Installer

    try:
        changes = Installer(_search_path(args)).set_default(args.unit)
    except UnitError as exc:
        _err(str(exc))
        return 1
    failed = False
    for change in changes:
        if change.kind == "error":
            failed = True
            _err(f"Failed to set default unit, {change}")
        else:
            _err(str(change))
    return 1 if failed else 0


def _get_default(args: argparse.Namespace) -> int:
    from bootup.errors import UnitError
    from bootup.units.install import Installer

    try:
        print(Installer(_search_path(args)).get_default())
    except UnitError as exc:
        _err(str(exc))
        return 1
    return 0


def _list_unit_files(args: argparse.Namespace) -> int:
    import json

    from bootup.units.install import Installer

    installer = Installer(_search_path(args))
    records = installer.list_unit_files(args.patterns)
    for warning in installer.warnings:
        _err(warning)
    if args.json:
        rows = [{"unit_file": r.name, "state": r.state.value, "preset": r.preset} for r in records]
        print(json.dumps(rows))
        return 0
    if not records:
        print("0 unit files listed.")
        return 0
    w1 = max(len("UNIT FILE"), *(len(r.name) for r in records))
    w2 = max(len("STATE"), *(len(r.state.value) for r in records))
    print(f"{'UNIT FILE':<{w1}} {'STATE':<{w2}} PRESET")
    for r in records:
        print(f"{r.name:<{w1}} {r.state.value:<{w2}} {r.preset or '-'}")
    print()
    print(f"{len(records)} unit files listed.")
    return 0


def _cat(args: argparse.Namespace) -> int:
    from bootup.units.loader import Loader
    from bootup.units.model import LoadState

    loader = Loader(_search_path(args))
    rc = 0
    first = True
    for name in map(_mangle, args.units):  # systemctl cat redis-server -> .service
        unit = loader.load(name)
        if unit.load_state is LoadState.MASKED:
            _err(f"Unit {unit.name} is masked.")
            rc = 1
            continue
        if unit.fragment_path is None and not unit.dropin_paths:
            _err(f"No files found for {name}.")
            rc = 1
            continue
        for path in (*((unit.fragment_path,) if unit.fragment_path else ()), *unit.dropin_paths):
            if not first:
                print()
            first = False
            print(f"# {path}")
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                    text = handle.read()
            except OSError as exc:
                _err(f"Failed to read {path}: {exc.strerror}")
                rc = 1
                continue
            sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return rc


def _show(args: argparse.Namespace) -> int:
    if _live_socket(args):
        # systemctl show asks the manager; do so whenever one is running for this project
        # (or the system), with its live states, and read the files only otherwise. The
        # offline machinery is not even imported then (``show`` runs in scripts' loops).
        from bootup.cli.commands.ctl import show_live

        return show_live(args)
    import json

    from bootup.units.verify import show_properties

    wanted: list[str] = [p for group in args.property for p in group.split(",") if p]
    rc = 0
    blocks: list[dict[str, str]] = []
    names = [_mangle(name) for name in args.units]  # systemctl show cache -> cache.service
    for props in show_properties(_search_path(args), names):
        selected = (
            {k: props.get(k, "") for k in wanted}
            if wanted
            else {k: v for k, v in props.items() if v}
        )
        blocks.append(selected)
    if args.json:
        print(json.dumps(blocks))
        return rc
    for i, block in enumerate(blocks):
        if i and not args.value:
            print()
        for key, value in block.items():
            print(value if args.value else f"{key}={value}")
    return rc


def _verify(args: argparse.Namespace) -> int:
    from bootup.errors import NotSupportedError
    from bootup.units.loader import parse_boolean
    from bootup.units.verify import verify_files

    if parse_boolean(args.man) is not False:
        raise NotSupportedError("verify --man=yes (checking man pages) is not supported yet")
    result = verify_files(
        args.files, root=getattr(args, "root", None), project=getattr(args, "project", None)
    )
    for line in result.lines:
        _err(line)
    if args.unsupported:
        for line in result.unsupported:
            _err(line)
    return 1 if result.failed else 0
