"""Find, read and merge unit files the way systemd 252 does (systemd.unit(5)).

Design, in the order systemd works:

1. :class:`UnitFileIndex` lists every search-path directory once. Each name is owned by
   the first directory that has it (a file in ``/etc`` replaces the vendor file wholesale).
   A symlink to ``/dev/null`` masks the name; a symlink whose target has the same base name
   is a *linked* unit file (the target is the fragment); one with a different base name is an
   *alias*. An empty file masks too. Dangling links and alias loops become diagnostics.
2. :meth:`Loader.load` resolves a requested name through aliases (and from an instance to
   its template), gathers the unit's names, then the drop-ins of every name from every
   directory (``foo.service.d/``, the template's ``foo@.service.d/``, the prefix dirs
   ``foo-.service.d/``, and the type-wide ``service.d/``), sorted by file name with
   same-name shadowing by precedence, plus the ``.wants/`` and ``.requires/`` links.
3. The fragment and drop-ins are parsed (:mod:`bootup.units.syntax`) and folded into the
   model (:mod:`bootup.units.model`). Dependencies only accumulate; lists reset on ``=``.

Nothing here raises for bad input: every problem becomes a
:class:`~bootup.units.diagnostics.Diagnostic` on the unit (or on the index) and loading
goes on with the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from bootup.units import directives, execline, specifiers, values
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.model import (
    DEPENDENCY_KEYS,
    Condition,
    Dependency,
    DependencyType,
    InstallSettings,
    LoadState,
    Origin,
    OriginKind,
    ServiceSettings,
    ServiceType,
    Unit,
    UnitType,
    unit_type_of,
)
from bootup.units.paths import (
    SearchPath,
    UnitFileEntry,
    UnitFileIndex,
    is_valid_unit_name,
    split_instance,
)
from bootup.units.syntax import Assignment, ParsedFile, read_unit_file

__all__ = (
    "Loader",
    "UnitFileEntry",
    "UNSUPPORTED_NOTE",
    "UnitFileIndex",
    "expand_specifiers",
    "is_valid_unit_name",
    "parse_boolean",
    "service_problems",
    "unit_problems",
    "split_instance",
)

logger = logging.getLogger(__name__)

_TRUE = frozenset(("1", "yes", "y", "true", "t", "on"))
_FALSE = frozenset(("0", "no", "n", "false", "f", "off"))


_HOST: specifiers.HostContext | None = None


def _host() -> specifiers.HostContext:
    """This machine's specifier values, read once per process (they do not change)."""
    global _HOST  # noqa: PLW0603 - a process-wide cache of immutable host facts
    if _HOST is None:
        _HOST = specifiers.HostContext.from_system()
    return _HOST


def expand_specifiers(
    value: str,
    name: str,
    fragment: str | None = None,
    *,
    allowed: frozenset[str] = specifiers.ALL_SPECIFIERS,
) -> str:
    """Expand the ``%`` specifiers of systemd.unit(5) in a value of unit ``name``.

    Raises:
        ValueError: (:class:`~bootup.units.specifiers.SpecifierError`) an unknown specifier;
            its ``errno_text`` is systemd's reason ("Invalid slot").
    """
    return specifiers.expand(
        value, specifiers.UnitContext(name, fragment), _host(), allowed=allowed
    )


def parse_boolean(value: str) -> bool | None:
    """Systemd's ``parse_boolean()``; ``None`` when the value is not a boolean."""
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


