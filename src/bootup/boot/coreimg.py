"""GRUB2's ``core.img`` ("stage 1.5"): diskboot.img + lzma_decompress.img + LZMA(kernel + modules).

Layout (boot-chain reference §1.4, Appendix A.4; grub-core/boot/i386/pc/diskboot.S,
startup_raw.S, util/mkimage.c, include/grub/kernel.h):

* sector 0 is diskboot.img: it prints "loading" and reads the rest of core.img through
  blocklists stored at the end of the sector, growing downwards from 0x1F4. Each entry is
  ``{u64 start; u16 len; u16 segment}`` (12 bytes); an entry with ``len == 0`` ends the list.
  grub-mkimage writes ``{2, sectors - 1, 0x820}``; grub-bios-setup rewrites it.
* sector 1 starts lzma_decompress.img, whose header holds compressed_size (+0x08),
  uncompressed_size (+0x0C), reed_solomon_redundancy (+0x10), no_reed_solomon_length
  (+0x14) and boot_device (+0x18).
* the compressed payload (raw LZMA1: lc=3, lp=0, pb=2, 64 KiB dictionary) follows the
  decompressor and ends the file (before any Reed-Solomon parity). Decompressed, it ends
  with the module area: ``'mimg'``, u32 offset (12), u32 size, then objects ``{u32 type;
  u32 size}`` aligned to 4 bytes: 0 ELF module (named by its ``.modname`` section),
  1 memdisk, 2 embedded config, 3 prefix, 4 pubkey, 5 dtb, 6 disable_shim_lock.

Decoding answers offline "where will stage 2 look for /boot/grub?" (the prefix) and "which
modules are built in?", which nothing else (file, sfdisk) can tell.
"""

from __future__ import annotations

import itertools
import lzma
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from bootup.boot._struct import SECTOR, FieldError, Image, u16, u32

__all__ = (
    "BLOCKLIST_FIRST",
    "BLOCKLIST_SIZE",
    "FIRST_SEGMENT",
    "Blocklist",
    "CoreImage",
    "CoreImageError",
    "CoreModule",
    "add_reed_solomon",
    "decode_core_img",
    "module_names",
    "read_blocklists",
    "write_blocklists",
)

BLOCKLIST_FIRST = 0x1F4
BLOCKLIST_SIZE = 12
#: The segment the first blocklist loads to: KERNEL_SEG 0x800 + one sector (0x20 paragraphs).
FIRST_SEGMENT = 0x820
COMPRESSED_SIZE = 0x08
UNCOMPRESSED_SIZE = 0x0C
RS_REDUNDANCY = 0x10
NO_RS_LENGTH = 0x14
BOOT_DEVICE = 0x18
#: GRUB_DECOMPRESSOR_I386_PC_MAX_DECOMPRESSOR_SIZE: where probing for the payload stops.
MAX_DECOMPRESSOR = 0xE00
MODULE_MAGIC = b"mimg"
#: A cap on the decompressed size we accept, so a forged header cannot exhaust memory.
MAX_UNCOMPRESSED = 16 << 20
LZMA_FILTERS = ({"id": lzma.FILTER_LZMA1, "lc": 3, "lp": 0, "pb": 2, "dict_size": 1 << 16},)

OBJECT_TYPES = {
    0: "elf",
    1: "memdisk",
    2: "config",
    3: "prefix",
    4: "pubkey",
    5: "dtb",
    6: "disable_shim_lock",
}

_BLOCK = struct.Struct("<QHH")


class CoreImageError(FieldError):
    """A core.img (or the core sectors of a disk) does not decode."""


@dataclass(frozen=True, slots=True)
class Blocklist:
    """One diskboot blocklist entry: ``length`` sectors from LBA ``start`` to ``segment``:0."""

    start: int
    length: int
    segment: int


