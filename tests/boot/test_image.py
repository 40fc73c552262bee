"""``build_image``: the disk layout checked with sfdisk, debugfs, grub-script-check, and the
core.img decoder, without booting (the QEMU boots are in tests/e2e)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import support
from bootup.boot.coreimg import decode_core_img
from bootup.boot.grubenv import EnvBlock
from bootup.boot.image import (
    BuiltImage,
    ImageLayoutError,
    MenuEntry,
    Submenu,
    build_image,
    render_grub_cfg,
)
from bootup.boot.initramfs import build_initramfs
from bootup.errors import BootFormatError, NotSupportedError

ASSETS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "boot-assets"
MENU = (
    MenuEntry("Test Linux A", "test-a", "A"),
    Submenu(
        "Advanced options",
        "adv",
        (MenuEntry("Test Linux B", "test-b", "B"), MenuEntry("Test Linux C", "test-c", "C")),
    ),
)


def _fetch_assets() -> None:
    """Fill the asset cache with scripts/fetch-boot-assets (idempotent) when it is empty."""
    if (ASSETS / "kernel-version").is_file():
        return
    script = Path(__file__).resolve().parents[2] / "scripts" / "fetch-boot-assets"
    subprocess.run(["bash", str(script)], capture_output=True, check=False)


def _asset(name: str) -> Path:
    _fetch_assets()
    path = ASSETS / name
    if not path.exists():
        message = f"no {name} in {ASSETS}: run scripts/fetch-boot-assets"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    support.require_tool("mke2fs", package="e2fsprogs")
    support.require_tool("grub-mkimage", package="grub-common")
    if not Path("/usr/lib/grub/i386-pc/boot.img").is_file():
        message = "/usr/lib/grub/i386-pc missing (Debian package grub-pc-bin)"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    initrd = tmp_path_factory.mktemp("parts") / "initrd.img"
    initrd.write_bytes(build_initramfs(busybox=_asset("busybox")))
    return _asset("vmlinuz"), initrd


def _sfdisk(image: Path) -> dict[str, object]:
    tool = support.require_tool("sfdisk", package="fdisk")
    out = subprocess.run([tool, "--json", str(image)], capture_output=True, check=True).stdout
    table: dict[str, object] = json.loads(out)["partitiontable"]
    return table


def _debugfs(image: Path, offset: int, command: str) -> str:
    tool = support.require_tool("debugfs", package="e2fsprogs")
    return subprocess.run(
        [tool, "-R", command, f"{image}?offset={offset}"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip


def _check_boot_code(built: BuiltImage) -> None:
    data = built.path.read_bytes()
    assert data[0x1FE:0x200] == b"\x55\xaa"
    assert struct.unpack_from("<Q", data, 0x5C)[0] == built.core_sector
    assert data[0x64] == 0xFF
    assert data[0x66:0x68] == b"\x90\x90"
    core = data[built.core_sector * 512 : (built.core_sector + built.core_sectors) * 512]
    decoded = decode_core_img(core, base=built.core_sector * 512)
    assert decoded.prefix == built.prefix
    assert "ext2" in decoded.module_names
    assert decoded.blocklists[0].start == built.core_sector + 1
    assert decoded.blocklists[0].length == built.core_sectors - 1


@pytest.mark.parametrize("first_sector", [63, 2048])
def test_mbr_layout(parts: tuple[Path, Path], tmp_path: Path, first_sector: int) -> None:
    kernel, initrd = parts
    out = tmp_path / "disk.img"
    built = build_image(
        out, kernel=kernel, initrd=initrd, menu=MENU, first_sector=first_sector,
        grubenv={"saved_entry": "adv>test-c"}, size=48 << 20,
    )  # fmt: skip
    assert out.stat().st_size == 48 << 20
    table = _sfdisk(out)
    assert table["label"] == "dos"
    partitions = table["partitions"]
    assert isinstance(partitions, list)
    assert len(partitions) == 1
    assert partitions[0]["start"] == first_sector
    assert partitions[0]["size"] == (48 << 20) // 512 - first_sector
    assert partitions[0]["type"] == "83"
    assert partitions[0].get("bootable") is True
    assert built.prefix == "(hd0,msdos1)/boot/grub"
    assert built.core_sector == 1
    assert built.embedding_sectors == first_sector - 1
    _check_boot_code(built)
    listing = _debugfs(out, built.boot_offset, "ls -l /boot")
    assert f"vmlinuz-{built.kernel_release}" in listing
    assert f"initrd.img-{built.kernel_release}" in listing
    env = EnvBlock(_debugfs_cat(out, built.boot_offset, "/boot/grub/grubenv"))
    assert env.get("saved_entry") == "adv>test-c"
    assert env.size == 1024
    cfg = _debugfs_cat(out, built.boot_offset, "/boot/grub/grub.cfg").decode()
    assert cfg == built.grub_cfg
    assert "normal.mod" in _debugfs(out, built.boot_offset, "ls /boot/grub/i386-pc")
    kernel_copy = _debugfs_cat(out, built.boot_offset, f"/boot/vmlinuz-{built.kernel_release}")
    assert kernel_copy == kernel.read_bytes()


def _debugfs_cat(image: Path, offset: int, path: str) -> bytes:
    tool = support.require_tool("debugfs", package="e2fsprogs")
    return subprocess.run(
        [tool, "-R", f"cat {path}", f"{image}?offset={offset}"], capture_output=True,
        check=True,
    ).stdout  # fmt: skip


def test_gpt_layout(parts: tuple[Path, Path], tmp_path: Path) -> None:
    kernel, initrd = parts
    out = tmp_path / "gpt.img"
    built = build_image(out, kernel=kernel, initrd=initrd, menu=MENU, table="gpt")
    table = _sfdisk(out)
    assert table["label"] == "gpt"
    partitions = table["partitions"]
    assert isinstance(partitions, list)
    assert [p["type"] for p in partitions] == [
        "21686148-6449-6E6F-744E-656564454649",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    ]
    assert partitions[0]["start"] == built.core_sector == 2048
    assert partitions[1]["start"] == built.boot_start
    assert built.prefix == "(hd0,gpt2)/boot/grub"
    _check_boot_code(built)
    assert "grub.cfg" in _debugfs(out, built.boot_offset, "ls /boot/grub")


def test_rendered_config_passes_grub_script_check(tmp_path: Path) -> None:
    tool = support.require_tool("grub-script-check", package="grub-common")
    for export in (True, False):
        cfg = render_grub_cfg(
            MENU, kernel_path="/boot/vmlinuz", initrd_path="/boot/initrd.img",
            export_id_option=export, default="adv>test-b",
        )  # fmt: skip
        path = tmp_path / "grub.cfg"
        path.write_text(cfg)
        subprocess.run([tool, str(path)], check=True)
        assert ("export menuentry_id_option" in cfg) == export
        assert 'set default="adv>test-b"' in cfg
        assert "bootup.entry=C" in cfg


def test_title_with_quote_is_escaped(tmp_path: Path) -> None:
    tool = support.require_tool("grub-script-check", package="grub-common")
    cfg = render_grub_cfg(
        [MenuEntry("Bob's kernel", None, "X")], kernel_path="/k", initrd_path="/i"
    )
    (tmp_path / "grub.cfg").write_text(cfg)
    subprocess.run([tool, str(tmp_path / "grub.cfg")], check=True)
    assert "menuentry 'Bob'\\''s kernel' --class gnu-linux {" in cfg


def test_custom_grub_cfg_placeholders(parts: tuple[Path, Path], tmp_path: Path) -> None:
    kernel, initrd = parts
    cfg = "set timeout=0\nmenuentry 'only' {\n  linux @KERNEL@ quiet\n  initrd @INITRD@\n}\n"
    built = build_image(tmp_path / "c.img", kernel=kernel, initrd=initrd, grub_cfg=cfg)
    assert f"linux {built.kernel_path} quiet" in built.grub_cfg
    assert "@" not in built.grub_cfg


def test_gap_too_small_for_core(parts: tuple[Path, Path], tmp_path: Path) -> None:
    kernel, initrd = parts
    out = tmp_path / "small-gap.img"
    with pytest.raises(BootFormatError, match=r"embed|too small"):
        build_image(out, kernel=kernel, initrd=initrd, menu=MENU, first_sector=20)
    assert not out.exists()  # no half-built image under the final name
    assert not list(tmp_path.iterdir())  # and no leftovers


def test_image_too_small_for_files(parts: tuple[Path, Path], tmp_path: Path) -> None:
    kernel, initrd = parts
    with pytest.raises(ImageLayoutError, match="too small") as info:
        build_image(tmp_path / "x.img", kernel=kernel, initrd=initrd, menu=MENU, size=8 << 20)
    assert info.value.field == "size"


def test_refusals(parts: tuple[Path, Path], tmp_path: Path) -> None:
    kernel, initrd = parts
    with pytest.raises(NotSupportedError):
        build_image(tmp_path / "x", kernel=kernel, initrd=initrd, menu=MENU, table="gpt",
                    first_sector=63)  # fmt: skip
    with pytest.raises(NotSupportedError):
        build_image(tmp_path / "x", kernel=kernel, initrd=initrd, menu=MENU, table="apm")  # type: ignore[arg-type]
    with pytest.raises(ImageLayoutError) as info:
        build_image(tmp_path / "x", kernel=kernel, initrd=initrd, size=1000, menu=MENU)
    assert info.value.field == "size"
    with pytest.raises(ImageLayoutError, match="nothing to boot"):
        build_image(tmp_path / "x", kernel=kernel, initrd=initrd)
    with pytest.raises(BootFormatError, match="boot_flag"):
        build_image(tmp_path / "x", kernel=initrd, initrd=initrd, menu=MENU)


def test_cli_build_json(parts: tuple[Path, Path], tmp_path: Path) -> None:
    kernel, initrd = parts
    out = tmp_path / "cli.img"
    result = subprocess.run(
        [sys.executable, "-m", "bootup", "boot", "image", "build", str(out),
         "--kernel", str(kernel), "--initrd", str(initrd), "--entry", "A=Linux A",
         "--entry", "adv>B=Linux B", "--saved-entry", "adv>B", "--first-sector", "63",
         "--size", "40M", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["boot_partition"]["start"] == 63
    assert data["size"] == 40 << 20
    assert data["grubenv"] == {"saved_entry": "adv>B"}
    cfg = _debugfs_cat(out, 63 * 512, "/boot/grub/grub.cfg").decode()
    assert "submenu 'adv' $menuentry_id_option 'adv' {" in cfg
    assert "bootup.entry=B" in cfg


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"\0" * 4096)
    result = subprocess.run(
        [sys.executable, "-m", "bootup", "boot", "kernel", str(bogus)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("bootup: ")
    assert "boot_flag at offset 0x1fe" in result.stderr
