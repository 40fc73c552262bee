"""Which menu entry boots next, and every silent fallback on the way (GRUB 2.06 semantics).

At boot GRUB reads the ``default`` variable once the script ran (grub-core/normal/menu.c):
the value is a ``>``-separated path (``>>`` is a literal ``>``), and at each menu level one
component picks an entry. Upstream and Debian call ``grub_strtoul`` first, so *any* value that
starts with digits is an index (``1abc-a`` is entry 1); otherwise the first entry whose title
or id equals the component wins. The Fedora/rhboot flavor tries the id, then the title, then a
whole number, because BLS ids start with a hex machine-id. A value that matches nothing, or an
index past the end, silently boots entry 0. Entering a submenu hands the rest of the path down
as the new default; with no rest, the submenu's first entry boots.

Every such silent turn becomes a :class:`Finding` with a stable ``code``, so ``explain`` can
print the reason chain and ``set-default`` can refuse values that would not boot what the user
asked for.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bootup.boot.grubcfg import GrubConfig, MenuEntry
from bootup.errors import BootFormatError

__all__ = (
    "Finding",
    "Flavor",
    "Resolution",
    "Step",
    "UnresolvedEntryError",
    "entry_paths",
    "grub_strtoul",
    "menuentry_eq",
    "resolve_config",
    "resolve_value",
    "split_path",
)


class Flavor(StrEnum):
    """How a path component is matched: upstream/Debian (number first) or Fedora (id first)."""

    UPSTREAM = "upstream"
    FEDORA = "fedora"


class UnresolvedEntryError(BootFormatError):
    """A requested entry does not name an entry of the menu (GRUB would boot entry 0).

    Attributes:
        value: the requested default.
        findings: why it does not resolve, with suggestions.
    """

    def __init__(self, value: str, findings: Sequence[Finding]) -> None:
        details = "; ".join(f.message for f in findings)
        super().__init__(f"{value!r} does not name a menu entry: {details}")
        self.value = value
        self.findings = tuple(findings)


@dataclass(frozen=True, slots=True)
class Finding:
    """A warning (``level='warning'``) or an explanatory fact (``level='info'``)."""

    code: str
    message: str
    level: str = "warning"


@dataclass(frozen=True, slots=True)
class Step:
    """One menu level of the resolution: which index was picked, and how."""

    level: int
    component: str | None
    index: int
    entry: MenuEntry
    how: str


@dataclass(slots=True)
class Resolution:
    """The entry that boots, the path to it, and the ordered reasons."""

    value: str | None
    flavor: Flavor
    steps: list[Step] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def entry(self) -> MenuEntry | None:
        """The leaf entry that boots (``None`` for an empty menu)."""
        return self.steps[-1].entry if self.steps else None

    @property
    def exact(self) -> bool:
        """True when every level matched on purpose (no silent fallback to entry 0)."""
        return all(step.how != "fallback" for step in self.steps)

    @property
    def id_path(self) -> str:
        """The stable way to name this entry: ids joined by ``>`` (``>`` in ids doubled)."""
        return ">".join(step.entry.id.replace(">", ">>") for step in self.steps)

    @property
    def title_path(self) -> str:
        """Titles joined by ``>``, for people."""
        return " > ".join(step.entry.title for step in self.steps)

    @property
    def index_path(self) -> str:
        """Indices joined by ``>``."""
        return ">".join(str(step.index) for step in self.steps)

    def warnings(self) -> list[Finding]:
        """Only the findings that are warnings."""
        return [f for f in self.findings if f.level == "warning"]


def split_path(value: str) -> tuple[str, str | None]:
    """First component of a default path (``>>`` unescaped) and the rest (``None`` if none)."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == ">":
            if value.startswith(">>", i):
                out.append(">")
                i += 2
                continue
            rest = value[i + 1 :]
            return "".join(out), (rest if rest else None)
        out.append(ch)
        i += 1
    return "".join(out), None


def menuentry_eq(name: str, spec: str) -> bool:
    """GRUB's ``menuentry_eq``: does the first component of ``spec`` equal ``name``?"""
    component, _rest = split_path(spec)
    return component == name


