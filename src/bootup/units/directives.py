"""The directive table: every key systemd 252 accepts in a unit file, and what bootup does with it.

Why a table: systemd decides per ``(section, key)`` whether an assignment is known (parsed,
possibly badly), removed ("Support for option X= has been removed and it is ignored"),
unknown ("Unknown key 'X' in section [S], ignoring.") or silently kept (``X-`` keys and
sections). The raw list comes from the real manager (``scripts/gen_directives.py`` writes
:mod:`bootup.units._directives_table`, a conformance test keeps it equal to the installed
systemd); this module adds what bootup needs on top: the kind of value each key holds, and
whether bootup acts on it (``supported``). A key systemd knows but bootup does not act on is
still *accepted* (the loader reports it once as not supported yet), never rejected: real
units carry sandboxing keys everywhere (systemd.md §3).

Which sections a unit may have depends on its type (``[Target]`` for targets, ``[Device]``
for devices, no keys in either); :func:`check_file` turns a parsed file into the warnings
``systemd-analyze verify`` prints for unknown sections and keys.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from bootup.units._directives_table import DIRECTIVES, REMOVED, SYSTEMD_VERSION
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.syntax import Assignment, ParsedFile

__all__ = (
    "SECTIONS_BY_TYPE",
    "SUPPORTED",
    "SYSTEMD_VERSION",
    "TABLE",
    "CheckedFile",
    "Directive",
    "ValueKind",
    "check_file",
    "directives_in",
    "is_known_section",
    "lookup",
    "removed_key_message",
    "unknown_key_message",
    "unknown_section_message",
)


class ValueKind(enum.StrEnum):
    """The grammar of a directive's value, as far as bootup distinguishes them."""

    BOOLEAN = "boolean"
    TIMESPAN = "timespan"  # parse_timespan(), seconds by default
    TIMESPAN_NSEC = "timespan-nsec"
    STRING = "string"
    URL_LIST = "url-list"
    PATH = "path"
    PATH_LIST = "path-list"
    UNIT = "unit"
    UNIT_LIST = "unit-list"
    COMMAND = "command"  # execline.parse_exec()
    ENVIRONMENT = "environment"  # values.parse_environment()
    ENVIRONMENT_FILE = "environment-file"
    EXIT_STATUS_SET = "exit-status-set"
    SIGNAL = "signal"
    MODE = "mode"
    CONDITION = "condition"
    ENUM = "enum"
    INTEGER = "integer"
    LIMIT = "limit"
    OTHER = "other"


_KIND_BY_DUMP_TYPE: dict[str, ValueKind] = {
    "BOOLEAN": ValueKind.BOOLEAN,
    "SECONDS": ValueKind.TIMESPAN,
    "NANOSECONDS": ValueKind.TIMESPAN_NSEC,
    "STRING": ValueKind.STRING,
    "URL": ValueKind.URL_LIST,
    "PATH": ValueKind.PATH,
    "PATH [...]": ValueKind.PATH_LIST,
    "UNIT": ValueKind.UNIT,
    "SLICE": ValueKind.UNIT,
    "UNIT [...]": ValueKind.UNIT_LIST,
    "PATH [ARGUMENT [...]]": ValueKind.COMMAND,
    "ENVIRON": ValueKind.ENVIRONMENT,
    "FILE": ValueKind.ENVIRONMENT_FILE,
    "STATUS": ValueKind.EXIT_STATUS_SET,
    "SIGNAL": ValueKind.SIGNAL,
    "MODE": ValueKind.MODE,
    "CONDITION": ValueKind.CONDITION,
    "UNSIGNED": ValueKind.INTEGER,
    "INTEGER": ValueKind.INTEGER,
    "LONG": ValueKind.INTEGER,
    "LIMIT": ValueKind.LIMIT,
    "SERVICETYPE": ValueKind.ENUM,
    "SERVICERESTART": ValueKind.ENUM,
    "SERVICEEXITTYPE": ValueKind.ENUM,
    "KILLMODE": ValueKind.ENUM,
    "ACCESS": ValueKind.ENUM,
    "OUTPUT": ValueKind.ENUM,
    "INPUT": ValueKind.ENUM,
    "TIMEOUTMODE": ValueKind.ENUM,
    "ACTION": ValueKind.ENUM,
}

