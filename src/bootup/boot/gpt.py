"""The GUID partition table (UEFI 2.x chapter 5): protective MBR, primary and backup headers.

Layout (boot-chain reference §1.2): LBA 0 is a protective MBR (one type 0xEE entry); LBA 1
holds the header ("EFI PART", revision, header size 92, header CRC32 computed with the CRC
field zeroed, MyLBA, AlternateLBA, first/last usable LBA, disk GUID, entries LBA, number and
size of entries, entries CRC32); the entry array follows at LBA 2. The backup array and
header sit at the end of the disk, the header in the very last sector. Each 128-byte entry is
type GUID, unique GUID (both mixed-endian), first and last LBA (inclusive), attribute bits and
a 36-character UTF-16LE name.

The reader checks both copies and, like the kernel and sfdisk, falls back to the backup when
the primary is damaged, saying which copy failed and why; ``strict=True`` makes any damage an
error. The writer lays out protective MBR, both headers and both arrays exactly as sfdisk does
(first usable LBA 2048 on disks large enough, 128 entries) and writes them atomically.

GRUB's BIOS installer embeds core.img in the partition of type
:data:`BIOS_BOOT` (21686148-6449-6E6F-744E-656564454649, the bytes spell "Hah!IdontNeedEFI").
"""

from __future__ import annotations

import itertools
import os
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bootup.boot._struct import (
    SECTOR,
    FieldError,
    Image,
    Patch,
    crc32,
    opened,
    patch_image,
)
from bootup.boot.mbr import PARTITION_TABLE_OFFSET, PROTECTIVE_TYPE, parse_mbr_sector
from bootup.errors import BootFormatError

__all__ = (
    "BIOS_BOOT",
    "EFI_SYSTEM",
    "LINUX_FILESYSTEM",
    "LINUX_SWAP",
    "LINUX_ROOT_X86_64",
    "TYPE_NAMES",
    "GPT",
    "GPTChecksumError",
    "GPTError",
    "GPTHeader",
    "GPTLayoutError",
    "GPTPartition",
    "attributes_text",
    "build_header",
    "is_protective",
    "parse_header",
    "read_gpt",
    "write_gpt",
)

BIOS_BOOT = uuid.UUID("21686148-6449-6E6F-744E-656564454649")
EFI_SYSTEM = uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
LINUX_FILESYSTEM = uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
LINUX_SWAP = uuid.UUID("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F")
LINUX_ROOT_X86_64 = uuid.UUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
TYPE_NAMES = {
    BIOS_BOOT: "BIOS boot",
    EFI_SYSTEM: "EFI System",
    LINUX_FILESYSTEM: "Linux filesystem",
    LINUX_SWAP: "Linux swap",
    LINUX_ROOT_X86_64: "Linux root (x86-64)",
}

SIGNATURE = b"EFI PART"
REVISION = 0x00010000
HEADER_SIZE = 92
ENTRY_SIZE = 128
DEFAULT_ENTRIES = 128
#: Bound on the entry array we are willing to read (4096 entries of 128 bytes = 1 MiB).
MAX_ARRAY_BYTES = 1 << 20
NAME_CHARS = 36

_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
_ENTRY = struct.Struct("<16s16sQQQ72s")


class GPTError(FieldError):
    """A GPT header or entry array is malformed (signature, size, LBA or CRC32 field)."""


class GPTChecksumError(GPTError):
    """A CRC32 of a GPT header or entry array does not match its contents."""


class GPTLayoutError(BootFormatError):
    """A partition layout given to :func:`write_gpt` cannot be written (overlap, bounds)."""


@dataclass(frozen=True, slots=True)
class GPTHeader:
    """A decoded GPT header (primary at LBA 1 or backup in the last sector)."""

    revision: int
    header_size: int
    header_crc32: int
    my_lba: int
    alternate_lba: int
    first_usable_lba: int
    last_usable_lba: int
    disk_guid: uuid.UUID
    entries_lba: int
    num_entries: int
    entry_size: int
    entries_crc32: int


