"""The QEMU boot matrix: BIOS → GRUB → kernel → initramfs on images bootup built.

Each case builds a disk image with :func:`bootup.boot.image.build_image` (MBR with the
first partition at 63 or 2048, or GPT with a BIOS boot partition), boots it under TCG and
reads the entry the probe /init reports on the serial console. Two things are asserted:

* the entry that booted is the one GRUB 2.06 boots for that menu and environment (the
  measured matrix of reference §2.3: ids, titles, per-level indices, ids lost in submenus
  without ``export menuentry_id_option``, digit-leading ids read as indices, silent
  fallbacks to entry 0, GRUB_DEFAULT baked in vs ``saved``, the one-shot ``next_entry``);
* the static resolver (:mod:`bootup.boot.grubcfg` + :mod:`bootup.boot.resolve`), fed with
  the grub.cfg and the grubenv read back out of the image, predicts that same entry, and so
  does ``bootup boot explain IMAGE`` (:func:`bootup.boot.explain.explain`), which decodes
  the whole chain from the image alone.

One kernel and one initramfs serve every case; images live in a session tmp dir. 11 GRUB
boots, plus 3 direct ``-kernel`` boots (one per initramfs compression) and one guest that
dies before its marker: 15 boots of ~8-15 s each on an idle 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import support
from bootup.boot.cpio import Compression
from bootup.boot.grubenv import EnvBlock
from bootup.boot.image import DEFAULT_KERNEL_ARGS, BuiltImage, MenuEntry, Submenu, build_image
from bootup.boot.initramfs import build_initramfs
from bootup.boot.qemu import BootResult, QemuError, QemuTimeoutError, boot
from bootup.errors import NotSupportedError

try:
    from bootup.boot.grubcfg import load_config
    from bootup.boot.resolve import resolve_config

    HAVE_RESOLVER = True
except ImportError:  # pragma: no cover - part of the boot chain not present
    HAVE_RESOLVER = False

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CACHE = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests"))
ASSETS = CACHE / "boot-assets"
FETCH = Path(__file__).resolve().parents[2] / "scripts" / "fetch-boot-assets"
BOOT_TIMEOUT = 300.0


def _missing(message: str) -> None:
    if support.IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _fetch_assets() -> Path:
    """The kernel and busybox cache; runs scripts/fetch-boot-assets once if it is empty."""
    if not (ASSETS / "kernel-version").is_file():
        result = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            _missing(f"scripts/fetch-boot-assets failed: {result.stderr.strip()[-500:]}")
    return ASSETS


@pytest.fixture(scope="session")
def boot_parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(kernel, initramfs) shared by every boot of the session."""
    support.require_tool("qemu-system-x86_64", package="qemu-system-x86")
    support.require_tool("mke2fs", package="e2fsprogs")
    support.require_tool("grub-mkimage", package="grub-common")
    support.require_tool("debugfs", package="e2fsprogs")
    if not Path("/usr/lib/grub/i386-pc/boot.img").is_file():
        _missing("/usr/lib/grub/i386-pc is missing (Debian package grub-pc-bin)")
    assets = _fetch_assets()
    initrd = tmp_path_factory.mktemp("boot-parts") / "initrd.img"
    initrd.write_bytes(build_initramfs(busybox=assets / "busybox"))
    return assets / "vmlinuz", initrd


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


def _menu(a_id: str = "test-a") -> tuple[MenuEntry | Submenu, ...]:
    """Reference §2.3: A at the top, submenu 'adv' = [B, C]."""
    return (
        MenuEntry("Test Linux A", a_id, "A"),
        Submenu(
            "Advanced options",
            "adv",
            (MenuEntry("Test Linux B", "test-b", "B"), MenuEntry("Test Linux C", "test-c", "C")),
        ),
    )


