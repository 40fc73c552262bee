r"""The menu a ``grub.cfg`` builds, evaluated statically as GRUB 2.06's normal mode would.

GRUB does not read grub.cfg as data: it *runs* it (grub-core/script/), and the menu is what
the ``menuentry``/``submenu`` commands registered once the script finished. So this module
has a lexer and parser for GRUB script (quoting as in grub-core/script/yylex.l: single
quotes are literal, double quotes keep ``\\`` except before ``$ " \\`` and newline, unquoted
``$var`` expansions are split on blanks and vanish when empty) and a small evaluator that
runs the parts that decide the menu and the default: ``set``, assignments, ``export``,
``load_env``/``save_env``, ``if``/``elif``/``else`` over ``[ ... ]`` tests, functions,
``source``, and the menu commands with GRUB's option parsing (``--id``, ``--class``,
``--users``, ``--hotkey``, ``--unrestricted``). A submenu body runs later, in a new
environment context that only sees *exported* variables: that is exactly why an id passed as
``$menuentry_id_option 'x'`` is lost inside a submenu without ``export menuentry_id_option``.

Conditions that cannot be decided offline are assumed false (``[ ... ]``, and ``cmostest``/
``keystatus``, which read the machine at boot) or successful (other commands such as
``loadfont``), and noted in :attr:`GrubConfig.notes`. Evaluation stops after 100,000
statements (a recursion bomb), also with a note. Malformed scripts raise
:class:`GrubCfgError` with the file and line.

The lexer and parser live in ``_grubscript`` and the menu model in ``_grubmenu``; this module
runs the script, and re-exports both as the public ``bootup.boot.grubcfg`` API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bootup.boot._grubmenu import Assignment, GrubConfig, MenuEntry, Note, SaveEnv, _menu_entry
from bootup.boot._grubscript import (
    _MAX_DEPTH,
    _NAME_RE,
    Block,
    Command,
    Function,
    GrubCfgError,
    If,
    Loop,
    MenuBlock,
    Part,
    Statement,
    Word,
    parse_script,
    render_words,
)

__all__ = (
    "FEATURES",
    "Assignment",
    "Block",
    "Command",
    "Function",
    "GrubCfgError",
    "GrubConfig",
    "If",
    "Loop",
    "MenuBlock",
    "MenuEntry",
    "Note",
    "Part",
    "SaveEnv",
    "Word",
    "evaluate",
    "load_config",
    "parse_script",
    "render_words",
)

#: Variables GRUB 2.06's normal.mod sets before it reads grub.cfg (``feature_*`` = y).
FEATURES: Mapping[str, str] = {
    "feature_chainloader_bpb": "y",
    "feature_ntldr": "y",
    "feature_platform_search_hint": "y",
    "feature_default_font_path": "y",
    "feature_all_video_module": "y",
    "feature_menuentry_id": "y",
    "feature_menuentry_options": "y",
    "feature_200_final": "y",
    "feature_nativedisk_cmd": "y",
    "feature_timeout_style": "y",
    "grub_cpu": "i386",
    "grub_platform": "pc",
}


_STEERING = frozenset(
    {"default", "fallback", "timeout", "next_entry", "saved_entry", "prev_saved_entry",
     "boot_once", "menuentry_id_option"}
)  # fmt: skip
#: Conditions that read the hardware at boot (a CMOS bit, a held key): assumed false.
_HARDWARE_TESTS = frozenset({"cmostest", "keystatus"})


#: ``path -> bool`` for ``[ -f/-e/-s/-d ]`` tests; ``None`` when it cannot be known.
FileProbe = Callable[[str, str], bool | None]
#: ``path -> text`` for ``source``; ``None`` when the file is absent.
FileReader = Callable[[str], str | None]
#: Menu entries ``blscfg`` creates (Fedora); given the GRUB environment.
BlsProvider = Callable[[Mapping[str, str]], list[MenuEntry]]


class _Return(Exception):
    """``return`` inside a function body."""


class _Budget(Exception):
    """The script ran more statements than any real grub.cfg does (recursion bombs)."""


#: Statements one evaluation may run: generated configs run a few hundred.
_MAX_STEPS = 100_000


class _Evaluator:
    def __init__(
        self,
        path: str,
        grubenv: Mapping[str, str] | None,
        probe: FileProbe | None,
        reader: FileReader | None,
        bls: BlsProvider | None,
        *,
        grubenv_problem: str | None = None,
    ) -> None:
        self.path = path
        self.grubenv = grubenv
        self.grubenv_problem = grubenv_problem
        self.probe = probe
        self.reader = reader
        self.bls = bls
        self.functions: dict[str, Block] = {}
        self.assignments: list[Assignment] = []
        self.saves: list[SaveEnv] = []
        self.notes: list[Note] = []
        self.loaded: dict[str, str] | None = None
        self.blscfg_line: int | None = None
        self.depth = 0
        self.steps = 0

    def note(self, line: int, message: str, path: str | None = None) -> None:
        self.notes.append(Note(path or self.path, line, message))

    # Expansion ---------------------------------------------------------------------------

    @staticmethod
    def expand(
        words: Sequence[Word], env: Mapping[str, str], positional: Sequence[str]
    ) -> list[str]:
        """GRUB's argument expansion: unquoted variables split on blanks, empty ones vanish."""
        out: list[str] = []
        for word in words:
            fields: list[str] = []
            current: list[str] = []
            present = False
            for part in word:
                if not part.var:
                    current.append(part.text)
                    present = present or part.quoted or bool(part.text)
                    continue
                value = _lookup(part.text, env, positional)
                if part.quoted:
                    current.append(value)
                    present = True
                    continue
                for index, piece in enumerate(value.split()):
                    if index:
                        fields.append("".join(current))
                        current = []
                    current.append(piece)
                    present = True
            if present:
                fields.append("".join(current))
            out.extend(fields)
        return out

    # Statements --------------------------------------------------------------------------

    def run(self, block: Block, scope: _Scope) -> int:
        status = 0
        for statement in block:
            self.steps += 1
            if self.steps > _MAX_STEPS:
                raise _Budget
            status = self.statement(statement, scope)
        return status

    def statement(self, statement: Statement, scope: _Scope) -> int:
        if isinstance(statement, Command):
            return self.command(statement, scope)
        if isinstance(statement, If):
            for cond, body in statement.branches:
                if self.run(cond, scope) == 0:
                    return self.run(body, scope)
            if statement.otherwise is not None:
                return self.run(statement.otherwise, scope)
            return 0
        if isinstance(statement, Loop):
            self.note(statement.line, f"'{statement.keyword}' loop not evaluated statically")
            return 0
        if isinstance(statement, Function):
            self.functions[statement.name] = statement.body
            return 0
        self.menu(statement, scope)
        return 0

    def assign(self, scope: _Scope, name: str, value: str, line: int, source: str) -> None:
        scope.env[name] = value
        if name in _STEERING:
            self.assignments.append(Assignment(name, value, scope.path, line, source))

    def command(self, command: Command, scope: _Scope) -> int:
        argv = self.expand(command.words, scope.env, scope.positional)
        if not argv:
            return 0
        name, args = argv[0], argv[1:]
        line = command.line
        if name == "!" and len(command.words) > 1:
            return 0 if self.command(Command(command.words[1:], line), scope) else 1
        if "=" in name and not name.startswith("=") and len(argv) == 1:
            key, _sep, value = name.partition("=")
            if _NAME_RE.fullmatch(key):
                self.assign(scope, key, value, line, render_words(command.words))
                return 0
        if name == "set":
            for arg in args:
                key, sep, value = arg.partition("=")
                if sep:
                    self.assign(scope, key, value, line, render_words(command.words))
            return 0
        if name == "unset":
            for arg in args:
                scope.env.pop(arg, None)
                if arg in _STEERING:
                    self.assignments.append(Assignment(arg, "", scope.path, line, f"unset {arg}"))
            return 0
        if name == "export":
            scope.exported.update(args)
            return 0
        if name in ("[", "test"):
            return self.test(args, line, scope)
        if name == "true":
            return 0
        if name == "false":
            return 1
        if name == "load_env":
            return self.load_env(args, line, scope)
        if name == "save_env":
            names = tuple(a for a in args if not a.startswith("-"))
            values = tuple((n, scope.env.get(n, "")) for n in names)
            self.saves.append(SaveEnv(names, values, line))
            return 0
        if name == "source":
            return self.source(args, line, scope)
        if name == "configfile":
            self.note(line, "configfile replaces the menu; not followed statically")
            return 0
        if name == "blscfg":
            self.blscfg_line = line
            if self.bls is not None:
                scope.menu.extend(self.bls(scope.env))
            else:
                self.note(line, "blscfg: no BLS entries directory to read")
            return 0
        if name == "return":
            raise _Return
        if name in self.functions:
            if self.depth > _MAX_DEPTH:
                self.note(line, f"function {name} nested too deeply; stopped")
                return 0
            self.depth += 1
            saved = scope.positional
            scope.positional = tuple(args)
            try:
                return self.run(self.functions[name], scope)
            except _Return:
                return 0
            finally:
                scope.positional = saved
                self.depth -= 1
        if name in ("linux", "linux16", "linuxefi") and scope.entry is not None:
            scope.entry.linux = args[0] if args else None
            scope.entry.linux_args = tuple(args[1:])
            return 0
        if name in ("initrd", "initrd16", "initrdefi") and scope.entry is not None:
            scope.entry.initrd = tuple(args)
            return 0
        if name in _HARDWARE_TESTS:
            self.note(line, f"'{name}' depends on the machine at boot; assumed false")
            return 1
        if name in ("menuentry", "submenu"):
            self.note(line, f"{name} without a '{{' body (--source?) not evaluated")
            return 0
        return 0  # insmod, search, echo, terminal_*, loadfont...: assumed to succeed

    def test(self, args: list[str], line: int, scope: _Scope) -> int:
        if args and args[-1] == "]":
            args = args[:-1]
        result = _evaluate_test(args, scope.env, self.probe)
        if result is None:
            self.note(line, f"cannot decide '[ {' '.join(args)} ]' offline; assumed false")
            return 1
        return 0 if result else 1

    def load_env(self, args: list[str], line: int, scope: _Scope) -> int:
        if any(a.startswith("-f") or a == "--file" for a in args):
            self.note(line, "load_env -f: only the default grubenv is read")
        if self.grubenv is None:
            if self.grubenv_problem is not None:
                self.note(
                    line,
                    f"load_env: {self.grubenv_problem} (error: invalid environment block.); "
                    "no variable is set",
                )
            else:
                self.note(line, "load_env: no grubenv to read")
            return 1
        wanted = [a for a in args if not a.startswith("-")]
        loaded = {k: v for k, v in self.grubenv.items() if not wanted or k in wanted}
        self.loaded = dict(loaded)
        for key, value in loaded.items():
            self.assign(scope, key, value, line, f"load_env: {key}={value}")
        return 0

    def source(self, args: list[str], line: int, scope: _Scope) -> int:
        if not args:
            return 1
        text = self.reader(args[0]) if self.reader is not None else None
        if text is None:
            self.note(line, f"source {args[0]}: file not available; skipped")
            return 1
        if self.depth > _MAX_DEPTH:
            self.note(line, f"source {args[0]}: nested too deeply; skipped")
            return 1
        block = parse_script(text, args[0])
        saved_path = scope.path
        scope.path = args[0]
        self.depth += 1
        try:
            return self.run(block, scope)
        finally:
            self.depth -= 1
            scope.path = saved_path

    # Menus -------------------------------------------------------------------------------

    def menu(self, block: MenuBlock, scope: _Scope) -> None:
        argv = self.expand(block.words, scope.env, scope.positional)
        entry = _menu_entry(block, argv, scope.path)
        if isinstance(entry, str):
            self.note(block.line, f"{block.keyword} not registered: {entry}")
            return
        scope.menu.append(entry)
        scope.pending.append((entry, block))

    def finish(self, scope: _Scope, chosen: str = "") -> None:
        """Run entry bodies: submenus in a new exported-only context, entries for linux/initrd.

        ``chosen`` is set as GRUB sets it while executing an entry (the id path, ``>`` doubled
        inside ids), so ``savedefault`` records what it really would.
        """
        for entry, block in scope.pending:
            path = chosen + entry.id.replace(">", ">>")
            saved = (list(self.assignments), list(self.saves))
            if entry.is_submenu:
                child = _Scope(
                    env={k: v for k, v in scope.env.items() if k in scope.exported},
                    exported=set(scope.exported),
                    positional=entry.args,
                    path=scope.path,
                )
                child.env["chosen"] = path
                child.exported.add("chosen")
                self.run_body(block.body, child, block.line)
                self.finish(child, path + ">")
                entry.children = child.menu
            else:
                body_scope = _Scope(
                    env={**scope.env, "chosen": path},
                    exported=set(scope.exported),
                    positional=entry.args,
                    path=scope.path,
                    entry=entry,
                )
                before = len(self.notes)
                self.run_body(block.body, body_scope, block.line)
                entry.body_notes = self.notes[before:]
                del self.notes[before:]
                entry.root = body_scope.env.get("root")
                entry.saves = tuple(self.saves[len(saved[1]) :])
            self.assignments, self.saves = saved

    def run_body(self, body: Block, scope: _Scope, line: int) -> None:
        self.steps = 0
        try:
            self.run(body, scope)
        except _Return:
            pass
        except _Budget:
            self.note(line, f"stopped after {_MAX_STEPS} statements (runaway recursion?)")
        except GrubCfgError as exc:
            self.note(line, f"body not evaluated: {exc}")


