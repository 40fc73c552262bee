"""Assemble a bootable BIOS/GRUB raw disk image from a kernel and an initramfs, without root.

The recipe (boot-chain reference §3.2, §5.1) needs no loop device and no mount:

1. stage a tree ``boot/{vmlinuz-R, initrd.img-R, grub/{grub.cfg, grubenv, i386-pc/*.mod}}``;
2. make an ext4 filesystem image from it with ``mke2fs -d`` (a separate file, copied into the
   disk at the partition offset afterwards, so mke2fs never touches the partition table);
3. write the partition table with :mod:`bootup.boot.mbr` or :mod:`bootup.boot.gpt`: MBR with
   one bootable Linux partition at sector 63 or 2048, or GPT with a 1 MiB BIOS boot
   partition for core.img and a Linux partition for ``/boot``;
4. ``grub-mkimage -O i386-pc`` a core.img whose prefix names that partition, and embed it
   with boot.img exactly as ``grub-bios-setup --no-rs-codes`` would
   (:func:`bootup.boot.install.install_grub`).

The disk is built in a temporary file next to the output and renamed over it at the end,
so a failed build never leaves a half-written image under the final name.

The menu is either a complete ``grub.cfg`` of the caller's, or rendered by
:func:`render_grub_cfg` from :class:`MenuEntry`/:class:`Submenu` items with the default
logic of Debian's ``/etc/grub.d/00_header`` (``load_env``, one-shot ``next_entry``,
``GRUB_DEFAULT`` baked in or ``${saved_entry}``). Each rendered entry puts
``bootup.entry=<marker>`` on the kernel command line, so the probe initramfs
(:mod:`bootup.boot.initramfs`) can report which entry GRUB booted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from bootup.boot import gpt, mbr
from bootup.boot.bzimage import read_bzimage
from bootup.boot.grubenv import EnvBlock
from bootup.boot.install import install_grub
from bootup.errors import BootFormatError, Error, NotSupportedError

__all__ = (
    "DEFAULT_GRUB_DIR",
    "DEFAULT_KERNEL_ARGS",
    "BuiltImage",
    "ImageLayoutError",
    "ImageToolError",
    "MenuEntry",
    "Submenu",
    "build_image",
    "render_grub_cfg",
)

SECTOR: Final = 512
#: Where Debian's grub-pc-bin keeps the i386-pc modules, boot.img and the tools' inputs.
DEFAULT_GRUB_DIR: Final = Path("/usr/lib/grub/i386-pc")
#: Serial console, the probe /init, no reboot loop after a panic, little console noise.
DEFAULT_KERNEL_ARGS: Final = "console=ttyS0 rdinit=/init panic=-1 quiet"
_GPT_BIOS_BOOT_START: Final = 2048
_GPT_BIOS_BOOT_SECTORS: Final = 2048  # 1 MiB: gpt.c warns below that


class ImageLayoutError(BootFormatError):
    """The requested disk layout cannot hold what it must (core.img, the /boot files).

    Attributes:
        field: the layout property at fault (``size``, ``first_sector``, ``embedding area``).
        expected: what would have worked.
        found: what was asked for or found.
    """

    def __init__(self, message: str, *, field: str, expected: str, found: str) -> None:
        super().__init__(f"{message}: {field}: expected {expected}, found {found}")
        self.field = field
        self.expected = expected
        self.found = found


class ImageToolError(Error, RuntimeError):
    """An external tool of the recipe (``mke2fs``, ``grub-mkimage``) is missing or failed.

    Attributes:
        tool: the command name.
        returncode: its exit status (None when it was not found).
        stderr: what it said.
    """

    def __init__(self, tool: str, returncode: int | None, stderr: str) -> None:
        if returncode is None:
            text = f"{tool} not found (install {_PACKAGES.get(tool, 'it')})"
        else:
            text = f"{tool} failed with exit status {returncode}: {stderr.strip()}"
        super().__init__(text)
        self.tool = tool
        self.returncode = returncode
        self.stderr = stderr


_PACKAGES: Final = {
    "mke2fs": "e2fsprogs",
    "grub-mkimage": "grub-common",
    "boot.img": "grub-pc-bin",
}


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A ``menuentry`` that boots the image's kernel with ``bootup.entry=<marker>``.

    ``id`` None writes no ``$menuentry_id_option`` (GRUB then uses the title as the id).
    """

    title: str
    id: str | None = None
    marker: str = ""
    args: str = ""


