"""Specifier expansion with an injected host, and against a systemd --test dump."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import MappingProxyType

import pytest

import support
from bootup.units.specifiers import (
    ALL_SPECIFIERS,
    NAME_SPECIFIERS,
    HostContext,
    SpecifierError,
    UnitContext,
    expand,
)

HOST = HostContext(
    hostname="node1.example.com",
    pretty_hostname=None,
    machine_id="0123456789abcdef0123456789abcdef",
    boot_id="fedcba9876543210fedcba9876543210",
    kernel_release="6.1.0-test",
    architecture="x86-64",
    os_release=MappingProxyType(
        {
            "ID": "debian",
            "VERSION_ID": "12",
            "VARIANT_ID": "server",
            "BUILD_ID": "b1",
            "IMAGE_ID": "img",
            "IMAGE_VERSION": "7",
        }
    ),
    home="/root",
    shell="/bin/bash",
)
TEMPLATE_INSTANCE = UnitContext("tpl@a\\x2db-c.service", "/etc/systemd/system/tpl@.service")


def as_nobody(command: list[str]) -> list[str]:
    """``systemd --test`` refuses to run as root: drop to nobody when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = support.require_tool("runuser", package="util-linux")
    return [runuser, "-u", "nobody", "--", *command]


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("%n", "tpl@a\\x2db-c.service"),
        ("%N", "tpl@a\\x2db-c"),
        ("%p", "tpl"),
        ("%P", "tpl"),
        ("%i", "a\\x2db-c"),
        ("%I", "a-b/c"),
        ("%f", "/a-b/c"),
        ("%j", "tpl"),
        ("%J", "tpl"),
        ("%y", "/etc/systemd/system/tpl@.service"),
        ("%Y", "/etc/systemd/system"),
        ("%d", "/run/credentials/tpl@a\\x2db-c.service"),
        ("%H", "node1.example.com"),
        ("%l", "node1"),
        ("%q", "node1"),
        ("%m", "0123456789abcdef0123456789abcdef"),
        ("%b", "fedcba9876543210fedcba9876543210"),
        ("%v", "6.1.0-test"),
        ("%a", "x86-64"),
        ("%o", "debian"),
        ("%w", "12"),
        ("%W", "server"),
        ("%B", "b1"),
        ("%M", "img"),
        ("%A", "7"),
        ("%t", "/run"),
        ("%S", "/var/lib"),
        ("%C", "/var/cache"),
        ("%L", "/var/log"),
        ("%E", "/etc"),
        ("%T", "/tmp"),
        ("%V", "/var/tmp"),
        ("%u", "root"),
        ("%U", "0"),
        ("%g", "root"),
        ("%G", "0"),
        ("%h", "/root"),
        ("%s", "/bin/bash"),
        ("%%", "%"),
    ],
)
def test_each_specifier(spec: str, value: str) -> None:
    assert expand(spec, TEMPLATE_INSTANCE, HOST) == value


def test_documented_set_is_complete() -> None:
    documented = set("nNpPiIfjJHlmbovaABMwWtSCLETVhsuUgGdyYq%")
    assert documented == set(ALL_SPECIFIERS)


def test_prefix_components_and_plain_units() -> None:
    unit = UnitContext("foo-bar-baz\\x2dq.service")
    assert expand("%j|%J|%p|%P|%i|%I|%f", unit, HOST) == (
        "baz\\x2dq|baz-q|foo-bar-baz\\x2dq|foo/bar/baz-q|||/foo/bar/baz-q"
    )


def test_text_around_and_trailing_percent() -> None:
    assert expand("a %n b %", UnitContext("x.service"), HOST) == "a x.service b %"
    assert expand("no specifiers", UnitContext("x.service"), HOST) == "no specifiers"


