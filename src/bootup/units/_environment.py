"""Environment variables: ``Environment=``, ``EnvironmentFile=`` and the files it names.

Why a module of its own: ``Environment="A=a b" C=d`` holds two assignments, and an
environment file follows shell-like quoting rules of its own (``parse_env_file_internal()``
of env-file.c), with systemd's diagnostics for every skipped line. Public through
:mod:`bootup.units.values`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bootup.errors import UnitSyntaxError
from bootup.units._valuecore import _WHITESPACE, UnitValueError, _b
from bootup.units._words import ExtractFlags, WordError, extract_words
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.syntax import escape_invalid_utf8, is_valid_utf8

_ENV_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def env_name_is_valid(name: str) -> bool:
    """A shell variable name: letters, digits, ``_``, not starting with a digit."""
    return bool(name) and not name[0].isdigit() and all(ch in _ENV_NAME_CHARS for ch in name)


def _env_value_is_valid(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any((ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in value)


def env_assignment_is_valid(assignment: str) -> bool:
    """``NAME=value`` with a valid name and a value without control characters but tab/newline."""
    name, equals, value = assignment.partition("=")
    return bool(equals) and env_name_is_valid(name) and _env_value_is_valid(value)


def parse_environment(
    value: str,
    path: str,
    line: int,
    expand: Callable[[str], str] | None = None,
) -> tuple[list[tuple[str, str]] | None, list[Diagnostic]]:
    r"""Parse one ``Environment=`` value (``config_parse_environ()``).

    Words are split at blanks with quotes removed and C escapes decoded, so
    ``"A=a b" C=\x41`` is ``[("A", "a b"), ("C", "A")]``. ``expand`` resolves specifiers in
    each word (a :class:`~bootup.units.specifiers.SpecifierError` skips that word, as in
    systemd). Invalid assignments are skipped with systemd's warning.

    Returns:
        ``(None, [])`` for an empty value, which resets the environment list; else the
        assignments in order (a later one for the same name wins when applied) and the
        diagnostics.
    """
    if not value:
        return None, []
    diagnostics: list[Diagnostic] = []
    try:
        words = extract_words(value, ExtractFlags.CUNESCAPE | ExtractFlags.UNQUOTE)
    except WordError:
        return [], [Diagnostic(path, line, Severity.WARNING, f"Invalid syntax, ignoring: {value}")]
    result: list[tuple[str, str]] = []
    for word in words:
        resolved = word
        if expand is not None:
            try:
                resolved = expand(word)
            except UnitSyntaxError as exc:
                reason = getattr(exc, "errno_text", "") or str(exc)
                diagnostics.append(
                    Diagnostic(
                        path,
                        line,
                        Severity.WARNING,
                        f"Failed to resolve specifiers in {word}, ignoring: {reason}",
                    )
                )
                continue
        if not env_assignment_is_valid(resolved):
            diagnostics.append(
                Diagnostic(
                    path,
                    line,
                    Severity.WARNING,
                    f"Invalid environment assignment, ignoring: {resolved}",
                )
            )
            continue
        name, _, rest = resolved.partition("=")
        result.append((name, rest))
    return result, diagnostics


@dataclass(frozen=True, slots=True)
class EnvironmentFileSpec:
    """One ``EnvironmentFile=`` entry: the path, and whether a missing file is fine (``-``)."""

    path: str
    ignore_missing: bool


def parse_environment_file_spec(value: str) -> EnvironmentFileSpec | None:
    """Parse an ``EnvironmentFile=`` value; ``None`` for the empty value (reset the list).

    Raises:
        UnitValueError: the path (after an optional ``-``) is not absolute.
    """
    if not value:
        return None
    ignore = value.startswith("-")
    path = value[1:] if ignore else value
    if not path.startswith("/"):
        raise UnitValueError(value, "an absolute path, optionally prefixed with '-'")
    return EnvironmentFileSpec(path, ignore)


_NEWLINE = "\n\r"
_SHELL_NEED_ESCAPE = '"\\`$'


def parse_environment_file(
    data: bytes | str, path: str
) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    r"""Parse the contents of an ``EnvironmentFile=`` as systemd's ``load_env_file()`` does.

    The format is shell-like but not a shell: ``KEY=value`` per line, ``#``/``;`` comments
    at the start of a line, single quotes literal, double quotes with ``\"``, ``\\``,
    ``\``` and ``\$`` escapes, a backslash-newline continuing the line, blanks around an
    unquoted value dropped. There is no variable expansion and no ``export``: a line
    ``export A=1`` yields the invalid name ``export A`` and is skipped with systemd's
    "Ignoring invalid environment assignment" error, as the real manager does.

    Returns:
        The valid assignments in file order (a later one for a name wins when applied),
        and diagnostics for invalid UTF-8, invalid names and lines without ``=``.
    """
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    pairs: list[tuple[str, str | None, int]] = []
    key: list[str] = []
    value: list[str] | None = None
    last_key_ws: int | None = None
    last_value_ws: int | None = None
    line = 1
    state = "PRE_KEY"

    def add(ch: str) -> None:
        nonlocal value
        if value is None:
            value = []
        value.append(ch)

    def push(chomp: bool) -> None:
        nonlocal key, value
        name = "".join(key[:last_key_ws] if last_key_ws is not None else key)
        if value is not None and chomp and last_value_ws is not None:
            del value[last_value_ws:]
        pairs.append((name, None if value is None else "".join(value), line))
        key = []
        value = None

    for ch in text:
        if state == "PRE_KEY":
            if ch in "#;":
                state = "COMMENT"
            elif ch not in _WHITESPACE:
                state = "KEY"
                last_key_ws = None
                key.append(ch)
        elif state == "KEY":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
                key = []
            elif ch == "=":
                state = "PRE_VALUE"
                last_value_ws = None
            else:
                if ch not in _WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(ch)
        elif state == "PRE_VALUE":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
                push(chomp=False)
            elif ch == "'":
                state = "SINGLE"
            elif ch == '"':
                state = "DOUBLE"
            elif ch == "\\":
                state = "VALUE_ESCAPE"
            elif ch not in _WHITESPACE:
                state = "VALUE"
                add(ch)
        elif state == "VALUE":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
                push(chomp=True)
            elif ch == "\\":
                state = "VALUE_ESCAPE"
                last_value_ws = None
            else:
                if ch not in _WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value) if value is not None else 0
                add(ch)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if ch not in _NEWLINE:
                add(ch)
        elif state == "SINGLE":
            if ch == "'":
                state = "PRE_VALUE"
            else:
                add(ch)
        elif state == "DOUBLE":
            if ch == '"':
                state = "PRE_VALUE"
            elif ch == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                add(ch)
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if ch in _SHELL_NEED_ESCAPE:
                add(ch)
            elif ch != "\n":
                add("\\")
                add(ch)
        elif state == "COMMENT":
            if ch == "\\":
                state = "COMMENT_ESCAPE"
            elif ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
        elif state == "COMMENT_ESCAPE":
            state = "COMMENT"
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        push(chomp=state == "VALUE")

    result: list[tuple[str, str]] = []
    diagnostics: list[Diagnostic] = []
    for name, raw_value, at_line in pairs:
        if not _is_clean(name):
            diagnostics.append(
                Diagnostic(
                    path,
                    at_line,
                    Severity.ERROR,
                    f"{path}:{at_line}: invalid UTF-8 in key '{_clean(name)}', ignoring.",
                )
            )
            continue
        if raw_value is not None and not _is_clean(raw_value):
            diagnostics.append(
                Diagnostic(
                    path,
                    at_line,
                    Severity.ERROR,
                    f"{path}:{at_line}: invalid UTF-8 value for key {name}: "
                    f"'{_clean(raw_value)}', ignoring.",
                )
            )
            continue
        assignment = f"{name}={raw_value or ''}"
        if not env_assignment_is_valid(assignment):
            diagnostics.append(
                Diagnostic(
                    path,
                    at_line,
                    Severity.ERROR,
                    f"Ignoring invalid environment assignment '{assignment}': {path}",
                )
            )
            continue
        result.append((name, raw_value or ""))
    return result, diagnostics


def _is_clean(text: str) -> bool:
    return is_valid_utf8(_b(text))


def _clean(text: str) -> str:
    return escape_invalid_utf8(_b(text))