@dataclass(frozen=True, slots=True)
class GPTPartition:
    """One used slot of the entry array.

    Attributes:
        number: the slot number (1-based), as Linux names the partition.
        first_lba: the first sector.
        last_lba: the last sector, inclusive (so ``size = last_lba - first_lba + 1``).
        type_guid: the partition type (:data:`BIOS_BOOT`, :data:`LINUX_FILESYSTEM`, ...).
        unique_guid: the partition's own GUID (``PARTUUID``); ``None`` on input to
            :func:`write_gpt` draws a random one.
        name: the label (at most 36 UTF-16 code units).
        attributes: the 64 attribute bits (bit 2 is "legacy BIOS bootable").
    """

    number: int
    first_lba: int
    last_lba: int
    type_guid: uuid.UUID
    unique_guid: uuid.UUID | None = None
    name: str = ""
    attributes: int = 0

    @property
    def start(self) -> int:
        """The first sector (sfdisk's ``start``)."""
        return self.first_lba

    @property
    def size(self) -> int:
        """The number of sectors (the last LBA is inclusive)."""
        return self.last_lba - self.first_lba + 1

    @property
    def type_name(self) -> str:
        """A human name for the type GUID, or the GUID itself."""
        return TYPE_NAMES.get(self.type_guid, str(self.type_guid).upper())

    @classmethod
    def sized(
        cls,
        number: int,
        start: int,
        size: int,
        type_guid: uuid.UUID,
        *,
        unique_guid: uuid.UUID | None = None,
        name: str = "",
        attributes: int = 0,
    ) -> GPTPartition:
        """Build a partition from ``start`` and ``size`` in sectors, as sfdisk scripts do."""
        return cls(number, start, start + size - 1, type_guid, unique_guid, name, attributes)


@dataclass(frozen=True, slots=True)
class GPT:
    """A GPT read from an image, with what was found about each copy.

    Attributes:
        header: the header in use (the primary, or the backup when the primary is bad).
        partitions: the used entries of that copy, in slot order.
        primary_error: why the primary header/array was rejected, or ``None``.
        backup_error: why the backup header/array was rejected, or ``None``.
        protective_mbr: whether LBA 0 holds a protective (type 0xEE) entry.
    """

    header: GPTHeader
    partitions: tuple[GPTPartition, ...]
    primary_error: GPTError | None = None
    backup_error: GPTError | None = None
    protective_mbr: bool = True
    problems: tuple[str, ...] = field(default=())

    @property
    def disk_guid(self) -> uuid.UUID:
        """The disk GUID (sfdisk's ``label-id``)."""
        return self.header.disk_guid

    @property
    def first_usable_lba(self) -> int:
        """The first sector partitions may use (sfdisk's ``first-lba``)."""
        return self.header.first_usable_lba

    @property
    def last_usable_lba(self) -> int:
        """The last sector partitions may use (sfdisk's ``last-lba``)."""
        return self.header.last_usable_lba

    @property
    def using_backup(self) -> bool:
        """Whether the primary copy was rejected and the backup is in use."""
        return self.primary_error is not None

    def partition(self, number: int) -> GPTPartition:
        """Return partition ``number`` or raise :class:`LookupError`."""
        for part in self.partitions:
            if part.number == number:
                return part
        raise LookupError(f"no partition {number} in the GPT")

    def by_type(self, type_guid: uuid.UUID) -> tuple[GPTPartition, ...]:
        """All partitions of one type, in slot order."""
        return tuple(p for p in self.partitions if p.type_guid == type_guid)


_ATTRIBUTE_NAMES = {0: "RequiredPartition", 1: "NoBlockIOProtocol", 2: "LegacyBIOSBootable"}


def attributes_text(attributes: int) -> str:
    """Spell attribute bits as sfdisk does (``LegacyBIOSBootable GUID:60,63``)."""
    names = [name for bit, name in _ATTRIBUTE_NAMES.items() if attributes >> bit & 1]
    guid_bits = [str(bit) for bit in range(48, 64) if attributes >> bit & 1]
    if guid_bits:
        names.append("GUID:" + ",".join(guid_bits))
    return " ".join(names)