def _is_null_or_empty(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == 0 or stat.S_ISCHR(st.st_mode)


@dataclass(slots=True)
class _Builder:
    """The mutable state folded from assignments; frozen into a :class:`Unit` at the end."""

    name: str
    type: UnitType
    instance: str | None
    template: str | None
    fragment: str | None
    names: tuple[str, ...] = ()
    description: str = ""
    documentation: list[str] = field(default_factory=list)
    default_dependencies: bool = True
    deps: list[Dependency] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    asserts: list[Condition] = field(default_factory=list)
    install: dict[str, list[str]] = field(default_factory=dict)
    default_instance: str | None = None
    service: dict[str, object] = field(default_factory=dict)
    raw: list[Assignment] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    exec_commands: dict[str, list[execline.ExecCommand]] = field(default_factory=dict)
    fatal: bool = False
    fatal_line: int = 0
    #: where a diagnostic without a line of its own belongs (id -> line), for ordering
    line_hints: dict[int, int] = field(default_factory=dict)

    def warn(self, a: Assignment, message: str) -> None:
        self.diagnostics.append(Diagnostic(a.path, a.line, Severity.WARNING, message))


_SERVICE_LISTS = {
    "ExecStart": "exec_start",
    "ExecStartPre": "exec_start_pre",
    "ExecStartPost": "exec_start_post",
    "ExecCondition": "exec_condition",
    "ExecReload": "exec_reload",
    "ExecStop": "exec_stop",
    "ExecStopPost": "exec_stop_post",
    "Environment": "environment",
    "EnvironmentFile": "environment_files",
}
_SERVICE_STRINGS = {
    "Restart": "restart",
    "PIDFile": "pid_file",
    "BusName": "bus_name",
    "User": "user",
    "Group": "group",
    "WorkingDirectory": "working_directory",
    "KillMode": "kill_mode",
    "TimeoutStartSec": "timeout_start_sec",
    "TimeoutSec": "timeout_start_sec",
    "TimeoutStopSec": "timeout_stop_sec",
    "RestartSec": "restart_sec",
}
#: The words bootup appends to a key it accepts but does not act on (``verify --unsupported``).
UNSUPPORTED_NOTE = "is not supported yet, ignoring."
#: Unit types systemd loads without a fragment file (unit_load_fragment_and_dropin(u, false)).
_FRAGMENT_OPTIONAL = frozenset((UnitType.SLICE, UnitType.DEVICE))
#: Dependencies on itself that systemd mentions when it drops them; the rest go silently.
_WARN_SELF_DEPENDENCY = frozenset(("Conflicts", "Before", "After", "OnSuccess", "OnFailure"))
#: Documentation= accepts these (documentation_url_is_valid()).
_DOC_SCHEMES = ("http://", "https://", "file:", "info:", "man:")
#: Conditions whose parameter must be an absolute path (condition.c).
_PATH_CONDITIONS = frozenset(
    (
        "PathExists",
        "PathExistsGlob",
        "PathIsDirectory",
        "PathIsSymbolicLink",
        "PathIsMountPoint",
        "PathIsReadWrite",
        "PathIsEncrypted",
        "DirectoryNotEmpty",
        "FileNotEmpty",
        "FileIsExecutable",
    )
)
_RESTART_VALUES = frozenset(
    ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always")
)
_TIMESPAN_KEYS = frozenset(("TimeoutStartSec", "TimeoutStopSec", "RestartSec", "TimeoutSec"))
_KILL_MODE_NONE = (
    "Unit uses KillMode=none. This is unsafe, as it disables systemd's process lifecycle "
    "management for the service. Please update the service to use a safer KillMode=, such "
    "as 'mixed' or 'control-group'. Support for KillMode=none is deprecated and will "
    "eventually be removed."
)
_INSTALL_LISTS = {
    "WantedBy": "wanted_by",
    "RequiredBy": "required_by",
    "Alias": "alias",
    "Also": "also",
}


class Loader:
    """Loads units by name from one search path, caching each unit by its primary name.

    Not thread-safe: build one per thread (a load is a pure function of the files).
    """

    def __init__(self, search_path: SearchPath, index: UnitFileIndex | None = None) -> None:
        self.search_path = search_path
        self.index = index if index is not None else UnitFileIndex.scan(search_path)
        self._cache: dict[str, Unit] = {}

    def load(self, name: str) -> Unit:
        """Load one unit (a not-found or broken unit is still returned, with diagnostics)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        unit = self._load(name)
        self._cache[name] = unit
        if unit.name not in self._cache:
            self._cache[unit.name] = unit
            # Debug only: callers (verify) print diagnostics themselves, and a warning-level
            # record would reach stderr through logging's last-resort handler.
            for diagnostic in unit.diagnostics:
                logger.debug("%s", diagnostic)
        return unit

    def load_all(self) -> dict[str, Unit]:
        """Load every non-template unit on the search path, keyed by primary name."""
        out: dict[str, Unit] = {}
        for name in self.index.names():
            if split_instance(name)[1] == "":
                continue
            unit = self.load(name)
            out.setdefault(unit.name, unit)
        return out

    def _load(self, requested: str) -> Unit:
        utype = unit_type_of(requested)
        if utype is None or not is_valid_unit_name(requested):
            return Unit(
                name=requested,
                type=utype or UnitType.SERVICE,
                load_state=LoadState.ERROR,
                names=(requested,),
                load_error="Invalid argument",
                diagnostics=(
                    Diagnostic(requested, None, Severity.ERROR, "Invalid unit name, ignoring."),
                ),
            )
        template, instance = split_instance(requested)
        if instance == "":
            return Unit(
                name=requested,
                type=utype,
                load_state=LoadState.ERROR,
                names=(requested,),
                load_error="Invalid argument",
                diagnostics=(
                    Diagnostic(
                        requested,
                        None,
                        Severity.ERROR,
                        f"Unit name {requested} is a template, refusing to load it "
                        "without an instance.",
                    ),
                ),
            )
        primary, entry, error = self.index.resolve(requested)
        diags: list[Diagnostic] = []
        if error is not None:
            return Unit(
                name=requested,
                type=utype,
                load_state=LoadState.ERROR,
                names=(requested,),
                load_error=error,
                diagnostics=(
                    Diagnostic(
                        requested,
                        None,
                        Severity.ERROR,
                        f"Failed to load configuration: {error}",
                    ),
                ),
            )
        if unit_type_of(primary) is not utype:
            diags.append(
                Diagnostic(
                    requested,
                    None,
                    Severity.ERROR,
                    f"{requested}: alias to {primary} changes the unit type, ignoring the alias.",
                )
            )
            primary, entry = requested, self.index.entries.get(requested)
            if entry is not None and entry.kind == "alias":
                entry = None
        template, instance = split_instance(primary)
        names = self.index.aliases_of(primary)
        if requested not in names and unit_type_of(requested) is utype and not diags:
            names = tuple(sorted({*names, requested}))
        builder = _Builder(
            name=primary,
            type=utype,
            instance=instance,
            template=template if instance is not None else None,
            fragment=None,
            names=names,
        )
        builder.diagnostics.extend(diags)
        load_state = LoadState.LOADED
        load_error: str | None = None
        if entry is None and utype in _FRAGMENT_OPTIONAL:
            pass  # slices and devices load from drop-ins alone, or from nothing
        elif entry is None or entry.kind == "dangling":
            load_state = LoadState.NOT_FOUND
            load_error = "No such file or directory"
            if entry is None and primary != requested:
                builder.diagnostics.append(
                    Diagnostic(
                        requested,
                        None,
                        Severity.WARNING,
                        f"Unit {requested} is an alias to {primary}, which does not exist.",
                    )
                )
            if entry is not None:
                builder.diagnostics.append(
                    Diagnostic(
                        entry.path,
                        None,
                        Severity.WARNING,
                        f"Unit {requested} is a dangling symlink to {entry.target}.",
                    )
                )
        elif entry.kind == "masked" or _is_null_or_empty(entry.path):
            load_state = LoadState.MASKED
            builder.fragment = entry.path if entry.kind != "masked" else None
        else:
            builder.fragment = entry.path
        dropins = self._dropins(names)
        if load_state is LoadState.LOADED:
            files: list[ParsedFile] = []
            if builder.fragment is not None:
                files.append(read_unit_file(builder.fragment))
            files.extend(read_unit_file(p) for p in dropins)
            for parsed in files:
                fatal = parsed.fatal
                if fatal is not None and not parsed.sections and fatal.line is None:
                    # The file could not be opened: systemd says so and calls the unit
                    # not-found (load-fragment.c), whether fragment or drop-in.
                    builder.diagnostics.append(
                        Diagnostic(
                            primary,
                            None,
                            Severity.ERROR,
                            f"Failed to open {parsed.path}: {fatal.errno_text}",
                        )
                    )
                    load_state = LoadState.NOT_FOUND
                    load_error = fatal.errno_text
                    break
                if fatal is not None:
                    builder.diagnostics.extend(parsed.diagnostics)
                    load_state = LoadState.ERROR
                    load_error = fatal.errno_text or fatal.message
                    break
                checked = directives.check_file(parsed, utype.value)
                start = len(builder.diagnostics)
                hints = builder.line_hints
                for assignment in checked.assignments:
                    self._apply(builder, assignment)
                    if builder.fatal:
                        break  # systemd stops reading at a fatal value (config_parse fails)
                builder.raw.extend(checked.extensions)
                # systemd logs in line order: syntax, unknown keys and bad values interleave.
                merged = [
                    *parsed.diagnostics,
                    *checked.diagnostics,
                    *builder.diagnostics[start:],
                ]
                merged.sort(key=lambda d: d.line or hints.get(id(d), 0))
                if builder.fatal:
                    # systemd stopped reading at the fatal line: nothing after it is known.
                    stop = builder.fatal_line
                    merged = [d for d in merged if (d.line or hints.get(id(d), 0)) <= stop]
                del builder.diagnostics[start:]
                builder.diagnostics.extend(merged)
                if builder.fatal:
                    break
        elif load_state is LoadState.NOT_FOUND and dropins:
            # systemd loads drop-ins of a unit without a fragment (it stays not-found).
            pass
        for kind, suffix, dtype in (
            (OriginKind.WANTS_DIR, ".wants", DependencyType.WANTS),
            (OriginKind.REQUIRES_DIR, ".requires", DependencyType.REQUIRES),
        ):
            if load_state in (LoadState.MASKED,):
                break
            for link_dir, link_name in self._link_dir_entries(names, suffix):
                if not is_valid_unit_name(link_name, allow_template=False):
                    continue
                owner = os.path.basename(link_dir)[: -len(suffix)]
                # A directory of another name of this unit (runlevel3.target.wants/ for
                # multi-user.target) is remembered as coming through that alias.
                origin_kind = OriginKind.ALIAS if owner != primary and owner in names else kind
                builder.deps.append(Dependency(dtype, link_name, Origin(origin_kind, link_dir)))
        service = _freeze_service(builder) if utype is UnitType.SERVICE else None
        unit = Unit(
            name=primary,
            type=utype,
            load_state=load_state,
            names=names,
            fragment_path=builder.fragment,
            dropin_paths=tuple(dropins) if load_state is not LoadState.MASKED else (),
            description=builder.description,
            documentation=tuple(builder.documentation),
            default_dependencies=builder.default_dependencies,
            dependencies=tuple(builder.deps),
            conditions=tuple(builder.conditions),
            asserts=tuple(builder.asserts),
            service=service,
            install=InstallSettings(
                wanted_by=tuple(builder.install.get("wanted_by", ())),
                required_by=tuple(builder.install.get("required_by", ())),
                alias=tuple(builder.install.get("alias", ())),
                also=tuple(builder.install.get("also", ())),
                default_instance=builder.default_instance,
            ),
            instance=instance,
            template=builder.template,
            raw=tuple(builder.raw),
            diagnostics=tuple(builder.diagnostics),
            load_error=load_error,
        )
        if load_state is LoadState.LOADED and builder.fatal:
            return dataclasses.replace(
                unit,
                load_state=LoadState.BAD_SETTING,
                load_error="Exec format error",
                settings_complete=False,
                diagnostics=(
                    *unit.diagnostics,
                    Diagnostic(
                        primary,
                        None,
                        Severity.ERROR,
                        "Unit configuration has fatal error, unit will not be started.",
                    ),
                ),
            )
        if load_state is LoadState.LOADED:
            refusals = unit_problems(unit)
            if refusals:
                unit = dataclasses.replace(
                    unit,
                    load_state=LoadState.BAD_SETTING,
                    load_error="Invalid argument",
                    diagnostics=(
                        *unit.diagnostics,
                        *(Diagnostic(primary, None, Severity.ERROR, r) for r in refusals),
                    ),
                )
        return unit

    def _dropins(self, names: Iterable[str]) -> list[str]:
        """``*.conf`` drop-ins of every name, sorted by file name; earlier dirs shadow."""
        best: dict[str, tuple[int, str]] = {}
        for name in names:
            for rank, directory in self.index.dropin_dirs(name, ".d"):
                try:
                    entries = os.listdir(directory)
                except OSError:
                    continue
                for entry in entries:
                    if not entry.endswith(".conf"):
                        continue
                    path = os.path.join(directory, entry)
                    previous = best.get(entry)
                    if previous is None or rank < previous[0]:
                        best[entry] = (rank, path)
        out: list[str] = []
        for entry in sorted(best):
            path = best[entry][1]
            if _is_null_or_empty(path) or not os.path.exists(path):
                continue  # a /dev/null or empty drop-in masks the lower ones
            out.append(path)
        return out

    def _link_dir_entries(self, names: Iterable[str], suffix: str) -> list[tuple[str, str]]:
        """``(directory, link name)`` of every ``.wants/``-style link of the unit's names."""
        seen: dict[str, str] = {}
        for name in names:
            bare_type = name.rsplit(".", 1)[-1] + suffix  # "service.wants" is no such thing
            for _, directory in self.index.dropin_dirs(name, suffix):
                if os.path.basename(directory) == bare_type:
                    continue
                try:
                    entries = sorted(os.listdir(directory))
                except OSError:
                    continue
                for entry in entries:
                    seen.setdefault(entry, directory)
        return [(d, n) for n, d in seen.items()]

    def _apply(self, b: _Builder, a: Assignment) -> None:
        """Fold one assignment into the builder (systemd's config_parse_* per key)."""
        b.raw.append(a)
        section, key, value = a.section, a.key, a.value
        directive = directives.lookup(section, key)
        if directive is not None and not directive.supported:
            b.diagnostics.append(
                Diagnostic(a.path, a.line, Severity.NOTICE, f"{key}= {UNSUPPORTED_NOTE}")
            )
        if section == "Unit":
            self._apply_unit(b, a, key, value)
        elif section == "Install":
            if key in _INSTALL_LISTS:
                target = b.install.setdefault(_INSTALL_LISTS[key], [])
                if not value:
                    target.clear()
                for word in value.split():
                    expanded = self._expand(b, a, word)
                    if expanded is not None and expanded not in target:
                        target.append(expanded)
            elif key == "DefaultInstance":
                b.default_instance = self._expand(b, a, value) if value else None
        elif section == "Service" and b.type is UnitType.SERVICE:
            self._apply_service(b, a, key, value)

    def _apply_unit(self, b: _Builder, a: Assignment, key: str, value: str) -> None:
        dtype = DEPENDENCY_KEYS.get(key)
        if dtype is not None:
            for word in value.split():
                name = self._expand(b, a, word, specifiers.NAME_SPECIFIERS)
                if name is None:
                    continue
                if is_valid_unit_name(name) and split_instance(name)[1] == "":
                    continue  # systemd 252 drops a template here without a word
                if not is_valid_unit_name(name, allow_template=False):
                    b.warn(a, f"Failed to add dependency on {name}, ignoring: Invalid argument")
                    continue
                if name in b.names:
                    if key not in _WARN_SELF_DEPENDENCY:
                        continue  # dropped silently (unit_should_warn_about_dependency())
                    note = Diagnostic(
                        b.name, None, Severity.NOTICE, f"Dependency {key}={name} is dropped."
                    )
                    b.line_hints[id(note)] = a.line
                    b.diagnostics.append(note)
                    continue
                b.deps.append(Dependency(dtype, name, Origin(OriginKind.FILE, a.path, a.line)))
        elif key == "Description":
            b.description = self._expand(b, a, value) or ""
        elif key == "Documentation":
            if not value:
                b.documentation.clear()
            for word in value.split():
                if not word.startswith(_DOC_SCHEMES) or word in _DOC_SCHEMES:
                    b.warn(a, f"Invalid URL, ignoring: {word}")
                elif word not in b.documentation:
                    b.documentation.append(word)
        elif key == "DefaultDependencies":
            parsed = parse_boolean(value)
            if parsed is None:
                b.warn(a, f"Failed to parse boolean value, ignoring: {value}")
            else:
                b.default_dependencies = parsed
        elif key.startswith(("Condition", "Assert")):
            is_assert = key.startswith("Assert")
            target = b.asserts if is_assert else b.conditions
            if not value:
                target.clear()
                return
            rest = value
            trigger = rest.startswith("|")
            rest = rest[1:].lstrip() if trigger else rest
            negate = rest.startswith("!")
            rest = rest[1:].lstrip() if negate else rest
            kind = key.removeprefix("Assert").removeprefix("Condition")
            # load-fragment.c expands specifiers in the parameter (after | and !), so
            # ConditionPathExists=/run/%n tests the unit's own name.
            expanded = self._expand(b, a, rest)
            if expanded is None:
                return
            rest = expanded
            if kind in _PATH_CONDITIONS and not rest.startswith("/"):
                b.warn(a, f"{key}= path is not absolute, ignoring: {rest}")
                return
            target.append(Condition(key, rest, trigger, negate, is_assert, a.path, a.line))

    def _apply_service(self, b: _Builder, a: Assignment, key: str, value: str) -> None:
        if key.startswith("Exec") and key in _SERVICE_LISTS:
            self._apply_exec(b, a, key, value)
        elif key in _SERVICE_LISTS:
            field_name = _SERVICE_LISTS[key]
            current = b.service.setdefault(field_name, [])
            assert isinstance(current, list)
            if not value:
                current.clear()
            else:
                current.append(value)
        elif key == "Sockets":
            # service.c: each listed socket is wanted, ordered before, and triggers us.
            for word in value.split():
                name = self._expand(b, a, word, specifiers.NAME_SPECIFIERS)
                if name is None:
                    continue
                if not is_valid_unit_name(name, allow_template=False) or not name.endswith(
                    ".socket"
                ):
                    b.warn(a, f"Unit must be of type socket, ignoring: {name}")
                    continue
                origin = Origin(OriginKind.FILE, a.path, a.line)
                for dtype in (
                    DependencyType.WANTS,
                    DependencyType.AFTER,
                    DependencyType.TRIGGERED_BY,
                ):
                    b.deps.append(Dependency(dtype, name, origin))
        elif key in _SERVICE_STRINGS:
            if key == "User" and value == "nobody":
                b.warn(a, "Special user nobody configured, this is not safe!")
            if key == "KillMode" and value == "none":
                b.warn(a, _KILL_MODE_NONE)
            elif key == "Restart" and value and value not in _RESTART_VALUES:
                b.warn(a, f"Failed to parse service restart specifier, ignoring: {value}")
                return
            elif key in _TIMESPAN_KEYS and value:
                try:
                    values.parse_timespan(value)
                except ValueError:
                    b.warn(a, f"Failed to parse {key}= parameter, ignoring: {value}")
                    return
            if key == "TimeoutSec":  # both at once (service.c)
                b.service["timeout_start_sec"] = b.service["timeout_stop_sec"] = value or None
            else:
                b.service[_SERVICE_STRINGS[key]] = value or None
        elif key == "Type":
            try:
                b.service["type"] = ServiceType(value)
            except ValueError:
                b.warn(a, f"Failed to parse service type, ignoring: {value}")
        elif key == "RemainAfterExit":
            parsed = parse_boolean(value)
            if parsed is None:
                b.warn(a, f"Failed to parse boolean value, ignoring: {value}")
            else:
                b.service["remain_after_exit"] = parsed

    def _apply_exec(self, b: _Builder, a: Assignment, key: str, value: str) -> None:
        """Parse an ``Exec*=`` line (part A's grammar); a fatal problem refuses the unit."""

        def expand(text: str) -> str:
            return expand_specifiers(text, b.name, b.fragment)

        result = execline.parse_exec(value, a.path, a.line, expand_path=expand, expand_arg=expand)
        b.diagnostics.extend(result.diagnostics)
        if result.fatal:
            b.fatal = True
            b.fatal_line = a.line
            return
        current = b.service.setdefault(_SERVICE_LISTS[key], [])
        parsed = b.exec_commands.setdefault(key, [])
        assert isinstance(current, list)
        if result.commands is None:
            current.clear()
            parsed.clear()
        elif result.commands:
            current.append(value)
            parsed.extend(result.commands)

    def _expand(
        self,
        b: _Builder,
        a: Assignment,
        value: str,
        allowed: frozenset[str] = specifiers.ALL_SPECIFIERS,
    ) -> str | None:
        try:
            return expand_specifiers(value, b.name, b.fragment, allowed=allowed)
        except specifiers.SpecifierError as exc:
            b.warn(a, f"Failed to resolve unit specifiers in '{value}', ignoring: {exc.errno_text}")
            return None


def service_problems(unit: Unit) -> list[str]:
    """The ``service_verify()`` refusals of systemd 252 for a loaded service, in its order."""
    s = unit.service
    if unit.type is not UnitType.SERVICE or s is None:
        return []
    success_action = any(v for v in unit.setting("Unit", "SuccessAction") if v not in ("", "none"))
    out: list[str] = []
    if not s.exec_start and not s.exec_stop and not success_action:
        out.append("Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.")
        return out
    stype = s.effective_type
    if stype is not ServiceType.ONESHOT and not s.exec_start:
        out.append(
            "Service has no ExecStart= setting, which is only allowed for Type=oneshot "
            "services. Refusing."
        )
        return out
    if not s.remain_after_exit and not s.exec_start and not success_action:
        out.append(
            "Service has no ExecStart= and no SuccessAction= settings and does not have "
            "RemainAfterExit=yes set. Refusing."
        )
        return out
    if stype is not ServiceType.ONESHOT and len(s.exec_start) > 1:
        out.append(
            "Service has more than one ExecStart= setting, which is only allowed for "
            "Type=oneshot services. Refusing."
        )
        return out
    if stype is ServiceType.ONESHOT and s.restart in ("always", "on-success"):
        out.append(
            "Service has Restart= set to either always or on-success, which isn't allowed "
            "for Type=oneshot services. Refusing."
        )
        return out
    if stype is ServiceType.DBUS and not s.bus_name:
        out.append(
            "Service is of type D-Bus but no D-Bus service name has been specified. Refusing."
        )
    return out


_LISTEN_KEYS = (
    "ListenStream",
    "ListenDatagram",
    "ListenSequentialPacket",
    "ListenFIFO",
    "ListenSpecial",
    "ListenNetlink",
    "ListenMessageQueue",
    "ListenUSBFunction",
)
_TIMER_KEYS = (
    "OnActiveSec",
    "OnBootSec",
    "OnStartupSec",
    "OnUnitActiveSec",
    "OnUnitInactiveSec",
    "OnCalendar",
    "OnClockChange",
    "OnTimezoneChange",
)
_PATH_KEYS = ("PathExists", "PathExistsGlob", "PathChanged", "PathModified", "DirectoryNotEmpty")


def _has_any(unit: Unit, section: str, keys: tuple[str, ...]) -> bool:
    """Whether any of ``keys`` holds a value; an empty assignment to one resets them all."""
    present = False
    for a in unit.raw:
        if a.section == section and a.key in keys:
            present = bool(a.value)
    return present


def unit_problems(unit: Unit) -> list[str]:
    """The ``*_verify()`` refusals of systemd 252 that make a unit ``bad-setting``."""
    if unit.type is UnitType.SERVICE:
        return service_problems(unit)
    if unit.type is UnitType.SOCKET and not _has_any(unit, "Socket", _LISTEN_KEYS):
        return [
            "Unit has no Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...). "
            "Refusing."
        ]
    if unit.type is UnitType.TIMER and not _has_any(unit, "Timer", _TIMER_KEYS):
        return ["Timer unit lacks value setting. Refusing."]
    if unit.type is UnitType.PATH and not _has_any(unit, "Path", _PATH_KEYS):
        return ["Path unit lacks path setting. Refusing."]
    return []


def _freeze_service(b: _Builder) -> ServiceSettings:
    s = b.service
    kwargs: dict[str, object] = {}
    for name in _SERVICE_LISTS.values():
        if name in s:
            value = s[name]
            assert isinstance(value, list)
            kwargs[name] = tuple(value)
    for name in (*_SERVICE_STRINGS.values(), "type", "remain_after_exit"):
        if name in s and s[name] is not None:
            kwargs[name] = s[name]
    kwargs["commands"] = tuple((k, tuple(v)) for k, v in b.exec_commands.items() if v)
    return ServiceSettings(**kwargs)  # type: ignore[arg-type]
