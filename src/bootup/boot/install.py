"""Install GRUB's boot.img and core.img into a disk image, as ``grub-bios-setup`` does.

This is a port of the BIOS embedding path of GRUB's util/setup.c (boot-chain reference §1.5,
Appendix A.2), working on an image file instead of a device, so it needs neither root nor
loop devices:

1. boot.img must be 512 bytes, core.img at least 512 bytes and at most 0xFFFF sectors.
2. The disk's BPB (0x03-0x59) is copied into boot.img; on a hard disk the drive check at 0x66
   becomes ``90 90``; the disk signature and partition table (0x1B8-0x1FD) are kept.
3. The embedding sectors: on an msdos label, sectors 1 .. (lowest partition start - 1) of the
   MBR and of every EBR (pc_partition_map_embed, skipping sectors that carry the signatures of
   known software); on GPT, the first partition of type BIOS boot (gpt_partition_map_embed).
   Without Reed-Solomon codes GRUB takes exactly as many sectors as core.img has.
4. diskboot's blocklists are rewritten (contiguous sectors merged), boot.img gets
   ``kernel_sector`` = the first embedding sector and boot drive 0xFF.
5. core.img is padded with zeros to whole sectors and written, then boot.img to sector 0.
   With Reed-Solomon codes (the real tool's default, ``reed_solomon=True`` here) GRUB takes up
   to twice core.img's sectors, records the parity size at core.img+0x210 and fills the extra
   sectors with parity (:func:`bootup.boot.coreimg.add_reed_solomon`).

The result is byte-identical to the real tool, with and without ``--no-rs-codes``
(tests/conformance/test_grub_bios_setup.py).
Every write goes through :func:`bootup.boot._struct.patch_image`, so an interrupted install
leaves the old image intact.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from bootup.boot import bootimg, coreimg, gpt, mbr
from bootup.boot._struct import SECTOR, Image, Patch, opened, patch_image, u16
from bootup.errors import BootFormatError

__all__ = (
    "DEFAULT_BOOT_IMG",
    "EMBED_SIGNATURES",
    "MAX_CORE_SECTORS",
    "EmbeddingError",
    "InstallError",
    "InstallResult",
    "embedding_area",
    "install_grub",
    "plan_install",
)

logger = logging.getLogger(__name__)

DEFAULT_BOOT_IMG = Path("/usr/lib/grub/i386-pc/boot.img")
#: (0x78000 - GRUB_KERNEL_I386_PC_LINK_ADDR 0x9000) / 512: the most sectors setup will use.
MAX_CORE_SECTORS = (0x78000 - 0x9000) // SECTOR
#: Software known to store data in the MBR gap; GRUB skips those sectors (partmap/msdos.c).
EMBED_SIGNATURES: tuple[tuple[str, bytes], ...] = (
    ("ZISD", b"ZISD"),
    ("FlexNet", b"\xd4\x41\xa0\xf5\x03\x00\x03\x00"),
    ("FlexNet", b"\xd8\x41\xa0\xf5\x02\x00\x02\x00"),
    (
        "HP Backup and Recovery Manager (?)",
        b"\x70\x8a\x5d\x46\x35\xc5\x1b\x93\xae\x3d\x86\xfd\xb1\x55\x3e\xe0",
    ),
    ("HighPoint RAID controller", b"ycgl"),
    ("Acer registration utility (?)", b"GREGRegDone.Tag\x00"),
)


class InstallError(BootFormatError):
    """GRUB cannot be installed into this image (no label, bad core.img, damaged GPT...).

    Attributes:
        image: the disk image.
        reason: GRUB's own wording where there is one ("no signature", "dummy mbr").
    """

    def __init__(self, image: str, reason: str) -> None:
        self.image = image
        self.reason = reason
        super().__init__(f"{image}: cannot install GRUB: {reason}")


class EmbeddingError(InstallError):
    """core.img does not fit the embedding area (the MBR gap or the BIOS boot partition).

    Attributes:
        needed: the sectors core.img needs.
        available: the sectors of the embedding area.
        area: a description of the area ("sectors 1-62 before the first partition at 63").
    """

    def __init__(self, image: str, needed: int, available: int, area: str, hint: str) -> None:
        self.needed = needed
        self.available = available
        self.area = area
        super().__init__(
            image,
            f"embedding area too small: core.img needs {needed} sectors "
            f"({needed * SECTOR:,} bytes) but {area} holds {available} sectors "
            f"({available * SECTOR:,} bytes); {hint}",
        )


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What was (or would be) written.

    Attributes:
        label: ``"msdos"`` or ``"gpt"``.
        first_sector: the LBA of core.img's first sector (boot.img's ``kernel_sector``).
        sectors: every sector core.img occupies, in order.
        core_size: the size of core.img in bytes.
        area_sectors: the sectors the embedding area offers.
        boot_sector: the 512 bytes written to LBA 0.
        warnings: what GRUB would warn about (sectors of other software, small partitions).
    """

    label: str
    first_sector: int
    sectors: tuple[int, ...]
    core_size: int
    area_sectors: int
    boot_sector: bytes
    warnings: tuple[str, ...]


