"""Hypothesis fuzzing of every disk-side parser: only BootFormatError, nothing else, no hangs.

Two kinds of input: random bytes (which mostly fail at the first magic number), and real
images built by the real tools with random bytes flipped or cut off (which get deep into
the EBR chain, the GPT entries, the core.img payload and the ext4 trees). A hang would be
caught by pytest-timeout; every input is small, so a parser that loops or allocates without
bound shows up as a timeout or a MemoryError, both failures.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from bootup.boot import bootimg, coreimg, disk, ext4, gpt, install, mbr
from bootup.errors import BootFormatError

FUZZ = settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    deadline=None,
)


class Seeds(dict[str, bytes]):
    """The seed images; a short repr keeps Hypothesis' failure reports readable."""

    def __repr__(self) -> str:
        return f"Seeds({sorted(self)})"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    """Small real images: msdos+logical with GRUB, GPT with GRUB, an ext4 file system."""
    tmp = tmp_path_factory.mktemp("seeds")
    grub_mkimage = support.require_tool("grub-mkimage", package="grub-common")
    mke2fs = support.require_tool("mke2fs", package="e2fsprogs")
    core_path = tmp / "core.img"
    subprocess.run(
        [
            grub_mkimage,
            "-O",
            "i386-pc",
            "-p",
            "(hd0,msdos5)/boot/grub",
            "-o",
            str(core_path),
            "biosdisk",
            "part_msdos",
            "ext2",
        ],
        check=True,
    )
    core = core_path.read_bytes()
    dos = tmp / "dos.img"
    mbr.write_mbr(
        dos,
        [
            mbr.MBRPartition(1, 100, 50, 0x83),
            mbr.MBRPartition(2, 200, 300, 0x05),
            mbr.MBRPartition(5, 210, 50, 0x83),
            mbr.MBRPartition(6, 300, 50, 0x82),
        ],
        disk_signature=0xFEEDFACE,
        size=256 * 1024,
    )
    install.install_grub(dos, core)
    table = tmp / "gpt.img"
    gpt.write_gpt(
        table,
        [
            gpt.GPTPartition.sized(1, 34, 80, gpt.BIOS_BOOT),
            gpt.GPTPartition.sized(2, 120, 200, gpt.LINUX_FILESYSTEM),
        ],
        size=192 * 1024,
    )
    install.install_grub(table, core)
    stage = tmp / "stage"
    (stage / "boot/grub").mkdir(parents=True)
    (stage / "boot/grub/grubenv").write_bytes(b"# GRUB Environment Block\n" + b"#" * 999)
    (stage / "boot/link").symlink_to("grub/grubenv")
    (stage / "boot/vmlinuz").write_bytes(bytes(range(256)) * 80)
    fs = tmp / "fs.img"
    subprocess.run(["truncate", "-s", "256K", str(fs)], check=True)
    subprocess.run(
        [mke2fs, "-q", "-F", "-t", "ext4", "-b", "1024", "-N", "32", "-d", str(stage), str(fs)],
        check=True,
    )
    inline = tmp / "inline.img"
    (stage / "d").mkdir()
    (stage / "d/x").write_bytes(b"x" * 90)
    subprocess.run(["truncate", "-s", "256K", str(inline)], check=True)
    subprocess.run(
        [
            mke2fs,
            "-q",
            "-F",
            "-t",
            "ext4",
            "-O",
            "inline_data",
            "-I",
            "256",
            "-b",
            "1024",
            "-N",
            "32",
            "-d",
            str(stage),
            str(inline),
        ],
        check=True,
    )
    return Seeds(
        dos=dos.read_bytes(),
        gpt=table.read_bytes(),
        core=core,
        fs=fs.read_bytes(),
        inline=inline.read_bytes(),
    )


def _only_format_errors(function: Callable[[], object]) -> None:
    with contextlib.suppress(BootFormatError):
        function()


def _mutate(base: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(base)
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        del data[cut % (len(data) + 1) :]
    return bytes(data)


FLIPS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12)
CUT = st.none() | st.integers(0, 1 << 20)


