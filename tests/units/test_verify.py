from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootup.cli import main
from bootup.units.paths import search_path
from bootup.units.verify import show_properties, verify_files


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_verify_collects_systemd_wording(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.service": "[Unit]\nRequires=gone.service\n[Service]\nExecStart=/no/such/bin\n",
            "b.service": "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n",
        },
    )
    env = {"SYSTEMD_UNIT_PATH": str(tmp_path)}
    result = verify_files([str(tmp_path / "a.service")], environ=env)
    assert result.failed
    assert result.lines == [
        "a.service: Command /no/such/bin is not executable: No such file or directory",
        "a.service: Failed to create a.service/start: Unit gone.service not found.",
    ]
    result = verify_files([str(tmp_path / "b.service")], environ=env)
    assert result.lines == [
        "b.service: Service has more than one ExecStart= setting, which is only allowed for "
        "Type=oneshot services. Refusing.",
        "Unit b.service has a bad unit file setting.",
    ]


def test_verify_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        {"ok.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n"},
    )
    assert main(["verify", "--project", str(tmp_path), str(tmp_path / "ok.service")]) == 0
    assert capsys.readouterr().err == ""
    write(tmp_path, {"bad.service": "[Service]\nType=forking\n"})
    assert main(["verify", str(tmp_path / "bad.service")]) == 1
    assert "Refusing." in capsys.readouterr().err


def test_show_properties_offline(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.service": "[Unit]\nDescription=A\nWants=b.service\n[Service]\nExecStart=/bin/true\n",
            "b.service": "[Service]\nExecStart=/bin/true\n",
            "b.service.d/x.conf": "[Unit]\nDocumentation=man:b(1)\n",
        },
    )
    (tmp_path / "bee.service").symlink_to("b.service")
    sp = search_path(environ={"SYSTEMD_UNIT_PATH": str(tmp_path)})
    a, b = show_properties(sp, ["a.service", "bee.service"])
    assert a["Id"] == "a.service"
    assert a["Wants"] == "b.service"
    assert "sysinit.target" in a["Requires"].split()
    assert a["Description"] == "A"
    assert a["LoadState"] == "loaded"
    assert b["Id"] == "b.service"
    assert b["Names"] == "b.service bee.service"
    assert b["WantedBy"] == "a.service"
    assert b["DropInPaths"] == str(tmp_path / "b.service.d" / "x.conf")
    assert b["FragmentPath"] == str(tmp_path / "b.service")


def test_show_and_cat_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        {
            "a.service": "[Service]\nExecStart=/bin/true\n",
            "a.service.d/10.conf": "[Unit]\nDescription=dropped\n",
        },
    )
    assert main(["show", "--project", str(tmp_path), "a.service", "-p", "Id,Description"]) == 0
    assert capsys.readouterr().out == "Id=a.service\nDescription=dropped\n"
    assert main(["show", "--project", str(tmp_path), "a.service", "-p", "Id", "--value"]) == 0
    assert capsys.readouterr().out == "a.service\n"
    assert main(["cat", "--project", str(tmp_path), "a.service"]) == 0
    assert capsys.readouterr().out == (
        f"# {tmp_path}/a.service\n[Service]\nExecStart=/bin/true\n\n"
        f"# {tmp_path}/a.service.d/10.conf\n[Unit]\nDescription=dropped\n"
    )
    assert main(["cat", "--project", str(tmp_path), "nope.service"]) == 1
    assert "No files found for nope.service." in capsys.readouterr().err
    # As systemctl: a name without a type suffix is a service.
    assert main(["cat", "--project", str(tmp_path), "a"]) == 0
    assert capsys.readouterr().out.startswith(f"# {tmp_path}/a.service\n")
    assert main(["cat", "--project", str(tmp_path), "nope"]) == 1
    assert "No files found for nope.service." in capsys.readouterr().err


def test_system_option_reads_the_system_unit_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--system (systemctl's default) names the system's units; --project excludes it."""
    monkeypatch.setenv("SYSTEMD_UNIT_PATH", str(tmp_path))
    monkeypatch.setenv("BOOTUP_CONTROL_SOCKET", str(tmp_path / "no-manager.sock"))
    write(
        tmp_path, {"s.service": "[Unit]\nDescription=system unit\n[Service]\nExecStart=/bin/true\n"}
    )
    assert main(["show", "--system", "s", "-p", "Description", "--value"]) == 0
    assert capsys.readouterr().out == "system unit\n"
    assert main(["cat", "--system", "s"]) == 0
    assert capsys.readouterr().out.startswith(f"# {tmp_path}/s.service\n")
    with pytest.raises(SystemExit):
        main(["is-enabled", "--system", "--project", str(tmp_path), "s"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_unit_paths_and_list_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSTEMD_UNIT_PATH", f"{tmp_path}:")
    assert main(["unit-paths"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(tmp_path)
    assert lines[1] == "/etc/systemd/system.control"
    write(tmp_path, {"x.service": "[Service]\nExecStart=/bin/true\n"})
    assert main(["list-unit-files", "--project", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"unit_file": "x.service", "state": "static", "preset": None}]


def test_unsupported_install_options_fail_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["enable", "--project", str(tmp_path), "--now", "x.service"]) == 1
    assert capsys.readouterr().err == "bootup: enable --now is not supported yet\n"
