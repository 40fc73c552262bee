r"""``/etc/default/grub``: the settings grub-mkconfig bakes into grub.cfg, and what it bakes.

The file is a shell fragment that ``grub-mkconfig`` sources, so values follow sh quoting:
single quotes are literal, double quotes expand ``$VAR`` and keep ``\\`` except before
``$ ` " \\`` and newline, unquoted text expands variables and drops backslashes. Only plain
assignments (optionally ``export``-ed) are evaluated; command substitutions such as Debian's
``GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian``` cannot be run offline,
so the value is kept as written and the setting is flagged. Anything else in the file is noted,
not executed.

The point of reading it is "what will ``set default=`` be after the next update-grub": 00_header
turns an empty ``GRUB_DEFAULT`` into ``0``, ``saved`` into ``${saved_entry}``, and bakes
anything else in literally. :func:`predicted_default` gives that string, so ``explain`` can tell
when grub.cfg is stale and ``set-default`` can say that ``GRUB_DEFAULT=saved`` is missing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bootup.errors import BootFormatError

__all__ = (
    "DefaultGrub",
    "DefaultGrubError",
    "Setting",
    "load",
    "parse",
    "predicted_default",
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DefaultGrubError(BootFormatError):
    """``/etc/default/grub`` does not parse as the shell assignments grub-mkconfig sources.

    Attributes:
        path: the file.
        line: 1-based line.
        expected: what sh needs there.
        found: what the file has.
    """

    def __init__(self, path: str, line: int, expected: str, found: str) -> None:
        super().__init__(f"{path}:{line}: expected {expected}, found {found}")
        self.path = path
        self.line = line
        self.expected = expected
        self.found = found


@dataclass(frozen=True, slots=True)
class Setting:
    """One assignment: its value after sh expansion, and whether that value is certain."""

    name: str
    value: str
    line: int
    raw: str
    exact: bool = True


@dataclass(slots=True)
class DefaultGrub:
    """The settings of one file, last assignment wins (as when sh sources it)."""

    path: str
    settings: dict[str, Setting] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value sh would give ``name`` after sourcing the file."""
        setting = self.settings.get(name)
        return setting.value if setting is not None else default

    def as_dict(self) -> dict[str, str]:
        """Every setting as ``name -> value``."""
        return {name: setting.value for name, setting in self.settings.items()}


