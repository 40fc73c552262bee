r"""Specifiers (``%n``, ``%i``, ``%H``...) as systemd 252 expands them in unit files.

systemd.unit(5), "SPECIFIERS". Why a module of its own, with the host injected: the same
template must expand the same way in the loader, in ``verify`` and in tests, and the host
values (hostname, machine ID, boot ID, os-release) must be replaceable so that tests are
deterministic. :class:`HostContext` holds those values (``HostContext.from_system()`` reads
them from this machine); :class:`UnitContext` the unit's own (name, fragment path).

Facts checked against the ``systemd --test`` dump of ``tpl@a\x2db-c.service``:
``%i`` stays escaped (``a\x2db-c``), ``%I`` is unescaped (``a-b/c``), ``%f`` is ``/`` plus the
path-unescaped instance (``/a-b/c``), ``%j`` is the part of the prefix after its last ``-``;
an unknown specifier is an error ("Invalid slot") that makes systemd ignore the setting; a
``%`` at the very end stays as it is. For the system manager ``%u``/``%g`` are ``root`` and
``%U``/``%G`` ``0``, while ``%h`` and ``%s`` come from the manager's own environment.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from bootup.errors import UnitSyntaxError
from bootup.units import names
from bootup.units.architecture import architecture_of
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.values import parse_environment_file

__all__ = (
    "ALL_SPECIFIERS",
    "NAME_SPECIFIERS",
    "HostContext",
    "SpecifierError",
    "UnitContext",
    "expand",
    "expand_or_warn",
)


class SpecifierError(UnitSyntaxError):
    """A specifier could not be resolved.

    Attributes:
        text: the string being expanded.
        specifier: the letter after ``%``.
        errno_text: systemd's wording of the reason ("Invalid slot" for an unknown
            specifier, "No such file or directory" for a missing value).
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, text: str, specifier: str, errno_text: str) -> None:
        super().__init__(f"cannot resolve %{specifier} in {text!r}: {errno_text}")
        self.text = text
        self.specifier = specifier
        self.errno_text = errno_text


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


