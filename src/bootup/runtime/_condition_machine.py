"""The checks of what this machine is and who runs the manager.

Why a module of its own: ``ConditionUser=``, ``Group=``, ``Host=``, ``KernelCommandLine=``,
``KernelVersion=``, ``Credential=``, ``Environment=``, ``Architecture=``, ``Firmware=``,
``Security=``, ``Capability=``, ``CPUFeature=`` and ``OSRelease=`` each compare a parameter
with one fact about the machine, with systemd's tables (architecture.c, cap-list.c,
cpu-set-util's flags) beside them. Private to :mod:`bootup.runtime.conditions`, whose
``CONDITION_KINDS`` table names them.
"""

from __future__ import annotations

import errno
import fnmatch
import grp
import os
import platform
import pwd
import re
import socket
from pathlib import Path

from bootup.errors import NotSupportedError
from bootup.runtime._condition_parse import (
    _OPERATOR_CHARS,
    _CheckError,
    _key_matches,
    _parse_boolean,
    _parse_operator,
    _split_words,
    _version_or_fnmatch,
    _w,
)
from bootup.runtime._condition_probe import _Context, _detect_container, _proc_cmdline, _read
from bootup.units.architecture import KNOWN_ARCHITECTURES, architecture_of

#: systemd's SYSTEM_UID_MAX / SYSTEM_GID_MAX on Debian.
_SYSTEM_ID_MAX = 999
_UID_NOBODY = 65534
_CAPABILITIES = _w(
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
    "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner "
    "sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice "
    "sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap "
    "mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf "
    "checkpoint_restore"
)


#: x86 CPUID flags systemd's has_cpu_with_flag() knows, as /proc/cpuinfo spells them.
_CPU_FLAGS = {
    **{
        n: n
        for n in _w(
            "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts "
            "acpi mmx fxsr sse sse2 ss ht tm ia64 pbe pni dtes64 monitor ds_cpl vmx smx est tm2 "
            "ssse3 cid fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt "
            "tsc_deadline_timer aes xsave avx f16c rdrand syscall mmxext fxsr_opt pdpe1gb rdtscp "
            "lm constant_tsc"
        )
    },
    "pclmul": "pclmulqdq",
}


def _parse_id(text: str) -> int | None:
    if not text.isdigit() or (len(text) > 1 and text.startswith("0")):
        return None
    value = int(text)
    return None if value in (65535, 4294967295) or value > 4294967295 else value


def _user(p: str, ctx: _Context) -> bool:
    uid, euid = os.getuid(), os.geteuid()
    if p == "root":
        return 0 in (uid, euid)
    if p == "nobody":
        return _UID_NOBODY in (uid, euid)
    if p == "@system":
        return uid <= _SYSTEM_ID_MAX or euid <= _SYSTEM_ID_MAX
    wanted = _parse_id(p)
    if wanted is not None:
        return wanted in (uid, euid)
    if os.getpid() == 1:
        return False
    try:
        if pwd.getpwuid(uid).pw_name == p:
            return True
    except KeyError:
        pass
    try:
        return pwd.getpwnam(p).pw_uid in (uid, euid)
    except KeyError:
        return False


def _in_gid(gid: int) -> bool:
    return gid in (os.getgid(), os.getegid()) or gid in os.getgroups()


def _group(p: str, ctx: _Context) -> bool:
    wanted = _parse_id(p)
    if wanted is not None:
        return _in_gid(wanted)
    if os.getpid() == 1:
        return p == "root"
    try:
        return _in_gid(grp.getgrnam(p).gr_gid)
    except KeyError:
        return False


def _host(p: str, ctx: _Context) -> bool:
    hexid = p.replace("-", "") if len(p) == 36 else p
    if len(hexid) == 32 and all(ch in "0123456789abcdefABCDEF" for ch in hexid):
        machine = _read(ctx.path("/etc/machine-id"))
        if machine is None:
            raise _CheckError("no /etc/machine-id")
        return machine.strip().lower() == hexid.lower()
    return fnmatch.fnmatchcase(socket.gethostname().lower(), p.lower())


def _kernel_command_line(p: str, ctx: _Context) -> bool:
    return _key_matches(_split_words(_proc_cmdline(ctx)), p)


def _kernel_version(p: str, ctx: _Context) -> bool:
    release = os.uname().release
    words = _split_words(p, relax=False)
    first = True
    while words:
        word = words.pop(0).strip()
        op, rest = _parse_operator(word, fnmatch_ok=True, by_string=True)
        if op is None:
            op = "fnmatch-equal"
        rest = rest.lstrip()
        if not rest:
            if not first or not words:
                raise _CheckError(f"unexpected end of expression: {p!r}")
            rest = words.pop(0)
        if not _version_or_fnmatch(op, release, rest):
            return False
        first = False
    return True


def _credential(p: str, ctx: _Context) -> bool:
    if not p or p in (".", "..") or "/" in p or len(p) > 255:
        return False
    for var in ("CREDENTIALS_DIRECTORY", "ENCRYPTED_CREDENTIALS_DIRECTORY"):
        directory = ctx.environ.get(var)
        if directory is None:
            continue
        if not directory.startswith("/"):
            raise _CheckError(f"${var} is not absolute")
        if os.path.lexists(os.path.join(directory, p)):
            return True
    return False