def _strtoul(value: str) -> tuple[int | None, str, int]:
    """``grub_strtoul(value, &end, 0)``: (number, "ok"|"bad"|"overflow", index of end)."""
    pos = 0
    while pos < len(value) and value[pos] in " \t\n\r\f\v":
        pos += 1
    base = 10
    if value.startswith("0x", pos):
        base, pos = 16, pos + 2
    elif value[pos : pos + 1] == "0" and value[pos + 1 : pos + 2] in tuple("01234567"):
        base = 8
    digits = "0123456789abcdef"[:base]
    start = pos
    while pos < len(value) and value[pos].lower() in digits:
        pos += 1
    if pos == start:
        return None, "bad", pos
    number = int(value[start:pos], base)
    if number > 0xFFFFFFFF:
        return None, "overflow", pos
    return number, "ok", pos


def grub_strtoul(value: str) -> int | None:
    """``grub_strtoul(value, 0, 0)`` on i386-pc: the leading number, or ``None`` on error.

    Leading blanks are skipped; ``0x`` means hex, a ``0`` before an octal digit means octal;
    the number ends at the first non-digit (so ``1abc-a`` is 1). A value past 32 bits is an
    overflow error, which GRUB also treats as "no entry".
    """
    return _strtoul(value)[0]


def _as_int(number: int) -> int:
    """The ``(int)`` cast GRUB applies: values past INT_MAX become negative (no entry)."""
    return number - (1 << 32) if number > 0x7FFFFFFF else number


def entry_paths(entries: Sequence[MenuEntry], prefix: str = "") -> list[tuple[str, MenuEntry]]:
    """Every entry with its id path (``submenu-id>entry-id``), depth first."""
    out: list[tuple[str, MenuEntry]] = []
    for entry in entries:
        path = prefix + entry.id.replace(">", ">>")
        out.append((path, entry))
        if entry.is_submenu:
            out.extend(entry_paths(entry.children, path + ">"))
    return out


def _pick_upstream(entries: Sequence[MenuEntry], value: str) -> tuple[int, str]:
    number, status, _end = _strtoul(value)
    if number is not None:
        return _as_int(number), "index"
    if status == "overflow":
        return -1, "overflow"
    for index, entry in enumerate(entries):
        if menuentry_eq(entry.title, value) or menuentry_eq(entry.id, value):
            return index, ("title" if menuentry_eq(entry.title, value) else "id")
    return -1, "none"


def _pick_fedora(entries: Sequence[MenuEntry], value: str) -> tuple[int, str]:
    length = 0
    while length < len(value) and not value[length].isspace():
        length += 1
    head = value[:length]
    for index, entry in enumerate(entries):
        if entry.id and menuentry_eq(entry.id, head):
            return (index, "id") if length == len(value) else (-1, "none")
    for index, entry in enumerate(entries):
        if menuentry_eq(entry.title, value):
            return index, "title"
    number, _status, end = _strtoul(value)
    if number is None or end != len(value):
        return -1, "none"
    return _as_int(number), "index"


def resolve_value(
    entries: Sequence[MenuEntry], value: str | None, flavor: Flavor = Flavor.UPSTREAM
) -> Resolution:
    """Follow ``value`` through the menu exactly as GRUB's ``default`` handling does."""
    resolution = _follow(entries, value, flavor)
    if any(step.how == "title" for step in resolution.steps) and resolution.exact:
        resolution.findings.append(
            Finding(
                "title-default",
                f"matched by title, and titles change with kernel updates; the stable spelling "
                f"is the id path {resolution.id_path!r}",
                "info",
            )
        )
    return resolution


