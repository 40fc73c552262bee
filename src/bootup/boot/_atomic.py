"""Atomic file replacement for the small boot files bootup writes (grubenv above all).

A reader (GRUB at the next boot, or ``grub-editenv list``) must see either the old or the new
bytes, never a mix: a torn grubenv is a broken block that GRUB silently stops reading. So the
new content goes to a temporary file in the same directory, is flushed to disk, keeps the old
file's permission bits, and is renamed over the old name; the directory is fsynced so the
rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bootup.boot._inputs import file_error

__all__ = ("locked_directory", "write_atomic")


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename, fsync dir).

    The permission bits of an existing file are kept; ``mode`` applies to a new file. A
    symbolic link is followed, so the file it points to is replaced and the link stays.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(target.stat().st_mode)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:  # the temporary file's name would mean nothing to the user
        raise file_error(exc, path, action="write") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked_directory(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the directory of ``path`` for a read-modify-write.

    Atomic renames keep readers from seeing a torn file, but two writers that both read the
    old block would lose one update; they serialize on the directory instead (no lock file
    is left in /boot/grub). GRUB itself never takes this lock: it writes at boot, when no
    editor runs.
    """
    directory = Path(os.path.realpath(path)).parent
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise file_error(exc, path, action="write") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
