"""MBR/GPT parsers and writers against the real sfdisk (util-linux).

Expected values come from ``sfdisk --json`` on images that sfdisk itself partitioned, never
from our own output; our writers are checked by reading their images back with sfdisk and
with ``sfdisk --verify``, and by byte comparison with sfdisk's own images.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

import support
from bootup.boot import gpt, mbr

pytestmark = pytest.mark.conformance


def _sfdisk() -> str:
    return support.require_tool("sfdisk", package="fdisk")


def _make(path: Path, size: str, script: str) -> None:
    subprocess.run(["truncate", "-s", size, str(path)], check=True)
    subprocess.run([_sfdisk(), "-q", str(path)], input=script, text=True, check=True)


def _json(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [_sfdisk(), "--json", str(path)], capture_output=True, text=True, check=True
    ).stdout
    table: dict[str, Any] = json.loads(out)["partitiontable"]
    return table


def _verify(path: Path) -> str:
    result = subprocess.run(
        [_sfdisk(), "--verify", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


DOS_SCRIPT = """label: dos
label-id: 0x12345678
start=2048, size=10M, type=83, bootable
start=22528, type=5
size=5M, type=83
size=5M, type=82
size=2M, type=7
"""

GPT_SCRIPT = """label: gpt
label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name="BIOS boot"
size=20M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root", attrs="LegacyBIOSBootable"
size=10M, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
start=100000, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP ünïcode"
"""


def _mbr_as_sfdisk(table: mbr.MBR) -> list[dict[str, Any]]:
    rows = []
    for part in table.partitions:
        row: dict[str, Any] = {"start": part.start, "size": part.size, "type": f"{part.type:x}"}
        if part.bootable:
            row["bootable"] = True
        rows.append((part.number, row))
    return [row for _n, row in sorted(rows, key=lambda r: r[0])]


def _sfdisk_rows(table: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: p[k] for k in keys if k in p} for p in table["partitions"]]


def test_mbr_with_logical_partitions_matches_sfdisk_json(tmp_path: Path) -> None:
    image = tmp_path / "dos.img"
    _make(image, "64M", DOS_SCRIPT)
    expected = _json(image)
    table = mbr.read_mbr(image)
    assert expected["label"] == "dos"
    assert f"{table.disk_signature:#010x}" == expected["id"]
    assert _mbr_as_sfdisk(table) == _sfdisk_rows(expected, ("start", "size", "type", "bootable"))
    numbers = [int(p["node"].removeprefix(str(image))) for p in expected["partitions"]]
    assert [p.number for p in table.partitions] == numbers == [1, 2, 5, 6, 7]


def test_mbr_writer_is_byte_identical_to_sfdisk(tmp_path: Path) -> None:
    reference = tmp_path / "sfdisk.img"
    _make(reference, "64M", DOS_SCRIPT)
    table = mbr.read_mbr(reference)
    ours = tmp_path / "ours.img"
    mbr.write_mbr(ours, table.partitions, disk_signature=table.disk_signature, size=64 << 20)
    assert ours.read_bytes() == reference.read_bytes()
    assert "No errors detected" in _verify(ours)


def test_mbr_writer_default_ebr_layout_reads_back_in_sfdisk(tmp_path: Path) -> None:
    image = tmp_path / "w.img"
    parts = [
        mbr.MBRPartition(1, 63, 2000, 0x83, bootable=True),
        mbr.MBRPartition(3, 4096, 60000, 0x0F),
        mbr.MBRPartition(5, 4200, 1000, 0x83),
        mbr.MBRPartition(6, 5300, 3000, 0x82),
        mbr.MBRPartition(7, 9000, 50000, 0x8E),
    ]
    mbr.write_mbr(image, parts, disk_signature=0xCAFEF00D, size=40 << 20)
    got = _json(image)
    assert got["id"] == "0xcafef00d"
    assert [
        (p["node"].removeprefix(str(image)), p["start"], p["size"], p["type"])
        for p in got["partitions"]
    ] == [
        ("1", 63, 2000, "83"),
        ("3", 4096, 60000, "f"),
        ("5", 4200, 1000, "83"),
        ("6", 5300, 3000, "82"),
        ("7", 9000, 50000, "8e"),
    ]
    assert got["partitions"][0]["bootable"] is True
    _verify(image)
    assert mbr.read_mbr(image).partitions == tuple(
        p
        if not p.is_logical
        else mbr.MBRPartition(
            p.number, p.start, p.size, p.type, p.bootable, 4096 if p.number == 5 else p.start - 1
        )
        for p in parts
    )


def test_gpt_matches_sfdisk_json(tmp_path: Path) -> None:
    image = tmp_path / "gpt.img"
    _make(image, "100M", GPT_SCRIPT)
    expected = _json(image)
    table = gpt.read_gpt(image, strict=True)
    assert expected["label"] == "gpt"
    assert str(table.disk_guid).upper() == expected["id"]
    assert table.first_usable_lba == expected["firstlba"]
    assert table.last_usable_lba == expected["lastlba"]
    rows = []
    for part in table.partitions:
        row: dict[str, Any] = {
            "start": part.start,
            "size": part.size,
            "type": str(part.type_guid).upper(),
            "uuid": str(part.unique_guid).upper(),
        }
        if part.name:
            row["name"] = part.name
        if part.attributes:
            row["attrs"] = gpt.attributes_text(part.attributes)
        rows.append(row)
    assert rows == _sfdisk_rows(expected, ("start", "size", "type", "uuid", "name", "attrs"))
    assert table.by_type(gpt.BIOS_BOOT)[0].number == 1
    assert table.problems == ()


def test_gpt_writer_is_byte_identical_to_sfdisk(tmp_path: Path) -> None:
    reference = tmp_path / "sfdisk.img"
    _make(reference, "100M", GPT_SCRIPT)
    table = gpt.read_gpt(reference)
    ours = tmp_path / "ours.img"
    gpt.write_gpt(ours, table.partitions, disk_guid=table.disk_guid, size=100 << 20)
    assert ours.read_bytes() == reference.read_bytes()


def test_gpt_writer_reads_back_in_sfdisk(tmp_path: Path) -> None:
    image = tmp_path / "w.img"
    disk = uuid.UUID("6b5f1b3a-1111-4e4e-9a9a-0123456789ab")
    parts = [
        gpt.GPTPartition.sized(1, 2048, 2048, gpt.BIOS_BOOT, name="bios"),
        gpt.GPTPartition.sized(2, 4096, 8192, gpt.LINUX_FILESYSTEM, attributes=1 << 2 | 1 << 60),
        gpt.GPTPartition.sized(7, 20000, 1000, gpt.LINUX_SWAP, name="swap"),
    ]
    written = gpt.write_gpt(image, parts, disk_guid=disk, size=32 << 20)
    got = _json(image)
    assert got["id"] == str(disk).upper()
    assert [(p["start"], p["size"], p["type"], p["uuid"]) for p in got["partitions"]] == [
        (p.start, p.size, str(p.type_guid).upper(), str(p.unique_guid).upper())
        for p in written.partitions
    ]
    assert got["partitions"][1]["attrs"] == "LegacyBIOSBootable GUID:60"
    assert got["partitions"][2]["node"].endswith("7")
    assert "No errors detected" in _verify(image)


def test_corrupted_primary_gpt_is_reported_and_backup_used(tmp_path: Path) -> None:
    image = tmp_path / "gpt.img"
    _make(image, "100M", GPT_SCRIPT)
    expected = gpt.read_gpt(image, strict=True).partitions
    with image.open("r+b") as handle:  # flip one bit of the primary entry array
        handle.seek(2 * 512 + 40)
        byte = handle.read(1)[0]
        handle.seek(2 * 512 + 40)
        handle.write(bytes([byte ^ 1]))
    table = gpt.read_gpt(image)
    assert table.using_backup
    assert isinstance(table.primary_error, gpt.GPTChecksumError)
    assert table.primary_error.field == "entries_crc32"
    assert "primary" in str(table.primary_error)
    assert table.backup_error is None
    assert table.partitions == expected
    assert table.header.my_lba == 204799
    with pytest.raises(gpt.GPTChecksumError, match="primary GPT header"):
        gpt.read_gpt(image, strict=True)
    # sfdisk agrees that the primary is broken and falls back to the backup.
    result = subprocess.run(
        [_sfdisk(), "--json", str(image)], capture_output=True, text=True, check=False
    )
    assert "primary" in (result.stderr + result.stdout).lower()
