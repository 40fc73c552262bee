r"""GRUB2 stage 1, ``boot.img``: the code in sector 0 (grub-core/boot/i386/pc/boot.S).

Offsets (include/grub/i386/pc/boot.h, boot-chain reference §1.3): ``EB 63 90`` jump at 0x00,
the BPB area 0x03-0x59 (copied from the disk by grub-bios-setup), the u16 kernel address at
0x5A, the u64 ``kernel_sector`` at 0x5C (the LBA of core.img's first sector), the boot drive
at 0x64 (0xFF: take %dl from the BIOS), the drive check at 0x66 (``EB 05`` in the file, ``90
90`` once installed on a hard disk), and ``55 AA`` at 0x1FE. ``file(1)`` only says "DOS/MBR
boot sector", so recognising GRUB takes the message block ``GRUB \0Geom\0Hard Disk\0Read\0
Error``, whose offset varies between builds and is therefore searched for.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from bootup.boot._struct import SECTOR, FieldError, Image, u16, u64

__all__ = (
    "BOOT_DRIVE",
    "BPB_END",
    "BPB_START",
    "DRIVE_CHECK",
    "GRUB_MESSAGES",
    "KERNEL_ADDRESS",
    "KERNEL_SECTOR",
    "NT_MAGIC",
    "PART_END",
    "BootImageError",
    "BootSector",
    "decode_boot_sector",
    "read_boot_img",
)

BPB_START = 0x03
BPB_END = 0x5A
KERNEL_ADDRESS = 0x5A
KERNEL_SECTOR = 0x5C
BOOT_DRIVE = 0x64
DRIVE_CHECK = 0x66
NT_MAGIC = 0x1B8
PART_END = 0x1FE
#: The message block of boot.S; its presence identifies a GRUB2 boot sector.
GRUB_MESSAGES = b"GRUB \0Geom\0Hard Disk\0Read\0 Error"
#: HYBRID_BOOT builds (grub-mkrescue) keep a second kernel_sector copy here.
HYBRID_KERNEL_SECTOR = 0x1B0


class BootImageError(FieldError):
    """A file or sector that should be GRUB's boot.img is not one."""


@dataclass(frozen=True, slots=True)
class BootSector:
    """What sector 0 says about stage 1.

    Attributes:
        is_grub: the GRUB2 message block is present.
        messages_offset: where the message block starts (``None`` when absent).
        kernel_address: the load address of core.img's first sector (0x8000).
        kernel_sector: the LBA of core.img's first sector (meaningful when ``is_grub``).
        boot_drive: 0xFF means "use the drive the BIOS passed in %dl".
        drive_check_disabled: 0x66 holds ``90 90`` (grub-bios-setup on a hard disk).
        has_signature: the sector ends with ``55 AA``.
    """

    is_grub: bool
    messages_offset: int | None
    kernel_address: int
    kernel_sector: int
    boot_drive: int
    drive_check_disabled: bool
    has_signature: bool


def decode_boot_sector(sector: bytes, *, source: str = "<buffer>") -> BootSector:
    """Decode the stage-1 fields of a 512-byte boot sector (any sector decodes)."""
    if len(sector) < SECTOR:
        raise BootImageError(
            "boot sector", "sector", 0, f"{SECTOR} bytes", f"{len(sector)} bytes", source=source
        )
    position = sector.find(GRUB_MESSAGES, 0, SECTOR)
    return BootSector(
        is_grub=position >= 0,
        messages_offset=position if position >= 0 else None,
        kernel_address=u16(sector, KERNEL_ADDRESS),
        kernel_sector=u64(sector, KERNEL_SECTOR),
        boot_drive=sector[BOOT_DRIVE],
        drive_check_disabled=sector[DRIVE_CHECK : DRIVE_CHECK + 2] == b"\x90\x90",
        has_signature=sector[0x1FE:0x200] == b"\x55\xaa",
    )


def read_boot_img(source: str | os.PathLike[str] | bytes) -> bytes:
    """Read a boot.img file and check that it is GRUB's: 512 bytes with the message block.

    Raises:
        BootImageError: wrong size or not GRUB's stage 1.
    """
    data = (
        bytes(source)
        if isinstance(source, bytes)
        else Image(source).read(
            0, min(os.stat(source).st_size, SECTOR + 1), structure="boot.img", field="file"
        )
    )
    name = "<buffer>" if isinstance(source, bytes) else os.fspath(source)
    if len(data) != SECTOR:
        raise BootImageError(
            "boot.img", "size", 0, f"{SECTOR} bytes", f"{len(data)} bytes", source=name
        )
    if data.find(GRUB_MESSAGES) < 0:
        raise BootImageError(
            "boot.img",
            "message block",
            0,
            GRUB_MESSAGES,
            "no GRUB message block",
            source=name,
            note="not GRUB's boot.img",
        )
    if data[0x1FE:] != b"\x55\xaa":
        raise BootImageError("boot.img", "signature", 0x1FE, b"\x55\xaa", data[0x1FE:], source=name)
    return data


def patch_kernel_sector(sector: bytes, lba: int) -> bytes:
    """Return ``sector`` with ``kernel_sector`` set to ``lba`` and the boot drive to 0xFF."""
    out = bytearray(sector)
    out[BOOT_DRIVE] = 0xFF
    struct.pack_into("<Q", out, KERNEL_SECTOR, lba)
    return bytes(out)
