r"""The unit file syntax of systemd.syntax(7), read exactly as systemd 252's conf-parser reads it.

Why a module of its own: everything above it (values, directives, the loader) works on
``(section, key, value)`` triples with a line number, and must not care about line endings,
continuations or byte-level junk. This module turns any bytes into those triples plus the
diagnostics systemd would log, and never raises.

What systemd 252 does, and what this module reproduces (checked against
``systemd-analyze verify``):

* Lines end at ``\n``, ``\r`` or NUL, and at the combinations ``\r\n``, ``\n\r``,
  ``\n\0``, ``\r\0``, ``\r\n\0``, ``\n\r\0`` (fileio.c ``read_line_full``). A NUL in the
  middle of a line therefore splits it in two. Line numbers count these physical lines.
* A line of 1 MiB (1,048,576 bytes) or more makes systemd refuse the whole file ("No buffer
  space available"); so does a continued line that grows past 1 MiB.
* A line whose first non-blank character is ``#`` or ``;`` is a comment, also in the middle of
  a continuation, where it is skipped. Nowhere else is ``#`` special.
* A line ending in an odd number of backslashes continues on the next line; the backslash
  becomes a space. The logical line gets the number of its *last* physical line.
* A UTF-8 byte order mark is dropped once.
* A logical line that is not valid UTF-8 (systemd's rules: no surrogates, no overlong forms,
  no non-characters such as U+FFFE) makes systemd refuse the file ("Invalid argument").
* ``[Name]`` starts a section; a header not ending in ``]`` or containing quotes, backslashes
  or control characters makes systemd refuse the file ("Bad message").
* ``Key=Value`` is split at the first ``=``, both sides stripped of `` \t\n\r``. The value is
  kept verbatim otherwise: quotes and escapes are the business of each value grammar.
* An assignment before the first section header is "outside of section". A line without
  ``=`` (or with nothing before it) is reported only inside a section the unit type has;
  systemd skips every line of an unknown or ``X-`` section silently. Those reports therefore
  wait in ``section_diagnostics`` for :func:`bootup.units.directives.check_file`.

bootup keeps parsing after a fatal problem, so one run reports everything; the diagnostic's
``fatal`` flag tells the loader that systemd would not load the unit at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from bootup.units.diagnostics import Diagnostic, Severity

__all__ = (
    "LONG_LINE_MAX",
    "Assignment",
    "ParsedFile",
    "SectionDiagnostic",
    "escape_invalid_utf8",
    "is_valid_utf8",
    "parse_unit_text",
    "read_unit_file",
)

#: systemd's LONG_LINE_MAX: a physical line this long (without its end-of-line) is refused.
LONG_LINE_MAX = 1024 * 1024

_WHITESPACE = b" \t\n\r"
_COMMENTS = b"#;"
_BOM = b"\xef\xbb\xbf"
# Every end-of-line combination read_line_full() takes as one line end (each marker at most
# once, NUL only last).
_EOL = re.compile(rb"\n\r?\0?|\r\n?\0?|\0")
_UNSAFE_IN_HEADER = re.compile(r"[\x01-\x1f\"'\\\x7f]")

_EBADMSG = "Bad message"
_EINVAL = "Invalid argument"
_ENOBUFS = "No buffer space available"


@dataclass(frozen=True, slots=True)
class Assignment:
    """One ``Key=Value`` line of a unit file.

    Attributes:
        path: the file, as given to the parser.
        line: 1-based number of the last physical line of the (possibly continued) line.
        section: the section it appeared in, without brackets.
        key: the key, stripped of blanks.
        value: the value after continuation joining, stripped of blanks, not unquoted.
    """

    path: str
    line: int
    section: str
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class SectionDiagnostic:
    """A problem with a line inside a section, reported only if the unit type has the section.

    systemd silently skips every line of a section it ignores (an unknown or ``X-``
    section), so "Missing '='" is only logged in sections the unit type knows; which those
    are is decided in :func:`bootup.units.directives.check_file`, which reports these.
    """

    section: str
    diagnostic: Diagnostic


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The syntax-level content of one unit file or drop-in.

    Attributes:
        path: the file, as given.
        sections: section names in order of appearance (repeats kept), including unknown and
            ``X-`` sections; which of them a unit type knows is decided in
            :mod:`bootup.units.directives`.
        assignments: every assignment in file order; repeated keys are kept, because whether
            a repeat appends or replaces is a property of the directive.
        diagnostics: syntax problems, in file order.
        section_lines: the line of each entry of ``sections`` (same length), so that
            "Unknown section" can be reported where the header is.
        section_diagnostics: malformed lines inside a section ("Missing '='"), which only
            count if the unit type has that section (see :class:`SectionDiagnostic`).
    """

    path: str
    sections: tuple[str, ...]
    assignments: tuple[Assignment, ...]
    diagnostics: tuple[Diagnostic, ...]
    section_lines: tuple[int, ...] = ()
    section_diagnostics: tuple[SectionDiagnostic, ...] = ()

    @property
    def fatal(self) -> Diagnostic | None:
        """The first problem for which systemd 252 refuses to load the file, if any."""
        for diagnostic in self.diagnostics:
            if diagnostic.fatal:
                return diagnostic
        return None


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


