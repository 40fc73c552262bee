"""The ext2/3/4 reader against file systems made by the real mke2fs -d, checked with debugfs.

Expected contents are the staging directory itself and ``debugfs -R 'cat PATH'``; the
in-place rewrite is checked with debugfs and a clean ``e2fsck -fn``.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

import support
from bootup.boot import ext4
from bootup.errors import NotSupportedError

OFFSET = 2048 * 512


def _stage(root: Path) -> None:
    rng = random.Random(7)
    (root / "boot/grub/i386-pc").mkdir(parents=True)
    (root / "a/b/c").mkdir(parents=True)
    (root / "boot/vmlinuz-6.1.0").write_bytes(rng.randbytes(1_500_000))
    (root / "a/b/c/file.txt").write_text("hello\n")
    (root / "a/link").symlink_to("../boot/vmlinuz-6.1.0")
    (root / "abs").symlink_to("/a/b/c/file.txt")
    (root / "dirlink").symlink_to("a/b")
    (root / "long").symlink_to("t" * 100 + "/x")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    for i in range(400):  # enough entries for an htree directory after e2fsck -D
        (root / f"boot/grub/i386-pc/module-with-a-long-name-{i}.mod").write_text(f"{i}\n")
    (root / "boot/grub/grubenv").write_bytes(b"# GRUB Environment Block\n" + b"#" * (1024 - 25))
    (root / "empty").write_bytes(b"")
    with (root / "islands").open("wb") as handle:  # holes between data: many extents
        for i in range(24):
            handle.seek(i * 65536)
            handle.write(bytes([i + 1]) * 4096)
    (root / "ünïcode näme").write_text("utf8\n")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stage") / "root"
    root.mkdir()
    _stage(root)
    return root


FLAVOURS = {
    "ext2": ["-t", "ext2"],
    "ext3": ["-t", "ext3"],
    "ext4": ["-t", "ext4"],
    "ext4-4k-64bit": ["-t", "ext4", "-b", "4096", "-O", "64bit,metadata_csum"],
}


def _build(tmp_path: Path, stage: Path, flavour: str) -> Path:
    mke2fs = support.require_tool("mke2fs", package="e2fsprogs")
    image = tmp_path / f"{flavour}.img"
    subprocess.run(["truncate", "-s", "80M", str(image)], check=True)
    kib = (80 * 1024 * 1024 - OFFSET) // 1024
    subprocess.run(
        [
            mke2fs,
            "-q",
            "-F",
            *FLAVOURS[flavour],
            "-E",
            f"offset={OFFSET}",
            "-d",
            str(stage),
            str(image),
            f"{kib}k",
        ],
        check=True,
    )
    return image


def _debugfs_cat(image: Path, path: str) -> bytes:
    """debugfs only reads whole-device file systems: hand it the partition as a file."""
    debugfs = support.require_tool("debugfs", package="e2fsprogs")
    part = image.with_suffix(".part")
    if not part.exists():
        with image.open("rb") as src, part.open("wb") as dst:
            src.seek(OFFSET)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    return subprocess.run(
        [debugfs, "-R", f"cat {path}", str(part)], capture_output=True, check=True
    ).stdout


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_files_match_staging_and_debugfs(tmp_path: Path, stage: Path, flavour: str) -> None:
    image = _build(tmp_path, stage, flavour)
    with ext4.Ext4(image, OFFSET) as fs:
        for relative in (
            "boot/vmlinuz-6.1.0",
            "a/b/c/file.txt",
            "boot/grub/grubenv",
            "empty",
            "islands",
            "ünïcode näme",
        ):
            expected = (stage / relative).read_bytes()
            assert fs.read_path("/" + relative) == expected, relative
        assert fs.read_path("/boot/vmlinuz-6.1.0") == _debugfs_cat(image, "/boot/vmlinuz-6.1.0")
        assert fs.read_path("/islands") == _debugfs_cat(image, "/islands")
        listing = sorted(e.name for e in fs.listdir("/boot/grub/i386-pc"))
        assert listing == sorted(os.listdir(stage / "boot/grub/i386-pc"))
        assert sorted(e.name for e in fs.listdir("/")) == sorted([*os.listdir(stage), "lost+found"])


def test_symlinks(tmp_path: Path, stage: Path) -> None:
    image = _build(tmp_path, stage, "ext4")
    with ext4.Ext4(image, OFFSET) as fs:
        kernel = (stage / "boot/vmlinuz-6.1.0").read_bytes()
        assert fs.read_path("/a/link") == kernel  # relative, fast symlink
        assert fs.read_path("/abs") == b"hello\n"  # absolute
        assert fs.read_path("/dirlink/c/file.txt") == b"hello\n"  # through a directory link
        assert fs.read_path("/a/b/../b/c/./file.txt") == b"hello\n"
        assert fs.readlink("/long") == "t" * 100 + "/x"  # slow symlink, in a data block
        assert fs.readlink("/a/link") == "../boot/vmlinuz-6.1.0"
        with pytest.raises(ext4.Ext4Error, match="symlinks"):
            fs.read_path("/loop1")
        with pytest.raises(ext4.Ext4PathError, match="no 'missing'") as info:
            fs.read_path("/a/missing/x")
        assert isinstance(info.value, LookupError)
        with pytest.raises(ext4.Ext4PathError, match="regular file"):
            fs.read_path("/a")


def test_extent_tree_with_index_nodes(tmp_path: Path, stage: Path) -> None:
    image = _build(tmp_path, stage, "ext4")
    with ext4.Ext4(image, OFFSET) as fs:
        inode = fs.lookup("/islands")
        assert inode.flags & ext4.EXTENTS_FL
        assert int.from_bytes(inode.block[6:8], "little") >= 1  # eh_depth: not all in i_block
        extents = fs.extents(inode)
        size = fs.superblock.block_size
        covered = {(extent.logical + i) * size for extent in extents for i in range(extent.length)}
        expected = {island * 65536 + k for island in range(24) for k in range(0, 4096, size)}
        assert covered == expected
        assert len(extents) >= 24


def test_htree_directory_is_read(tmp_path: Path, stage: Path) -> None:
    image = _build(tmp_path, stage, "ext4-4k-64bit")
    e2fsck = support.require_tool("e2fsck", package="e2fsprogs")
    part = tmp_path / "part.img"
    with image.open("rb") as src, part.open("wb") as dst:
        src.seek(OFFSET)
        dst.write(src.read())
    subprocess.run([e2fsck, "-fyD", str(part)], capture_output=True, check=False)
    with ext4.Ext4(part) as fs:
        directory = fs.lookup("/boot/grub/i386-pc")
        assert directory.flags & ext4.INDEX_FL
        assert len(fs.listdir("/boot/grub/i386-pc")) == 400
        assert fs.read_path("/boot/grub/i386-pc/module-with-a-long-name-123.mod") == b"123\n"


def test_rewrite_in_place(tmp_path: Path, stage: Path) -> None:
    image = _build(tmp_path, stage, "ext4")
    e2fsck = support.require_tool("e2fsck", package="e2fsprogs")
    old = ext4.read_file(image, OFFSET, "/boot/grub/grubenv")
    new = b"# GRUB Environment Block\nsaved_entry=lin-b\n" + b"#" * (1024 - 43)
    assert len(new) == len(old)
    ext4.rewrite_file_in_place(image, OFFSET, "/boot/grub/grubenv", new)
    assert ext4.read_file(image, OFFSET, "/boot/grub/grubenv") == new
    assert _debugfs_cat(image, "/boot/grub/grubenv") == new
    part = image.with_suffix(".part")
    assert (
        subprocess.run([e2fsck, "-fn", str(part)], capture_output=True, check=False).returncode == 0
    )
    with pytest.raises(ext4.Ext4Error, match="keeps the size"):
        ext4.rewrite_file_in_place(image, OFFSET, "/boot/grub/grubenv", new + b"#")
    with pytest.raises(ext4.Ext4Error, match="sparse"):
        ext4.rewrite_file_in_place(image, OFFSET, "/islands", bytes(24 * 65536 - 65536 + 4096))


def test_not_ext_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(ext4.Ext4Error, match="not an ext2/3/4") as info:
        ext4.Ext4(bytes(4096))
    assert info.value.field == "s_magic"
    assert info.value.offset == 1024 + 0x38
    sb = bytearray(4096)
    sb[1024 + 0x38 : 1024 + 0x3A] = b"\x53\xef"
    sb[1024 + 0x60] = 0x10  # meta_bg
    with pytest.raises(NotSupportedError, match="meta_bg"):
        ext4.Ext4(bytes(sb))


def test_inline_data(tmp_path: Path) -> None:
    mke2fs = support.require_tool("mke2fs", package="e2fsprogs")
    root = tmp_path / "inline"
    (root / "boot").mkdir(parents=True)
    (root / "small").mkdir()
    (root / "boot/tiny").write_bytes(b"tiny\n")  # in i_block
    (root / "boot/mid").write_bytes(b"m" * 100)  # i_block + the system.data xattr
    (root / "boot/big").write_bytes(bytes(range(256)) * 20)  # too big: in blocks
    (root / "small/a").write_text("a\n")
    (root / "boot/link").symlink_to("y" * 80)
    image = tmp_path / "inline.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(
        [
            mke2fs,
            "-q",
            "-F",
            "-t",
            "ext4",
            "-O",
            "inline_data",
            "-I",
            "256",
            "-d",
            str(root),
            str(image),
        ],
        check=True,
    )
    with ext4.Ext4(image) as fs:
        for name in ("boot/tiny", "boot/mid", "boot/big", "small/a"):
            assert fs.read_path("/" + name) == (root / name).read_bytes(), name
        assert fs.lookup("/boot/mid").is_inline
        assert not fs.lookup("/boot/big").is_inline
        assert fs.lookup("/small").is_inline
        assert [(e.name, e.file_type) for e in fs.entries(fs.lookup("/small"))] == [
            (".", 2),
            ("..", 2),
            ("a", 1),
        ]
        assert sorted(e.name for e in fs.listdir("/boot")) == ["big", "link", "mid", "tiny"]
        assert fs.readlink("/boot/link") == "y" * 80
    with pytest.raises(ext4.Ext4UnsupportedError, match="inline data") as info:
        ext4.rewrite_file_in_place(image, 0, "/boot/mid", b"n" * 100)
    assert isinstance(info.value, NotSupportedError)
