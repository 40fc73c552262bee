"""install_grub against the real ``grub-bios-setup --no-rs-codes``, byte for byte.

grub-bios-setup writes to a disk image through a device map (``(hd0) disk.img``), but it must
also guess the "root device" of its ``-d`` directory, and that has to be a real block device
GRUB can open: the directory holding boot.img and core.img is therefore a small ext2 image
loop-mounted for the duration of one run. That needs root and a free loop device; elsewhere
these tests skip (the pure-Python installer tests in tests/boot/test_install.py still run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import support
from bootup.boot import disk, gpt, install, mbr

pytestmark = [pytest.mark.conformance, pytest.mark.slow]

GRUB_DIR = Path("/usr/lib/grub/i386-pc")
SETUP = GRUB_DIR / "grub-bios-setup"


def _require() -> None:
    support.require_tool("grub-mkimage", package="grub-common")
    support.require_tool("mke2fs", package="e2fsprogs")
    support.require_tool("losetup", package="mount")
    if not SETUP.exists():
        message = f"{SETUP} is not installed (Debian package grub-pc-bin)"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() != 0:
        pytest.skip("grub-bios-setup needs a loop-mounted -d directory, which needs root")


@contextlib.contextmanager
def _mounted_dir(tmp_path: Path, files: dict[str, bytes]) -> Iterator[Path]:
    stage = tmp_path / "stage"
    stage.mkdir()
    for name, data in files.items():
        (stage / name).write_bytes(data)
    scratch = tmp_path / "scratch.img"
    subprocess.run(["truncate", "-s", "4M", str(scratch)], check=True)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-d", str(stage), str(scratch)], check=True)
    attach = subprocess.run(
        ["losetup", "-f", "--show", str(scratch)], capture_output=True, text=True, check=False
    )
    if attach.returncode != 0:
        pytest.skip(f"no loop device: {attach.stderr.strip()}")
    loop = attach.stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", loop, str(mnt)], capture_output=True, text=True, check=False
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")
        try:
            yield mnt
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)


def _real_setup(tmp_path: Path, image: Path, core: bytes, *, rs_codes: bool = False) -> None:
    devmap = tmp_path / "device.map"
    devmap.write_text(f"(hd0) {image}\n")
    files = {"boot.img": (GRUB_DIR / "boot.img").read_bytes(), "core.img": core}
    with _mounted_dir(tmp_path, files) as directory:
        subprocess.run(
            [
                str(SETUP),
                *([] if rs_codes else ["--no-rs-codes"]),
                "-d",
                str(directory),
                "-m",
                str(devmap),
                "(hd0)",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def _core(tmp_path: Path, prefix: str, *extra: str) -> bytes:
    out = tmp_path / "core.img"
    subprocess.run(
        [
            "grub-mkimage",
            "-O",
            "i386-pc",
            "-p",
            prefix,
            "-o",
            str(out),
            "biosdisk",
            "part_msdos",
            "part_gpt",
            "ext2",
            *extra,
        ],
        check=True,
    )
    return out.read_bytes()


def _compare(tmp_path: Path, image: Path, core: bytes, *, rs_codes: bool = False) -> None:
    ours = tmp_path / "ours.img"
    with image.open("r+b") as handle:  # a BPB-shaped pattern both must keep
        handle.write(b"\xeb\x58\x90" + bytes(range(0x40, 0x40 + 0x57)))
    shutil.copyfile(image, ours)
    _real_setup(tmp_path, image, core, rs_codes=rs_codes)
    install.install_grub(ours, core, (GRUB_DIR / "boot.img").read_bytes(), reed_solomon=rs_codes)
    real, mine = image.read_bytes(), ours.read_bytes()
    assert len(real) == len(mine)
    differing = [i for i in range(0, len(real), 512) if real[i : i + 512] != mine[i : i + 512]]
    assert differing == [], f"sectors differ: {[i // 512 for i in differing[:10]]}"


def test_msdos_identical(tmp_path: Path) -> None:
    _require()
    image = tmp_path / "disk.img"
    mbr.write_mbr(
        image,
        [mbr.MBRPartition(1, 2048, 30000, 0x83, bootable=True)],
        disk_signature=0x5EED1234,
        size=32 << 20,
    )
    _compare(tmp_path, image, _core(tmp_path, "(hd0,msdos1)/boot/grub"))


def test_msdos_article_gap_with_logical_partitions_identical(tmp_path: Path) -> None:
    _require()
    image = tmp_path / "disk.img"
    mbr.write_mbr(
        image,
        [
            mbr.MBRPartition(1, 63, 2000, 0x83),
            mbr.MBRPartition(2, 4096, 40000, 0x05),
            mbr.MBRPartition(5, 6144, 1000, 0x83),
            mbr.MBRPartition(6, 8192, 1000, 0x82),
        ],
        disk_signature=0x0BADCAFE,
        size=32 << 20,
    )
    _compare(tmp_path, image, _core(tmp_path, "(hd0,msdos5)/grub"))


def test_gpt_bios_boot_identical(tmp_path: Path) -> None:
    _require()
    image = tmp_path / "disk.img"
    gpt.write_gpt(
        image,
        [
            gpt.GPTPartition.sized(1, 2048, 2048, gpt.BIOS_BOOT, name="bios"),
            gpt.GPTPartition.sized(2, 4096, 20000, gpt.LINUX_FILESYSTEM, name="root"),
        ],
        size=32 << 20,
    )
    _compare(tmp_path, image, _core(tmp_path, "(hd0,gpt2)/boot/grub"))


def test_inspect_reads_a_default_install_with_reed_solomon_codes(tmp_path: Path) -> None:
    """grub-install's default adds Reed-Solomon parity; inspect_disk must still decode it."""
    _require()
    image = tmp_path / "disk.img"
    mbr.write_mbr(
        image,
        [mbr.MBRPartition(1, 2048, 30000, 0x83, bootable=True)],
        disk_signature=0x5EED1234,
        size=32 << 20,
    )
    core = _core(tmp_path, "(hd0,msdos1)/boot/grub")
    _real_setup(tmp_path, image, core, rs_codes=True)
    report = disk.inspect_disk(image)
    assert report.core is not None
    sectors = -(-len(core) // 512)
    assert report.core.blocklists == ((2, 2 * sectors - 1, 0x820),)
    assert report.core.rs_redundancy == 2 * sectors * 512 - len(core)
    assert report.core.prefix == "(hd0,msdos1)/boot/grub"
    assert report.core.modules == ("biosdisk", "part_msdos", "part_gpt", "fshelp", "ext2")
    assert report.warnings == ("partition 1 (the prefix's) holds no file system bootup recognises",)


@pytest.mark.parametrize("label", ["msdos", "gpt"])
def test_default_reed_solomon_install_identical(tmp_path: Path, label: str) -> None:
    """Without --no-rs-codes (grub-install's default) the parity sectors match too."""
    _require()
    image = tmp_path / "disk.img"
    if label == "msdos":
        mbr.write_mbr(
            image,
            [mbr.MBRPartition(1, 2048, 30000, 0x83, bootable=True)],
            disk_signature=0x0DDBA11,
            size=32 << 20,
        )
    else:
        gpt.write_gpt(
            image,
            [
                gpt.GPTPartition.sized(1, 2048, 2048, gpt.BIOS_BOOT),
                gpt.GPTPartition.sized(2, 4096, 20000, gpt.LINUX_FILESYSTEM),
            ],
            size=32 << 20,
        )
    _compare(tmp_path, image, _core(tmp_path, "(hd0,1)/boot/grub"), rs_codes=True)


def test_reed_solomon_in_a_small_gap_identical(tmp_path: Path) -> None:
    """A 62-sector gap: parity gets only what is left after core.img (not 2x)."""
    _require()
    image = tmp_path / "disk.img"
    mbr.write_mbr(image, [mbr.MBRPartition(1, 63, 30000, 0x83)], disk_signature=0x63, size=32 << 20)
    _compare(tmp_path, image, _core(tmp_path, "(hd0,msdos1)/boot/grub"), rs_codes=True)


def test_reed_solomon_split_into_blocks_identical(tmp_path: Path) -> None:
    """A big core.img: data + parity exceed 200 sectors, so GRUB encodes in blocks."""
    _require()
    image = tmp_path / "disk.img"
    mbr.write_mbr(
        image, [mbr.MBRPartition(1, 2048, 30000, 0x83)], disk_signature=0xB16, size=32 << 20
    )
    core = _core(tmp_path, "(hd0,msdos1)/boot/grub", "normal", "linux", "echo", "search")
    assert len(core) > 100 * 512
    _compare(tmp_path, image, core, rs_codes=True)
