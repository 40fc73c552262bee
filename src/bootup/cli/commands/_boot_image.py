"""``bootup boot image|kernel|initramfs``: build and inspect bootable images and their parts.

Plugged into ``bootup boot`` by :mod:`bootup.cli.commands.boot` (it calls
:func:`register_boot`). Verbs:

* ``bootup boot kernel FILE [--json]``: the bzImage boot protocol header;
* ``bootup boot initramfs list FILE [--json]``: the members, like ``cpio -itv``;
* ``bootup boot initramfs build OUT --busybox B [...]``: a busybox initramfs, no root needed;
* ``bootup boot image build OUT --kernel K --initrd I [...]``: a BIOS/GRUB raw disk image;
* ``bootup boot image run IMG``: boot it in QEMU (TCG) and print the entry that came up.

Imports of the boot modules happen inside the handlers, so ``bootup`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bootup.boot._inputs import naming_os_errors

if TYPE_CHECKING:
    from bootup.boot.image import MenuEntry, Submenu

__all__ = ("register_boot",)

_SIZE = re.compile(r"^(\d+)([KMGT]?)(i?B)?$", re.IGNORECASE)


def register_boot(boot_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``kernel``, ``initramfs`` and ``image`` sub-commands to ``bootup boot``."""
    kernel = boot_subparsers.add_parser(
        "kernel",
        help="show a kernel image's boot protocol header",
        description="Decode the x86 boot protocol header of a bzImage (vmlinuz).",
    )
    kernel.add_argument("file", help="the kernel image")
    kernel.add_argument("--json", action="store_true", help="print every field as JSON")
    kernel.set_defaults(handler=naming_os_errors(_kernel))

    initramfs = boot_subparsers.add_parser(
        "initramfs", help="list or build an initramfs (cpio newc, optionally compressed)"
    )
    initramfs_sub = initramfs.add_subparsers(dest="initramfs_command", metavar="SUBCOMMAND")
    initramfs.set_defaults(handler=_usage(initramfs))
    listing = initramfs_sub.add_parser("list", help="list the members like cpio -itv")
    listing.add_argument("file")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=naming_os_errors(_initramfs_list))
    build = initramfs_sub.add_parser(
        "build",
        help="build a busybox initramfs (device nodes without root)",
        description="Build dev/console, dev/null, bin/busybox + applet links, /init, ...",
    )
    build.add_argument("out", help="the initramfs file to write")
    build.add_argument("--busybox", help="a static busybox binary (busybox-static)")
    build.add_argument("--init", help="the /init program (default: the bootup probe script)")
    build.add_argument(
        "--applet", action="append", default=None, help="applet linked to busybox (repeatable)"
    )
    build.add_argument(
        "--all-applets", action="store_true", help="link every applet (runs busybox --list)"
    )
    build.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="DIR[:PREFIX]",
        help="add a host directory tree under PREFIX (repeatable)",
    )
    build.add_argument("--compression", choices=("gzip", "xz", "zstd", "none"), default="gzip")
    build.set_defaults(handler=naming_os_errors(_initramfs_build))

    image = boot_subparsers.add_parser("image", help="build or boot a BIOS/GRUB disk image")
    image_sub = image.add_subparsers(dest="image_command", metavar="SUBCOMMAND")
    image.set_defaults(handler=_usage(image))
    ib = image_sub.add_parser(
        "build",
        help="assemble a bootable raw disk image (no root, no loop devices)",
        description=(
            "Partition table, ext4 /boot with kernel, initramfs, grub.cfg, grubenv and GRUB "
            "modules, core.img embedded after the MBR or in a BIOS boot partition."
        ),
    )
    ib.add_argument("out", help="the image file to write")
    ib.add_argument("--kernel", required=True, help="the bzImage")
    ib.add_argument("--initrd", required=True, help="the initramfs")
    ib.add_argument(
        "--menu", help="a complete grub.cfg (@KERNEL@ and @INITRD@ are replaced by the paths)"
    )
    ib.add_argument(
        "--entry",
        action="append",
        default=[],
        metavar="[SUBMENU>]ID[=TITLE]",
        help="a menu entry booting with bootup.entry=ID (repeatable; > nests in a submenu)",
    )
    ib.add_argument("--default", default="saved", help="GRUB_DEFAULT (default: saved)")
    ib.add_argument("--saved-entry", help="saved_entry in grubenv")
    ib.add_argument("--next-entry", help="next_entry (one-shot) in grubenv")
    ib.add_argument(
        "--no-export-id-option",
        action="store_true",
        help="omit 'export menuentry_id_option' (ids are then lost inside submenus)",
    )
    ib.add_argument("--table", choices=("mbr", "gpt"), default="mbr")
    ib.add_argument("--first-sector", type=int, default=None, help="MBR: 63 or 2048")
    ib.add_argument("--size", default="64M", help="image size (bytes, or K/M/G suffix)")
    ib.add_argument("--json", action="store_true", help="describe the result as JSON")
    ib.set_defaults(handler=naming_os_errors(_image_build))
    run = image_sub.add_parser(
        "run", help="boot an image in QEMU (TCG) and print the entry the probe /init reported"
    )
    run.add_argument("image")
    run.add_argument("--timeout", type=float, default=300.0)
    run.add_argument("--memory", type=int, default=256, help="guest memory in MiB")
    run.add_argument("--json", action="store_true")
    run.set_defaults(handler=naming_os_errors(_image_run))


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def parse_size(text: str) -> int:
    """``64M`` → 67108864 (binary units; a plain number is bytes)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: expected e.g. 64M, 1G or bytes")
    power = "KMGT".find(match.group(2).upper()) + 1 if match.group(2) else 0
    return int(match.group(1)) << (10 * power)


def _kernel(args: argparse.Namespace) -> int:
    from bootup.boot.bzimage import read_bzimage

    header = read_bzimage(args.file)
    if args.json:
        print(json.dumps(header.to_json(), indent=2))
        return 0
    rows = [
        ("version", header.kernel_version or "(none)"),
        ("release", header.release or "(none)"),
        ("protocol", header.protocol_version),
        ("setup_sects", str(header.setup_sects)),
        ("syssize", f"{header.syssize} paragraphs ({header.syssize_bytes} bytes)"),
        ("loadflags", f"{header.loadflags:#04x} {' '.join(header.loadflag_names())}".rstrip()),
        ("relocatable", _opt(header.relocatable_kernel)),
        ("kernel_alignment", _opt(header.kernel_alignment, hexa=True)),
        ("cmdline_size", str(header.cmdline_size)),
        ("payload", f"{header.payload_compression or '?'}, {_opt(header.payload_length)} bytes"),
        ("init_size", _opt(header.init_size)),
        ("root_flags", f"{header.root_flags} ({'ro' if header.root_flags else 'rw'})"),
        ("vid_mode", f"{header.vid_mode:#06x}"),
        ("efi_stub", "yes" if header.pe_stub else "no"),
    ]
    for name, value in rows:
        print(f"{name + ':':<18}{value}")
    return 0


def _opt(value: object, *, hexa: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hexa and isinstance(value, int):
        return f"{value:#x}"
    return str(value)


def _initramfs_list(args: argparse.Namespace) -> int:
    import stat

    from bootup.boot._inputs import read_input
    from bootup.boot.cpio import CpioFormatError, decompress, read_archive

    data = read_input(args.file, "the initramfs")
    try:
        _, kinds = decompress(data)
        entries = read_archive(data)
    except CpioFormatError as exc:
        raise exc.in_file(args.file) from None
    if args.json:
        out = {
            "segments": kinds,
            "entries": [
                {
                    "name": e.name,
                    "type": e.kind,
                    "mode": f"{stat.S_IMODE(e.mode):04o}",
                    "uid": e.uid,
                    "gid": e.gid,
                    "nlink": e.nlink,
                    "size": len(e.data),
                    "mtime": e.mtime,
                    "rdev": [e.rdevmajor, e.rdevminor] if e.kind in "cb" else None,
                    "target": e.target or None,
                }
                for e in entries
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    for e in entries:
        size = f"{e.rdevmajor:>3}, {e.rdevminor:>3}" if e.kind in "cb" else f"{len(e.data):>8}"
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.mtime))
        link = f" -> {e.target}" if e.kind == "l" else ""
        print(f"{stat.filemode(e.mode)} {e.nlink:>3} {e.uid:>5} {e.gid:>5} {size} {when} "
              f"{e.name}{link}")  # fmt: skip
    return 0


def _initramfs_build(args: argparse.Namespace) -> int:
    from bootup.boot._inputs import read_input
    from bootup.boot.initramfs import (
        PROBE_INIT,
        build_initramfs,
        busybox_applets,
        write_file_atomic,
    )

    init: str | bytes = PROBE_INIT
    if args.init:
        init = read_input(args.init, "the /init program (--init)")
    if args.all_applets:
        if not args.busybox:
            raise SystemExit("bootup: --all-applets needs --busybox")
        applets = busybox_applets(args.busybox)
    else:
        applets = args.applet if args.applet is not None else ["sh"]
    trees = []
    for spec in args.add:
        root, _, prefix = spec.partition(":")
        trees.append((root, prefix))
    data = build_initramfs(
        init=init,
        busybox=args.busybox,
        applets=applets,
        trees=trees,
        compression=args.compression,
    )
    write_file_atomic(args.out, data)
    print(f"{args.out}: {len(data)} bytes ({args.compression})")
    return 0


def _menu_from_specs(specs: list[str]) -> list[MenuEntry | Submenu]:
    """``[SUB>]ID[=TITLE]`` words → menu items, submenus in first-seen order."""
    from bootup.boot.image import MenuEntry

    top: list[MenuEntry | Submenu] = []
    for spec in specs:
        path, _, title = spec.partition("=")
        *subs, entry_id = path.split(">")
        if not entry_id:
            raise SystemExit(f"bootup: --entry {spec!r}: expected [SUBMENU>]ID[=TITLE]")
        entry = MenuEntry(title=title or entry_id, id=entry_id, marker=entry_id)
        top = _insert(top, subs, entry)
    return top


def _insert(
    items: list[MenuEntry | Submenu], subs: list[str], entry: MenuEntry
) -> list[MenuEntry | Submenu]:
    from bootup.boot.image import Submenu

    if not subs:
        return [*items, entry]
    head, rest = subs[0], subs[1:]
    for index, item in enumerate(items):
        if isinstance(item, Submenu) and item.id == head:
            children = _insert(list(item.children), rest, entry)
            items[index] = Submenu(item.title, item.id, tuple(children))
            return items
    return [*items, Submenu(head, head, tuple(_insert([], rest, entry)))]


def _image_build(args: argparse.Namespace) -> int:
    from bootup.boot._inputs import read_input
    from bootup.boot.image import build_image

    if not args.menu and not args.entry:
        raise SystemExit("bootup: boot image build: give --menu FILE or at least one --entry")
    grub_cfg = None
    if args.menu:
        grub_cfg = read_input(args.menu, "the grub.cfg (--menu)").decode("utf-8", "surrogateescape")
    env = {}
    if args.saved_entry is not None:
        env["saved_entry"] = args.saved_entry
    if args.next_entry is not None:
        env["next_entry"] = args.next_entry
    try:
        size = parse_size(args.size)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"bootup: --size: {exc}") from None
    started = time.monotonic()
    built = build_image(
        args.out,
        kernel=args.kernel,
        initrd=args.initrd,
        grub_cfg=grub_cfg,
        menu=_menu_from_specs(args.entry),
        default=args.default,
        export_id_option=not args.no_export_id_option,
        grubenv=env,
        table=args.table,
        first_sector=args.first_sector,
        size=size,
    )
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps({
            "path": str(built.path), "table": built.table, "size": built.size,
            "boot_partition": {"start": built.boot_start, "sectors": built.boot_sectors},
            "core": {"sector": built.core_sector, "sectors": built.core_sectors,
                     "embedding_sectors": built.embedding_sectors},
            "prefix": built.prefix, "kernel": built.kernel_path, "initrd": built.initrd_path,
            "grubenv": built.grubenv, "seconds": round(elapsed, 3),
        }, indent=2))  # fmt: skip
        return 0
    print(
        f"{built.path}: {built.table}, {built.size >> 20} MiB, /boot at sector "
        f"{built.boot_start}; core.img {built.core_sectors} sectors at LBA {built.core_sector} "
        f"(room {built.embedding_sectors}); prefix {built.prefix}; built in {elapsed:.2f} s"
    )
    return 0


def _image_run(args: argparse.Namespace) -> int:
    from bootup.boot.qemu import boot

    result = boot(args.image, timeout=args.timeout, memory=args.memory)
    if args.json:
        print(json.dumps({
            "entry": result.entry, "cmdline": result.cmdline,
            "guest_uptime": result.guest_uptime, "seconds": round(result.seconds, 3),
            "milestones": result.milestones,
        }, indent=2))  # fmt: skip
        return 0
    print(f"booted entry {result.entry!r} in {result.seconds:.1f} s: {result.cmdline}")
    return 0