# Keys the dump calls OTHER but whose grammar bootup knows (systemd.service(5), .unit(5)).
_KIND_OVERRIDES: dict[tuple[str, str], ValueKind] = {
    ("Unit", "JobTimeoutSec"): ValueKind.TIMESPAN,
    ("Unit", "JobRunningTimeoutSec"): ValueKind.TIMESPAN,
    ("Unit", "OnFailureJobMode"): ValueKind.ENUM,
    ("Unit", "OnSuccessJobMode"): ValueKind.ENUM,
    ("Service", "TimeoutStopSec"): ValueKind.TIMESPAN,
    ("Service", "TimeoutAbortSec"): ValueKind.TIMESPAN,
    ("Service", "PIDFile"): ValueKind.PATH,
    ("Service", "WorkingDirectory"): ValueKind.PATH,
    ("Service", "User"): ValueKind.STRING,
    ("Service", "Group"): ValueKind.STRING,
    ("Install", "Alias"): ValueKind.UNIT_LIST,
    ("Install", "WantedBy"): ValueKind.UNIT_LIST,
    ("Install", "RequiredBy"): ValueKind.UNIT_LIST,
    ("Install", "Also"): ValueKind.UNIT_LIST,
    ("Install", "DefaultInstance"): ValueKind.STRING,
}

_UNIT_SUPPORTED = {
    "Description",
    "Documentation",
    "Requires",
    "Requisite",
    "Wants",
    "BindsTo",
    "BindTo",
    "PartOf",
    "Upholds",
    "Conflicts",
    "Before",
    "After",
    "OnFailure",
    "OnSuccess",
    "PropagatesReloadTo",
    "PropagateReloadTo",
    "ReloadPropagatedFrom",
    "PropagateReloadFrom",
    "PropagatesStopTo",
    "StopPropagatedFrom",
    "DefaultDependencies",
    "StopWhenUnneeded",
    "RefuseManualStart",
    "RefuseManualStop",
    "AllowIsolate",
    "IgnoreOnIsolate",
}
_SERVICE_SUPPORTED = {
    "Type",
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
    "ExecReload",
    "Restart",
    "RestartSec",
    "RestartPreventExitStatus",
    "RestartForceExitStatus",
    "RestartKillSignal",
    "TimeoutSec",
    "TimeoutStartSec",
    "TimeoutStopSec",
    "TimeoutAbortSec",
    "TimeoutStartFailureMode",
    "TimeoutStopFailureMode",
    "Environment",
    "EnvironmentFile",
    "WorkingDirectory",
    "User",
    "Group",
    "UMask",
    "KillMode",
    "KillSignal",
    "SendSIGKILL",
    "RemainAfterExit",
    "PIDFile",
    "NotifyAccess",
    "WatchdogSec",
    "SuccessExitStatus",
    "StandardOutput",
    "StandardError",
}


def _is_supported(section: str, key: str, dump_type: str) -> bool:
    if section == "Install":
        return True
    if section == "Unit":
        return key in _UNIT_SUPPORTED or dump_type == "CONDITION"
    if section == "Service":
        return key in _SERVICE_SUPPORTED
    return False


#: (section, key) pairs bootup acts on; every other known key is accepted and reported as
#: not supported yet.
SUPPORTED: frozenset[tuple[str, str]] = frozenset(
    (s, k) for s, k, t in DIRECTIVES if _is_supported(s, k, t)
)


@dataclass(frozen=True, slots=True)
class Directive:
    """One key systemd accepts in one section.

    Attributes:
        section: the section, without brackets.
        key: the key.
        dump_type: systemd's name for the value type (``--dump-configuration-items``);
            empty for removed keys.
        kind: the value grammar, as bootup classifies it.
        supported: bootup acts on this key.
        removed: systemd only warns that support for it has been removed.
    """

    section: str
    key: str
    dump_type: str
    kind: ValueKind
    supported: bool
    removed: bool = False


def _build() -> dict[tuple[str, str], Directive]:
    table: dict[tuple[str, str], Directive] = {}
    for section, key, dump_type in DIRECTIVES:
        kind = _KIND_OVERRIDES.get(
            (section, key), _KIND_BY_DUMP_TYPE.get(dump_type, ValueKind.OTHER)
        )
        table[(section, key)] = Directive(
            section, key, dump_type, kind, (section, key) in SUPPORTED
        )
    for section, key in REMOVED:
        table[(section, key)] = Directive(
            section, key, "", ValueKind.OTHER, supported=False, removed=True
        )
    return table


#: Every directive by ``(section, key)``.
TABLE: MappingProxyType[tuple[str, str], Directive] = MappingProxyType(_build())

