"""bootup behaves as systemctl, journalctl or systemd-analyze when linked under that name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.cli import as_invoked
from bootup.errors import NotSupportedError
from systemd_oracle import write_units


def link(tmp_path: Path, name: str) -> Path:
    """A real symlink named like the tool, to the installed console script."""
    script = Path(sys.executable).with_name("bootup")
    target = tmp_path / "bin" / name
    target.parent.mkdir(exist_ok=True)
    target.symlink_to(script)
    return target


def test_translations() -> None:
    assert as_invoked("/usr/bin/systemctl", ["enable", "x"]) == ["enable", "x"]
    assert as_invoked("journalctl", ["-u", "x", "-n", "5"]) == ["logs", "-u", "x", "-n", "5"]
    assert as_invoked("systemd-analyze", ["dot", "--order"]) == ["analyze", "dot", "--order"]
    assert as_invoked("systemd-analyze", ["verify", "a.service"]) == ["verify", "a.service"]
    assert as_invoked("/sbin/telinit", ["3"]) == ["isolate", "runlevel3.target"]
    with pytest.raises(NotSupportedError, match="not supported yet"):
        as_invoked("runlevel", [])


def test_systemctl_link_enables_like_systemctl(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_units(
        root / "etc/systemd/system",
        {"web.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"},
        stubs=False,
    )
    systemctl = link(tmp_path, "systemctl")
    env = {**os.environ, "PATH": f"{systemctl.parent}:{os.environ['PATH']}"}
    enabled = subprocess.run(
        ["systemctl", f"--root={root}", "enable", "web.service"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert enabled.returncode == 0, enabled.stderr
    assert (root / "etc/systemd/system/multi-user.target.wants/web.service").is_symlink()
    state = subprocess.run(
        ["systemctl", f"--root={root}", "is-enabled", "web.service"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert state.stdout.strip() == "enabled"


def test_systemd_analyze_and_runlevel_links(tmp_path: Path) -> None:
    directory = write_units(tmp_path / "units", {"a.service": "[Service]\nExecStart=/bin/true\n"})
    analyze = link(tmp_path, "systemd-analyze")
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(directory)}
    dot = subprocess.run(
        [str(analyze), "dot", "--order"], capture_output=True, text=True, env=env, check=False
    )
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph systemd {")
    runlevel = subprocess.run(
        [str(link(tmp_path, "runlevel"))], capture_output=True, text=True, check=False
    )
    assert runlevel.returncode == 1
    assert "not supported yet" in runlevel.stderr