def parse_header(sector: bytes, *, lba: int, source: str = "<buffer>") -> GPTHeader:
    """Decode and check a header sector read from ``lba`` (signature, size, CRC, MyLBA)."""
    base = lba * SECTOR
    if len(sector) < SECTOR:
        raise GPTError(
            "GPT header", "sector", base, f"{SECTOR} bytes", f"{len(sector)}", source=source
        )
    (
        signature,
        revision,
        header_size,
        header_crc,
        _reserved,
        my_lba,
        alternate,
        first_usable,
        last_usable,
        guid,
        entries_lba,
        num_entries,
        entry_size,
        entries_crc,
    ) = _HEADER.unpack_from(sector, 0)
    if signature != SIGNATURE:
        raise GPTError("GPT header", "signature", base, SIGNATURE, signature, source=source)
    if not HEADER_SIZE <= header_size <= SECTOR:
        raise GPTError(
            "GPT header",
            "header_size",
            base + 12,
            f"{HEADER_SIZE}..{SECTOR}",
            header_size,
            source=source,
        )
    check = bytearray(sector[:header_size])
    check[16:20] = b"\0\0\0\0"
    actual = crc32(bytes(check))
    if actual != header_crc:
        raise GPTChecksumError(
            "GPT header",
            "header_crc32",
            base + 16,
            f"{actual:#010x}",
            f"{header_crc:#010x}",
            source=source,
        )
    if my_lba != lba:
        raise GPTError("GPT header", "my_lba", base + 24, lba, my_lba, source=source)
    if entry_size < ENTRY_SIZE or entry_size % 8:
        raise GPTError(
            "GPT header",
            "entry_size",
            base + 84,
            "128 or a larger multiple of 8",
            entry_size,
            source=source,
        )
    if num_entries * entry_size > MAX_ARRAY_BYTES:
        raise GPTError(
            "GPT header",
            "num_entries",
            base + 80,
            f"at most {MAX_ARRAY_BYTES} bytes of entries",
            f"{num_entries} x {entry_size} bytes",
            source=source,
        )
    if first_usable > last_usable + 1:
        raise GPTError(
            "GPT header",
            "first_usable_lba",
            base + 40,
            f"<= last_usable_lba + 1 ({last_usable + 1})",
            first_usable,
            source=source,
        )
    return GPTHeader(
        revision,
        header_size,
        header_crc,
        my_lba,
        alternate,
        first_usable,
        last_usable,
        uuid.UUID(bytes_le=guid),
        entries_lba,
        num_entries,
        entry_size,
        entries_crc,
    )


def _parse_entries(image: Image, header: GPTHeader, *, which: str) -> tuple[GPTPartition, ...]:
    size = header.num_entries * header.entry_size
    offset = header.entries_lba * SECTOR
    array = image.read(offset, size, structure=f"{which} GPT entries", field="entry array")
    actual = crc32(array)
    if actual != header.entries_crc32:
        raise GPTChecksumError(
            f"{which} GPT header",
            "entries_crc32",
            header.my_lba * SECTOR + 88,
            f"{actual:#010x} (CRC32 of the array at LBA {header.entries_lba})",
            f"{header.entries_crc32:#010x}",
            source=image.name,
        )
    parts = []
    for index in range(header.num_entries):
        start = index * header.entry_size
        type_b, unique_b, first, last, attrs, name_b = _ENTRY.unpack_from(array, start)
        if type_b == bytes(16):
            continue
        name = name_b.decode("utf-16-le", errors="replace").split("\0", 1)[0]
        parts.append(
            GPTPartition(
                index + 1,
                first,
                last,
                uuid.UUID(bytes_le=type_b),
                uuid.UUID(bytes_le=unique_b),
                name,
                attrs,
            )
        )
    return tuple(parts)


def _read_copy(image: Image, lba: int, which: str) -> tuple[GPTHeader, tuple[GPTPartition, ...]]:
    sector = image.sector(lba, structure=f"{which} GPT header", field="header sector")
    try:
        header = parse_header(sector, lba=lba, source=image.name)
    except GPTError as exc:
        raise type(exc)(
            f"{which} GPT header",
            exc.field,
            exc.offset,
            exc.expected,
            exc.found,
            source=exc.source,
            note=exc.note,
        ) from None
    return header, _parse_entries(image, header, which=which)


def _problems(header: GPTHeader, parts: Sequence[GPTPartition], total: int) -> list[str]:
    found = []
    if header.last_usable_lba >= total:
        found.append(
            f"last usable LBA {header.last_usable_lba} is past the end of the disk "
            f"({total} sectors)"
        )
    for part in parts:
        if part.last_lba < part.first_lba:
            found.append(
                f"partition {part.number}: last LBA {part.last_lba} < first {part.first_lba}"
            )
        elif part.first_lba < header.first_usable_lba or part.last_lba > header.last_usable_lba:
            found.append(
                f"partition {part.number} ({part.first_lba}..{part.last_lba}) lies outside the "
                f"usable area {header.first_usable_lba}..{header.last_usable_lba}"
            )
    spans = sorted((p.first_lba, p.last_lba, p.number) for p in parts if p.last_lba >= p.first_lba)
    for (_a, end, n1), (start, _b, n2) in itertools.pairwise(spans):
        if start <= end:
            found.append(f"partitions {n1} and {n2} overlap")
    return found


