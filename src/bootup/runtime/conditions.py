"""``Condition*=`` and ``Assert*=`` evaluated the way systemd 252 evaluates them.

Spec: systemd.unit(5) "Conditions and Asserts"; behaviour pinned against
``systemd-analyze condition`` (reference systemd.md O5, scenario C33).

Why this is its own module: the manager checks conditions when a job *runs* (not when the
transaction is built), and ``status`` shows each checked line, so the evaluation must be a
pure "look at the system now" function with a result that carries every line's outcome.

Semantics kept from systemd's ``condition_test_list()``:

* all non-trigger lines must pass; if any ``|`` trigger line exists, at least one must pass;
* ``!`` negates a line's result, but a line whose check *errors* (unparsable parameter, an
  unreadable file that must be read) counts as failed whether or not it is negated;
* an empty assignment resets the list (the loader does that, so an empty list passes);
* asserts are evaluated like conditions; a failed assert fails the job instead of skipping it.

A check that cannot be made faithfully here (the hypervisor behind CPUID, btrfs-backed
encryption, per-slice pressure on the unified hierarchy) raises
:class:`~bootup.errors.NotSupportedError` rather than guessing.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import grp
import itertools
import os
import platform
import pwd
import re
import socket
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootup.errors import NotSupportedError
from bootup.units.model import Condition, Unit

__all__ = (
    "CONDITION_KINDS",
    "ConditionResult",
    "check",
    "evaluate",
    "evaluate_list",
    "strverscmp_improved",
    "written",
)


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


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
#: uname -m -> systemd's architecture name (architecture.c).
_ARCHITECTURES = {
    "x86_64": "x86-64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "aarch64_be": "arm64-be",
    "ppc64le": "ppc64-le",
    "ppc64": "ppc64",
    "ppc": "ppc",
    "s390x": "s390x",
    "s390": "s390",
    "riscv64": "riscv64",
    "riscv32": "riscv32",
    "loongarch64": "loongarch64",
    "mips64": "mips64",
    "mips": "mips",
    "alpha": "alpha",
    "ia64": "ia64",
    "parisc64": "parisc64",
    "parisc": "parisc",
    "sparc64": "sparc64",
    "sparc": "sparc",
    "m68k": "m68k",
}
_KNOWN_ARCHITECTURES = frozenset(_ARCHITECTURES.values()) | {
    "arm",
    "arm-be",
    "arc",
    "arc-be",
    "cris",
    "mips-le",
    "mips64-le",
    "nios2",
    "ppc-le",
    "sh",
    "sh64",
    "tilegx",
}
#: The cgroup controllers systemd knows (cgroup-util.c), and those it probes on cgroup v1.
_CG_CONTROLLERS = _w(
    "cpu cpuacct cpuset io blkio memory devices pids bpf-firewall bpf-devices bpf-foreign "
    "bpf-socket-bind bpf-restrict-network-interfaces"
)
_CG_V1 = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")
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
_BACKUP_SUFFIXES = frozenset(
    _w(
        "rpmnew rpmsave rpmorig dpkg-old dpkg-new dpkg-tmp dpkg-dist dpkg-bak dpkg-backup "
        "dpkg-remove ucf-new ucf-old ucf-dist swp bak old new"
    )
)
_CONTAINER_IDS = frozenset(
    ("lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl", "proot", "pouch")
)
_VM_IDS = frozenset(
    _w(
        "qemu kvm amazon zvm vmware microsoft oracle powervm xen bochs uml parallels bhyve "
        "qnx acrn apple sre vm-other"
    )
)
_DMI_VENDORS = (
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
)
_OPERATORS = (
    # (text, operator, needs fnmatch permission, only with equal-by-string)
    ("!$=", "fnmatch-unequal", True, False),
    ("$=", "fnmatch-equal", True, False),
    ("<>", "unequal", False, False),
    ("<=", "le", False, False),
    (">=", "ge", False, False),
    ("<", "lt", False, False),
    (">", "gt", False, False),
    ("==", "equal", False, False),
    ("=", "string-equal", False, True),
    ("=", "equal", False, False),
    ("!=", "string-unequal", False, True),
    ("!=", "unequal", False, False),
)
_OPERATOR_CHARS = "!<=>$"


class _CheckError(Exception):
    """A check could not be made (systemd's negative return): the line counts as failed."""


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """The outcome of a unit's condition and assert lists when its start job runs.

    ``checks`` lists every line that was evaluated, asserts first (systemd checks them in
    that order and ``status`` shows them), as ``(Name, parameter as written, result)``.
    """

    passed: bool
    failed_assert: bool
    message: str
    checks: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True, slots=True)