def _msdos_gap(image: Image) -> int:
    """The lowest partition start over the MBR and the EBR chain (``end`` in msdos.c)."""
    table = mbr.read_mbr(image)
    starts = [p.start for p in table.primary]
    starts += [p.start for p in table.logical]
    ebrs = [p.ebr_lba for p in table.logical if p.ebr_lba is not None]
    # GRUB also counts entries of type != 0 with a zero length; read_mbr drops those.
    sector = table.raw
    for slot in range(4):
        offset = mbr.PARTITION_TABLE_OFFSET + 16 * slot
        if sector[offset + 4] != 0:
            starts.append(struct.unpack_from("<I", sector, offset + 8)[0])
    starts += ebrs
    return min(starts) if starts else 1 << 64


def embedding_area(image: Image) -> tuple[str, int, int, str]:
    """Find where GRUB would embed core.img: ``(label, first LBA, sectors, description)``.

    Raises:
        InstallError: no partition label, a protective MBR without a readable GPT, or a GPT
            without a BIOS boot partition.
    """
    sector0 = image.sector(0, structure="MBR", field="sector 0")
    if sector0[0x1FE:0x200] != b"\x55\xaa":
        raise InstallError(image.name, "no signature (sector 0 does not end with 55 AA)")
    table = mbr.parse_mbr_sector(sector0, source=image.name)
    if table.is_protective:
        found = gpt.read_gpt(image)
        if found.using_backup:
            raise InstallError(
                image.name,
                f"the primary GPT is damaged ({found.primary_error}); GRUB reads the primary "
                "header, repair the table first (sfdisk --relocate or sgdisk -e)",
            )
        boot = found.by_type(gpt.BIOS_BOOT)
        if not boot:
            raise InstallError(
                image.name,
                "this GPT partition label contains no BIOS Boot Partition; embedding won't be "
                f"possible (add a partition of type {gpt.BIOS_BOOT})",
            )
        part = boot[0]
        return "gpt", part.first_lba, part.size, f"BIOS boot partition {part.number}"
    end = _msdos_gap(image)
    if end <= 1:
        raise InstallError(
            image.name,
            "this msdos-style partition label has no post-MBR gap; embedding won't be possible",
        )
    size = min(end, image.size // SECTOR) - 1
    where = f"the MBR gap (sectors 1-{size}, before the first partition at {end})"
    return "msdos", 1, size, where


def plan_install(
    image_path: str | os.PathLike[str] | bytes | Image,
    core_img: bytes,
    boot_img: bytes,
    *,
    allow_floppy: bool = False,
    reed_solomon: bool = False,
) -> tuple[InstallResult, list[Patch]]:
    """Compute what :func:`install_grub` would write, without writing anything."""
    with opened(image_path) as image:
        return _plan(
            image, core_img, boot_img, allow_floppy=allow_floppy, reed_solomon=reed_solomon
        )


def _plan(
    image: Image, core_img: bytes, boot_img: bytes, *, allow_floppy: bool, reed_solomon: bool
) -> tuple[InstallResult, list[Patch]]:
    boot = bytearray(bootimg.read_boot_img(bytes(boot_img)))
    core_size = len(core_img)
    if core_size < SECTOR:
        raise InstallError(image.name, f"the size of core.img ({core_size} bytes) is too small")
    if core_size > 0xFFFF * SECTOR:
        raise InstallError(image.name, f"the size of core.img ({core_size} bytes) is too large")
    core_sectors = -(-core_size // SECTOR)
    no_rs_length = u16(core_img, SECTOR + coreimg.NO_RS_LENGTH) if core_size >= 2 * SECTOR else 0
    if no_rs_length == 0xFFFF:
        raise InstallError(image.name, "core.img version mismatch (no_reed_solomon_length 0xffff)")

    old = image.sector(0, structure="MBR", field="sector 0")
    boot[bootimg.BPB_START : bootimg.BPB_END] = old[bootimg.BPB_START : bootimg.BPB_END]
    if not allow_floppy:
        boot[bootimg.DRIVE_CHECK : bootimg.DRIVE_CHECK + 2] = b"\x90\x90"
    boot[bootimg.NT_MAGIC : bootimg.PART_END] = old[bootimg.NT_MAGIC : bootimg.PART_END]

    label, first, area, where = embedding_area(image)
    # With parity GRUB takes up to twice core.img's sectors; with --no-rs-codes exactly those.
    maxsec = min(core_sectors * (2 if reed_solomon else 1), MAX_CORE_SECTORS)
    warnings: list[str] = []
    if label == "gpt":
        if area < core_sectors:
            raise EmbeddingError(
                image.name, core_sectors, area, where, "your BIOS Boot Partition is too small"
            )
        if area * SECTOR < 1 << 20:
            warnings.append(f"{where} is smaller than the recommended 1 MiB ({area} sectors)")
        sectors = [first + i for i in range(min(area, maxsec))]
    else:
        if area < core_sectors:
            hint = (
                "move the first partition to LBA 2048"
                if core_sectors > 62
                else "your embedding area is unusually small"
            )
            raise EmbeddingError(image.name, core_sectors, area, where, hint)
        sectors = _avoid_signatures(image, area, maxsec, core_sectors, warnings)
    if len(sectors) < core_sectors:
        raise EmbeddingError(
            image.name,
            core_sectors,
            len(sectors),
            where,
            "other software is using the embedding area, and there is not enough room",
        )

    core = bytearray(core_img) + bytes(len(sectors) * SECTOR - core_size)
    if reed_solomon:
        redundancy = len(sectors) * SECTOR - core_size
        struct.pack_into("<I", core, SECTOR + coreimg.RS_REDUNDANCY, redundancy)
        data_start = SECTOR + no_rs_length
        coreimg.add_reed_solomon(core, data_start, core_size - data_start, redundancy)
    try:
        first_sector = coreimg.write_blocklists(core, sectors)
    except coreimg.CoreImageError as exc:
        raise InstallError(image.name, f"core.img: {exc}") from exc
    bootimg_bytes = bootimg.patch_kernel_sector(bytes(boot), first_sector)
    patches = [
        Patch(lba * SECTOR, bytes(core[i * SECTOR : (i + 1) * SECTOR]))
        for i, lba in enumerate(sectors)
    ]
    patches.append(Patch(0, bootimg_bytes))
    for warning in warnings:
        logger.warning("%s: %s", image.name, warning)
    result = InstallResult(
        label, first_sector, tuple(sectors), core_size, area, bootimg_bytes, tuple(warnings)
    )
    return result, patches


def _avoid_signatures(
    image: Image, area: int, maxsec: int, needed: int, warnings: list[str]
) -> list[int]:
    """pc_partition_map_embed's loop: skip gap sectors that other software has marked."""
    count = min(area, maxsec)
    available = area
    sectors = [1 + i for i in range(count)]
    index = 0
    while index < count:
        data = image.sector(sectors[index], structure="MBR gap", field=f"sector {sectors[index]}")
        owner = next((name for name, sig in EMBED_SIGNATURES if data.startswith(sig)), None)
        if owner is None:
            index += 1
            continue
        warnings.append(f"sector {sectors[index]} is already in use by {owner!r}; avoiding it")
        available -= 1
        count = min(count, available)
        for j in range(index, count):
            sectors[j] += 1
        if available < needed:
            break
    return sectors[:count]


def install_grub(
    image_path: str | os.PathLike[str],
    core_img: bytes,
    boot_img: bytes | None = None,
    *,
    allow_floppy: bool = False,
    reed_solomon: bool = False,
) -> InstallResult:
    """Embed ``core_img`` and install ``boot_img`` into a disk image, atomically.

    Args:
        image_path: a raw disk image with an msdos or GPT label.
        core_img: the bytes of a core.img made by ``grub-mkimage -O i386-pc``.
        boot_img: the bytes of boot.img (default: Debian's /usr/lib/grub/i386-pc/boot.img).
        allow_floppy: keep boot.img's drive check (grub-bios-setup ``--allow-floppy``).
        reed_solomon: take up to twice core.img's sectors and fill them with Reed-Solomon
            parity, as grub-bios-setup does without ``--no-rs-codes`` (grub-install's
            default); the parity lets GRUB repair a partly overwritten core.img.

    Returns:
        Where core.img went and what boot.img now says.

    Raises:
        EmbeddingError: core.img does not fit the MBR gap or the BIOS boot partition.
        InstallError: the image cannot take GRUB (no label, no BIOS boot partition, ...).
        BootFormatError: boot.img, core.img or the partition table is malformed.
    """
    if boot_img is None:
        try:
            boot_img = DEFAULT_BOOT_IMG.read_bytes()
        except FileNotFoundError:
            raise InstallError(
                os.fspath(image_path),
                f"no boot.img given and {DEFAULT_BOOT_IMG} is missing (Debian package grub-pc-bin)",
            ) from None
    result, patches = plan_install(
        image_path, core_img, boot_img, allow_floppy=allow_floppy, reed_solomon=reed_solomon
    )
    patch_image(image_path, patches)
    return result
