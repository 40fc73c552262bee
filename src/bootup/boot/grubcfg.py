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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bootup.errors import BootFormatError

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

_KEYWORDS = frozenset(
    {"if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until",
     "function", "case", "esac", "select", "[[", "]]"}
)  # fmt: skip
_SPECIAL_VARS = "?#*@"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_WORD_END = frozenset(" \t\n;{}|&<>")
_MAX_DEPTH = 32


class GrubCfgError(BootFormatError):
    """A grub.cfg does not parse as GRUB script (GRUB would reject that command too).

    Attributes:
        path: the file.
        line: 1-based line of the problem.
        expected: what the grammar needs there.
        found: what the file has.
    """

    def __init__(self, path: str, line: int, expected: str, found: str) -> None:
        super().__init__(f"{path}:{line}: syntax error: expected {expected}, found {found}")
        self.path = path
        self.line = line
        self.expected = expected
        self.found = found


# Syntax ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a word: literal text, or a variable reference (``var=True``)."""

    text: str
    quoted: bool
    var: bool = False


Word = tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """A simple command: its words before expansion."""

    words: tuple[Word, ...]
    line: int


@dataclass(frozen=True, slots=True)
class If:
    """``if C; then B; elif C; then B; else B; fi``."""

    branches: tuple[tuple[Block, Block], ...]
    otherwise: Block | None
    line: int


@dataclass(frozen=True, slots=True)
class Loop:
    """``for``/``while``/``until``: parsed, not run (noted when met)."""

    keyword: str
    body: Block
    line: int


@dataclass(frozen=True, slots=True)
class Function:
    """``function name { body }``."""

    name: str
    body: Block
    line: int


@dataclass(frozen=True, slots=True)
class MenuBlock:
    """``menuentry``/``submenu`` with its argument words and body."""

    keyword: str
    words: tuple[Word, ...]
    body: Block
    line: int


Statement = Command | If | Loop | Function | MenuBlock
Block = tuple[Statement, ...]


