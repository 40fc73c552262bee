r"""Command lines of ``ExecStart=`` and friends, parsed as systemd 252's ``config_parse_exec()``.

Why a module of its own: this is the value grammar with the most rules, and getting one wrong
runs a different program. A value holds one or more commands separated by a lone ``;``; each
command is ``[prefixes]path [args...]``:

* prefixes, in any order, each at most once: ``-`` (a failure exit is ignored), ``@`` (the
  second word is ``argv[0]``), ``:`` (no ``$VAR`` expansion), ``+`` (full privileges),
  ``!`` (no user/group change), ``!!`` (credentials only with ambient capabilities);
* words are split at blanks; single and double quotes group and are removed, anywhere in a
  word (``x"a b"y`` is one word ``xa by``); C escapes are decoded in and out of quotes
  (``\t``, ``\x41``, ``\101``, ``\u00e9``, ``\s``); an unknown escape such as ``\q`` or
  ``\ `` is kept verbatim with a warning;
* a lone ``;`` separates commands; ``\;`` as a whole word is a literal ``;`` argument;
  ``a;b`` is one word;
* specifiers (``%n``, ``%i``...) are resolved at load time by the callbacks the caller
  passes; ``$VAR`` and ``${VAR}`` stay as written until the command is run
  (:func:`expand_env_argv`).

A problem makes systemd either ignore the whole assignment (warning, when the command has
the ``-`` prefix) or refuse to load the unit ("Exec format error"); the diagnostics here
say which through ``fatal``. The result is checked against the ``Command Line:`` lines of
``systemd --test`` in ``tests/conformance/test_execline.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bootup.errors import UnitSyntaxError
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.values import ExtractFlags, WordError, extract_first_word, extract_words

__all__ = (
    "ExecCommand",
    "ExecParseResult",
    "expand_env",
    "expand_env_argv",
    "parse_exec",
    "quote_command_line",
    "shell_maybe_quote",
)

_WHITESPACE = " \t\n\r"
_ENOEXEC = "Exec format error"
_WORD_FLAGS = ExtractFlags.UNQUOTE | ExtractFlags.CUNESCAPE


@dataclass(frozen=True, slots=True)
class ExecCommand:
    """One command of an ``Exec*=`` setting.

    Attributes:
        path: the executable, simplified (``/bin//x`` -> ``/bin/x``); a plain name is
            looked up in ``$PATH`` when run.
        argv: the arguments including ``argv[0]`` (the path as written, or the word after
            it with ``@``).
        ignore_failure: ``-``: a failing exit status does not fail the unit.
        separate_argv0: ``@``.
        no_env_expand: ``:``: ``$VAR`` is passed through literally.
        fully_privileged: ``+``.
        no_setuid: ``!``.
        ambient_magic: ``!!``.
    """

    path: str
    argv: tuple[str, ...]
    ignore_failure: bool = False
    separate_argv0: bool = False
    no_env_expand: bool = False
    fully_privileged: bool = False
    no_setuid: bool = False
    ambient_magic: bool = False

    @property
    def prefix(self) -> str:
        """The prefix characters that give these flags, in a canonical order."""
        out = "-" if self.ignore_failure else ""
        out += "@" if self.separate_argv0 else ""
        out += ":" if self.no_env_expand else ""
        out += "+" if self.fully_privileged else ""
        out += "!" if self.no_setuid else ""
        out += "!!" if self.ambient_magic else ""
        return out


@dataclass(frozen=True, slots=True)
class ExecParseResult:
    """What one ``Exec*=`` assignment does to the command list.

    Attributes:
        commands: the commands to append; ``None`` means the empty value, which resets the
            list.
        diagnostics: warnings and errors, systemd's wording.
    """

    commands: tuple[ExecCommand, ...] | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def fatal(self) -> bool:
        """Systemd refuses to load the unit because of this assignment (bad-setting)."""
        return any(d.fatal for d in self.diagnostics)


def _string_is_safe(text: str) -> bool:
    return not any(ord(ch) < 0x20 or ch in "\"'\\\x7f" for ch in text)


def _raw(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _filename_is_valid(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and len(_raw(name)) <= 255


def _path_is_valid(path: str) -> bool:
    raw = _raw(path)
    return bool(raw) and len(raw) <= 4095 and all(len(part) <= 255 for part in raw.split(b"/"))


def _path_simplify(path: str) -> str:
    absolute = path.startswith("/")
    parts = [p for p in path.split("/") if p and p != "."]
    joined = "/".join(parts)
    if absolute:
        return "/" + joined
    return joined or "."


class _Abort(Exception):
    """Stop parsing the assignment; the diagnostic is already recorded."""


def parse_exec(
    value: str,
    path: str,
    line: int,
    *,
    expand_path: Callable[[str], str] | None = None,
    expand_arg: Callable[[str], str] | None = None,
) -> ExecParseResult:
    """Parse one ``ExecStart=``-style value into commands (``config_parse_exec()``).

    Args:
        value: the assignment's value, as :mod:`bootup.units.syntax` returns it.
        path: file name for diagnostics.
        line: line number for diagnostics.
        expand_path: resolves specifiers in the executable (``unit_path_printf``).
        expand_arg: resolves specifiers in each argument (``unit_full_printf``). Both
            raise an error with an ``errno_text`` attribute (such as
            :class:`bootup.units.specifiers.SpecifierError`) for an unknown specifier.

    Returns:
        The commands to append (``None`` for an empty value: reset the list) and the
        diagnostics. When systemd would ignore the assignment, no commands are returned;
        when it would refuse the unit, a diagnostic is ``fatal``.
    """
    if not value:
        return ExecParseResult(None, ())
    diagnostics: list[Diagnostic] = []
    commands: list[ExecCommand] = []
    rest: str | None = value
    rvalue = value
    semicolon = True

    def diag(severity: Severity, message: str, fatal: bool = False) -> None:
        diagnostics.append(
            Diagnostic(
                path,
                line,
                severity,
                message,
                fatal=fatal,
                errno_text=_ENOEXEC if fatal else "",
            )
        )

    def word_and_warn(text: str) -> tuple[str | None, str | None]:
        try:
            return extract_first_word(text, _WORD_FLAGS)
        except WordError:
            pass
        try:
            word, after = extract_first_word(text, _WORD_FLAGS | ExtractFlags.UNESCAPE_RELAX)
        except WordError:
            diag(Severity.ERROR, f'Unbalanced quoting, ignoring: "{rvalue}"')
            raise _Abort from None
        diag(Severity.WARNING, f'Ignoring unknown escape sequences: "{word}"')
        return word, after

    try:
        while semicolon and rest is not None:
            semicolon = False
            try:
                firstword, rest = word_and_warn(rest)
            except _Abort:
                # A bad first word makes systemd ignore the rest of the value, not the unit.
                break
            if firstword is None:
                break
            if firstword == ";":
                semicolon = True
                continue
            flags = {
                "ignore_failure": False,
                "separate_argv0": False,
                "no_env_expand": False,
                "fully_privileged": False,
                "no_setuid": False,
                "ambient_magic": False,
            }
            f = firstword
            while f:
                ch = f[0]
                if ch == "-" and not flags["ignore_failure"]:
                    flags["ignore_failure"] = True
                elif ch == "@" and not flags["separate_argv0"]:
                    flags["separate_argv0"] = True
                elif ch == ":" and not flags["no_env_expand"]:
                    flags["no_env_expand"] = True
                elif ch == "+" and not (
                    flags["fully_privileged"] or flags["no_setuid"] or flags["ambient_magic"]
                ):
                    flags["fully_privileged"] = True
                elif ch == "!" and not (
                    flags["fully_privileged"] or flags["no_setuid"] or flags["ambient_magic"]
                ):
                    flags["no_setuid"] = True
                elif ch == "!" and not (flags["fully_privileged"] or flags["ambient_magic"]):
                    flags["no_setuid"] = False
                    flags["ambient_magic"] = True
                else:
                    break
                f = f[1:]
            ignore = flags["ignore_failure"]
            suffix = ", ignoring" if ignore else ""
            severity = Severity.WARNING if ignore else Severity.ERROR
            fatal = not ignore

            try:
                exe = expand_path(f) if expand_path is not None else f
            except UnitSyntaxError as exc:
                reason = getattr(exc, "errno_text", "") or str(exc)
                diag(
                    severity,
                    f"Failed to resolve unit specifiers in '{f}'{suffix}: {reason}",
                    fatal,
                )
                raise _Abort from None
            if not exe:
                diag(severity, f"Empty path in command line{suffix}: '{rvalue}'", fatal)
                raise _Abort
            if not _string_is_safe(exe):
                diag(severity, f"Executable name contains special characters{suffix}: {exe}", fatal)
                raise _Abort
            if exe.endswith("/"):
                diag(severity, f"Executable path specifies a directory{suffix}: {exe}", fatal)
                raise _Abort
            valid = _path_is_valid(exe) if exe.startswith("/") else _filename_is_valid(exe)
            if not valid:
                diag(
                    severity,
                    f"Neither a valid executable name nor an absolute path{suffix}: {exe}",
                    fatal,
                )
                raise _Abort

            argv: list[str] = [] if flags["separate_argv0"] else [exe]
            while rest:
                if rest[0] == ";" and (len(rest) == 1 or rest[1] in _WHITESPACE):
                    rest = rest[1:].lstrip(_WHITESPACE)
                    semicolon = True
                    break
                if rest.startswith("\\;") and (len(rest) == 2 or rest[2] in _WHITESPACE):
                    rest = rest[2:].lstrip(_WHITESPACE)
                    argv.append(";")
                    continue
                try:
                    word, rest = word_and_warn(rest)
                except _Abort:
                    # Without "-", a bad argument makes systemd refuse the unit.
                    last = diagnostics[-1]
                    diagnostics[-1] = Diagnostic(
                        path,
                        line,
                        last.severity,
                        last.message,
                        fatal=not ignore,
                        errno_text="" if ignore else _ENOEXEC,
                    )
                    raise
                if word is None:
                    break
                try:
                    resolved = expand_arg(word) if expand_arg is not None else word
                except UnitSyntaxError as exc:
                    reason = getattr(exc, "errno_text", "") or str(exc)
                    diag(
                        severity,
                        f"Failed to resolve unit specifiers in {word}{suffix}: {reason}",
                        fatal,
                    )
                    raise _Abort from None
                argv.append(resolved)
            if not argv:
                diag(
                    severity,
                    f"Empty executable name or zeroeth argument{suffix}: {rvalue}",
                    fatal,
                )
                raise _Abort
            commands.append(ExecCommand(path=_path_simplify(exe), argv=tuple(argv), **flags))
            rvalue = rest or ""
    except _Abort:
        # systemd stops at the first problem; commands completed before it were already
        # appended to the list, and stay.
        pass
    return ExecParseResult(tuple(commands), tuple(diagnostics))


_SHELL_NEED_ESCAPE = '"\\`$'
_SHELL_NEED_QUOTES = _SHELL_NEED_ESCAPE + "*?[" + "'()<>|&;!"
_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


def _needs_quotes(ch: str) -> bool:
    code = ord(ch)
    return code <= 0x20 or code == 0x7F or 0xDC80 <= code <= 0xDCFF or ch in _SHELL_NEED_QUOTES


def shell_maybe_quote(arg: str) -> str:
    r"""Quote one argument as systemd's dumps do (``shell_maybe_quote(SHELL_ESCAPE_EMPTY)``).

    Plain words stay as they are; others are put in double quotes with ``"\`$`` escaped by a
    backslash and control characters and non-UTF-8 bytes as C escapes (``\n``, ``\377``).
    """
    if not arg:
        return '""'
    if not any(_needs_quotes(ch) for ch in arg):
        return arg
    out = ['"']
    for ch in arg:
        code = ord(ch)
        if ch in _SHELL_NEED_ESCAPE:
            out.append("\\" + ch)
        elif code in _C_ESCAPES:
            out.append(_C_ESCAPES[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\{code:03o}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\{code - 0xDC00:03o}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def quote_command_line(argv: Sequence[str]) -> str:
    """The ``Command Line:`` rendering of ``systemd --test``/``systemctl show``."""
    return " ".join(shell_maybe_quote(arg) for arg in argv)


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` by its value (empty if unset) and ``$$`` by ``$`` (``replace_env()``).

    ``$NAME`` inside a word and ``${NAME:-default}`` are left as written, as systemd does for
    command lines.
    """
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "{":
                end = i + 2
                while end < n and text[end] not in "}:":
                    end += 1
                if end < n and text[end] == "}":
                    out.append(env.get(text[i + 2 : end], ""))
                    i = end + 1
                    continue
                # "${A:-b}" (or an unterminated "${") is not supported here: keep it.
                out.append(text[i:end])
                i = end
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def expand_env_argv(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Expand environment variables in a command as the manager does before exec.

    A word that is exactly ``$NAME`` becomes the variable's value split at blanks (quotes
    honoured), or disappears when unset; ``${NAME}`` anywhere is replaced as one piece.
    Commands with the ``:`` prefix skip this step.
    """
    out: list[str] = []
    for word in argv:
        if word.startswith("$") and word[1:2] not in ("{", "$"):
            found = env.get(word[1:])
            if found is not None:
                out.extend(extract_words(found, ExtractFlags.RELAX | ExtractFlags.UNQUOTE))
            continue
        out.append(expand_env(word, env))
    return out
