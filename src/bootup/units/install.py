"""The ``[Install]`` operations of ``systemctl --root=DIR``: enable, disable, mask, states.

Spec: systemd.unit(5) "[INSTALL] SECTION OPTIONS" and systemctl(1); behaviour checked against
systemd 252's ``systemctl --root`` by ``tests/conformance/test_install.py``. What matters
for compatibility is the exact set of symlinks (absolute targets naming the unit file as
seen inside the root: ``/usr/lib/systemd/system/a.service``), the messages
(``Created symlink X → Y.``, ``Removed "X".``) and the ``is-enabled`` states.

Why it does not use :class:`~bootup.units.loader.Loader`: like systemd's install.c it looks
only at the unit file itself (the ``[Install]`` section of drop-ins is not read) and at the
symlinks in the configuration directories, and it must work on broken files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from bootup.errors import UnitError, UnitNotFoundError
from bootup.units.loader import expand_specifiers, is_valid_unit_name, split_instance
from bootup.units.model import InstallSettings
from bootup.units.paths import PathKind, SearchPath
from bootup.units.syntax import read_unit_file

__all__ = (
    "Change",
    "InstallError",
    "Installer",
    "UnitFileRecord",
    "UnitFileState",
)


class UnitFileState(StrEnum):
    """``systemctl is-enabled`` states (systemd 252)."""

    ENABLED = "enabled"
    ENABLED_RUNTIME = "enabled-runtime"
    LINKED = "linked"
    LINKED_RUNTIME = "linked-runtime"
    ALIAS = "alias"
    MASKED = "masked"
    MASKED_RUNTIME = "masked-runtime"
    STATIC = "static"
    DISABLED = "disabled"
    INDIRECT = "indirect"
    GENERATED = "generated"
    TRANSIENT = "transient"
    BAD = "bad"

    @property
    def counts_as_enabled(self) -> bool:
        """Whether ``is-enabled`` exits 0 for this state (systemctl-is-enabled.c)."""
        return self in _ENABLED_STATES


_ENABLED_STATES = frozenset(
    {
        UnitFileState.ENABLED,
        UnitFileState.ENABLED_RUNTIME,
        UnitFileState.STATIC,
        UnitFileState.ALIAS,
        UnitFileState.INDIRECT,
        UnitFileState.GENERATED,
    }
)
_NO_PRESET = frozenset(
    {
        UnitFileState.ALIAS,
        UnitFileState.STATIC,
        UnitFileState.GENERATED,
        UnitFileState.TRANSIENT,
    }
)


class InstallError(UnitError):
    """An ``[Install]`` operation was refused; the text is systemctl's wording."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, path: str | None = None, bare: bool = False) -> None:
        super().__init__(message)
        self.path = path
        #: systemctl words this one "Failed to enable X, ..." instead of "..., unit X ...".
        self.bare = bare


@dataclass(frozen=True, slots=True)
class Change:
    """One change made (or a notice), rendered as systemctl prints it on stderr."""

    kind: str  # "symlink", "unlink", "notice", "error" (the operation then fails)
    path: str
    target: str = ""
    text: str = ""
    #: an error systemctl words "Failed to VERB TEXT" rather than "Failed to VERB unit, TEXT"
    bare: bool = False

    def __str__(self) -> str:
        if self.kind == "symlink":
            return f"Created symlink {self.path} \u2192 {self.target}."
        if self.kind == "unlink":
            return f'Removed "{self.path}".'
        return self.text


@dataclass(frozen=True, slots=True)
class UnitFileRecord:
    """One row of ``list-unit-files``."""

    name: str
    path: str
    state: UnitFileState
    preset: str | None


@dataclass(slots=True)
class _Found:
    name: str  # the unit name the file belongs to (alias resolved)
    path: str  # logical path of the unit file (what links point to)
    host: str  # the same, as seen from this process
    kind: PathKind
    masked: bool = False
    masked_runtime: bool = False
    alias_of: str | None = None  # the requested name is an alias symlink to this name
    linked: bool = False  # the name is a symlink to a same-named file outside the path
    install: InstallSettings = field(default_factory=InstallSettings)
    bad: bool = False