BOOT_IMG = Path("/usr/lib/grub/i386-pc/boot.img")


def _everything_on_image(data: bytes, core: bytes = b"") -> None:
    if core and BOOT_IMG.exists():
        boot = BOOT_IMG.read_bytes()
        _only_format_errors(lambda: install.plan_install(data, core, boot))
        _only_format_errors(lambda: install.plan_install(data, core, boot, reed_solomon=True))
    _only_format_errors(lambda: mbr.read_mbr(data))
    _only_format_errors(lambda: gpt.read_gpt(data))
    _only_format_errors(lambda: gpt.read_gpt(data, strict=True))
    _only_format_errors(lambda: disk.inspect_disk(data))


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _everything_on_image(data)
    _only_format_errors(lambda: mbr.parse_mbr_sector(data))
    _only_format_errors(lambda: bootimg.decode_boot_sector(data))
    _only_format_errors(lambda: bootimg.read_boot_img(data))
    _only_format_errors(lambda: coreimg.read_blocklists(data))
    _only_format_errors(lambda: coreimg.decode_core_img(data))
    _only_format_errors(lambda: ext4.Ext4(data))


@FUZZ
@given(st.sampled_from(["dos", "gpt"]), FLIPS, CUT)
def test_mutated_partition_tables(
    seeds: Seeds, which: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    # aim most flips at the interesting first sectors and the GPT backup
    base = seeds[which]
    focused = [
        (p % 4096 if i % 2 else len(base) - 1 - p % 8192, v) for i, (p, v) in enumerate(flips)
    ]
    _everything_on_image(_mutate(base, focused, cut), seeds["core"])


@FUZZ
@given(FLIPS, CUT)
def test_mutated_core_img(seeds: Seeds, flips: list[tuple[int, int]], cut: int | None) -> None:
    core = seeds["core"]
    focused = [(p % 1100, v) if i % 3 else (p, v) for i, (p, v) in enumerate(flips)]
    data = _mutate(core, focused, cut)
    _only_format_errors(lambda: coreimg.decode_core_img(data))
    _only_format_errors(lambda: coreimg.write_blocklists(bytearray(data), [1, 2, 3]))


@FUZZ
@given(st.sampled_from(["fs", "inline"]), FLIPS, CUT)
def test_mutated_ext4(
    seeds: Seeds, which: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = _mutate(seeds[which], flips, cut)

    def walk() -> None:
        with ext4.Ext4(data) as fs:
            for path in ("/boot/grub/grubenv", "/boot/link", "/boot/vmlinuz", "/d/x"):
                _only_format_errors(lambda p=path: fs.read_path(p))  # type: ignore[misc]
            _only_format_errors(lambda: fs.listdir("/boot"))
            _only_format_errors(lambda: fs.listdir("/d"))
            _only_format_errors(lambda: fs.readlink("/boot/link"))

    _only_format_errors(walk)


def test_seeds_are_valid(seeds: Seeds) -> None:
    """The fuzz seeds must parse cleanly, or the mutation tests fuzz nothing interesting."""
    assert [p.number for p in mbr.read_mbr(seeds["dos"]).partitions] == [1, 2, 5, 6]
    assert gpt.read_gpt(seeds["gpt"], strict=True).partition(1).type_guid == gpt.BIOS_BOOT
    assert coreimg.decode_core_img(seeds["core"]).prefix == "(hd0,msdos5)/boot/grub"
    with ext4.Ext4(seeds["fs"]) as fs:
        assert fs.read_path("/boot/link").startswith(b"# GRUB Environment Block")
    with ext4.Ext4(seeds["inline"]) as fs:
        assert fs.lookup("/d/x").is_inline
        assert fs.read_path("/d/x") == b"x" * 90
    report = disk.inspect_disk(seeds["dos"])
    assert report.core is not None
    assert report.core.modules == ("biosdisk", "part_msdos", "fshelp", "ext2")