@dataclass(slots=True)
class _Scope:
    env: dict[str, str]
    exported: set[str]
    positional: tuple[str, ...]
    path: str
    entry: MenuEntry | None = None
    menu: list[MenuEntry] = field(default_factory=list)
    pending: list[tuple[MenuEntry, MenuBlock]] = field(default_factory=list)


def _lookup(name: str, env: Mapping[str, str], positional: Sequence[str]) -> str:
    if name.isdigit():
        index = int(name)
        return positional[index - 1] if 0 < index <= len(positional) else ""
    if name in ("@", "*"):
        return " ".join(positional)
    if name == "#":
        return str(len(positional))
    if name == "?":
        return "0"
    return env.get(name, "")


def _evaluate_test(args: list[str], env: Mapping[str, str], probe: FileProbe | None) -> bool | None:
    """GRUB's ``test``/``[`` for the forms grub.cfg generators use; ``None`` if undecidable."""
    if "-o" in args:
        cut = args.index("-o")
        left = _evaluate_test(args[:cut], env, probe)
        right = _evaluate_test(args[cut + 1 :], env, probe)
        if left is True or right is True:
            return True
        return None if left is None or right is None else False
    if "-a" in args:
        cut = args.index("-a")
        left = _evaluate_test(args[:cut], env, probe)
        right = _evaluate_test(args[cut + 1 :], env, probe)
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if args and args[0] == "!":
        inner = _evaluate_test(args[1:], env, probe)
        return None if inner is None else not inner
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op == "-n":
            return operand != ""
        if op == "-z":
            return operand == ""
        if op in ("-f", "-e", "-s", "-d"):
            return probe(op, operand) if probe is not None else None
        return None
    if len(args) == 3:
        lhs, op, rhs = args
        if op in ("=", "=="):
            return lhs == rhs
        if op == "!=":
            return lhs != rhs
        numeric = {"-eq": 0, "-ne": 1, "-lt": 2, "-le": 3, "-gt": 4, "-ge": 5}
        if op in numeric:
            try:
                a, b = int(lhs), int(rhs)
            except ValueError:
                return None
            return (a == b, a != b, a < b, a <= b, a > b, a >= b)[numeric[op]]
    return None


