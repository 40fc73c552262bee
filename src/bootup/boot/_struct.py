"""Shared plumbing of the disk-side parsers: located errors, bounded reads, atomic patches.

Every on-disk structure of the boot chain (MBR, EBR, GPT, boot.img, core.img, ext4) is read
through :class:`Image`, which turns a short read into a :class:`FieldError` that names the
field and offset instead of an ``IndexError`` or a ``struct.error`` deep in a parser. Writers
never modify an image in place: :func:`patch_image` copies it (keeping holes, so a 4 GiB sparse
image costs what its data costs), applies the patches to the copy, fsyncs and renames it over
the original, so a crash leaves either the old or the new image.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bootup.boot._inputs import BootFileError, file_error
from bootup.errors import BootFormatError, NotSupportedError

#: What the integer readers accept.
Buffer = bytes | bytearray | memoryview

__all__ = (
    "SECTOR",
    "FieldError",
    "Image",
    "Patch",
    "TruncatedError",
    "crc32",
    "create_sparse",
    "opened",
    "patch_image",
    "u8",
    "u16",
    "u32",
    "u64",
)

#: The logical sector size of every image bootup handles (sfdisk's default for files).
SECTOR = 512

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return repr(value[:32]) + ("..." if len(value) > 32 else "")
    return str(value)


class FieldError(BootFormatError):
    """A field of an on-disk structure holds a value the format does not allow.

    The attributes locate the problem for tools and tests; the message says the same for a
    person: ``disk.img: GPT header: field 'header_crc32' at offset 0x210: expected
    0x1a2b3c4d, found 0x00000000``.

    Attributes:
        source: the file (or a description of the buffer) that was read.
        structure: the structure being parsed ("MBR", "GPT header", "core.img", ...).
        field: the field name, as the format's documentation spells it.
        offset: the absolute byte offset of the field in ``source``.
        expected: what the format requires there.
        found: what was there.
    """

    def __init__(
        self,
        structure: str,
        field: str,
        offset: int,
        expected: object,
        found: object,
        *,
        source: str = "<buffer>",
        note: str = "",
    ) -> None:
        self.source = source
        self.structure = structure
        self.field = field
        self.offset = offset
        self.expected = expected
        self.found = found
        self.note = note
        text = (
            f"{source}: {structure}: field {field!r} at offset {offset:#x}: "
            f"expected {_show(expected)}, found {_show(found)}"
        )
        if note:
            text += f" ({note})"
        super().__init__(text)


class TruncatedError(FieldError):
    """The data ends before a structure that must be there (a truncated image or file)."""


def crc32(data: bytes) -> int:
    """Return the CRC-32 (IEEE 802.3, as UEFI uses for GPT) of ``data``."""
    return zlib.crc32(data) & 0xFFFFFFFF


def u8(data: Buffer, offset: int) -> int:
    """Read an unsigned byte (callers have checked the bounds through :class:`Image`)."""
    return data[offset]


def u16(data: Buffer, offset: int) -> int:
    """Read a little-endian u16."""
    return int(_U16.unpack_from(data, offset)[0])


def u32(data: Buffer, offset: int) -> int:
    """Read a little-endian u32."""
    return int(_U32.unpack_from(data, offset)[0])


def u64(data: Buffer, offset: int) -> int:
    """Read a little-endian u64."""
    return int(_U64.unpack_from(data, offset)[0])


class Image:
    """Random access to a disk image, a file or an in-memory buffer, with located errors.

    Only the requested ranges are read (``os.pread``), so inspecting a multi-GiB sparse image
    costs a handful of sector reads.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes | bytearray | BinaryIO) -> None:
        self._fd: int | None = None
        self._buffer: bytes | None = None
        self._owned = False
        if isinstance(source, bytes | bytearray):
            self._buffer = bytes(source)
            self.name = "<buffer>"
            self.size = len(self._buffer)
        elif isinstance(source, str | os.PathLike):
            self.name = os.fspath(source)
            try:
                self._fd = os.open(self.name, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise file_error(exc, self.name, "the disk image") from None
            self._owned = True
            info = os.fstat(self._fd)
            if stat.S_ISDIR(info.st_mode):  # read() would fail later, without the name
                os.close(self._fd)
                self._fd = None
                raise BootFileError(
                    self.name, "Is a directory", role="the disk image", errno=errno.EISDIR
                )
            self.size = info.st_size
        else:
            self.name = str(getattr(source, "name", "<stream>"))
            self._fd = source.fileno()
            self.size = os.fstat(self._fd).st_size

    def close(self) -> None:
        """Close the file descriptor if this object opened it."""
        if self._owned and self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, offset: int, size: int, *, structure: str, field: str) -> bytes:
        """Return exactly ``size`` bytes at ``offset`` or raise :class:`TruncatedError`."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise TruncatedError(
                structure,
                field,
                offset,
                f"{size} bytes",
                f"{max(0, min(size, self.size - offset))} bytes (image is {self.size} bytes)",
                source=self.name,
            )
        if self._buffer is not None:
            return self._buffer[offset : offset + size]
        assert self._fd is not None, "read after close"
        data = os.pread(self._fd, size, offset)
        if len(data) != size:  # the file shrank under us
            raise TruncatedError(
                structure, field, offset, f"{size} bytes", f"{len(data)} bytes", source=self.name
            )
        return data

    def sector(self, lba: int, count: int = 1, *, structure: str, field: str) -> bytes:
        """Read ``count`` whole sectors starting at ``lba``."""
        return self.read(lba * SECTOR, count * SECTOR, structure=structure, field=field)


@contextlib.contextmanager
def _opened(
    source: str | os.PathLike[str] | bytes | bytearray | BinaryIO | Image,
) -> Iterator[Image]:
    if isinstance(source, Image):
        yield source
        return
    image = Image(source)
    try:
        yield image
    finally:
        image.close()


def opened(
    source: str | os.PathLike[str] | bytes | bytearray | BinaryIO | Image,
) -> contextlib.AbstractContextManager[Image]:
    """Use ``source`` as an :class:`Image` (closing it afterwards only if we opened it)."""
    return _opened(source)


@dataclass(frozen=True, slots=True)
class Patch:
    """``data`` to be written at byte ``offset`` of an image."""

    offset: int
    data: bytes


def _copy_sparse(src_fd: int, dst_fd: int, size: int) -> None:
    """Copy only the data extents of ``src_fd`` (SEEK_DATA/SEEK_HOLE), keeping its holes."""
    os.ftruncate(dst_fd, size)
    position = 0
    while position < size:
        try:
            data_start = os.lseek(src_fd, position, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole remains
                return
            if exc.errno != errno.EINVAL:
                raise
            data_start, data_end = position, size  # no SEEK_DATA here: copy everything
        else:
            data_end = os.lseek(src_fd, data_start, os.SEEK_HOLE)
        offset = data_start
        while offset < data_end:
            chunk = os.pread(src_fd, min(1 << 20, data_end - offset), offset)
            if not chunk:
                return
            os.pwrite(dst_fd, chunk, offset)
            offset += len(chunk)
        position = data_end


def patch_image(
    path: str | os.PathLike[str],
    patches: Iterable[Patch],
    *,
    size: int | None = None,
    fresh: bool = False,
) -> None:
    """Apply ``patches`` to the image at ``path`` atomically.

    The image is copied to a temporary file in the same directory (holes stay holes), patched,
    fsynced and renamed over the original; a missing image (or any image, with ``fresh``) is
    created all-zero and sparse with ``size`` bytes.
    """
    target = Path(path)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(target).st_mode):
            raise NotSupportedError(
                f"{target}: writing to anything but a regular image file (a block device, a "
                "pipe) is not supported yet; bootup never writes to real disks"
            )
    directory = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        try:
            if fresh:
                raise FileNotFoundError(target)
            src_fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if size is None:
                raise
            os.ftruncate(fd, size)
            os.fchmod(fd, 0o644)
        else:
            try:
                info = os.fstat(src_fd)
                _copy_sparse(src_fd, fd, info.st_size)
                os.fchmod(fd, info.st_mode & 0o7777)
            finally:
                os.close(src_fd)
            if size is not None and size != info.st_size:
                os.ftruncate(fd, size)
        for patch in patches:
            view = memoryview(patch.data)
            offset = patch.offset
            while view:
                written = os.pwrite(fd, view, offset)
                view = view[written:]
                offset += written
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp_name, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def create_sparse(path: str | os.PathLike[str], size: int) -> None:
    """Create (or replace) ``path`` as an all-zero sparse image of ``size`` bytes, atomically."""
    if size <= 0 or size % SECTOR:
        raise FieldError(
            "image", "size", 0, f"a positive multiple of {SECTOR}", size, source=os.fspath(path)
        )
    patch_image(path, (), size=size, fresh=True)