@dataclass(frozen=True)
class Case:
    """One image and the entries its successive boots must show."""

    name: str
    booted: tuple[str, ...]
    grubenv: dict[str, str] = field(default_factory=dict)
    default: str = "saved"
    export_id_option: bool = True
    table: str = "mbr"
    first_sector: int = 2048
    a_id: str = "test-a"


CASES = [
    # MBR, 62-sector gap; GRUB_DEFAULT=0 baked in, so saved_entry is ignored (§2.1 cause 1).
    Case("mbr63-baked-index-ignores-saved", ("A",), {"saved_entry": "adv>test-c"}, default="0",
         first_sector=63),
    Case("mbr2048-saved-id-path", ("C",), {"saved_entry": "adv>test-c"}),
    Case("gpt-saved-index-path", ("B",), {"saved_entry": "1>0"}, table="gpt"),
    Case("id-lost-without-export", ("B",), {"saved_entry": "adv>test-c"},
         export_id_option=False),
    Case("title-path", ("B",), {"saved_entry": "Advanced options>Test Linux B"}),
    Case("stale-title-falls-back-to-0", ("A",), {"saved_entry": "Test Linux A (old kernel)"}),
    Case("index-out-of-range-falls-back-to-0", ("A",), {"saved_entry": "2"}),
    Case("digit-leading-id-is-an-index", ("B",), {"saved_entry": "1abc-a"}, a_id="1abc-a"),
    Case("baked-id-path", ("B",), default="adv>test-b"),
    Case("next-entry-one-shot", ("B", "C"),
         {"next_entry": "adv>test-b", "saved_entry": "adv>test-c"}),
]  # fmt: skip


def _read_back(built: BuiltImage, path: str) -> bytes:
    """A file of the image's /boot filesystem, read with debugfs (no mount, no root)."""
    result = subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{built.path}?offset={built.boot_offset}"],
        capture_output=True, check=True,
    )  # fmt: skip
    return result.stdout


def _on_disk_env(built: BuiltImage) -> dict[str, str]:
    return EnvBlock(_read_back(built, "/boot/grub/grubenv")).variables()


def _predict(built: BuiltImage) -> str | None:
    """The marker of the entry the static resolver says boots, from the on-disk state."""
    if not HAVE_RESOLVER:
        if support.IN_CI:
            pytest.fail("bootup.boot.grubcfg/resolve are missing")
        return None
    cfg = _read_back(built, "/boot/grub/grub.cfg").decode()
    config = load_config(
        cfg,
        path="grub.cfg",
        grubenv=_on_disk_env(built),
        variables={"prefix": built.prefix, "root": built.prefix[1:].split(")")[0]},
        probe=_probe,
    )
    entry = resolve_config(config).entry
    assert entry is not None
    return _marker(" ".join(entry.linux_args))


def _explain_predict(built: BuiltImage) -> str | None:
    """The marker ``bootup boot explain IMAGE`` predicts, reading the whole chain offline
    (MBR -> core.img prefix -> partition -> grub.cfg/grubenv); None while it cannot."""
    try:
        from bootup.boot.explain import explain
    except ImportError:  # pragma: no cover - explain not present
        return None
    try:
        report = explain(built.path)
    except NotSupportedError:
        return None
    entry = report.stage2.entry
    assert entry is not None
    return _marker(" ".join(entry.linux_args))


def _probe(op: str, path: str) -> bool | None:
    # The only file test Debian's header makes: [ -s $prefix/grubenv ]; the image has one.
    return True if path.endswith("/grubenv") else None


def _marker(cmdline: str) -> str:
    for word in cmdline.split():
        if word.startswith("bootup.entry="):
            return word.removeprefix("bootup.entry=")
    return ""