def test_unknown_and_restricted() -> None:
    with pytest.raises(SpecifierError) as info:
        expand("desc %Z", UnitContext("x.service"), HOST)
    assert info.value.errno_text == "Invalid slot"
    assert info.value.specifier == "Z"
    assert expand("dep@%i.service", TEMPLATE_INSTANCE, HOST, allowed=NAME_SPECIFIERS) == (
        "dep@a\\x2db-c.service"
    )
    with pytest.raises(SpecifierError):
        expand("%h", TEMPLATE_INSTANCE, HOST, allowed=NAME_SPECIFIERS)


def test_missing_values_and_bad_instances() -> None:
    with pytest.raises(SpecifierError) as info:
        expand("%y", UnitContext("x.service"), HOST)
    assert info.value.errno_text == "No such file or directory"
    with pytest.raises(SpecifierError):
        expand("%m", UnitContext("x.service"), HostContext())
    with pytest.raises(SpecifierError):
        expand("%f", UnitContext("x@a--b.service"), HOST)


def test_pretty_hostname_wins_for_q() -> None:
    host = HostContext(hostname="h.example", pretty_hostname="My Box")
    assert expand("%q", UnitContext("x.service"), host) == "My Box"


def test_from_system_reads_this_machine() -> None:
    host = HostContext.from_system()
    assert host.hostname
    assert host.kernel_release
    if Path("/etc/machine-id").exists():
        assert host.machine_id == Path("/etc/machine-id").read_text().strip()


def test_against_systemd_test_dump() -> None:
    """Expand the machine-independent specifiers as systemd --test does for a template."""
    systemd = support.require_tool("/lib/systemd/systemd", package="systemd")
    directory = Path(tempfile.mkdtemp(prefix="bootup-spec-"))
    try:
        directory.chmod(0o755)
        unit = directory / "sp@.service"
        specs = "%n %N %p %P %i %I %f %j %J %y %Y %d %H %l %m %b %v %a %o %w %t %S %C %L %E %u %U"
        unit.write_text(
            "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\n"
            f"ExecStart=/bin/echo {specs}\n",
            encoding="utf-8",
        )
        unit.chmod(0o644)
        name = "sp@x\\x2dy-z.service"
        proc = subprocess.run(
            as_nobody(
                [
                    "env",
                    f"SYSTEMD_UNIT_PATH={directory}",
                    "SYSTEMD_LOG_TARGET=console",
                    systemd,
                    "--test",
                    "--system",
                    f"--unit={name}",
                    "--no-pager",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        line = next(line for line in proc.stdout.splitlines() if "Command Line: /bin/echo" in line)
        from bootup.units.execline import quote_command_line

        ours = expand(specs, UnitContext(name, str(unit)), HostContext.from_system())
        assert line.split("Command Line: ", 1)[1] == quote_command_line(
            ["/bin/echo", *ours.split()]
        )
    finally:
        shutil.rmtree(directory)


def test_expand_or_warn_uses_systemd_wording() -> None:
    from bootup.units.specifiers import expand_or_warn

    value, diag = expand_or_warn("desc %i %Z", TEMPLATE_INSTANCE, HOST, "/u/a.service", 3)
    assert value is None
    assert str(diag) == (
        "/u/a.service:3: Failed to resolve unit specifiers in 'desc %i %Z', ignoring: Invalid slot"
    )
    value, diag = expand_or_warn("desc %i", TEMPLATE_INSTANCE, HOST, "/u/a.service", 3)
    assert (value, diag) == ("desc a\\x2db-c", None)


def test_percent_before_a_non_alphanumeric_character_is_kept() -> None:
    """systemd refuses unknown letters (%z) but keeps %/ as written (100%/10sec)."""
    unit = UnitContext("s.service", None)
    assert expand("100%/10sec", unit, HOST) == "100%/10sec"
    assert expand("/tmp/a%/b%", unit, HOST) == "/tmp/a%/b%"
    with pytest.raises(SpecifierError, match="Invalid slot"):
        expand("/tmp/%z", unit, HOST)
