"""Which manager a client talks to: where its control socket lives.

``--system``: the system manager's socket, /run/bootup/control.sock. ``--project DIR``:
DIR/.bootup/control.sock, the socket ``bootup up DIR`` serves. Neither: the nearest
enclosing directory (from the working directory up) with a ``.bootup/control.sock``, or with
``units/.bootup/control.sock`` (``bootup up``'s default DIR is ``./units``), the way git
finds its repository; else the system manager. ``$BOOTUP_CONTROL_SOCKET`` overrides
everything (tests and unusual layouts).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ("SYSTEM_SOCKET", "find_socket", "project_socket")

SYSTEM_SOCKET: Final = Path("/run/bootup/control.sock")
_RELATIVE: Final = Path(".bootup") / "control.sock"


def project_socket(directory: str | os.PathLike[str]) -> Path:
    """The control socket of the project manager running on ``directory``."""
    return Path(directory).resolve() / _RELATIVE


def find_socket(
    *, project: str | None = None, system: bool = False, cwd: str | None = None
) -> Path:
    """The socket to connect to for these options (see the module docstring)."""
    override = os.environ.get("BOOTUP_CONTROL_SOCKET")
    if override:
        return Path(override)
    if system:
        return SYSTEM_SOCKET
    if project is not None:
        return project_socket(project)
    here = Path(cwd or os.getcwd()).resolve()
    for directory in (here, *here.parents):
        for candidate in (directory / _RELATIVE, directory / "units" / _RELATIVE):
            if candidate.is_socket():
                return candidate
    return SYSTEM_SOCKET
