"""cpio "newc" archives (``070701``, and ``070702`` with checksums): the initramfs format.

Spec: the kernel's ``Documentation/driver-api/early-userspace/buffer-format.rst`` and
GNU cpio's ``newc``/``crc`` formats. A header is the 6-byte magic and thirteen 8-digit hex
fields (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
rdevminor, namesize with the NUL, check), then the name; name and data are each padded to
4 bytes. ``TRAILER!!!`` ends an archive; the kernel accepts several archives, each possibly
compressed, concatenated (early microcode + the main image), and so does :func:`read_archive`.

Why a writer of our own: ``cpio -o`` needs the device nodes to exist on disk, and creating
``/dev/console`` takes root. Here the header fields are just numbers, so an initramfs with
``c 5 1`` is built by anyone. Output is deterministic: inode numbers count from 1 in
archive order and mtime/uid/gid are parameters (0 by default), so the same inputs give the
same bytes (gzip with mtime 0, xz with the CRC32 check the kernel's decoder wants, zstd
through the ``zstd`` command because the standard library of Python 3.11 has no zstd).
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import stat
import subprocess
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

from bootup.errors import BootFormatError, NotSupportedError

__all__ = (
    "NEWC_MAGIC",
    "CRC_MAGIC",
    "TRAILER",
    "Compression",
    "CpioEntry",
    "CpioFormatError",
    "build_archive",
    "compress",
    "decompress",
    "detect_compression",
    "iter_newc",
    "read_archive",
)

NEWC_MAGIC: Final = b"070701"
CRC_MAGIC: Final = b"070702"
TRAILER: Final = "TRAILER!!!"
_HEADER_SIZE: Final = 110
_FIELDS: Final = (
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
)

Compression = Literal["none", "gzip", "xz", "zstd"]


class CpioFormatError(BootFormatError):
    """An archive that does not follow the newc/crc format, or an entry that cannot be written.

    Attributes:
        offset: byte offset in the (decompressed) archive stream, or None for writer errors.
        field: the header field or property at fault.
        expected: what the format requires.
        found: what was there.
        name: the entry's name when known.
        source: the file the archive was read from, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None,
        field: str,
        expected: str,
        found: str,
        name: str | None = None,
        source: str | None = None,
    ) -> None:
        where = f"at offset {offset:#x}: " if offset is not None else ""
        who = f"entry {name!r}: " if name is not None else ""
        file = f"{source}: " if source is not None else ""
        super().__init__(
            f"{file}cpio: {where}{who}{message}: {field}: expected {expected}, found {found}"
        )
        self.message = message
        self.offset = offset
        self.field = field
        self.expected = expected
        self.found = found
        self.name = name
        self.source = source

    def in_file(self, source: str) -> CpioFormatError:
        """The same error, naming the file the archive was read from."""
        return CpioFormatError(
            self.message,
            offset=self.offset,
            field=self.field,
            expected=self.expected,
            found=self.found,
            name=self.name,
            source=source,
        )


