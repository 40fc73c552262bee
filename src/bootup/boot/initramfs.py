"""Build a small bootable initramfs (busybox + an ``/init`` script) without root.

What the kernel needs from an initramfs (``init/initramfs.c``, ``init/main.c``): an
executable ``/init`` (or whatever ``rdinit=`` names), a ``/dev/console`` character device
(5, 1) so that init gets stdin/stdout/stderr, and every parent directory before its
children, because the unpacker does not create missing parents. Everything else is up to
init. The standard layout here is::

    dev/  dev/console (c 5 1)  dev/null (c 1 3)  dev/urandom (c 1 9)
    bin/  bin/busybox  bin/sh -> busybox (plus any other applet links)
    proc/  sys/  tmp/  init

Device nodes are only numbers in the cpio header (see :mod:`bootup.boot.cpio`), which is why
no root and no ``mknod`` are needed. The default ``/init`` is the QEMU test probe: it prints
``BOOTUP-MARKER entry=<bootup.entry from the kernel command line>`` on the console and
powers the machine off, so the harness learns which boot entry ran.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from bootup.boot._atomic import write_atomic
from bootup.boot.cpio import Compression, CpioEntry, build_archive, compress
from bootup.errors import BootFormatError

__all__ = (
    "MARKER",
    "PROBE_INIT",
    "InitramfsError",
    "base_entries",
    "build_initramfs",
    "busybox_applets",
    "entries_from_tree",
    "initramfs_entries",
    "write_file_atomic",
)

#: The word /init prints at the start of its report line (qemu.py waits for it).
MARKER: Final = "BOOTUP-MARKER"

#: The default /init: report the booted entry on the console, then power off at once.
#: ``bootup.entry=`` has a dot, so the kernel treats it as a module parameter and does not
#: pass it to init's environment or argv; it is read back from /proc/cmdline instead.
PROBE_INIT: Final = f"""#!/bin/sh
# bootup initramfs probe: say which boot entry ran, then power off.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
entry=none
for word in $(/bin/busybox cat /proc/cmdline); do
  case "$word" in
    bootup.entry=*) entry="${{word#bootup.entry=}}" ;;
  esac
