"""The loaded-unit model: frozen dataclasses and StrEnums that the transaction engine reads.

Why frozen: a loaded unit set is a snapshot of the files on disk; the engine and the runtime
share it across tasks, and a reload builds a new one instead of mutating the old. Every
dependency edge remembers where it came from (a file line, a ``.wants/`` link, a default
or implicit rule) because ``systemd --test`` reports exactly that, and because a user asking
"why is X pulled in?" needs the answer. Spec: systemd.unit(5), systemd.service(5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bootup.units import values
from bootup.units.diagnostics import Diagnostic
from bootup.units.execline import ExecCommand
from bootup.units.syntax import Assignment

__all__ = (
    "DEPENDENCY_KEYS",
    "INVERSE",
    "Condition",
    "Dependency",
    "DependencyType",
    "InstallSettings",
    "LoadState",
    "Origin",
    "OriginKind",
    "ServiceSettings",
    "ServiceType",
    "Unit",
    "UnitType",
    "unit_type_of",
)


class UnitType(StrEnum):
    """The unit types of systemd 252 (the suffix of the unit name)."""

    SERVICE = "service"
    SOCKET = "socket"
    TARGET = "target"
    DEVICE = "device"
    MOUNT = "mount"
    AUTOMOUNT = "automount"
    SWAP = "swap"
    TIMER = "timer"
    PATH = "path"
    SLICE = "slice"
    SCOPE = "scope"


def unit_type_of(name: str) -> UnitType | None:
    """Return the type named by a unit name's suffix, or ``None`` if it names no type."""
    _, dot, suffix = name.rpartition(".")
    if not dot:
        return None
    try:
        return UnitType(suffix)
    except ValueError:
        return None


class LoadState(StrEnum):
    """``LoadState=`` as ``systemctl show`` prints it."""

    LOADED = "loaded"
    NOT_FOUND = "not-found"
    MASKED = "masked"
    BAD_SETTING = "bad-setting"
    ERROR = "error"


class DependencyType(StrEnum):
    """Every dependency kind, spelled as ``systemctl show`` and the ``--test`` dump spell it.

    The one enum of dependency kinds: the loader records edges with it and the transaction
    engine (:mod:`bootup.transaction.graph`) computes over it, so a kind has one spelling.
    """

    REQUIRES = "Requires"
    REQUISITE = "Requisite"
    WANTS = "Wants"
    BINDS_TO = "BindsTo"
    PART_OF = "PartOf"
    UPHOLDS = "Upholds"
    REQUIRED_BY = "RequiredBy"
    REQUISITE_OF = "RequisiteOf"
    WANTED_BY = "WantedBy"
    BOUND_BY = "BoundBy"
    CONSISTS_OF = "ConsistsOf"
    UPHELD_BY = "UpheldBy"
    CONFLICTS = "Conflicts"
    CONFLICTED_BY = "ConflictedBy"
    BEFORE = "Before"
    AFTER = "After"
    ON_FAILURE = "OnFailure"
    ON_FAILURE_OF = "OnFailureOf"
    ON_SUCCESS = "OnSuccess"
    ON_SUCCESS_OF = "OnSuccessOf"
    TRIGGERS = "Triggers"
    TRIGGERED_BY = "TriggeredBy"
    PROPAGATES_RELOAD_TO = "PropagatesReloadTo"
    RELOAD_PROPAGATED_FROM = "ReloadPropagatedFrom"
    PROPAGATES_STOP_TO = "PropagatesStopTo"
    STOP_PROPAGATED_FROM = "StopPropagatedFrom"
    JOINS_NAMESPACE_OF = "JoinsNamespaceOf"


#: systemd.unit(5), "MAPPING OF UNIT PROPERTIES TO THEIR INVERSES"; the loader and the
#: transaction graph both add inverse edges from this table.
INVERSE: dict[DependencyType, DependencyType] = {}
for _a, _b in (
    (DependencyType.REQUIRES, DependencyType.REQUIRED_BY),
    (DependencyType.REQUISITE, DependencyType.REQUISITE_OF),
    (DependencyType.WANTS, DependencyType.WANTED_BY),
    (DependencyType.BINDS_TO, DependencyType.BOUND_BY),
    (DependencyType.PART_OF, DependencyType.CONSISTS_OF),
    (DependencyType.UPHOLDS, DependencyType.UPHELD_BY),
    (DependencyType.CONFLICTS, DependencyType.CONFLICTED_BY),
    (DependencyType.BEFORE, DependencyType.AFTER),
    (DependencyType.ON_FAILURE, DependencyType.ON_FAILURE_OF),
    (DependencyType.ON_SUCCESS, DependencyType.ON_SUCCESS_OF),
    (DependencyType.TRIGGERS, DependencyType.TRIGGERED_BY),
    (DependencyType.PROPAGATES_RELOAD_TO, DependencyType.RELOAD_PROPAGATED_FROM),
    (DependencyType.PROPAGATES_STOP_TO, DependencyType.STOP_PROPAGATED_FROM),
):
    INVERSE[_a] = _b
    INVERSE[_b] = _a