def _environment(p: str, ctx: _Context) -> bool:
    return _key_matches([f"{k}={v}" for k, v in ctx.environ.items()], p)


def _uname_architecture() -> str:
    machine = platform.machine()
    arch = architecture_of(machine)
    if arch is None:
        raise NotSupportedError(f"the machine type {machine!r} is not supported yet")
    return arch


def _architecture(p: str, ctx: _Context) -> bool:
    actual = _uname_architecture()
    if p == "native":
        return True
    if p not in KNOWN_ARCHITECTURES:
        return False
    return actual == p


def _is_efi_boot(ctx: _Context) -> bool:
    return _detect_container(ctx) is None and os.path.isdir("/sys/firmware/efi")


def _firmware(p: str, ctx: _Context) -> bool:
    if p == "device-tree":
        return os.path.exists("/sys/firmware/devicetree/")
    if p.startswith("device-tree-compatible("):
        arg = p[len("device-tree-compatible(") :]
        end = arg.rfind(")")
        if end < 0 or end != len(arg) - 1:
            return False
        try:
            raw = Path("/proc/device-tree/compatible").read_bytes()
        except OSError:
            return False
        if not raw or not raw.endswith(b"\0"):
            return False
        return arg[:end] in raw[:-1].decode(errors="replace").split("\0")
    if p == "uefi":
        return _is_efi_boot(ctx)
    return False  # systemd 252: "Unsupported Firmware condition", false


def _efi_var(name: str) -> bytes | None:
    try:
        data = Path(
            f"/sys/firmware/efi/efivars/{name}-8be4df61-93ca-11d2-aa0d-00e098032b8c"
        ).read_bytes()
    except OSError:
        return None
    return data[4:]


def _security(p: str, ctx: _Context) -> bool:
    if p == "selinux":
        return os.path.exists("/sys/fs/selinux/enforce")
    if p == "smack":
        return os.path.exists("/sys/fs/smackfs/")
    if p == "apparmor":
        text = (_read("/sys/module/apparmor/parameters/enabled") or "").strip()
        try:
            return _parse_boolean(text)
        except _CheckError:
            return False
    if p == "audit":
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)  # NETLINK_AUDIT
        except OSError as exc:
            return exc.errno not in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EPERM)
        sock.close()
        return True
    if p == "ima":
        return os.path.exists("/sys/kernel/security/ima/")
    if p == "tomoyo":
        return os.path.exists("/sys/kernel/security/tomoyo/version")
    if p == "uefi-secureboot":
        if not _is_efi_boot(ctx):
            return False
        secure, setup = _efi_var("SecureBoot"), _efi_var("SetupMode")
        if secure is None or secure[:1] != b"\x01":
            return False
        return setup is None or setup[:1] != b"\x01"
    if p == "tpm2":
        return (
            os.path.isdir("/sys/class/tpmrm")
            and bool(os.listdir("/sys/class/tpmrm"))
            and _is_efi_boot(ctx)
            and os.path.exists("/sys/firmware/acpi/tables/TPM2")
        )
    return False


def _capability(p: str, ctx: _Context) -> bool:
    low = p.lower()
    name = low.removeprefix("cap_")
    if low.startswith("cap_") and name in _CAPABILITIES:
        bit = _CAPABILITIES.index(name)
    elif p.isdigit() and int(p) < 63:
        bit = int(p)
    else:
        raise _CheckError(f"unknown capability {p!r}")
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line[7:].strip(), 16) >> bit & 1)
    return True


def _cpu_feature(p: str, ctx: _Context) -> bool:
    name = p.lower()
    if platform.machine() not in ("x86_64", "i386", "i486", "i586", "i686"):
        return False
    if name == "osxsave":
        raise NotSupportedError("osxsave is only visible through CPUID; not supported yet")
    flag = _CPU_FLAGS.get(name)
    if flag is None:
        return False
    match = re.search(r"^flags\s*:(.*)$", _read("/proc/cpuinfo") or "", re.M)
    return match is not None and flag in match.group(1).split()


def _os_release_value(key: str, ctx: _Context) -> str:
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read(ctx.path(name))
        if text is None:
            continue
        for line in text.splitlines():
            k, eq, v = line.strip().partition("=")
            if eq and k == key:
                words = _split_words(v)
                return " ".join(words) if words else ""
        return ""
    raise _CheckError("no os-release file")


def _os_release(p: str, ctx: _Context) -> bool:
    for condition in _split_words(p, relax=False):
        cut = min((condition.find(ch) for ch in _OPERATOR_CHARS if ch in condition), default=-1)
        if cut <= 0:
            raise _CheckError(f"key/value format expected: {condition!r}")
        key, rest = condition[:cut], condition[cut:]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise _CheckError(f"invalid key {key!r}")
        op, value = _parse_operator(rest, fnmatch_ok=True, by_string=True)
        if op is None or not value or value[0] in " \t\n\r":
            raise _CheckError(f"key/value format expected: {condition!r}")
        if not _version_or_fnmatch(op, _os_release_value(key, ctx), value):
            return False
    return True