def read_gpt(source: str | os.PathLike[str] | bytes | Image, *, strict: bool = False) -> GPT:
    """Read the GPT of an image, checking both copies.

    Args:
        source: the image (a path, bytes or an open :class:`~bootup.boot._struct.Image`).
        strict: raise when either copy is damaged, instead of falling back to the other.

    Raises:
        GPTError: no valid copy (the error of the primary, noting the backup's), or, with
            ``strict``, any damaged copy; the message says which copy and which field.
    """
    with opened(source) as image:
        total = image.size // SECTOR
        mbr_sector = image.sector(0, structure="protective MBR", field="sector 0")
        protective = False
        if mbr_sector[0x1FE:0x200] == b"\x55\xaa":
            protective = any(
                mbr_sector[PARTITION_TABLE_OFFSET + 16 * i + 4] == PROTECTIVE_TYPE for i in range(4)
            )
        primary: tuple[GPTHeader, tuple[GPTPartition, ...]] | None = None
        primary_error: GPTError | None = None
        try:
            primary = _read_copy(image, 1, "primary")
        except GPTError as exc:
            primary_error = exc
        backup_lba = primary[0].alternate_lba if primary else total - 1
        backup: tuple[GPTHeader, tuple[GPTPartition, ...]] | None = None
        backup_error: GPTError | None = None
        if 1 < backup_lba < total:
            try:
                backup = _read_copy(image, backup_lba, "backup")
            except GPTError as exc:
                backup_error = exc
        else:
            backup_error = GPTError(
                "primary GPT header",
                "alternate_lba",
                SECTOR + 32,
                f"2..{total - 1}",
                backup_lba,
                source=image.name,
            )
        if primary_error is not None and backup is None:
            raise primary_error
        if strict and primary_error is not None:
            raise primary_error
        if strict and backup_error is not None:
            raise backup_error
        header, parts = primary if primary is not None else backup  # type: ignore[misc]
        problems = _problems(header, parts, total)
        if primary is not None and backup is not None and primary[1] != backup[1]:
            problems.append("the primary and backup entry arrays differ")
        if primary_error is not None:
            problems.insert(0, f"primary GPT is damaged, using the backup: {primary_error}")
        if backup_error is not None:
            problems.insert(0, f"backup GPT is damaged: {backup_error}")
        if not protective:
            problems.append("LBA 0 holds no protective MBR (type 0xee)")
        return GPT(header, parts, primary_error, backup_error, protective, tuple(problems))


def build_header(header: GPTHeader) -> bytes:
    """Encode ``header`` into a sector, computing its CRC32 (the given CRC is ignored)."""
    raw = bytearray(
        _HEADER.pack(
            SIGNATURE,
            header.revision,
            header.header_size,
            0,
            0,
            header.my_lba,
            header.alternate_lba,
            header.first_usable_lba,
            header.last_usable_lba,
            header.disk_guid.bytes_le,
            header.entries_lba,
            header.num_entries,
            header.entry_size,
            header.entries_crc32,
        )
    )
    struct.pack_into("<I", raw, 16, crc32(bytes(raw[: header.header_size])))
    return bytes(raw) + bytes(SECTOR - len(raw))


def _entry_bytes(part: GPTPartition) -> bytes:
    name = part.name.encode("utf-16-le")
    if len(name) > 2 * NAME_CHARS:
        raise GPTLayoutError(
            f"partition {part.number}: name {part.name!r} is longer than {NAME_CHARS} UTF-16 units"
        )
    assert part.unique_guid is not None
    return _ENTRY.pack(
        part.type_guid.bytes_le,
        part.unique_guid.bytes_le,
        part.first_lba,
        part.last_lba,
        part.attributes,
        name.ljust(72, b"\0"),
    )


def _protective_mbr(old_sector: bytes, total: int, boot_code: bytes) -> bytes:
    sector = bytearray(SECTOR)
    code = boot_code or old_sector[:440]
    sector[: len(code)] = code
    entry = struct.pack(
        "<B3sB3sII",
        0,
        b"\x00\x02\x00",
        PROTECTIVE_TYPE,
        b"\xff\xff\xff",
        1,
        min(total - 1, 0xFFFFFFFF),
    )
    sector[PARTITION_TABLE_OFFSET : PARTITION_TABLE_OFFSET + 16] = entry
    sector[0x1FE:] = b"\x55\xaa"
    return bytes(sector)


