"""Whether GRUB can rewrite grubenv in place at boot (``save_env``, ``grub-reboot``).

Why a module of its own: GRUB writes grubenv only by overwriting its blocks where they lie, so
a sparse grubenv, or one on btrfs, ZFS, a read-only image format, device-mapper (LVM, LUKS) or
software RAID is never updated at boot; both the chain report and the default-entry writers
warn about it. Public through :mod:`bootup.boot.explain`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Filesystems (and block layers) on which GRUB cannot rewrite grubenv in place at boot.
_UNWRITABLE_FS = frozenset({"btrfs", "zfs", "cpiofs", "newc", "odc", "romfs", "squashfs", "tarfs"})


def env_write_problem(path: str | os.PathLike[str]) -> str | None:
    """Why GRUB could not rewrite ``path`` in place at boot, or ``None`` if it can.

    GRUB writes grubenv through the file's block list, which fails on btrfs/ZFS (no stable
    block list: "sparse file not allowed"), on LVM/RAID/LUKS (no write support in GRUB's
    diskfilter) and for a sparse file.
    """
    target = Path(path)
    probe = target if target.exists() else target.parent
    try:
        info = probe.stat()
    except OSError:
        return None
    if target.exists() and target.is_file() and info.st_blocks * 512 < info.st_size:
        return "the file is sparse"
    mount = _mount_of(info.st_dev)
    if mount is None:
        return None
    fstype, source = mount
    return classify_env_location(fstype, source)


def classify_env_location(fstype: str, source: str) -> str | None:
    """The reason a filesystem type / block source keeps GRUB from writing, or ``None``."""
    if fstype in _UNWRITABLE_FS:
        return f"{fstype} filesystem"
    if source.startswith("/dev/mapper/") or source.startswith("/dev/dm-"):
        return f"device-mapper device {source} (LVM/LUKS)"
    if re.match(r"/dev/md\d*", source):
        return f"software RAID device {source}"
    return None


def _mount_of(device: int) -> tuple[str, str] | None:
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[2] != wanted or "-" not in fields:
            continue
        dash = fields.index("-")
        return fields[dash + 1], fields[dash + 2]
    return None