@dataclass(frozen=True, slots=True)
class Submenu:
    """A ``submenu`` holding entries (and submenus)."""

    title: str
    id: str | None = None
    children: tuple[MenuEntry | Submenu, ...] = ()


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """What :func:`build_image` made: where each piece went, for tests and ``explain``."""

    path: Path
    table: Literal["mbr", "gpt"]
    size: int
    boot_start: int
    boot_sectors: int
    core_sector: int
    core_sectors: int
    embedding_sectors: int
    prefix: str
    kernel_release: str
    kernel_path: str
    initrd_path: str
    grub_cfg: str
    grubenv: dict[str, str] = field(default_factory=dict)

    @property
    def boot_offset(self) -> int:
        """The byte offset of the ``/boot`` filesystem inside the image."""
        return self.boot_start * SECTOR


def _quote(word: str) -> str:
    """Single-quote for GRUB's shell-like lexer (same rules as sh for single quotes)."""
    return "'" + word.replace("'", "'\\''") + "'"


def render_grub_cfg(
    menu: Sequence[MenuEntry | Submenu],
    *,
    kernel_path: str,
    initrd_path: str,
    default: str = "saved",
    export_id_option: bool = True,
    kernel_args: str = DEFAULT_KERNEL_ARGS,
    timeout: int = 0,
    serial: bool = True,
) -> str:
    """A ``grub.cfg`` in the shape ``grub-mkconfig`` writes on Debian (00_header + entries).

    Args:
        menu: the top-level items.
        kernel_path: the kernel as GRUB sees it from the ``/boot`` filesystem root.
        initrd_path: the initramfs, likewise.
        default: ``GRUB_DEFAULT``: ``saved`` bakes in ``${saved_entry}``, anything else is
            baked in literally (as 00_header does).
        export_id_option: write ``export menuentry_id_option`` (00_header always does; a
            hand-written config may not, and then ids are lost inside submenus).
        kernel_args: the command line of every entry before its ``bootup.entry=``.
        timeout: the menu timeout in seconds (0: boot the default at once).
        serial: put GRUB's terminal on the first serial port as well as the console.
    """
    baked = "${saved_entry}" if default == "saved" else default
    lines = []
    if serial:
        lines += [
            "serial --unit=0 --speed=115200",
            "terminal_input serial console",
            "terminal_output serial console",
        ]
    lines += [
        "if [ -s $prefix/grubenv ]; then",
        "  set have_grubenv=true",
        "  load_env",
        "fi",
        'if [ "${next_entry}" ] ; then',
        '   set default="${next_entry}"',
        "   set next_entry=",
        "   save_env next_entry",
        "   set boot_once=true",
        "else",
        f'   set default="{baked}"',
        "fi",
        "",
        'if [ x"${feature_menuentry_id}" = xy ]; then',
        '  menuentry_id_option="--id"',
        "else",
        '  menuentry_id_option=""',
        "fi",
        "",
    ]
    if export_id_option:
        lines += ["export menuentry_id_option", ""]
    lines += [
        'if [ "${prev_saved_entry}" ]; then',
        '  set saved_entry="${prev_saved_entry}"',
        "  save_env saved_entry",
        "  set prev_saved_entry=",
        "  save_env prev_saved_entry",
        "  set boot_once=true",
        "fi",
        "",
        f"set timeout={timeout}",
        "",
    ]

    def emit(item: MenuEntry | Submenu, depth: int) -> None:
        pad = "\t" * depth
        id_part = f" $menuentry_id_option {_quote(item.id)}" if item.id is not None else ""
        if isinstance(item, Submenu):
            lines.append(f"{pad}submenu {_quote(item.title)}{id_part} {{")
            for child in item.children:
                emit(child, depth + 1)
            lines.append(f"{pad}}}")
            return
        args = " ".join(a for a in (kernel_args, item.args) if a)
        marker = f" bootup.entry={item.marker}" if item.marker else ""
        lines.append(f"{pad}menuentry {_quote(item.title)} --class gnu-linux{id_part} {{")
        lines.append(f"{pad}\tlinux\t{kernel_path} {args}{marker}")
        lines.append(f"{pad}\tinitrd\t{initrd_path}")
        lines.append(f"{pad}}}")

    for item in menu:
        emit(item, 0)
    return "\n".join(lines) + "\n"