_NONCHARACTERS = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)


def is_valid_utf8(data: bytes) -> bool:
    """Tell whether ``data`` is UTF-8 as systemd's ``utf8_is_valid()`` accepts it.

    Stricter than Python's codec: the Unicode non-characters (U+FDD0..U+FDEF and every
    U+xxFFFE/U+xxFFFF) are refused too, as systemd's ``unichar_is_valid()`` refuses them.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _NONCHARACTERS.search(text) is None


def escape_invalid_utf8(data: bytes) -> str:
    r"""Decode ``data``, replacing each byte that does not start a valid character by U+FFFD.

    This is systemd's ``utf8_escape_invalid()``, which advances one byte per invalid byte, so
    ``b"\xef\xbf\xbe"`` (U+FFFE) becomes three replacement characters, not one.
    """
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        byte = data[i]
        if byte < 0x80:
            out.append(chr(byte))
            i += 1
            continue
        length = 2 if 0xC0 <= byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4
        if not 0xC0 <= byte < 0xF8:
            length = 0
        chunk = data[i : i + length] if length else b""
        decoded: str | None = None
        if length and len(chunk) == length:
            try:
                decoded = chunk.decode("utf-8")
            except UnicodeDecodeError:
                decoded = None
            if decoded is not None and _is_noncharacter(ord(decoded)):
                decoded = None
        if decoded is None:
            out.append("\ufffd")
            i += 1
        else:
            out.append(decoded)
            i += length
    return "".join(out)


def _split_lines(data: bytes) -> list[bytes]:
    """Split into physical lines as read_line_full() does (the end-of-line markers dropped)."""
    if not data:
        return []
    lines = _EOL.split(data)
    if lines[-1] == b"":
        # The data ended with a line end; EOF right after it is not another line.
        lines.pop()
    return lines


class _Parser:
    """State of one pass over a file: the current section and the diagnostics so far."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.section: str | None = None
        self.section_ignored = False
        self.sections: list[str] = []
        self.section_lines: list[int] = []
        self.section_diagnostics: list[SectionDiagnostic] = []
        self.assignments: list[Assignment] = []
        self.diagnostics: list[Diagnostic] = []

    def diag(
        self,
        line: int | None,
        severity: Severity,
        message: str,
        *,
        fatal: bool = False,
        errno_text: str = "",
    ) -> None:
        self.diagnostics.append(
            Diagnostic(self.path, line, severity, message, fatal=fatal, errno_text=errno_text)
        )

    def parse_line(self, raw: bytes, line: int) -> None:
        """Handle one logical line (conf-parser.c ``parse_line``)."""
        stripped = raw.strip(_WHITESPACE)
        if not stripped:
            return
        if not is_valid_utf8(stripped):
            self.diag(
                line,
                Severity.WARNING,
                "String is not UTF-8 clean, ignoring assignment: " + escape_invalid_utf8(stripped),
                fatal=True,
                errno_text=_EINVAL,
            )
            return
        text = stripped.decode("utf-8")
        if text.startswith("["):
            self._section_header(text, line)
            return
        if self.section is None:
            if not self.section_ignored:
                self.diag(line, Severity.WARNING, "Assignment outside of section. Ignoring.")
            return
        equals = text.find("=")
        if equals <= 0:
            message = (
                "Missing '=', ignoring line."
                if equals < 0
                else "Missing key name before '=', ignoring line."
            )
            self.section_diagnostics.append(
                SectionDiagnostic(
                    self.section, Diagnostic(self.path, line, Severity.WARNING, message)
                )
            )
            return
        key = text[:equals].strip(" \t\n\r")
        value = text[equals + 1 :].strip(" \t\n\r")
        self.assignments.append(Assignment(self.path, line, self.section, key, value))

    def _section_header(self, text: str, line: int) -> None:
        if not text.endswith("]") or len(text) < 2:
            self.diag(
                line,
                Severity.ERROR,
                f"Invalid section header '{text}'",
                fatal=True,
                errno_text=_EBADMSG,
            )
            # systemd stops here; we go on, but must not file what follows under the
            # previous section.
            self.section = None
            self.section_ignored = True
            return
        name = text[1:-1]
        if _UNSAFE_IN_HEADER.search(name):
            self.diag(
                line,
                Severity.ERROR,
                f"Bad characters in section header '{text}'",
                fatal=True,
                errno_text=_EBADMSG,
            )
            self.section = None
            self.section_ignored = True
            return
        self.section = name
        self.section_ignored = False
        self.sections.append(name)
        self.section_lines.append(line)