_STATIC_TEXT = (
    "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n"
    "Alias= settings in the [Install] section, and DefaultInstance= for template\n"
    "units). This means they are not meant to be enabled{what} using systemctl.\n"
    " \n"
    "Possible reasons for having this kind of units are:\n"
    "\u2022 A unit may be statically enabled by being symlinked from another unit's\n"
    "  .wants/ or .requires/ directory.\n"
    "\u2022 A unit's purpose may be to act as a helper for some other unit which has\n"
    "  a requirement dependency on it.\n"
    "\u2022 A unit may be started when needed via activation (socket, path, timer,\n"
    "  D-Bus, udev, scripted systemctl call, ...).\n"
    "\u2022 In case of template units, the unit is meant to be enabled with some\n"
    "  instance name specified."
)


def static_notice(*, disable: bool = False) -> str:
    """The text systemctl prints when asked to enable or disable a unit without [Install]."""
    return _STATIC_TEXT.format(what=" or disabled" if disable else "")


class Installer:
    """Performs ``[Install]`` operations on the configuration directory of a search path."""

    def __init__(self, search_path: SearchPath) -> None:
        self.sp = search_path
        #: Problems met while reading unit files, in systemctl's wording (for stderr).
        self.warnings: list[str] = []

    # -- finding unit files -------------------------------------------------------------

    def _lookup(self, name: str) -> tuple[str, str] | None:
        """First (logical dir, host entry path) where ``name`` exists on the search path."""
        for directory in self.sp.dirs:
            host = os.path.join(self.sp.host(directory), name)
            if os.path.lexists(host):
                return directory, host
        return None

    def _read_link(self, host: str) -> str | None:
        try:
            return os.readlink(host)
        except OSError:
            return None

    def _in_search_path(self, logical: str) -> bool:
        parent = os.path.dirname(logical)
        return parent in self.sp.dirs

    def find(self, name: str) -> _Found:
        """Find the unit file for a name, a template instance, or a path outside the path.

        Raises:
            UnitNotFoundError: nothing on the search path has that name.
        """
        if "/" in name:
            host = self.sp.host(name)
            if not os.path.isfile(host):
                raise UnitNotFoundError(f"unit {name} does not exist.")
            found = _Found(os.path.basename(name), name, host, PathKind.OTHER, linked=True)
            self._read_install(found)
            return found
        requested = name
        for _ in range(32):
            hit = self._lookup(name)
            if hit is None:
                template, instance = split_instance(name)
                if instance:
                    hit = self._lookup(template)
            if hit is None:
                raise UnitNotFoundError(f"unit {requested} does not exist.")
            directory, host = hit
            logical = self.sp.logical(host)
            link = self._read_link(host)
            if link is None:
                found = _Found(name, logical, host, self.sp.kind(logical))
                self._read_install(found)
                if name != requested:
                    found.alias_of = name
                return found
            if link == "/dev/null":
                kind = self.sp.kind(logical)
                return _Found(
                    name,
                    logical,
                    host,
                    kind,
                    masked=True,
                    masked_runtime=kind is PathKind.RUNTIME,
                )
            target_logical = link if os.path.isabs(link) else os.path.join(directory, link)
            target_logical = os.path.normpath(target_logical)
            base = os.path.basename(target_logical)
            if base == os.path.basename(host) or (
                split_instance(name)[1] and base == split_instance(name)[0]
            ):
                if self._in_search_path(target_logical):
                    name_hit = self.sp.host(target_logical)
                    found = _Found(name, target_logical, name_hit, self.sp.kind(target_logical))
                else:
                    found = _Found(
                        name,
                        target_logical,
                        self.sp.host(target_logical),
                        self.sp.kind(logical),
                        linked=True,
                    )
                if not os.path.exists(found.host):
                    raise UnitNotFoundError(f"unit {requested} does not exist.")
                self._read_install(found)
                if name != requested:
                    found.alias_of = name
                return found
            # An alias: continue with the name it points to.
            template, instance = split_instance(name)
            if instance and split_instance(base)[1] == "":
                base = base.replace("@.", f"@{instance}.", 1)
            name = base
        raise InstallError(f"Failed to resolve {requested}: Too many levels of symbolic links")

    def _read_install(self, found: _Found) -> None:
        parsed = read_unit_file(found.host)
        if parsed.fatal is not None:
            found.bad = True
            # systemctl prints the parse error before it reports the state.
            self._warn(str(parsed.fatal))
            return
        lists: dict[str, list[str]] = {"WantedBy": [], "RequiredBy": [], "Alias": [], "Also": []}
        default_instance: str | None = None
        unit_name = found.name
        for a in parsed.assignments:
            if a.section != "Install":
                continue
            if a.key in lists:
                target = lists[a.key]
                if not a.value:
                    target.clear()
                for word in a.value.split():
                    try:
                        expanded = expand_specifiers(word, unit_name, found.path)
                    except ValueError:
                        continue
                    target.append(expanded)  # repeats kept, as install.c keeps them
            elif a.key == "DefaultInstance":
                if split_instance(os.path.basename(found.path))[1] != "":
                    self._warn(
                        f"{a.path}:{a.line}: DefaultInstance= only makes sense for template "
                        "units, ignoring."
                    )
                    continue
                default_instance = a.value or None
        found.install = InstallSettings(
            wanted_by=tuple(lists["WantedBy"]),
            required_by=tuple(lists["RequiredBy"]),
            alias=tuple(lists["Alias"]),
            also=tuple(lists["Also"]),
            default_instance=default_instance,
        )

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    # -- symlink primitives ---------------------------------------------------------------

    def _create_link(
        self, logical_link: str, target: str, changes: list[Change], *, force: bool
    ) -> None:
        """Make ``logical_link`` point at ``target`` (install.c ``create_symlink()``).

        A link elsewhere is replaced only with ``force`` (``.wants/`` links, default.target);
        otherwise, like an existing file, it is an error in the change list and the
        operation goes on.
        """
        host = self.sp.host(logical_link)
        current = self._read_link(host)
        if current == target:
            return
        if current is None and os.path.lexists(host):
            changes.append(Change("error", host, text=f'file "{host}" already exists.'))
            return
        if current is not None and not force:
            changes.append(
                Change(
                    "error",
                    host,
                    text=f'file "{host}" already exists and is a symlink to "{current}".',
                )
            )
            return
        tmp = f"{host}.bootup-tmp{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(host), exist_ok=True)
            # A new link replaces the old one atomically: never a moment without either.
            os.symlink(target, tmp)
            os.replace(tmp, host)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise InstallError(
                f"Failed to create symlink {host}: {exc.strerror or exc}", path=host
            ) from exc
        if current is not None:
            changes.append(Change("unlink", host))
        changes.append(Change("symlink", host, target))

    # -- operations -----------------------------------------------------------------------

    def apply(self, verb: str, names: list[str], changes: list[Change]) -> None:
        """Run the systemctl verb ``enable|disable|reenable|mask|unmask`` on ``names``.

        ``reenable`` is disable then enable, as systemctl does it; ``changes`` receives
        every change as it is made (see :meth:`enable`).

        Raises:
            ValueError: ``verb`` is none of those.
        """
        if verb in ("disable", "reenable"):
            self.disable(names, changes)
        if verb in ("enable", "reenable"):
            self.enable(names, changes, reenable=verb == "reenable")
        elif verb == "mask":
            self.mask(names, changes)
        elif verb == "unmask":
            self.unmask(names, changes)
        elif verb != "disable":
            raise ValueError(f"unknown [Install] verb {verb!r}")

    def enable(
        self,
        names: Iterable[str],
        changes: list[Change] | None = None,
        *,
        reenable: bool = False,
    ) -> list[Change]:
        """Create the links ``[Install]`` asks for, for each unit and its ``Also=`` units.

        ``changes`` (if given) receives every change as it is made, so that a caller can
        report what was done before an error, as systemctl does. ``reenable`` reproduces
        systemctl 252's ``reenable``, which links an instance as its template would be.

        Raises:
            UnitNotFoundError: a unit named on the command line does not exist.
            InstallError: such a unit is masked, or a link cannot be created.
        """
        changes = [] if changes is None else changes
        first = len(changes)  # reenable passes in what disable did; only ours count below
        done: set[str] = set()
        any_install = False
        queue = [(name, False) for name in names]
        while queue:
            name, auxiliary = queue.pop(0)
            if name in done:
                continue
            done.add(name)
            try:
                found = self.find(name)
            except UnitNotFoundError:
                if not auxiliary:
                    raise
                changes.append(
                    Change("notice", "", text=f"Failed to enable auxiliary unit {name}, ignoring.")
                )
                continue
            if found.masked:
                if not auxiliary:
                    raise InstallError(f"unit {found.host} is masked.", path=found.host)
                changes.append(Change("notice", "", text=f"Unit {found.host} is masked, ignoring."))
                any_install = True  # install.c: something "could" have been enabled here
                continue
            if found.linked:
                link = os.path.join(self.sp.config_dir, os.path.basename(found.path))
                if self.sp.kind(found.path) is PathKind.OTHER or link != found.path:
                    self._create_link(link, found.path, changes, force=False)
            inst = found.install
            unit = found.name if found.alias_of is None else found.alias_of
            if reenable and split_instance(unit)[1]:
                # systemctl 252 re-enables an instance as its template (DefaultInstance=).
                unit = split_instance(unit)[0]
            if inst.wanted_by or inst.required_by or inst.alias:
                any_install = True  # Also= alone does not count (an Also= unit may)
            for alias in inst.alias:
                alias_name = _alias_for(unit, alias)
                if alias_name is None:
                    # Reported in order with the other changes; the rest still happens.
                    changes.append(Change("error", "", text=f"cannot alias {unit} as {alias}."))
                    continue
                self._create_link(
                    os.path.join(self.sp.config_dir, alias_name), found.path, changes, force=False
                )
            for targets, suffix in ((inst.wanted_by, ".wants"), (inst.required_by, ".requires")):
                for target in targets:
                    link_name = self._instance_for(unit, target, inst)
                    if link_name is None:
                        changes.append(
                            Change(
                                "error",
                                "",
                                text=f"{unit}, destination unit {target} is a non-template unit.",
                                bare=True,
                            )
                        )
                        continue
                    self._create_link(
                        os.path.join(self.sp.config_dir, target + suffix, link_name),
                        found.path,
                        changes,
                        force=True,  # a .wants/ link is named after its unit: safe to update
                    )
                    if self._lookup(target) is None and not (
                        split_instance(target)[1] and self._lookup(split_instance(target)[0])
                    ):
                        changes.append(
                            Change(
                                "notice",
                                "",
                                text=f"Unit {found.host} is added as a dependency to a "
                                f"non-existent unit {target}.",
                            )
                        )
            queue.extend((also, True) for also in inst.also)
        made = changes[first:]
        if not any_install and not any(c.kind in ("symlink", "unlink") for c in made):
            changes.append(Change("notice", "", text=static_notice()))
        return changes

    def _instance_for(self, unit: str, target: str, inst: InstallSettings) -> str | None:
        """The link name in ``target``'s directory; ``None`` when a template has no instance."""
        template, instance = split_instance(unit)
        if instance != "":
            return unit
        target_instance = split_instance(target)[1]
        if target_instance:
            return template.replace("@.", f"@{target_instance}.", 1)
        if inst.default_instance:
            return template.replace("@.", f"@{inst.default_instance}.", 1)
        return None

    def disable(self, names: Iterable[str], changes: list[Change] | None = None) -> list[Change]:
        """Remove every link in the configuration directory to the units and ``Also=`` units."""
        changes = [] if changes is None else changes
        marks: set[str] = set()
        queue = [(name, False) for name in names]
        done: set[str] = set()
        while queue:
            name, auxiliary = queue.pop(0)
            if name in done:
                continue
            done.add(name)
            try:
                found = self.find(name)
            except UnitNotFoundError:
                if not auxiliary:
                    changes.append(Change("notice", "", text=f"unit {name} does not exist."))
                continue
            if found.masked:
                changes.append(Change("notice", "", text=f"Unit {found.host} is masked, ignoring."))
                continue
            unit = found.alias_of or found.name
            marks.add(unit)
            if not split_instance(unit)[1]:
                marks.add(found.path)  # an instance leaves its template's other links alone
            queue.extend((also, True) for also in found.install.also)
        config = self.sp.host(self.sp.config_dir)
        for entry, dest in _walk_links(config):
            base = os.path.basename(entry)
            template, instance = split_instance(base)
            if (
                base in marks
                or dest in marks
                or os.path.basename(dest) in marks
                or (instance and template in marks)  # even a mask of an instance goes
            ):
                _remove(entry)
                changes.append(Change("unlink", entry))
                parent = os.path.dirname(entry)
                if parent != config:
                    with contextlib.suppress(OSError):
                        os.rmdir(parent)  # only succeeds once the directory is empty
        return changes

    def mask(self, names: Iterable[str], changes: list[Change] | None = None) -> list[Change]:
        """Link each name to ``/dev/null`` in the configuration directory."""
        changes = [] if changes is None else changes
        for name in names:
            if not is_valid_unit_name(name):
                raise InstallError(f"Unit name {name} is not valid.")
            link = os.path.join(self.sp.config_dir, name)
            self._create_link(link, "/dev/null", changes, force=False)
        return changes

    def unmask(self, names: Iterable[str], changes: list[Change] | None = None) -> list[Change]:
        """Remove ``/dev/null`` links of each name from the configuration directory.

        Like ``systemctl unmask`` without ``--runtime``, a mask in ``/run`` stays.
        """
        changes = [] if changes is None else changes
        for name in names:
            host = os.path.join(self.sp.host(self.sp.config_dir), name)
            if self._read_link(host) == "/dev/null":
                _remove(host)
                changes.append(Change("unlink", host))
        return changes

    def set_default(self, name: str) -> list[Change]:
        """Point ``default.target`` in the configuration directory at a target."""
        try:
            found = self.find(name)
        except UnitNotFoundError as exc:
            raise UnitNotFoundError(f"Failed to set default unit, {exc}") from None
        changes: list[Change] = []
        self._create_link(
            os.path.join(self.sp.config_dir, "default.target"), found.path, changes, force=True
        )
        return changes

    def get_default(self) -> str:
        """The unit ``default.target`` resolves to.

        Raises:
            UnitNotFoundError: no ``default.target`` on the search path.
        """
        try:
            found = self.find("default.target")
        except UnitNotFoundError:
            raise UnitNotFoundError(
                "Failed to get default target: No such file or directory"
            ) from None
        return os.path.basename(found.path) if found.alias_of is None else found.name

    # -- states ---------------------------------------------------------------------------

    def state(self, name: str) -> UnitFileState:
        """``systemctl is-enabled NAME``.

        Raises:
            UnitNotFoundError: no such unit file.
        """
        found = self.find(name)
        if found.masked:
            return UnitFileState.MASKED_RUNTIME if found.masked_runtime else UnitFileState.MASKED
        is_instance = bool(split_instance(name)[1])
        if not is_instance:
            # An instance name is never an alias: its file is always the template's.
            if found.alias_of is not None and found.alias_of != name:
                return UnitFileState.ALIAS
            if found.name != name and "/" not in name:
                return UnitFileState.ALIAS
        if found.kind in (PathKind.GENERATOR, PathKind.GENERATOR_EARLY, PathKind.GENERATOR_LATE):
            return UnitFileState.GENERATED
        if found.kind is PathKind.TRANSIENT:
            return UnitFileState.TRANSIENT
        if found.bad:
            return UnitFileState.BAD
        links = self._links_state(found.alias_of or name, found)
        if links is not None:
            return links
        if found.linked:
            runtime = self.sp.kind(found.path) is PathKind.RUNTIME
            return UnitFileState.LINKED_RUNTIME if runtime else UnitFileState.LINKED
        inst = found.install
        if inst.wanted_by or inst.required_by or inst.alias:
            return UnitFileState.DISABLED
        if inst.also:
            return UnitFileState.INDIRECT
        return UnitFileState.STATIC

    def _links_state(self, name: str, found: _Found) -> UnitFileState | None:
        template, instance = split_instance(name)
        best: UnitFileState | None = None
        for directory, enabled in (
            (self.sp.config_dir, UnitFileState.ENABLED),
            (self.sp.runtime_dir, UnitFileState.ENABLED_RUNTIME),
        ):
            host_dir = self.sp.host(directory)
            for entry, dest in _walk_links(host_dir):
                if dest == "/dev/null":
                    continue
                base = os.path.basename(entry)
                dest_base = os.path.basename(dest)
                top = os.path.dirname(entry) == host_dir
                if instance:
                    hit = base == name
                elif instance == "":
                    hit = dest_base == name or dest == found.path
                else:
                    hit = base == name or dest == found.path or dest_base == name
                if not hit:
                    continue
                if top and base != name:
                    if base in found.install.alias:
                        return enabled
                    best = best or UnitFileState.INDIRECT
                    continue
                if top and base == name and found.linked:
                    continue
                if instance == "" and base != name:
                    di = found.install.default_instance
                    if di and base == template.replace("@.", f"@{di}.", 1):
                        return enabled
                    best = UnitFileState.INDIRECT
                    continue
                return enabled
        return best

    def list_unit_files(self, patterns: Iterable[str] = ()) -> list[UnitFileRecord]:
        """Every unit file name on the search path with its state, as list-unit-files."""
        wanted = tuple(patterns)
        seen: dict[str, str] = {}
        for directory in self.sp.dirs:
            host_dir = self.sp.host(directory)
            try:
                entries = os.listdir(host_dir)
            except OSError:
                continue
            for entry in entries:
                if entry in seen or not is_valid_unit_name(entry):
                    continue
                host = os.path.join(host_dir, entry)
                if os.path.isdir(host) and not os.path.islink(host):
                    continue  # .wants/, .d/ directories; links are judged by state()
                seen[entry] = host
        presets = _Presets.load(self.sp)
        records: list[UnitFileRecord] = []
        for name in sorted(seen, key=_list_order):
            if wanted and not any(fnmatch.fnmatchcase(name, p) for p in wanted):
                continue
            try:
                state = self.state(name)
            except (UnitNotFoundError, InstallError):
                continue
            preset = None if state in _NO_PRESET else presets.query(name)
            records.append(UnitFileRecord(name, seen[name], state, preset))
        return records


