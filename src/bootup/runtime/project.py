"""Project mode: one directory of unit files, its runtime state in ``DIR/.bootup/``.

Like systemd's user instance, a project manager provides the special targets units with
default dependencies refer to (sysinit.target, basic.target, sockets.target,
timers.target, paths.target, shutdown.target, multi-user.target and default.target ->
multi-user.target), unless the project defines them itself. They are written as ordinary
unit files into ``DIR/.bootup/units/``, a second, lower-precedence directory of the search
path (the role systemd's generator directories play), so every tool sees the same units.

One manager per project: ``DIR/.bootup/lock`` is held with ``flock()`` for the manager's
lifetime; a second one is refused with a message naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

from bootup.errors import ManagerError
from bootup.runtime import pidlock
from bootup.runtime.clock import Clock
from bootup.runtime.journal import Journal
from bootup.runtime.manager import Manager
from bootup.units.paths import SearchPath

__all__ = (
    "SPECIAL_TARGETS",
    "ProjectDir",
    "ProjectLockedError",
    "project_manager",
    "write_units",
)

#: name -> unit file text of the targets a project gets when it does not define them.
SPECIAL_TARGETS: Final[dict[str, str]] = {
    "sysinit.target": "[Unit]\nDescription=System Initialization\nDefaultDependencies=no\n",
    "sockets.target": "[Unit]\nDescription=Sockets\nDefaultDependencies=no\n",
    "timers.target": "[Unit]\nDescription=Timers\nDefaultDependencies=no\n",
    "paths.target": "[Unit]\nDescription=Paths\nDefaultDependencies=no\n",
    "basic.target": (
        "[Unit]\nDescription=Basic System\nDefaultDependencies=no\n"
        "Requires=sysinit.target\nWants=sockets.target timers.target paths.target\n"
        "After=sysinit.target sockets.target paths.target timers.target\n"
    ),
    "shutdown.target": (
        "[Unit]\nDescription=Shutdown\nDefaultDependencies=no\nRefuseManualStart=yes\n"
    ),
    "multi-user.target": (
        "[Unit]\nDescription=Multi-User System\nRequires=basic.target\n"
        "After=basic.target\nAllowIsolate=yes\n"
    ),
}


class ProjectLockedError(ManagerError):
    """Another manager already runs on this project directory."""

    def __init__(self, directory: Path, holder: str) -> None:
        who = f" (pid {holder})" if holder else ""
        super().__init__(
            f"another bootup manager is already running on {directory}{who}; "
            f"lock file {directory / '.bootup' / 'lock'}"
        )
        self.directory = directory
        self.holder = holder


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class ProjectDir:
    """A project directory prepared for a manager: state dir, special targets, lock.

    Use as a context manager; the lock is released on exit.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise ManagerError(
                f"{self.directory}: expected a directory of unit files, found "
                + ("a file" if self.directory.exists() else "nothing")
            )
        self.state_dir = self.directory / ".bootup"
        self.units_dir = self.state_dir / "units"
        self.journal_path = self.state_dir / "journal.db"
        self.lock_path = self.state_dir / "lock"
        self._lock_fd: int | None = None

    def __enter__(self) -> ProjectDir:
        self.lock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unlock()

    def lock(self) -> None:
        """Take the project lock and write the special targets.

        Raises:
            ProjectLockedError: another manager holds it.
        """
        self.state_dir.mkdir(exist_ok=True)
        fd, holder = pidlock.acquire(self.lock_path)
        if fd is None:
            raise ProjectLockedError(self.directory, holder)
        self._lock_fd = fd
        self.write_special_targets()

    def unlock(self) -> None:
        """Release the lock (the file stays; its content is stale until the next lock)."""
        pidlock.release(self._lock_fd)
        self._lock_fd = None

    def write_special_targets(self) -> list[str]:
        """Write the targets the project does not define; return their names."""
        self.units_dir.mkdir(parents=True, exist_ok=True)
        written: list[str] = []
        for name, text in SPECIAL_TARGETS.items():
            target = self.units_dir / name
            if (self.directory / name).exists():
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                continue
            _write_atomic(target, text)
            written.append(name)
        default = self.units_dir / "default.target"
        with contextlib.suppress(FileNotFoundError):
            default.unlink()
        if not (self.directory / "default.target").exists():
            real = self.directory / "multi-user.target"
            if not real.exists():
                real = self.units_dir / "multi-user.target"
            os.symlink(real, default)
            written.append("default.target")
        return written

    def search_path(self) -> SearchPath:
        """The project's units first, then the provided special targets."""
        return SearchPath(
            dirs=(str(self.directory), str(self.units_dir)),
            root="/",
            config_dir=str(self.directory),
            runtime_dir=str(self.directory),
            project=True,
        )


def write_units(directory: str | os.PathLike[str], units: Mapping[str, str]) -> Path:
    """Write unit files (name -> text) into ``directory`` atomically; return the directory.

    A name with a ``/`` (``multi-user.target.wants/a.service``) whose text starts with
    ``->`` becomes a symlink to the rest of the text, the way ``.wants/`` links are made.
    """
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.symlink(text[2:].strip(), path)
        else:
            _write_atomic(path, text)
    return base


@contextlib.asynccontextmanager
async def project_manager(
    directory: str | os.PathLike[str],
    *,
    clock: Clock | None = None,
    journal: bool = True,
    snapshot: bool = True,
) -> AsyncIterator[Manager]:
    """Lock a project, open its journal and run a :class:`Manager` on it.

    The manager keeps ``DIR/.bootup/state.json`` (every unit's properties) up to date
    unless ``snapshot`` is false. On exit every unit is stopped (in reverse order), then the
    journal and lock are released.
    """
    with ProjectDir(directory) as project:
        opened = Journal.open(project.journal_path) if journal else None
        try:
            manager = Manager(
                project.search_path(),
                state_dir=project.state_dir,
                journal=opened,
                clock=clock,
                state_file=project.state_dir / "state.json" if snapshot else None,
            )
            async with manager:
                yield manager
        finally:
            if opened is not None:
                opened.close()