#: The sections each unit type may have (the ``sections`` of systemd's unit vtables).
SECTIONS_BY_TYPE: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "service": frozenset({"Unit", "Service", "Install"}),
        "socket": frozenset({"Unit", "Socket", "Install"}),
        "mount": frozenset({"Unit", "Mount", "Install"}),
        "automount": frozenset({"Unit", "Automount", "Install"}),
        "swap": frozenset({"Unit", "Swap", "Install"}),
        "timer": frozenset({"Unit", "Timer", "Install"}),
        "path": frozenset({"Unit", "Path", "Install"}),
        "slice": frozenset({"Unit", "Slice", "Install"}),
        "scope": frozenset({"Unit", "Scope", "Install"}),
        "target": frozenset({"Unit", "Target", "Install"}),
        "device": frozenset({"Unit", "Device", "Install"}),
    }
)


def lookup(section: str, key: str) -> Directive | None:
    """The directive for ``key`` in ``[section]``, or ``None`` if systemd does not know it."""
    return TABLE.get((section, key))


def is_known_section(unit_type: str, section: str) -> bool:
    """Whether a unit of ``unit_type`` may have ``[section]`` (``X-`` sections are kept aside)."""
    return section in SECTIONS_BY_TYPE.get(unit_type, frozenset())


def unknown_key_message(section: str, key: str) -> str:
    """Systemd's warning for a key it does not know in a known section."""
    return f"Unknown key '{key}' in section [{section}], ignoring."


def unknown_section_message(section: str) -> str:
    """Systemd's warning for a section the unit type does not have."""
    return f"Unknown section '{section}'. Ignoring."


def removed_key_message(key: str) -> str:
    """Systemd's warning for a key whose support has been removed."""
    return f"Support for option {key}= has been removed and it is ignored"


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """The assignments of a file that systemd would act on, and the warnings on the rest.

    Attributes:
        assignments: assignments to known, not removed keys in sections of the unit type.
        extensions: ``X-`` keys and assignments in ``X-`` sections, kept without warnings.
        diagnostics: warnings, in line order.
    """

    assignments: tuple[Assignment, ...]
    extensions: tuple[Assignment, ...]
    diagnostics: tuple[Diagnostic, ...]


def check_file(parsed: ParsedFile, unit_type: str) -> CheckedFile:
    """Sort a parsed file's assignments into known, extension and unknown, as systemd does.

    Produces ``Unknown section 'S'. Ignoring.`` at the header line of each section the unit
    type does not have (every line in it is skipped silently), ``Unknown key 'K' in
    section [S], ignoring.`` for unknown keys, the "has been removed" warning for removed
    ones, and the "Missing '='" warnings of malformed lines in known sections. ``X-``
    sections and keys are kept aside without a warning.
    """
    diagnostics: list[Diagnostic] = [
        pending.diagnostic
        for pending in parsed.section_diagnostics
        if is_known_section(unit_type, pending.section)
    ]
    lines = parsed.section_lines or tuple(0 for _ in parsed.sections)
    for section, line in zip(parsed.sections, lines, strict=True):
        if not is_known_section(unit_type, section) and not section.startswith("X-"):
            diagnostics.append(
                Diagnostic(
                    parsed.path, line or None, Severity.WARNING, unknown_section_message(section)
                )
            )
    kept: list[Assignment] = []
    extensions: list[Assignment] = []
    for assignment in parsed.assignments:
        section, key = assignment.section, assignment.key
        if section.startswith("X-"):
            extensions.append(assignment)
            continue
        if not is_known_section(unit_type, section):
            continue
        directive = lookup(section, key)
        if directive is None:
            if key.startswith("X-"):
                extensions.append(assignment)
            else:
                diagnostics.append(
                    Diagnostic(
                        parsed.path,
                        assignment.line,
                        Severity.WARNING,
                        unknown_key_message(section, key),
                    )
                )
            continue
        if directive.removed:
            diagnostics.append(
                Diagnostic(parsed.path, assignment.line, Severity.WARNING, removed_key_message(key))
            )
            continue
        kept.append(assignment)
    diagnostics.sort(key=lambda d: d.line or 0)
    return CheckedFile(tuple(kept), tuple(extensions), tuple(diagnostics))


def directives_in(section: str) -> Iterable[Directive]:
    """Every directive of one section, in systemd's order."""
    return (d for (s, _), d in TABLE.items() if s == section)
