"""The unit tree of this machine loads with no error that systemd does not also report."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import support
from bootup.units.dependencies import load_graph
from bootup.units.loader import Loader
from bootup.units.model import DependencyType, LoadState
from bootup.units.paths import search_path
from bootup.units.verify import verify_files

pytestmark = pytest.mark.conformance

TREE = (Path("/lib/systemd/system"), Path("/etc/systemd/system"))


def real_files() -> list[str]:
    files = [
        str(entry)
        for directory in TREE
        if directory.is_dir()
        for entry in sorted(directory.iterdir())
        if entry.is_file() and not entry.is_symlink() and "." in entry.name
    ]
    if len(files) < 50:
        pytest.skip("no Debian unit tree on this machine")
    return files


def test_whole_tree_loads() -> None:
    real_files()
    loader = Loader(search_path(environ={}))
    graph = load_graph(loader, None)
    assert len(graph) > 150
    for unit in graph.values():
        if unit.fragment_path is not None:
            assert unit.load_state in (LoadState.LOADED, LoadState.MASKED), (
                unit.name,
                [str(d) for d in unit.diagnostics],
            )
    # default.target is an alias of a target on Debian, and so are the runlevel targets.
    assert loader.load("default.target").name in ("graphical.target", "multi-user.target")
    assert loader.load("runlevel3.target").name == "multi-user.target"
    assert "runlevel3.target" in loader.load("multi-user.target").names


def normalise(lines: list[str]) -> list[str]:
    return sorted(
        re.sub(r"start: Unit \S+ (not found|is masked)\.$", r"start: Unit * \1.", line)
        for line in lines
    )


@pytest.mark.slow
def test_verify_reports_exactly_what_systemd_analyze_reports() -> None:
    files = real_files()
    tool = support.require_tool("systemd-analyze", package="systemd")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    r = subprocess.run(
        [tool, "verify", "--man=no", *files],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,
    )
    ours = verify_files(
        files, environ={k: v for k, v in os.environ.items() if k != "SYSTEMD_UNIT_PATH"}
    )
    assert normalise(ours.lines) == normalise((r.stdout + r.stderr).splitlines())
    assert (1 if ours.failed else 0) == r.returncode


KINDS = {t.value for t in DependencyType}
NOISE = re.compile(r"\.(mount|scope|device|swap|automount)$|^(local-fs-pre|umount|swap)\.target$")
TAGS = re.compile(r"^(origin|destination)-(file|default|implicit)$")
# Generators (fstab, getty, postgresql) run inside `systemd --test` and add .wants links
# that no unit file on disk holds; such edges may be missing from bootup's graph.
GENERATOR_KINDS = {"Wants", "WantedBy", "Requires", "RequiredBy"}


@pytest.mark.slow
def test_multi_user_graph_matches_systemd_test_dump() -> None:
    real_files()
    support.require_tool("runuser", package="util-linux")
    systemd = support.require_tool("/lib/systemd/systemd", package="systemd")
    out = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            "env",
            "SYSTEMD_LOG_TARGET=console",
            "SYSTEMD_LOG_LEVEL=debug",
            systemd,
            "--test",
            "--system",
            "--unit=multi-user.target",
            "--no-pager",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    theirs: dict[str, set[tuple[str, str, str, str]]] = {}
    current = None
    for line in (out.stdout + out.stderr).splitlines():
        m = re.match(r"^\t-> Unit (.+):$", line)
        if m:
            current = m.group(1)
            theirs[current] = set()
            continue
        m = re.match(r"^\t\t(\w+): (\S+) \(([^)]*)\)$", line)
        if current is not None and m and m.group(1) in KINDS:
            theirs[current] |= {
                (current, m.group(1), m.group(2), tag)
                for tag in m.group(3).split()
                if TAGS.match(tag)
            }
    assert "multi-user.target" in theirs, out.stdout[-2000:]
    graph = load_graph(Loader(search_path(environ={})), ["multi-user.target"])
    ours = {
        name: {
            (
                name,
                e.type.value,
                e.target,
                ("destination-" if e.inverse else "origin-") + e.origin.kind.dump_tag,
            )
            for e in unit.dependencies
        }
        for name, unit in graph.items()
    }
    common = {n for n in theirs if n in ours and not NOISE.search(n)}
    assert len(common) > 100
    mine = {e for n in common for e in ours[n] if e[2] in common}
    real = {e for n in common for e in theirs[n] if e[2] in common}
    assert mine - real == set()
    assert {e for e in real - mine if e[1] not in GENERATOR_KINDS} == set()
    assert len(real - mine) <= 10