@dataclass(frozen=True, slots=True)
class CpioEntry:
    """One archive member. ``mode`` holds the file type bits and the permissions.

    ``data`` is the file body for regular files and the target for symlinks. ``ino``,
    ``nlink`` and ``check`` are as read from an archive; the writer assigns its own.
    ``link_to`` marks a hard link to an earlier regular entry of that name (writer only).
    """

    name: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0
    devmajor: int = 0
    devminor: int = 0
    ino: int = 0
    nlink: int = 1
    check: int = 0
    link_to: str | None = field(default=None)

    @classmethod
    def directory(cls, name: str, mode: int = 0o755) -> CpioEntry:
        """A directory (nlink 2, like GNU cpio for an empty directory)."""
        return cls(name=name, mode=stat.S_IFDIR | mode, nlink=2)

    @classmethod
    def file(cls, name: str, data: bytes, mode: int = 0o644) -> CpioEntry:
        """A regular file with ``data`` as its body."""
        return cls(name=name, mode=stat.S_IFREG | mode, data=data)

    @classmethod
    def symlink(cls, name: str, target: str) -> CpioEntry:
        """A symbolic link; the target is stored as the body (without a NUL)."""
        return cls(name=name, mode=stat.S_IFLNK | 0o777, data=target.encode())

    @classmethod
    def char_device(cls, name: str, major: int, minor: int, mode: int = 0o600) -> CpioEntry:
        """A character device node (no root needed: the numbers are just header fields)."""
        return cls(name=name, mode=stat.S_IFCHR | mode, rdevmajor=major, rdevminor=minor)

    @classmethod
    def block_device(cls, name: str, major: int, minor: int, mode: int = 0o600) -> CpioEntry:
        """A block device node."""
        return cls(name=name, mode=stat.S_IFBLK | mode, rdevmajor=major, rdevminor=minor)

    @classmethod
    def fifo(cls, name: str, mode: int = 0o644) -> CpioEntry:
        """A named pipe."""
        return cls(name=name, mode=stat.S_IFIFO | mode)

    @classmethod
    def hardlink(cls, name: str, target: str) -> CpioEntry:
        """A second name for the regular file ``target`` written earlier in the same archive."""
        return cls(name=name, mode=stat.S_IFREG, link_to=target)

    @property
    def kind(self) -> str:
        """One letter as in ``ls -l``: ``-``, ``d``, ``l``, ``c``, ``b``, ``p``, ``s``."""
        return _KIND.get(stat.S_IFMT(self.mode), "?")

    @property
    def target(self) -> str:
        """The symlink target (empty for other kinds)."""
        return self.data.decode("utf-8", "surrogateescape") if self.kind == "l" else ""


_KIND: Final = {
    stat.S_IFREG: "-",
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "l",
    stat.S_IFCHR: "c",
    stat.S_IFBLK: "b",
    stat.S_IFIFO: "p",
    stat.S_IFSOCK: "s",
}


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _check_name(name: str) -> None:
    if not name or "\0" in name:
        raise CpioFormatError(
            "bad entry name", offset=None, field="name", expected="a non-empty name without NUL",
            found=repr(name),
        )  # fmt: skip
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise CpioFormatError(
            "entry names must be relative and stay inside the archive root",
            offset=None,
            field="name",
            expected="a relative path without '..'",
            found=repr(name),
            name=name,
        )


def _header(magic: bytes, values: dict[str, int], name: str) -> bytes:
    for key, value in values.items():
        if not 0 <= value <= 0xFFFFFFFF:
            raise CpioFormatError(
                "header field out of range", offset=None, field=key,
                expected="0..0xffffffff (8 hex digits)", found=str(value), name=name,
            )  # fmt: skip
    return magic + b"".join(b"%08X" % values[key] for key in _FIELDS)


