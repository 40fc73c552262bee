"""``bootup verify`` (systemd-analyze verify) and the offline ``bootup show`` properties.

What systemd-analyze verify 252 reports, and so what this module reports, in its order:

1. while loading, unit by unit in systemd's load-queue order (the given files in order,
   each followed depth first by what it refers to, last reference first): syntax problems,
   unknown keys and sections, values that do not parse (``path:line: message``), the
   ``*_verify()`` refusals that make a unit ``bad-setting`` (``x.service: Service has no
   ExecStart=, ... Refusing.``), and for a given unit that did not load ``Unit x.service has
   a bad unit file setting.``; a file whose name is no unit name is reported in its place;
2. per unit given: for each kind of command (ExecStartPre=, ExecStart=, ...) whether the
   *first* command is executable unless it carries the ``-`` prefix, a socket's service,
   then the start transaction (Requires=/BindsTo= units depth first, then Wants= ones,
   whose failures are warnings, then Requisite= ones).

Man pages are never checked (``--man=yes`` is refused as not supported yet). Settings that
bootup parses but does not act on are listed separately, as bootup-specific lines
(``bootup: x.service:7: ProtectSystem= is not supported yet, ignoring.``), only when asked,
so that by default verify prints nothing that systemd-analyze would not. Checked against
systemd-analyze by ``tests/conformance/test_verify.py`` (fixed cases, the Debian package
corpus, and random units).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bootup.units.dependencies import UnitGraph, load_graph, triggered_unit
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.loader import UNSUPPORTED_NOTE, Loader, is_valid_unit_name, split_instance
from bootup.units.model import DependencyType, LoadState, Unit, UnitType
from bootup.units.paths import SearchPath, search_path

__all__ = ("VerifyResult", "show_properties", "verify_files")

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_EXEC_ORDER = (
    "ExecCondition",
    "ExecStartPre",
    "ExecStart",
    "ExecStartPost",
    "ExecReload",
    "ExecStop",
    "ExecStopPost",
)
_SOCKET_EXEC_ORDER = ("ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost")


@dataclass(slots=True)
class VerifyResult:
    """Lines to print (systemd's wording, in its order) and whether verify failed."""

    lines: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    failed: bool = False


def _first_word(command: str) -> tuple[str, bool] | None:
    """The executable of an ``Exec*=`` line and whether its failure is ignored (``-``)."""
    text = command.lstrip()
    ignore = False
    while text and text[0] in "-@:+!|":
        if text[0] == "-":
            ignore = True
        text = text[1:]
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    if not words:
        return None
    return words[0], ignore


def _executable_problem(path: str) -> str | None:
    if "/" not in path:
        for directory in _DEFAULT_PATH.split(":"):
            candidate = os.path.join(directory, path)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return None
        return "No such file or directory"
    if not os.path.exists(path):
        return "No such file or directory"
    if os.path.isdir(path):
        return "Is a directory"
    if not os.access(path, os.X_OK):
        return "Permission denied"
    return None


def _command_problems(unit: Unit) -> list[str]:
    section = {UnitType.SERVICE: "Service", UnitType.SOCKET: "Socket"}.get(unit.type)
    if section is None:
        return []
    order = _EXEC_ORDER if unit.type is UnitType.SERVICE else _SOCKET_EXEC_ORDER
    out: list[str] = []
    for key in order:
        commands: list[str] = []
        for value in unit.setting(section, key):
            if not value:
                commands.clear()
            else:
                commands.append(value)
        if not commands:
            continue
        parsed = unit.service.exec_commands(key) if unit.service is not None else ()
        if parsed:
            if parsed[0].ignore_failure:
                continue
            problem = _executable_problem(parsed[0].path)
            if problem is not None:
                out.append(f"{unit.name}: Command {parsed[0].path} is not executable: {problem}")
            continue
        first = _first_word(commands[0])
        if first is None or first[1] or "%" in first[0] or "$" in first[0]:
            continue
        problem = _executable_problem(first[0])
        if problem is not None:
            out.append(f"{unit.name}: Command {first[0]} is not executable: {problem}")
    return out


def _load_state_problem(unit: Unit) -> str:
    """How systemd words a unit that did not load (bus_unit_validate_load_state())."""
    if unit.load_state is LoadState.BAD_SETTING:
        return f"Unit {unit.name} has a bad unit file setting."
    return (
        f"Unit {unit.name} failed to load properly, please adjust/correct and reload service "
        f"manager: {unit.load_error or 'Invalid argument'}"
    )


def _transaction_problems(graph: UnitGraph, name: str) -> tuple[str | None, list[str]]:
    """Systemd's start transaction for ``name``: the fatal problem, and the warnings.

    transaction.c adds jobs depth first, by kind: Requires=/BindsTo= units (a failure is
    fatal), then Wants=/Upholds= units (a failure is a warning, or silent when the unit is
    only missing or masked), then Requisite= units (a verify-active job that pulls in
    nothing more).
    """
    seen = {name}
    warnings: list[str] = []

    def problem(target_name: str) -> tuple[str, bool] | None:
        """The error adding a job for the unit, and whether it is one systemd keeps quiet."""
        target = graph.get(target_name)
        if target is None or target.load_state is LoadState.NOT_FOUND:
            return f"Unit {target_name} not found.", True
        if target.load_state is LoadState.MASKED:
            return f"Unit {target_name} is masked.", True
        if target.load_state in (LoadState.ERROR, LoadState.BAD_SETTING):
            return _load_state_problem(target), False
        return None

    def visit(unit_name: str) -> tuple[str, bool] | None:
        unit = graph.get(unit_name)
        if unit is None:
            return None
        edges = [d for d in unit.dependencies if not d.inverse]
        for kinds, mode in (
            ((DependencyType.REQUIRES, DependencyType.BINDS_TO), "fatal"),
            ((DependencyType.WANTS, DependencyType.UPHOLDS), "ignore"),
            ((DependencyType.REQUISITE,), "verify"),
        ):
            for dep in edges:
                if dep.type not in kinds or dep.target in seen:
                    continue
                seen.add(dep.target)
                found = problem(dep.target)
                if found is None and mode != "verify":
                    found = visit(dep.target)
                if found is None:
                    continue
                if mode != "ignore":
                    return found
                if not found[1]:
                    warnings.append(
                        f"{dep.target}: Cannot add dependency job, ignoring: {found[0]}"
                    )
        return None

    fatal = visit(name)
    if fatal is None:
        return None, warnings
    return f"{name}: Failed to create {name}/start: {fatal[0]}", warnings


def _unit_diagnostics(unit: Unit) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Split a unit's diagnostics into systemd's lines and bootup's own notes."""
    systemd_lines: list[Diagnostic] = []
    bootup_lines: list[Diagnostic] = []
    for diagnostic in unit.diagnostics:
        if diagnostic.message.endswith(UNSUPPORTED_NOTE):
            bootup_lines.append(diagnostic)
        else:
            systemd_lines.append(diagnostic)
    return systemd_lines, bootup_lines


def verify_files(
    files: Sequence[str],
    *,
    root: str | None = None,
    project: str | None = None,
    environ: dict[str, str] | None = None,
) -> VerifyResult:
    """Check unit files the way ``systemd-analyze verify --man=no FILE...`` does.

    The directories of the files go first on the search path (as systemd-analyze does), so
    their neighbours resolve as dependencies. A template is verified as its instance
    ``i`` (as systemd-analyze 252 does).
    """
    base = search_path(root=root, project=project, environ=environ, must_exist=True)
    dirs: list[str] = []
    entries: list[tuple[str, str | None]] = []  # (file as given, unit name or None)
    for file in files:
        path = os.path.abspath(file)
        name = os.path.basename(path)
        if not is_valid_unit_name(name):
            entries.append((file, None))
            continue
        dirs.append(os.path.dirname(path))
        template, instance = split_instance(name)
        if instance == "":
            name = template.replace("@.", "@i.", 1)
        entries.append((file, name))
    names = [name for _, name in entries if name is not None]
    combined = tuple(dict.fromkeys((*dirs, *base.dirs)))
    sp = SearchPath(
        dirs=combined,
        root=base.root,
        config_dir=base.config_dir,
        runtime_dir=base.runtime_dir,
        project=base.project,
    )
    loader = Loader(sp)
    graph = load_graph(loader, names)
    result = VerifyResult()
    requested = {loader.load(name).name for name in names}
    for unit in _load_order(graph, entries, loader):
        if isinstance(unit, str):
            result.lines.append(unit)
            result.failed = True
            continue
        diags, notes = _unit_diagnostics(unit)
        # No de-duplication: systemd logs a shared drop-in's problem once per unit.
        result.lines.extend(str(diagnostic) for diagnostic in diags)
        if unit.name in requested:
            result.unsupported.extend(f"bootup: {n}" for n in dict.fromkeys(map(str, notes)))
    for name in names:
        unit = loader.load(name)
        primary = graph.get(unit.name, unit)
        if primary.load_state is LoadState.NOT_FOUND:
            result.lines.append(f"Unit {name} not found.")
            result.failed = True
            continue
        if primary.load_state is LoadState.MASKED:
            result.lines.append(f"Unit {name} is masked.")
            result.failed = True
            continue
        if primary.load_state in (LoadState.ERROR, LoadState.BAD_SETTING):
            continue  # reported while loading
        problems = _command_problems(primary)
        if primary.type is UnitType.SOCKET:
            service = triggered_unit(primary)
            if service is None:
                # Accept=yes: each connection gets an instance of the socket's template.
                service = primary.name.rsplit(".", 1)[0] + "@internal.service"
            loaded = graph.get(service) or loader.load(service)
            if loaded.load_state is not LoadState.LOADED:
                problems.append(
                    f"{primary.name}: service {service} not loaded, socket cannot be started."
                )
        result.lines.extend(problems)
        transaction, warnings = _transaction_problems(graph, primary.name)
        result.lines.extend(warnings)  # logged while the jobs were added, before a failure
        if transaction is not None:
            result.lines.append(transaction)
        if problems or transaction is not None:
            result.failed = True
    if any(d.severity is Severity.ERROR for u in graph.values() for d in u.diagnostics):
        result.failed = True
    return result


def _load_order(
    graph: UnitGraph,
    entries: Iterable[tuple[str, str | None]],
    loader: Loader,
) -> list[Unit | str]:
    """The given units in command-line order, then the rest of the graph sorted by name.

    Strings are lines to print at that point: a file whose name is no unit name, and a given
    unit that did not load (after what it refers to), as systemd-analyze does.
    """
    ordered: dict[str, Unit | str] = {}
    for path, name in entries:
        if name is None:
            ordered[f"\0{path}"] = f"Failed to prepare filename {path}: Invalid argument"
            continue
        unit = graph.get(loader.load(name).name)
        if unit is None:
            continue
        # systemd's load queue is LIFO (prepend): of what a unit refers to, the unit first
        # referred to last is loaded first, and what that refers to right after it. A unit
        # already waiting in the queue keeps its place.
        stack = [unit]
        queued = {unit.name}
        while stack:
            current = stack.pop()
            if current.name in ordered:
                continue
            ordered[current.name] = current
            for dep in current.dependencies:
                target = graph.get(dep.target)
                if dep.inverse or target is None or target.name in queued:
                    continue
                queued.add(target.name)
                if target.name not in ordered:
                    stack.append(target)
        if unit.load_state in (LoadState.ERROR, LoadState.BAD_SETTING):
            # Printed once the unit's load queue has drained (its dependencies loaded).
            ordered[f"\0bad {unit.name}"] = _load_state_problem(unit)
    for name in sorted(graph):
        ordered.setdefault(name, graph[name])
    return list(ordered.values())


_LIST_PROPERTIES = tuple(t.value for t in DependencyType)


def show_properties(sp: SearchPath, names: Iterable[str]) -> list[dict[str, str]]:
    """``systemctl show`` properties computed from the files, one mapping per unit.

    The whole tree is loaded so that inverse properties (``WantedBy=``, ``RequiredBy=``)
    see every unit that points at the one shown.
    """
    from bootup.errors import UnitNotFoundError  # noqa: PLC0415
    from bootup.units.install import Installer  # noqa: PLC0415

    loader = Loader(sp)
    wanted = list(names)
    graph = load_graph(loader, None)
    extra = [n for n in wanted if loader.load(n).name not in graph]
    if extra:
        graph.update(load_graph(loader, extra))
    installer = Installer(sp)
    out: list[dict[str, str]] = []
    for name in wanted:
        unit = graph.get(loader.load(name).name) or loader.load(name)
        props: dict[str, str] = {
            "Id": unit.name,
            "Names": " ".join(unit.names or (unit.name,)),
        }
        for prop in _LIST_PROPERTIES:
            props[prop] = " ".join(sorted(unit.deps(DependencyType(prop))))
        props["Description"] = unit.display_description
        props["Documentation"] = " ".join(f'"{d}"' for d in unit.documentation)
        props["LoadState"] = unit.load_state.value
        props["LoadError"] = "" if unit.load_error is None else unit.load_error
        props["FragmentPath"] = unit.fragment_path or ""
        props["DropInPaths"] = " ".join(unit.dropin_paths)
        try:
            props["UnitFileState"] = installer.state(unit.name).value
        except (UnitNotFoundError, OSError):
            props["UnitFileState"] = ""
        props["DefaultDependencies"] = "yes" if unit.default_dependencies else "no"
        if unit.service is not None:
            props["Type"] = unit.service.effective_type.value
            props["Restart"] = unit.service.restart
            props["RemainAfterExit"] = "yes" if unit.service.remain_after_exit else "no"
        out.append(props)
    return out
