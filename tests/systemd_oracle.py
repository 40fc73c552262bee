"""Run real systemd 252 as the oracle: ``systemd --test`` over a directory of unit files.

``systemd --test`` refuses to run as root, so it runs as ``nobody`` through ``runuser``
(reference systemd.md §2.1, O1). Stub checkpoint targets (Appendix A.1) make a scenario
directory self-contained.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support import require_tool

__all__ = ("STUB_TARGETS", "TestRun", "run_systemd_test", "write_units")

STUB_TARGETS = ("sysinit", "basic", "shutdown", "sockets", "timers", "paths", "slices", "local-fs")

_ACTION = re.compile(r"^\t\tAction: (\S+) -> (\S+)$")
_FAILED = re.compile(r"^Failed to (?:start|isolate) default target: (.*)$")


@dataclass(frozen=True)
class TestRun:
    """What systemd --test printed: the job set, or the failure message."""

    __test__ = False  # not a pytest class

    returncode: int
    jobs: frozenset[tuple[str, str]]
    failure: str | None
    output: str


def write_units(directory: Path, units: dict[str, str], *, stubs: bool = True) -> Path:
    """Write ``units`` (file name -> text; a value starting with ``@`` is a symlink target)."""
    directory.mkdir(parents=True, exist_ok=True)
    if stubs:
        for name in STUB_TARGETS:
            if f"{name}.target" not in units:
                (directory / f"{name}.target").write_text(f"[Unit]\nDescription={name}\n")
        if "multi-user.target" not in units:
            (directory / "multi-user.target").write_text(
                "[Unit]\nRequires=basic.target\nAfter=basic.target\n"
            )
    for name, text in units.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("@"):
            path.symlink_to(text[1:])
        else:
            path.write_text(text)
    # systemd --test runs as nobody: the files and every directory above them must be
    # readable by others (pytest's tmp_path parents are private).
    subprocess.run(["chmod", "-R", "a+rX", str(directory)], check=True)
    for parent in directory.parents:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    return directory


def run_systemd_test(directory: Path | str | None, unit: str) -> TestRun:
    """Run ``systemd --test --system --unit=UNIT`` over ``directory`` as nobody.

    ``directory`` None means the machine's own unit search path; a string is used as
    ``SYSTEMD_UNIT_PATH`` as it is (several directories separated by ``:``).
    """
    runuser = require_tool("runuser", package="util-linux")
    systemd = require_tool("/lib/systemd/systemd", package="systemd")
    result = subprocess.run(
        [
            runuser, "-u", "nobody", "--", "env",
            *([f"SYSTEMD_UNIT_PATH={directory}"] if directory is not None else []),
            "SYSTEMD_LOG_TARGET=console", "SYSTEMD_LOG_LEVEL=debug", systemd, "--test",
            "--system", f"--unit={unit}", "--no-pager",
        ],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    lines = output.splitlines()
    jobs: set[tuple[str, str]] = set()
    if "-> By jobs:" in lines:
        start = len(lines) - 1 - lines[::-1].index("-> By jobs:")
        for line in lines[start:]:
            match = _ACTION.match(line)
            if match:
                jobs.add((match[1], match[2]))
    failure = None
    for line in lines:
        match = _FAILED.match(line)
        if match:
            failure = match[1]
    return TestRun(result.returncode, frozenset(jobs), failure, output)
