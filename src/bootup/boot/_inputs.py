"""Input files of the boot verbs that cannot be read, as bootup errors naming the file.

Why a module of its own: every ``bootup boot`` verb takes file arguments (a disk image, a
core.img, a kernel, a grubenv...), and a missing, unreadable or wrong-kind path must end in
``bootup: PATH: cannot read the kernel image: No such file or directory`` rather than in a
Python traceback. :func:`read_input` reads a named input; :func:`file_error` turns an
``OSError`` met anywhere into a :class:`BootFileError`; :func:`naming_os_errors` wraps a CLI
handler so that an ``OSError`` nobody foresaw still names its file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from bootup.errors import BootFormatError

__all__ = (
    "BootFileError",
    "BootFileNotFoundError",
    "file_error",
    "naming_os_errors",
    "read_input",
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


class BootFileError(BootFormatError):
    """A file a boot verb needs is missing, unreadable or not a regular file.

    Attributes:
        path: the file as the user named it.
        role: what the file was needed as ("core.img (--core)", "disk image"...), or "".
        action: what was being done with it ("read", "write").
        reason: the operating system's words ("No such file or directory").
        errno: the errno value, or ``None``.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        role: str = "",
        errno: int | None = None,
        action: str = "read",
    ) -> None:
        what = f"cannot {action} {role}: " if role else ""
        if not role and action != "read":
            what = f"cannot {action}: "
        super().__init__(f"{path}: {what}{reason}")
        self.action = action
        self.path = path
        self.role = role
        self.reason = reason
        self.errno = errno


class BootFileNotFoundError(BootFileError, FileNotFoundError):
    """The file does not exist (still a :class:`FileNotFoundError` for ``except`` clauses)."""


def file_error(
    exc: OSError,
    path: str | os.PathLike[str] | None = None,
    role: str = "",
    *,
    action: str = "read",
) -> BootFileError:
    """The :class:`BootFileError` for ``exc``; ``path`` overrides the file the OS names."""
    name = os.fspath(path) if path is not None else exc.filename
    if name is None:
        name = "?"
    reason = exc.strerror or str(exc)
    kind: type[BootFileError] = (
        BootFileNotFoundError if isinstance(exc, FileNotFoundError) else BootFileError
    )
    return kind(os.fsdecode(name), reason, role=role, errno=exc.errno, action=action)


def read_input(path: str | os.PathLike[str], role: str) -> bytes:
    """The bytes of the input file ``path``; a :class:`BootFileError` naming it otherwise."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise file_error(exc, path, role) from None


def naming_os_errors(handler: Callable[_P, _R]) -> Callable[_P, _R]:
    """Wrap a CLI handler so that an ``OSError`` becomes a :class:`BootFileError`.

    The safety net behind the precise errors raised where files are opened: whatever path
    the operating system refused still reaches the user as ``bootup: PATH: reason``.
    """

    @functools.wraps(handler)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return handler(*args, **kwargs)
        except (BrokenPipeError, BootFileError):
            raise
        except OSError as exc:
            raise file_error(exc) from exc

    return wrapper
