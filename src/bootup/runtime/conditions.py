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

This module is the evaluator and the table of checks (``CONDITION_KINDS``), with the
virtualization check; the checks live in private modules by what they look at:
``_condition_paths`` (files), ``_condition_machine`` (identity of the machine and user),
``_condition_resources`` (power, cgroups, CPUs, memory, pressure), on top of
``_condition_probe`` (what they read from /proc and /sys) and ``_condition_parse`` (the
parameter grammars).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bootup.errors import NotSupportedError
from bootup.runtime._condition_machine import (
    _architecture,
    _capability,
    _cpu_feature,
    _credential,
    _environment,
    _firmware,
    _group,
    _host,
    _kernel_command_line,
    _kernel_version,
    _os_release,
    _security,
    _user,
)
from bootup.runtime._condition_parse import _CheckError, _parse_boolean, _w, strverscmp_improved
from bootup.runtime._condition_paths import (
    _directory_not_empty,
    _file_is_executable,
    _file_not_empty,
    _path_exists,
    _path_exists_glob,
    _path_is_directory,
    _path_is_encrypted,
    _path_is_mount_point,
    _path_is_read_write,
    _path_is_symbolic_link,
)

# The virtualization check below reads the system through these names of this module, so a
# test can replace them here (tests/runtime/test_conditions.py).
from bootup.runtime._condition_probe import _Context, _detect_container, _read, _running_in_userns
from bootup.runtime._condition_resources import (
    _ac_power,
    _control_group_controller,
    _cpus,
    _first_boot,
    _memory,
    _needs_update,
    _pressure,
)
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
