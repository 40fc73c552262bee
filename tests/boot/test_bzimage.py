"""The bzImage header parser against Debian's kernel, ``file -b`` and crafted damage."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import support
from bootup.boot.bzimage import (
    BzImageError,
    BzImageMagicError,
    BzImageTruncatedError,
    parse_bzimage,
    read_bzimage,
)
from bootup.errors import BootFormatError

ASSETS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "boot-assets"


def _fetch_assets() -> None:
    """Fill the asset cache with scripts/fetch-boot-assets (idempotent) when it is empty."""
    if (ASSETS / "kernel-version").is_file():
        return
    script = Path(__file__).resolve().parents[2] / "scripts" / "fetch-boot-assets"
    subprocess.run(["bash", str(script)], capture_output=True, check=False)


def _kernel() -> Path:
    """The Debian kernel of scripts/fetch-boot-assets (skip locally, fail in CI)."""
    _fetch_assets()
    path = ASSETS / "vmlinuz"
    if not (ASSETS / "kernel-version").is_file() or not path.exists():
        message = f"no kernel in {ASSETS}: run scripts/fetch-boot-assets"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _minimal(version: int = 0x020F, setup_sects: int = 1) -> bytearray:
    """A synthetic header: just enough of a bzImage for the parser."""
    data = bytearray((setup_sects + 1) * 512 + 64)
    data[0x1F1] = setup_sects
    struct.pack_into("<H", data, 0x1FE, 0xAA55)
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, version)
    text = b"6.9.0-test (x@y) #1\0"
    struct.pack_into("<H", data, 0x20E, 0x300 - 0x200)
    data[0x300 : 0x300 + len(text)] = text
    data[0x211] = 0x01
    return data


def test_debian_kernel_version_matches_package_and_file() -> None:
    kernel = _kernel()
    header = read_bzimage(kernel)
    release = (ASSETS / "kernel-version").read_text().strip()
    package_version = (ASSETS / "kernel-package-version").read_text().strip()
    assert header.release == release
    assert header.kernel_version is not None
    assert f"Debian {package_version} " in header.kernel_version
    tool = support.require_tool("file", package="file")
    described = subprocess.run(
        [tool, "-bL", str(kernel)], capture_output=True, text=True, check=True
    ).stdout
    assert "bzImage" in described
    assert f"version {header.kernel_version}," in described
    # file(1) prints RO-rootFS for root_flags != 0 and "Normal VGA" for vid_mode 0xffff.
    assert ("RO-rootFS" in described) == bool(header.root_flags)
    assert ("Normal VGA" in described) == (header.vid_mode == 0xFFFF)


def test_debian_kernel_header_facts() -> None:
    header = read_bzimage(_kernel())
    assert header.protocol >= (2, 12)
    assert header.loaded_high
    assert header.relocatable_kernel is True
    assert header.pe_stub  # Debian kernels carry the EFI stub
    assert header.cmdline_size == 2047
    assert header.payload_compression == "xz"  # Debian 12 builds with CONFIG_KERNEL_XZ
    assert header.payload_length is not None
    assert header.payload_offset is not None
    # syssize covers the protected-mode part; the PE image may carry a little trailer.
    assert 0 <= header.file_size - (header.setup_size + header.syssize_bytes) < 4096
    assert header.kernel_alignment is not None
    assert header.kernel_alignment & (header.kernel_alignment - 1) == 0


def test_cli_kernel_json() -> None:
    kernel = _kernel()
    result = subprocess.run(
        [sys.executable, "-m", "bootup", "boot", "kernel", "--json", str(kernel)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["release"] == (ASSETS / "kernel-version").read_text().strip()
    assert data["protocol"] == read_bzimage(kernel).protocol_version


def test_synthetic_header_and_protocol_gating() -> None:
    header = parse_bzimage(bytes(_minimal(version=0x0204)))
    assert header.protocol_version == "2.04"
    assert header.kernel_version == "6.9.0-test (x@y) #1"
    assert header.release == "6.9.0-test"
    assert header.cmdline_size == 255  # no cmdline_size field before 2.06
    assert header.relocatable_kernel is None
    assert header.payload_offset is None
    assert parse_bzimage(bytes(_minimal(version=0x0206))).relocatable_kernel is False


def test_setup_sects_zero_means_four() -> None:
    data = _minimal(setup_sects=4)
    data[0x1F1] = 0
    assert parse_bzimage(bytes(data)).setup_sects == 4


def test_missing_boot_flag_names_field_and_offset() -> None:
    data = _minimal()
    data[0x1FE:0x200] = b"\0\0"
    with pytest.raises(BzImageMagicError) as info:
        parse_bzimage(bytes(data), path="k")
    err = info.value
    assert (err.field, err.offset, err.expected, err.found) == (
        "boot_flag",
        0x1FE,
        "0xaa55",
        "0x0000",
    )
    assert isinstance(err, BootFormatError)
    assert "k: " in str(err)


def test_missing_hdrs_is_an_old_zimage() -> None:
    data = _minimal()
    data[0x202:0x206] = b"XXXX"
    with pytest.raises(BzImageMagicError, match="HdrS") as info:
        parse_bzimage(bytes(data))
    assert info.value.offset == 0x202


def test_truncated_header() -> None:
    data = bytes(_minimal())[:0x230]
    with pytest.raises(BzImageTruncatedError) as info:
        parse_bzimage(data)
    assert info.value.offset >= 0x230 - 4
    assert "file of 560 bytes" in info.value.found


def test_version_pointer_outside_setup_code() -> None:
    data = _minimal()
    struct.pack_into("<H", data, 0x20E, 0x7000)
    with pytest.raises(BzImageError) as info:
        parse_bzimage(bytes(data))
    assert info.value.field == "kernel_version"


def test_unknown_major_protocol() -> None:
    with pytest.raises(BzImageError, match="major") as info:
        parse_bzimage(bytes(_minimal(version=0x030F)))
    assert info.value.found == "0x030f"


def test_payload_truncated_in_the_real_kernel(tmp_path: Path) -> None:
    data = _kernel().read_bytes()
    cut = tmp_path / "vmlinuz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BzImageTruncatedError) as info:
        read_bzimage(cut)
    assert info.value.field == "payload_length"
    assert str(cut) in str(info.value)
