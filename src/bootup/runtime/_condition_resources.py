"""The checks of the machine's state and resources: power, updates, cgroups, CPUs, memory, pressure.

Why a module of its own: ``ConditionACPower=``, ``NeedsUpdate=``, ``FirstBoot=``,
``ControlGroupController=``, ``CPUs=``, ``Memory=`` and the ``*Pressure=`` conditions look at
what the machine has and how loaded it is now, as condition.c reads it (power supplies, the
cgroup hierarchy, the CPU affinity mask, PSI files). Private to
:mod:`bootup.runtime.conditions`, whose ``CONDITION_KINDS`` table names them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from bootup.errors import NotSupportedError
from bootup.runtime._condition_parse import (
    _CheckError,
    _order,
    _parse_boolean,
    _parse_operator,
    _parse_permyriad,
    _parse_size,
    _split_words,
    _w,
)
from bootup.runtime._condition_probe import (
    _cg_all_unified,
    _Context,
    _physical_memory,
    _proc_cmdline,
    _read,
)

#: The cgroup controllers systemd knows (cgroup-util.c), and those it probes on cgroup v1.
_CG_CONTROLLERS = _w(
    "cpu cpuacct cpuset io blkio memory devices pids bpf-firewall bpf-devices bpf-foreign "
    "bpf-socket-bind bpf-restrict-network-interfaces"
)
_CG_V1 = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")


def _ac_power(p: str, ctx: _Context) -> bool:
    wanted = _parse_boolean(p)
    found_online = found_offline = False
    try:
        supplies = os.listdir("/sys/class/power_supply")
    except OSError:
        supplies = []
    for name in supplies:
        base = f"/sys/class/power_supply/{name}"
        if (_read(f"{base}/type") or "").strip() != "Mains":
            continue
        online = (_read(f"{base}/online") or "").strip()
        if online == "1":
            found_online = True
        elif online == "0":
            found_offline = True
    on_ac = found_online or not found_offline
    return on_ac == wanted


def _needs_update(p: str, ctx: _Context) -> bool:
    for word in _split_words(_proc_cmdline(ctx)):
        key, eq, value = word.partition("=")
        if key == "systemd.condition-needs-update":
            try:
                return _parse_boolean(value) if eq else True
            except _CheckError:
                break
    if os.path.exists(ctx.path("/etc/initrd-release")):
        return False
    if not p.startswith("/"):
        return True
    try:
        if os.statvfs(ctx.path(p)).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        pass
    stamp = ctx.path(p.rstrip("/") + "/.updated")
    try:
        other = os.lstat(stamp)
        usr = os.lstat(ctx.path("/usr/"))
    except OSError:
        return True
    usr_ns, other_ns = usr.st_mtime_ns, other.st_mtime_ns
    if usr_ns // 10**9 != other_ns // 10**9:
        return usr_ns // 10**9 > other_ns // 10**9
    if usr_ns % 10**9 == 0 or other_ns % 10**9 > 0:
        return usr_ns % 10**9 > other_ns % 10**9
    for line in (_read(stamp) or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "TIMESTAMP_NSEC" and value.strip().isdigit():
            return usr_ns > int(value.strip())
    return True


def _first_boot(p: str, ctx: _Context) -> bool:
    return os.path.exists(ctx.path("/run/systemd/first-boot")) == _parse_boolean(p)


def _control_group_controller(p: str, ctx: _Context) -> bool:
    unified = _cg_all_unified()
    if p == "v2":
        return unified
    if p == "v1":
        return not unified
    wanted = [w for w in p.split() if w in _CG_CONTROLLERS]
    if not wanted:
        return True
    if unified:
        text = _read("/sys/fs/cgroup/cgroup.controllers") or ""
        have = set(text.split())
        if "cpu" in have:
            have.add("cpuacct")
        if "io" in have:
            have.add("blkio")
        if any(w.startswith("bpf-") or w == "devices" for w in wanted):
            raise NotSupportedError(
                "the devices and BPF pseudo-controllers on cgroup v2 are not supported yet"
            )
    else:
        have = {c for c in _CG_V1 if os.access(f"/sys/fs/cgroup/{c}", os.F_OK)}
    return all(w in have for w in wanted)


def _memory(p: str, ctx: _Context) -> bool:
    op, rest = _parse_operator(p, fnmatch_ok=False, by_string=False)
    mem = _physical_memory()
    wanted = _parse_size(rest)
    return _order((mem > wanted) - (mem < wanted), op or "ge")


def _cpus(p: str, ctx: _Context) -> bool:
    op, rest = _parse_operator(p, fnmatch_ok=False, by_string=False)
    if not rest.strip().isdigit():
        raise _CheckError(f"not a number of CPUs: {rest!r}")
    n, wanted = len(os.sched_getaffinity(0)), int(rest.strip())
    return _order((n > wanted) - (n < wanted), op or "ge")


def _pressure(kind: str) -> Callable[[str, _Context], bool]:
    def test(p: str, ctx: _Context) -> bool:
        if not all(os.path.exists(f"/proc/pressure/{k}") for k in ("cpu", "io", "memory")):
            return True
        parts = p.split(":")
        if len(parts) > 2 or not p:
            raise _CheckError(f"bad parameter {p!r}")
        if len(parts) == 2:
            if not _cg_all_unified():
                return True  # systemd: needs the unified hierarchy, so the check is skipped
            raise NotSupportedError("the pressure of a slice is not supported yet")
        value, _, span = parts[0].partition("/")
        field = "avg300"
        if span:
            span = span.lstrip()
            for prefix, name in (("10sec", "avg10"), ("1min", "avg60"), ("5min", "avg300")):
                if span.startswith(prefix):
                    field = name
                    break
            else:
                raise _CheckError(f"bad timespan in {p!r}")
        limit = _parse_permyriad(value.strip())
        text = _read(f"/proc/pressure/{kind}") or ""
        lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
        # systemd 252 reads "some" for CPU (the kernel's cpu "full" line is newer) and
        # "full" for memory and IO (measured against systemd-analyze condition).
        line = lines.get("some") if kind == "cpu" else lines.get("full")
        if line is None:
            raise _CheckError(f"no data in /proc/pressure/{kind}")
        m = re.search(rf"\b{field}=([0-9]+)\.([0-9]+)", line)
        if not m:
            raise _CheckError(f"no {field} in /proc/pressure/{kind}")
        current = int(m.group(1)) * 100 + int(m.group(2)[:2].ljust(2, "0"))
        return current <= limit

    return test
