"""Conditions against ``systemd-analyze condition`` (reference systemd.md O5, scenario C33).

Two comparisons, both with the real tool on this machine:

* **per line**: every corpus line is passed to one ``systemd-analyze condition`` run with a
  ``|`` prefix. systemd evaluates *every* trigger line (it only stops early on a failing
  non-trigger line) and logs ``<line> succeeded.``/``failed.``/``Couldn't determine result``
  for each, so one run gives the result of every line; bootup must agree line by line.
* **per list**: small lists mixing plain, ``|`` and ``!`` lines and asserts, compared on the
  tool's exit code (0 = the unit would start).

The lines go through bootup's loader (written into a unit file) so that the prefixes and
the "path is not absolute, ignoring" rule are parsed the way the manager will see them.
Expected values always come from the tool, never from bootup.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import support
from bootup.errors import NotSupportedError
from bootup.runtime.conditions import evaluate, evaluate_list, strverscmp_improved, written
from bootup.units import Loader, search_path
from bootup.units.model import Unit

pytestmark = pytest.mark.conformance

_RESULT = re.compile(r"^test\.service: (\w+)=(.*) (succeeded|failed)\.$")
_ERROR = re.compile(r"^test\.service: Couldn't determine result for (\w+)=(.*), assuming failed")


@pytest.fixture(scope="module")
def analyze() -> str:
    return support.require_tool("systemd-analyze", package="systemd")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small file tree whose paths the corpus names."""
    t = tmp_path_factory.mktemp("cond")
    (t / "dir").mkdir()
    (t / "dir" / "file").write_text("x")
    (t / "hidden").mkdir()
    (t / "hidden" / ".dot").write_text("x")
    (t / "hidden" / "old~").write_text("x")
    (t / "hidden" / "x.dpkg-old").write_text("x")
    (t / "hidden" / "lost+found").mkdir()
    (t / "backup-and-real").mkdir()
    (t / "backup-and-real" / "a.bak").write_text("x")
    (t / "backup-and-real" / "real.conf").write_text("x")
    (t / "emptydir").mkdir()
    (t / "empty").write_text("")
    (t / "full").write_text("data")
    exe = t / "exe"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (t / "link").symlink_to(t / "dir")
    (t / "dangling").symlink_to(t / "nowhere")
    (t / "proclink").symlink_to("/proc")
    (t / "glob-a.txt").write_text("")
    creds = t / "creds"
    creds.mkdir()
    (creds / "token").write_text("secret")
    (t / "updated").mkdir()
    (t / "updated" / ".updated").write_text("")
    os.utime(t / "updated" / ".updated", ns=(0, 0))
    (t / "fresh").mkdir()
    (t / "fresh" / ".updated").write_text("")
    return t


