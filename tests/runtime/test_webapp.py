"""``make demo``: examples/webapp/demo.py brings the web application up and down."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WEBAPP = Path(__file__).resolve().parents[2] / "examples" / "webapp"


@pytest.mark.slow
def test_demo_runs_the_webapp_and_stops_it_cleanly(tmp_path: Path) -> None:
    # A private copy: the project lock would refuse a second run of the same directory
    # (another test session, or `make demo`, may be using examples/webapp right now).
    copy = tmp_path / "webapp"
    shutil.copytree(WEBAPP, copy, symlinks=True, ignore=shutil.ignore_patterns(".bootup"))
    done = subprocess.run(
        [sys.executable, str(copy / "demo.py")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "[  OK  ] Started api.service - API server." in out
    assert "[  OK  ] Reached target webapp.target - Web application." in out
    assert "['boot loader', 'kernel', 'initramfs', 'service manager']" in out
    worker = next(line for line in out.splitlines() if line.strip().startswith("worker.service "))
    assert worker.split()[1:5] == ["active", "running", "success", "1"]
    assert "worker: simulated crash on first start (exit 1)" in out
    assert "bootup exited with status 0" in out