@dataclass(frozen=True, slots=True)
class CoreModule:
    """One object of the module area: its type name, size and (for ELF modules) name."""

    type: str
    size: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class CoreImage:
    """The decoded facts of a core.img.

    Attributes:
        size: the bytes decoded (the file size, or the sectors read from a disk).
        blocklists: diskboot's blocklists, first (0x1F4) to last, without the terminator.
        compressed_size, uncompressed_size, rs_redundancy, no_rs_length, boot_device:
            the lzma_decompress.img header fields.
        payload_offset: where the LZMA payload starts, from the start of core.img.
        modules: the objects of the module area, in order.
        prefix: the embedded prefix (``(hd0,msdos1)/boot/grub``), or ``None``.
        config: the embedded early config, or ``None``.
    """

    size: int
    blocklists: tuple[Blocklist, ...]
    compressed_size: int
    uncompressed_size: int
    rs_redundancy: int
    no_rs_length: int
    boot_device: int
    payload_offset: int
    modules: tuple[CoreModule, ...]
    prefix: str | None
    config: str | None

    @property
    def module_names(self) -> tuple[str, ...]:
        """The names of the ELF modules, in image order."""
        return tuple(m.name for m in self.modules if m.type == "elf")

    @property
    def sectors(self) -> int:
        """The sectors core.img needs (without Reed-Solomon parity)."""
        return (self.payload_offset + self.compressed_size + SECTOR - 1) // SECTOR


def read_blocklists(core: bytes, *, source: str = "<buffer>", base: int = 0) -> list[Blocklist]:
    """Read diskboot's blocklists from 0x1F4 downwards up to the all-zero terminator."""
    if len(core) < SECTOR:
        raise CoreImageError(
            "core.img",
            "diskboot sector",
            base,
            f"{SECTOR} bytes",
            f"{len(core)} bytes",
            source=source,
        )
    lists: list[Blocklist] = []
    offset = BLOCKLIST_FIRST
    while True:
        if offset <= 0:
            raise CoreImageError(
                "core.img",
                "blocklist terminator",
                base + BLOCKLIST_FIRST,
                "an entry with len 0",
                "none in sector 0",
                source=source,
                note="no terminator in the core image",
            )
        start, length, segment = _BLOCK.unpack_from(core, offset)
        if length == 0:
            return lists
        lists.append(Blocklist(start, length, segment))
        offset -= BLOCKLIST_SIZE


def write_blocklists(core: bytearray, sectors: Sequence[int]) -> int:
    """Point diskboot at ``sectors`` as grub-bios-setup does; return the first sector.

    The old lists are cleared (down to their terminator), the first sector is left to
    boot.img's ``kernel_sector``, and the remaining sectors become runs, contiguous ones
    merged, each loading at the segment that follows the previous run's data.
    """
    if len(core) < SECTOR or not sectors:
        raise CoreImageError(
            "core.img",
            "diskboot sector",
            0,
            f"{SECTOR} bytes and at least one target sector",
            f"{len(core)} bytes, {len(sectors)} sectors",
        )
    offset = BLOCKLIST_FIRST
    while u16(core, offset + 8):
        core[offset : offset + BLOCKLIST_SIZE] = bytes(BLOCKLIST_SIZE)
        offset -= BLOCKLIST_SIZE
        if offset <= 0:
            raise CoreImageError(
                "core.img",
                "blocklist terminator",
                BLOCKLIST_FIRST,
                "an entry with len 0",
                "none",
                note="no terminator in the core image",
            )
    first, rest = sectors[0], sectors[1:]
    offset = BLOCKLIST_FIRST
    segment = FIRST_SEGMENT
    previous: tuple[int, int] | None = None  # (offset of the entry, end sector of its run)
    for sector in rest:
        if previous is not None and previous[1] == sector:
            entry = previous[0]
            start, length, seg = _BLOCK.unpack_from(core, entry)
            _BLOCK.pack_into(core, entry, start, length + 1, seg)
            previous = (entry, sector + 1)
        else:
            _BLOCK.pack_into(core, offset, sector, 1, segment)
            previous = (offset, sector + 1)
            offset -= BLOCKLIST_SIZE
            if offset <= 0 or u16(core, offset + 8):
                raise CoreImageError(
                    "core.img",
                    "blocklists",
                    offset,
                    "free entries",
                    "none",
                    note="the sectors of the core file are too fragmented",
                )
        segment += SECTOR >> 4
    _BLOCK.pack_into(core, offset, 0, 0, 0)
    return first


