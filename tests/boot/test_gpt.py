"""The GPT reader and writer on their own: round trips, both copies, CRC damage, layout checks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bootup.boot import gpt

SIZE = 8 << 20
TOTAL = SIZE // 512
DISK = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")


def _image(tmp_path: Path) -> tuple[Path, gpt.GPT]:
    image = tmp_path / "g.img"
    parts = [
        gpt.GPTPartition.sized(1, 2048, 1024, gpt.BIOS_BOOT, name="BIOS boot"),
        gpt.GPTPartition.sized(2, 4096, 8192, gpt.LINUX_FILESYSTEM, name="root"),
    ]
    return image, gpt.write_gpt(image, parts, disk_guid=DISK, size=SIZE)


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0x40]))


def test_round_trip_and_layout(tmp_path: Path) -> None:
    image, table = _image(tmp_path)
    assert table.disk_guid == DISK
    assert table.header.my_lba == 1
    assert table.header.alternate_lba == TOTAL - 1
    assert table.first_usable_lba == 2048
    assert table.last_usable_lba == TOTAL - 34
    assert [p.name for p in table.partitions] == ["BIOS boot", "root"]
    assert table.partition(2).size == 8192
    assert table.partition(2).last_lba == 4096 + 8192 - 1
    assert all(p.unique_guid is not None for p in table.partitions)
    assert table.partition(1).type_name == "BIOS boot"
    assert table.protective_mbr
    data = image.read_bytes()
    assert data[0x1C2] == 0xEE
    assert data[512:520] == b"EFI PART"
    assert data[-512:-504] == b"EFI PART"
    assert data[2 * 512 : 34 * 512] == data[(TOTAL - 33) * 512 : (TOTAL - 1) * 512]


def test_small_disk_uses_first_usable_34(tmp_path: Path) -> None:
    table = gpt.write_gpt(tmp_path / "s.img", [], disk_guid=DISK, size=1 << 20)
    assert table.first_usable_lba == 34
    assert table.partitions == ()


@pytest.mark.parametrize(
    ("offset", "field"),
    [(512 + 16, "header_crc32"), (512 + 60, "header_crc32"), (2 * 512 + 5, "entries_crc32")],
)
def test_primary_damage_falls_back_to_backup(tmp_path: Path, offset: int, field: str) -> None:
    image, table = _image(tmp_path)
    _flip(image, offset)
    got = gpt.read_gpt(image)
    assert got.using_backup
    assert got.primary_error is not None
    assert got.primary_error.field == field
    assert got.primary_error.structure == "primary GPT header"
    assert got.partitions == table.partitions
    assert any("primary GPT is damaged" in p for p in got.problems)
    with pytest.raises(gpt.GPTChecksumError, match="primary"):
        gpt.read_gpt(image, strict=True)


def test_backup_damage_is_reported(tmp_path: Path) -> None:
    image, table = _image(tmp_path)
    _flip(image, (TOTAL - 1) * 512 + 70)
    got = gpt.read_gpt(image)
    assert not got.using_backup
    assert got.backup_error is not None
    assert "backup GPT header" in str(got.backup_error)
    assert got.partitions == table.partitions
    with pytest.raises(gpt.GPTChecksumError, match="backup"):
        gpt.read_gpt(image, strict=True)


def test_both_copies_damaged_is_an_error(tmp_path: Path) -> None:
    image, _ = _image(tmp_path)
    _flip(image, 512 + 16)
    _flip(image, (TOTAL - 1) * 512 + 16)
    with pytest.raises(gpt.GPTChecksumError) as info:
        gpt.read_gpt(image)
    assert info.value.offset == 512 + 16
    assert "expected 0x" in str(info.value)


def test_bad_signature_names_field(tmp_path: Path) -> None:
    data = bytearray(64 * 512)
    with pytest.raises(gpt.GPTError) as info:
        gpt.read_gpt(bytes(data))
    assert info.value.field == "signature"
    assert info.value.offset == 512


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([gpt.GPTPartition.sized(1, 100, 10, gpt.BIOS_BOOT)], "usable area"),
        (
            [
                gpt.GPTPartition.sized(1, 2048, 100, gpt.BIOS_BOOT),
                gpt.GPTPartition.sized(2, 2100, 100, gpt.BIOS_BOOT),
            ],
            "overlap",
        ),
        ([gpt.GPTPartition.sized(129, 2048, 10, gpt.BIOS_BOOT)], "slots"),
        ([gpt.GPTPartition.sized(1, 2048, 10, uuid.UUID(int=0))], "free slot"),
        ([gpt.GPTPartition.sized(1, 2048, 10, gpt.BIOS_BOOT, name="x" * 37)], "longer"),
    ],
)
def test_layout_errors(tmp_path: Path, parts: list[gpt.GPTPartition], message: str) -> None:
    with pytest.raises(gpt.GPTLayoutError, match=message):
        gpt.write_gpt(tmp_path / "x.img", parts, size=SIZE)


def test_attributes_text() -> None:
    assert gpt.attributes_text(0) == ""
    assert gpt.attributes_text(0b111) == "RequiredPartition NoBlockIOProtocol LegacyBIOSBootable"
    assert gpt.attributes_text(1 << 48 | 1 << 63) == "GUID:48,63"