def _follow(entries: Sequence[MenuEntry], value: str | None, flavor: Flavor) -> Resolution:
    resolution = Resolution(value=value, flavor=flavor)
    current: Sequence[MenuEntry] = entries
    remaining: str | None = value
    level = 0
    while current:
        if remaining is None:
            index, how = 0, "no-default"
        elif level == 0 and remaining == "":
            index, how = 0, "empty"
            resolution.findings.append(
                Finding(
                    "empty-default",
                    "default is empty (nothing saved yet), so GRUB boots entry 0",
                    "info",
                )
            )
        else:
            pick = _pick_fedora if flavor is Flavor.FEDORA else _pick_upstream
            index, how = pick(current, remaining)
            if index < 0 or index >= len(current):
                _explain_miss(
                    resolution,
                    entries=current,
                    value=remaining,
                    how=how,
                    level=level,
                )
                index, how = 0, "fallback"
            elif how == "index":
                _explain_index(
                    resolution,
                    entries=current,
                    value=remaining,
                    index=index,
                    level=level,
                    flavor=flavor,
                )
        entry = current[index]
        component = None if remaining is None else split_path(remaining)[0]
        resolution.steps.append(Step(level, component, index, entry, how))
        resolution.reasons.append(_describe_step(level, component, index, entry, how))
        if not entry.is_submenu:
            return resolution
        rest = None if remaining is None else split_path(remaining)[1]
        if remaining is not None and rest is None:
            resolution.findings.append(
                Finding(
                    "submenu-without-entry",
                    f"{remaining!r} names the submenu {entry.title!r} but no entry inside it; "
                    f"its first entry boots",
                    "info",
                )
            )
        if not entry.children:
            resolution.findings.append(
                Finding(
                    "empty-submenu",
                    f"submenu {entry.title!r} (line {entry.line}) has no entries; GRUB shows an "
                    f"empty menu and boots nothing",
                )
            )
            return resolution
        _check_lost_ids(resolution, entry, rest)
        current, remaining, level = entry.children, rest, level + 1
    if not resolution.steps:
        resolution.findings.append(Finding("empty-menu", "the menu has no entries"))
    return resolution


def _describe_step(
    level: int, component: str | None, index: int, entry: MenuEntry, how: str
) -> str:
    where = "top level" if level == 0 else f"level {level}"
    kind = "submenu" if entry.is_submenu else "entry"
    if how in ("no-default", "empty"):
        return f"{where}: no default given, so the first {kind} {entry.title!r} (index 0)"
    if how == "fallback":
        return (
            f"{where}: {component!r} matched nothing; GRUB silently takes index 0, {entry.title!r}"
        )
    return f"{where}: {component!r} matched the {how} of {kind} {entry.title!r} (index {index})"


def _explain_index(
    resolution: Resolution,
    *,
    entries: Sequence[MenuEntry],
    value: str,
    index: int,
    level: int,
    flavor: Flavor,
) -> None:
    component = split_path(value)[0]
    if flavor is Flavor.UPSTREAM and not component.strip().isdigit():
        for other_index, entry in enumerate(entries):
            if component in (entry.id, entry.title):
                resolution.findings.append(
                    Finding(
                        "digit-leading-id",
                        f"{component!r} starts with digits, so upstream GRUB reads it as index "
                        f"{index}, not as the {'id' if component == entry.id else 'title'} of "
                        f"{entry.title!r} (index {other_index}); rename the id or use an index",
                    )
                )
                return
    resolution.findings.append(
        Finding(
            "index-default",
            f"level {level} is chosen by index {index}; indices shift when kernels are added or "
            f"removed, prefer the id path",
            "info",
        )
    )


def _explain_miss(
    resolution: Resolution,
    *,
    entries: Sequence[MenuEntry],
    value: str,
    how: str,
    level: int,
) -> None:
    component = split_path(value)[0]
    where = "the top level" if level == 0 else f"menu level {level}"
    if how == "index" or (how == "none" and grub_strtoul(value) is not None):
        resolution.findings.append(
            Finding(
                "index-out-of-range",
                f"index {component!r} is past the {len(entries)} entries of {where}; GRUB "
                f"silently boots entry 0 (indices count per level, a submenu is one entry)",
            )
        )
        return
    if how == "overflow":
        resolution.findings.append(
            Finding("index-out-of-range", f"{component!r} overflows GRUB's number parser")
        )
        return
    resolution.findings.append(
        Finding(
            "no-match",
            f"{component!r} matches no title or id at {where}; GRUB silently boots entry 0",
        )
    )
    # Is it somewhere deeper (a missing submenu prefix)?
    for path, entry in entry_paths(entries):
        if ">" in path and component in (entry.id, entry.title):
            resolution.findings.append(
                Finding(
                    "missing-submenu-prefix",
                    f"{component!r} is inside a submenu; name it with its path {path!r}",
                )
            )
            return
    for entry in _walk(entries):
        if component in entry.args and not entry.id_given:
            resolution.findings.append(
                Finding(
                    "id-lost-in-submenu",
                    f"{component!r} was meant as the id of {entry.title!r} (line {entry.line}) but "
                    f"GRUB got it as a plain argument: menuentry_id_option is empty inside the "
                    f"submenu; add 'export menuentry_id_option' to grub.cfg",
                )
            )
            return
    names = [e.title for e in entries] + [e.id for e in entries]
    close = difflib.get_close_matches(component, names, n=1, cutoff=0.5)
    if close:
        resolution.findings.append(
            Finding(
                "stale-title",
                f"{component!r} looks like a stale name (kernel updates change titles); the "
                f"closest is {close[0]!r}",
            )
        )