def evaluate(
    script: Block,
    *,
    path: str = "grub.cfg",
    grubenv: Mapping[str, str] | None = None,
    grubenv_problem: str | None = None,
    variables: Mapping[str, str] | None = None,
    probe: FileProbe | None = None,
    reader: FileReader | None = None,
    bls: BlsProvider | None = None,
) -> GrubConfig:
    """Run ``script`` as GRUB's normal mode would, up to the point the menu is shown.

    Args:
        script: the parsed grub.cfg.
        path: its name, for messages.
        grubenv: the variables ``load_env`` reads (``None``: no readable grubenv).
        grubenv_problem: why the grubenv that exists cannot be read (``load_env`` then
            fails, rather than finding no file).
        variables: what core.img and normal.mod set first (``prefix``, ``root``...), on top
            of :data:`FEATURES`.
        probe: answers ``[ -f/-e/-s/-d PATH ]``.
        reader: reads files for ``source``.
        bls: builds the entries of ``blscfg``.
    """
    evaluator = _Evaluator(path, grubenv, probe, reader, bls, grubenv_problem=grubenv_problem)
    env = dict(FEATURES)
    env.update(variables or {})
    scope = _Scope(env=env, exported=set(), positional=(), path=path)
    try:
        evaluator.run(script, scope)
    except _Return:
        pass
    except _Budget:
        evaluator.note(0, f"stopped after {_MAX_STEPS} statements (runaway recursion?)")
    top_env = dict(scope.env)
    evaluator.finish(scope)
    return GrubConfig(
        path=path,
        entries=scope.menu,
        variables=top_env,
        exported=set(scope.exported),
        assignments=evaluator.assignments,
        save_env=evaluator.saves,
        loaded_env=evaluator.loaded,
        notes=evaluator.notes,
        blscfg_line=evaluator.blscfg_line,
    )


def load_config(
    text: str,
    path: str = "grub.cfg",
    *,
    grubenv: Mapping[str, str] | None = None,
    grubenv_problem: str | None = None,
    variables: Mapping[str, str] | None = None,
    probe: FileProbe | None = None,
    reader: FileReader | None = None,
    bls: BlsProvider | None = None,
) -> GrubConfig:
    """Parse and evaluate a grub.cfg in one step (arguments as for :func:`evaluate`)."""
    return evaluate(
        parse_script(text, path),
        path=path,
        grubenv=grubenv,
        grubenv_problem=grubenv_problem,
        variables=variables,
        probe=probe,
        reader=reader,
        bls=bls,
    )