def _elf_modname(obj: bytes) -> str:
    """The ``.modname`` of a 32-bit little-endian ELF module, or "" when it has none."""
    if len(obj) < 52 or obj[:4] != b"\x7fELF" or obj[4] != 1 or obj[5] != 1:
        return ""
    shoff, shentsize, shnum, shstrndx = u32(obj, 32), u16(obj, 46), u16(obj, 48), u16(obj, 50)
    if shentsize < 40 or shstrndx >= shnum or shoff + shnum * shentsize > len(obj):
        return ""

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        return u32(obj, base), u32(obj, base + 16), u32(obj, base + 20)  # name, offset, size

    _n, str_off, str_size = section(shstrndx)
    strtab = obj[str_off : str_off + str_size]
    for index in range(shnum):
        name_off, off, size = section(index)
        name = strtab[name_off : strtab.find(b"\0", name_off)] if name_off < len(strtab) else b""
        if name == b".modname":
            return obj[off : off + size].split(b"\0", 1)[0].decode("ascii", "replace")
    return ""


def _modules(data: bytes, *, source: str) -> tuple[tuple[CoreModule, ...], str | None, str | None]:
    position = -1
    search_end = len(data)
    while True:
        position = data.rfind(MODULE_MAGIC, 0, search_end)
        if position < 0 or position + 12 > len(data):
            raise CoreImageError(
                "core.img payload",
                "module info magic",
                0,
                MODULE_MAGIC,
                "no module area ending the image",
                source=source,
            )
        offset, size = u32(data, position + 4), u32(data, position + 8)
        if offset >= 12 and position + size == len(data) and offset <= size:
            break
        search_end = position + len(MODULE_MAGIC) - 1
    modules: list[CoreModule] = []
    prefix = config = None
    cursor, end = position + offset, position + size
    while cursor + 8 <= end:
        kind, length = u32(data, cursor), u32(data, cursor + 4)
        if length < 8 or cursor + length > end:
            raise CoreImageError(
                "core.img payload",
                "module header size",
                cursor,
                f"8..{end - cursor}",
                length,
                source=source,
                note="offset is in the decompressed payload",
            )
        body = data[cursor + 8 : cursor + length]
        type_name = OBJECT_TYPES.get(kind, f"type {kind}")
        name = ""
        if kind == 0:
            name = _elf_modname(body)
        elif kind in (2, 3):
            text = body.split(b"\0", 1)[0].decode("utf-8", "replace")
            if kind == 3:
                prefix = text
            else:
                config = text
        modules.append(CoreModule(type_name, length, name))
        cursor += (length + 3) & ~3
    return tuple(modules), prefix, config


def _decompress(payload: bytes, expected: int) -> bytes | None:
    try:
        out = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=LZMA_FILTERS).decompress(
            payload, max_length=expected
        )
    except lzma.LZMAError:
        return None
    return out if len(out) == expected else None