def build_archive(
    entries: Iterable[CpioEntry],
    *,
    mtime: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
    crc: bool = False,
    block_size: int = 512,
) -> bytes:
    """Serialise entries into one uncompressed newc (or ``crc``) archive, trailer included.

    Args:
        entries: in archive order; a directory must come before anything inside it, since
            the kernel does not create missing parents.
        mtime: when given, overrides every entry's mtime (reproducible builds).
        uid: when given, overrides every entry's owner.
        gid: when given, overrides every entry's group.
        crc: write ``070702`` with the byte-sum check field instead of ``070701``.
        block_size: pad the end of the archive to a multiple of this (512 like GNU cpio;
            1 for no padding).

    Raises:
        CpioFormatError: a duplicate or unsafe name, a hard link to a name that is not an
            earlier regular file, a missing parent directory, or a value too large for the
            8-hex-digit fields.
    """
    items = list(entries)
    seen: dict[str, int] = {}
    dirs: set[str] = set()
    # Hard link groups: the index of the real file -> indices of its links.
    groups: dict[int, list[int]] = {}
    for index, entry in enumerate(items):
        _check_name(entry.name)
        if entry.name in seen:
            raise CpioFormatError(
                "duplicate entry", offset=None, field="name", expected="each name once",
                found=f"{entry.name!r} again at position {index}", name=entry.name,
            )  # fmt: skip
        parent = entry.name.rpartition("/")[0]
        if parent and parent not in dirs:
            raise CpioFormatError(
                "parent directory must come first (the kernel does not create it)",
                offset=None, field="name", expected=f"directory {parent!r} earlier",
                found="no such directory before this entry", name=entry.name,
            )  # fmt: skip
        if entry.link_to is not None:
            target = seen.get(entry.link_to)
            if target is None or items[target].kind != "-" or items[target].link_to is not None:
                raise CpioFormatError(
                    "hard link target must be an earlier regular file", offset=None,
                    field="link_to", expected="the name of an earlier regular file",
                    found=repr(entry.link_to), name=entry.name,
                )  # fmt: skip
            groups.setdefault(target, []).append(index)
        seen[entry.name] = index
        if entry.kind == "d":
            dirs.add(entry.name)

    magic = CRC_MAGIC if crc else NEWC_MAGIC
    # Number inodes in archive order; links share their file's inode.
    inode: dict[int, int] = {}
    next_ino = 1
    for index, entry in enumerate(items):
        if entry.link_to is not None:
            inode[index] = inode[seen[entry.link_to]]
        else:
            inode[index] = next_ino
            next_ino += 1
    # GNU cpio stores the body with the last name of a link group, the others are empty.
    carrier: dict[int, int] = {}
    for owner, links in groups.items():
        carrier[owner] = links[-1]
    body_of: dict[int, bytes] = {}
    for owner, last in carrier.items():
        body_of[last] = items[owner].data
        body_of[owner] = b""
    group_size = {owner: len(links) + 1 for owner, links in groups.items()}

    out = bytearray()
    for index, entry in enumerate(items):
        owner = seen[entry.link_to] if entry.link_to is not None else index
        base = items[owner]
        data = body_of.get(index, entry.data if entry.link_to is None else b"")
        name_bytes = entry.name.encode("utf-8", "surrogateescape") + b"\0"
        values = {
            "ino": inode[index],
            "mode": base.mode if entry.link_to is not None else entry.mode,
            "uid": base.uid if uid is None else uid,
            "gid": base.gid if gid is None else gid,
            "nlink": group_size.get(owner, entry.nlink),
            "mtime": base.mtime if mtime is None else mtime,
            "filesize": len(data),
            "devmajor": entry.devmajor,
            "devminor": entry.devminor,
            "rdevmajor": entry.rdevmajor,
            "rdevminor": entry.rdevminor,
            "namesize": len(name_bytes),
            "check": (sum(data) & 0xFFFFFFFF) if crc and entry.kind == "-" else 0,
        }
        _append(out, _header(magic, values, entry.name), name_bytes, data)
    trailer = dict.fromkeys(_FIELDS, 0) | {"nlink": 1, "namesize": len(TRAILER) + 1}
    _append(out, _header(magic, trailer, TRAILER), TRAILER.encode() + b"\0", b"")
    if block_size > 1:
        out += b"\0" * ((block_size - len(out) % block_size) % block_size)
    return bytes(out)


def _append(out: bytearray, header: bytes, name: bytes, data: bytes) -> None:
    out += header
    out += name
    out += b"\0" * _pad4(_HEADER_SIZE + len(name))
    out += data
    out += b"\0" * _pad4(len(data))


def iter_newc(data: bytes, start: int = 0) -> Iterator[tuple[int, CpioEntry]]:
    """Yield ``(offset, entry)`` for one uncompressed archive, stopping at its trailer.

    Raises:
        CpioFormatError: a bad magic, a non-hex field, a truncated name or body, a missing
            trailer, or (``070702``) a check field that does not match the body.
    """
    pos = start
    while True:
        entry, end = _parse_one(data, pos)
        if entry is None:
            return
        yield pos, entry
        pos = end