# JoinsNamespaceOf= has no inverse edge in systemd 252 (unit.c, inverse_table).

#: The ``[Unit]`` keys that add dependencies (never reset by an empty value).
DEPENDENCY_KEYS: dict[str, DependencyType] = {
    t.value: t
    for t in (
        DependencyType.REQUIRES,
        DependencyType.REQUISITE,
        DependencyType.WANTS,
        DependencyType.BINDS_TO,
        DependencyType.PART_OF,
        DependencyType.UPHOLDS,
        DependencyType.CONFLICTS,
        DependencyType.BEFORE,
        DependencyType.AFTER,
        DependencyType.ON_FAILURE,
        DependencyType.ON_SUCCESS,
        DependencyType.PROPAGATES_RELOAD_TO,
        DependencyType.RELOAD_PROPAGATED_FROM,
        DependencyType.PROPAGATES_STOP_TO,
        DependencyType.STOP_PROPAGATED_FROM,
        DependencyType.JOINS_NAMESPACE_OF,
    )
}


class OriginKind(StrEnum):
    """Why an edge exists; ``FILE``/``DEFAULT``/``IMPLICIT`` match the ``--test`` dump tags."""

    FILE = "file"
    WANTS_DIR = "wants-dir"
    REQUIRES_DIR = "requires-dir"
    #: a ``.wants/``/``.requires/`` link of another name (alias) of the unit
    ALIAS = "alias"
    DEFAULT = "default"
    IMPLICIT = "implicit"

    @property
    def dump_tag(self) -> str:
        """The word systemd's dump prints (``.wants/`` links count as ``file`` there)."""
        if self in (OriginKind.WANTS_DIR, OriginKind.REQUIRES_DIR, OriginKind.ALIAS):
            return "file"
        return self.value


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an edge came from: a file line, a link directory, or a rule of systemd's."""

    kind: OriginKind
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return self.kind.value
        if self.line is None:
            return f"{self.kind.value} {self.path}"
        return f"{self.kind.value} {self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Dependency:
    """One edge ``unit --type--> target``.

    ``inverse`` is true when the edge exists because ``target`` declared the opposite one
    (the dump's ``destination-*`` tags); ``origin`` then describes that declaration.
    """

    type: DependencyType
    target: str
    origin: Origin
    inverse: bool = False


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``Condition*=``/``Assert*=`` line: ``|`` makes it a trigger, ``!`` negates it."""

    name: str
    parameter: str
    trigger: bool
    negate: bool
    is_assert: bool
    path: str
    line: int


class ServiceType(StrEnum):
    """``Type=`` of systemd.service(5) as systemd 252 accepts it."""

    SIMPLE = "simple"
    EXEC = "exec"
    FORKING = "forking"
    ONESHOT = "oneshot"
    DBUS = "dbus"
    NOTIFY = "notify"
    IDLE = "idle"


def _usec(text: str | None, default: int, *, zero_is_infinity: bool) -> int:
    if text is None:
        return default
    usec = values.parse_timespan(text)  # validated by the loader already
    return values.USEC_INFINITY if usec == 0 and zero_is_infinity else usec


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """The ``[Service]`` settings bootup acts on; the rest stays in :attr:`Unit.raw`.

    Command lines are kept as written (after specifier expansion happens at start time,
    because ``%`` in them is expanded by the runtime); each list already reflects resets by
    an empty assignment.
    """

    type: ServiceType | None = None
    exec_start: tuple[str, ...] = ()
    exec_start_pre: tuple[str, ...] = ()
    exec_start_post: tuple[str, ...] = ()
    exec_condition: tuple[str, ...] = ()
    exec_reload: tuple[str, ...] = ()
    exec_stop: tuple[str, ...] = ()
    exec_stop_post: tuple[str, ...] = ()
    remain_after_exit: bool = False
    restart: str = "no"
    pid_file: str | None = None
    bus_name: str | None = None
    user: str | None = None
    group: str | None = None
    working_directory: str | None = None
    environment: tuple[str, ...] = ()
    environment_files: tuple[str, ...] = ()
    kill_mode: str = "control-group"
    timeout_start_sec: str | None = None
    timeout_stop_sec: str | None = None
    restart_sec: str | None = None
    #: Parsed ``Exec*=`` commands per key (``ExecStart``...), after resets, in file order.
    commands: tuple[tuple[str, tuple[ExecCommand, ...]], ...] = ()

    @property
    def timeout_start_usec(self) -> int:
        """``TimeoutStartSec=`` in µs (default 90 s; ``0`` and ``infinity`` mean no limit)."""
        return _usec(self.timeout_start_sec, 90 * values.USEC_PER_SEC, zero_is_infinity=True)

    @property
    def timeout_stop_usec(self) -> int:
        """``TimeoutStopSec=`` in µs (default 90 s; ``0`` and ``infinity`` mean no limit)."""
        return _usec(self.timeout_stop_sec, 90 * values.USEC_PER_SEC, zero_is_infinity=True)

    @property
    def restart_usec(self) -> int:
        """``RestartSec=`` in µs (default 100 ms)."""
        return _usec(self.restart_sec, 100 * values.USEC_PER_MSEC, zero_is_infinity=False)

    def exec_commands(self, key: str) -> tuple[ExecCommand, ...]:
        """The parsed commands of one ``Exec*=`` key (empty when unset)."""
        for name, commands in self.commands:
            if name == key:
                return commands
        return ()

    @property
    def effective_type(self) -> ServiceType:
        """``Type=`` or systemd's guess: ``dbus`` with BusName=, ``oneshot`` without ExecStart=."""
        if self.type is not None:
            return self.type
        if self.bus_name:
            return ServiceType.DBUS
        if not self.exec_start:
            return ServiceType.ONESHOT
        return ServiceType.SIMPLE