class _Context:
    root: str
    environ: Mapping[str, str]

    def path(self, parameter: str) -> str:
        if self.root in ("", "/"):
            return parameter
        return os.path.join(self.root, parameter.lstrip("/"))


def written(condition: Condition) -> str:
    """The parameter as systemd prints it: ``|`` and ``!`` prefixes, then the value."""
    return (
        ("|" if condition.trigger else "") + ("!" if condition.negate else "") + condition.parameter
    )


def evaluate(
    unit: Unit, *, root: str = "/", environ: Mapping[str, str] | None = None
) -> ConditionResult:
    """Evaluate ``unit``'s asserts, then its conditions, against the running system.

    Args:
        unit: the loaded unit; its lists already reflect resets by empty assignments.
        root: the directory path conditions are resolved under (``/`` for the host).
        environ: the manager's environment for ``ConditionEnvironment=`` and
            ``ConditionCredential=`` (defaults to this process's environment).

    Raises:
        NotSupportedError: a line names a check bootup cannot make faithfully here.
    """
    env = dict(os.environ if environ is None else environ)
    ctx = _Context(root, env)
    assert_ok, assert_checks = _test_list(unit.asserts, ctx)
    if not assert_ok:
        return ConditionResult(False, True, f"Assertion failed for {unit.name}.", assert_checks)
    cond_ok, cond_checks = _test_list(unit.conditions, ctx)
    checks = assert_checks + cond_checks
    if not cond_ok:
        return ConditionResult(
            False, False, f"Condition check resulted in {unit.name} being skipped.", checks
        )
    return ConditionResult(True, False, "", checks)


def evaluate_list(
    conditions: Sequence[Condition], *, root: str = "/", environ: Mapping[str, str] | None = None
) -> tuple[bool, tuple[tuple[str, str, bool], ...]]:
    """Evaluate one list with trigger semantics; return ``(passed, checks)``."""
    env = dict(os.environ if environ is None else environ)
    return _test_list(conditions, _Context(root, env))


def check(
    condition: Condition, *, root: str = "/", environ: Mapping[str, str] | None = None
) -> bool:
    """One line's result, negation applied (an erroring check is ``False``)."""
    env = dict(os.environ if environ is None else environ)
    return _test_one(condition, _Context(root, env))


def _test_list(
    conditions: Sequence[Condition], ctx: _Context
) -> tuple[bool, tuple[tuple[str, str, bool], ...]]:
    checks: list[tuple[str, str, bool]] = []
    triggered: bool | None = None
    for c in conditions:
        ok = _test_one(c, ctx)
        checks.append((c.name, written(c), ok))
        if not c.trigger and not ok:
            return False, tuple(checks)
        if c.trigger and not triggered:
            triggered = ok
    return triggered is not False, tuple(checks)


def _test_one(c: Condition, ctx: _Context) -> bool:
    kind = c.name.removeprefix("Condition").removeprefix("Assert")
    test = CONDITION_KINDS.get(kind)
    if test is None:
        raise NotSupportedError(f"{c.path}:{c.line}: {c.name}= is not supported yet")
    try:
        result = test(c.parameter, ctx)
    except _CheckError:
        return False
    except NotSupportedError as exc:
        raise NotSupportedError(f"{c.path}:{c.line}: {c.name}={written(c)}: {exc}") from None
    return result != c.negate


# --- helpers ---------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _parse_boolean(text: str) -> bool:
    low = text.lower()
    if low in ("1", "yes", "y", "true", "t", "on"):
        return True
    if low in ("0", "no", "n", "false", "f", "off"):
        return False
    raise _CheckError(f"not a boolean: {text!r}")