def _run(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
    tool = argv[0]
    found = shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ImageToolError(tool, None, "")
    result = subprocess.run(
        [found, *argv[1:]],
        capture_output=True,
        text=True,
        check=False,
        env=dict(env) if env is not None else None,
    )
    if result.returncode != 0:
        raise ImageToolError(tool, result.returncode, result.stderr or result.stdout)


def _copy_grub_modules(grub_dir: Path, dest: Path) -> None:
    """The modules and lists normal.mod autoloads from ``$prefix/i386-pc``."""
    dest.mkdir(parents=True)
    for item in sorted(grub_dir.iterdir()):
        if item.suffix in (".mod", ".lst") and item.is_file():
            shutil.copyfile(item, dest / item.name)


def _copy_into(src: Path, dst_fd: int, offset: int) -> None:
    """Copy ``src`` into the open image at ``offset``, leaving zero blocks as holes."""
    chunk = 1 << 20
    zero = bytes(chunk)
    with open(src, "rb") as f:
        fd = f.fileno()
        end = os.fstat(fd).st_size
        pos = 0
        while pos < end:
            # mke2fs leaves its output sparse: visit only the data extents.
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
                hole = os.lseek(fd, pos, os.SEEK_HOLE)
            except OSError:  # no data past pos (ENXIO), or no SEEK_DATA support
                if pos >= end or not hasattr(os, "SEEK_DATA"):
                    break
                hole = end
            while pos < hole:
                block = os.pread(fd, min(chunk, hole - pos), pos)
                if not block:
                    break
                if block != zero[: len(block)]:
                    os.pwrite(dst_fd, block, offset + pos)
                pos += len(block)


def build_image(
    out: str | os.PathLike[str],
    *,
    kernel: str | os.PathLike[str],
    initrd: str | os.PathLike[str],
    grub_cfg: str | None = None,
    menu: Sequence[MenuEntry | Submenu] = (),
    default: str = "saved",
    export_id_option: bool = True,
    grubenv: Mapping[str, str] | None = None,
    table: Literal["mbr", "gpt"] = "mbr",
    first_sector: int | None = None,
    size: int = 64 << 20,
    kernel_args: str = DEFAULT_KERNEL_ARGS,
    grub_dir: str | os.PathLike[str] = DEFAULT_GRUB_DIR,
) -> BuiltImage:
    """Build a raw disk image that boots ``kernel`` + ``initrd`` through GRUB under BIOS.

    Args:
        out: the image file to create (replaced atomically).
        kernel: a bzImage; its version names ``/boot/vmlinuz-<release>``.
        initrd: the initramfs, installed as ``/boot/initrd.img-<release>``.
        grub_cfg: a complete grub.cfg; ``@KERNEL@``/``@INITRD@`` are replaced by the paths.
            Without it the config is rendered from ``menu`` (see :func:`render_grub_cfg`).
        menu: menu items for the rendered config.
        default: ``GRUB_DEFAULT`` for the rendered config.
        export_id_option: whether the rendered config exports ``menuentry_id_option``.
        grubenv: variables for ``/boot/grub/grubenv`` (``saved_entry``, ``next_entry``).
        table: ``mbr`` (one Linux partition) or ``gpt`` (BIOS boot + Linux partition).
        first_sector: MBR only: the first partition's start, 63 or 2048 (the default).
        size: the image size in bytes (a multiple of 512).
        kernel_args: the command line of the rendered entries.
        grub_dir: the GRUB i386-pc directory (modules, boot.img).

    Raises:
        ImageLayoutError: the layout cannot work (size, first sector, core.img too big).
        ImageToolError: mke2fs or grub-mkimage missing or failing.
        NotSupportedError: a table other than mbr/gpt, or ``first_sector`` with GPT.
        BootFormatError: the kernel is not a bzImage (see :mod:`bootup.boot.bzimage`).
    """
    if table not in ("mbr", "gpt"):
        raise NotSupportedError(f"partition table {table!r}: not supported yet (mbr, gpt)")
    if table == "gpt" and first_sector not in (None, _GPT_BIOS_BOOT_START):
        raise NotSupportedError(
            "first_sector with a GPT disk: not supported yet (the BIOS boot partition is at "
            f"{_GPT_BIOS_BOOT_START})"
        )
    if size <= 0 or size % SECTOR:
        raise ImageLayoutError(
            "bad image size", field="size", expected="a positive multiple of 512 bytes",
            found=str(size),
        )  # fmt: skip
    if not grub_cfg and not menu:
        raise ImageLayoutError(
            "nothing to boot", field="menu", expected="grub_cfg or at least one menu item",
            found="neither",
        )  # fmt: skip
    grub = Path(grub_dir)
    boot_img_path = grub / "boot.img"
    if not boot_img_path.is_file():
        raise ImageToolError("boot.img", None, f"{boot_img_path} missing")
    header = read_bzimage(kernel)
    release = header.release or "unknown"
    kernel_path = f"/boot/vmlinuz-{release}"
    initrd_path = f"/boot/initrd.img-{release}"
    total = size // SECTOR
    if table == "mbr":
        start = 2048 if first_sector is None else first_sector
        if start < 2 or start >= total:
            raise ImageLayoutError(
                "bad first sector", field="first_sector",
                expected=f"2..{total - 1} (63 or 2048 are usual)", found=str(start),
            )  # fmt: skip
        boot_start, boot_sectors = start, total - start
        prefix, part_module = "(hd0,msdos1)/boot/grub", "part_msdos"
    else:
        boot_start = _GPT_BIOS_BOOT_START + _GPT_BIOS_BOOT_SECTORS
        boot_sectors = total - 34 - boot_start  # the backup header and entry array
        prefix, part_module = "(hd0,gpt2)/boot/grub", "part_gpt"
    if grub_cfg is not None:
        cfg = grub_cfg.replace("@KERNEL@", kernel_path).replace("@INITRD@", initrd_path)
    else:
        cfg = render_grub_cfg(
            menu,
            kernel_path=kernel_path,
            initrd_path=initrd_path,
            default=default,
            export_id_option=export_id_option,
            kernel_args=kernel_args,
        )
    env = EnvBlock.create()
    for name, value in (grubenv or {}).items():
        env.set(name, value)

    target = Path(out)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        stage = work / "stage"
        (stage / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(kernel, stage / kernel_path.lstrip("/"))
        shutil.copyfile(initrd, stage / initrd_path.lstrip("/"))
        (stage / "boot/grub/grub.cfg").write_text(cfg, encoding="utf-8")
        (stage / "boot/grub/grubenv").write_bytes(env.to_bytes())
        _copy_grub_modules(grub, stage / "boot/grub/i386-pc")
        staged = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
        fs_kib = boot_sectors * SECTOR // 1024
        # ext4 metadata (inode tables, journal) needs room beyond the files themselves.
        if fs_kib * 1024 < staged * 5 // 4 + (4 << 20):
            raise ImageLayoutError(
                "image too small for the /boot files", field="size",
                expected=f"a /boot partition of at least {(staged * 5 // 4 + (4 << 20)) >> 20} MiB",
                found=f"{fs_kib >> 10} MiB for {staged >> 20} MiB of files",
            )  # fmt: skip
        fs_img = work / "boot.ext4"
        _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "boot", "-E", "root_owner=0:0",
              "-d", str(stage), str(fs_img), f"{fs_kib}k"])  # fmt: skip
        core_img = work / "core.img"
        _run(["grub-mkimage", "-O", "i386-pc", "-d", str(grub), "-o", str(core_img),
              "-p", prefix, "biosdisk", part_module, "ext2"])  # fmt: skip
        disk = work / "disk.img"
        if table == "mbr":
            mbr.write_mbr(
                disk,
                [mbr.MBRPartition(1, boot_start, boot_sectors, 0x83, bootable=True)],
                disk_signature=int.from_bytes(os.urandom(4), "little"),
                size=size,
            )
        else:
            gpt.write_gpt(
                disk,
                [
                    gpt.GPTPartition.sized(
                        1, _GPT_BIOS_BOOT_START, _GPT_BIOS_BOOT_SECTORS, gpt.BIOS_BOOT,
                        name="BIOS boot",
                    ),
                    gpt.GPTPartition.sized(
                        2, boot_start, boot_sectors, gpt.LINUX_FILESYSTEM, name="boot"
                    ),
                ],
                size=size,
            )  # fmt: skip
        fd = os.open(disk, os.O_RDWR)
        try:
            _copy_into(fs_img, fd, boot_start * SECTOR)
            os.fsync(fd)
        finally:
            os.close(fd)
        installed = install_grub(disk, core_img.read_bytes(), boot_img_path.read_bytes())
        os.replace(disk, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BuiltImage(
        path=target,
        table=table,
        size=size,
        boot_start=boot_start,
        boot_sectors=boot_sectors,
        core_sector=installed.first_sector,
        core_sectors=len(installed.sectors),
        embedding_sectors=installed.area_sectors,
        prefix=prefix,
        kernel_release=release,
        kernel_path=kernel_path,
        initrd_path=initrd_path,
        grub_cfg=cfg,
        grubenv=dict(grubenv or {}),
    )