class _Lexer:
    """Tokens of GRUB script: words (as parts), ``;``/newline separators and braces."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1

    def error(self, expected: str, found: str) -> GrubCfgError:
        return GrubCfgError(self.path, self.line, expected, found)

    def tokens(self) -> list[tuple[str, Word, int]]:
        out: list[tuple[str, Word, int]] = []
        text = self.text
        n = len(text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r":
                self.pos += 1
            elif ch == "\\" and text.startswith("\\\n", self.pos):
                self.pos += 2
                self.line += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif ch in "\n;":
                out.append(("sep", (), self.line))
                if ch == "\n":
                    self.line += 1
                self.pos += 1
            elif ch in "{}":
                out.append((ch, (), self.line))
                self.pos += 1
            elif ch in "|&<>":
                raise self.error("a word", f"{ch!r} (GRUB script has no pipes or redirections)")
            else:
                line = self.line
                out.append(("word", self._word(), line))
        out.append(("eof", (), self.line))
        return out

    def _word(self) -> Word:
        text = self.text
        n = len(text)
        parts: list[Part] = []
        literal: list[str] = []

        def flush(quoted: bool) -> None:
            if literal or quoted:
                parts.append(Part("".join(literal), quoted))
            literal.clear()

        while self.pos < n and text[self.pos] not in _WORD_END:
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= n:
                    self.pos += 1
                    continue
                nxt = text[self.pos + 1]
                if nxt == "\n":
                    self.line += 1
                else:
                    literal.append(nxt)
                self.pos += 2
            elif ch == "'":
                flush(False)
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise self.error("a closing single quote", "the end of the file")
                body = text[self.pos + 1 : end]
                self.line += body.count("\n")
                parts.append(Part(body, True))
                self.pos = end + 1
            elif ch == '"' or (ch == "$" and text.startswith('$"', self.pos)):
                flush(False)
                self.pos += 2 if ch == "$" else 1
                parts.extend(self._double_quoted())
            elif ch == "$":
                flush(False)
                parts.append(Part(self._variable(), False, var=True))
            else:
                literal.append(ch)
                self.pos += 1
        flush(False)
        return tuple(parts)

    def _double_quoted(self) -> list[Part]:
        text = self.text
        n = len(text)
        parts: list[Part] = [Part("", True)]
        literal: list[str] = []
        opened = self.line
        while True:
            if self.pos >= n:
                self.line = opened
                raise self.error("a closing double quote", "the end of the file")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                break
            if ch == "\\" and self.pos + 1 < n and text[self.pos + 1] in '$\\"\n':
                nxt = text[self.pos + 1]
                if nxt == "\n":
                    self.line += 1
                else:
                    literal.append(nxt)
                self.pos += 2
            elif ch == "$":
                if literal:
                    parts.append(Part("".join(literal), True))
                    literal.clear()
                parts.append(Part(self._variable(), True, var=True))
            else:
                if ch == "\n":
                    self.line += 1
                literal.append(ch)
                self.pos += 1
        if literal:
            parts.append(Part("".join(literal), True))
        return parts

    def _variable(self) -> str:
        text = self.text
        self.pos += 1  # the '$'
        if self.pos < len(text) and text[self.pos] == "{":
            end = text.find("}", self.pos)
            name = text[self.pos + 1 : end] if end >= 0 else ""
            if end < 0 or not (_NAME_RE.fullmatch(name) or name in tuple(_SPECIAL_VARS)):
                found = text[self.pos : self.pos + 20].split("\n", 1)[0]
                raise self.error("a variable name in ${...}", repr(found))
            self.pos = end + 1
            return name
        if self.pos < len(text) and text[self.pos] in _SPECIAL_VARS:
            self.pos += 1
            return text[self.pos - 1]
        match = _NAME_RE.match(text, self.pos)
        if match is None:
            found = text[self.pos : self.pos + 1] or "the end of the file"
            raise self.error("a variable name after '$'", repr(found))
        self.pos = match.end()
        return match.group()


def render_words(words: Sequence[Word]) -> str:
    """Words back as source text (variables as ``${name}``), for messages that quote a line."""
    rendered: list[str] = []
    for word in words:
        text: list[str] = []
        in_quotes = False
        for part in word:
            if part.quoted != in_quotes:
                text.append('"')
                in_quotes = part.quoted
            text.append(f"${{{part.text}}}" if part.var else part.text)
        if in_quotes:
            text.append('"')
        rendered.append("".join(text))
    return " ".join(rendered)


def _plain(word: Word) -> str | None:
    """The text of a word made of one unquoted literal (keywords must be written so)."""
    if len(word) == 1 and not word[0].quoted and not word[0].var:
        return word[0].text
    return None


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.tokens = _Lexer(text, path).tokens()
        self.i = 0

    def error(self, expected: str) -> GrubCfgError:
        kind, word, line = self.tokens[self.i]
        found = {"sep": "end of command", "eof": "the end of the file"}.get(kind, repr(kind))
        if kind == "word":
            found = repr(_plain(word) or "".join(p.text for p in word))
        return GrubCfgError(self.path, line, expected, found)

    def peek_keyword(self) -> str | None:
        kind, word, _line = self.tokens[self.i]
        return _plain(word) if kind == "word" else None

    def skip_seps(self) -> None:
        while self.tokens[self.i][0] == "sep":
            self.i += 1

    def expect_keyword(self, keyword: str) -> None:
        self.skip_seps()
        if self.peek_keyword() != keyword:
            raise self.error(repr(keyword))
        self.i += 1

    def block(self, terminators: frozenset[str], depth: int) -> Block:
        if depth > _MAX_DEPTH:
            raise self.error(f"at most {_MAX_DEPTH} nested blocks")
        body: list[Statement] = []
        while True:
            self.skip_seps()
            kind = self.tokens[self.i][0]
            keyword = self.peek_keyword()
            if kind in {"eof", "}"} or (keyword is not None and keyword in terminators):
                return tuple(body)
            body.append(self.statement(depth))

    def statement(self, depth: int) -> Statement:
        kind, _word, line = self.tokens[self.i]
        keyword = self.peek_keyword()
        if kind == "{":
            raise self.error("a command")
        if keyword == "if":
            return self.if_statement(line, depth)
        if keyword in ("for", "while", "until"):
            return self.loop(keyword, line, depth)
        if keyword == "function":
            self.i += 1
            name_kind, name_word, _ = self.tokens[self.i]
            name = _plain(name_word) if name_kind == "word" else None
            if not name:
                raise self.error("a function name")
            self.i += 1
            self.skip_seps()
            return Function(name, self.braced(depth), line)
        if keyword in _KEYWORDS:
            raise self.error("a command")
        words: list[Word] = []
        while self.tokens[self.i][0] == "word":
            words.append(self.tokens[self.i][1])
            self.i += 1
        if keyword in ("menuentry", "submenu") and self.tokens[self.i][0] == "{":
            return MenuBlock(keyword, tuple(words[1:]), self.braced(depth), line)
        if self.tokens[self.i][0] in ("{", "}") and keyword in ("menuentry", "submenu"):
            raise self.error("'{' to open the menu entry body")
        if self.tokens[self.i][0] == "{":
            raise self.error("a command separator")
        return Command(tuple(words), line)

    def braced(self, depth: int) -> Block:
        if self.tokens[self.i][0] != "{":
            raise self.error("'{'")
        self.i += 1
        body = self.block(frozenset(), depth + 1)
        if self.tokens[self.i][0] != "}":
            raise self.error("'}'")
        self.i += 1
        return body

    def if_statement(self, line: int, depth: int) -> If:
        branches: list[tuple[Block, Block]] = []
        otherwise: Block | None = None
        self.i += 1
        while True:
            cond = self.block(frozenset({"then"}), depth + 1)
            self.expect_keyword("then")
            body = self.block(frozenset({"elif", "else", "fi"}), depth + 1)
            branches.append((cond, body))
            keyword = self.peek_keyword()
            self.i += 1
            if keyword == "elif":
                continue
            if keyword == "else":
                otherwise = self.block(frozenset({"fi"}), depth + 1)
                self.expect_keyword("fi")
            elif keyword != "fi":
                self.i -= 1
                raise self.error("'fi'")
            return If(tuple(branches), otherwise, line)

    def loop(self, keyword: str, line: int, depth: int) -> Loop:
        self.i += 1
        self.block(frozenset({"do"}), depth + 1)
        self.expect_keyword("do")
        body = self.block(frozenset({"done"}), depth + 1)
        self.expect_keyword("done")
        return Loop(keyword, body, line)


def parse_script(text: str, path: str = "grub.cfg") -> Block:
    """Parse GRUB script into statements; raises :class:`GrubCfgError` naming the line."""
    parser = _Parser(text, path)
    body = parser.block(frozenset(), 0)
    if parser.tokens[parser.i][0] != "eof":
        raise parser.error("a command")
    return body


# Evaluation ------------------------------------------------------------------------------


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


_STEERING = frozenset(
    {"default", "fallback", "timeout", "next_entry", "saved_entry", "prev_saved_entry",
     "boot_once", "menuentry_id_option"}
)  # fmt: skip
#: Conditions that read the hardware at boot (a CMOS bit, a held key): assumed false.
_HARDWARE_TESTS = frozenset({"cmostest", "keystatus"})
_MENU_OPTIONS_WITH_ARG = frozenset({"class", "users", "hotkey", "source", "id"})
_MENU_FLAGS = frozenset({"unrestricted"})

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
    ) -> None:
        self.path = path
        self.grubenv = grubenv
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
        variables: what core.img and normal.mod set first (``prefix``, ``root``...), on top
            of :data:`FEATURES`.
        probe: answers ``[ -f/-e/-s/-d PATH ]``.
        reader: reads files for ``source``.
        bls: builds the entries of ``blscfg``.
    """
    evaluator = _Evaluator(path, grubenv, probe, reader, bls)
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
        variables=variables,
        probe=probe,
        reader=reader,
        bls=bls,
    )
