"""A read-only ext2/ext3/ext4 reader for the /boot partition of a disk image.

Why: to answer "which kernel boots next" for an image, stage 2's files (grub.cfg, grubenv,
the kernels) must be read out of the partition without mounting it (no root, no loop
device). GRUB's own ``save_env`` rewrites grubenv *in place* through the file's block list;
:func:`rewrite_file_in_place` does the same, which is why the reader can also say where a
file's bytes are on the disk (:meth:`Ext4.file_ranges`).

Format (the kernel's Documentation/filesystems/ext4/, e2fsprogs lib/ext2fs/ext2_fs.h): the
superblock at byte 1024 of the partition (magic 0xEF53 at +0x38), group descriptors in the
block after it (32 bytes, or ``s_desc_size`` with the 64bit feature), inodes in each group's
inode table, file data through an extent tree (magic 0xF30A in ``i_block``, ext4) or the
classic 12 direct + indirect + double + triple block map (ext2/3). Directories are read
linearly; an htree (dir_index) directory reads correctly that way because its index blocks
look like empty entries. Symlinks up to 59 bytes live in ``i_block`` ("fast" symlinks).

Small files and directories of the inline_data feature are read from the inode (``i_block``
plus the ``system.data`` extended attribute). Unsupported features (compression, meta_bg,
encryption, an external journal device) raise :class:`Ext4UnsupportedError`, a
NotSupportedError; any malformed field raises :class:`Ext4Error` with the field, the
absolute image offset, and the expected and found values.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from bootup.boot._struct import (
    FieldError,
    Image,
    Patch,
    patch_image,
    u16,
    u32,
)
from bootup.errors import NotSupportedError

__all__ = (
    "ROOT_INODE",
    "DirEntry",
    "Ext4",
    "Ext4Error",
    "Ext4PathError",
    "Ext4UnsupportedError",
    "Extent",
    "Inode",
    "Superblock",
    "read_file",
    "rewrite_file_in_place",
)

SUPERBLOCK_OFFSET = 1024
MAGIC = 0xEF53
ROOT_INODE = 2
EXTENT_MAGIC = 0xF30A
EXTENTS_FL = 0x80000
INDEX_FL = 0x1000
HUGE_FILE_FL = 0x40000
INLINE_DATA_FL = 0x10000000
#: The largest file we read into memory; bigger ones are refused rather than exhausting RAM.
MAX_READ = 1 << 30
MAX_SYMLINKS = 40
MAX_EXTENT_DEPTH = 5

INCOMPAT_COMPRESSION = 0x1
INCOMPAT_FILETYPE = 0x2
INCOMPAT_RECOVER = 0x4
INCOMPAT_JOURNAL_DEV = 0x8
INCOMPAT_META_BG = 0x10
INCOMPAT_EXTENTS = 0x40
INCOMPAT_64BIT = 0x80
INCOMPAT_INLINE_DATA = 0x8000
INCOMPAT_ENCRYPT = 0x10000
XATTR_MAGIC = 0xEA020000
XATTR_SYSTEM = 7
_UNSUPPORTED = {
    INCOMPAT_COMPRESSION: "compression",
    INCOMPAT_JOURNAL_DEV: "an external journal device",
    INCOMPAT_META_BG: "meta_bg",
    INCOMPAT_ENCRYPT: "encryption",
}


class Ext4Error(FieldError):
    """An ext2/3/4 structure is malformed, or a path does not resolve."""


class Ext4PathError(Ext4Error, LookupError):
    """A path does not name an existing file (or crosses a non-directory)."""


class Ext4UnsupportedError(Ext4Error, NotSupportedError):
    """The file system uses a feature the reader does not implement yet.

    It is both a :class:`bootup.errors.NotSupportedError` (a real feature bootup lacks) and a
    :class:`~bootup.errors.BootFormatError` (the reader refused this input), so callers that
    only catch format errors still see it.
    """


@dataclass(frozen=True, slots=True)
class Superblock:
    """The superblock fields the reader needs."""

    block_size: int
    blocks_count: int
    inodes_count: int
    first_data_block: int
    blocks_per_group: int
    inodes_per_group: int
    inode_size: int
    desc_size: int
    feature_compat: int
    feature_incompat: int
    feature_ro_compat: int
    volume_name: str
    uuid: bytes = field(repr=False)

    @property
    def groups(self) -> int:
        """The number of block groups."""
        span = self.blocks_count - self.first_data_block
        return max(1, -(-span // self.blocks_per_group))


@dataclass(frozen=True, slots=True)
class Inode:
    """The inode fields the reader needs."""

    number: int
    mode: int
    size: int
    flags: int
    blocks: int
    file_acl: int
    block: bytes = field(repr=False)
    offset: int = 0
    raw: bytes = field(default=b"", repr=False)

    @property
    def is_inline(self) -> bool:
        """Whether the data lives in the inode itself (the inline_data feature)."""
        return bool(self.flags & INLINE_DATA_FL)

    @property
    def is_dir(self) -> bool:
        """Whether this is a directory."""
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        """Whether this is a regular file."""
        return stat.S_ISREG(self.mode)

    @property
    def is_symlink(self) -> bool:
        """Whether this is a symbolic link."""
        return stat.S_ISLNK(self.mode)


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One directory entry: the name, its inode and the file-type byte (0 if unknown)."""

    name: str
    inode: int
    file_type: int