def _split_words(text: str, *, relax: bool = True) -> list[str]:
    """extract_first_word(EXTRACT_UNQUOTE): whitespace-separated, quotes removed."""
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\n\r":
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and i + 1 < n:
                    i += 1
                    word.append(text[i])
                else:
                    word.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < n:
                i += 1
                word.append(text[i])
            elif ch in " \t\n\r":
                break
            else:
                word.append(ch)
            i += 1
        if quote and not relax:
            raise _CheckError("unbalanced quotes")
        words.append("".join(word))


def _parse_operator(text: str, *, fnmatch_ok: bool, by_string: bool) -> tuple[str | None, str]:
    for token, op, needs_fnmatch, needs_string in _OPERATORS:
        if needs_fnmatch and not fnmatch_ok:
            continue
        if needs_string and not by_string:
            continue
        if text.startswith(token):
            return op, text[len(token) :]
    return None, text


def _order(cmp: int, op: str) -> bool:
    return {
        "lt": cmp < 0,
        "le": cmp <= 0,
        "equal": cmp == 0,
        "unequal": cmp != 0,
        "ge": cmp >= 0,
        "gt": cmp > 0,
    }[op]


def _version_or_fnmatch(op: str, actual: str, pattern: str) -> bool:
    if op == "fnmatch-equal":
        return fnmatch.fnmatchcase(actual, pattern)
    if op == "fnmatch-unequal":
        return not fnmatch.fnmatchcase(actual, pattern)
    if op == "string-equal":
        return actual == pattern
    if op == "string-unequal":
        return actual != pattern
    return _order(strverscmp_improved(actual, pattern), op)


def _valid_version_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "~-^.")


def _cmp(x: str | int, y: str | int) -> int:
    if isinstance(x, str) and isinstance(y, str):
        return (x > y) - (x < y)
    return (int(x) > int(y)) - (int(x) < int(y))


def _span(text: str, start: int, accept: Callable[[str], bool]) -> int:
    end = start
    while end < len(text) and accept(text[end]):
        end += 1
    return end


def _is_digit(ch: str) -> bool:
    return ch in "0123456789"


def _is_alpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def strverscmp_improved(a: str, b: str) -> int:
    """Compare two version strings the way systemd does (string-util.c); -1, 0 or 1.

    Segment by segment: ``~`` sorts before everything (pre-releases), then the end of the
    string, then ``-`` (release), ``^`` (patch) and ``.``; numeric segments compare by
    value and are newer than alphabetic ones. Pinned against ``systemd-analyze
    compare-versions``.
    """
    if not a or not b:
        return _cmp(a, b)
    i = j = 0
    while True:
        i = _span(a, i, lambda ch: not _valid_version_char(ch))
        j = _span(b, j, lambda ch: not _valid_version_char(ch))
        for sep in ("~", "", "-", "^", "."):
            ca, cb = a[i : i + 1], b[j : j + 1]
            if sep == "":
                if not ca or not cb:  # one string ended: the longer one is newer
                    return _cmp(a[i:], b[j:])
                continue
            if sep in (ca, cb):
                r = _cmp(ca != sep, cb != sep)
                if r:
                    return r
                i, j = i + 1, j + 1
        ca, cb = a[i : i + 1], b[j : j + 1]
        if _is_digit(ca) or _is_digit(cb):
            ea, eb = _span(a, i, _is_digit), _span(b, j, _is_digit)
            r = _cmp(ea != i, eb != j)  # a number is newer than nothing
            if r:
                return r
            i, j = _span(a, i, lambda ch: ch == "0"), _span(b, j, lambda ch: ch == "0")
            r = _cmp(ea - i, eb - j) or _cmp(a[i:ea], b[j:eb])
        else:
            ea, eb = _span(a, i, _is_alpha), _span(b, j, _is_alpha)
            m = min(ea - i, eb - j)
            r = _cmp(a[i : i + m], b[j : j + m]) or _cmp(ea - i, eb - j)
        if r:
            return r
        i, j = ea, eb


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


def _detect_vm() -> str | None:
    for name in ("product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version"):
        text = _read(f"/sys/class/dmi/id/{name}")
        if text is None:
            continue
        for prefix, vm in _DMI_VENDORS:
            if text.startswith(prefix):
                return vm
    if (_read("/sys/hypervisor/type") or "").strip() == "xen":
        return "xen"
    cpuinfo = _read("/proc/cpuinfo") or ""
    if re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.M):
        raise NotSupportedError(
            "telling which hypervisor runs this machine needs CPUID, which is not supported yet"
        )
    return None


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