def _read_env_file(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    pairs, _ = parse_environment_file(data, path)
    return dict(pairs)


@dataclass(frozen=True, slots=True)
class HostContext:
    """The host-wide values specifiers expand to; inject one for deterministic results.

    ``None`` for ``machine_id`` or ``boot_id`` means "not available": ``%m``/``%b`` then
    fail as in systemd. os-release fields that are missing expand to the empty string.
    """

    hostname: str = "localhost"
    pretty_hostname: str | None = None
    machine_id: str | None = None
    boot_id: str | None = None
    kernel_release: str = ""
    architecture: str = ""
    os_release: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    user_name: str = "root"
    user_id: int = 0
    group_name: str = "root"
    group_id: int = 0
    home: str = "/root"
    shell: str = "/bin/sh"
    runtime_dir: str = "/run"
    state_dir: str = "/var/lib"
    cache_dir: str = "/var/cache"
    logs_dir: str = "/var/log"
    config_dir: str = "/etc"
    tmp_dir: str = "/tmp"
    var_tmp_dir: str = "/var/tmp"
    credentials_root: str = "/run/credentials"

    @classmethod
    def from_system(cls, root: str = "/") -> HostContext:
        """Read this machine's values, as the system manager sees them.

        ``%h``/``%s`` come from ``$HOME``/``$SHELL`` like in systemd (falling back to
        root's), and ``%T``/``%V`` honour ``$TMPDIR``.
        """

        def at(path: str) -> str:
            return os.path.join(root, path.lstrip("/"))

        os_release = _read_env_file(at("/etc/os-release")) or _read_env_file(
            at("/usr/lib/os-release")
        )
        machine_info = _read_env_file(at("/etc/machine-info"))
        uname = platform.uname()
        tmp = os.environ.get("TMPDIR", "")
        return cls(
            hostname=socket.gethostname() or "localhost",
            pretty_hostname=machine_info.get("PRETTY_HOSTNAME") or None,
            machine_id=_read_first_line(at("/etc/machine-id")),
            boot_id=(_read_first_line("/proc/sys/kernel/random/boot_id") or "").replace("-", "")
            or None,
            kernel_release=uname.release,
            architecture=architecture_of(uname.machine) or uname.machine,
            os_release=MappingProxyType(os_release),
            home=os.environ.get("HOME") or "/root",
            shell=os.environ.get("SHELL") or "/bin/sh",
            tmp_dir=tmp if tmp.startswith("/") else "/tmp",
            var_tmp_dir=tmp if tmp.startswith("/") else "/var/tmp",
        )


@dataclass(frozen=True, slots=True)
class UnitContext:
    """The unit a string belongs to: its full name and, if loaded from a file, the file."""

    name: str
    fragment_path: str | None = None


_Resolver = Callable[[UnitContext, HostContext], str]


def _need(value: str | None, text: str, letter: str) -> str:
    if value is None:
        raise SpecifierError(text, letter, "No such file or directory")
    return value


def _prefix(unit: UnitContext) -> str:
    return names.split_name(unit.name)[0]


def _instance(unit: UnitContext) -> str:
    return names.split_name(unit.name)[1] or ""


def _last_component(unit: UnitContext) -> str:
    prefix = _prefix(unit)
    return prefix.rpartition("-")[2]


def _filename(unit: UnitContext) -> str:
    instance = names.split_name(unit.name)[1]
    return names.path_unescape(instance if instance else _prefix(unit))


def _os(key: str) -> _Resolver:
    return lambda unit, host: host.os_release.get(key, "")


_TABLE: dict[str, _Resolver] = {
    # the unit
    "n": lambda unit, host: unit.name,
    "N": lambda unit, host: unit.name.rpartition(".")[0],
    "p": lambda unit, host: _prefix(unit),
    "P": lambda unit, host: names.unescape(_prefix(unit)),
    "i": lambda unit, host: _instance(unit),
    "I": lambda unit, host: names.unescape(_instance(unit)),
    "j": lambda unit, host: _last_component(unit),
    "J": lambda unit, host: names.unescape(_last_component(unit)),
    "f": lambda unit, host: _filename(unit),
    "y": lambda unit, host: _need(unit.fragment_path, unit.name, "y"),
    "Y": lambda unit, host: os.path.dirname(_need(unit.fragment_path, unit.name, "Y")),
    "d": lambda unit, host: f"{host.credentials_root}/{unit.name}",
    # directories of the system manager
    "t": lambda unit, host: host.runtime_dir,
    "S": lambda unit, host: host.state_dir,
    "C": lambda unit, host: host.cache_dir,
    "L": lambda unit, host: host.logs_dir,
    "E": lambda unit, host: host.config_dir,
    "T": lambda unit, host: host.tmp_dir,
    "V": lambda unit, host: host.var_tmp_dir,
    # credentials of the manager
    "u": lambda unit, host: host.user_name,
    "U": lambda unit, host: str(host.user_id),
    "g": lambda unit, host: host.group_name,
    "G": lambda unit, host: str(host.group_id),
    "h": lambda unit, host: host.home,
    "s": lambda unit, host: host.shell,
    # the host
    "H": lambda unit, host: host.hostname,
    "l": lambda unit, host: host.hostname.partition(".")[0],
    "q": lambda unit, host: host.pretty_hostname or host.hostname.partition(".")[0],
    "m": lambda unit, host: _need(host.machine_id, unit.name, "m"),
    "b": lambda unit, host: _need(host.boot_id, unit.name, "b"),
    "v": lambda unit, host: host.kernel_release,
    "a": lambda unit, host: host.architecture,
    "o": _os("ID"),
    "w": _os("VERSION_ID"),
    "W": _os("VARIANT_ID"),
    "B": _os("BUILD_ID"),
    "M": _os("IMAGE_ID"),
    "A": _os("IMAGE_VERSION"),
}

#: Every specifier of unit_full_printf(), plus "%" itself.
ALL_SPECIFIERS: frozenset[str] = frozenset(_TABLE) | {"%"}
#: The subset allowed where a unit name is expected (unit_name_printf()): Wants=, After=...
NAME_SPECIFIERS: frozenset[str] = frozenset("ijnNpaAbBHlmMovwWTV%")


def expand(
    text: str,
    unit: UnitContext,
    host: HostContext,
    *,
    allowed: frozenset[str] = ALL_SPECIFIERS,
) -> str:
    """Expand every ``%x`` in ``text`` (systemd's ``specifier_printf()``).

    Args:
        text: the value to expand.
        unit: the unit the value belongs to.
        host: the host values.
        allowed: which specifiers this setting accepts (:data:`NAME_SPECIFIERS` for
            dependency lists).

    Raises:
        SpecifierError: an unknown or not-allowed specifier ("Invalid slot"), an instance
            that cannot be unescaped, or a value that is not available.
    """
    if "%" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "%" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        letter = text[i + 1]
        i += 2
        if letter == "%":
            out.append("%")
            continue
        resolver = _TABLE.get(letter)
        if resolver is None and not (letter.isascii() and letter.isalnum()):
            # specifier_printf() refuses only unknown *letters and digits*; any other
            # character after % is kept as written: ConditionCPUPressure=100%/10sec.
            out.append("%" + letter)
            continue
        if resolver is None or letter not in allowed:
            raise SpecifierError(text, letter, "Invalid slot")
        try:
            out.append(resolver(unit, host))
        except names.UnitNameError as exc:
            raise SpecifierError(text, letter, exc.errno_text) from exc
    return "".join(out)


def expand_or_warn(
    text: str,
    unit: UnitContext,
    host: HostContext,
    path: str,
    line: int,
    *,
    allowed: frozenset[str] = ALL_SPECIFIERS,
) -> tuple[str | None, Diagnostic | None]:
    """Expand ``text`` for a string setting, or give systemd's warning and ``None``.

    systemd ignores a setting such as ``Description=`` whose specifiers do not resolve,
    logging ``Failed to resolve unit specifiers in 'TEXT', ignoring: REASON``
    (``config_parse_unit_string_printf``).
    """
    try:
        return expand(text, unit, host, allowed=allowed), None
    except SpecifierError as exc:
        message = f"Failed to resolve unit specifiers in '{text}', ignoring: {exc.errno_text}"
        return None, Diagnostic(path, line, Severity.WARNING, message)
