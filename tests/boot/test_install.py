"""The GRUB BIOS installer: what it patches, where it embeds, and what it refuses.

core.img comes from the real grub-mkimage; the byte comparison with the real
grub-bios-setup lives in tests/conformance/test_grub_bios_setup.py.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

import support
from bootup.boot import bootimg, coreimg, gpt, install, mbr
from bootup.errors import BootFormatError

BOOT_IMG = Path("/usr/lib/grub/i386-pc/boot.img")


def _mkimage(out: Path, *modules: str, prefix: str = "(hd0,msdos1)/boot/grub") -> bytes:
    tool = support.require_tool("grub-mkimage", package="grub-common")
    if not BOOT_IMG.exists():
        if support.IN_CI:
            pytest.fail(f"{BOOT_IMG} is missing (Debian package grub-pc-bin)")
        pytest.skip(f"{BOOT_IMG} is missing (Debian package grub-pc-bin)")
    subprocess.run([tool, "-O", "i386-pc", "-p", prefix, "-o", str(out), *modules], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def small_core(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("core") / "core.img"
    return _mkimage(out, "biosdisk", "part_msdos", "ext2")


@pytest.fixture(scope="module")
def big_core(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("core") / "big.img"
    return _mkimage(
        out,
        "biosdisk",
        "part_msdos",
        "ext2",
        "normal",
        "linux",
        "echo",
        "serial",
        "terminal",
        "configfile",
        "search",
    )


def _dos(path: Path, start: int = 2048, size: int = 32 << 20) -> None:
    mbr.write_mbr(
        path,
        [mbr.MBRPartition(1, start, 4096, 0x83, bootable=True)],
        disk_signature=0xA1B2C3D4,
        size=size,
    )


def test_msdos_install_patches_boot_and_core(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "d.img"
    _dos(image)
    with image.open("r+b") as handle:  # a BPB-like pattern that setup must keep
        handle.write(b"\xeb\x3c\x90" + bytes(range(3, 0x5A)))
    before = image.read_bytes()[:512]
    result = install.install_grub(image, small_core, BOOT_IMG.read_bytes())
    sectors = -(-len(small_core) // 512)
    assert result.label == "msdos"
    assert result.first_sector == 1
    assert result.sectors == tuple(range(1, 1 + sectors))
    assert result.area_sectors == 2047
    data = image.read_bytes()
    boot = data[:512]
    original = BOOT_IMG.read_bytes()
    assert boot[0x03:0x5A] == before[0x03:0x5A]  # the BPB is the disk's
    assert boot[:3] == original[:3]
    assert boot[0x66:0x68] == b"\x90\x90"  # drive check disabled
    assert boot[0x64] == 0xFF
    assert struct.unpack_from("<Q", boot, 0x5C)[0] == 1
    assert boot[0x1B8:0x1FE] == before[0x1B8:0x1FE]  # signature + table kept
    assert boot[0x68:0x1B8] == original[0x68:0x1B8]
    core = data[512 : 512 * (1 + sectors)]
    assert core[: len(small_core)][:0x1F4] == small_core[:0x1F4]
    assert core[0x200 : len(small_core)] == small_core[0x200:]
    assert core[len(small_core) :] == bytes(sectors * 512 - len(small_core))
    assert coreimg.read_blocklists(core) == [coreimg.Blocklist(2, sectors - 1, 0x820)]
    assert mbr.read_mbr(image).disk_signature == 0xA1B2C3D4
    decoded = bootimg.decode_boot_sector(boot)
    assert decoded.is_grub
    assert decoded.drive_check_disabled


def test_allow_floppy_keeps_drive_check(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "d.img"
    _dos(image)
    install.install_grub(image, small_core, BOOT_IMG.read_bytes(), allow_floppy=True)
    assert image.read_bytes()[0x66:0x68] == BOOT_IMG.read_bytes()[0x66:0x68] == b"\xeb\x05"


def test_article_gap_of_62_sectors(tmp_path: Path, small_core: bytes, big_core: bytes) -> None:
    image = tmp_path / "d.img"
    _dos(image, start=63)
    result = install.install_grub(image, small_core)  # 53 sectors fit into 62
    assert result.area_sectors == 62
    untouched = image.read_bytes()
    with pytest.raises(install.EmbeddingError) as info:
        install.install_grub(image, big_core)
    assert info.value.available == 62
    assert info.value.needed == -(-len(big_core) // 512)
    assert "31,744 bytes" in str(info.value)
    assert "first partition at 63" in str(info.value)
    assert isinstance(info.value, BootFormatError)
    assert image.read_bytes() == untouched


def test_gpt_install_uses_bios_boot_partition(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "g.img"
    gpt.write_gpt(
        image,
        [
            gpt.GPTPartition.sized(1, 2048, 8192, gpt.LINUX_FILESYSTEM),
            gpt.GPTPartition.sized(2, 10240, 2048, gpt.BIOS_BOOT),
        ],
        size=32 << 20,
    )
    result = install.install_grub(image, small_core)
    assert result.label == "gpt"
    assert result.first_sector == 10240
    data = image.read_bytes()
    assert struct.unpack_from("<Q", data, 0x5C)[0] == 10240
    core = data[10240 * 512 : 10241 * 512]
    assert coreimg.read_blocklists(core)[0].start == 10241
    assert data[0x1C2] == 0xEE  # the protective MBR entry is kept
    assert gpt.read_gpt(image, strict=True).partition(2).type_guid == gpt.BIOS_BOOT
    assert data[512:1024].startswith(b"EFI PART")


def test_gpt_refusals(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "g.img"
    gpt.write_gpt(
        image, [gpt.GPTPartition.sized(1, 2048, 8192, gpt.LINUX_FILESYSTEM)], size=16 << 20
    )
    with pytest.raises(install.InstallError, match="no BIOS Boot Partition"):
        install.install_grub(image, small_core)
    gpt.write_gpt(image, [gpt.GPTPartition.sized(1, 2048, 20, gpt.BIOS_BOOT)])
    with pytest.raises(install.EmbeddingError, match="BIOS Boot Partition is too small"):
        install.install_grub(image, small_core)
    gpt.write_gpt(image, [gpt.GPTPartition.sized(1, 2048, 2048, gpt.BIOS_BOOT)])
    with image.open("r+b") as handle:
        handle.seek(512 + 16)
        handle.write(b"\0\0\0\0")
    with pytest.raises(install.InstallError, match="primary GPT is damaged"):
        install.install_grub(image, small_core)


def test_other_software_sectors_are_skipped(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "d.img"
    _dos(image)
    with image.open("r+b") as handle:
        handle.seek(5 * 512)
        handle.write(b"ZISD" + b"keep me")
    result = install.install_grub(image, small_core)
    sectors = -(-len(small_core) // 512)
    assert 5 not in result.sectors
    assert result.sectors == (1, 2, 3, 4, *range(6, sectors + 2))
    assert any("ZISD" in w for w in result.warnings)
    data = image.read_bytes()
    assert data[5 * 512 : 5 * 512 + 11] == b"ZISDkeep me"
    assert coreimg.read_blocklists(data[512:1024]) == [
        coreimg.Blocklist(2, 3, 0x820),
        coreimg.Blocklist(6, sectors - 4, 0x820 + 3 * 0x20),
    ]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.__setitem__(slice(0x1FE, 0x200), b"\0\0"), "no signature"),
        (lambda d: d.__setitem__(0x1BE, 0x81), "bad boot flag"),
        (lambda d: d.__setitem__(slice(0x1C6, 0x1CA), b"\x01\0\0\0"), "no post-MBR gap"),
    ],
)
def test_msdos_refusals(tmp_path: Path, small_core: bytes, mutate: object, message: str) -> None:
    image = tmp_path / "d.img"
    _dos(image)
    data = bytearray(image.read_bytes())
    mutate(data)  # type: ignore[operator]
    image.write_bytes(bytes(data))
    with pytest.raises(BootFormatError, match=message):
        install.install_grub(image, small_core)
    assert image.read_bytes() == bytes(data)


def test_bad_inputs(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "d.img"
    _dos(image)
    with pytest.raises(bootimg.BootImageError, match="size"):
        install.install_grub(image, small_core, b"\0" * 511)
    with pytest.raises(bootimg.BootImageError, match="not GRUB"):
        install.install_grub(image, small_core, bytes(510) + b"\x55\xaa")
    with pytest.raises(install.InstallError, match="too small"):
        install.install_grub(image, small_core[:100])
    result, patches = install.plan_install(image, small_core, BOOT_IMG.read_bytes())
    assert patches[-1].offset == 0
    assert result.boot_sector == patches[-1].data


def _syndromes(codeword: list[int], count: int) -> list[int]:
    """Evaluate the codeword (highest degree first) at a^0 .. a^(count-1) in GF(2^8)/0x11d."""
    exp = [0] * 255
    value = 1
    for power in range(255):
        exp[power] = value
        value = (value << 1) ^ (0x11D if value & 0x80 else 0)

    def mul(a: int, b: int) -> int:
        result = 0
        while b:
            if b & 1:
                result ^= a
            a = (a << 1) ^ (0x11D if a & 0x80 else 0)
            b >>= 1
        return result

    out = []
    for j in range(count):
        total = 0
        for byte in codeword:  # Horner's rule
            total = mul(total, exp[j]) ^ byte
        out.append(total)
    return out


def test_reed_solomon_parity_is_a_valid_code(tmp_path: Path, small_core: bytes) -> None:
    image = tmp_path / "d.img"
    _dos(image)
    result = install.install_grub(image, small_core, reed_solomon=True)
    sectors = -(-len(small_core) // 512)
    assert len(result.sectors) == 2 * sectors
    data = image.read_bytes()[512 : 512 * (1 + 2 * sectors)]
    redundancy = struct.unpack_from("<I", data, 512 + 0x10)[0]
    assert redundancy == 2 * sectors * 512 - len(small_core)
    assert coreimg.read_blocklists(data) == [coreimg.Blocklist(2, 2 * sectors - 1, 0x820)]
    assert data[512 + 0x14 :] != small_core[512 + 0x14 :]
    no_rs = struct.unpack_from("<H", data, 512 + 0x14)[0]
    start = 512 + no_rs
    size = len(small_core) - start
    assert data[start : len(small_core)] == small_core[start:]  # data itself untouched
    parity = data[len(small_core) : len(small_core) + redundancy]
    # every byte column of the interleaved code is a codeword: all syndromes are zero
    for column in (0, 1, 255, size % 512, 511):
        rows = [data[start + column + 512 * r] for r in range(-(-(size - column) // 512))]
        checks = [parity[column + 512 * r] for r in range(-(-(redundancy - column) // 512))]
        assert _syndromes(rows + checks, len(checks)) == [0] * len(checks), column
    decoded = coreimg.decode_core_img(data)
    assert decoded.rs_redundancy == redundancy
    assert decoded.prefix == "(hd0,msdos1)/boot/grub"
