"""Condition and assert lists: trigger/negate semantics, results and wording.

The cross-check against the real ``systemd-analyze condition`` lives in
``tests/conformance/test_conditions.py``; these tests pin the list logic and the contract
the manager relies on (asserts before conditions, messages, the ``checks`` tuple), using
a private ``root`` so that the file-system checks see a tree the test controls.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootup.errors import NotSupportedError
from bootup.runtime.conditions import (
    CONDITION_KINDS,
    ConditionResult,
    check,
    evaluate,
    evaluate_list,
    strverscmp_improved,
)
from bootup.units.model import Condition, LoadState, Unit, UnitType


def cond(
    name: str, parameter: str, *, trigger: bool = False, negate: bool = False, line: int = 1
) -> Condition:
    return Condition(
        name, parameter, trigger, negate, name.startswith("Assert"), "/u/a.service", line
    )


def unit(*lines: Condition) -> Unit:
    return Unit(
        name="a.service",
        type=UnitType.SERVICE,
        load_state=LoadState.LOADED,
        conditions=tuple(c for c in lines if not c.is_assert),
        asserts=tuple(c for c in lines if c.is_assert),
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "yes").mkdir()
    (tmp_path / "yes" / "file").write_text("x")
    return tmp_path


def test_empty_lists_pass() -> None:
    assert evaluate(unit()) == ConditionResult(True, False, "", ())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # (path, trigger, negate) lines -> passes?
        ([("/yes", False, False)], True),
        ([("/no", False, False)], False),
        ([("/no", False, True)], True),
        ([("/yes", False, True)], False),
        ([("/no", True, False), ("/yes", True, False)], True),
        ([("/no", True, False), ("/no2", True, False)], False),
        ([("/no", True, False), ("/no2", True, True)], True),
        ([("/yes", True, False), ("/no", False, False)], False),
        ([("/no", False, False), ("/yes", True, False)], False),
        ([("/yes", False, False), ("/no", True, False), ("/yes", True, False)], True),
    ],
)
def test_trigger_and_negate(root: Path, spec: list[tuple[str, bool, bool]], expected: bool) -> None:
    lines = [cond("ConditionPathExists", p, trigger=t, negate=n) for p, t, n in spec]
    result = evaluate(unit(*lines), root=str(root))
    assert result.passed is expected
    assert not result.failed_assert


def test_failed_condition_skips_with_systemds_wording(root: Path) -> None:
    result = evaluate(unit(cond("ConditionPathExists", "/no")), root=str(root))
    assert result == ConditionResult(
        False,
        False,
        "Condition check resulted in a.service being skipped.",
        (("ConditionPathExists", "/no", False),),
    )


def test_failed_assert_fails_the_job_before_conditions_run(root: Path) -> None:
    result = evaluate(
        unit(cond("ConditionPathExists", "/yes"), cond("AssertPathExists", "/no")),
        root=str(root),
    )
    assert result.failed_assert
    assert not result.passed
    assert result.message == "Assertion failed for a.service."
    # Conditions are not evaluated once an assert failed.
    assert result.checks == (("AssertPathExists", "/no", False),)


def test_checks_list_every_evaluated_line_with_prefixes(root: Path) -> None:
    result = evaluate(
        unit(
            cond("AssertPathIsDirectory", "/yes"),
            cond("ConditionPathExists", "/no", trigger=True, negate=True),
            cond("ConditionPathExists", "/yes/file"),
        ),
        root=str(root),
    )
    assert result.passed
    assert result.checks == (
        ("AssertPathIsDirectory", "/yes", True),
        ("ConditionPathExists", "|!/no", True),
        ("ConditionPathExists", "/yes/file", True),
    )


def test_evaluation_stops_at_the_first_failing_plain_line(root: Path) -> None:
    passed, checks = evaluate_list(
        [cond("ConditionPathExists", "/no"), cond("ConditionPathExists", "/yes")],
        root=str(root),
    )
    assert not passed
    assert len(checks) == 1


def test_an_erroring_check_fails_even_when_negated() -> None:
    # systemd: a negative return is "error", which counts as failed regardless of "!".
    assert check(cond("ConditionMemory", "not-a-size")) is False
    assert check(cond("ConditionMemory", "not-a-size", negate=True)) is False
    assert check(cond("ConditionCPUs", ">=1")) is True


def test_environment_comes_from_the_given_mapping() -> None:
    env = {"MODE": "prod", "EMPTY": ""}
    assert check(cond("ConditionEnvironment", "MODE=prod"), environ=env)
    assert check(cond("ConditionEnvironment", "MODE"), environ=env)
    assert check(cond("ConditionEnvironment", "EMPTY"), environ=env)
    assert not check(cond("ConditionEnvironment", "MOD"), environ=env)
    assert not check(cond("ConditionEnvironment", "MODE=dev"), environ=env)


def test_credentials_directory_from_environment(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("s")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert check(cond("ConditionCredential", "tok"), environ=env)
    assert not check(cond("ConditionCredential", "other"), environ=env)
    assert not check(cond("ConditionCredential", "../tok"), environ=env)
    assert not check(cond("ConditionCredential", "tok"), environ={})


def test_directory_not_empty_ignores_hidden_and_backup_files(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for name in (".hidden", "x~", "a.dpkg-new", "b.rpmsave", "lost+found"):
        (d / name).write_text("")
    c = cond("ConditionDirectoryNotEmpty", "/d")
    assert not check(c, root=str(tmp_path))
    (d / "real").write_text("")
    assert check(c, root=str(tmp_path))


def test_file_conditions_under_root(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    exe = tmp_path / "run.sh"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o700)
    (tmp_path / "ln").symlink_to("run.sh")
    r = str(tmp_path)
    assert not check(cond("ConditionFileNotEmpty", "/empty"), root=r)
    assert check(cond("ConditionFileNotEmpty", "/run.sh"), root=r)
    assert check(cond("ConditionFileIsExecutable", "/run.sh"), root=r)
    assert check(cond("ConditionFileIsExecutable", "/ln"), root=r)
    assert check(cond("ConditionPathIsSymbolicLink", "/ln"), root=r)
    assert not check(cond("ConditionPathIsSymbolicLink", "/run.sh"), root=r)
    assert check(cond("ConditionPathExistsGlob", "/*.sh"), root=r)


def test_first_boot_and_needs_update_follow_files(tmp_path: Path) -> None:
    r = str(tmp_path)
    assert check(cond("ConditionFirstBoot", "no"), root=r)
    (tmp_path / "run" / "systemd").mkdir(parents=True)
    (tmp_path / "run" / "systemd" / "first-boot").write_text("")
    assert check(cond("ConditionFirstBoot", "yes"), root=r)
    assert not check(cond("ConditionFirstBoot", "bogus"), root=r)


def test_unknown_condition_kind_is_not_supported() -> None:
    with pytest.raises(NotSupportedError, match="ConditionFrobnicate"):
        evaluate(unit(cond("ConditionFrobnicate", "x")))


def test_every_systemd_252_kind_is_known() -> None:
    kinds = {
        "PathExists PathExistsGlob PathIsDirectory PathIsSymbolicLink PathIsMountPoint "
        "PathIsReadWrite PathIsEncrypted DirectoryNotEmpty FileNotEmpty FileIsExecutable "
        "KernelCommandLine KernelVersion Credential Virtualization Security Capability Host "
        "ACPower Architecture Firmware NeedsUpdate FirstBoot User Group ControlGroupController "
        "CPUs Memory Environment CPUFeature OSRelease MemoryPressure CPUPressure IOPressure"
    }
    assert set(next(iter(kinds)).split()) == set(CONDITION_KINDS)


def test_kernel_command_line_override_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    # systemd reads $SYSTEMD_PROC_CMDLINE instead of /proc/cmdline when it is set.
    monkeypatch.setenv("SYSTEMD_PROC_CMDLINE", 'quiet root=/dev/vda "opt=a b"')
    assert check(cond("ConditionKernelCommandLine", "quiet"))
    assert check(cond("ConditionKernelCommandLine", "root"))
    assert check(cond("ConditionKernelCommandLine", "root=/dev/vda"))
    assert check(cond("ConditionKernelCommandLine", "opt=a b"))
    assert not check(cond("ConditionKernelCommandLine", "roo"))
    assert not check(cond("ConditionKernelCommandLine", "root=/dev/vdb"))


def test_kernel_version_expressions() -> None:
    release = os.uname().release
    assert check(cond("ConditionKernelVersion", release))
    assert check(cond("ConditionKernelVersion", f"={release}"))
    assert check(cond("ConditionKernelVersion", ">=2.6 <1000"))
    assert not check(cond("ConditionKernelVersion", ">=2.6 >1000"))
    assert not check(cond("ConditionKernelVersion", ">="))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0.1", -1),
        ("1.0-1", "1.0.1", -1),
        ("00123", "123", 0),
        ("1.10", "1.9", 1),
    ],
)
def test_version_compare(a: str, b: str, expected: int) -> None:
    assert strverscmp_improved(a, b) == expected
    assert strverscmp_improved(b, a) == -expected


def test_an_unsupported_check_names_the_file_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Identifying a hypervisor needs CPUID; outside a container with the hypervisor flag and
    # no DMI vendor bootup refuses instead of guessing. Simulate "not in a container".
    import bootup.runtime.conditions as mod

    monkeypatch.setattr(mod, "_detect_container", lambda ctx: None)
    monkeypatch.setattr(mod, "_is_hypervisor_flag", lambda: True)
    monkeypatch.setattr(
        mod, "_read", lambda path: "flags : hypervisor\n" if "cpuinfo" in path else None
    )
    with pytest.raises(NotSupportedError) as info:
        check(cond("ConditionVirtualization", "kvm", negate=True, line=7))
    assert str(info.value) == (
        "/u/a.service:7: ConditionVirtualization=!kvm: telling which hypervisor runs this "
        "machine needs CPUID, which is not supported yet"
    )
    assert check(cond("ConditionVirtualization", "vm"))
    assert check(cond("ConditionVirtualization", "yes"))


def test_glob_braces_expand_like_glob_brace(tmp_path: Path) -> None:
    (tmp_path / "b.conf").write_text("")
    r = str(tmp_path)
    assert check(cond("ConditionPathExistsGlob", "/{a,b}.conf"), root=r)
    assert check(cond("ConditionPathExistsGlob", "/{x,{y,b}}.c*"), root=r)
    assert not check(cond("ConditionPathExistsGlob", "/{a,c}.conf"), root=r)
