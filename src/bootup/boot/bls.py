"""Boot Loader Specification entries (``/boot/loader/entries/*.conf``) as GRUB's blscfg sees them.

On Fedora/RHEL the menu is not in grub.cfg: the ``blscfg`` command builds it at boot from the
entry files. Which entry is "index 0", and so what ``grub2-set-default 0`` means, depends on
blscfg's own order (rhboot grub-core/commands/blscfg.c): the file name without ``.conf`` is
split like an RPM package string (release after the last ``-``, version after the one
before, the rest is the name) and the entries are sorted *newest first* by an rpm-style
``vercmp`` of name, then version, then release. Because the name part begins with the
machine-id, entries left by another machine-id can outrank a newer kernel. The menu id of an
entry is its file name; its title is ``title`` (or the ``linux`` path).

The line syntax follows blscfg's reader too: leading blanks are skipped, ``#`` starts a
comment, the key ends at the first space (or tab), and a line without a value, an empty line
included, ends the reading of that file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bootup.boot.grubcfg import MenuEntry
from bootup.errors import BootFormatError

__all__ = (
    "BlsEntry",
    "BlsError",
    "entries_to_menu",
    "load_entries",
    "parse_entry",
    "sort_entries",
    "split_package_string",
    "vercmp",
)

_MAX_SIZE = 1024 * 1024


class BlsError(BootFormatError):
    """A BLS entry file cannot be used (GRUB skips it).

    Attributes:
        path: the entry file.
        line: 1-based line, when the problem is on one.
        expected: what blscfg needs.
        found: what the file has.
    """

    def __init__(self, path: str, line: int | None, expected: str, found: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: expected {expected}, found {found}")
        self.path = path
        self.line = line
        self.expected = expected
        self.found = found


@dataclass(slots=True)
class BlsEntry:
    """One entry file: its id (file name without ``.conf``) and its keys in file order."""

    id: str
    path: str
    keys: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        """The first value of ``key`` (blscfg reads the first one)."""
        for name, value in self.keys:
            if name == key:
                return value
        return None

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeatable key (``initrd``, ``grub_class``, ``grub_arg``)."""
        return [value for name, value in self.keys if name == key]

    @property
    def title(self) -> str:
        """The menu title: ``title``, or the ``linux`` path when there is none."""
        return self.get("title") or self.get("linux") or self.id


def parse_entry(text: str, entry_id: str, path: str = "") -> BlsEntry:
    """Parse one entry file the way blscfg's ``read_entry`` does."""
    entry = BlsEntry(id=entry_id, path=path or f"{entry_id}.conf")
    lines = text.split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.lstrip(" \t")
        if line.startswith("#"):
            continue
        sep = line.find(" ")
        if sep < 0:
            sep = line.find("\t")
        if sep < 0 or sep == len(line) - 1:
            if any(rest.strip() for rest in lines[number:]):
                entry.notes.append(
                    f"{entry.path}:{number}: a line without a value ends blscfg's reading; "
                    f"the lines after it are ignored"
                )
            break
        entry.keys.append((line[:sep], line[sep + 1 :].lstrip(" \t")))
    return entry


def split_package_string(name: str) -> tuple[str, str, str]:
    """Split an entry id like an RPM ``name-version-release`` (blscfg's sort key)."""
    release = ""
    version = ""
    head, sep, tail = name.rpartition("-")
    if sep:
        release, name = tail, head
        head, sep, tail = name.rpartition("-")
        if sep:
            version, name = tail, head
    if not version:
        version, release = release, ""
    return name, version, release


def vercmp(a: str, b: str) -> int:
    """Rpm's version comparison as blscfg has it: 1 if ``a`` is newer, -1 if older, 0 same."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not a[i].isalnum() and a[i] != "~":
            i += 1
        while j < len(b) and not b[j].isalnum() and b[j] != "~":
            j += 1
        one = a[i] if i < len(a) else ""
        two = b[j] if j < len(b) else ""
        if one == "~" or two == "~":
            if one != "~":
                return 1
            if two != "~":
                return -1
            i += 1
            j += 1
            continue
        if not (one and two):
            break
        isnum = one.isdigit()
        test = str.isdigit if isnum else _isalpha
        end_a = i
        while end_a < len(a) and test(a[end_a]):
            end_a += 1
        end_b = j
        while end_b < len(b) and test(b[end_b]):
            end_b += 1
        seg_a, seg_b = a[i:end_a], b[j:end_b]
        if not seg_b:
            return 1 if isnum else -1
        if isnum:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
        i, j = end_a, end_b
    rest_a, rest_b = i < len(a), j < len(b)
    if not rest_a and not rest_b:
        return 0
    return -1 if not rest_a else 1


def _isalpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _entry_cmp(left: BlsEntry, right: BlsEntry) -> int:
    for part_left, part_right in zip(
        split_package_string(left.id), split_package_string(right.id), strict=True
    ):
        result = vercmp(part_left, part_right)
        if result:
            return result
    return 0


def sort_entries(entries: list[BlsEntry]) -> list[BlsEntry]:
    """Blscfg's menu order: newest first by vercmp of (name, version, release) of the id."""
    return sorted(entries, key=functools.cmp_to_key(_entry_cmp), reverse=True)


def load_entries(directory: str | os.PathLike[str]) -> tuple[list[BlsEntry], list[str]]:
    """Read every usable ``*.conf`` in ``directory`` in blscfg order, and notes on skipped ones."""
    base = Path(directory)
    entries: list[BlsEntry] = []
    notes: list[str] = []
    for child in sorted(base.iterdir()):
        name = child.name
        if name.startswith(".") or len(name) <= 5 or not name.endswith(".conf"):
            continue
        if not child.is_file():
            continue
        if child.stat().st_size > _MAX_SIZE:
            notes.append(f"{child}: larger than 1 MiB; blscfg skips it")
            continue
        text = child.read_text(encoding="utf-8", errors="surrogateescape")
        entry = parse_entry(text, name[:-5], str(child))
        notes.extend(entry.notes)
        if entry.get("linux") is None:
            notes.append(f"{child}: no 'linux' key; blscfg skips it")
            continue
        entries.append(entry)
    return sort_entries(entries), notes


def _expand(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$":
            if text.startswith("${", i) and "}" in text[i:]:
                end = text.index("}", i)
                out.append(env.get(text[i + 2 : end], ""))
                i = end + 1
                continue
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j > i + 1:
                out.append(env.get(text[i + 1 : j], ""))
                i = j
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def entries_to_menu(entries: list[BlsEntry], env: Mapping[str, str]) -> list[MenuEntry]:
    """The menu entries ``blscfg`` adds, in order; ``$kernelopts`` etc. come from ``env``."""
    menu: list[MenuEntry] = []
    for entry in entries:
        options = entry.get("options")
        linux = entry.get("linux") or ""
        menu.append(
            MenuEntry(
                kind="menuentry",
                title=entry.title,
                id=entry.id,
                id_given=True,
                line=0,
                path=entry.path,
                classes=tuple(entry.get_all("grub_class")),
                users=entry.get("grub_users"),
                hotkey=entry.get("grub_hotkey"),
                args=tuple(entry.get_all("grub_arg")),
                linux=linux,
                linux_args=tuple(_expand(options, env).split()) if options else (),
                initrd=tuple(entry.get_all("initrd")),
                origin="bls",
            )
        )
    return menu