def _check_lost_ids(resolution: Resolution, submenu: MenuEntry, rest: str | None) -> None:
    if rest is None:
        return
    component = split_path(rest)[0]
    for child in submenu.children:
        if component in (child.id, child.title):
            return
    for child in submenu.children:
        if component in child.args and not child.id_given:
            resolution.findings.append(
                Finding(
                    "id-lost-in-submenu",
                    f"{component!r} was meant as the id of {child.title!r} (line {child.line}), "
                    f"but inside submenu {submenu.title!r} $menuentry_id_option is empty (not "
                    f"exported), so the entry's id is its title; add 'export "
                    f"menuentry_id_option' to grub.cfg",
                )
            )
            return


def _walk(entries: Sequence[MenuEntry]) -> list[MenuEntry]:
    return [entry for _path, entry in entry_paths(entries)]


def resolve_config(config: GrubConfig, flavor: Flavor = Flavor.UPSTREAM) -> Resolution:
    """Resolve the default of an evaluated grub.cfg, with where the value came from."""
    value = config.get("default")
    resolution = resolve_value(config.entries, value, flavor)
    origin: list[str] = []
    defaults = [a for a in config.assignments if a.name == "default"]
    loaded = config.loaded_env or {}
    if value is None:
        origin.append("grub.cfg never sets 'default', so GRUB starts at entry 0")
    elif defaults:
        last = defaults[-1]
        origin.append(f"default={value!r} from {last.path}:{last.line}: {last.source}")
        if "next_entry" in last.source and loaded.get("next_entry"):
            origin.append(
                f"grubenv next_entry={loaded['next_entry']!r} is a one-shot: this boot clears it"
                + (" (save_env next_entry)" if _saves(config, "next_entry") else "")
            )
        elif "saved_entry" in last.source:
            saved_value = loaded.get("saved_entry")
            origin.append(
                f"grubenv saved_entry={saved_value!r} (GRUB_DEFAULT=saved)"
                if saved_value is not None
                else "grubenv has no saved_entry yet (GRUB_DEFAULT=saved)"
            )
    resolution.reasons[:0] = origin
    saved = loaded.get("saved_entry")
    if (
        saved
        and defaults
        and "saved_entry" not in defaults[-1].source
        and not ("next_entry" in defaults[-1].source and loaded.get("next_entry"))
    ):
        resolution.findings.insert(
            0,
            Finding(
                "saved-entry-ignored",
                f"grubenv has saved_entry={saved!r} but grub.cfg sets default from "
                f"{defaults[-1].source!r} ({defaults[-1].path}:{defaults[-1].line}), so "
                f"set-default has no effect; set GRUB_DEFAULT=saved in /etc/default/grub and "
                f"regenerate grub.cfg (update-grub)",
            ),
        )
    next_entry = loaded.get("next_entry")
    if next_entry and not any("next_entry" in a.source for a in defaults):
        resolution.findings.insert(
            0,
            Finding(
                "next-entry-ignored",
                f"grubenv has next_entry={next_entry!r} but grub.cfg never reads it; the "
                f"one-shot default has no effect",
            ),
        )
    return resolution


def _saves(config: GrubConfig, name: str) -> bool:
    return any(name in save.names for save in config.save_env)
