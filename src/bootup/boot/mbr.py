"""The PC master boot record (sector 0) and the EBR chain of extended partitions.

Layout (boot-chain reference §1.1): 440 bytes of boot code, the disk signature at 0x1B8
(sfdisk's ``label-id``), four 16-byte partition entries at 0x1BE (boot flag, CHS start, type,
CHS end, u32 LBA start, u32 sector count) and ``55 AA`` at 0x1FE. An extended partition
(type 0x05, 0x0F or 0x85) holds a chain of extended boot records: each EBR's first entry is
a logical partition relative to the EBR itself, its second entry links to the next EBR
relative to the start of the extended partition. Logical partitions are numbered from 5,
as Linux and sfdisk number them.

The parser accepts what the Linux kernel accepts (boot flag 0x00 or 0x80, ``55 AA``) and
reports anything else with the field and offset; the writer lays out the primary table and
the EBR chain and writes them atomically (see :func:`bootup.boot._struct.patch_image`).
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from bootup.boot._struct import SECTOR, FieldError, Image, Patch, opened, patch_image, u32
from bootup.errors import BootFormatError

__all__ = (
    "BOOT_CODE_SIZE",
    "DISK_SIGNATURE_OFFSET",
    "EXTENDED_TYPES",
    "PARTITION_TABLE_OFFSET",
    "PROTECTIVE_TYPE",
    "MBR",
    "MBRError",
    "MBRLayoutError",
    "MBRPartition",
    "build_mbr_sector",
    "chs",
    "parse_mbr_sector",
    "read_mbr",
    "write_mbr",
)

BOOT_CODE_SIZE = 440
DISK_SIGNATURE_OFFSET = 0x1B8
PARTITION_TABLE_OFFSET = 0x1BE
SIGNATURE_OFFSET = 0x1FE
ENTRY_SIZE = 16
#: Partition types that hold an EBR chain (DOS extended, W95 extended LBA, Linux extended).
EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})
#: The type of the single entry of a GPT's protective MBR.
PROTECTIVE_TYPE = 0xEE
#: Bound on the EBR chain, so that a looping chain cannot hang a reader.
MAX_LOGICAL = 256

_ENTRY = struct.Struct("<B3sB3sII")


class MBRError(FieldError):
    """An MBR or EBR sector is malformed (missing ``55 AA``, bad boot flag, broken chain)."""


class MBRLayoutError(BootFormatError):
    """A partition layout given to :func:`write_mbr` cannot be written (overlap, bounds)."""


@dataclass(frozen=True, slots=True)
class MBRPartition:
    """One partition as Linux numbers it: 1-4 are primary slots, 5 and up are logical.

    Attributes:
        number: the partition number (primary slot + 1, or 5+ for logical partitions).
        start: the first LBA (absolute, also for logical partitions).
        size: the number of sectors.
        type: the partition type byte (0x83 Linux, 0x82 swap, 0x05 extended, 0xEE GPT).
        bootable: whether the boot flag is 0x80.
        ebr_lba: for a logical partition, the LBA of the EBR that describes it (``None`` on
            input to :func:`write_mbr` picks the default place).
    """

    number: int
    start: int
    size: int
    type: int = 0x83
    bootable: bool = False
    ebr_lba: int | None = None

    @property
    def end(self) -> int:
        """The last LBA of the partition (inclusive), as ``start + size - 1``."""
        return self.start + self.size - 1

    @property
    def is_extended(self) -> bool:
        """Whether this is an extended partition (a container of logical partitions)."""
        return self.type in EXTENDED_TYPES

    @property
    def is_logical(self) -> bool:
        """Whether this partition lives in the EBR chain."""
        return self.number > 4


@dataclass(frozen=True, slots=True)
class MBR:
    """A parsed MBR with its EBR chain walked.

    Attributes:
        boot_code: the 440 bytes before the disk signature (GRUB's boot.img lives here).
        disk_signature: the u32 at 0x1B8 (sfdisk's ``label-id``).
        partitions: primary partitions in slot order, then logical ones in chain order.
        raw: the 512 bytes of sector 0.
    """

    boot_code: bytes = field(repr=False)
    disk_signature: int
    partitions: tuple[MBRPartition, ...]
    raw: bytes = field(repr=False)

    @property
    def is_protective(self) -> bool:
        """Whether this is the protective MBR of a GPT disk (a type 0xEE entry)."""
        return any(p.type == PROTECTIVE_TYPE for p in self.partitions if not p.is_logical)

    @property
    def primary(self) -> tuple[MBRPartition, ...]:
        """The partitions of the four primary slots that are in use."""
        return tuple(p for p in self.partitions if not p.is_logical)

    @property
    def logical(self) -> tuple[MBRPartition, ...]:
        """The logical partitions of the EBR chain, in chain order."""
        return tuple(p for p in self.partitions if p.is_logical)

    def partition(self, number: int) -> MBRPartition:
        """Return partition ``number`` or raise :class:`LookupError`."""
        for part in self.partitions:
            if part.number == number:
                return part
        raise LookupError(f"no partition {number} in the MBR")


@dataclass(frozen=True, slots=True)
class _RawEntry:
    flag: int
    type: int
    lba: int
    count: int


def _entries(sector: bytes, *, base: int, source: str, structure: str) -> list[_RawEntry]:
    """Decode the four entries of an MBR/EBR sector, checking ``55 AA`` and the boot flags."""
    if sector[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 2] != b"\x55\xaa":
        raise MBRError(
            structure,
            "signature",
            base + SIGNATURE_OFFSET,
            b"\x55\xaa",
            sector[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 2],
            source=source,
        )
    result = []
    for slot in range(4):
        offset = PARTITION_TABLE_OFFSET + slot * ENTRY_SIZE
        flag, _chs_start, ptype, _chs_end, lba, count = _ENTRY.unpack_from(sector, offset)
        if flag not in (0x00, 0x80):
            raise MBRError(
                structure,
                f"partition {slot + 1} boot flag",
                base + offset,
                "0x00 or 0x80",
                f"{flag:#04x}",
                source=source,
                note="bad boot flag",
            )
        result.append(_RawEntry(flag, ptype, lba, count))
    return result


def parse_mbr_sector(sector: bytes, *, source: str = "<buffer>") -> MBR:
    """Parse sector 0 alone: the primary entries, without following the EBR chain."""
    if len(sector) < SECTOR:
        raise MBRError(
            "MBR", "sector 0", 0, f"{SECTOR} bytes", f"{len(sector)} bytes", source=source
        )
    sector = bytes(sector[:SECTOR])
    entries = _entries(sector, base=0, source=source, structure="MBR")
    partitions = tuple(
        MBRPartition(slot + 1, e.lba, e.count, e.type, e.flag == 0x80)
        for slot, e in enumerate(entries)
        if e.type != 0 and e.count != 0
    )
    return MBR(
        boot_code=sector[:BOOT_CODE_SIZE],
        disk_signature=u32(sector, DISK_SIGNATURE_OFFSET),
        partitions=partitions,
        raw=sector,
    )


def _walk_ebr_chain(image: Image, extended: MBRPartition) -> list[MBRPartition]:
    logical: list[MBRPartition] = []
    ebr = extended.start
    seen: set[int] = set()
    number = 5
    while True:
        if ebr in seen or len(seen) >= MAX_LOGICAL:
            raise MBRError(
                "EBR",
                "next EBR link",
                ebr * SECTOR + PARTITION_TABLE_OFFSET + ENTRY_SIZE,
                "a chain without loops",
                f"EBR at LBA {ebr} visited again" if ebr in seen else f"{len(seen)} EBRs",
                source=image.name,
            )
        seen.add(ebr)
        sector = image.sector(ebr, structure="EBR", field=f"EBR at LBA {ebr}")
        entries = _entries(sector, base=ebr * SECTOR, source=image.name, structure="EBR")
        link: _RawEntry | None = None
        for entry in entries:
            if entry.type == 0 or entry.count == 0:
                continue
            if entry.type in EXTENDED_TYPES:
                link = link or entry
                continue
            logical.append(
                MBRPartition(
                    number, ebr + entry.lba, entry.count, entry.type, entry.flag == 0x80, ebr
                )
            )
            number += 1
        if link is None:
            return logical
        ebr = extended.start + link.lba


def read_mbr(source: str | os.PathLike[str] | bytes | Image) -> MBR:
    """Read sector 0 of an image and walk the EBR chain of its extended partition, if any."""
    with opened(source) as image:
        sector = image.sector(0, structure="MBR", field="sector 0")
        mbr = parse_mbr_sector(sector, source=image.name)
        extended = [p for p in mbr.partitions if p.is_extended]
        if not extended:
            return mbr
        if len(extended) > 1:
            raise MBRError(
                "MBR",
                "partition type",
                PARTITION_TABLE_OFFSET + (extended[1].number - 1) * ENTRY_SIZE,
                "at most one extended partition",
                f"{len(extended)} extended partitions",
                source=image.name,
            )
        logical = _walk_ebr_chain(image, extended[0])
        return MBR(mbr.boot_code, mbr.disk_signature, mbr.partitions + tuple(logical), mbr.raw)


def chs(lba: int) -> bytes:
    """Encode ``lba`` as the 3 CHS bytes of a partition entry (255 heads, 63 sectors).

    Addresses past cylinder 1023 are written as ``FE FF FF``, the marker that tells readers
    to use the LBA fields, as sfdisk and fdisk do.
    """
    cylinder, rest = divmod(lba, 255 * 63)
    head, sector = divmod(rest, 63)
    if cylinder > 1023:
        cylinder, head, sector = 1023, 254, 62
    return bytes((head, ((sector + 1) & 0x3F) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF))


def _entry(flag: int, ptype: int, lba: int, count: int, first: int) -> bytes:
    """One 16-byte entry; ``first`` is the absolute LBA used for the CHS fields."""
    return _ENTRY.pack(flag, chs(first), ptype, chs(first + count - 1), lba, count)


def build_mbr_sector(
    partitions: Sequence[MBRPartition],
    *,
    disk_signature: int,
    boot_code: bytes = b"",
    old_sector: bytes = b"",
) -> bytes:
    """Build sector 0: boot code, signature, the primary entries and ``55 AA``.

    ``boot_code`` (up to 440 bytes) wins; otherwise the boot code of ``old_sector`` is kept,
    so re-partitioning an image does not erase an installed boot.img.
    """
    sector = bytearray(SECTOR)
    code = boot_code or old_sector[:BOOT_CODE_SIZE]
    if len(code) > BOOT_CODE_SIZE:
        raise MBRLayoutError(f"boot code is {len(code)} bytes; at most {BOOT_CODE_SIZE} fit")
    sector[: len(code)] = code
    struct.pack_into("<I", sector, DISK_SIGNATURE_OFFSET, disk_signature & 0xFFFFFFFF)
    for part in partitions:
        if part.is_logical:
            continue
        offset = PARTITION_TABLE_OFFSET + (part.number - 1) * ENTRY_SIZE
        flag = 0x80 if part.bootable else 0x00
        sector[offset : offset + ENTRY_SIZE] = _entry(
            flag, part.type, part.start, part.size, part.start
        )
    sector[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 2] = b"\x55\xaa"
    return bytes(sector)


def _check_layout(partitions: Sequence[MBRPartition], total_sectors: int) -> None:
    numbers = [p.number for p in partitions]
    if len(set(numbers)) != len(numbers):
        raise MBRLayoutError(f"partition numbers repeat: {sorted(numbers)}")
    for part in partitions:
        if part.number < 1:
            raise MBRLayoutError(f"partition {part.number}: numbers start at 1")
        if part.size <= 0 or part.start <= 0:
            raise MBRLayoutError(
                f"partition {part.number}: start {part.start} and size {part.size} must be > 0"
            )
        if part.start > 0xFFFFFFFF or part.size > 0xFFFFFFFF:
            raise MBRLayoutError(f"partition {part.number}: MBR fields are 32-bit")
        if part.end >= total_sectors:
            raise MBRLayoutError(
                f"partition {part.number}: ends at LBA {part.end}, "
                f"past the last sector {total_sectors - 1} of the image"
            )
        if not 0 <= part.type <= 0xFF or part.type == 0:
            raise MBRLayoutError(f"partition {part.number}: type {part.type:#x} is not 1..0xff")
    primaries = [p for p in partitions if not p.is_logical]
    extended = [p for p in primaries if p.is_extended]
    if len(extended) > 1:
        raise MBRLayoutError("at most one extended partition is allowed")
    logical = [p for p in partitions if p.is_logical]
    if logical and not extended:
        raise MBRLayoutError("logical partitions need an extended partition")
    if [p.number for p in logical] != list(range(5, 5 + len(logical))):
        raise MBRLayoutError("logical partitions must be numbered 5, 6, ... in disk order")
    data = [p for p in primaries if not p.is_extended] + logical
    spans = sorted((p.start, p.end, p.number) for p in data)
    for (_s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(spans):
        if s2 <= e1:
            raise MBRLayoutError(f"partitions {n1} and {n2} overlap")
    if extended:
        ext = extended[0]
        for part in logical:
            if part.start <= ext.start or part.end > ext.end:
                raise MBRLayoutError(
                    f"logical partition {part.number} ({part.start}..{part.end}) must lie "
                    f"after the first EBR inside the extended partition {ext.start}..{ext.end}"
                )
        for part in primaries:
            if part is not ext and part.start <= ext.end and ext.start <= part.end:
                raise MBRLayoutError(f"partition {part.number} overlaps the extended partition")


def _ebr_layout(ext: MBRPartition, logical: Sequence[MBRPartition]) -> list[int]:
    """Choose the EBR of every logical partition (first at the extended start, then start-1)."""
    ebrs: list[int] = []
    previous_end = ext.start - 1
    for index, part in enumerate(logical):
        if index == 0:
            ebr = ext.start if part.ebr_lba is None else part.ebr_lba
            if ebr != ext.start:
                raise MBRLayoutError(
                    f"logical partition {part.number}: the first EBR must be at the start "
                    f"of the extended partition (LBA {ext.start}), not {ebr}"
                )
        else:
            ebr = part.start - 1 if part.ebr_lba is None else part.ebr_lba
        if not previous_end < ebr < part.start or ebr < ext.start:
            raise MBRLayoutError(
                f"logical partition {part.number}: its EBR at LBA {ebr} must lie after LBA "
                f"{previous_end} and before the partition start {part.start}"
            )
        ebrs.append(ebr)
        previous_end = part.end
    return ebrs


def write_mbr(
    path: str | os.PathLike[str],
    partitions: Sequence[MBRPartition],
    *,
    disk_signature: int,
    size: int | None = None,
    boot_code: bytes = b"",
) -> MBR:
    """Write an MBR partition table (with its EBR chain) into the image at ``path``.

    Args:
        path: the image; created sparse with ``size`` bytes when missing.
        partitions: primary partitions (numbers 1-4, at most one extended) and logical
            ones (numbers 5, 6, ... in disk order, inside the extended partition).
        disk_signature: the u32 at 0x1B8 (sfdisk's ``label-id``).
        size: the image size in bytes (required when the image does not exist; resizes it
            otherwise).
        boot_code: boot code for 0x000-0x1B7; by default the image's current code is kept.

    Returns:
        The table as :func:`read_mbr` reads it back.

    Raises:
        MBRLayoutError: the layout does not fit the image or the format.
    """
    try:
        current = os.stat(path).st_size
    except FileNotFoundError:
        if size is None:
            raise MBRLayoutError(
                f"{os.fspath(path)}: the image does not exist; give size"
            ) from None
        current = 0
    total_bytes = size if size is not None else current
    if total_bytes <= 0 or total_bytes % SECTOR:
        raise MBRLayoutError(f"image size {total_bytes} is not a positive multiple of {SECTOR}")
    total = total_bytes // SECTOR
    _check_layout(partitions, total)
    old_sector = b""
    if current >= SECTOR:
        with Image(path) as image:
            old_sector = image.sector(0, structure="MBR", field="sector 0")
    patches = [
        Patch(
            0,
            build_mbr_sector(
                partitions,
                disk_signature=disk_signature,
                boot_code=boot_code,
                old_sector=old_sector,
            ),
        )
    ]
    logical = sorted((p for p in partitions if p.is_logical), key=lambda p: p.number)
    extended = [p for p in partitions if not p.is_logical and p.is_extended]
    if extended:
        ext = extended[0]
        ebrs = _ebr_layout(ext, logical)
        if not logical:
            # An empty extended partition still needs a valid, empty first EBR.
            empty = bytearray(SECTOR)
            empty[SIGNATURE_OFFSET:] = b"\x55\xaa"
            patches.append(Patch(ext.start * SECTOR, bytes(empty)))
        for index, (part, ebr) in enumerate(zip(logical, ebrs, strict=True)):
            sector = bytearray(SECTOR)
            flag = 0x80 if part.bootable else 0x00
            sector[PARTITION_TABLE_OFFSET : PARTITION_TABLE_OFFSET + ENTRY_SIZE] = _entry(
                flag, part.type, part.start - ebr, part.size, part.start
            )
            if index + 1 < len(logical):
                nxt, nxt_ebr = logical[index + 1], ebrs[index + 1]
                link_offset = PARTITION_TABLE_OFFSET + ENTRY_SIZE
                sector[link_offset : link_offset + ENTRY_SIZE] = _entry(
                    0x00, 0x05, nxt_ebr - ext.start, nxt.end - nxt_ebr + 1, nxt_ebr
                )
            sector[SIGNATURE_OFFSET:] = b"\x55\xaa"
            patches.append(Patch(ebr * SECTOR, bytes(sector)))
    patch_image(path, patches, size=size)
    return read_mbr(path)