@dataclass(frozen=True, slots=True)
class Extent:
    """``length`` file blocks from logical block ``logical`` stored at block ``physical``.

    ``initialized`` is false for preallocated extents, which read as zeros.
    """

    logical: int
    physical: int
    length: int
    initialized: bool = True


class Ext4:
    """An ext2/3/4 file system inside an image, starting at byte ``offset``.

    Args:
        source: the disk image (a path, bytes or an open :class:`~bootup.boot._struct.Image`).
        offset: the byte offset of the partition in the image.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes | Image, offset: int = 0) -> None:
        self._owned = not isinstance(source, Image)
        self.image = source if isinstance(source, Image) else Image(source)
        self.offset = offset
        try:
            self.superblock = self._read_superblock()
        except BaseException:
            self.close()
            raise
        self._descriptors: dict[int, int] = {}

    def close(self) -> None:
        """Close the image if this object opened it."""
        if self._owned:
            self.image.close()

    def __enter__(self) -> Ext4:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level ---------------------------------------------------------------------

    def _error(
        self,
        structure: str,
        name: str,
        offset: int,
        expected: object,
        found: object,
        *,
        note: str = "",
    ) -> Ext4Error:
        return Ext4Error(
            structure, name, offset, expected, found, source=self.image.name, note=note
        )

    def _read(self, offset: int, size: int, structure: str, name: str) -> bytes:
        return self.image.read(self.offset + offset, size, structure=structure, field=name)

    def _block(self, number: int, structure: str) -> bytes:
        sb = self.superblock
        if not 0 <= number < sb.blocks_count:
            raise self._error(
                structure, "block number", self.offset, f"0..{sb.blocks_count - 1}", number
            )
        return self._read(number * sb.block_size, sb.block_size, structure, f"block {number}")

    def _read_superblock(self) -> Superblock:
        raw = self._read(SUPERBLOCK_OFFSET, 1024, "ext superblock", "superblock")
        base = self.offset + SUPERBLOCK_OFFSET
        magic = u16(raw, 0x38)
        if magic != MAGIC:
            raise self._error(
                "ext superblock",
                "s_magic",
                base + 0x38,
                f"{MAGIC:#06x}",
                f"{magic:#06x}",
                note="not an ext2/3/4 file system",
            )
        log_block = u32(raw, 0x18)
        if log_block > 6:
            raise self._error("ext superblock", "s_log_block_size", base + 0x18, "0..6", log_block)
        block_size = 1024 << log_block
        incompat = u32(raw, 0x60)
        for bit, what in _UNSUPPORTED.items():
            if incompat & bit:
                raise Ext4UnsupportedError(
                    "ext superblock",
                    "s_feature_incompat",
                    base + 0x60,
                    "only features the reader supports",
                    f"{incompat:#x} ({what})",
                    source=self.image.name,
                    note=f"{what} is not supported yet",
                )
        rev = u32(raw, 0x4C)
        inode_size = u16(raw, 0x58) if rev >= 1 else 128
        if inode_size < 128 or inode_size > block_size or inode_size & (inode_size - 1):
            raise self._error(
                "ext superblock",
                "s_inode_size",
                base + 0x58,
                f"a power of two in 128..{block_size}",
                inode_size,
            )
        desc_size = 32
        if incompat & INCOMPAT_64BIT:
            desc_size = u16(raw, 0xFE)
            if desc_size < 32 or desc_size > 1024 or desc_size & (desc_size - 1):
                raise self._error(
                    "ext superblock",
                    "s_desc_size",
                    base + 0xFE,
                    "a power of two in 32..1024",
                    desc_size,
                )
        blocks = u32(raw, 0x04) | ((u32(raw, 0x150) << 32) if incompat & INCOMPAT_64BIT else 0)
        per_group, inodes_per_group = u32(raw, 0x20), u32(raw, 0x28)
        if per_group == 0 or per_group > 8 * block_size:
            raise self._error(
                "ext superblock",
                "s_blocks_per_group",
                base + 0x20,
                f"1..{8 * block_size}",
                per_group,
            )
        if inodes_per_group == 0 or inodes_per_group > 8 * block_size:
            raise self._error(
                "ext superblock",
                "s_inodes_per_group",
                base + 0x28,
                f"1..{8 * block_size}",
                inodes_per_group,
            )
        first = u32(raw, 0x14)
        if first >= blocks or first > 1:
            raise self._error("ext superblock", "s_first_data_block", base + 0x14, "0 or 1", first)
        return Superblock(
            block_size=block_size,
            blocks_count=blocks,
            inodes_count=u32(raw, 0x00),
            first_data_block=first,
            blocks_per_group=per_group,
            inodes_per_group=inodes_per_group,
            inode_size=inode_size,
            desc_size=desc_size,
            feature_compat=u32(raw, 0x5C),
            feature_incompat=incompat,
            feature_ro_compat=u32(raw, 0x64),
            volume_name=raw[0x78:0x88].split(b"\0", 1)[0].decode("utf-8", "replace"),
            uuid=raw[0x68:0x78],
        )

    def _inode_table(self, group: int) -> int:
        if group in self._descriptors:
            return self._descriptors[group]
        sb = self.superblock
        table_start = (sb.first_data_block + 1) * sb.block_size
        offset = table_start + group * sb.desc_size
        raw = self._read(offset, sb.desc_size, "ext group descriptor", f"group {group}")
        table = u32(raw, 0x08)
        if sb.desc_size >= 64:
            table |= u32(raw, 0x28) << 32
        if not 0 < table < sb.blocks_count:
            raise self._error(
                "ext group descriptor",
                "bg_inode_table",
                self.offset + offset + 8,
                f"1..{sb.blocks_count - 1}",
                table,
            )
        self._descriptors[group] = table
        return table

    def inode(self, number: int) -> Inode:
        """Read inode ``number`` (1-based, as in directory entries)."""
        sb = self.superblock
        if not 1 <= number <= sb.inodes_count:
            raise self._error(
                "ext inode",
                "inode number",
                self.offset + SUPERBLOCK_OFFSET,
                f"1..{sb.inodes_count}",
                number,
            )
        group, index = divmod(number - 1, sb.inodes_per_group)
        offset = self._inode_table(group) * sb.block_size + index * sb.inode_size
        raw = self._read(offset, sb.inode_size, "ext inode", f"inode {number}")
        flags = u32(raw, 0x20)
        blocks = u32(raw, 0x1C) | (u16(raw, 0x74) << 32)
        if not flags & HUGE_FILE_FL:
            blocks *= 512
        else:
            blocks *= sb.block_size
        return Inode(
            number=number,
            mode=u16(raw, 0x00),
            size=u32(raw, 0x04) | (u32(raw, 0x6C) << 32),
            flags=flags,
            blocks=blocks,
            file_acl=u32(raw, 0x68) | (u16(raw, 0x76) << 32),
            block=raw[0x28:0x64],
            offset=self.offset + offset,
            raw=raw,
        )

    # -- block mapping -------------------------------------------------------------------

    def extents(self, inode: Inode) -> list[Extent]:
        """Where the file's blocks are: a sorted list of extents (holes are absent)."""
        if inode.flags & INLINE_DATA_FL:
            raise Ext4UnsupportedError(
                "ext inode",
                "i_flags",
                inode.offset + 0x20,
                "no INLINE_DATA flag",
                f"{inode.flags:#x}",
                source=self.image.name,
                note="inline data has no blocks to map or rewrite in place",
            )
        if inode.flags & EXTENTS_FL:
            found: list[Extent] = []
            self._walk_extents(inode.block, inode.offset + 0x28, MAX_EXTENT_DEPTH, found, inode)
            return sorted(found, key=lambda e: e.logical)
        return list(self._block_map(inode))

    def _walk_extents(
        self, node: bytes, where: int, depth_left: int, out: list[Extent], inode: Inode
    ) -> None:
        if len(node) < 12 or u16(node, 0) != EXTENT_MAGIC:
            raise self._error(
                "ext extent header",
                "eh_magic",
                where,
                f"{EXTENT_MAGIC:#06x}",
                f"{u16(node, 0):#06x}" if len(node) >= 2 else node,
            )
        entries, depth = u16(node, 2), u16(node, 6)
        if 12 + 12 * entries > len(node):
            raise self._error(
                "ext extent header",
                "eh_entries",
                where + 2,
                f"at most {(len(node) - 12) // 12}",
                entries,
            )
        if depth >= depth_left:
            raise self._error("ext extent header", "eh_depth", where + 6, f"< {depth_left}", depth)
        sb = self.superblock
        for i in range(entries):
            entry = 12 + 12 * i
            if depth == 0:
                length = u16(node, entry + 4)
                initialized = length <= 32768
                if not initialized:
                    length -= 32768
                start = u32(node, entry + 8) | (u16(node, entry + 6) << 32)
                if length and start + length > sb.blocks_count:
                    raise self._error(
                        "ext extent",
                        "ee_start",
                        where + entry + 6,
                        f"blocks within 0..{sb.blocks_count - 1}",
                        f"{start}+{length}",
                    )
                out.append(Extent(u32(node, entry), start, length, initialized))
                if len(out) > sb.blocks_count:
                    raise self._error(
                        "ext extent", "extent count", where, "a finite tree", len(out)
                    )
            else:
                leaf = u32(node, entry + 4) | (u16(node, entry + 8) << 32)
                child = self._block(leaf, f"extent node of inode {inode.number}")
                self._walk_extents(child, self.offset + leaf * sb.block_size, depth, out, inode)

    def _block_map(self, inode: Inode) -> Iterator[Extent]:
        sb = self.superblock
        per_block = sb.block_size // 4
        pointers = [u32(inode.block, 4 * i) for i in range(15)]
        limit = -(-inode.size // sb.block_size)
        logical = 0
        for index in range(12):
            if logical >= limit:
                return
            if pointers[index]:
                yield Extent(logical, pointers[index], 1)
            logical += 1
        for level, pointer in enumerate(pointers[12:], start=1):
            span = per_block**level
            if logical >= limit:
                return
            if pointer:
                yield from self._indirect(pointer, level, logical, limit, inode)
            logical += span

    def _indirect(
        self, block: int, level: int, logical: int, limit: int, inode: Inode
    ) -> Iterator[Extent]:
        data = self._block(block, f"indirect block of inode {inode.number}")
        per_block = len(data) // 4
        span = per_block ** (level - 1)
        for i in range(per_block):
            start = logical + i * span
            if start >= limit:
                return
            pointer = u32(data, 4 * i)
            if not pointer:
                continue
            if level == 1:
                yield Extent(start, pointer, 1)
            else:
                yield from self._indirect(pointer, level - 1, start, limit, inode)

    # -- files ---------------------------------------------------------------------------

    def file_ranges(self, inode: Inode) -> list[tuple[int, int, int]]:
        """The file's bytes on disk: ``(file offset, absolute image offset, length)`` runs."""
        sb = self.superblock
        runs = []
        for extent in self.extents(inode):
            start = extent.logical * sb.block_size
            if start >= inode.size:
                continue
            length = min(extent.length * sb.block_size, inode.size - start)
            if not extent.initialized:
                continue
            runs.append((start, self.offset + extent.physical * sb.block_size, length))
        return runs

    def _inline(self, inode: Inode) -> bytes:
        """Inline data: the 60 bytes of ``i_block`` then the ``system.data`` xattr value."""
        raw = inode.raw
        value = b""
        if len(raw) > 0x84:
            start = 128 + u16(raw, 0x80)
            if start + 4 <= len(raw) and u32(raw, start) == XATTR_MAGIC:
                base = position = start + 4
                while position + 16 <= len(raw) and u32(raw, position):
                    name_len, index = raw[position], raw[position + 1]
                    value_offset, value_size = u16(raw, position + 2), u32(raw, position + 8)
                    name = raw[position + 16 : position + 16 + name_len]
                    if index == XATTR_SYSTEM and name == b"data":
                        if base + value_offset + value_size > len(raw):
                            raise self._error(
                                "ext inline data",
                                "e_value_size",
                                inode.offset + position + 8,
                                f"a value inside the {len(raw)}-byte inode",
                                f"{value_size} bytes at {value_offset}",
                            )
                        value = raw[base + value_offset : base + value_offset + value_size]
                        break
                    position += (16 + name_len + 3) & ~3
        return (inode.block + value)[: inode.size]

    def read(self, inode: Inode) -> bytes:
        """The whole content of a regular file, directory or slow symlink (holes read as 0)."""
        if inode.is_inline:
            return self._inline(inode)
        limit = min(MAX_READ, self.superblock.blocks_count * self.superblock.block_size)
        if inode.size > limit:
            raise self._error(
                "ext inode",
                "i_size",
                inode.offset + 4,
                f"<= {limit} (the file system's size)",
                inode.size,
                note="file too large to read into memory",
            )
        out = bytearray(inode.size)
        for file_offset, disk_offset, length in self.file_ranges(inode):
            out[file_offset : file_offset + length] = self.image.read(
                disk_offset, length, structure="ext file data", field=f"inode {inode.number}"
            )
        return bytes(out)

    def readlink_inode(self, inode: Inode) -> str:
        """The target of a symlink inode (fast ones from ``i_block``, slow ones from blocks)."""
        if not inode.is_symlink:
            raise self._error("ext inode", "i_mode", inode.offset, "a symlink", f"{inode.mode:#o}")
        acl_blocks = self.superblock.block_size if inode.file_acl else 0
        if inode.size < 60 and inode.blocks - acl_blocks <= 0 and not inode.flags & EXTENTS_FL:
            target = inode.block[: inode.size]
        else:
            target = self.read(inode)
        return target.decode("utf-8", "surrogateescape")

    def entries(self, inode: Inode) -> list[DirEntry]:
        """The entries of a directory inode, read linearly (``.`` and ``..`` included)."""
        if not inode.is_dir:
            raise Ext4PathError(
                "ext directory",
                "i_mode",
                inode.offset,
                "a directory",
                f"{inode.mode:#o}",
                source=self.image.name,
            )
        if inode.is_inline:
            data = self._inline(inode)
            if len(data) < 4:
                raise self._error(
                    "ext inline directory", "i_size", inode.offset + 4, ">= 4", len(data)
                )
            found = [DirEntry(".", inode.number, 2), DirEntry("..", u32(data, 0), 2)]
            regions = [(4, min(60, len(data)))] + ([(60, len(data))] if len(data) > 60 else [])
            for start, end in regions:
                found.extend(self._dirents(data, start, end, inode))
            return found
        data = self.read(inode)
        block_size = self.superblock.block_size
        found = []
        for block_start in range(0, len(data), block_size):
            end = min(block_start + block_size, len(data))
            found.extend(self._dirents(data, block_start, end, inode))
        return found

    def _dirents(self, data: bytes, position: int, end: int, inode: Inode) -> list[DirEntry]:
        """The entries of one directory block (or inline region) from ``position`` to ``end``."""
        filetype = bool(self.superblock.feature_incompat & INCOMPAT_FILETYPE)
        found = []
        while position + 8 <= end:
            number, rec_len = u32(data, position), u16(data, position + 4)
            name_len = data[position + 6] if filetype else u16(data, position + 6)
            if rec_len < 8 or rec_len % 4 or position + rec_len > end:
                raise self._error(
                    "ext directory entry",
                    "rec_len",
                    position,
                    f"a multiple of 4 in 8..{end - position}",
                    rec_len,
                    note=f"offset in directory inode {inode.number}",
                )
            if number and name_len and 8 + name_len <= rec_len:
                name = data[position + 8 : position + 8 + name_len]
                kind = data[position + 7] if filetype else 0
                found.append(DirEntry(name.decode("utf-8", "surrogateescape"), number, kind))
            position += rec_len
        return found

    def lookup(self, path: str, *, follow: bool = True) -> Inode:
        """Resolve an absolute path inside the file system, following symlinks."""
        return self._resolve(path, follow, 0)

    def _resolve(self, path: str, follow: bool, hops: int) -> Inode:
        current = self.inode(ROOT_INODE)
        parts = [p for p in path.split("/") if p and p != "."]
        stack: list[Inode] = []
        for index, part in enumerate(parts):
            if part == "..":
                current = stack.pop() if stack else current
                continue
            entry = next((e for e in self.entries(current) if e.name == part), None)
            if entry is None:
                raise Ext4PathError(
                    "ext path",
                    "path",
                    self.offset,
                    "an existing file",
                    f"no {part!r} in /{'/'.join(parts[:index])}",
                    source=self.image.name,
                    note=path,
                )
            child = self.inode(entry.inode)
            last = index == len(parts) - 1
            if child.is_symlink and (follow or not last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise Ext4PathError(
                        "ext path",
                        "symlinks",
                        self.offset,
                        f"at most {MAX_SYMLINKS} links",
                        hops,
                        source=self.image.name,
                        note=path,
                    )
                target = self.readlink_inode(child)
                base = "/" + "/".join(parts[:index]) if not target.startswith("/") else ""
                rest = "/".join(parts[index + 1 :])
                return self._resolve(f"{base}/{target}/{rest}", follow, hops)
            stack.append(current)
            current = child
        return current

    def read_path(self, path: str) -> bytes:
        """The content of the regular file at ``path``."""
        inode = self.lookup(path)
        if not inode.is_file:
            raise Ext4PathError(
                "ext path",
                "i_mode",
                inode.offset,
                "a regular file",
                f"mode {inode.mode:#o}",
                source=self.image.name,
                note=path,
            )
        return self.read(inode)

    def listdir(self, path: str) -> list[DirEntry]:
        """The entries of the directory at ``path``, without ``.`` and ``..``."""
        return [e for e in self.entries(self.lookup(path)) if e.name not in (".", "..")]

    def readlink(self, path: str) -> str:
        """The target of the symlink at ``path``."""
        return self.readlink_inode(self.lookup(path, follow=False))


def read_file(
    image: str | os.PathLike[str] | bytes | Image, partition_offset: int, path: str
) -> bytes:
    """Read the file at ``path`` from the ext2/3/4 file system at ``partition_offset``."""
    with Ext4(image, partition_offset) as fs:
        return fs.read_path(path)


def rewrite_file_in_place(
    image: str | os.PathLike[str], partition_offset: int, path: str, data: bytes
) -> None:
    """Overwrite the file at ``path`` with ``data`` of the same size, in its own blocks.

    This is what GRUB's ``save_env`` does to grubenv: no metadata changes (no allocation,
    size or timestamps), so the file must be fully allocated. The image itself is replaced
    atomically.

    Raises:
        Ext4Error: the size differs, or the file has holes or preallocated extents.
    """
    with Ext4(image, partition_offset) as fs:
        inode = fs.lookup(path)
        if not inode.is_file:
            raise Ext4PathError(
                "ext path",
                "i_mode",
                inode.offset,
                "a regular file",
                f"mode {inode.mode:#o}",
                source=fs.image.name,
                note=path,
            )
        if len(data) != inode.size:
            raise Ext4Error(
                "ext inode",
                "i_size",
                inode.offset + 4,
                f"{len(data)} bytes",
                f"{inode.size} bytes",
                source=fs.image.name,
                note=f"{path}: an in-place rewrite keeps the size",
            )
        ranges = fs.file_ranges(inode)
        if sum(length for _f, _d, length in ranges) != inode.size:
            raise Ext4Error(
                "ext inode",
                "i_block",
                inode.offset + 0x28,
                "every byte allocated",
                "holes or preallocated extents",
                source=fs.image.name,
                note=f"{path}: GRUB refuses sparse files too",
            )
    patches = [Patch(disk, data[offset : offset + length]) for offset, disk, length in ranges]
    patch_image(image, patches)
