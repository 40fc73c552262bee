"""Which manager a client talks to: where its control socket lives.

``--system``: the system manager's socket, /run/bootup/control.sock. ``--project DIR``:
DIR/.bootup/control.sock, the socket ``bootup up DIR`` serves. Neither: the nearest
enclosing directory (from the working directory up) with a ``.bootup/control.sock``, or with
``units/.bootup/control.sock`` (``bootup up``'s default DIR is ``./units``), the way git
finds its repository; else the system manager. ``$BOOTUP_CONTROL_SOCKET`` overrides
everything (tests and unusual layouts).

The system manager's socket is 0600 and root's: a user who may not connect to it (asked
for with ``--system`` or reached as the default) is told so up front, naming the socket,
its owner and its mode, instead of getting a bare "Permission denied" from ``connect()``.
"""

from __future__ import annotations

import os
import pwd
import stat

from bootup.control.errors import ConnectError

# typing and pathlib cost milliseconds to import, and ``bootup is-active x`` runs in
# scripts and loops: the lookup works on strings (os.path) and only the public Path API
# builds Path objects. mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Final

    SYSTEM_SOCKET: Path

__all__ = (
    "SYSTEM_SOCKET",
    "check_access",
    "enclosing_project_file",
    "find_socket",
    "locate_socket",
    "project_socket",
)

SYSTEM_SOCKET_PATH: Final = "/run/bootup/control.sock"
_RELATIVE: Final = os.path.join(".bootup", "control.sock")


def __getattr__(name: str) -> object:
    # SYSTEM_SOCKET is a Path, built on first use so importing this module stays cheap.
    if name == "SYSTEM_SOCKET":
        from pathlib import Path  # noqa: PLC0415 (lazy: see the imports above)

        return Path(SYSTEM_SOCKET_PATH)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def project_socket(directory: str | os.PathLike[str]) -> Path:
    """The control socket of the project manager running on ``directory``."""
    from pathlib import Path  # noqa: PLC0415 (lazy: see the imports above)

    return Path(directory).resolve() / _RELATIVE


def find_socket(
    *, project: str | None = None, system: bool = False, cwd: str | None = None
) -> Path:
    """The socket to connect to for these options (see the module docstring)."""
    from pathlib import Path  # noqa: PLC0415 (lazy: see the imports above)

    return Path(locate_socket(project=project, system=system, cwd=cwd))


def locate_socket(
    *, project: str | None = None, system: bool = False, cwd: str | None = None
) -> str:
    """:func:`find_socket` as a string, without importing pathlib (the CLI's fast path)."""
    override = os.environ.get("BOOTUP_CONTROL_SOCKET")
    if override:
        return override
    if system:
        check_access(SYSTEM_SOCKET_PATH)
        return SYSTEM_SOCKET_PATH
    if project is not None:
        return os.path.join(os.path.realpath(project), _RELATIVE)
    found = enclosing_project_file("control.sock", cwd, exists=_is_socket)
    if found is not None:
        return found
    check_access(SYSTEM_SOCKET_PATH)
    return SYSTEM_SOCKET_PATH


def enclosing_project_file(
    name: str, cwd: str | None = None, *, exists: Callable[[str], bool] = os.path.isfile
) -> str | None:
    """The nearest ``DIR/.bootup/NAME`` or ``DIR/units/.bootup/NAME`` from ``cwd`` up.

    How every client finds "this project's" manager, journal or recorded state, the way
    git finds its repository (``bootup up``'s default DIR is ``./units``).
    """
    directory = os.path.realpath(cwd or os.getcwd())
    while True:
        for candidate in (
            os.path.join(directory, ".bootup", name),
            os.path.join(directory, "units", ".bootup", name),
        ):
            if exists(candidate):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def check_access(path: str | os.PathLike[str]) -> None:
    """Raise a clear error when this process may not connect to the socket at ``path``.

    Connecting to an AF_UNIX socket needs write permission on its file. A missing socket
    is left to the client (it reports that no manager runs).

    Raises:
        ConnectError: naming the socket, its owner and mode, and the caller's uid.
    """
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISSOCK(st.st_mode) or os.access(path, os.W_OK, effective_ids=True):
        return
    raise ConnectError(
        str(path),
        f"Permission denied: the socket is owned by {_user(st.st_uid)} with mode "
        f"{stat.S_IMODE(st.st_mode):04o}, and this process runs as {_user(os.geteuid())}; "
        "only its owner may talk to this manager (run the command as root)",
    )
