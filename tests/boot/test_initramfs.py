"""The busybox initramfs builder: layout, device nodes without root, GNU cpio's view of it."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

import support
from bootup.boot.cpio import read_archive
from bootup.boot.initramfs import (
    PROBE_INIT,
    InitramfsError,
    build_initramfs,
    busybox_applets,
    entries_from_tree,
    initramfs_entries,
)

ASSETS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "boot-assets"


def _fetch_assets() -> None:
    """Fill the asset cache with scripts/fetch-boot-assets (idempotent) when it is empty."""
    if (ASSETS / "kernel-version").is_file():
        return
    script = Path(__file__).resolve().parents[2] / "scripts" / "fetch-boot-assets"
    subprocess.run(["bash", str(script)], capture_output=True, check=False)


def _busybox() -> Path:
    _fetch_assets()
    path = ASSETS / "busybox"
    if not path.exists():
        message = f"no busybox in {ASSETS}: run scripts/fetch-boot-assets"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_layout_as_gnu_cpio_lists_it() -> None:
    data = build_initramfs(busybox=_busybox(), applets=["sh", "mount"])
    assert data[:2] == b"\x1f\x8b"
    plain = gzip.decompress(data)
    cpio = support.require_tool("cpio", package="cpio")
    listing = subprocess.run(
        [cpio, "-itv", "--quiet"], input=plain, capture_output=True, check=True
    ).stdout.decode()
    rows = {line.split()[-1] if "->" not in line else line.split()[-3]: line.split()
            for line in listing.splitlines()}  # fmt: skip
    assert rows["dev/console"][0] == "crw-------"
    assert rows["dev/console"][4:6] == ["5,", "1"]
    assert rows["dev/null"][4:6] == ["1,", "3"]
    assert rows["init"][0] == "-rwxr-xr-x"
    assert rows["bin/busybox"][0] == "-rwxr-xr-x"
    assert rows["bin/sh"][-1] == "busybox"
    assert rows["tmp"][0] == "drwxrwxrwt"
    for directory in ("dev", "bin", "proc", "sys"):
        assert rows[directory][0].startswith("d")
    names = [e.name for e in read_archive(data)]
    # Parents before children: the kernel's unpacker does not create directories.
    for index, name in enumerate(names):
        parent = name.rpartition("/")[0]
        assert not parent or parent in names[:index], name


def test_reproducible() -> None:
    assert build_initramfs(busybox=_busybox()) == build_initramfs(busybox=_busybox())


def test_probe_init_is_valid_sh(tmp_path: Path) -> None:
    script = tmp_path / "init"
    script.write_text(PROBE_INIT)
    sh = support.require_tool("sh", package="dash")
    subprocess.run([sh, "-n", str(script)], check=True)


def test_all_applets() -> None:
    applets = busybox_applets(_busybox())
    assert {"sh", "mount", "poweroff", "cat"} <= set(applets)
    entries = initramfs_entries(busybox=_busybox(), applets=applets)
    links = {e.name for e in entries if e.kind == "l"}
    assert "bin/poweroff" in links
    assert "bin/busybox" not in links


def test_trees_get_parents_and_keep_links(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "a/b").mkdir(parents=True)
    (tree / "a/b/file").write_text("x")
    (tree / "a/b/file").chmod(0o600)
    (tree / "a/link").symlink_to("b/file")
    entries = initramfs_entries(trees=[(tree, "lib/modules/6.1")])
    names = [e.name for e in entries]
    for parent in ("lib", "lib/modules", "lib/modules/6.1", "lib/modules/6.1/a"):
        assert parent in names
    assert names.index("lib/modules") < names.index("lib/modules/6.1/a/b/file")
    by_name = {e.name: e for e in entries}
    assert by_name["lib/modules/6.1/a/link"].target == "b/file"
    assert by_name["lib/modules/6.1/a/b/file"].mode & 0o777 == 0o600
    assert names[-1] == "init"


def test_tree_with_special_file_refused(tmp_path: Path) -> None:
    (tmp_path / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InitramfsError) as info:
        entries_from_tree(tmp_path)
    assert info.value.field == "tree"
    assert "fifo" in info.value.path


def test_tree_colliding_with_base_layout(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/console").write_text("not a device")
    with pytest.raises(InitramfsError, match="collides") as info:
        initramfs_entries(trees=[(tmp_path, "")])
    assert info.value.found == "dev/console"


def test_busybox_must_be_elf(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\n")
    with pytest.raises(InitramfsError, match="ELF") as info:
        initramfs_entries(busybox=fake)
    assert info.value.field == "busybox"
    assert info.value.found.startswith("23 21")
    with pytest.raises(InitramfsError, match="cannot read"):
        initramfs_entries(busybox=tmp_path / "missing")


def test_cli_build_and_list(tmp_path: Path) -> None:
    out = tmp_path / "initrd.xz"
    subprocess.run(
        [sys.executable, "-m", "bootup", "boot", "initramfs", "build", str(out),
         "--busybox", str(_busybox()), "--compression", "xz", "--applet", "sh",
         "--applet", "ls"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert out.read_bytes()[:6] == b"\xfd7zXZ\x00"
    listed = subprocess.run(
        [sys.executable, "-m", "bootup", "boot", "initramfs", "list", str(out)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "bin/ls -> busybox" in listed
    assert "dev/console" in listed
    assert listed.splitlines()[1].startswith("crw-------")
