"""bootup behaves as systemctl, journalctl, systemd-analyze, init, telinit or runlevel when
linked under that name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bootup.cli import as_invoked
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
    assert as_invoked("/sbin/telinit", ["3"]) == ["telinit", "3"]
    assert as_invoked("runlevel", []) == ["runlevel"]
    assert as_invoked("/sbin/poweroff", ["--no-wall"]) == ["poweroff", "--no-wall"]
    # init: the system manager as PID 1 (kernel command-line words passed on), else telinit
    assert as_invoked("/sbin/init", [], pid=1) == ["init"]
    assert as_invoked("/sbin/init", ["systemd.unit=rescue.target"], pid=1) == [
        "init",
        "systemd.unit=rescue.target",
    ]
    assert as_invoked("/sbin/init", ["6"], pid=4242) == ["telinit", "6"]


def test_systemctl_options_before_the_verb_move_behind_it() -> None:
    assert as_invoked("systemctl", ["--system", "start", "x"]) == ["start", "--system", "x"]
    assert as_invoked("bootup", ["--no-block", "-p", "Id", "show", "x"]) == [
        "show", "--no-block", "-p", "Id", "x",
    ]  # fmt: skip
    assert as_invoked("bootup", ["--root", "/r", "--now", "enable", "x"]) == [
        "--root", "/r", "enable", "--now", "x",
    ]  # fmt: skip
    assert as_invoked("bootup", ["--version"]) == ["--version"]
    assert as_invoked("bootup", ["status", "--system", "x"]) == ["status", "--system", "x"]


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
    telinit = subprocess.run(
        [str(link(tmp_path, "telinit")), "u"], capture_output=True, text=True, check=False
    )
    assert telinit.returncode == 1
    assert "telinit u (daemon-reexec): not supported yet" in telinit.stderr