def _parse_one(data: bytes, pos: int) -> tuple[CpioEntry | None, int]:
    """Decode the entry at ``pos``; None for the trailer. Also returns the next offset."""
    if pos + _HEADER_SIZE > len(data):
        raise CpioFormatError(
            "archive ends without a TRAILER!!! entry", offset=pos, field="header",
            expected=f"{_HEADER_SIZE} header bytes", found=f"{len(data) - pos} bytes",
        )  # fmt: skip
    magic = bytes(data[pos : pos + 6])
    if magic not in (NEWC_MAGIC, CRC_MAGIC):
        old = magic[:2] in (b"\xc7q", b"q\xc7") or magic == b"070707"
        raise CpioFormatError(
            "an old binary/odc cpio, not newc" if old else "not a newc header",
            offset=pos, field="magic", expected="'070701' or '070702'", found=repr(magic),
        )  # fmt: skip
    values: dict[str, int] = {}
    for i, key in enumerate(_FIELDS):
        raw = bytes(data[pos + 6 + 8 * i : pos + 14 + 8 * i])
        try:
            values[key] = int(raw, 16)
        except ValueError:
            raise CpioFormatError(
                "header field is not hexadecimal", offset=pos + 6 + 8 * i, field=key,
                expected="8 hex digits", found=repr(raw),
            ) from None  # fmt: skip
    name_start = pos + _HEADER_SIZE
    name_end = name_start + values["namesize"]
    if values["namesize"] == 0 or name_end > len(data) or data[name_end - 1] != 0:
        raise CpioFormatError(
            "bad name", offset=name_start, field="namesize",
            expected="a NUL-terminated name inside the archive",
            found=f"namesize {values['namesize']}",
        )  # fmt: skip
    name = bytes(data[name_start : name_end - 1]).decode("utf-8", "surrogateescape")
    body_start = name_end + _pad4(_HEADER_SIZE + values["namesize"])
    body_end = body_start + values["filesize"]
    if body_end > len(data):
        raise CpioFormatError(
            "body is truncated", offset=body_start, field="filesize",
            expected=f"{values['filesize']} bytes", found=f"{len(data) - body_start} bytes",
            name=name,
        )  # fmt: skip
    body = bytes(data[body_start:body_end])
    # Only regular files carry a checksum (GNU cpio writes 0 for symlinks; the kernel sums
    # regular file bodies only).
    if (
        magic == CRC_MAGIC
        and stat.S_ISREG(values["mode"])
        and (sum(body) & 0xFFFFFFFF) != values["check"]
    ):
        raise CpioFormatError(
            "checksum mismatch", offset=pos + 6 + 8 * 12, field="check",
            expected=f"{values['check']:#010x}", found=f"{sum(body) & 0xFFFFFFFF:#010x}",
            name=name,
        )  # fmt: skip
    end = body_end + _pad4(values["filesize"])
    if name == TRAILER:
        return None, end
    entry = CpioEntry(
        name=name,
        mode=values["mode"],
        data=body,
        uid=values["uid"],
        gid=values["gid"],
        mtime=values["mtime"],
        rdevmajor=values["rdevmajor"],
        rdevminor=values["rdevminor"],
        devmajor=values["devmajor"],
        devminor=values["devminor"],
        ino=values["ino"],
        nlink=values["nlink"],
        check=values["check"],
    )
    return entry, end


_MAGICS: Final[tuple[tuple[bytes, Compression], ...]] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"07070", "none"),
)
_UNSUPPORTED: Final = ((b"BZh", "bzip2"), (b"\x89LZO", "lzo"), (b"\x02\x21\x4c\x18", "lz4"))