def _boot(built: BuiltImage) -> BootResult:
    result = boot(built.path, timeout=BOOT_TIMEOUT)
    # The command line GRUB passed proves which file it loaded, too.
    assert f"BOOT_IMAGE={built.kernel_path}" in result.cmdline
    # boot.img printed "GRUB ", diskboot "loading": the BIOS ran our stage 1 and 1.5.
    assert "grub_loading" in result.milestones
    # core.img's kernel decompressed and ran (it prints the welcome line).
    assert "grub_welcome" in result.milestones
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_boot_matrix(case: Case, boot_parts: tuple[Path, Path], images: Path) -> None:
    kernel, initrd = boot_parts
    built = build_image(
        images / f"{case.name}.img",
        kernel=kernel,
        initrd=initrd,
        menu=_menu(case.a_id),
        default=case.default,
        export_id_option=case.export_id_option,
        grubenv=case.grubenv,
        table=case.table,  # type: ignore[arg-type]
        first_sector=None if case.table == "gpt" else case.first_sector,
        size=48 << 20,
    )
    for number, expected in enumerate(case.booted, start=1):
        predicted = _predict(built)
        explained = _explain_predict(built)
        before = _on_disk_env(built)
        result = _boot(built)
        assert result.entry == expected, f"boot {number} of {case.name}"
        if predicted is not None:
            assert predicted == result.entry, f"resolver vs QEMU, boot {number} of {case.name}"
        if explained is not None:
            assert explained == result.entry, f"explain vs QEMU, boot {number} of {case.name}"
        after = _on_disk_env(built)
        if before.get("next_entry"):
            # GRUB cleared the one-shot on disk (save_env next_entry), kept saved_entry.
            assert after.get("next_entry") == ""
            assert after.get("saved_entry") == before.get("saved_entry")
        else:
            assert after == before


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd"])
def test_direct_kernel_boot(
    compression: Compression, boot_parts: tuple[Path, Path], tmp_path: Path
) -> None:
    """The initramfs alone, in each compression the kernel unpacks: QEMU loads kernel +
    initrd itself (no firmware disk, no GRUB). xz must use the CRC32 check (the kernel's
    decoder refuses CRC64), zstd goes through the zstd command."""
    kernel, gz_initrd = boot_parts
    initrd = gz_initrd
    if compression != "gzip":
        initrd = tmp_path / f"initrd.{compression}"
        initrd.write_bytes(build_initramfs(busybox=ASSETS / "busybox", compression=compression))
    result = boot(
        kernel=kernel,
        initrd=initrd,
        append=f"{DEFAULT_KERNEL_ARGS} bootup.entry=direct-{compression}",
        timeout=BOOT_TIMEOUT,
    )
    assert result.entry == f"direct-{compression}"
    assert "BOOT_IMAGE" not in result.cmdline
    assert result.guest_uptime is not None
    assert result.returncode == 0  # poweroff -f ended QEMU
    assert "power_down" in result.milestones


def test_guest_failure_is_reported_with_the_console(boot_parts: tuple[Path, Path]) -> None:
    """A guest that dies before the marker is an error carrying the serial output."""
    kernel, initrd = boot_parts
    # rdinit names a missing program: the kernel panics, panic=-1 + -no-reboot ends QEMU
    # before any marker, which must be reported as a failure with the console attached.
    with pytest.raises(QemuError) as info:
        boot(
            kernel=kernel,
            initrd=initrd,
            append="console=ttyS0 rdinit=/nonexistent init=/nonexistent panic=-1",
            timeout=BOOT_TIMEOUT,
        )
    assert "Kernel panic" in info.value.serial or "No working init" in info.value.serial


def test_deadline_kills_qemu(boot_parts: tuple[Path, Path]) -> None:
    """No marker before the deadline: QemuTimeoutError, and no QEMU left running."""
    kernel, initrd = boot_parts
    with pytest.raises(QemuTimeoutError) as info:
        # Far less than the kernel needs to even reach /init under TCG.
        boot(kernel=kernel, initrd=initrd, append=DEFAULT_KERNEL_ARGS, timeout=0.5)
    assert info.value.returncode is None
