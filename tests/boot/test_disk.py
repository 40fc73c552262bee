"""inspect_disk and the disk-side CLI verbs on images built with the real tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import support
from bootup.boot import disk, gpt, install, mbr
from bootup.cli import main

BOOT_IMG = Path("/usr/lib/grub/i386-pc/boot.img")


def _core(tmp_path: Path, prefix: str, *modules: str) -> bytes:
    tool = support.require_tool("grub-mkimage", package="grub-common")
    if not BOOT_IMG.exists():
        if support.IN_CI:
            pytest.fail(f"{BOOT_IMG} is missing (Debian package grub-pc-bin)")
        pytest.skip(f"{BOOT_IMG} is missing (Debian package grub-pc-bin)")
    out = tmp_path / "core.img"
    subprocess.run([tool, "-O", "i386-pc", "-p", prefix, "-o", str(out), *modules], check=True)
    return out.read_bytes()


def _ext4(image: Path, stage: Path, start: int, sectors: int) -> None:
    mke2fs = support.require_tool("mke2fs", package="e2fsprogs")
    subprocess.run(
        [
            mke2fs,
            "-q",
            "-F",
            "-t",
            "ext4",
            "-E",
            f"offset={start * 512}",
            "-d",
            str(stage),
            str(image),
            f"{sectors // 2}k",
        ],
        check=True,
    )


@pytest.fixture
def stage(tmp_path: Path) -> Path:
    root = tmp_path / "stage"
    (root / "boot/grub").mkdir(parents=True)
    (root / "boot/grub/grub.cfg").write_text("set timeout=0\n")
    return root


@pytest.fixture
def dos_image(tmp_path: Path, stage: Path) -> Path:
    image = tmp_path / "disk.img"
    mbr.write_mbr(
        image,
        [mbr.MBRPartition(1, 2048, 63488, 0x83, bootable=True)],
        disk_signature=0x1234ABCD,
        size=32 << 20,
    )
    _ext4(image, stage, 2048, 63488)
    install.install_grub(
        image, _core(tmp_path, "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2")
    )
    return image


def test_msdos_report(dos_image: Path) -> None:
    report = disk.inspect_disk(dos_image)
    assert report.label == "dos"
    assert report.disk_id == "0x1234abcd"
    assert report.partitions == (
        disk.PartitionInfo(1, 2048, 63488, "83", "Linux", True, filesystem="ext4"),
    )
    assert report.stage1 == disk.Stage1Report(True, 1, 0xFF, True)
    core = report.core
    assert core is not None
    assert core.lba == 1
    assert core.prefix == "(hd0,msdos1)/boot/grub"
    assert core.modules == ("biosdisk", "part_msdos", "fshelp", "ext2")
    assert core.embedding_sectors == 2047
    assert core.blocklists == ((2, core.sectors - 1, 0x820),)
    assert report.warnings == ()
    assert report.prefix_partition() == report.partitions[0]
    assert json.loads(json.dumps(report.to_json()))["partitions"][0]["offset"] == 2048 * 512


def test_warnings_for_silent_problems(tmp_path: Path, stage: Path) -> None:
    image = tmp_path / "disk.img"
    mbr.write_mbr(image, [mbr.MBRPartition(1, 2048, 63488, 0x83)], disk_signature=1, size=32 << 20)
    _ext4(image, stage, 2048, 63488)
    # a prefix naming a partition that does not exist, and no ext2 module
    install.install_grub(image, _core(tmp_path, "(hd0,msdos3)/boot/grub", "biosdisk"))
    report = disk.inspect_disk(image)
    assert any("partition 3, which does not exist" in w for w in report.warnings)
    install.install_grub(image, _core(tmp_path, "(hd0,msdos1)/boot/grub", "biosdisk"))
    warnings = disk.inspect_disk(image).warnings
    assert any("no part_msdos module" in w for w in warnings)
    assert any("no ext2 module for the ext4 file system of partition 1" in w for w in warnings)


def test_core_overlapping_a_partition(tmp_path: Path, dos_image: Path) -> None:
    data = bytearray(dos_image.read_bytes())
    # move the partition's start to LBA 20: core.img (LBA 1-53) now overlaps it
    data[0x1BE + 8 : 0x1BE + 12] = (20).to_bytes(4, "little")
    dos_image.write_bytes(bytes(data))
    report = disk.inspect_disk(dos_image)
    assert any("overlaps partition 1" in w for w in report.warnings)
    assert any("MBR gap (sectors 1-19) holds 19" in w for w in report.warnings)


def test_gpt_report(tmp_path: Path, stage: Path) -> None:
    image = tmp_path / "gpt.img"
    gpt.write_gpt(
        image,
        [
            gpt.GPTPartition.sized(1, 2048, 2048, gpt.BIOS_BOOT, name="bios"),
            gpt.GPTPartition.sized(2, 4096, 40960, gpt.LINUX_FILESYSTEM, name="boot"),
        ],
        size=32 << 20,
    )
    _ext4(image, stage, 4096, 40960)
    install.install_grub(
        image, _core(tmp_path, "(hd0,gpt2)/boot/grub", "biosdisk", "part_gpt", "ext2")
    )
    report = disk.inspect_disk(image)
    assert report.label == "gpt"
    assert [p.filesystem for p in report.partitions] == [None, "ext4"]
    assert report.core is not None
    assert report.core.lba == 2048
    assert report.core.embedding_area == "BIOS boot partition 1"
    assert report.prefix_partition() == report.partitions[1]
    assert report.warnings == ()
    with image.open("r+b") as handle:  # damage the backup header: reported, not fatal
        handle.seek((32 << 20) - 512 + 60)
        handle.write(b"\xff")
    assert any("backup GPT is damaged" in w for w in disk.inspect_disk(image).warnings)


def test_plain_disk_without_grub(tmp_path: Path) -> None:
    image = tmp_path / "blank.img"
    mbr.write_mbr(image, [mbr.MBRPartition(1, 2048, 100)], disk_signature=7, size=4 << 20)
    report = disk.inspect_disk(image)
    assert report.core is None
    assert not report.stage1.is_grub
    assert any("no GRUB boot.img" in w for w in report.warnings)
    empty = tmp_path / "zero.img"
    empty.write_bytes(bytes(4096))
    report = disk.inspect_disk(empty)
    assert report.label is None
    assert any("no usable MBR partition table" in w for w in report.warnings)


def test_parse_prefix() -> None:
    assert disk.parse_prefix("(hd0,msdos1)/boot/grub") == disk.GrubPath(
        "hd0", ("msdos1",), "/boot/grub"
    )
    nested = disk.parse_prefix("(hd1,msdos2,bsd1)/grub")
    assert nested.partition_number == 1
    assert nested.partition_map == "msdos"
    assert disk.parse_prefix("/boot/grub") == disk.GrubPath(None, (), "/boot/grub")
    assert disk.parse_prefix("(hd0,2)").partition_number == 2
    assert disk.parse_prefix("(hd0,2)").path == "/"


def test_cli_verbs(tmp_path: Path, dos_image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "disk", str(dos_image)]) == 0
    out = capsys.readouterr().out
    assert "prefix:  (hd0,msdos1)/boot/grub" in out
    assert "stage 2 is read from partition 1 (ext4)" in out
    assert main(["boot", "disk", "--json", str(dos_image)]) == 0
    assert json.loads(capsys.readouterr().out)["core"]["modules"][-1] == "ext2"
    assert main(["boot", "partitions", "--json", str(dos_image)]) == 0
    assert json.loads(capsys.readouterr().out)["partitions"][0]["start"] == 2048
    assert main(["boot", "cat", str(dos_image), "/boot/grub/grub.cfg"]) == 0
    assert capsys.readouterr().out == "set timeout=0\n"
    assert main(["boot", "cat", str(dos_image), "/nope"]) == 1
    assert "no 'nope'" in capsys.readouterr().err


def test_cli_install_grub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    core = tmp_path / "core.img"
    core.write_bytes(_core(tmp_path, "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2"))
    image = tmp_path / "d.img"
    mbr.write_mbr(image, [mbr.MBRPartition(1, 63, 1000)], disk_signature=9, size=4 << 20)
    assert main(["boot", "install-grub", str(image), "--core", str(core), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kernel_sector"] == 1
    assert result["embedding_sectors"] == 62
    big = tmp_path / "big.img"
    big.write_bytes(core.read_bytes() + bytes(40 * 512))
    assert (
        main(["boot", "install-grub", str(image), "--core", str(big), "--boot-img", str(BOOT_IMG)])
        == 1
    )
    assert "embedding area too small" in capsys.readouterr().err


def test_huge_sparse_image_is_written_and_read_by_sectors(tmp_path: Path) -> None:
    """A 1 TiB GPT image: the writers keep it sparse, inspection reads a few sectors only."""
    image = tmp_path / "huge.img"
    size = 1 << 40
    table = gpt.write_gpt(
        image,
        [
            gpt.GPTPartition.sized(1, 2048, 2048, gpt.BIOS_BOOT),
            gpt.GPTPartition.sized(2, 4096, size // 512 - 4096 - 34, gpt.LINUX_FILESYSTEM),
        ],
        size=size,
    )
    assert table.header.alternate_lba == size // 512 - 1
    install.install_grub(
        image, _core(tmp_path, "(hd0,gpt2)/boot/grub", "biosdisk", "part_gpt", "ext2")
    )
    assert image.stat().st_size == size
    assert image.stat().st_blocks * 512 < 16 << 20  # holes stayed holes
    report = disk.inspect_disk(image)
    assert report.core is not None
    assert report.core.lba == 2048
    assert report.partitions[1].size == size // 512 - 4096 - 34
    assert any("holds no file system" in w for w in report.warnings)
