from __future__ import annotations

import subprocess

import pytest

import support
from bootup.units.paths import DEFAULT_SYSTEM_UNIT_PATH, PathKind, search_path


def test_default_list_is_debians() -> None:
    sp = search_path(environ={})
    assert sp.dirs == DEFAULT_SYSTEM_UNIT_PATH
    assert sp.dirs[0] == "/etc/systemd/system.control"
    assert sp.dirs.index("/etc/systemd/system") < sp.dirs.index("/run/systemd/system")
    assert sp.dirs[-1] == "/run/systemd/generator.late"


def test_unit_path_replaces_the_list() -> None:
    assert search_path(environ={"SYSTEMD_UNIT_PATH": "/a:/b"}).dirs == ("/a", "/b")


def test_trailing_colon_appends_defaults_without_duplicates() -> None:
    sp = search_path(environ={"SYSTEMD_UNIT_PATH": "/etc/systemd/system:"})
    assert sp.dirs[0] == "/etc/systemd/system"
    assert sp.dirs.count("/etc/systemd/system") == 1
    assert len(sp.dirs) == len(DEFAULT_SYSTEM_UNIT_PATH)


def test_empty_value_means_no_directories() -> None:
    assert search_path(environ={"SYSTEMD_UNIT_PATH": ""}).dirs == ()


def test_root_prefixes_host_paths_but_not_logical_ones(tmp_path: object) -> None:
    sp = search_path(root="/r", environ={})
    assert sp.host("/etc/systemd/system") == "/r/etc/systemd/system"
    assert sp.logical("/r/usr/lib/systemd/system/a.service") == "/usr/lib/systemd/system/a.service"
    assert sp.kind("/run/systemd/generator/x.service") is PathKind.GENERATOR
    assert sp.kind("/etc/systemd/system/x.service") is PathKind.CONFIG


def test_project_mode_is_one_directory(tmp_path: object) -> None:
    sp = search_path(project="/srv/units", environ={"SYSTEMD_UNIT_PATH": "/ignored"})
    assert sp.dirs == ("/srv/units",)
    assert sp.config_dir == "/srv/units"
    assert sp.kind("/srv/units/a.service") is PathKind.PROJECT


@pytest.mark.conformance
@pytest.mark.parametrize(
    "value", [None, "/x:/y", "/x:/y:", "/etc/systemd/system:", "", ":/x", "/x//y/:/x/y"]
)
def test_same_list_as_systemd_analyze(value: str | None) -> None:
    tool = support.require_tool("systemd-analyze", package="systemd")
    env = {"PATH": "/usr/bin:/bin"}
    if value is not None:
        env["SYSTEMD_UNIT_PATH"] = value
    real = subprocess.run(
        [tool, "unit-paths"], env=env, capture_output=True, text=True, check=True, cwd="/"
    ).stdout.split()
    assert list(search_path(environ=env).dirs) == real


@pytest.mark.conformance
def test_cli_prints_what_systemd_analyze_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bootup.cli import main

    tool = support.require_tool("systemd-analyze", package="systemd")
    monkeypatch.setenv("SYSTEMD_UNIT_PATH", "/srv/a:/srv/b:")
    real = subprocess.run([tool, "unit-paths"], capture_output=True, text=True, check=True).stdout
    assert main(["unit-paths"]) == 0
    assert capsys.readouterr().out == real
