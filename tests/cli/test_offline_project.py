# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""Offline verbs given ``--project DIR``/``--root DIR`` (found by the golden-file tests).

Two bugs: a DIR that does not exist read as an empty tree (``analyze dot`` printed an
empty digraph and exited 0), and ``--project DIR`` read only DIR, without the special
targets (sysinit.target, basic.target, multi-user.target, default.target...) a project
manager provides, so the offline graph differed from the live one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.runtime.project import write_units

BOOTUP = [sys.executable, "-m", "bootup"]
UNITS = {
    "db.service": "[Unit]\nDescription=Database\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    "web.service": "[Unit]\nDescription=Web\nRequires=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 300\n",
    "multi-user.target.wants/web.service": "-> ../web.service",
}


def _env() -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("BOOTUP_CONTROL_SOCKET", None)
    return environment


def bootup(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOOTUP, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_env(),
        cwd=cwd,
    )


# --- a directory that does not exist ------------------------------------------------------

#: The verbs whose --root/--project go through bootup.cli._units.
GRAPH_VERBS = [
    ("analyze", "dot"),
    ("analyze", "why", "web.service"),
    ("list-dependencies",),
    ("list-dependencies", "web.service"),
]
#: The verbs of cli/commands/unitfiles.py and units/verify.py: they call search_path()
#: themselves and need ``must_exist=True`` there (not in this change's files).
UNITFILE_VERBS = [
    ("verify", "web.service"),
    ("show", "web.service"),
    ("cat", "web.service"),
    ("list-unit-files",),
    ("is-enabled", "web.service"),
]


@pytest.mark.parametrize("option", ["--project", "--root"])
@pytest.mark.parametrize("verb", [*GRAPH_VERBS, *UNITFILE_VERBS])
def test_a_missing_directory_is_an_error_naming_it(
    tmp_path: Path, option: str, verb: tuple[str, ...]
) -> None:
    missing = tmp_path / "no-such-dir"
    done = bootup(*verb, option, str(missing))
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert f"{option} {missing}: expected a directory" in done.stderr
    assert "no such file or directory" in done.stderr
    assert not missing.exists()


def test_a_file_given_as_project_is_an_error(tmp_path: Path) -> None:
    afile = tmp_path / "web.service"
    afile.write_text(UNITS["web.service"])
    done = bootup("analyze", "dot", "--project", str(afile))
    assert done.returncode == 1
    assert f"--project {afile}: expected a directory of unit files, found a file" in done.stderr


def test_an_existing_empty_directory_is_still_fine(tmp_path: Path) -> None:
    done = bootup("analyze", "dot", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digraph systemd {")


# --- the special targets a project manager provides ---------------------------------------


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_offline_project_sees_the_special_targets_without_writing_into_it(tmp_path: Path) -> None:
    project = write_units(tmp_path / "project", UNITS)
    before = _tree(project)
    deps = bootup("list-dependencies", "--project", str(project), "--plain")
    assert deps.returncode == 0, deps.stderr
    names = deps.stdout.split()
    for target in ("multi-user.target", "basic.target", "sysinit.target", "web.service"):
        assert target in names
    dot = bootup("analyze", "dot", "--project", str(project))
    assert '"web.service"->"basic.target" [color="green"];' in dot.stdout  # default deps
    assert '"multi-user.target"->"web.service" [color="grey66"];' in dot.stdout
    assert _tree(project) == before  # no .bootup/units written


def test_a_project_target_wins_over_the_provided_one(tmp_path: Path) -> None:
    units = dict(UNITS, **{"basic.target": "[Unit]\nDescription=Mine\nDefaultDependencies=no\n"})
    project = write_units(tmp_path / "project", units)
    dot = bootup("analyze", "dot", "--project", str(project))
    assert dot.returncode == 0, dot.stderr
    assert '"basic.target"->"sysinit.target"' not in dot.stdout  # the provided one's edges


@pytest.mark.slow
def test_offline_dot_equals_live_dot_of_bootup_up(tmp_path: Path) -> None:
    project = write_units(tmp_path / "project", UNITS)
    never_run = bootup("analyze", "dot", "--project", str(project))
    assert never_run.returncode == 0, never_run.stderr
    assert not (project / ".bootup").exists()

    up = subprocess.Popen(
        [*BOOTUP, "up", str(project), "--no-color"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert up.stdout is not None
        seen: list[str] = []
        for line in up.stdout:  # the manager says when the start job finished
            seen.append(line)
            if "supervising" in line:
                break
        assert any("reached" in line for line in seen), "".join(seen)
        live = bootup("analyze", "dot", "--project", str(project))
        offline = bootup("analyze", "dot", "--project", str(project), "--offline")
        deps_live_dir = bootup("list-dependencies", "--project", str(project))
    finally:
        up.send_signal(signal.SIGTERM)
        up.communicate(timeout=120)
    assert live.returncode == offline.returncode == 0, live.stderr + offline.stderr
    assert live.stdout == never_run.stdout
    assert offline.stdout == never_run.stdout
    assert deps_live_dir.returncode == 0, deps_live_dir.stderr
    assert "basic.target" in deps_live_dir.stdout
