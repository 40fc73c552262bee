"""What the condition checks read from the running system: /proc, /sys and the container.

Why a module of its own: several checks need the same facts (the mount table, the cgroup
hierarchy, whether this is a container, the kernel command line, the memory limit), read the
way systemd's helpers read them (mountinfo, ``detect_container()``, ``proc_cmdline()``,
``physical_memory()``); the :class:`_Context` carries the root and environment a check is made
against. Private to :mod:`bootup.runtime.conditions`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bootup.runtime._condition_parse import _CheckError

_CONTAINER_IDS = frozenset(
    ("lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl", "proot", "pouch")
)


@dataclass(frozen=True, slots=True)
class _Context:
    root: str
    environ: Mapping[str, str]

    def path(self, parameter: str) -> str:
        if self.root in ("", "/"):
            return parameter
        return os.path.join(self.root, parameter.lstrip("/"))


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _mountinfo() -> list[tuple[str, str, str]]:
    """(mount point, fs type, source) for each line of /proc/self/mountinfo."""
    text = _read("/proc/self/mountinfo") or ""
    rows = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rest = right.split()
        if len(fields) < 5 or len(rest) < 2:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        rows.append((point, rest[0], rest[1]))
    return rows


def _fs_type(path: str) -> str | None:
    best = ""
    kind: str | None = None
    for point, fstype, _source in _mountinfo():
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fstype
    return kind


def _cg_all_unified() -> bool:
    return _fs_type("/sys/fs/cgroup") == "cgroup2"


def _detect_container(ctx: _Context) -> str | None:
    if os.path.exists("/proc/vz") and not os.path.exists("/proc/bc"):
        return "openvz"
    osrelease = _read("/proc/sys/kernel/osrelease") or ""
    if "Microsoft" in osrelease or "WSL" in osrelease:
        return "wsl"
    value: str | None = None
    if os.getpid() == 1:
        value = os.environ.get("container")  # noqa: SIM112 - systemd's spelling
    else:
        for path in ("/run/host/container-manager", "/run/systemd/container"):
            text = _read(path)
            if text is not None:
                value = text.strip()
                break
        if value is None:
            try:
                raw = Path("/proc/1/environ").read_bytes()
            except OSError:
                raw = b""
            for item in raw.split(b"\0"):
                if item.startswith(b"container="):
                    value = item[len(b"container=") :].decode(errors="replace")
    if value is None:
        if os.path.exists("/run/.containerenv"):
            return "podman"
        if os.path.exists("/.dockerenv"):
            return "docker"
        return None
    if not value:
        return None
    return value if value in _CONTAINER_IDS else "container-other"


def _running_in_userns() -> bool:
    for name in ("uid_map", "gid_map"):
        text = _read(f"/proc/self/{name}")
        if text is None:
            return False
        first = text.split()
        if first[:3] != ["0", "0", "4294967295"]:
            return True
    setgroups = _read("/proc/self/setgroups")
    return setgroups is not None and setgroups.strip() == "deny"


def _proc_cmdline(ctx: _Context) -> str:
    override = os.environ.get("SYSTEMD_PROC_CMDLINE")
    if override is not None:
        return override
    if _detect_container(ctx) is not None:
        try:
            raw = Path("/proc/1/cmdline").read_bytes()
        except OSError as exc:
            raise _CheckError(str(exc)) from exc
        return " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p)
    text = _read("/proc/cmdline")
    if text is None:
        raise _CheckError("cannot read /proc/cmdline")
    return text.strip()


def _physical_memory() -> int:
    pages = os.sysconf("SC_PHYS_PAGES")
    size = os.sysconf("SC_PAGE_SIZE")
    mem = int(pages) * int(size)
    limit: int | None = None
    if _cg_all_unified():
        text = _read("/sys/fs/cgroup/memory.max")
    else:
        text = _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if text is not None and text.strip().isdigit():
        limit = int(text.strip())
    if limit is not None and limit < mem:
        mem = limit // size * size
    return mem
