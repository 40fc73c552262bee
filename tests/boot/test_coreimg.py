"""core.img decoding and blocklist rewriting on their own, including what must fail."""

from __future__ import annotations

import struct
import subprocess

import pytest

import support
from bootup.boot import coreimg


@pytest.fixture(scope="module")
def core_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tool = support.require_tool("grub-mkimage", package="grub-common")
    out = tmp_path_factory.mktemp("core") / "core.img"
    result = subprocess.run(
        [
            tool,
            "-O",
            "i386-pc",
            "-p",
            "(hd0,msdos1)/boot/grub",
            "-o",
            str(out),
            "biosdisk",
            "part_msdos",
            "ext2",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"grub-mkimage cannot build i386-pc images here: {result.stderr.strip()}")
    return out.read_bytes()


def test_decode_from_bytes_and_padded_disk_read(core_bytes: bytes) -> None:
    core = coreimg.decode_core_img(core_bytes)
    assert core.prefix == "(hd0,msdos1)/boot/grub"
    padded = coreimg.decode_core_img(core_bytes + bytes(512 * 3 - len(core_bytes) % 512))
    assert padded.module_names == core.module_names
    assert padded.payload_offset == core.payload_offset


def test_write_blocklists_merges_runs(core_bytes: bytes) -> None:
    core = bytearray(core_bytes)
    first = coreimg.write_blocklists(core, [100, 101, 102, 200, 201, 300])
    assert first == 100
    assert coreimg.read_blocklists(bytes(core)) == [
        coreimg.Blocklist(101, 2, 0x820),
        coreimg.Blocklist(200, 2, 0x860),
        coreimg.Blocklist(300, 1, 0x8A0),
    ]
    # rewriting clears the old lists first
    coreimg.write_blocklists(core, [1, 2, 3])
    assert coreimg.read_blocklists(bytes(core)) == [coreimg.Blocklist(2, 2, 0x820)]
    assert core[0x1F4 - 12 : 0x1F4] == bytes(12)


def test_single_sector_core_gets_only_a_terminator(core_bytes: bytes) -> None:
    core = bytearray(core_bytes)
    assert coreimg.write_blocklists(core, [7]) == 7
    assert coreimg.read_blocklists(bytes(core)) == []


def test_missing_terminator() -> None:
    sector = bytes(range(256)) * 2
    data = bytearray(sector)
    for offset in range(0x1F4, 0, -12):
        struct.pack_into("<QHH", data, offset, 1, 1, 1)
    with pytest.raises(coreimg.CoreImageError, match="no terminator"):
        coreimg.read_blocklists(bytes(data))


@pytest.mark.parametrize(
    ("offset", "value", "field"),
    [
        (512 + 0x08, 0xFFFFFFF0, "compressed_size"),
        (512 + 0x0C, 0, "uncompressed_size"),
        (512 + 0x0C, 1 << 30, "uncompressed_size"),
        (512 + 0x0C, 12345, "LZMA payload"),
    ],
)
def test_corrupt_header_fields(core_bytes: bytes, offset: int, value: int, field: str) -> None:
    data = bytearray(core_bytes)
    struct.pack_into("<I", data, offset, value)
    with pytest.raises(coreimg.CoreImageError) as info:
        coreimg.decode_core_img(bytes(data), name="core.img")
    assert info.value.field == field
    assert "core.img" in str(info.value)


def test_not_a_core_img() -> None:
    with pytest.raises(coreimg.CoreImageError, match="diskboot"):
        coreimg.decode_core_img(bytes(4096))
    with pytest.raises(coreimg.CoreImageError, match="size"):
        coreimg.decode_core_img(b"loading\0")


def test_corrupt_payload_is_reported(core_bytes: bytes) -> None:
    data = bytearray(core_bytes)
    for i in range(len(data) - 2000, len(data) - 1000):
        data[i] ^= 0x5A
    with pytest.raises(coreimg.CoreImageError):
        coreimg.decode_core_img(bytes(data))