def parse_unit_text(data: bytes | str, path: str) -> ParsedFile:
    """Parse the text of a unit file or drop-in; never raises.

    Args:
        data: the file's bytes (or text, which is encoded as UTF-8 first; lone surrogates
            from a ``surrogateescape`` decode turn back into the original bytes).
        path: the file name to put in assignments and diagnostics.

    Returns:
        The sections, assignments and syntax diagnostics, in file order.
    """
    if isinstance(data, str):
        text = data
        try:
            data = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            # Lone surrogates that do not stand for bytes: keep them as (invalid) UTF-8.
            data = text.encode("utf-8", "surrogatepass")
    parser = _Parser(path)
    continuation: bytes | None = None
    bom_seen = False
    line = 0
    for physical in _split_lines(data):
        line += 1
        buf = physical
        if len(buf) >= LONG_LINE_MAX:
            parser.diag(line, Severity.ERROR, "Line too long", fatal=True, errno_text=_ENOBUFS)
            continue
        head = buf.lstrip(_WHITESPACE)
        if head and head[0] in _COMMENTS:
            continue
        if not bom_seen and buf.startswith(_BOM):
            buf = buf[len(_BOM) :]
            bom_seen = True
        if continuation is not None:
            if len(continuation) + len(buf) > LONG_LINE_MAX:
                parser.diag(
                    line,
                    Severity.ERROR,
                    "Continuation line too long",
                    fatal=True,
                    errno_text=_ENOBUFS,
                )
                continuation = None
                continue
            joined = continuation + buf
        else:
            joined = buf
        # An odd run of trailing backslashes continues the line (each pair is one escaped
        # backslash, which the value grammar sees later).
        trailing = len(joined) - len(joined.rstrip(b"\\"))
        if trailing % 2 == 1:
            continuation = joined[:-1] + b" "
            continue
        continuation = None
        parser.parse_line(joined, line)
    if continuation is not None:
        parser.parse_line(continuation, line + 1)
    return ParsedFile(
        path=path,
        sections=tuple(parser.sections),
        assignments=tuple(parser.assignments),
        diagnostics=tuple(parser.diagnostics),
        section_lines=tuple(parser.section_lines),
        section_diagnostics=tuple(parser.section_diagnostics),
    )


def read_unit_file(path: str | os.PathLike[str]) -> ParsedFile:
    """Read and parse a unit file; never raises, an I/O error becomes a fatal diagnostic.

    Args:
        path: the file to read.

    Returns:
        As :func:`parse_unit_text`; for an unreadable file, no sections or assignments and
        one diagnostic that names the file and the operating system's reason.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return ParsedFile(
            path=name,
            sections=(),
            assignments=(),
            diagnostics=(
                Diagnostic(
                    name,
                    None,
                    Severity.ERROR,
                    f"Failed to open configuration file '{name}': {reason}",
                    fatal=True,
                    errno_text=reason,
                ),
            ),
        )
    return parse_unit_text(data, name)
