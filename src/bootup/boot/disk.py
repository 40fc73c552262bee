"""Inspect a disk image's boot chain up to stage 1.5, reading only the sectors that matter.

``inspect_disk`` answers offline what ``file`` and ``sfdisk`` cannot: is GRUB installed in the
MBR, where does its boot.img look for core.img (``kernel_sector``), does core.img fit the
embedding area, which modules are built in, and where will stage 2 look for /boot/grub (the
prefix, e.g. ``(hd0,msdos1)/boot/grub``)? Every silent problem on the way becomes a warning:
a core.img overlapping a partition, a prefix naming a partition that does not exist or a
file system core.img has no module for, a damaged GPT copy, blocklists that disagree with
boot.img.

It reads sector 0, the GPT header and entries when there is one, the core.img sectors named
by the blocklists, and one superblock per partition, so a multi-GiB sparse image is inspected
in a few milliseconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from bootup.boot import bootimg, coreimg, gpt, mbr
from bootup.boot._struct import SECTOR, FieldError, Image, opened, u16, u32
from bootup.errors import BootFormatError

__all__ = (
    "CoreReport",
    "DiskReport",
    "GrubPath",
    "PartitionInfo",
    "Stage1Report",
    "inspect_disk",
    "parse_prefix",
    "probe_filesystem",
)

#: Partition-table modules and file-system modules GRUB needs in core.img to reach the prefix.
_PARTMAP_MODULE = {"msdos": "part_msdos", "gpt": "part_gpt"}
_FS_MODULE = {
    "ext2": "ext2",
    "ext3": "ext2",
    "ext4": "ext2",
    "vfat": "fat",
    "xfs": "xfs",
    "btrfs": "btrfs",
}
_MAX_CORE_SECTORS = 0xFFFF

_MBR_TYPE_NAMES = {
    0x05: "Extended",
    0x07: "HPFS/NTFS/exFAT",
    0x0B: "W95 FAT32",
    0x0C: "W95 FAT32 (LBA)",
    0x0E: "W95 FAT16 (LBA)",
    0x0F: "W95 Ext'd (LBA)",
    0x82: "Linux swap / Solaris",
    0x83: "Linux",
    0x85: "Linux extended",
    0x8E: "Linux LVM",
    0xEE: "GPT",
    0xEF: "EFI (FAT-12/16/32)",
    0xFD: "Linux raid autodetect",
}


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition, with what its first sectors say about its file system."""

    number: int
    start: int
    size: int
    type: str
    type_name: str
    bootable: bool = False
    name: str = ""
    uuid: str = ""
    filesystem: str | None = None

    @property
    def offset(self) -> int:
        """The partition's byte offset in the image (for :mod:`bootup.boot.ext4`)."""
        return self.start * SECTOR


@dataclass(frozen=True, slots=True)
class Stage1Report:
    """What sector 0's boot code says (see :class:`bootup.boot.bootimg.BootSector`)."""

    is_grub: bool
    kernel_sector: int | None
    boot_drive: int | None
    drive_check_disabled: bool | None


@dataclass(frozen=True, slots=True)
class CoreReport:
    """The core.img found at boot.img's ``kernel_sector``."""

    lba: int
    size: int
    sectors: int
    blocklists: tuple[tuple[int, int, int], ...]
    prefix: str | None
    modules: tuple[str, ...]
    config: str | None
    embedding_area: str | None
    embedding_sectors: int | None
    rs_redundancy: int


