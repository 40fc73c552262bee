"""The QEMU harness without booting: its command line and how it refuses bad requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootup.boot.image import ImageToolError, MenuEntry, build_image
from bootup.boot.qemu import QemuNotFoundError, boot, qemu_command


def test_command_line_follows_the_measured_rules(tmp_path: Path) -> None:
    argv = qemu_command(image=tmp_path / "d.img", memory=192)
    joined = " ".join(argv)
    assert "-machine pc,accel=tcg" in joined  # KVM is not usable on the CI machines
    assert "-nic none" in joined  # no iPXE ROM is installed without recommends
    assert "-no-reboot" in argv  # panic=-1 and reboots end QEMU
    assert "-serial stdio" in joined
    assert "-nographic" in argv  # SeaBIOS mirrors the stage 1/1.5 text to the serial port
    assert "-monitor none" in joined
    assert f"file={tmp_path / 'd.img'},format=raw,if=ide" in joined
    assert "-m 192" in joined
    direct = qemu_command(kernel="k", initrd="i", append="quiet")
    assert direct[-6:] == ["-kernel", "k", "-initrd", "i", "-append", "quiet"]


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image or a kernel"):
        boot()
    with pytest.raises(FileNotFoundError):
        boot(tmp_path / "missing.img")
    image = tmp_path / "d.img"
    image.write_bytes(bytes(512))
    with pytest.raises(QemuNotFoundError, match="qemu-system-x86"):
        boot(image, qemu="qemu-system-does-not-exist")


def test_missing_grub_directory_names_the_package(tmp_path: Path) -> None:
    kernel = tmp_path / "k"
    kernel.write_bytes(bytes(4096))
    with pytest.raises(ImageToolError, match="grub-pc-bin") as info:
        build_image(tmp_path / "x.img", kernel=kernel, initrd=kernel,
                    menu=[MenuEntry("A", "a", "A")], grub_dir=tmp_path)  # fmt: skip
    assert info.value.returncode is None