def _corpus(t: Path) -> list[str]:
    uid, gid = os.getuid(), os.getgid()
    release = os.uname().release
    major = release.split(".")[0]
    return [
        # paths
        f"ConditionPathExists={t}/dir",
        f"ConditionPathExists=!{t}/dir",
        f"ConditionPathExists={t}/nope",
        f"ConditionPathExists={t}/dangling",
        f"ConditionPathExists={t}/link",
        f"ConditionPathExistsGlob={t}/glob-*.txt",
        f"ConditionPathExistsGlob={t}/nomatch-*",
        f"ConditionPathExistsGlob={t}/d?r",
        f"ConditionPathExistsGlob={t}/{{dir,nope}}/f*",
        f"ConditionPathExistsGlob={t}/{{x,{{y,glob}}}}-a.*",
        f"ConditionPathExistsGlob={t}/{{nope,nada}}",
        f"ConditionPathExistsGlob={t}/{{dir}}",
        f"ConditionPathExistsGlob={t}/[d]ir/.*",
        f"ConditionPathExistsGlob={t}/{{}}dir",
        f"ConditionPathExistsGlob={t}/{{di,}}r",
        f"ConditionPathExistsGlob={t}/{{dir",
        f"ConditionPathIsDirectory={t}/dir",
        f"ConditionPathIsDirectory={t}/link",
        f"ConditionPathIsDirectory={t}/full",
        f"ConditionPathIsSymbolicLink={t}/link",
        f"ConditionPathIsSymbolicLink={t}/dangling",
        f"ConditionPathIsSymbolicLink={t}/dir",
        "ConditionPathIsMountPoint=/",
        "ConditionPathIsMountPoint=/proc",
        f"ConditionPathIsMountPoint={t}/proclink",
        f"ConditionPathIsMountPoint={t}/dir",
        f"ConditionPathIsMountPoint={t}/nope",
        f"ConditionPathIsReadWrite={t}",
        f"ConditionPathIsReadWrite={t}/nope",
        "ConditionPathIsReadWrite=/proc",
        f"ConditionPathIsEncrypted={t}",
        "ConditionPathIsEncrypted=/",
        f"ConditionPathIsEncrypted={t}/nope",
        f"ConditionDirectoryNotEmpty={t}/dir",
        f"ConditionDirectoryNotEmpty={t}/emptydir",
        f"ConditionDirectoryNotEmpty={t}/hidden",
        f"ConditionDirectoryNotEmpty={t}/backup-and-real",
        f"ConditionDirectoryNotEmpty={t}/full",
        f"ConditionDirectoryNotEmpty={t}/nope",
        f"ConditionFileNotEmpty={t}/full",
        f"ConditionFileNotEmpty={t}/empty",
        f"ConditionFileNotEmpty={t}/dir",
        f"ConditionFileNotEmpty={t}/nope",
        f"ConditionFileIsExecutable={t}/exe",
        f"ConditionFileIsExecutable={t}/full",
        f"ConditionFileIsExecutable={t}/dir",
        "ConditionFileIsExecutable=/bin/sh",
        f"ConditionNeedsUpdate={t}/updated",
        f"ConditionNeedsUpdate={t}/nope",
        f"ConditionNeedsUpdate=!{t}/updated",
        # identity
        "ConditionUser=root",
        "ConditionUser=nobody",
        "ConditionUser=@system",
        f"ConditionUser={uid}",
        f"ConditionUser={uid + 1}",
        "ConditionUser=no-such-user-xyz",
        "ConditionUser=daemon",
        "ConditionGroup=root",
        f"ConditionGroup={gid}",
        f"ConditionGroup={gid + 4242}",
        "ConditionGroup=nogroup",
        "ConditionGroup=no-such-group-xyz",
        "ConditionHost=*",
        "ConditionHost=no-such-host-xyz",
        f"ConditionHost={os.uname().nodename.upper()}",
        "ConditionHost=00000000000000000000000000000001",
        # kernel
        f"ConditionKernelVersion={release}",
        f"ConditionKernelVersion=={release}",
        f"ConditionKernelVersion={major}.*",
        "ConditionKernelVersion=1.*",
        "ConditionKernelVersion=>=4.0",
        "ConditionKernelVersion=>= 4.0",
        "ConditionKernelVersion=<4.0",
        "ConditionKernelVersion=>=4.0 <100",
        "ConditionKernelVersion=>=4.0 >100",
        f"ConditionKernelVersion=$={major}.*",
        f"ConditionKernelVersion=!$={major}.*",
        "ConditionKernelVersion=!=1.0",
        "ConditionKernelVersion=<>1.0",
        "ConditionKernelVersion=>=",
        "ConditionKernelCommandLine=quiet",
        "ConditionKernelCommandLine=no-such-option-xyz",
        "ConditionKernelCommandLine=console",
        "ConditionKernelCommandLine=console=no-such",
        # system facts
        "ConditionVirtualization=yes",
        "ConditionVirtualization=no",
        "ConditionVirtualization=container",
        "ConditionVirtualization=vm",
        "ConditionVirtualization=docker",
        "ConditionVirtualization=lxc",
        "ConditionVirtualization=private-users",
        "ConditionVirtualization=bogus",
        "ConditionArchitecture=native",
        f"ConditionArchitecture={'x86-64' if platform.machine() == 'x86_64' else 'arm64'}",
        "ConditionArchitecture=s390x",
        "ConditionArchitecture=bogus-arch",
        "ConditionFirmware=uefi",
        "ConditionFirmware=device-tree",
        "ConditionFirmware=device-tree-compatible(foo,bar)",
        "ConditionFirmware=bogus",
        "ConditionSecurity=selinux",
        "ConditionSecurity=apparmor",
        "ConditionSecurity=smack",
        "ConditionSecurity=ima",
        "ConditionSecurity=tomoyo",
        "ConditionSecurity=audit",
        "ConditionSecurity=uefi-secureboot",
        "ConditionSecurity=tpm2",
        "ConditionSecurity=bogus",
        "ConditionCapability=CAP_SYS_ADMIN",
        "ConditionCapability=cap_net_raw",
        "ConditionCapability=CAP_CHECKPOINT_RESTORE",
        "ConditionCapability=21",
        "ConditionCapability=CAP_NO_SUCH",
        "ConditionACPower=true",
        "ConditionACPower=false",
        "ConditionACPower=maybe",
        "ConditionFirstBoot=yes",
        "ConditionFirstBoot=no",
        "ConditionControlGroupController=v1",
        "ConditionControlGroupController=v2",
        "ConditionControlGroupController=memory",
        "ConditionControlGroupController=cpu",
        "ConditionControlGroupController=pids memory",
        "ConditionControlGroupController=bogus",
        "ConditionMemory=1K",
        "ConditionMemory=>=1M",
        "ConditionMemory=<1M",
        "ConditionMemory=1E",
        "ConditionMemory=abc",
        "ConditionCPUs=1",
        "ConditionCPUs=>=1",
        "ConditionCPUs=<1",
        "ConditionCPUs=>1000",
        "ConditionCPUs=x",
        "ConditionCPUFeature=sse2",
        "ConditionCPUFeature=SSE4_2",
        "ConditionCPUFeature=pclmul",
        "ConditionCPUFeature=constant_tsc",
        "ConditionCPUFeature=bogus",
        "ConditionOSRelease=ID=debian",
        "ConditionOSRelease=ID!=debian",
        "ConditionOSRelease=ID$=deb*",
        "ConditionOSRelease=ID!$=deb*",
        "ConditionOSRelease=VERSION_ID>=11",
        "ConditionOSRelease=VERSION_ID<11",
        "ConditionOSRelease=VERSION_ID==012",
        "ConditionOSRelease=VERSION_ID=012",
        "ConditionOSRelease=ID=debian VERSION_ID>=12",
        "ConditionOSRelease=NO_SUCH_KEY=",
        "ConditionOSRelease=NO_SUCH_KEY=x",
        "ConditionOSRelease=bad key",
        "ConditionMemoryPressure=100%",
        "ConditionCPUPressure=100%/10sec",
        "ConditionIOPressure=100%/1min",
        "ConditionCPUPressure=0%",
        "ConditionCPUPressure=abc",
        "ConditionMemoryPressure=system.slice:10%",
        # environment and credentials (the tool runs with the test's environment)
        "ConditionEnvironment=BOOTUP_COND=1",
        "ConditionEnvironment=BOOTUP_COND",
        "ConditionEnvironment=BOOTUP_CON",
        "ConditionEnvironment=BOOTUP_COND=2",
        "ConditionEnvironment=NO_SUCH_VAR_XYZ",
        "ConditionCredential=token",
        "ConditionCredential=missing",
        "ConditionCredential=../token",
    ]


