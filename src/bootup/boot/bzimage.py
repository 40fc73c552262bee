"""The Linux x86 boot protocol header of a bzImage (``vmlinuz``).

Spec: Linux ``Documentation/arch/x86/boot.rst``, "The Real-Mode Kernel Header". The header
sits in the second half of the first sector and continues after it: ``setup_sects`` at
0x1F1, the ``0xAA55`` boot flag at 0x1FE, the ``HdrS`` magic at 0x202 and the protocol
version at 0x206. Every later field exists only from some protocol version on, so each one
is read only when the kernel's protocol says it is there (``None`` otherwise).

Why bootup reads it: the boot chain explanation ends at "GRUB will load this file as the
kernel"; the header says which kernel that is (its version string, the same one ``file -b``
and ``uname -v`` print), whether GRUB can load it high (``LOADED_HIGH``), how long a command
line it accepts and how its payload is compressed. The parser is pure (bytes in, a frozen
record out); :func:`read_bzimage` is the thin file front.
"""

from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass
from typing import Final

from bootup.boot._inputs import read_input
from bootup.errors import BootFormatError

__all__ = (
    "HEADER_MAGIC",
    "LOADED_HIGH",
    "BzImageError",
    "BzImageHeader",
    "BzImageMagicError",
    "BzImageTruncatedError",
    "parse_bzimage",
    "read_bzimage",
)

#: The "HdrS" signature at 0x202 (protocol 2.00 and later).
HEADER_MAGIC: Final = b"HdrS"
#: loadflags bit 0: the protected-mode code is loaded at 0x100000 (a bzImage, not a zImage).
LOADED_HIGH: Final = 0x01
_CAN_USE_HEAP: Final = 0x80
_KEEP_SEGMENTS: Final = 0x40
_QUIET_FLAG: Final = 0x20

# Enough to hold every header field up to kernel_info_offset (0x268 + 4).
_HEADER_END: Final = 0x26C

# Payload magics, most specific first (boot.rst "payload_offset"; the kernel's
# arch/x86/boot/compressed/Makefile picks one of these compressors).
_PAYLOAD_MAGICS: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89LZO", "lzo"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
)


class BzImageError(BootFormatError):
    """A kernel image whose boot protocol header is malformed.

    Attributes:
        path: the file, when the data came from one.
        offset: the byte offset of the offending field.
        field: the boot.rst name of the field.
        expected: what the protocol requires there.
        found: what the file holds.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None,
        offset: int,
        field: str,
        expected: str,
        found: str,
    ) -> None:
        where = f"{path}: " if path else ""
        super().__init__(
            f"{where}{message}: field {field} at offset {offset:#x}: "
            f"expected {expected}, found {found}"
        )
        self.path = path
        self.offset = offset
        self.field = field
        self.expected = expected
        self.found = found


class BzImageTruncatedError(BzImageError):
    """The file ends before a header field or the payload it points to."""


class BzImageMagicError(BzImageError):
    """A signature (``0xAA55``, ``HdrS``) is missing: not a bzImage, or a pre-2.00 zImage."""


@dataclass(frozen=True, slots=True)
class BzImageHeader:
    """The decoded real-mode kernel header; fields absent in the kernel's protocol are None.

    Names follow boot.rst. ``setup_sects`` is the effective value (0 on disk means 4).
    """

    file_size: int
    pe_stub: bool
    setup_sects: int
    root_flags: int
    syssize: int
    ram_size: int
    vid_mode: int
    root_dev: int
    protocol: tuple[int, int]
    kernel_version: str | None
    type_of_loader: int
    loadflags: int
    code32_start: int
    ramdisk_image: int
    ramdisk_size: int
    cmd_line_ptr: int | None
    initrd_addr_max: int | None
    kernel_alignment: int | None
    relocatable_kernel: bool | None
    min_alignment: int | None
    xloadflags: int | None
    cmdline_size: int
    hardware_subarch: int | None
    payload_offset: int | None
    payload_length: int | None
    payload_compression: str | None
    pref_address: int | None
    init_size: int | None
    handover_offset: int | None
    kernel_info_offset: int | None

    @property
    def protocol_version(self) -> str:
        """The boot protocol as boot.rst writes it, e.g. ``2.15``."""
        return f"{self.protocol[0]}.{self.protocol[1]:02d}"

    @property
    def loaded_high(self) -> bool:
        """True for a bzImage (protected-mode code at 1 MiB), False for an old zImage."""
        return bool(self.loadflags & LOADED_HIGH)

    @property
    def release(self) -> str | None:
        """The first word of the version string: ``uname -r`` of the kernel."""
        if not self.kernel_version:
            return None
        return self.kernel_version.split(" ", 1)[0]

    @property
    def setup_size(self) -> int:
        """Bytes of real-mode code before the protected-mode kernel: (setup_sects+1)*512."""
        return (self.setup_sects + 1) * 512

    @property
    def syssize_bytes(self) -> int:
        """The protected-mode code size in bytes (syssize counts 16-byte paragraphs)."""
        return self.syssize * 16

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field plus the derived facts."""
        data: dict[str, object] = asdict(self)
        data["protocol"] = self.protocol_version
        data["loaded_high"] = self.loaded_high
        data["release"] = self.release
        data["setup_size"] = self.setup_size
        data["syssize_bytes"] = self.syssize_bytes
        data["loadflag_names"] = self.loadflag_names()
        return data

    def loadflag_names(self) -> list[str]:
        """The set bits of loadflags by their boot.rst names."""
        names = []
        for bit, name in (
            (LOADED_HIGH, "LOADED_HIGH"),
            (_QUIET_FLAG, "QUIET_FLAG"),
            (_KEEP_SEGMENTS, "KEEP_SEGMENTS"),
            (_CAN_USE_HEAP, "CAN_USE_HEAP"),
        ):
            if self.loadflags & bit:
                names.append(name)
        return names


