"""The directive table and the unknown-key/section warnings, against the installed systemd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import support
from bootup.units import directives
from bootup.units._directives_table import DIRECTIVES, REMOVED
from bootup.units.directives import ValueKind, check_file, lookup
from bootup.units.syntax import parse_unit_text, read_unit_file

ROOT = Path(__file__).resolve().parents[2]


def test_table_matches_installed_systemd() -> None:
    support.require_tool("/lib/systemd/systemd", package="systemd")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_directives.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_dump_and_table_agree_key_by_key() -> None:
    systemd = support.require_tool("/lib/systemd/systemd", package="systemd")
    out = subprocess.run(
        [systemd, "--dump-configuration-items"], capture_output=True, text=True, check=True
    ).stdout
    section = ""
    dumped = []
    for line in out.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line:
            key, _, kind = line.partition("=")
            dumped.append((section, key, kind))
    assert dumped == list(DIRECTIVES)
    assert len(DIRECTIVES) == 1191


def test_lookup_kinds_and_support() -> None:
    exec_start = lookup("Service", "ExecStart")
    assert exec_start is not None
    assert exec_start.kind is ValueKind.COMMAND
    assert exec_start.supported
    timeout = lookup("Service", "TimeoutStopSec")
    assert timeout is not None
    assert timeout.kind is ValueKind.TIMESPAN
    wants = lookup("Unit", "Wants")
    assert wants is not None
    assert wants.kind is ValueKind.UNIT_LIST
    condition = lookup("Unit", "ConditionPathExists")
    assert condition is not None
    assert condition.supported
    assert condition.kind is ValueKind.CONDITION
    sandbox = lookup("Service", "ProtectSystem")
    assert sandbox is not None
    assert not sandbox.supported
    assert lookup("Service", "Description") is None
    assert lookup("Socket", "ListenStream") is not None
    removed = lookup("Service", "SysVStartPriority")
    assert removed is not None
    assert removed.removed
    assert ("Unit", "IgnoreOnSnapshot") in REMOVED


@pytest.mark.parametrize(
    "key",
    [
        "Type",
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecStop",
        "ExecStopPost",
        "ExecReload",
        "Restart",
        "RestartSec",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "Environment",
        "EnvironmentFile",
        "WorkingDirectory",
        "User",
        "Group",
        "UMask",
        "KillMode",
        "KillSignal",
        "SendSIGKILL",
        "RemainAfterExit",
        "PIDFile",
        "NotifyAccess",
        "WatchdogSec",
        "SuccessExitStatus",
        "StandardOutput",
        "StandardError",
    ],
)
def test_service_basics_are_supported(key: str) -> None:
    assert ("Service", key) in directives.SUPPORTED


def test_install_and_dependencies_are_supported() -> None:
    for key in ("WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"):
        assert ("Install", key) in directives.SUPPORTED
    for key in ("Requires", "Wants", "After", "Before", "Conflicts", "BindsTo", "PartOf"):
        assert ("Unit", key) in directives.SUPPORTED


def test_messages() -> None:
    assert (
        directives.unknown_key_message("Service", "Foo")
        == "Unknown key 'Foo' in section [Service], ignoring."
    )
    assert directives.unknown_section_message("Foo") == "Unknown section 'Foo'. Ignoring."


def test_check_file_sorts_assignments() -> None:
    text = (
        "[Unit]\nDescription=x\nX-Mine=1\nBogus=2\n[X-Section]\nAnything=3\n"
        "[Service]\nExecStart=/bin/true\nDescription=wrong\n[Socket]\nListenStream=1\n"
        "[Install]\nWantedBy=a.target\n"
    )
    checked = check_file(parse_unit_text(text, "f.service"), "service")
    assert [(a.section, a.key) for a in checked.assignments] == [
        ("Unit", "Description"),
        ("Service", "ExecStart"),
        ("Install", "WantedBy"),
    ]
    assert [(a.section, a.key) for a in checked.extensions] == [
        ("Unit", "X-Mine"),
        ("X-Section", "Anything"),
    ]
    assert [str(d) for d in checked.diagnostics] == [
        "f.service:4: Unknown key 'Bogus' in section [Unit], ignoring.",
        "f.service:9: Unknown key 'Description' in section [Service], ignoring.",
        "f.service:10: Unknown section 'Socket'. Ignoring.",
    ]


def test_target_and_device_sections() -> None:
    checked = check_file(parse_unit_text("[Target]\nA=1\n", "t.target"), "target")
    assert [str(d) for d in checked.diagnostics] == [
        "t.target:2: Unknown key 'A' in section [Target], ignoring."
    ]
    checked = check_file(parse_unit_text("[Target]\nA=1\n", "t.slice"), "slice")
    assert [str(d) for d in checked.diagnostics] == [
        "t.slice:1: Unknown section 'Target'. Ignoring."
    ]


VERIFY_CORPUS = """\
Stray=1
[Unit]
Description=x
DefaultDependencies=no
Bogus=1
X-Extension=2
IgnoreOnSnapshot=yes
PostMortem=yes
[Service]
Type=oneshot
ExecStart=/bin/true
SysVStartPriority=1
Capabilities=x
Description=wrong section
NoEquals
=novalue
[Weird]
A=b
[X-Vendor]
C=d
[Install]
Foo=bar
WantedBy=multi-user.target
[Socket]
ListenStream=1
"""


def test_diagnostics_match_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = support.require_tool("systemd-analyze", package="systemd")
    unit = tmp_path / "corpus.service"
    unit.write_text(VERIFY_CORPUS, encoding="utf-8")
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(tmp_path), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(
        [tool, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    theirs = [line for line in proc.stderr.splitlines() if line.startswith(f"{unit}:")]
    parsed = read_unit_file(unit)
    checked = check_file(parsed, "service")
    ours = sorted([*parsed.diagnostics, *checked.diagnostics], key=lambda d: d.line or 0)
    assert [str(d) for d in ours] == theirs


def test_debian_units_parse_without_warnings() -> None:
    """Every unit file Debian ships loads without a syntax or unknown-key warning."""
    base = Path("/lib/systemd/system")
    if not base.is_dir():
        pytest.skip("no /lib/systemd/system")
    checked_files = 0
    for path in sorted(base.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        unit_type = path.suffix.lstrip(".")
        if unit_type not in directives.SECTIONS_BY_TYPE:
            continue
        parsed = read_unit_file(path)
        checked = check_file(parsed, unit_type)
        assert parsed.diagnostics == ()
        assert checked.diagnostics == (), path
        checked_files += 1
    assert checked_files > 50
