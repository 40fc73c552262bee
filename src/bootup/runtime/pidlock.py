"""One manager per state directory: an ``flock()`` held for the manager's lifetime.

The lock file holds the holder's pid, so a refused second manager can name it. The kernel
drops the lock when the holder exits, however it exits (kill -9 included), so a stale file
never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ("acquire", "release")


def acquire(path: Path) -> tuple[int | None, str]:
    """Take the lock at ``path`` without waiting and record this process's pid in it.

    Returns:
        ``(fd, "")`` when taken (keep ``fd`` open, :func:`release` it), or ``(None, holder)``
        when another process holds it (``holder``: the pid it recorded, maybe empty).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        return None, holder
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd, ""


def release(fd: int | None) -> None:
    """Drop a lock taken by :func:`acquire` (the file stays; its pid is stale until reused)."""
    if fd is not None:
        os.close(fd)
