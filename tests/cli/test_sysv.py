"""The SysV verbs (poweroff, halt, reboot, telinit, runlevel) and ``bootup init``'s guards,
outside a system manager. Against a running one: tests/runtime/test_system_mode.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.cli.commands.init import unit_from_words
from bootup.cli.commands.sysv import TELINIT_ACTIONS

BOOTUP = Path(sys.executable).with_name("bootup")


def _bootup(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BOOTUP), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_kernel_command_line_words_choose_the_unit() -> None:
    assert unit_from_words([], None) == "default.target"
    assert unit_from_words(["quiet", "splash"], None) == "default.target"
    assert unit_from_words(["3"], None) == "runlevel3.target"
    assert unit_from_words(["single"], None) == "rescue.target"
    assert unit_from_words(["emergency"], None) == "emergency.target"
    # systemd.unit= wins over a runlevel word, --unit over both (as in systemd's main.c)
    assert unit_from_words(["systemd.unit=x.target", "3"], None) == "x.target"
    assert unit_from_words(["systemd.unit=x.target"], "y.target") == "y.target"


def test_telinit_table_is_systemds() -> None:
    assert TELINIT_ACTIONS["0"] == ("poweroff", "poweroff.target")
    assert TELINIT_ACTIONS["6"] == ("reboot", "reboot.target")
    for word in "1sS":
        assert TELINIT_ACTIONS[word] == ("isolate", "rescue.target")
    for level in "2345":
        assert TELINIT_ACTIONS[level] == ("isolate", f"runlevel{level}.target")
    assert TELINIT_ACTIONS["q"][0] == TELINIT_ACTIONS["Q"][0] == "reload"


def test_telinit_refuses_bad_arguments() -> None:
    missing = _bootup("telinit")
    assert missing.returncode == 1
    assert "expected one argument" in missing.stderr
    bad = _bootup("telinit", "9")
    assert bad.returncode == 1
    assert "unknown command '9'" in bad.stderr


def test_shutdown_verbs_name_the_socket_when_no_manager_runs(tmp_path: Path) -> None:
    socket = tmp_path / "none.sock"
    for verb in ("poweroff", "halt", "reboot"):
        done = _bootup(verb, env={"BOOTUP_CONTROL_SOCKET": str(socket)})
        assert done.returncode == 1
        assert f"cannot connect to the bootup manager at {socket}" in done.stderr
    forced = _bootup("poweroff", "--force", env={"BOOTUP_CONTROL_SOCKET": str(socket)})
    assert forced.returncode == 1
    assert "poweroff --force: not supported yet" in forced.stderr


@pytest.mark.skipif(os.getpid() == 1, reason="the guard is for processes that are not PID 1")
def test_init_refuses_to_run_beside_the_machines_init() -> None:
    from bootup.runtime.system import in_initial_pid_namespace

    if not in_initial_pid_namespace():
        pytest.skip("the test itself runs in a container's PID namespace")
    done = _bootup("init")
    assert done.returncode == 1
    assert "is not PID 1" in done.stderr
    assert "refusing" in done.stderr