def _alias_for(unit: str, alias: str) -> str | None:
    """The link name ``Alias=`` gives ``unit``, or ``None`` when systemd refuses it.

    The type must match, and the alias must be of the same kind: a plain name for a plain
    unit, a template (or the same instance) for a template or instance.
    """
    if not is_valid_unit_name(alias) or alias.rsplit(".", 1)[-1] != unit.rsplit(".", 1)[-1]:
        return None
    _, instance = split_instance(unit)
    _, alias_instance = split_instance(alias)
    if instance is None:
        return alias if alias_instance is None else None
    if alias_instance is None:
        return None
    if instance == "":
        return alias if alias_instance == "" else None
    if alias_instance == "":
        return alias.replace("@.", f"@{instance}.", 1)
    return alias if alias_instance == instance else None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # already gone: the state we wanted
    except OSError as exc:
        raise InstallError(f"Failed to remove {path}: {exc.strerror or exc}", path=path) from exc


def _list_order(name: str) -> tuple[str, str]:
    return name.rsplit(".", 1)[-1].lower(), name.lower()


def _walk_links(top: str) -> Iterator[tuple[str, str]]:
    """Every symlink under ``top`` (one level of ``*.wants``-style directories deep)."""
    try:
        entries = sorted(os.listdir(top))
    except OSError:
        return
    for entry in entries:
        path = os.path.join(top, entry)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            yield path, os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            try:
                inner = sorted(os.listdir(path))
            except OSError:
                continue
            for name in inner:
                sub = os.path.join(path, name)
                if os.path.islink(sub):
                    yield sub, os.readlink(sub)