def _key_matches(words: Sequence[str], parameter: str) -> bool:
    if "=" in parameter:
        return parameter in words
    return any(w == parameter or w.startswith(parameter + "=") for w in words)


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)\s*", text)
    if not m:
        raise _CheckError(f"not a size: {text!r}")
    factor: int = 1 << (10 * " KMGTPE".index(m.group(2) or " "))
    whole, _, frac = m.group(1).partition(".")
    value = int(whole) * factor
    if frac:
        value += int(frac) * factor // 10 ** len(frac)
    return value


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


# --- the checks ------------------------------------------------------------------------


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


def _virtualization(p: str, ctx: _Context) -> bool:
    """Systemd checks containers first; only a VM's *identity* needs CPUID."""
    if p == "private-users":
        return _running_in_userns()
    try:
        wanted: bool | None = _parse_boolean(p)
    except _CheckError:
        wanted = None
    container = _detect_container(ctx)
    if wanted is not None:
        virtualized = container is not None or _is_hypervisor_flag() or _detect_vm() is not None
        return wanted == virtualized
    if p == "container":
        return container is not None
    if p == "vm":
        return container is None and (_is_hypervisor_flag() or _detect_vm() is not None)
    if container is not None:
        return p == container
    if p not in _VM_IDS:
        return False
    return _detect_vm() == p


def _is_hypervisor_flag() -> bool:
    return bool(re.search(r"^flags\s*:.*\bhypervisor\b", _read("/proc/cpuinfo") or "", re.M))


def _uname_architecture() -> str:
    machine = platform.machine()
    if machine.startswith("arm"):
        return "arm-be" if machine.endswith("b") else "arm"
    arch = _ARCHITECTURES.get(machine)
    if arch is None:
        raise NotSupportedError(f"the machine type {machine!r} is not supported yet")
    return arch


def _architecture(p: str, ctx: _Context) -> bool:
    actual = _uname_architecture()
    if p == "native":
        return True
    if p not in _KNOWN_ARCHITECTURES:
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


def _parse_permyriad(text: str) -> int:
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]{1,2}))?%", text)
    if m:
        return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]))?\u2030", text)
    if m:
        return int(m.group(1)) * 10 + int(m.group(2) or "0")
    m = re.fullmatch(r"([0-9]+)\u2031", text)
    if m:
        return int(m.group(1))
    raise _CheckError(f"not a percentage: {text!r}")


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


#: Every condition kind of systemd 252 (the name without ``Condition``/``Assert``).
CONDITION_KINDS: dict[str, Callable[[str, _Context], bool]] = {
    "PathExists": _path_exists,
    "PathExistsGlob": _path_exists_glob,
    "PathIsDirectory": _path_is_directory,
    "PathIsSymbolicLink": _path_is_symbolic_link,
    "PathIsMountPoint": _path_is_mount_point,
    "PathIsReadWrite": _path_is_read_write,
    "PathIsEncrypted": _path_is_encrypted,
    "DirectoryNotEmpty": _directory_not_empty,
    "FileNotEmpty": _file_not_empty,
    "FileIsExecutable": _file_is_executable,
    "KernelCommandLine": _kernel_command_line,
    "KernelVersion": _kernel_version,
    "Credential": _credential,
    "Virtualization": _virtualization,
    "Security": _security,
    "Capability": _capability,
    "Host": _host,
    "ACPower": _ac_power,
    "Architecture": _architecture,
    "Firmware": _firmware,
    "NeedsUpdate": _needs_update,
    "FirstBoot": _first_boot,
    "User": _user,
    "Group": _group,
    "ControlGroupController": _control_group_controller,
    "CPUs": _cpus,
    "Memory": _memory,
    "Environment": _environment,
    "CPUFeature": _cpu_feature,
    "OSRelease": _os_release,
    "MemoryPressure": _pressure("memory"),
    "CPUPressure": _pressure("cpu"),
    "IOPressure": _pressure("io"),
}
