r"""GRUB script syntax: the lexer, the parser and the statements of a ``grub.cfg``.

Why a module of its own: reading GRUB script is a job apart from running it. Quoting follows
grub-core/script/yylex.l (single quotes are literal, double quotes keep ``\\`` except before
``$ " \\`` and newline, unquoted ``$var`` expansions are split on blanks and vanish when
empty), and the statements (:class:`Command`, :class:`If`, :class:`Loop`, :class:`Function`,
:class:`MenuBlock`) are what :mod:`bootup.boot.grubcfg` evaluates. Public through
:mod:`bootup.boot.grubcfg`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bootup.errors import BootFormatError

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
                self._escaped(literal)
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

    def _escaped(self, literal: list[str]) -> None:
        """Take the backslash at ``pos`` and the character it escapes.

        An escaped newline joins the lines (it only advances the line count); any other
        character is kept literally.
        """
        nxt = self.text[self.pos + 1]
        if nxt == "\n":
            self.line += 1
        else:
            literal.append(nxt)
        self.pos += 2

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
                self._escaped(literal)
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
