"""Fixtures of the control-socket tests: a real manager process on a project directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control.manager_proc import RunningManager, spawn, write_project


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningManager]:
    """One manager per test module (start-up costs about a second on the shared machine)."""
    directory = write_project(tmp_path_factory.mktemp("project"))
    manager = spawn(directory)
    try:
        yield manager
    finally:
        manager.stop()