@dataclass(frozen=True, slots=True)
class InstallSettings:
    """``[Install]``: read only by ``enable``/``disable``, never by the manager."""

    wanted_by: tuple[str, ...] = ()
    required_by: tuple[str, ...] = ()
    alias: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    default_instance: str | None = None

    @property
    def empty(self) -> bool:
        """True when there is nothing to enable (``is-enabled`` then says ``static``)."""
        return not (self.wanted_by or self.required_by or self.alias or self.also)


@dataclass(frozen=True, slots=True)
class Unit:
    """One loaded unit: identity, files, state, dependencies and settings.

    ``raw`` holds every assignment in file order (fragment, then drop-ins) so settings that
    bootup does not model are kept and reported rather than lost.
    """

    name: str
    type: UnitType
    load_state: LoadState
    names: tuple[str, ...] = ()
    fragment_path: str | None = None
    source_path: str | None = None
    dropin_paths: tuple[str, ...] = ()
    description: str = ""
    documentation: tuple[str, ...] = ()
    default_dependencies: bool = True
    dependencies: tuple[Dependency, ...] = ()
    conditions: tuple[Condition, ...] = ()
    asserts: tuple[Condition, ...] = ()
    service: ServiceSettings | None = None
    install: InstallSettings = field(default_factory=InstallSettings)
    instance: str | None = None
    template: str | None = None
    raw: tuple[Assignment, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    load_error: str | None = None
    #: every setting was read: true for loaded units and for those refused afterwards
    #: (service_verify()), false when reading stopped at a fatal error or the file is missing
    settings_complete: bool = True

    @property
    def aliases(self) -> tuple[str, ...]:
        """The other names of this unit (``Names=`` without the id)."""
        return tuple(n for n in self.names if n != self.name)

    @property
    def display_description(self) -> str:
        """``Description=`` or, like systemd, the unit name when it is unset."""
        return self.description or self.name

    def deps(self, kind: DependencyType) -> tuple[str, ...]:
        """The distinct targets of edges of one kind, in the order they were added."""
        seen: dict[str, None] = {}
        for dep in self.dependencies:
            if dep.type is kind:
                seen.setdefault(dep.target, None)
        return tuple(seen)

    def edges(self, kind: DependencyType) -> tuple[Dependency, ...]:
        """Every edge of one kind, with origins (one target may appear more than once)."""
        return tuple(d for d in self.dependencies if d.type is kind)

    def setting(self, section: str, key: str) -> tuple[str, ...]:
        """Every raw value assigned to ``[section] key``, in file order."""
        return tuple(a.value for a in self.raw if a.section == section and a.key == key)