@dataclass(frozen=True, slots=True)
class GrubPath:
    """A GRUB path split up: ``(hd0,msdos1)/boot/grub`` → drive hd0, partitions, path."""

    drive: str | None
    partitions: tuple[str, ...]
    path: str

    @property
    def partition_number(self) -> int | None:
        """The number of the innermost partition (``msdos5`` → 5), or ``None``."""
        if not self.partitions:
            return None
        match = re.search(r"(\d+)$", self.partitions[-1])
        return int(match.group(1)) if match else None

    @property
    def partition_map(self) -> str | None:
        """The partition-map name of the outer partition (``msdos``/``gpt``), if spelt out."""
        if not self.partitions:
            return None
        match = re.match(r"([a-z_]+)\d+$", self.partitions[0])
        return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class DiskReport:
    """Everything :func:`inspect_disk` found, with warnings for every silent problem."""

    path: str
    size: int
    label: str | None
    disk_id: str | None
    partitions: tuple[PartitionInfo, ...]
    stage1: Stage1Report
    core: CoreReport | None
    warnings: tuple[str, ...] = field(default=())

    def partition(self, number: int) -> PartitionInfo | None:
        """Partition ``number``, or ``None``."""
        return next((p for p in self.partitions if p.number == number), None)

    def prefix_partition(self) -> PartitionInfo | None:
        """The partition core.img's prefix names (where stage 2 looks for /boot/grub)."""
        if self.core is None or self.core.prefix is None:
            return None
        number = parse_prefix(self.core.prefix).partition_number
        return self.partition(number) if number is not None else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary (sfdisk-like names for the table)."""
        data = asdict(self)
        data["partitions"] = [{**asdict(p), "offset": p.offset} for p in self.partitions]
        return data


def parse_prefix(prefix: str) -> GrubPath:
    """Split a GRUB prefix such as ``(hd0,msdos1)/boot/grub`` or ``/boot/grub``."""
    match = re.fullmatch(r"\(([^)]*)\)(.*)", prefix)
    if not match:
        return GrubPath(None, (), prefix or "/")
    device, path = match.group(1), match.group(2) or "/"
    drive, *parts = device.split(",")
    return GrubPath(drive or None, tuple(parts), path)


def probe_filesystem(image: Image, offset: int) -> str | None:
    """Name the file system at ``offset`` from its superblock magic (ext2/3/4, vfat, xfs...)."""
    try:
        head = image.read(offset, 2048, structure="partition", field="superblock")
    except FieldError:
        return None
    if u16(head, 1024 + 0x38) == 0xEF53:
        incompat, compat = u32(head, 1024 + 0x60), u32(head, 1024 + 0x5C)
        if incompat & 0x40 or incompat & 0x80 or incompat & 0x200:
            return "ext4"
        return "ext3" if compat & 0x4 else "ext2"
    if head[:4] == b"XFSB":
        return "xfs"
    if head[0x52:0x5A] == b"FAT32   " or head[0x36:0x3B] in (b"FAT12", b"FAT16"):
        return "vfat"
    if head[0x1FE:0x200] == b"\x55\xaa" and head[3:11] == b"NTFS    ":
        return "ntfs"
    try:
        if image.read(offset + 0x10040, 8, structure="partition", field="btrfs") == b"_BHRfS_M":
            return "btrfs"
    except FieldError:
        return None
    return None


def _mbr_partitions(image: Image, table: mbr.MBR) -> list[PartitionInfo]:
    return [
        PartitionInfo(
            number=p.number,
            start=p.start,
            size=p.size,
            type=f"{p.type:x}",
            type_name=_MBR_TYPE_NAMES.get(p.type, "unknown"),
            bootable=p.bootable,
            filesystem=None if p.is_extended else probe_filesystem(image, p.start * SECTOR),
        )
        for p in table.partitions
    ]


def _gpt_partitions(image: Image, table: gpt.GPT) -> list[PartitionInfo]:
    return [
        PartitionInfo(
            number=p.number,
            start=p.start,
            size=p.size,
            type=str(p.type_guid).upper(),
            type_name=p.type_name,
            bootable=bool(p.attributes & 4),
            name=p.name,
            uuid=str(p.unique_guid).upper(),
            filesystem=None
            if p.type_guid == gpt.BIOS_BOOT
            else probe_filesystem(image, p.start * SECTOR),
        )
        for p in table.partitions
    ]


def _read_core(image: Image, lba: int, warnings: list[str]) -> coreimg.CoreImage | None:
    try:
        first = image.sector(lba, structure="core.img", field="diskboot sector")
        lists = coreimg.read_blocklists(first, source=image.name, base=lba * SECTOR)
    except FieldError as exc:
        warnings.append(f"boot.img points at LBA {lba}, but no core.img is readable there: {exc}")
        return None
    chunks = [first]
    total = 1
    for block in lists:
        total += block.length
        if total > _MAX_CORE_SECTORS:
            warnings.append(f"core.img blocklists at LBA {lba} add up to more than 0xffff sectors")
            return None
        try:
            chunks.append(
                image.sector(
                    block.start,
                    block.length,
                    structure="core.img",
                    field=f"blocklist {block.start}+{block.length}",
                )
            )
        except FieldError as exc:
            warnings.append(f"core.img blocklist {block.start}+{block.length} is unreadable: {exc}")
            return None
    try:
        return coreimg.decode_core_img(b"".join(chunks), name=image.name, base=lba * SECTOR)
    except FieldError as exc:
        warnings.append(f"core.img at LBA {lba} does not decode: {exc}")
        return None


def _embedding(
    label: str | None,
    partitions: list[PartitionInfo],
    boot_part: gpt.GPTPartition | None,
    total: int,
) -> tuple[str | None, int | None, int | None]:
    """(description, first LBA, sectors) of the area GRUB embeds into."""
    if label == "gpt":
        if boot_part is None:
            return None, None, None
        return f"BIOS boot partition {boot_part.number}", boot_part.start, boot_part.size
    if label == "dos":
        starts = [p.start for p in partitions if p.size]
        end = min([*starts, total])
        return f"MBR gap (sectors 1-{end - 1})", 1, end - 1
    return None, None, None


def _check_core(
    report_partitions: list[PartitionInfo],
    label: str | None,
    core: CoreReport,
    kernel_sector: int,
    warnings: list[str],
) -> None:
    expected = [(kernel_sector + 1, core.sectors - 1)] if core.sectors > 1 else []
    runs = [(start, length) for start, length, _seg in core.blocklists]
    if runs and runs[0][0] != kernel_sector + 1:
        warnings.append(
            f"core.img's first blocklist starts at LBA {runs[0][0]}, not at "
            f"kernel_sector + 1 = {kernel_sector + 1}"
        )
    elif len(runs) == 1 and runs != expected and runs[0][1] < core.sectors - 1:
        warnings.append(
            f"core.img's blocklist covers {runs[0][1] + 1} sectors, but core.img "
            f"needs {core.sectors}"
        )
    end = kernel_sector + max(core.sectors, 1 + sum(length for _s, length in runs)) - 1
    for part in report_partitions:
        if part.type in ("5", "f", "85") or part.type == str(gpt.BIOS_BOOT).upper():
            continue
        if part.size and kernel_sector <= part.start + part.size - 1 and part.start <= end:
            warnings.append(
                f"core.img (LBA {kernel_sector}-{end}) overlaps partition "
                f"{part.number} (LBA {part.start}-{part.start + part.size - 1})"
            )
    if core.embedding_sectors is not None and core.sectors > core.embedding_sectors:
        warnings.append(
            f"core.img needs {core.sectors} sectors ({core.size:,} bytes) but the "
            f"{core.embedding_area} holds {core.embedding_sectors}"
        )
    if core.prefix is None:
        warnings.append("core.img has no prefix: GRUB will drop to a rescue prompt")
        return
    where = parse_prefix(core.prefix)
    if where.drive is not None and where.drive != "hd0":
        warnings.append(
            f"the prefix {core.prefix!r} names drive {where.drive}; this image boots "
            "as hd0 when it is the first disk"
        )
    number = where.partition_number
    if number is None:
        if where.drive is None:
            warnings.append(
                f"the prefix {core.prefix!r} names no device: GRUB uses the partition "
                "it was installed from, which a disk image does not record"
            )
        return
    target = next((p for p in report_partitions if p.number == number), None)
    if target is None:
        warnings.append(
            f"the prefix {core.prefix!r} names partition {number}, which does not "
            "exist: GRUB stops at 'grub rescue>'"
        )
        return
    partmap = where.partition_map
    expected_map = {"dos": "msdos", "gpt": "gpt"}.get(label or "")
    if partmap and expected_map and partmap != expected_map:
        warnings.append(
            f"the prefix {core.prefix!r} uses {partmap} partitions, but the disk "
            f"has a {expected_map} label"
        )
    needed = _PARTMAP_MODULE.get(partmap or expected_map or "")
    if needed and needed not in core.modules:
        warnings.append(f"core.img has no {needed} module: GRUB cannot find partition {number}")
    if target.filesystem is None:
        warnings.append(f"partition {number} (the prefix's) holds no file system bootup recognises")
    else:
        module = _FS_MODULE.get(target.filesystem)
        if module and module not in core.modules:
            warnings.append(
                f"core.img has no {module} module for the {target.filesystem} file "
                f"system of partition {number}: stage 2 cannot be loaded"
            )


def inspect_disk(source: str | os.PathLike[str] | bytes | Image) -> DiskReport:
    """Inspect a disk image: partition table, stage 1 (boot.img), stage 1.5 (core.img).

    Raises:
        BootFormatError: sector 0 cannot be read at all (an empty or tiny file). Everything
            after that is reported as a warning, since a half-broken disk is what people
            need explained.
    """
    warnings: list[str] = []
    with opened(source) as image:
        total = image.size // SECTOR
        if image.size % SECTOR:
            warnings.append(f"the image size {image.size} is not a multiple of {SECTOR}")
        sector0 = image.sector(0, structure="MBR", field="sector 0")
        label: str | None = None
        disk_id: str | None = None
        partitions: list[PartitionInfo] = []
        boot_part: gpt.GPTPartition | None = None
        try:
            table = mbr.read_mbr(image)
        except BootFormatError as exc:
            warnings.append(f"no usable MBR partition table: {exc}")
            table = None
        if table is not None and table.is_protective:
            try:
                found = gpt.read_gpt(image)
            except BootFormatError as exc:
                warnings.append(f"protective MBR but no readable GPT: {exc}")
            else:
                label, disk_id = "gpt", str(found.disk_guid).upper()
                partitions = _gpt_partitions(image, found)
                warnings.extend(found.problems)
                bios = found.by_type(gpt.BIOS_BOOT)
                boot_part = bios[0] if bios else None
        elif table is not None:
            label, disk_id = "dos", f"{table.disk_signature:#010x}"
            partitions = _mbr_partitions(image, table)
            warnings.extend(
                f"partition {part.number} ends at LBA {part.start + part.size - 1}, past the "
                f"end of the image ({total} sectors)"
                for part in partitions
                if part.start + part.size > total
            )
        boot = bootimg.decode_boot_sector(sector0, source=image.name)
        stage1 = Stage1Report(
            boot.is_grub,
            boot.kernel_sector if boot.is_grub else None,
            boot.boot_drive if boot.is_grub else None,
            boot.drive_check_disabled if boot.is_grub else None,
        )
        core_report: CoreReport | None = None
        if not boot.is_grub:
            warnings.append("sector 0 holds no GRUB boot.img: this disk does not boot GRUB (BIOS)")
        elif not 0 < boot.kernel_sector < total:
            warnings.append(
                f"boot.img's kernel_sector {boot.kernel_sector} is outside the disk "
                f"(1..{total - 1})"
            )
        else:
            if label == "gpt" and boot_part is None:
                warnings.append(
                    "GRUB's boot.img is installed on a GPT disk without a BIOS boot "
                    "partition: core.img has no safe place"
                )
            if not boot.drive_check_disabled:
                warnings.append(
                    "boot.img keeps its floppy drive check (installed with "
                    "--allow-floppy or never by grub-bios-setup)"
                )
            core = _read_core(image, boot.kernel_sector, warnings)
            if core is not None:
                area, _first, area_sectors = _embedding(label, partitions, boot_part, total)
                core_report = CoreReport(
                    lba=boot.kernel_sector,
                    size=core.payload_offset + core.compressed_size,
                    sectors=core.sectors,
                    blocklists=tuple((b.start, b.length, b.segment) for b in core.blocklists),
                    prefix=core.prefix,
                    modules=core.module_names,
                    config=core.config,
                    embedding_area=area,
                    embedding_sectors=area_sectors,
                    rs_redundancy=core.rs_redundancy,
                )
                _check_core(partitions, label, core_report, boot.kernel_sector, warnings)
        return DiskReport(
            path=image.name,
            size=image.size,
            label=label,
            disk_id=disk_id,
            partitions=tuple(partitions),
            stage1=stage1,
            core=core_report,
            warnings=tuple(warnings),
        )
