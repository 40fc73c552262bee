from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootup.errors import UnitNotFoundError
from bootup.units.install import Installer, InstallError, UnitFileState
from bootup.units.paths import search_path

LIB = "usr/lib/systemd/system"


def make_root(tmp_path: Path, files: dict[str, str]) -> Installer:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Installer(search_path(root=str(tmp_path), environ={}))


def links(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root / "etc"):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink():
                out[str(p.relative_to(root))] = os.readlink(p)
    return out


def test_enable_creates_absolute_links_inside_the_root(tmp_path: Path) -> None:
    inst = make_root(
        tmp_path,
        {
            f"{LIB}/a.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
            "WantedBy=multi-user.target\nAlias=b.service\n",
            f"{LIB}/multi-user.target": "[Unit]\n",
        },
    )
    changes = inst.enable(["a.service"])
    assert links(tmp_path) == {
        "etc/systemd/system/b.service": "/usr/lib/systemd/system/a.service",
        "etc/systemd/system/multi-user.target.wants/a.service": "/usr/lib/systemd/system/a.service",
    }
    assert str(changes[0]) == (
        f"Created symlink {tmp_path}/etc/systemd/system/b.service \u2192 "
        "/usr/lib/systemd/system/a.service."
    )
    assert inst.state("a.service") is UnitFileState.ENABLED
    assert inst.state("b.service") is UnitFileState.ALIAS
    assert inst.enable(["a.service"]) == []  # idempotent
    removed = inst.disable(["a.service"])
    assert {str(c) for c in removed} == {
        f'Removed "{tmp_path}/etc/systemd/system/b.service".',
        f'Removed "{tmp_path}/etc/systemd/system/multi-user.target.wants/a.service".',
    }
    assert links(tmp_path) == {}
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants").exists()
    assert inst.state("a.service") is UnitFileState.DISABLED


def test_static_masked_and_missing(tmp_path: Path) -> None:
    inst = make_root(tmp_path, {f"{LIB}/s.service": "[Service]\nExecStart=/bin/true\n"})
    assert inst.state("s.service") is UnitFileState.STATIC
    notice = inst.enable(["s.service"])
    assert "no installation config" in str(notice[0])
    inst.mask(["s.service"])
    assert inst.state("s.service") is UnitFileState.MASKED
    with pytest.raises(InstallError, match="is masked"):
        inst.enable(["s.service"])
    inst.unmask(["s.service"])
    assert inst.state("s.service") is UnitFileState.STATIC
    with pytest.raises(UnitNotFoundError):
        inst.state("nope.service")
    assert not UnitFileState.MASKED.counts_as_enabled
    assert UnitFileState.STATIC.counts_as_enabled


def test_template_needs_an_instance(tmp_path: Path) -> None:
    inst = make_root(
        tmp_path,
        {
            f"{LIB}/t@.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=x.target\n",
            f"{LIB}/g@.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
            "WantedBy=x.target\nDefaultInstance=tty1\n",
        },
    )
    (error,) = inst.enable(["t@.service"])
    assert (error.kind, error.text) == (
        "error",
        "t@.service, destination unit x.target is a non-template unit.",
    )
    inst.enable(["g@.service", "t@a.service"])
    assert links(tmp_path) == {
        "etc/systemd/system/x.target.wants/g@tty1.service": "/usr/lib/systemd/system/g@.service",
        "etc/systemd/system/x.target.wants/t@a.service": "/usr/lib/systemd/system/t@.service",
    }
    assert inst.state("g@.service") is UnitFileState.ENABLED
    assert inst.state("t@.service") is UnitFileState.INDIRECT
    assert inst.state("t@b.service") is UnitFileState.DISABLED


def test_set_and_get_default(tmp_path: Path) -> None:
    inst = make_root(tmp_path, {f"{LIB}/graphical.target": "[Unit]\n"})
    with pytest.raises(UnitNotFoundError):
        inst.get_default()
    inst.set_default("graphical.target")
    assert inst.get_default() == "graphical.target"
    assert inst.state("default.target") is UnitFileState.ALIAS


def test_project_mode_links_into_the_project(tmp_path: Path) -> None:
    (tmp_path / "app.service").write_text(
        "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n"
    )
    inst = Installer(search_path(project=str(tmp_path)))
    inst.enable(["app.service"])
    link = tmp_path / "default.target.wants" / "app.service"
    assert os.readlink(link) == str(tmp_path / "app.service")
    rows = inst.list_unit_files()
    assert [(r.name, r.state.value) for r in rows] == [("app.service", "enabled")]