def decode_core_img(
    source: str | os.PathLike[str] | bytes, *, name: str | None = None, base: int = 0
) -> CoreImage:
    """Decode a core.img file (or the bytes of one, e.g. read from a disk's embedding area).

    Args:
        source: the file, or its bytes.
        name: the name used in errors (defaults to the path).
        base: the absolute offset of the data in ``name`` (for errors about disk sectors).

    Raises:
        CoreImageError: a field or the payload does not decode; names the field and offset.
    """
    if isinstance(source, bytes | bytearray):
        data, label = bytes(source), name or "<buffer>"
    else:
        with Image(source) as image:
            data = image.read(0, image.size, structure="core.img", field="file")
            label = name or image.name
    if len(data) < 2 * SECTOR:
        raise CoreImageError(
            "core.img", "size", base, f">= {2 * SECTOR} bytes", f"{len(data)} bytes", source=label
        )
    if b"loading\0" not in data[:SECTOR]:
        raise CoreImageError(
            "core.img",
            "diskboot",
            base,
            "diskboot.img ('loading' message)",
            data[:16],
            source=label,
        )
    blocklists = read_blocklists(data, source=label, base=base)
    header = SECTOR
    compressed = u32(data, header + COMPRESSED_SIZE)
    uncompressed = u32(data, header + UNCOMPRESSED_SIZE)
    redundancy = u32(data, header + RS_REDUNDANCY)
    no_rs = u16(data, header + NO_RS_LENGTH)
    boot_device = u32(data, header + BOOT_DEVICE)
    if not 0 < compressed <= len(data) - header:
        raise CoreImageError(
            "core.img",
            "compressed_size",
            base + header + COMPRESSED_SIZE,
            f"1..{len(data) - header}",
            compressed,
            source=label,
        )
    if not 0 < uncompressed <= MAX_UNCOMPRESSED:
        raise CoreImageError(
            "core.img",
            "uncompressed_size",
            base + header + UNCOMPRESSED_SIZE,
            f"1..{MAX_UNCOMPRESSED}",
            uncompressed,
            source=label,
        )
    # mkimage puts the payload right after the decompressor, ending the image; with
    # Reed-Solomon parity (or a padded disk read) the end moves, so probe if needed.
    candidates = [len(data) - header - compressed - redundancy, len(data) - header - compressed]
    candidates += list(range(no_rs, MAX_DECOMPRESSOR + 1))
    decoded = None
    payload_offset = 0
    for candidate in dict.fromkeys(candidates):
        if not 0 < candidate <= MAX_DECOMPRESSOR or header + candidate + compressed > len(data):
            continue
        start = header + candidate
        decoded = _decompress(data[start : start + compressed], uncompressed)
        if decoded is not None and MODULE_MAGIC in decoded:
            payload_offset = start
            break
        decoded = None
    if decoded is None:
        raise CoreImageError(
            "core.img",
            "LZMA payload",
            base + header,
            f"raw LZMA1 decoding to {uncompressed} bytes",
            "no offset after the decompressor decodes",
            source=label,
        )
    modules, prefix, config = _modules(decoded, source=label)
    return CoreImage(
        size=len(data),
        blocklists=tuple(blocklists),
        compressed_size=compressed,
        uncompressed_size=uncompressed,
        rs_redundancy=redundancy,
        no_rs_length=no_rs,
        boot_device=boot_device,
        payload_offset=payload_offset,
        modules=modules,
        prefix=prefix,
        config=config,
    )


# -- Reed-Solomon parity (grub-bios-setup without --no-rs-codes) ---------------------------
#
# The format, as GRUB's lib/reed_solomon.c defines it: GF(2^8) with the primitive polynomial
# x^8+x^4+x^3+x^2+1 and generator 2; a systematic code whose generator polynomial is
# (x - a^0)(x - a^1)...(x - a^(r-1)), the parity being data(x) * x^r mod g(x) with the first
# byte as the highest coefficient. The code is interleaved by sector: byte i of every data
# sector forms one codeword with byte i of every parity sector, so the bytes at column i (of
# 512) are encoded independently; a column whose data or parity ends before the last,
# partial sector simply has one row less. Data and parity are cut into blocks of at most
# 200 sectors together, split in proportion. Because column j of every row is byte j of a
# sector, a whole row of a column range is one ``bytes`` slice, and the long division runs
# on rows at once (multiplication by a constant is a ``bytes.translate`` table).

