"""The unit search path, as systemd.unit(5) "UNIT FILE LOAD PATH" and systemd 252 define it.

Why a module of its own: the same list decides which file wins a name (the loader), where
``enable`` writes its symlinks and how ``is-enabled`` names a link's state (runtime, generated,
transient), and ``bootup unit-paths`` must print it exactly as ``systemd-analyze unit-paths``.

``SYSTEMD_UNIT_PATH`` replaces the list; a trailing ``:`` (an empty last component) appends
the defaults, as systemd's ``lookup_paths_init()`` does. ``root`` prefixes every directory
(``systemctl --root``); ``project`` mode searches one directory only, which also receives the
links that ``enable`` would put in ``/etc/systemd/system``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bootup.errors import UnitError
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.model import unit_type_of

__all__ = (
    "DEFAULT_SYSTEM_UNIT_PATH",
    "PathKind",
    "SearchPath",
    "SearchPathError",
    "UnitFileEntry",
    "UnitFileIndex",
    "is_valid_unit_name",
    "search_path",
    "split_instance",
)


class PathKind(StrEnum):
    """What a search-path directory is for; ``is-enabled`` reports links by it."""

    CONTROL = "control"
    TRANSIENT = "transient"
    GENERATOR_EARLY = "generator-early"
    CONFIG = "config"
    ATTACHED = "attached"
    RUNTIME = "runtime"
    GENERATOR = "generator"
    VENDOR = "vendor"
    GENERATOR_LATE = "generator-late"
    PROJECT = "project"
    OTHER = "other"


#: Debian 12's list, in precedence order (``systemd-analyze unit-paths``, systemd 252).
_DEFAULTS: tuple[tuple[str, PathKind], ...] = (
    ("/etc/systemd/system.control", PathKind.CONTROL),
    ("/run/systemd/system.control", PathKind.CONTROL),
    ("/run/systemd/transient", PathKind.TRANSIENT),
    ("/run/systemd/generator.early", PathKind.GENERATOR_EARLY),
    ("/etc/systemd/system", PathKind.CONFIG),
    ("/etc/systemd/system.attached", PathKind.ATTACHED),
    ("/run/systemd/system", PathKind.RUNTIME),
    ("/run/systemd/system.attached", PathKind.ATTACHED),
    ("/run/systemd/generator", PathKind.GENERATOR),
    ("/usr/local/lib/systemd/system", PathKind.VENDOR),
    ("/lib/systemd/system", PathKind.VENDOR),
    ("/usr/lib/systemd/system", PathKind.VENDOR),
    ("/run/systemd/generator.late", PathKind.GENERATOR_LATE),
)

DEFAULT_SYSTEM_UNIT_PATH: tuple[str, ...] = tuple(d for d, _ in _DEFAULTS)

#: Where ``enable`` writes (persistent) and what ``--runtime`` would use.
CONFIG_DIR = "/etc/systemd/system"
RUNTIME_DIR = "/run/systemd/system"


@dataclass(frozen=True, slots=True)
class SearchPath:
    """An ordered unit search path, plus the directories ``[Install]`` operations need.

    ``dirs`` are the logical directories (as systemd prints them, without the root);
    :meth:`host` turns one into the real path under ``root``.
    """

    dirs: tuple[str, ...]
    root: str = "/"
    config_dir: str = CONFIG_DIR
    runtime_dir: str = RUNTIME_DIR
    project: bool = False

    def host(self, path: str) -> str:
        """Return ``path`` (a logical absolute path) as seen from this process."""
        if self.project or self.root in ("", "/"):
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def logical(self, host_path: str) -> str:
        """Inverse of :meth:`host`: strip the root prefix from a real path."""
        if self.project or self.root in ("", "/"):
            return host_path
        root = self.root.rstrip("/")
        if host_path == root:
            return "/"
        if host_path.startswith(root + "/"):
            return host_path[len(root) :]
        return host_path

    def kind(self, path: str) -> PathKind:
        """Classify a logical path by the search-path directory that holds it."""
        if self.project:
            return PathKind.PROJECT
        for directory, kind in _DEFAULTS:
            if path == directory or path.startswith(directory + "/"):
                return kind
        return PathKind.OTHER

    def host_dirs(self) -> tuple[str, ...]:
        """The directories to read, as real paths, in precedence order."""
        return tuple(self.host(d) for d in self.dirs)


class SearchPathError(UnitError, LookupError):
    """``--project DIR`` or ``--root DIR`` names no directory.

    Without this check a missing DIR reads as an empty one: ``analyze dot`` printed an
    empty graph and exited 0. systemctl fails too ("No such file or directory").

    Attributes:
        option: the option that named the directory (``--project``, ``--root``).
        path: the directory, made absolute.
        expected: what it should have been.
        found: what is there instead ("nothing", "a file"...).
    """

    def __init__(self, option: str, path: str, expected: str, found: str) -> None:
        super().__init__(f"{option} {path}: expected {expected}, found {found}")
        self.option = option
        self.path = path
        self.expected = expected
        self.found = found


def _require_directory(option: str, path: str, expected: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SearchPathError(
            option, path, expected, "nothing (no such file or directory)"
        ) from None
    except NotADirectoryError:
        raise SearchPathError(option, path, expected, "a path through a non-directory") from None
    except OSError as exc:
        raise SearchPathError(option, path, expected, exc.strerror or str(exc)) from exc
    if not stat.S_ISDIR(mode):
        raise SearchPathError(option, path, expected, "a file that is not a directory")


def search_path(
    *,
    root: str | None = None,
    project: str | None = None,
    environ: Mapping[str, str] | None = None,
    must_exist: bool = False,
) -> SearchPath:
    """Build the system search path the way systemd 252 does.

    Args:
        root: a directory that stands for ``/`` (``systemctl --root``); ``None`` means ``/``.
        project: one directory that is the whole search path (bootup's project mode).
        environ: the environment to read ``SYSTEMD_UNIT_PATH`` from (default ``os.environ``).
        must_exist: refuse a ``root`` or ``project`` that is not a directory (what a verb
            given ``--root``/``--project`` wants: a typo must not read as an empty tree).

    Raises:
        SearchPathError: with ``must_exist``, ``root`` or ``project`` is not a directory.
    """
    if project is not None:
        directory = os.path.abspath(project)
        if must_exist:
            _require_directory("--project", directory, "a directory of unit files")
        return SearchPath(
            dirs=(directory,),
            root="/",
            config_dir=directory,
            runtime_dir=directory,
            project=True,
        )
    if root and must_exist:
        _require_directory("--root", os.path.abspath(root), "a directory standing for /")
    env = os.environ if environ is None else environ
    value = env.get("SYSTEMD_UNIT_PATH")
    dirs: list[str]
    if value is None:
        dirs = list(DEFAULT_SYSTEM_UNIT_PATH)
    else:
        parts = value.split(":")
        append_defaults = value.endswith(":")
        dirs = [os.path.abspath(p) for p in parts if p]
        if append_defaults:
            dirs.extend(DEFAULT_SYSTEM_UNIT_PATH)
    unique: list[str] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return SearchPath(dirs=tuple(unique), root=os.path.abspath(root) if root else "/")


_MAX_ALIAS_HOPS = 32
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@")


def is_valid_unit_name(name: str, *, allow_template: bool = True) -> bool:
    """Whether ``name`` is a valid unit name (plain, template or instance)."""
    if not name or len(name) > 255 or unit_type_of(name) is None:
        return False
    stem = name.rsplit(".", 1)[0]
    if not stem or not set(name) <= _NAME_CHARS:
        return False
    if "@" in stem:
        prefix, _, instance = stem.partition("@")
        if not prefix or "@" in instance:
            return False
        if not instance and not allow_template:
            return False
    return True


def split_instance(name: str) -> tuple[str, str | None]:
    """``foo@bar.service`` -> (``foo@.service``, ``bar``); others -> (name, None)."""
    stem, dot, suffix = name.rpartition(".")
    if "@" not in stem:
        return name, None
    prefix, _, instance = stem.partition("@")
    return f"{prefix}@{dot}{suffix}", instance


@dataclass(frozen=True, slots=True)
class UnitFileEntry:
    """What a name is in one search-path directory (the first directory that has it wins).

    ``kind`` is ``file`` (a regular file), ``linked`` (a symlink to a file of the same base
    name, possibly outside the search path), ``alias`` (a symlink to another name),
    ``masked`` (a link to ``/dev/null``) or ``dangling``.
    """

    name: str
    kind: str
    path: str
    directory: str
    target: str | None = None


@dataclass(slots=True)
class UnitFileIndex:
    """Every unit file name on the search path, built once by listing each directory."""

    search_path: SearchPath
    entries: dict[str, UnitFileEntry] = field(default_factory=dict)
    listing: dict[str, frozenset[str]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _dirs: frozenset[str] = frozenset()
    _host_dirs: tuple[str, ...] = ()
    _reverse: dict[str, list[str]] | None = None
    _with_suffix: dict[str, list[tuple[int, str, frozenset[str]]]] = field(default_factory=dict)

    @classmethod
    def scan(cls, search_path: SearchPath) -> UnitFileIndex:
        """List the search path; never raises (unreadable directories are diagnostics)."""
        index = cls(search_path)
        index._host_dirs = search_path.host_dirs()
        index._dirs = frozenset(os.path.normpath(d) for d in index._host_dirs)
        for directory in search_path.host_dirs():
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                continue
            except OSError as exc:
                index.diagnostics.append(
                    Diagnostic(
                        directory,
                        None,
                        Severity.WARNING,
                        f"Failed to open directory {directory}, ignoring: {exc.strerror}",
                    )
                )
                continue
            index.listing[directory] = frozenset(names)
            for name in sorted(names):
                if name in index.entries or not is_valid_unit_name(name):
                    continue
                entry = index._classify(directory, name)
                if entry is not None:
                    index.entries[name] = entry
        return index

    def _classify(self, directory: str, name: str) -> UnitFileEntry | None:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        if not stat.S_ISLNK(st.st_mode):
            return UnitFileEntry(name, "file", path, directory)
        try:
            target = os.readlink(path)
        except OSError:
            return None
        if target == "/dev/null":
            return UnitFileEntry(name, "masked", path, directory, target)
        resolved = self._resolve_link(directory, target)
        base = os.path.basename(target.rstrip("/"))
        if resolved == "/dev/null":
            return UnitFileEntry(name, "masked", path, directory, target)
        if base != name and is_valid_unit_name(base):
            outside = resolved is not None and os.path.dirname(resolved) not in self._dirs
            if not outside:
                # An alias: resolved by name, so loops and dangling names are found later.
                return UnitFileEntry(name, "alias", path, directory, base)
        if resolved is None:
            self.diagnostics.append(
                Diagnostic(
                    path,
                    None,
                    Severity.WARNING,
                    f"Failed to resolve symlink {path} pointing to {target}, ignoring: "
                    "No such file or directory",
                )
            )
            return UnitFileEntry(name, "dangling", path, directory, target)
        return UnitFileEntry(name, "linked", resolved, directory, target)

    def _resolve_link(self, directory: str, target: str) -> str | None:
        """Follow a link inside the root (absolute targets are relative to ``--root``)."""
        candidate = (
            self.search_path.host(target)
            if os.path.isabs(target)
            else os.path.join(directory, target)
        )
        for _ in range(_MAX_ALIAS_HOPS):
            try:
                st = os.lstat(candidate)
            except OSError:
                return None
            if not stat.S_ISLNK(st.st_mode):
                return os.path.normpath(candidate)
            link = os.readlink(candidate)
            if link == "/dev/null":
                return "/dev/null"
            candidate = (
                self.search_path.host(link)
                if os.path.isabs(link)
                else os.path.join(os.path.dirname(candidate), link)
            )
        return None

    def names(self) -> tuple[str, ...]:
        """Every name on the search path, sorted."""
        return tuple(sorted(self.entries))

    def resolve(self, name: str) -> tuple[str, UnitFileEntry | None, str | None]:
        """Follow aliases: return (primary name, its entry or None, error text or None)."""
        seen: list[str] = []
        current = name
        for _ in range(_MAX_ALIAS_HOPS):
            if current in seen:
                return current, None, "Too many levels of symbolic links"
            seen.append(current)
            entry = self.entries.get(current)
            template, instance = split_instance(current)
            if entry is None and instance:
                tentry = self.entries.get(template)
                if tentry is not None and tentry.kind == "alias" and tentry.target:
                    t2, i2 = split_instance(tentry.target)
                    if i2 == "":
                        current = t2.replace("@.", f"@{instance}.", 1)
                        continue
                if tentry is not None:
                    return current, tentry, None
                return current, None, None
            if entry is None:
                return current, None, None
            if entry.kind == "alias" and entry.target:
                target = entry.target
                t2, i2 = split_instance(target)
                if instance and i2 == "":
                    target = t2.replace("@.", f"@{instance}.", 1)
                current = target
                continue
            return current, entry, None
        return current, None, "Too many levels of symbolic links"

    def aliases_of(self, primary: str) -> tuple[str, ...]:
        """Every name that resolves to ``primary`` (including itself), sorted."""
        if self._reverse is None:
            self._build_reverse()
        assert self._reverse is not None
        found = {primary, *self._reverse.get(primary, ())}
        template, instance = split_instance(primary)
        if instance:
            for alias in self._reverse.get(template, ()):
                if split_instance(alias)[1] == "":
                    candidate = alias.replace("@.", f"@{instance}.", 1)
                    if self.resolve(candidate)[0] == primary:
                        found.add(candidate)
        return tuple(sorted(found))

    def _build_reverse(self) -> None:
        reverse: dict[str, list[str]] = {}
        for name, entry in self.entries.items():
            if entry.kind == "alias":
                target, found, error = self.resolve(name)
                if error is None and found is not None:
                    reverse.setdefault(target, []).append(name)
        self._reverse = reverse

    def dropin_dirs(self, name: str, suffix: str) -> Iterator[tuple[int, str]]:
        """Every existing ``<candidate><suffix>`` directory, with its search-path rank.

        Candidates for ``foo-bar@x.service``: the name, the template, the prefix forms
        ``foo-bar-.service`` and ``foo-.service`` (longer first), then ``service`` alone.
        """
        with_suffix = self._with_suffix.get(suffix)
        if with_suffix is None:
            with_suffix = []
            for rank, directory in enumerate(self._host_dirs):
                found = frozenset(n for n in self.listing.get(directory, ()) if n.endswith(suffix))
                if found:
                    with_suffix.append((rank, directory, found))
            self._with_suffix[suffix] = with_suffix
        if not with_suffix:
            return
        candidates = [c + suffix for c in _dropin_candidates(name)]
        for rank, directory, found in with_suffix:
            for candidate in candidates:
                if candidate in found:
                    yield rank, os.path.join(directory, candidate)


def _dropin_candidates(name: str) -> list[str]:
    stem, _, suffix = name.rpartition(".")
    out = [name]
    template, instance = split_instance(name)
    if instance is not None and template != name:
        out.append(template)
    prefix = stem.split("@", 1)[0]
    parts = prefix.split("-")
    out.extend("-".join(parts[:i]) + "-." + suffix for i in range(len(parts) - 1, 0, -1))
    out.append(suffix)
    return out
