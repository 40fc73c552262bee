"""The transaction verbs end to end: ``--test``, ``list-dependencies``, ``analyze dot|why``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.units.generators import find_generators, run_generators
from systemd_oracle import write_units

SVC = "[Service]\nExecStart=/bin/true\n"


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    return write_units(
        tmp_path / "units",
        {
            "multi-user.target": "[Unit]\nRequires=basic.target\nAfter=basic.target\n"
            "Wants=e.service f.service\nAllowIsolate=yes\n",
            "e.service": "[Unit]\nWants=f.service\nAfter=f.service\n" + SVC,
            "f.service": "[Unit]\nAfter=e.service\n" + SVC,
            "web.service": "[Unit]\nRequires=db.service\nAfter=db.service\n" + SVC,
            "db.service": SVC,
            "masked.service": "@/dev/null",
        },
    )


def bootup(unit_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(unit_dir)}
    return subprocess.run(
        [sys.executable, "-m", "bootup", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_test_mode_prints_the_jobs_and_the_cycle_break(unit_dir: Path) -> None:
    result = bootup(unit_dir, "--test", "--system", "--unit=multi-user.target")
    assert result.returncode == 0, result.stderr
    actions = {line.strip() for line in result.stdout.splitlines() if "Action:" in line}
    assert "Action: multi-user.target -> start" in actions
    assert "Action: sysinit.target -> start" in actions
    assert len(actions & {"Action: e.service -> start", "Action: f.service -> start"}) == 1
    assert "deleted to break ordering cycle" in result.stderr


def test_test_mode_json_lists_jobs_and_order(unit_dir: Path) -> None:
    result = bootup(unit_dir, "--test", "--system", "--unit=web.service", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {"unit": "db.service", "job": "start"} in document["jobs"]
    assert {"unit": "web.service", "after": "db.service"} in document["order"]
    assert document["mode"] == "replace"


def test_test_mode_fails_like_systemd(unit_dir: Path) -> None:
    (unit_dir / "broken.service").write_text("[Unit]\nRequires=masked.service\n" + SVC)
    result = bootup(unit_dir, "--test", "--system", "--unit=broken.service")
    assert result.returncode == 1
    assert "Failed to start default target: Unit masked.service is masked." in result.stderr


def test_list_dependencies_draws_a_tree(unit_dir: Path) -> None:
    result = bootup(unit_dir, "list-dependencies", "web.service")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "web.service"
    assert any(line.endswith("├─db.service") for line in lines)
    assert lines[-1].endswith("└─sysinit.target")  # targets come last, expanded
    reverse = bootup(unit_dir, "list-dependencies", "--reverse", "--plain", "db.service")
    assert "  web.service" in reverse.stdout.splitlines()


def test_analyze_dot_colours_edges(unit_dir: Path) -> None:
    result = bootup(unit_dir, "analyze", "dot", "--from-pattern=web.service")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph systemd {\n")
    assert '\t"web.service"->"db.service" [color="green"];' in result.stdout
    assert '\t"web.service"->"db.service" [color="black"];' in result.stdout
    assert all(line.startswith('\t"web.service"') for line in result.stdout.splitlines()[1:-1])
    assert "Color legend" in result.stderr
    order = bootup(unit_dir, "analyze", "dot", "--order", "web.service")
    assert '[color="black"]' not in order.stdout


def test_analyze_why_explains_a_pulled_in_unit(unit_dir: Path) -> None:
    result = bootup(unit_dir, "analyze", "why", "sysinit.target", "--from", "web.service")
    assert result.returncode == 0, result.stderr
    assert "web.service -> Requires= sysinit.target" in result.stdout


def test_analyze_why_explains_a_dropped_unit(unit_dir: Path) -> None:
    first = bootup(unit_dir, "analyze", "why", "e.service", "--from", "multi-user.target")
    second = bootup(unit_dir, "analyze", "why", "f.service", "--from", "multi-user.target")
    dropped = first if first.returncode == 1 else second
    assert dropped.returncode == 1
    assert "deleted to break ordering cycle" in dropped.stdout
    masked = bootup(unit_dir, "analyze", "why", "masked.service", "--from", "web.service")
    assert masked.returncode == 1
    assert "masked.service is masked" in masked.stdout
    assert "No Requires=, Wants=" in masked.stdout


def test_generators_run_in_parallel_into_three_directories(tmp_path: Path) -> None:
    generator_dir = tmp_path / "root" / "etc" / "systemd" / "system-generators"
    generator_dir.mkdir(parents=True)
    script = generator_dir / "hello-generator"
    script.write_text(
        '#!/bin/sh\nprintf \'[Unit]\\nDescription=made by %s\\n\' "$0" > "$2/hello.service"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (generator_dir / "masked-generator").symlink_to("/dev/null")
    found = find_generators(str(tmp_path / "root"))
    assert found == [str(script)]
    out = tmp_path / "out"
    runs = run_generators(out, root=str(tmp_path / "root"))
    assert [run.returncode for run in runs] == [0]
    assert "made by" in (out / "early" / "hello.service").read_text()
