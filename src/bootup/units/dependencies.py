"""Default, implicit and inverse dependencies, and the loaded unit graph.

systemd adds edges nobody wrote: ``DefaultDependencies=yes`` gives a service
``Requires=``/``After=sysinit.target``, ``After=basic.target`` and
``Conflicts=``/``Before=shutdown.target`` (systemd.service(5)), a socket or timer its
checkpoint target and an implicit ``Triggers=`` on its service, every service its slice, and
every edge its inverse (systemd.unit(5), "MAPPING OF UNIT PROPERTIES TO THEIR INVERSES").
This module adds them with the origins systemd 252's ``systemd --test`` dump shows
(``origin-default``, ``origin-implicit``, ``origin-file``), checked against that dump by
``tests/conformance/test_test_dump.py``. Rules follow src/core/{service,socket,timer,path,
slice,target,unit}.c of systemd 252; mount, swap, automount and device rules are not modelled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from bootup.units.loader import Loader, expand_specifiers, parse_boolean, split_instance
from bootup.units.model import (
    INVERSE,
    Dependency,
    DependencyType,
    LoadState,
    Origin,
    OriginKind,
    Unit,
    UnitType,
)

__all__ = (
    "UnitGraph",
    "default_dependencies",
    "implicit_dependencies",
    "load_graph",
    "triggered_unit",
)

_DEFAULT = Origin(OriginKind.DEFAULT)
_IMPLICIT = Origin(OriginKind.IMPLICIT)
_FILE = Origin(OriginKind.FILE)

#: The edges a target orders itself after (unit.c, UNIT_ATOM_DEFAULT_TARGET_DEPENDENCIES).
_PULLS = (
    DependencyType.REQUIRES,
    DependencyType.REQUISITE,
    DependencyType.WANTS,
    DependencyType.BINDS_TO,
)
_JOURNAL_OUTPUTS = ("journal", "kmsg", "syslog")

UnitGraph = dict[str, Unit]
_BUILTIN_SLICES = {"-.slice": "Root Slice", "system.slice": "System Slice"}


def _edge(kind: DependencyType, target: str, origin: Origin) -> Dependency:
    return Dependency(kind, target, origin)


def _two(a: DependencyType, b: DependencyType, target: str, origin: Origin) -> list[Dependency]:
    return [_edge(a, target, origin), _edge(b, target, origin)]


def default_dependencies(unit: Unit) -> list[Dependency]:
    """The edges ``DefaultDependencies=yes`` adds to ``unit`` by its type (origin default).

    The target rule that orders a target after what it pulls in needs the other units, so
    :func:`load_graph` adds it.
    """
    if not unit.default_dependencies or not _settings_read(unit):
        return []
    if unit.name in _BUILTIN_SLICES and unit.fragment_path is None:
        return []  # the built-in root and system slices are perpetual
    d = DependencyType
    out: list[Dependency] = []
    if unit.type is UnitType.SERVICE:
        out.append(_edge(d.AFTER, "basic.target", _DEFAULT))
        out += _two(d.AFTER, d.REQUIRES, "sysinit.target", _DEFAULT)
        out += _two(d.BEFORE, d.CONFLICTS, "shutdown.target", _DEFAULT)
    elif unit.type in (UnitType.SOCKET, UnitType.TIMER, UnitType.PATH):
        checkpoint = {
            UnitType.SOCKET: "sockets.target",
            UnitType.TIMER: "timers.target",
            UnitType.PATH: "paths.target",
        }[unit.type]
        out.append(_edge(d.BEFORE, checkpoint, _DEFAULT))
        out += _two(d.AFTER, d.REQUIRES, "sysinit.target", _DEFAULT)
        if unit.type is UnitType.TIMER and unit.setting("Timer", "OnCalendar"):
            out.append(_edge(d.AFTER, "time-set.target", _DEFAULT))
            out.append(_edge(d.AFTER, "time-sync.target", _DEFAULT))
        out += _two(d.BEFORE, d.CONFLICTS, "shutdown.target", _DEFAULT)
    elif unit.type in (UnitType.TARGET, UnitType.SLICE):
        out += _two(d.BEFORE, d.CONFLICTS, "shutdown.target", _DEFAULT)
    return out


def _settings_read(unit: Unit) -> bool:
    """Whether systemd got as far as adding extras (a refused service still has them)."""
    if unit.load_state is LoadState.LOADED:
        return True
    return unit.load_state is LoadState.BAD_SETTING and unit.settings_complete


def _slice_of(unit: Unit) -> str:
    configured = [v for v in unit.setting(unit.type.value.capitalize(), "Slice") if v]
    if configured:
        try:
            return expand_specifiers(configured[-1], unit.name, unit.fragment_path)
        except ValueError:
            return "system.slice"
    if unit.instance is not None:
        prefix = unit.name.split("@", 1)[0]
        return f"system-{prefix}.slice"
    return "system.slice"


def _parent_slice(name: str) -> str | None:
    if name == "-.slice":
        return None
    stem = name[: -len(".slice")]
    if "-" not in stem:
        return "-.slice"
    return stem.rsplit("-", 1)[0] + ".slice"


def _logs_to_journal(unit: Unit) -> bool:
    section = unit.type.value.capitalize()
    out = (unit.setting(section, "StandardOutput") or ("journal",))[-1] or "journal"
    err = (unit.setting(section, "StandardError") or ("inherit",))[-1] or "inherit"
    if err == "inherit":
        err = out
    return out.startswith(_JOURNAL_OUTPUTS) or err.startswith(_JOURNAL_OUTPUTS)


def implicit_dependencies(unit: Unit) -> list[Dependency]:
    """Edges systemd adds whatever ``DefaultDependencies=`` says (slices, triggers, logging).

    Origins follow systemd 252: the slice and journald edges of a service are tagged
    ``file`` there (they come from settings with defaults), triggers and parent slices
    ``implicit``.
    """
    if not _settings_read(unit):
        return []
    d = DependencyType
    out: list[Dependency] = []
    if unit.type in (UnitType.SERVICE, UnitType.SOCKET) and unit.load_state is LoadState.LOADED:
        # unit_load() adds the slice only once the type's own load succeeded.
        out += _two(d.AFTER, d.REQUIRES, _slice_of(unit), _FILE)
    if unit.type in (UnitType.SERVICE, UnitType.SOCKET):
        out += _exec_context_dependencies(unit)
    if unit.type is UnitType.SERVICE:
        if _logs_to_journal(unit):
            out.append(_edge(d.AFTER, "systemd-journald.socket", _FILE))
        service = unit.service
        if service is not None and service.effective_type.value == "dbus" and service.bus_name:
            out += _two(d.AFTER, d.REQUIRES, "dbus.socket", _FILE)
    elif unit.type is UnitType.SLICE:
        parent = _parent_slice(unit.name)
        if parent is not None:
            out += _two(d.AFTER, d.REQUIRES, parent, _IMPLICIT)
    if unit.type in (UnitType.SOCKET, UnitType.TIMER, UnitType.PATH):
        triggered = triggered_unit(unit)
        if triggered is not None:
            out += _two(d.BEFORE, d.TRIGGERS, triggered, _IMPLICIT)
    return out


def _exec_context_dependencies(unit: Unit) -> list[Dependency]:
    """unit.c ``unit_add_exec_dependencies()``: what some exec settings need first."""
    section = unit.type.value.capitalize()
    out: list[Dependency] = []
    # State, cache and logs directories live on /var, possibly the root file system.
    for key in ("StateDirectory", "CacheDirectory", "LogsDirectory"):
        words: list[str] = []
        for value in unit.setting(section, key):
            words = words + value.split() if value else []
        if words:
            out.append(_edge(DependencyType.AFTER, "systemd-remount-fs.service", _FILE))
            break
    private_tmp = [v for v in unit.setting(section, "PrivateTmp") if v]
    if private_tmp and parse_boolean(private_tmp[-1]):
        out.append(_edge(DependencyType.AFTER, "systemd-tmpfiles-setup.service", _FILE))
    return out


def triggered_unit(unit: Unit) -> str | None:
    """The unit a socket, timer or path unit activates (``None`` for ``Accept=yes``)."""
    stem = unit.name.rsplit(".", 1)[0]
    if unit.type is UnitType.SOCKET:
        accept = (unit.setting("Socket", "Accept") or ("no",))[-1].lower()
        if accept in ("1", "yes", "y", "true", "t", "on"):
            return None
        named = [v for v in unit.setting("Socket", "Service") if v]
    else:
        key = "Timer" if unit.type is UnitType.TIMER else "Path"
        named = [v for v in unit.setting(key, "Unit") if v]
    if not named:
        return f"{stem}.service"
    try:
        return expand_specifiers(named[-1], unit.name, unit.fragment_path)
    except ValueError:
        return None


def _load(loader: Loader, name: str) -> Unit:
    unit = loader.load(name)
    if unit.name in _BUILTIN_SLICES:
        # slice.c loads the root and system slices with DefaultDependencies=no.
        unit = dataclasses.replace(unit, default_dependencies=False)
    if (
        unit.type in (UnitType.SLICE, UnitType.DEVICE)
        and unit.load_state is LoadState.NOT_FOUND
        and split_instance(unit.name)[1] != ""
    ):
        # Slices and devices need no file: systemd synthesises them (fragment not required).
        unit = dataclasses.replace(
            unit,
            load_state=LoadState.LOADED,
            description=unit.description or _BUILTIN_SLICES.get(unit.name, ""),
            load_error=None,
        )
    return unit


def load_graph(loader: Loader, roots: Iterable[str] | None = None) -> UnitGraph:
    """Load ``roots`` (default: every unit on the path) and all they reference, with edges.

    Returns every unit keyed by its primary name, each with its file edges, default and
    implicit edges, and the inverse of every edge pointing at it (``inverse=True``). Edge
    targets are primary names (aliases resolved). Units that are referenced but missing are
    in the graph as ``not-found``, as systemd keeps them.
    """
    pending = (
        list(roots)
        if roots is not None
        else [n for n in loader.index.names() if split_instance(n)[1] != ""]
    )
    units: dict[str, Unit] = {}
    own: dict[str, list[Dependency]] = {}
    primary_of: dict[str, str] = {}
    while pending:
        name = pending.pop()
        if name in primary_of:
            continue
        unit = _load(loader, name)
        primary_of[name] = unit.name
        if unit.name in units:
            continue
        primary_of[unit.name] = unit.name
        units[unit.name] = unit
        edges = [
            e
            for e in (*unit.dependencies, *default_dependencies(unit), *implicit_dependencies(unit))
            if e.target != unit.name and e.target not in unit.names
        ]
        own[unit.name] = edges
        pending.extend(e.target for e in edges if e.target not in primary_of)

    def resolve(edges: list[Dependency]) -> list[Dependency]:
        return [
            e
            if primary_of.get(e.target, e.target) == e.target
            else dataclasses.replace(e, target=primary_of[e.target])
            for e in edges
        ]

    own = {name: [e for e in resolve(edges) if e.target != name] for name, edges in own.items()}
    # A target is ordered after what it pulls in, unless either side opts out or the
    # other unit is already ordered before the target (unit.c, default target dependency).
    for name, unit in units.items():
        if unit.type is not UnitType.TARGET or not unit.default_dependencies:
            continue
        if unit.load_state is not LoadState.LOADED:
            continue
        befores = {e.target for e in own[name] if e.type is DependencyType.BEFORE}
        added: set[str] = set()
        for edge in list(own[name]):
            if edge.type not in _PULLS or edge.target in added:
                continue
            other = units.get(edge.target)
            if other is None or other.load_state is not LoadState.LOADED:
                continue
            if not other.default_dependencies or edge.target in befores:
                continue
            if any(e.type is DependencyType.AFTER and e.target == name for e in own[edge.target]):
                continue
            added.add(edge.target)
            own[name].append(_edge(DependencyType.AFTER, edge.target, _DEFAULT))
    incoming: dict[str, list[Dependency]] = {n: [] for n in units}
    for name, edges in own.items():
        for edge in edges:
            inverse = INVERSE.get(edge.type)
            if inverse is None or edge.target not in incoming:
                continue
            incoming[edge.target].append(Dependency(inverse, name, edge.origin, inverse=True))
    graph: UnitGraph = {}
    for name, unit in units.items():
        merged: dict[Dependency, None] = {}
        for edge in (*own[name], *incoming[name]):
            merged.setdefault(edge, None)
        graph[name] = dataclasses.replace(unit, dependencies=tuple(merged))
    return graph