def detect_compression(data: bytes, *, offset: int = 0) -> Compression:
    """Name the compression of an initramfs segment from its magic bytes.

    Raises:
        NotSupportedError: bzip2, lzo, lz4 or lzma, which kernels accept but bootup does not
            read yet.
        CpioFormatError: no known magic at all.
    """
    head = data[offset : offset + 6]
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    for magic, other in _UNSUPPORTED:
        if head.startswith(magic):
            raise NotSupportedError(f"{other}-compressed initramfs: not supported yet")
    if head[:3] == b"\x5d\x00\x00":
        raise NotSupportedError("lzma-compressed initramfs: not supported yet")
    raise CpioFormatError(
        "unknown initramfs segment", offset=offset, field="magic",
        expected="070701/070702, gzip, xz or zstd", found=repr(bytes(head)),
    )  # fmt: skip


def compress(data: bytes, compression: Compression, *, level: int | None = None) -> bytes:
    """Compress an archive reproducibly in a format the kernel unpacks."""
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6 if level is None else level, mtime=0)
    if compression == "xz":
        # The kernel's XZ decoder verifies CRC32 only (scripts/xz_wrap.sh uses --check=crc32).
        preset = 6 if level is None else level
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=preset)
    if compression == "zstd":
        return _zstd(["-q", "-c", f"-{19 if level is None else level}", "--no-check"], data)
    raise NotSupportedError(f"{compression} compression: not supported yet")


def _zstd(args: list[str], data: bytes) -> bytes:
    tool = shutil.which("zstd")
    if tool is None:
        raise NotSupportedError(
            "zstd initramfs needs the zstd command (Debian package zstd): not supported yet "
            "without it"
        )
    result = subprocess.run([tool, *args], input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise CpioFormatError(
            "zstd failed", offset=0, field="zstd",
            expected="exit status 0",
            found=f"{result.returncode}: {result.stderr.decode().strip()}",
        )  # fmt: skip
    return result.stdout


def _decompress_one(data: bytes, offset: int, kind: Compression) -> tuple[bytes, int]:
    """Decompress the stream at ``offset``; return the bytes and where the stream ended."""
    tail = data[offset:]
    try:
        if kind == "gzip":
            d = zlib.decompressobj(31)
            out: bytes = d.decompress(tail)
            return out, len(data) - len(d.unused_data)
        if kind == "xz":
            x = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            out = x.decompress(tail)
            return out, len(data) - len(x.unused_data)
    except (zlib.error, lzma.LZMAError) as exc:
        raise CpioFormatError(
            f"corrupt {kind} stream", offset=offset, field="compressed data",
            expected=f"a valid {kind} stream", found=str(exc),
        ) from None  # fmt: skip
    # zstd: the command reads concatenated frames; an initramfs ends with this segment.
    return _zstd(["-q", "-d", "-c"], tail), len(data)


def decompress(data: bytes) -> tuple[bytes, list[Compression]]:
    """Turn an initramfs (possibly several concatenated segments) into plain cpio bytes.

    Returns:
        The concatenated uncompressed archives and the compression of each segment.
    """
    out = bytearray()
    kinds: list[Compression] = []
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # padding between segments
            pos += 1
            continue
        kind = detect_compression(data, offset=pos)
        kinds.append(kind)
        if kind == "none":
            end = _archive_end(data, pos)
            out += data[pos:end]
            pos = end
        else:
            plain, pos = _decompress_one(data, pos, kind)
            out += plain
    return bytes(out), kinds


def _archive_end(data: bytes, start: int) -> int:
    """The offset just past the trailer entry of the archive at ``start``."""
    pos = start
    while True:
        entry, pos = _parse_one(data, pos)
        if entry is None:
            return pos


def read_archive(data: bytes) -> list[CpioEntry]:
    """Every entry of an initramfs file: all segments, decompressed, trailers dropped."""
    plain, _ = decompress(data)
    entries: list[CpioEntry] = []
    pos = 0
    while pos < len(plain):
        if plain[pos] == 0:
            pos += 1
            continue
        while True:
            entry, pos = _parse_one(plain, pos)
            if entry is None:
                break
            entries.append(entry)
    return entries
