"""The file-system checks: ``ConditionPathExists=`` and the other path and file conditions.

Why a module of its own: these checks only look at paths under the context's root (existence,
globs with braces, mount points, read-write, encryption, emptiness, executability), following
condition.c's ``condition_test_path_*()`` and ``dir_is_empty()`` rules. Private to
:mod:`bootup.runtime.conditions`, whose ``CONDITION_KINDS`` table names them.
"""

from __future__ import annotations

import glob
import itertools
import os
import stat

from bootup.errors import NotSupportedError
from bootup.runtime._condition_parse import _w
from bootup.runtime._condition_probe import _Context, _fs_type, _mountinfo, _read

_BACKUP_SUFFIXES = frozenset(
    _w(
        "rpmnew rpmsave rpmorig dpkg-old dpkg-new dpkg-tmp dpkg-dist dpkg-bak dpkg-backup "
        "dpkg-remove ucf-new ucf-old ucf-dist swp bak old new"
    )
)


def _path_exists(p: str, ctx: _Context) -> bool:
    return os.access(ctx.path(p), os.F_OK)


def _expand_braces(pattern: str) -> list[str]:
    """glob(3)'s GLOB_BRACE: ``a{b,c{d,e}}`` -> ``ab acd ace``, ``{x}`` -> ``x``.

    Unbalanced braces stay as they are.
    """
    depth = 0
    start = -1
    commas: list[int] = []
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start, commas = i, []
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                head, tail = pattern[:start], pattern[i + 1 :]
                cuts = [start, *commas, i]
                out: list[str] = []
                for left, right in itertools.pairwise(cuts):
                    out.extend(_expand_braces(head + pattern[left + 1 : right] + tail))
                return out
        elif ch == "," and depth == 1:
            commas.append(i)
    return [pattern]


def _path_exists_glob(p: str, ctx: _Context) -> bool:
    return any(glob.glob(ctx.path(alt)) for alt in _expand_braces(p))


def _path_is_directory(p: str, ctx: _Context) -> bool:
    return os.path.isdir(ctx.path(p))


def _path_is_symbolic_link(p: str, ctx: _Context) -> bool:
    return os.path.islink(ctx.path(p))


def _path_is_mount_point(p: str, ctx: _Context) -> bool:
    path = ctx.path(p)
    if not os.path.exists(path):
        return False
    real = os.path.realpath(path)
    return any(point == real for point, _t, _s in _mountinfo())


def _path_is_read_write(p: str, ctx: _Context) -> bool:
    try:
        st = os.statvfs(ctx.path(p))
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return not st.f_flag & os.ST_RDONLY


def _block_encrypted(devnum: str, seen: set[str]) -> bool:
    if devnum in seen:
        return False
    seen.add(devnum)
    base = f"/sys/dev/block/{devnum}"
    if (_read(f"{base}/dm/uuid") or "").startswith("CRYPT-"):
        return True
    try:
        slaves = os.listdir(f"{base}/slaves")
    except OSError:
        return False
    for slave in slaves:
        dev = (_read(f"{base}/slaves/{slave}/dev") or "").strip()
        if dev and _block_encrypted(dev, seen):
            return True
    return False


def _path_is_encrypted(p: str, ctx: _Context) -> bool:
    path = ctx.path(p)
    try:
        st = os.stat(path)
    except OSError:
        return False
    if os.major(st.st_dev) == 0:
        if _fs_type(os.path.realpath(path)) == "btrfs":
            raise NotSupportedError("finding the devices behind btrfs is not supported yet")
        return False
    return _block_encrypted(f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", set())


def _hidden_or_backup(name: str) -> bool:
    if name.startswith(".") or name in ("lost+found", "aquota.user", "aquota.group"):
        return True
    if name.endswith("~"):
        return True
    _, dot, suffix = name.rpartition(".")
    return bool(dot) and suffix in _BACKUP_SUFFIXES


def _directory_not_empty(p: str, ctx: _Context) -> bool:
    try:
        names = os.listdir(ctx.path(p))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return any(not _hidden_or_backup(n) for n in names)


def _file_not_empty(p: str, ctx: _Context) -> bool:
    try:
        st = os.stat(ctx.path(p))
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0


def _file_is_executable(p: str, ctx: _Context) -> bool:
    try:
        st = os.stat(ctx.path(p))
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)
