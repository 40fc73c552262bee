"""What evaluating a ``grub.cfg`` yields: the menu entries, the steering assignments, notes.

Why a module of its own: the menu model is shared by everything that reads a boot menu
(:mod:`bootup.boot.bls` builds :class:`MenuEntry` objects too, :mod:`bootup.boot.resolve`
walks them), and a ``menuentry``/``submenu`` command's options become an entry here with
GRUB's own option parsing (``--id``, ``--class``, ``--users``, ``--hotkey``,
``--unrestricted``). Public through :mod:`bootup.boot.grubcfg`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bootup.boot._grubscript import MenuBlock


@dataclass(frozen=True, slots=True)
class Note:
    """Something the static evaluation could not decide, or a fact worth showing."""

    path: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Assignment:
    """A run assignment to one of the variables that steer the default."""

    name: str
    value: str
    path: str
    line: int
    source: str


@dataclass(frozen=True, slots=True)
class SaveEnv:
    """A ``save_env`` that ran: GRUB rewrites grubenv in place at this point of the boot."""

    names: tuple[str, ...]
    values: tuple[tuple[str, str], ...]
    line: int


@dataclass(slots=True)
class MenuEntry:
    """One ``menuentry`` or ``submenu`` as GRUB registered it."""

    kind: str
    title: str
    id: str
    id_given: bool
    line: int
    path: str
    classes: tuple[str, ...] = ()
    users: str | None = None
    hotkey: str | None = None
    unrestricted: bool = False
    args: tuple[str, ...] = ()
    children: list[MenuEntry] = field(default_factory=list)
    linux: str | None = None
    linux_args: tuple[str, ...] = ()
    initrd: tuple[str, ...] = ()
    root: str | None = None
    body_notes: list[Note] = field(default_factory=list)
    saves: tuple[SaveEnv, ...] = ()
    origin: str = "grub.cfg"

    @property
    def is_submenu(self) -> bool:
        """True for a submenu (its entries are in :attr:`children`)."""
        return self.kind == "submenu"


@dataclass(slots=True)
class GrubConfig:
    """The result of running a grub.cfg statically."""

    path: str
    entries: list[MenuEntry]
    variables: dict[str, str]
    exported: set[str]
    assignments: list[Assignment]
    save_env: list[SaveEnv]
    loaded_env: dict[str, str] | None
    notes: list[Note]
    blscfg_line: int | None = None

    def get(self, name: str) -> str | None:
        """A variable as it stands when GRUB shows the menu."""
        return self.variables.get(name)


_MENU_OPTIONS_WITH_ARG = frozenset({"class", "users", "hotkey", "source", "id"})
_MENU_FLAGS = frozenset({"unrestricted"})


def _menu_entry(block: MenuBlock, argv: list[str], path: str) -> MenuEntry | str:
    """Apply GRUB's option parser to expanded menuentry arguments (or say why it fails)."""
    options: dict[str, str] = {}
    classes: list[str] = []
    flags: set[str] = set()
    positional: list[str] = []
    i = 0
    only_positional = False
    while i < len(argv):
        arg = argv[i]
        i += 1
        if only_positional or not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        if arg == "--":
            only_positional = True
            continue
        if not arg.startswith("--"):
            return f"unknown option {arg!r}"
        name, sep, value = arg[2:].partition("=")
        if name in _MENU_FLAGS:
            flags.add(name)
            continue
        if name not in _MENU_OPTIONS_WITH_ARG:
            return f"unknown option {arg!r}"
        if not sep:
            if i >= len(argv):
                return f"option {arg!r} needs an argument"
            value = argv[i]
            i += 1
        if name == "class":
            classes.append(value)
        else:
            options[name] = value
    if not positional:
        return "no title"
    title = positional[0]
    return MenuEntry(
        kind=block.keyword,
        title=title,
        id=options.get("id", title),
        id_given="id" in options,
        line=block.line,
        path=path,
        classes=tuple(classes),
        users=options.get("users"),
        hotkey=options.get("hotkey"),
        unrestricted="unrestricted" in flags,
        args=tuple(positional[1:]),
    )