@dataclass(slots=True)
class _Presets:
    """systemd.preset(5) rules: first matching line of the files sorted by name wins."""

    rules: list[tuple[str, str]]

    _DIRS: ClassVar[tuple[str, ...]] = (
        "/etc/systemd/system-preset",
        "/run/systemd/system-preset",
        "/usr/local/lib/systemd/system-preset",
        "/usr/lib/systemd/system-preset",
        "/lib/systemd/system-preset",
    )

    @classmethod
    def load(cls, sp: SearchPath) -> _Presets:
        files: dict[str, str] = {}
        if not sp.project:
            for directory in cls._DIRS:
                host = sp.host(directory)
                try:
                    names = os.listdir(host)
                except OSError:
                    continue
                for name in names:
                    if name.endswith(".preset"):
                        files.setdefault(name, os.path.join(host, name))
        rules: list[tuple[str, str]] = []
        for name in sorted(files):
            try:
                with open(files[name], encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
            except OSError:
                continue
            for line in lines:
                words = line.split()
                if len(words) >= 2 and words[0] in ("enable", "disable"):
                    rules.append((words[0], words[1]))
        return cls(rules)

    def query(self, name: str) -> str:
        for action, pattern in self.rules:
            if fnmatch.fnmatchcase(name, pattern):
                return "enabled" if action == "enable" else "disabled"
        return "enabled"