def write_gpt(
    path: str | os.PathLike[str],
    partitions: Sequence[GPTPartition],
    *,
    disk_guid: uuid.UUID | None = None,
    size: int | None = None,
    first_usable_lba: int | None = None,
    num_entries: int = DEFAULT_ENTRIES,
    boot_code: bytes = b"",
) -> GPT:
    """Write a protective MBR, both GPT headers and both entry arrays into an image.

    Args:
        path: the image; created sparse with ``size`` bytes when missing.
        partitions: the partitions (``number`` is the slot, 1..``num_entries``).
        disk_guid: the disk GUID; random when ``None``.
        size: the image size in bytes (required when the image does not exist).
        first_usable_lba: defaults to 2048 as sfdisk does (34 on disks under 2 MiB).
        num_entries: the size of the entry array (128, like every partitioning tool).
        boot_code: boot code for the protective MBR; by default the current code is kept.

    Returns:
        The table as :func:`read_gpt` reads it back.

    Raises:
        GPTLayoutError: the layout does not fit the disk or overlaps.
    """
    try:
        current = os.stat(path).st_size
    except FileNotFoundError:
        if size is None:
            raise GPTLayoutError(
                f"{os.fspath(path)}: the image does not exist; give size"
            ) from None
        current = 0
    total_bytes = size if size is not None else current
    if total_bytes <= 0 or total_bytes % SECTOR:
        raise GPTLayoutError(f"image size {total_bytes} is not a positive multiple of {SECTOR}")
    total = total_bytes // SECTOR
    if not num_entries >= 1 or num_entries * ENTRY_SIZE > MAX_ARRAY_BYTES:
        raise GPTLayoutError(f"num_entries {num_entries} is out of range")
    array_sectors = -(-num_entries * ENTRY_SIZE // SECTOR)
    minimum_first = 2 + array_sectors
    if first_usable_lba is None:
        first_usable_lba = 2048 if total >= 2048 + array_sectors + 1 + 2048 else minimum_first
    last_usable = total - 2 - array_sectors
    if first_usable_lba < minimum_first or first_usable_lba > last_usable:
        raise GPTLayoutError(
            f"first usable LBA {first_usable_lba} must lie in {minimum_first}..{last_usable} "
            f"on a disk of {total} sectors"
        )
    numbers = [p.number for p in partitions]
    if len(set(numbers)) != len(numbers):
        raise GPTLayoutError(f"partition numbers repeat: {sorted(numbers)}")
    filled = []
    for part in partitions:
        if not 1 <= part.number <= num_entries:
            raise GPTLayoutError(f"partition {part.number}: slots are 1..{num_entries}")
        if part.first_lba < first_usable_lba or part.last_lba > last_usable:
            raise GPTLayoutError(
                f"partition {part.number} ({part.first_lba}..{part.last_lba}) must lie in the "
                f"usable area {first_usable_lba}..{last_usable}"
            )
        if part.last_lba < part.first_lba:
            raise GPTLayoutError(f"partition {part.number}: last LBA < first LBA")
        if part.type_guid.int == 0:
            raise GPTLayoutError(f"partition {part.number}: the zero type GUID marks a free slot")
        filled.append(part if part.unique_guid else replace(part, unique_guid=uuid.uuid4()))
    spans = sorted((p.first_lba, p.last_lba, p.number) for p in filled)
    for (_a, end, n1), (start, _b, n2) in itertools.pairwise(spans):
        if start <= end:
            raise GPTLayoutError(f"partitions {n1} and {n2} overlap")
    array = bytearray(num_entries * ENTRY_SIZE)
    for part in filled:
        offset = (part.number - 1) * ENTRY_SIZE
        array[offset : offset + ENTRY_SIZE] = _entry_bytes(part)
    array_padded = bytes(array) + bytes(array_sectors * SECTOR - len(array))
    entries_crc = crc32(bytes(array))
    guid = disk_guid or uuid.uuid4()
    primary = GPTHeader(
        REVISION,
        HEADER_SIZE,
        0,
        1,
        total - 1,
        first_usable_lba,
        last_usable,
        guid,
        2,
        num_entries,
        ENTRY_SIZE,
        entries_crc,
    )
    backup = replace(primary, my_lba=total - 1, alternate_lba=1, entries_lba=last_usable + 1)
    old_sector = b""
    if current >= SECTOR:
        with Image(path) as image:
            old_sector = image.sector(0, structure="MBR", field="sector 0")
    patches = [
        Patch(0, _protective_mbr(old_sector, total, boot_code)),
        Patch(SECTOR, build_header(primary)),
        Patch(2 * SECTOR, array_padded),
        Patch((last_usable + 1) * SECTOR, array_padded),
        Patch((total - 1) * SECTOR, build_header(backup)),
    ]
    patch_image(path, patches, size=size)
    return read_gpt(path, strict=True)


def is_protective(sector0: bytes) -> bool:
    """Whether sector 0 is a valid MBR with a protective (0xEE) entry."""
    try:
        mbr = parse_mbr_sector(sector0)
    except FieldError:
        return False
    return mbr.is_protective
