"""boot.img recognition and decoding, on Debian's real /usr/lib/grub/i386-pc/boot.img."""

from __future__ import annotations

from pathlib import Path

import pytest

import support
from bootup.boot import bootimg

BOOT_IMG = Path("/usr/lib/grub/i386-pc/boot.img")


@pytest.fixture
def boot_img() -> bytes:
    if not BOOT_IMG.exists():
        message = f"{BOOT_IMG} is missing (Debian package grub-pc-bin)"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return BOOT_IMG.read_bytes()


def test_debian_boot_img_is_recognised(boot_img: bytes) -> None:
    data = bootimg.read_boot_img(BOOT_IMG)
    assert data == boot_img
    decoded = bootimg.decode_boot_sector(data)
    assert decoded.is_grub
    assert decoded.messages_offset == data.find(b"GRUB \0")
    assert decoded.kernel_address == 0x8000
    assert decoded.kernel_sector == 1
    assert decoded.boot_drive == 0xFF
    assert not decoded.drive_check_disabled  # the file still has the EB 05 jump
    assert decoded.has_signature
    assert data[:2] == b"\xeb\x63"


def test_patch_kernel_sector(boot_img: bytes) -> None:
    patched = bootimg.patch_kernel_sector(boot_img, 2048)
    decoded = bootimg.decode_boot_sector(patched)
    assert decoded.kernel_sector == 2048
    assert patched[:0x5C] == boot_img[:0x5C]
    assert patched[0x65:] == boot_img[0x65:]


def test_other_sectors_are_not_grub() -> None:
    sector = bytearray(512)
    sector[0x1FE:] = b"\x55\xaa"
    decoded = bootimg.decode_boot_sector(bytes(sector))
    assert not decoded.is_grub
    assert decoded.messages_offset is None
    with pytest.raises(bootimg.BootImageError, match=r"not GRUB's boot\.img") as info:
        bootimg.read_boot_img(bytes(sector))
    assert info.value.field == "message block"


def test_wrong_size_and_missing_signature(boot_img: bytes, tmp_path: Path) -> None:
    path = tmp_path / "boot.img"
    path.write_bytes(boot_img + b"x")
    with pytest.raises(bootimg.BootImageError, match="expected 512 bytes") as info:
        bootimg.read_boot_img(path)
    assert str(path) in str(info.value)
    with pytest.raises(bootimg.BootImageError, match="signature"):
        bootimg.read_boot_img(boot_img[:510] + b"\0\0")
    with pytest.raises(bootimg.BootImageError, match="sector"):
        bootimg.decode_boot_sector(b"short")