RS_BLOCK_SECTORS = 200
_GF_EXP = [0] * 510
_GF_LOG = [0] * 256


def _init_gf() -> None:
    value = 1
    for power in range(255):
        _GF_EXP[power] = _GF_EXP[power + 255] = value
        _GF_LOG[value] = power
        value <<= 1
        if value & 0x100:
            value ^= 0x11D


_init_gf()


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _GF_EXP[_GF_LOG[a] + _GF_LOG[b]]


_MUL_TABLES: dict[int, bytes] = {}


def _mul_table(factor: int) -> bytes:
    table = _MUL_TABLES.get(factor)
    if table is None:
        table = _MUL_TABLES[factor] = bytes(_gf_mul(factor, v) for v in range(256))
    return table


def _generator(parity: int) -> list[int]:
    """Coefficients (highest degree first) of prod_{j<parity} (x - a^j)."""
    poly = [1]
    for power in range(parity):
        root = _GF_EXP[power]
        product = [*poly, 0]
        for index, coefficient in enumerate(poly):
            product[index + 1] ^= _gf_mul(coefficient, root)
        poly = product
    return poly


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def _encode_block(buffer: bytearray, data: int, size: int, parity_at: int, parity: int) -> None:
    """Encode one block: ``size`` data bytes at ``data``, ``parity`` bytes at ``parity_at``."""
    edges = sorted({0, size % SECTOR, parity % SECTOR, SECTOR})
    for first, last in itertools.pairwise(edges):
        rows = (size + SECTOR - 1 - first) // SECTOR
        checks = (parity + SECTOR - 1 - first) // SECTOR
        if not rows or not checks:
            continue
        width = last - first
        zero = bytes(width)
        poly = _generator(checks)
        tables = [_mul_table(c) for c in poly]
        work = [
            bytes(buffer[data + SECTOR * r + first : data + SECTOR * r + last]) for r in range(rows)
        ] + [zero] * checks
        for row in range(rows):
            factor = work[row]
            if factor == zero:
                continue
            for index in range(1, checks + 1):
                work[row + index] = _xor(work[row + index], factor.translate(tables[index]))
        for index in range(checks):
            start = parity_at + SECTOR * index + first
            buffer[start : start + width] = work[rows + index]


def add_reed_solomon(buffer: bytearray, data: int, size: int, parity: int) -> None:
    """Append GRUB's Reed-Solomon parity for ``buffer[data:data+size]`` right after it.

    This is what grub-bios-setup does by default (without ``--no-rs-codes``): the parity of
    the compressed part of core.img fills the rest of the embedding sectors, so that
    startup_raw.S can repair a partly overwritten core.img.
    """
    if parity <= 0:
        return
    if data + size + parity > len(buffer):
        raise CoreImageError(
            "core.img",
            "reed_solomon_redundancy",
            SECTOR + RS_REDUNDANCY,
            f"<= {len(buffer) - data - size} bytes of room",
            parity,
        )
    position, parity_at = data, data + size
    limit = RS_BLOCK_SECTORS * SECTOR
    while size > 0:
        block, checks = size, parity
        if block + checks > limit:
            total = block + checks
            block = block * RS_BLOCK_SECTORS // total * SECTOR
            checks = checks * RS_BLOCK_SECTORS // total * SECTOR
            if block == 0:
                raise CoreImageError(
                    "core.img",
                    "reed_solomon_redundancy",
                    SECTOR + RS_REDUNDANCY,
                    "parity not much larger than the data",
                    parity,
                )
        _encode_block(buffer, position, block, parity_at, checks)
        position += block
        parity_at += checks
        size -= block
        parity -= checks


def module_names(core: CoreImage) -> tuple[str, ...]:
    """The names of the ELF modules built into ``core`` (``biosdisk``, ``part_msdos``...)."""
    return core.module_names
