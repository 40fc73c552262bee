"""Helpers shared by the test suite (importable as ``support``; ``tests/`` is on the path)."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ("IN_CI", "require_tool")

#: CI sets CI=true; there a missing real tool is a broken machine set-up, not a reason to skip.
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str, *, package: str = "") -> str:
    """Return the path of a real tool the test compares against, or skip without it.

    Under CI=true a missing tool fails the test instead: ``make test`` installs every tool
    it needs, so a missing one means the set-up is broken and the comparison was not made.
    """
    for candidate in (name, f"/usr/sbin/{name}", f"/sbin/{name}", f"/lib/systemd/{name}"):
        found = (
            shutil.which(candidate)
            if "/" not in candidate
            else (candidate if os.access(candidate, os.X_OK) else None)
        )
        if found:
            return found
    hint = f" (Debian package {package})" if package else ""
    message = f"{name} is not installed{hint}"
    if IN_CI:
        pytest.fail(message + "; make test should have installed it")
    pytest.skip(message)