class _Reader:
    """Bounds-checked little-endian field access that names the field on failure."""

    def __init__(self, data: bytes, path: str | None) -> None:
        self.data = data
        self.path = path

    def need(self, offset: int, size: int, field: str) -> None:
        if offset + size > len(self.data):
            raise BzImageTruncatedError(
                "kernel image is truncated",
                path=self.path,
                offset=offset,
                field=field,
                expected=f"{size} byte(s) at {offset:#x}..{offset + size - 1:#x}",
                found=f"file of {len(self.data)} bytes",
            )

    def u8(self, offset: int, field: str) -> int:
        self.need(offset, 1, field)
        return self.data[offset]

    def u16(self, offset: int, field: str) -> int:
        self.need(offset, 2, field)
        value: int = struct.unpack_from("<H", self.data, offset)[0]
        return value

    def u32(self, offset: int, field: str) -> int:
        self.need(offset, 4, field)
        value: int = struct.unpack_from("<I", self.data, offset)[0]
        return value

    def u64(self, offset: int, field: str) -> int:
        self.need(offset, 8, field)
        value: int = struct.unpack_from("<Q", self.data, offset)[0]
        return value


def parse_bzimage(data: bytes, *, path: str | None = None) -> BzImageHeader:
    """Decode the boot protocol header of a kernel image held in memory.

    Args:
        data: the image, at least its setup code; the whole file to also identify the
            payload compression and check that the payload fits.
        path: the file name to put in errors.

    Raises:
        BzImageMagicError: no ``0xAA55`` at 0x1FE or no ``HdrS`` at 0x202.
        BzImageTruncatedError: the data ends inside a field the protocol says exists, or
            before the kernel version string.
        BzImageError: a field holds a value the protocol forbids.
    """
    r = _Reader(data, path)
    boot_flag = r.u16(0x1FE, "boot_flag")
    if boot_flag != 0xAA55:
        raise BzImageMagicError(
            "not a Linux kernel image",
            path=path,
            offset=0x1FE,
            field="boot_flag",
            expected="0xaa55",
            found=f"{boot_flag:#06x}",
        )
    r.need(0x202, 4, "header")
    if data[0x202:0x206] != HEADER_MAGIC:
        raise BzImageMagicError(
            "no boot protocol header (a pre-2.00 zImage or not a kernel)",
            path=path,
            offset=0x202,
            field="header",
            expected=repr(HEADER_MAGIC),
            found=repr(bytes(data[0x202:0x206])),
        )
    raw_version = r.u16(0x206, "version")
    major, minor = raw_version >> 8, raw_version & 0xFF
    if major != 2:
        raise BzImageError(
            "unknown boot protocol major version",
            path=path,
            offset=0x206,
            field="version",
            expected="0x02xx",
            found=f"{raw_version:#06x}",
        )

    def at_least(wanted_minor: int) -> bool:
        return minor >= wanted_minor

    setup_sects = r.u8(0x1F1, "setup_sects") or 4
    # syssize is 16 bits before protocol 2.04 (the upper half belonged to swap_dev).
    syssize = r.u32(0x1F4, "syssize") if at_least(4) else r.u16(0x1F4, "syssize")
    version_ptr = r.u16(0x20E, "kernel_version")
    kernel_version = _version_string(r, 0x200 + version_ptr, setup_sects) if version_ptr else None
    payload_offset = r.u32(0x248, "payload_offset") if at_least(8) else None
    payload_length = r.u32(0x24C, "payload_length") if at_least(8) else None
    compression = None
    if payload_offset is not None and payload_length is not None and payload_length:
        start = (setup_sects + 1) * 512 + payload_offset
        if len(data) > start:
            r.need(start, payload_length, "payload_length")
            compression = _compression(data[start : start + 8])
    return BzImageHeader(
        file_size=len(data),
        pe_stub=data[:2] == b"MZ",
        setup_sects=setup_sects,
        root_flags=r.u16(0x1F2, "root_flags"),
        syssize=syssize,
        ram_size=r.u16(0x1F8, "ram_size"),
        vid_mode=r.u16(0x1FA, "vid_mode"),
        root_dev=r.u16(0x1FC, "root_dev"),
        protocol=(major, minor),
        kernel_version=kernel_version,
        type_of_loader=r.u8(0x210, "type_of_loader"),
        loadflags=r.u8(0x211, "loadflags"),
        code32_start=r.u32(0x214, "code32_start"),
        ramdisk_image=r.u32(0x218, "ramdisk_image"),
        ramdisk_size=r.u32(0x21C, "ramdisk_size"),
        cmd_line_ptr=r.u32(0x228, "cmd_line_ptr") if at_least(2) else None,
        initrd_addr_max=r.u32(0x22C, "initrd_addr_max") if at_least(3) else None,
        kernel_alignment=r.u32(0x230, "kernel_alignment") if at_least(5) else None,
        relocatable_kernel=bool(r.u8(0x234, "relocatable_kernel")) if at_least(5) else None,
        min_alignment=r.u8(0x235, "min_alignment") if at_least(10) else None,
        xloadflags=r.u16(0x236, "xloadflags") if at_least(12) else None,
        # Before 2.06 the maximum command line is 255 characters (boot.rst).
        cmdline_size=r.u32(0x238, "cmdline_size") if at_least(6) else 255,
        hardware_subarch=r.u32(0x23C, "hardware_subarch") if at_least(7) else None,
        payload_offset=payload_offset,
        payload_length=payload_length,
        payload_compression=compression,
        pref_address=r.u64(0x258, "pref_address") if at_least(10) else None,
        init_size=r.u32(0x260, "init_size") if at_least(10) else None,
        handover_offset=r.u32(0x264, "handover_offset") if at_least(11) else None,
        kernel_info_offset=r.u32(0x268, "kernel_info_offset") if at_least(15) else None,
    )


def _version_string(r: _Reader, offset: int, setup_sects: int) -> str:
    """The NUL-terminated version string; it must lie inside the setup code."""
    setup_end = (setup_sects + 1) * 512
    if offset >= setup_end:
        raise BzImageError(
            "kernel_version points outside the setup code",
            path=r.path,
            offset=0x20E,
            field="kernel_version",
            expected=f"0x200 + pointer < {setup_end:#x}",
            found=f"{offset:#x}",
        )
    r.need(offset, 1, "kernel_version")
    end = r.data.find(b"\0", offset, setup_end)
    if end < 0:
        raise BzImageError(
            "kernel version string is not terminated",
            path=r.path,
            offset=offset,
            field="kernel_version",
            expected=f"a NUL before {setup_end:#x}",
            found="no NUL",
        )
    return r.data[offset:end].decode("ascii", errors="replace")


def _compression(head: bytes) -> str:
    for magic, name in _PAYLOAD_MAGICS:
        if head.startswith(magic):
            return name
    return "unknown"


def read_bzimage(path: str | os.PathLike[str]) -> BzImageHeader:
    """Read and decode a kernel image file (the whole file, to check its payload too)."""
    name = os.fspath(path)
    return parse_bzimage(read_input(name, "the kernel image"), path=name)