done
read -r uptime rest < /proc/uptime
echo "{MARKER} entry=$entry uptime=$uptime cmdline=$(/bin/busybox cat /proc/cmdline)"
/bin/busybox poweroff -f
echo o > /proc/sysrq-trigger
"""


class InitramfsError(BootFormatError):
    """An input of the initramfs (busybox, a tree to add) cannot be used.

    Attributes:
        path: the offending host file.
        field: what it was for (``busybox``, ``tree``, ``init``).
        expected: what was needed.
        found: what was there.
    """

    def __init__(self, message: str, *, path: str, field: str, expected: str, found: str) -> None:
        super().__init__(f"{path}: {message}: {field}: expected {expected}, found {found}")
        self.path = path
        self.field = field
        self.expected = expected
        self.found = found


def base_entries() -> list[CpioEntry]:
    """The directories and device nodes every initramfs built here starts with."""
    return [
        CpioEntry.directory("dev"),
        CpioEntry.char_device("dev/console", 5, 1),
        CpioEntry.char_device("dev/null", 1, 3, mode=0o666),
        CpioEntry.char_device("dev/urandom", 1, 9, mode=0o666),
        CpioEntry.directory("bin"),
        CpioEntry.directory("proc"),
        CpioEntry.directory("sys"),
        CpioEntry.directory("tmp", mode=0o1777),
    ]


def busybox_applets(busybox: str | os.PathLike[str]) -> list[str]:
    """The applet names a busybox binary offers (``busybox --list``; it must run here)."""
    result = subprocess.run(
        [os.fspath(busybox), "--list"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InitramfsError(
            "busybox --list failed",
            path=os.fspath(busybox),
            field="busybox",
            expected="an executable busybox for this machine",
            found=f"exit status {result.returncode}: {result.stderr.strip()}",
        )
    return [name for name in result.stdout.split() if name and "/" not in name]


def entries_from_tree(root: str | os.PathLike[str], prefix: str = "") -> list[CpioEntry]:
    """Entries for a host directory tree placed under ``prefix`` in the archive.

    Parents come before children, names are sorted (reproducible), symlinks are kept as
    links, regular files keep their permission bits, owners and times are left at 0.
    Device nodes, fifos and sockets in the tree are refused: describe them explicitly.
    """
    base = Path(root)
    if not base.is_dir():
        raise InitramfsError(
            "not a directory", path=str(base), field="tree", expected="a directory",
            found="missing" if not base.exists() else "a non-directory",
        )  # fmt: skip
    out: list[CpioEntry] = []
    prefix = prefix.strip("/")

    def name_of(path: Path) -> str:
        rel = path.relative_to(base).as_posix()
        return f"{prefix}/{rel}" if prefix else rel

    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        here = Path(dirpath)
        for child in sorted([*dirnames, *filenames]):
            path = here / child
            st = path.lstat()
            name = name_of(path)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out.append(CpioEntry.symlink(name, os.readlink(path)))
            elif stat.S_ISDIR(st.st_mode):
                out.append(CpioEntry.directory(name, perm))
            elif stat.S_ISREG(st.st_mode):
                out.append(CpioEntry.file(name, path.read_bytes(), perm))
            else:
                raise InitramfsError(
                    "special file in tree", path=str(path), field="tree",
                    expected="directories, regular files and symlinks",
                    found=f"mode {st.st_mode:#o}",
                )  # fmt: skip
        # Symlinked directories were listed as links above; do not descend into them.
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
    return out


def initramfs_entries(
    *,
    init: str | bytes = PROBE_INIT,
    busybox: str | os.PathLike[str] | None = None,
    applets: Iterable[str] = ("sh",),
    trees: Sequence[tuple[str | os.PathLike[str], str]] = (),
) -> list[CpioEntry]:
    """The entry list of an initramfs: base layout, busybox and its links, trees, /init.

    Args:
        init: the /init program (a script for ``/bin/sh`` by default).
        busybox: a static busybox binary to install as ``bin/busybox``.
        applets: applet names linked to busybox in ``bin/`` (``busybox_applets()`` for all).
        trees: host directories to add, each under an archive prefix.
    """
    entries = base_entries()
    if busybox is not None:
        path = Path(busybox)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise InitramfsError(
                "cannot read busybox", path=str(path), field="busybox",
                expected="a readable static busybox", found=exc.strerror or str(exc),
            ) from None  # fmt: skip
        if body[:4] != b"\x7fELF":
            raise InitramfsError(
                "not an ELF executable", path=str(path), field="busybox",
                expected="ELF magic 7f 45 4c 46", found=body[:4].hex(" "),
            )  # fmt: skip
        entries.append(CpioEntry.file("bin/busybox", body, 0o755))
        for applet in sorted(set(applets) - {"busybox"}):
            entries.append(CpioEntry.symlink(f"bin/{applet}", "busybox"))
    names = {e.name for e in entries}
    for root, prefix in trees:
        for entry in entries_from_tree(root, prefix):
            if entry.name in names:
                if entry.kind == "d":
                    continue  # the base layout already has it
                raise InitramfsError(
                    "tree entry collides with the base layout", path=os.fspath(root),
                    field="tree", expected="a name not already in the archive",
                    found=entry.name,
                )  # fmt: skip
            parent = entry.name.rpartition("/")[0]
            _ensure_parents(entries, names, parent)
            entries.append(entry)
            names.add(entry.name)
    body = init.encode() if isinstance(init, str) else init
    entries.append(CpioEntry.file("init", body, 0o755))
    return entries


def _ensure_parents(entries: list[CpioEntry], names: set[str], parent: str) -> None:
    parts = parent.split("/") if parent else []
    for depth in range(1, len(parts) + 1):
        name = "/".join(parts[:depth])
        if name not in names:
            entries.append(CpioEntry.directory(name))
            names.add(name)


def build_initramfs(
    *,
    init: str | bytes = PROBE_INIT,
    busybox: str | os.PathLike[str] | None = None,
    applets: Iterable[str] = ("sh",),
    trees: Sequence[tuple[str | os.PathLike[str], str]] = (),
    compression: Compression = "gzip",
    mtime: int = 0,
) -> bytes:
    """A complete, reproducible initramfs image (see :func:`initramfs_entries`)."""
    entries = initramfs_entries(init=init, busybox=busybox, applets=applets, trees=trees)
    return compress(build_archive(entries, mtime=mtime, uid=0, gid=0), compression)


def write_file_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename.

    One writer for the package (:func:`bootup.boot._atomic.write_atomic`), so a missing
    directory is reported against ``path``, not against the temporary file's name; ``mode``
    applies to a new file, an existing file keeps its permission bits.
    """
    write_atomic(path, data, mode=mode)
