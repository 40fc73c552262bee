"""The package itself: version, CLI entry point, error hierarchy and import layering."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import bootup
from bootup import errors
from bootup.cli import main

SRC = Path(__file__).resolve().parent.parent / "src" / "bootup"

# Who may import whom (the layering of the style guide). Every subpackage may import
# bootup.errors and itself; `cli` and `analyze` sit on top.
ALLOWED: dict[str, set[str]] = {
    "singleflight": set(),
    "boot": set(),
    "units": set(),
    "transaction": {"units"},
    "runtime": {"transaction", "units", "singleflight"},
    "control": {"runtime", "transaction", "units"},
    "analyze": {"control", "runtime", "transaction", "units"},
    "cli": {"analyze", "control", "runtime", "transaction", "units", "boot", "singleflight"},
}


def test_version_is_exposed() -> None:
    assert bootup.__version__


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bootup {bootup.__version__}"


def test_cli_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: bootup" in capsys.readouterr().err


def test_console_script_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bootup", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bootup ")


def test_every_error_derives_from_the_root() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.Error), name
        assert cls.__doc__, f"{name} needs a docstring"
    assert issubclass(errors.BootFormatError, ValueError)
    assert issubclass(errors.UnitNotFoundError, LookupError)
    assert errors.UnitNotFoundError.exit_code == 4


def _bootup_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "bootup" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package: str) -> None:
    allowed = ALLOWED[package] | {package, "errors", "__version__"}
    for path in sorted((SRC / package).rglob("*.py")):
        bad = _bootup_imports(path) - allowed
        assert not bad, f"{path.relative_to(SRC)} imports bootup.{sorted(bad)}"
