"""The newc/crc cpio reader and writer, checked against GNU cpio in both directions."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import support
from bootup.boot.cpio import (
    Compression,
    CpioEntry,
    CpioFormatError,
    build_archive,
    compress,
    decompress,
    detect_compression,
    iter_newc,
    read_archive,
)
from bootup.errors import NotSupportedError

SAMPLE = [
    CpioEntry.directory("etc"),
    CpioEntry.file("etc/hostname", b"bootup\n"),
    CpioEntry.file("etc/empty", b""),
    CpioEntry.hardlink("etc/hostname2", "etc/hostname"),
    CpioEntry.symlink("etc/link", "hostname"),
    CpioEntry.directory("dev"),
    CpioEntry.char_device("dev/console", 5, 1),
    CpioEntry.block_device("dev/sda", 8, 0, mode=0o660),
    CpioEntry.fifo("dev/pipe"),
    CpioEntry.file("odd", b"x" * 5, mode=0o4755),
]


def _cpio() -> str:
    return support.require_tool("cpio", package="cpio")


def _listing(archive: bytes) -> list[str]:
    """``cpio -itv`` lines, owners and dates dropped (they depend on the host's locale)."""
    out = subprocess.run(
        [_cpio(), "-itv", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    rows = []
    for line in out.splitlines():
        fields = line.split()
        # perms nlink owner group size|maj, min  Mon DD YYYY name [-> target]
        perms, nlink = fields[0], fields[1]
        if fields[4].endswith(","):
            size, rest = fields[4] + fields[5], fields[9:]
        else:
            size, rest = fields[4], fields[8:]
        rows.append(" ".join([perms, nlink, size, *rest]))
    return rows


def test_gnu_cpio_lists_what_we_wrote() -> None:
    archive = build_archive(SAMPLE, mtime=1_700_000_000)
    assert _listing(archive) == [
        "drwxr-xr-x 2 0 etc",
        "-rw-r--r-- 2 0 etc/hostname",
        "-rw-r--r-- 1 0 etc/empty",
        "-rw-r--r-- 2 7 etc/hostname2",
        "lrwxrwxrwx 1 8 etc/link -> hostname",
        "drwxr-xr-x 2 0 dev",
        "crw------- 1 5,1 dev/console",
        "brw-rw---- 1 8,0 dev/sda",
        "prw-r--r-- 1 0 dev/pipe",
        "-rwsr-xr-x 1 5 odd",
    ]


def test_crc_format_listed_and_checked_by_gnu_cpio() -> None:
    archive = build_archive(SAMPLE, crc=True)
    assert archive.startswith(b"070702")
    assert len(_listing(archive)) == len(SAMPLE)
    # GNU cpio verifies the check field when it extracts to stdout.
    body = subprocess.run(
        [_cpio(), "-i", "--to-stdout", "--quiet", "etc/hostname2"],
        input=archive, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert body == b"bootup\n"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can write (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="bootup-cpio-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_extraction_by_gnu_cpio_as_non_root(shared_dir: Path) -> None:
    setpriv = support.require_tool("setpriv", package="util-linux")
    entries = [e for e in SAMPLE if e.kind not in "cb"]  # mknod needs root
    archive = shared_dir / "a.cpio"
    archive.write_bytes(build_archive(entries, mtime=1_600_000_000))
    archive.chmod(0o644)
    out = shared_dir / "out"
    out.mkdir()
    out.chmod(0o777)
    user = (
        []
        if os.geteuid() != 0
        else [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    )
    subprocess.run(
        [*user, _cpio(), "-idm", "--quiet", "-D", str(out), "-F", str(archive)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (out / "etc/hostname").read_bytes() == b"bootup\n"
    assert (out / "etc/hostname").stat().st_ino == (out / "etc/hostname2").stat().st_ino
    assert os.readlink(out / "etc/link") == "hostname"
    assert stat.S_ISFIFO((out / "dev/pipe").lstat().st_mode)
    assert (out / "etc/hostname").stat().st_mtime == 1_600_000_000
    assert stat.S_IMODE((out / "etc/hostname").stat().st_mode) == 0o644


def test_we_read_what_gnu_cpio_wrote(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d/f").write_bytes(b"abc" * 1000)
    os.link(tree / "d/f", tree / "d/g")
    (tree / "l").symlink_to("d/f")
    names = "d\nd/f\nd/g\nl\n"
    for fmt, magic in (("newc", b"070701"), ("crc", b"070702")):
        made = subprocess.run(
            [_cpio(), "-o", "--quiet", "-H", fmt], input=names.encode(), cwd=tree,
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        assert made.startswith(magic)
        got = {e.name: e for e in read_archive(made)}
        assert set(got) == {"d", "d/f", "d/g", "l"}
        assert got["l"].target == "d/f"
        # GNU cpio puts the body of a hard-linked file on its last name.
        assert got["d/f"].ino == got["d/g"].ino
        assert got["d/f"].nlink == 2
        assert {got["d/f"].data, got["d/g"].data} == {b"", b"abc" * 1000}


@pytest.mark.parametrize(
    ("kind", "tool", "package"),
    [("gzip", "gzip", "gzip"), ("xz", "xz", "xz-utils"), ("zstd", "zstd", "zstd")],
)
def test_compressed_round_trip_and_real_decompressor(
    kind: Compression, tool: str, package: str
) -> None:
    archive = build_archive(SAMPLE)
    packed = compress(archive, kind)
    assert detect_compression(packed) == kind
    assert decompress(packed) == (archive, [kind])
    unpacked = subprocess.run(
        [support.require_tool(tool, package=package), "-dc"], input=packed,
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert unpacked == archive
    # Reproducible: the same input gives the same compressed bytes.
    assert compress(archive, kind) == packed


def test_concatenated_segments_like_early_microcode() -> None:
    first = build_archive([CpioEntry.directory("kernel")])
    second = compress(build_archive([CpioEntry.file("init", b"#!/bin/sh\n", 0o755)]), "gzip")
    entries = read_archive(first + second)
    assert [e.name for e in entries] == ["kernel", "init"]
    assert decompress(first + second)[1] == ["none", "gzip"]


def test_output_is_deterministic_and_padded() -> None:
    one = build_archive(SAMPLE, mtime=5, uid=0, gid=0)
    two = build_archive(list(SAMPLE), mtime=5, uid=0, gid=0)
    assert one == two
    assert len(one) % 512 == 0
    assert next(off for off, _ in iter_newc(one)) == 0
    assert all(off % 4 == 0 for off, _ in iter_newc(one))


names = st.text(alphabet="abcdefghij0123456789-_.", min_size=1, max_size=20).filter(
    lambda n: n not in (".", "..")
)


@given(
    files=st.dictionaries(names, st.binary(max_size=300), max_size=8),
    mtime=st.integers(0, 0xFFFFFFFF),
    crc=st.booleans(),
)
def test_round_trip(files: dict[str, bytes], mtime: int, crc: bool) -> None:
    entries = [CpioEntry.directory("top")]
    entries += [CpioEntry.file(f"top/{n}", body, 0o640) for n, body in files.items()]
    entries += [CpioEntry.char_device("null", 1, 3)]
    back = read_archive(build_archive(entries, mtime=mtime, crc=crc, block_size=1))
    assert [(e.name, e.mode, e.data, e.rdevmajor, e.rdevminor) for e in back] == [
        (e.name, e.mode, e.data, e.rdevmajor, e.rdevminor) for e in entries
    ]
    assert {e.mtime for e in back} == {mtime}
    assert [e.ino for e in back] == list(range(1, len(entries) + 1))


def test_bad_magic_names_offset() -> None:
    archive = bytearray(build_archive(SAMPLE))
    second = [off for off, _ in iter_newc(bytes(archive))][1]
    archive[second : second + 6] = b"070707"
    with pytest.raises(CpioFormatError) as info:
        read_archive(bytes(archive))
    assert (info.value.offset, info.value.field) == (second, "magic")
    assert "odc" in str(info.value)


def test_crc_mismatch_detected() -> None:
    archive = bytearray(build_archive([CpioEntry.file("f", b"abcd")], crc=True))
    archive[archive.index(b"abcd")] = ord("X")
    with pytest.raises(CpioFormatError, match="checksum") as info:
        read_archive(bytes(archive))
    assert info.value.name == "f"
    assert info.value.field == "check"


def test_truncated_and_missing_trailer() -> None:
    archive = build_archive([CpioEntry.file("f", b"x" * 100)], block_size=1)
    with pytest.raises(CpioFormatError, match="truncated") as info:
        read_archive(archive[:150])
    assert info.value.field == "filesize"
    with pytest.raises(CpioFormatError, match="TRAILER"):
        read_archive(archive[:212])


def test_non_hex_field() -> None:
    archive = bytearray(build_archive([CpioEntry.file("f", b"")]))
    archive[6 + 8 * 6 : 6 + 8 * 7] = b"0000000Z"
    with pytest.raises(CpioFormatError) as info:
        read_archive(bytes(archive))
    assert (info.value.field, info.value.offset) == ("filesize", 54)


@pytest.mark.parametrize(
    ("entries", "field", "match"),
    [
        ([CpioEntry.file("a/b", b"")], "name", "parent directory"),
        ([CpioEntry.file("a", b""), CpioEntry.file("a", b"")], "name", "duplicate"),
        ([CpioEntry.file("/abs", b"")], "name", "relative"),
        ([CpioEntry.directory("d"), CpioEntry.file("d/../x", b"")], "name", "relative"),
        ([CpioEntry.hardlink("h", "nothing")], "link_to", "hard link"),
        ([CpioEntry(name="big", mode=0o100644, mtime=1 << 33)], "mtime", "out of range"),
    ],
)
def test_writer_refuses(entries: list[CpioEntry], field: str, match: str) -> None:
    with pytest.raises(CpioFormatError, match=match) as info:
        build_archive(entries)
    assert info.value.field == field


def test_unsupported_and_unknown_compression() -> None:
    with pytest.raises(NotSupportedError, match="bzip2"):
        detect_compression(b"BZh91AY&SY")
    with pytest.raises(CpioFormatError, match="unknown") as info:
        detect_compression(b"\x7fELF\x02\x01")
    assert info.value.field == "magic"
