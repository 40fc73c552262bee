"""Diagnostics: what systemd would log about a unit file, as values instead of log lines.

systemd never rejects a unit file for an unknown key or a bad value; it logs a line such as
``/etc/systemd/system/a.service:6: Unknown key 'Foo' in section [Service], ignoring.`` and
goes on. A few problems (an invalid section header, invalid UTF-8, a line longer than 1 MiB)
make it refuse the whole file instead ("Failed to load configuration: Bad message").

bootup's parsers *return* these as :class:`Diagnostic` objects rather than logging them, so
that ``verify`` can print them exactly as ``systemd-analyze verify`` does, the loader can log
them, and tests can assert on them. ``fatal`` marks the problems after which systemd 252 does
not load the unit at all; bootup's parsers still report the rest of the file so that one run
shows every problem, and the loader decides what a fatal diagnostic means.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ("Diagnostic", "Severity")


class Severity(enum.StrEnum):
    """The syslog level systemd logs the message at (``LOG_ERR``, ``LOG_WARNING``, ...)."""

    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a unit file or a value, worded as systemd words it.

    Attributes:
        path: the file (as given), or the unit name when the problem is not about a file.
        line: 1-based line number, ``None`` when the problem is not about one line.
        severity: the level systemd logs it at.
        message: systemd's wording, e.g. ``Unknown key 'Foo' in section [Service], ignoring.``
        fatal: systemd 252 refuses to load the file because of it; ``errno_text`` then says
            how it reports that ("Bad message", "Invalid argument", "No buffer space available").
        errno_text: the strerror() text systemd prints in "Failed to load configuration: ...".
    """

    path: str
    line: int | None
    severity: Severity
    message: str
    fatal: bool = False
    errno_text: str = ""

    def __str__(self) -> str:
        """Render as systemd-analyze verify prints it: ``path:line: message``."""
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"
