"""decode_core_img against images built by the real grub-mkimage (round trip).

What grub-mkimage was told (prefix, modules, early config, memdisk) must come back out of
the decoder; the module list is checked against the dependency closure of
/usr/lib/grub/i386-pc/moddep.lst, which is what grub-mkimage itself pulls in.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import support
from bootup.boot import coreimg

pytestmark = pytest.mark.conformance

MODDEP = Path("/usr/lib/grub/i386-pc/moddep.lst")


def _mkimage(tmp_path: Path, *args: str) -> Path:
    tool = support.require_tool("grub-mkimage", package="grub-common")
    if not MODDEP.exists():
        if support.IN_CI:
            pytest.fail(f"{MODDEP} is missing (Debian package grub-pc-bin)")
        pytest.skip(f"{MODDEP} is missing (Debian package grub-pc-bin)")
    out = tmp_path / "core.img"
    subprocess.run([tool, "-O", "i386-pc", "-o", str(out), *args], check=True)
    return out


def _closure(modules: list[str]) -> set[str]:
    deps: dict[str, list[str]] = {}
    for line in MODDEP.read_text().splitlines():
        name, _, rest = line.partition(":")
        deps[name] = rest.split()
    found: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(deps.get(name, []))
    return found


def test_recipe_core_img(tmp_path: Path) -> None:
    path = _mkimage(tmp_path, "-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2")
    core = coreimg.decode_core_img(path)
    assert core.prefix == "(hd0,msdos1)/boot/grub"
    assert core.module_names == ("biosdisk", "part_msdos", "fshelp", "ext2")
    assert core.config is None
    assert core.size == path.stat().st_size
    assert core.sectors == -(-core.size // 512)
    assert core.blocklists == (coreimg.Blocklist(2, core.sectors - 1, 0x820),)
    assert core.rs_redundancy == 0
    assert core.boot_device == 0x00FFFFFF


@pytest.mark.parametrize(
    ("prefix", "modules"),
    [
        ("(hd0,gpt2)/boot/grub", ["biosdisk", "part_gpt", "ext2"]),
        ("/grub", ["biosdisk", "part_msdos", "ext2", "normal", "linux", "search", "echo"]),
        ("(hd1,msdos5)/a dir/with spaces", ["part_msdos", "xfs", "lvm", "configfile"]),
    ],
)
def test_prefix_and_modules_round_trip(tmp_path: Path, prefix: str, modules: list[str]) -> None:
    path = _mkimage(tmp_path, "-p", prefix, *modules)
    core = coreimg.decode_core_img(path)
    assert core.prefix == prefix
    assert set(core.module_names) == _closure(modules)
    assert len(core.module_names) == len(set(core.module_names))


def test_embedded_config_and_memdisk(tmp_path: Path) -> None:
    config = tmp_path / "early.cfg"
    config.write_text("search --set=root --label boot\nset prefix=($root)/grub\n")
    memdisk = tmp_path / "memdisk.tar"
    memdisk.write_bytes(b"M" * 3000)
    path = _mkimage(
        tmp_path,
        "-p",
        "/grub",
        "-c",
        str(config),
        "-m",
        str(memdisk),
        "biosdisk",
        "memdisk",
        "tar",
        "search",
    )
    core = coreimg.decode_core_img(path)
    assert core.config == config.read_text()
    kinds = [m.type for m in core.modules]
    assert "memdisk" in kinds
    assert "config" in kinds
    assert next(m for m in core.modules if m.type == "memdisk").size >= 3000 + 8
    assert set(core.module_names) == _closure(["biosdisk", "memdisk", "tar", "search"])