def _load(directory: Path, lines: list[str]) -> Unit:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test.service").write_text(
        "[Unit]\n" + "".join(line + "\n" for line in lines) + "[Service]\nExecStart=/bin/true\n"
    )
    loader = Loader(search_path(environ={"SYSTEMD_UNIT_PATH": str(directory)}))
    return loader.load("test.service")


def _environ(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["BOOTUP_COND"] = "1"
    env["CREDENTIALS_DIRECTORY"] = str(tree / "creds")
    env.pop("ENCRYPTED_CREDENTIALS_DIRECTORY", None)
    env.pop("SYSTEMD_PROC_CMDLINE", None)
    return env


def normalize(name: str, written: str) -> tuple[str, str]:
    """The one allowed difference: systemd lower-cases a CPUFeature parameter in place
    (``ascii_strlower()`` on the condition's own string) before it logs the line."""
    if name.endswith("CPUFeature"):
        return name, written.lower()
    return name, written


def _as_trigger(line: str) -> str:
    key, _, value = line.partition("=")
    return f"{key}=|{value}"


def test_each_line_matches_systemd(analyze: str, tree: Path, tmp_path: Path) -> None:
    lines = [_as_trigger(line) for line in _corpus(tree)]
    env = _environ(tree)
    run = subprocess.run(
        [analyze, "condition", *lines], capture_output=True, text=True, env=env, check=False
    )
    expected: dict[tuple[str, str], bool] = {}
    for out in (run.stdout + run.stderr).splitlines():
        if m := _RESULT.match(out):
            expected[normalize(m.group(1), m.group(2))] = m.group(3) == "succeeded"
        elif m := _ERROR.match(out):
            expected[normalize(m.group(1), m.group(2))] = False
    # Every line systemd accepted must have been reported (a parse it refused is not).
    assert len(expected) > 150, run.stderr
    unit = _load(tmp_path, lines)
    ours: dict[tuple[str, str], bool] = {}
    unsupported: set[tuple[str, str]] = set()
    for c in unit.conditions:
        key = normalize(c.name, written(c))
        try:
            _, checks = evaluate_list([c], environ=env)
        except NotSupportedError:
            unsupported.add(key)
            continue
        ((_name, _written, result),) = checks
        ours[key] = result
    # Only a VM's identity may be out of reach (it needs CPUID); everything else is checked.
    assert all(k[0] == "ConditionVirtualization" for k in unsupported), unsupported
    assert set(ours) | unsupported == set(expected)
    mismatches = {k: (ours[k], v) for k, v in expected.items() if k in ours and ours[k] != v}
    assert mismatches == {}, "(bootup, systemd) per line"


# Lists whose combined result depends on |, ! and asserts; compared on the exit code.
LISTS = [
    ["ConditionPathExists=/etc"],
    ["ConditionPathExists=/nope"],
    ["ConditionPathExists=!/nope"],
    ["ConditionPathExists=/nope", "ConditionPathExists=|/etc/passwd", "ConditionPathExists=|/no2"],
    ["ConditionPathExists=/etc", "ConditionPathExists=|/etc/passwd", "ConditionPathExists=|/no2"],
    ["ConditionPathExists=|/no1", "ConditionPathExists=|/no2"],
    ["ConditionPathExists=|!/no1", "ConditionPathExists=|/no2"],
    ["ConditionPathExists=| ! /no1"],
    ["ConditionPathExists=|/etc", "ConditionPathExists=/nope"],
    ["ConditionMemory=|abc", "ConditionPathExists=|/etc"],
    ["ConditionMemory=!abc"],
    ["ConditionCPUs=!x", "ConditionPathExists=/etc"],
    ["AssertPathExists=/nope"],
    ["AssertPathExists=/etc", "ConditionPathExists=/nope"],
    ["AssertPathExists=|/nope", "AssertPathExists=|/etc"],
    ["AssertPathExists=/nope", "ConditionPathExists=/etc"],
    ["ConditionPathExists=/nope", "ConditionPathExists=", "ConditionPathExists=/etc"],
    # an empty assignment of any Condition* resets every condition, but not the asserts
    ["ConditionPathExists=/nope", "ConditionUser="],
    ["AssertPathExists=/nope", "ConditionPathExists="],
    ["ConditionPathExists=/nope", "AssertPathExists="],
    ["ConditionPathExists=relative/path"],
    ["ConditionKernelVersion=>=4.0 <2.0", "ConditionUser=root"],
]


@pytest.mark.parametrize("lines", LISTS, ids=[" ".join(x) for x in LISTS])
def test_list_result_matches_systemd(analyze: str, lines: list[str], tmp_path: Path) -> None:
    run = subprocess.run(
        [analyze, "condition", *lines], capture_output=True, text=True, check=False
    )
    assert run.returncode in (0, 1), run.stderr
    unit = _load(tmp_path, lines)
    result = evaluate(unit)
    assert result.passed == (run.returncode == 0), (run.stderr, result)
    if "Asserts failed." in run.stderr:
        assert result.failed_assert
        assert result.message == "Assertion failed for test.service."
    elif "Conditions failed." in run.stderr:
        assert not result.failed_assert
        assert result.message == "Condition check resulted in test.service being skipped."


VERSIONS = [
    ("1.0", "1.0"),
    ("1.0~rc1", "1.0"),
    ("1.0~rc1", "1.0~rc2"),
    ("1.0", "1.0.1"),
    ("1.0-1", "1.0.1"),
    ("1.0^patch", "1.0"),
    ("1.0^patch", "1.0.1"),
    ("123", "00123"),
    ("1.a", "1.1"),
    ("abc", "abcde"),
    ("6.18.44-fc-v669", "6.18"),
    ("6.1.0-13-amd64", "6.1.0-9-amd64"),
    ("5.10", "5.9"),
    ("1_2", "1.2"),
    ("2.0", "1.99~beta"),
    ("", "1"),
    ("a", "1"),
    ("1.0~", "1.0"),
]


@pytest.mark.parametrize(("a", "b"), VERSIONS)
def test_version_order_matches_systemd(analyze: str, a: str, b: str) -> None:
    """The comparison behind KernelVersion/OSRelease ordering, against compare-versions."""
    run = subprocess.run(
        [analyze, "compare-versions", "--", a, b], capture_output=True, text=True, check=False
    )
    # compare-versions exits 0 for equal, 11 for a > b, 12 for a < b.
    expected = {0: 0, 11: 1, 12: -1}[run.returncode]
    assert strverscmp_improved(a, b) == expected, run.stdout


@settings(max_examples=150)
@given(
    a=st.text(alphabet="0129ab.-~^_", min_size=1, max_size=8),
    b=st.text(alphabet="0129ab.-~^_", min_size=1, max_size=8),
)
def test_version_order_matches_systemd_on_random_strings(a: str, b: str) -> None:
    analyze = support.require_tool("systemd-analyze", package="systemd")
    run = subprocess.run(
        [analyze, "compare-versions", "--", a, b], capture_output=True, text=True, check=False
    )
    assert run.returncode in (0, 11, 12), run.stderr
    assert strverscmp_improved(a, b) == {0: 0, 11: 1, 12: -1}[run.returncode], run.stdout