class _Reader:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1

    def error(self, expected: str, found: str) -> DefaultGrubError:
        return DefaultGrubError(self.path, self.line, expected, found)

    def words(self, variables: dict[str, str]) -> tuple[list[str], bool, int, str]:
        """One simple command: expanded words, whether exact, its line, its raw text."""
        text = self.text
        words: list[str] = []
        exact = True
        start_line = self.line
        start = self.pos
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t":
                self.pos += 1
            elif ch == "\\" and text.startswith("\\\n", self.pos):
                self.pos += 2
                self.line += 1
            elif ch == "#":
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
            elif ch in "\n;":
                self.pos += 1
                if ch == "\n":
                    self.line += 1
                if words:
                    break
                start_line, start = self.line, self.pos
            else:
                word, word_exact = self.word(variables)
                words.append(word)
                exact = exact and word_exact
        return words, exact, start_line, text[start : self.pos].strip()

    def word(self, variables: dict[str, str]) -> tuple[str, bool]:
        text = self.text
        out: list[str] = []
        exact = True
        while self.pos < len(text) and text[self.pos] not in " \t\n;":
            ch = text[self.pos]
            if ch == "\\":
                if text.startswith("\\\n", self.pos):
                    self.line += 1
                elif self.pos + 1 < len(text):
                    out.append(text[self.pos + 1])
                self.pos += 2
            elif ch == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise self.error("a closing single quote", "the end of the file")
                chunk = text[self.pos + 1 : end]
                self.line += chunk.count("\n")
                out.append(chunk)
                self.pos = end + 1
            elif ch == '"':
                self.pos += 1
                chunk, chunk_exact = self.double_quoted(variables)
                out.append(chunk)
                exact = exact and chunk_exact
            elif ch == "`" or text.startswith("$(", self.pos):
                out.append(self.substitution())
                exact = False
            elif ch == "$":
                value, value_exact = self.variable(variables)
                out.append(value)
                exact = exact and value_exact
            elif ch in "|&<>()":
                raise self.error("a plain assignment", repr(ch))
            else:
                out.append(ch)
                self.pos += 1
        return "".join(out), exact

    def double_quoted(self, variables: dict[str, str]) -> tuple[str, bool]:
        text = self.text
        out: list[str] = []
        exact = True
        opened = self.line
        while True:
            if self.pos >= len(text):
                self.line = opened
                raise self.error("a closing double quote", "the end of the file")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out), exact
            if ch == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '$`"\\\n':
                if text[self.pos + 1] == "\n":
                    self.line += 1
                else:
                    out.append(text[self.pos + 1])
                self.pos += 2
            elif ch == "`" or text.startswith("$(", self.pos):
                out.append(self.substitution())
                exact = False
            elif ch == "$":
                value, value_exact = self.variable(variables)
                out.append(value)
                exact = exact and value_exact
            else:
                if ch == "\n":
                    self.line += 1
                out.append(ch)
                self.pos += 1

    def substitution(self) -> str:
        text = self.text
        if text[self.pos] == "`":
            end = text.find("`", self.pos + 1)
            if end < 0:
                raise self.error("a closing backquote", "the end of the file")
        else:
            depth = 0
            end = self.pos + 1
            while end < len(text):
                if text[end] == "(":
                    depth += 1
                elif text[end] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                end += 1
            if end >= len(text):
                raise self.error("a closing ')' of $(...)", "the end of the file")
        raw = text[self.pos : end + 1]
        self.line += raw.count("\n")
        self.pos = end + 1
        return raw

    def variable(self, variables: dict[str, str]) -> tuple[str, bool]:
        text = self.text
        if text.startswith("${", self.pos):
            end = text.find("}", self.pos)
            if end < 0:
                raise self.error("a closing '}'", "the end of the file")
            inner = text[self.pos + 2 : end]
            self.pos = end + 1
            if _NAME.fullmatch(inner):
                return variables.get(inner, ""), True
            return "${" + inner + "}", False
        match = _NAME.match(text, self.pos + 1)
        if match is None:
            self.pos += 1
            return "$", True
        self.pos = match.end()
        name = match.group()
        return variables.get(name, ""), True


def parse(text: str, path: str = "/etc/default/grub") -> DefaultGrub:
    """Parse the assignments of an ``/etc/default/grub`` text."""
    result = DefaultGrub(path=path)
    reader = _Reader(text, path)
    variables: dict[str, str] = {}
    while reader.pos < len(text):
        words, exact, line, raw = reader.words(variables)
        if not words:
            continue
        if words[0] == "export":
            words = words[1:]
        assignments: list[tuple[str, str]] = []
        for word in words:
            name, sep, value = word.partition("=")
            if not sep or not _NAME.fullmatch(name):
                assignments = []
                break
            assignments.append((name, value))
        if not assignments:
            result.notes.append(f"{path}:{line}: not an assignment, not evaluated: {raw}")
            continue
        for name, value in assignments:
            variables[name] = value
            result.settings[name] = Setting(name, value, line, raw, exact)
            if not exact:
                result.notes.append(
                    f"{path}:{line}: {name} uses a command substitution or an expansion that "
                    f"cannot be evaluated offline; kept as written"
                )
    return result


def load(path: str | os.PathLike[str]) -> DefaultGrub:
    """Read and parse an ``/etc/default/grub`` file (UTF-8, undecodable bytes kept)."""
    name = os.fspath(path)
    text = Path(name).read_text(encoding="utf-8", errors="surrogateescape")
    return parse(text, name)


def predicted_default(settings: DefaultGrub) -> str:
    """The value 00_header bakes into ``set default="..."`` for these settings."""
    value = settings.get("GRUB_DEFAULT", "") or ""
    if value == "":
        return "0"
    if value == "saved":
        return "${saved_entry}"
    return value
