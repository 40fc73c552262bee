"""grubenv block semantics: layout, in-place edits, errors that name the spot, atomic writes.

Byte-for-byte agreement with the real grub-editenv is in tests/conformance/test_grub_editenv.py;
these tests pin the behaviour that does not need the tool, and fuzz the reader.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootup.boot import grubenv
from bootup.errors import BootFormatError


def test_create_is_exactly_one_kib_with_signature_warning_and_padding() -> None:
    block = grubenv.EnvBlock.create()
    data = block.to_bytes()
    assert len(data) == 1024
    assert data.startswith(grubenv.SIGNATURE + grubenv.DEBIAN_WARNING)
    assert set(data[len(grubenv.SIGNATURE + grubenv.DEBIAN_WARNING) :]) == {ord("#")}
    assert block.items() == []


def test_set_appends_then_rewrites_in_place_and_keeps_the_size() -> None:
    block = grubenv.EnvBlock.create()
    block.set("a", "1")
    block.set("saved_entry", "adv>lin-b")
    block.set("a", "a much longer value")
    data = block.to_bytes()
    assert len(data) == 1024
    body = data[len(grubenv.SIGNATURE + grubenv.DEBIAN_WARNING) :]
    assert body.startswith(b"a=a much longer value\nsaved_entry=adv>lin-b\n#")
    block.set("a", "")
    assert block.to_bytes()[len(grubenv.SIGNATURE + grubenv.DEBIAN_WARNING) :].startswith(
        b"a=\nsaved_entry=adv>lin-b\n#"
    )
    assert block.variables() == {"a": "", "saved_entry": "adv>lin-b"}


def test_escapes_round_trip() -> None:
    block = grubenv.EnvBlock.create()
    block.set("v", "back\\slash\nnew line")
    assert b"v=back\\\\slash\\\nnew line\n" in block.to_bytes()
    assert block.get("v") == "back\\slash\nnew line"
    assert block.listing() == b"v=back\\slash\nnew line\n"


def test_unset_removes_the_line_and_repads() -> None:
    block = grubenv.EnvBlock.create()
    block.set("a", "1")
    block.set("b", "2")
    block.unset("a")
    block.unset("missing")
    assert block.items() == [("b", "2")]
    assert block.to_bytes().endswith(b"#" * 4)
    assert len(block.to_bytes()) == 1024


def test_full_block_names_what_was_needed() -> None:
    block = grubenv.EnvBlock.create()
    with pytest.raises(grubenv.GrubenvFullError) as info:
        block.set("big", "x" * 1000)
    assert info.value.field == "free space"
    assert "free bytes" in info.value.expected
    assert isinstance(info.value, BootFormatError)
    # An exact fit is allowed: no padding left at all.
    free = 1024 - len(grubenv.SIGNATURE + grubenv.DEBIAN_WARNING)
    block.set("f", "y" * (free - len("f=\n")))
    assert b"#" not in block.to_bytes()[-5:]
    with pytest.raises(grubenv.GrubenvFullError):
        block.set("g", "")


def test_invalid_signature_names_offset_expected_found() -> None:
    with pytest.raises(grubenv.GrubenvError) as info:
        grubenv.EnvBlock(b"# Not a GRUB block\n" + b"#" * 100, path="env")
    assert info.value.offset == 0
    assert info.value.field == "signature"
    assert "GRUB Environment Block" in info.value.expected
    assert "Not a GRUB" in info.value.found
    with pytest.raises(grubenv.GrubenvError, match="at least 26 bytes"):
        grubenv.EnvBlock(grubenv.SIGNATURE)


def test_padding_without_newline_is_reported_with_its_offset() -> None:
    data = grubenv.SIGNATURE + b"a=1" + b"#" * 50
    block = grubenv.EnvBlock(data)
    damage = block.damage()
    assert damage is not None
    assert damage.field in ("variable", "padding")
    with pytest.raises(grubenv.GrubenvError) as info:
        block.set("b", "2")
    assert info.value.offset == len(grubenv.SIGNATURE) + 2
    assert info.value.expected == "a newline before the '#' padding"


@pytest.mark.parametrize("name", ["", "#x", "a\nb", "a=b"])
def test_names_grub_cannot_store_are_refused(name: str) -> None:
    with pytest.raises(grubenv.GrubenvError, match="invalid variable name"):
        grubenv.EnvBlock.create().set(name, "v")


def test_files_are_written_atomically_and_keep_their_mode(tmp_path: Path) -> None:
    path = tmp_path / "grubenv"
    block = grubenv.create_file(path)
    os.chmod(path, 0o600)
    inode = path.stat().st_ino
    block.set("saved_entry", "0")
    grubenv.save(block)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert grubenv.load(path).get("saved_entry") == "0"
    assert [p.name for p in tmp_path.iterdir()] == ["grubenv"]  # no temp file left


def test_symlinked_grubenv_is_replaced_behind_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real-env"
    grubenv.create_file(real)
    link = tmp_path / "grubenv"
    link.symlink_to(real)
    block = grubenv.load(link)
    block.set("x", "1")
    grubenv.save(block)
    assert link.is_symlink()
    assert grubenv.load(real).get("x") == "1"


def test_load_or_create_creates_a_missing_block(tmp_path: Path) -> None:
    path = tmp_path / "new"
    block = grubenv.load_or_create(path)
    assert path.stat().st_size == 1024
    assert block.items() == []


@pytest.mark.slow
def test_concurrent_readers_never_see_a_torn_block(tmp_path: Path) -> None:
    """A reader racing the writer sees the old or the new block, never a mix."""
    path = tmp_path / "grubenv"
    grubenv.create_file(path)
    values = [f"value-{i}-" + "z" * (i % 40) for i in range(20)]
    done = threading.Event()
    started = threading.Barrier(2)
    seen: list[bytes] = []

    def reader() -> None:
        started.wait()
        while not done.is_set():
            seen.append(path.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait()
    try:
        for value in values:
            block = grubenv.load(path)
            block.set("saved_entry", value)
            grubenv.save(block)
    finally:
        done.set()
        thread.join()
    allowed = {""} | set(values)
    for data in seen:
        block = grubenv.EnvBlock(data)
        assert len(data) == 1024
        assert block.damage() is None
        assert block.variables().get("saved_entry", "") in allowed


@given(st.binary(max_size=1100))
def test_fuzz_random_bytes_only_raise_grubenv_errors(data: bytes) -> None:
    try:
        block = grubenv.EnvBlock(data)
    except grubenv.GrubenvError:
        return
    block.items()
    block.listing()
    block.damage()
    try:
        block.set("saved_entry", "a\\b\nc")
        block.unset("x")
    except grubenv.GrubenvError:
        pass
    assert len(block.to_bytes()) == len(data)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "bb", "saved_entry"]), st.text(max_size=40))),
    st.integers(min_value=0, max_value=1024),
)
def test_fuzz_truncated_blocks_only_raise_grubenv_errors(
    edits: list[tuple[str, str]], cut: int
) -> None:
    block = grubenv.EnvBlock.create()
    for name, value in edits:
        try:
            block.set(name, value)
        except grubenv.GrubenvError:
            break
    truncated = block.to_bytes()[:cut]
    try:
        damaged = grubenv.EnvBlock(truncated)
    except grubenv.GrubenvError:
        return
    damaged.items()
    with contextlib.suppress(grubenv.GrubenvError):
        damaged.set("saved_entry", "0")


def test_edit_holds_the_directory_lock_so_concurrent_editors_lose_nothing(
    tmp_path: Path,
) -> None:
    import fcntl

    path = tmp_path / "grubenv"
    inside = threading.Event()
    release = threading.Event()

    def slow_change(block: grubenv.EnvBlock) -> None:
        block.set("a", "1")
        inside.set()
        assert release.wait(timeout=60)

    writer = threading.Thread(target=grubenv.edit, args=(path, slow_change))
    writer.start()
    assert inside.wait(timeout=60)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    second = threading.Thread(target=grubenv.edit, args=(path, lambda b: b.set("b", "2")))
    second.start()
    release.set()
    writer.join()
    second.join()
    assert grubenv.load(path).variables() == {"a": "1", "b": "2"}


def test_edit_leaves_the_file_alone_when_the_change_fails(tmp_path: Path) -> None:
    path = tmp_path / "grubenv"
    grubenv.edit(path, lambda b: b.set("a", "1"))
    before = path.read_bytes()

    def fail(block: grubenv.EnvBlock) -> None:
        block.set("b", "2")
        block.set("big", "x" * 2000)

    with pytest.raises(grubenv.GrubenvFullError):
        grubenv.edit(path, fail)
    assert path.read_bytes() == before
