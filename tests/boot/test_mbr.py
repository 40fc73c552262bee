"""The MBR/EBR parser and writer on their own: round trips, located errors, layout checks."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from bootup.boot import mbr
from bootup.boot._struct import TruncatedError
from bootup.errors import BootFormatError, NotSupportedError


def _write(path: Path, parts: list[mbr.MBRPartition], **kwargs: object) -> mbr.MBR:
    return mbr.write_mbr(path, parts, disk_signature=0x11223344, size=16 << 20, **kwargs)  # type: ignore[arg-type]


def test_round_trip_primary_and_logical(tmp_path: Path) -> None:
    image = tmp_path / "d.img"
    parts = [
        mbr.MBRPartition(1, 2048, 4096, 0x83, bootable=True),
        mbr.MBRPartition(2, 8192, 20000, 0x05),
        mbr.MBRPartition(5, 8300, 1000, 0x83, ebr_lba=8192),
        mbr.MBRPartition(6, 10000, 500, 0x82, ebr_lba=9999),
        mbr.MBRPartition(4, 30000, 100, 0x0C),
    ]
    table = _write(image, parts)
    assert table.disk_signature == 0x11223344
    assert [p.number for p in table.partitions] == [1, 2, 4, 5, 6]
    assert {p.number: p for p in table.partitions} == {p.number: p for p in parts}
    assert table.partition(6).end == 10499
    assert not table.is_protective
    assert table.raw[0x1FE:] == b"\x55\xaa"
    # the EBR links are relative to the extended start, the logical starts to their EBR
    data = image.read_bytes()
    first_ebr = data[8192 * 512 : 8193 * 512]
    assert struct.unpack_from("<II", first_ebr, 0x1BE + 8) == (108, 1000)
    assert struct.unpack_from("<II", first_ebr, 0x1CE + 8) == (9999 - 8192, 501)


def test_writer_keeps_existing_boot_code(tmp_path: Path) -> None:
    image = tmp_path / "d.img"
    image.write_bytes(b"\xeb\x63\x90" + b"C" * 437 + bytes((16 << 20) - 440))
    _write(image, [mbr.MBRPartition(1, 2048, 100)])
    assert image.read_bytes()[:440] == b"\xeb\x63\x90" + b"C" * 437
    _write(image, [mbr.MBRPartition(1, 2048, 100)], boot_code=b"\xfa" * 10)
    assert image.read_bytes()[:440] == b"\xfa" * 10 + bytes(430)  # given code replaces all


def test_writer_is_atomic_and_keeps_holes(tmp_path: Path) -> None:
    image = tmp_path / "sparse.img"
    _write(image, [mbr.MBRPartition(1, 2048, 100)])
    assert image.stat().st_size == 16 << 20
    assert image.stat().st_blocks * 512 < 1 << 20  # still sparse
    assert [p.name for p in tmp_path.iterdir()] == ["sparse.img"]  # no temporary left behind


def test_missing_signature_names_field_and_offset() -> None:
    sector = bytearray(512)
    with pytest.raises(mbr.MBRError) as info:
        mbr.parse_mbr_sector(bytes(sector), source="x.img")
    assert info.value.field == "signature"
    assert info.value.offset == 0x1FE
    assert "x.img" in str(info.value)
    assert "expected b'U\\xaa'" in str(info.value)


def test_bad_boot_flag_is_rejected_like_grub() -> None:
    sector = bytearray(512)
    sector[0x1FE:] = b"\x55\xaa"
    sector[0x1CE] = 0x81
    with pytest.raises(mbr.MBRError, match="bad boot flag") as info:
        mbr.parse_mbr_sector(bytes(sector))
    assert info.value.offset == 0x1CE
    assert info.value.field == "partition 2 boot flag"
    assert isinstance(info.value, BootFormatError)
    assert isinstance(info.value, ValueError)


def test_ebr_loop_is_detected(tmp_path: Path) -> None:
    image = tmp_path / "loop.img"
    _write(
        image,
        [
            mbr.MBRPartition(1, 100, 1000, 0x05),
            mbr.MBRPartition(5, 200, 10, ebr_lba=100),
            mbr.MBRPartition(6, 300, 10, ebr_lba=299),
        ],
    )
    data = bytearray(image.read_bytes())
    # point the second EBR's link back at the first one (relative 0)
    struct.pack_into("<BBBBBBBBII", data, 299 * 512 + 0x1CE, 0, 0, 0, 0, 5, 0, 0, 0, 0, 10)
    image.write_bytes(bytes(data))
    with pytest.raises(mbr.MBRError, match="visited again"):
        mbr.read_mbr(image)


def test_ebr_past_the_end_is_a_truncation_error(tmp_path: Path) -> None:
    sector = bytearray(512)
    sector[0x1FE:] = b"\x55\xaa"
    struct.pack_into("<BBBBBBBBII", sector, 0x1BE, 0, 0, 0, 0, 5, 0, 0, 0, 5000, 100)
    with pytest.raises(TruncatedError) as info:
        mbr.read_mbr(bytes(sector) + bytes(512))
    assert info.value.structure == "EBR"
    assert info.value.offset == 5000 * 512


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([mbr.MBRPartition(1, 100, 100), mbr.MBRPartition(2, 150, 100)], "overlap"),
        ([mbr.MBRPartition(1, 100, 1 << 30)], "past the last sector"),
        ([mbr.MBRPartition(5, 100, 100)], "need an extended partition"),
        ([mbr.MBRPartition(1, 100, 10), mbr.MBRPartition(1, 200, 10)], "repeat"),
        ([mbr.MBRPartition(1, 100, 1000, 5), mbr.MBRPartition(6, 200, 10)], "numbered 5, 6"),
        ([mbr.MBRPartition(1, 100, 1000, 5), mbr.MBRPartition(5, 100, 10)], "after the first EBR"),
        ([mbr.MBRPartition(1, 100, 10, 0)], "type"),
    ],
)
def test_layout_errors(tmp_path: Path, parts: list[mbr.MBRPartition], message: str) -> None:
    with pytest.raises(mbr.MBRLayoutError, match=message):
        _write(tmp_path / "x.img", parts)
    assert not (tmp_path / "x.img").exists()


def test_chs_encoding() -> None:
    assert mbr.chs(2048) == bytes((0x20, 0x21, 0x00))
    assert mbr.chs(22527) == bytes((0x66, 0x25, 0x01))
    assert mbr.chs(1 << 30) == b"\xfe\xff\xff"


def test_writers_refuse_anything_but_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "not-a-disk"
    os.mkfifo(fifo)
    with pytest.raises(NotSupportedError, match="never writes to real disks"):
        _write(fifo, [mbr.MBRPartition(1, 2048, 100)])
    assert stat.S_ISFIFO(fifo.stat().st_mode)
