"""``bootup boot`` sub-commands for the disk side: install-grub, disk, partitions, cat.

Discovered by :mod:`bootup.cli.commands.boot` through ``register_boot``. Module-level imports
stay light; the handlers import the parsers.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from bootup.boot._inputs import naming_os_errors

if TYPE_CHECKING:
    from bootup.boot.disk import DiskReport

__all__ = ("register_boot",)


def register_boot(boot_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add install-grub, disk, partitions and cat to ``bootup boot``."""
    install = boot_subparsers.add_parser(
        "install-grub",
        help="embed core.img and install boot.img into a disk IMAGE (like grub-bios-setup)",
        description="Install GRUB for BIOS into a disk image file, byte-identical to "
        "grub-bios-setup --no-rs-codes (or to its default with --rs-codes): core.img goes "
        "into the MBR gap (msdos) or the BIOS boot partition (GPT), boot.img into sector 0. "
        "Needs neither root nor loop devices.",
    )
    install.add_argument("image", metavar="IMAGE")
    install.add_argument("--core", required=True, metavar="FILE", help="core.img (grub-mkimage)")
    install.add_argument(
        "--boot-img",
        default=None,
        metavar="FILE",
        help="boot.img (default /usr/lib/grub/i386-pc/boot.img)",
    )
    install.add_argument(
        "--allow-floppy", action="store_true", help="keep boot.img's floppy drive check"
    )
    install.add_argument(
        "--rs-codes",
        action="store_true",
        help="add Reed-Solomon parity like grub-bios-setup's default (up to twice core.img's "
        "sectors); without it the result equals grub-bios-setup --no-rs-codes",
    )
    install.add_argument("--json", action="store_true", help="print a JSON document")
    install.set_defaults(handler=naming_os_errors(_install))

    disk = boot_subparsers.add_parser(
        "disk",
        help="show a disk IMAGE's partition table, boot.img and core.img (prefix, modules)",
        description="Inspect a disk image up to stage 1.5: partition table, GRUB's boot.img, "
        "core.img's prefix and modules, and every problem found on the way.",
    )
    disk.add_argument("image", metavar="IMAGE")
    disk.add_argument("--json", action="store_true", help="print a JSON document")
    disk.set_defaults(handler=naming_os_errors(_disk))

    parts = boot_subparsers.add_parser(
        "partitions",
        help="list the partitions of a disk IMAGE (MBR with logical partitions, or GPT)",
        description="List the partitions of a disk image, like sfdisk --list.",
    )
    parts.add_argument("image", metavar="IMAGE")
    parts.add_argument("--json", action="store_true", help="print a JSON document")
    parts.set_defaults(handler=naming_os_errors(_partitions))

    cat = boot_subparsers.add_parser(
        "cat",
        help="print a file from an ext2/3/4 partition of a disk IMAGE",
        description="Read PATH from an ext2/3/4 partition of IMAGE without mounting it. The "
        "default partition is the one core.img's prefix names, else the first one with an ext "
        "file system.",
    )
    cat.add_argument("image", metavar="IMAGE")
    cat.add_argument("path", metavar="PATH")
    cat.add_argument("--partition", type=int, default=None, metavar="N")
    cat.set_defaults(handler=naming_os_errors(_cat))


def _install(args: argparse.Namespace) -> int:
    from bootup.boot import install
    from bootup.boot._inputs import read_input

    # Both inputs are read before the image is touched, so a missing one leaves it as it was.
    core = read_input(args.core, "core.img (--core)")
    boot_img = read_input(args.boot_img, "boot.img (--boot-img)") if args.boot_img else None
    result = install.install_grub(
        args.image,
        core,
        boot_img,
        allow_floppy=args.allow_floppy,
        reed_solomon=args.rs_codes,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "image": args.image,
                    "label": result.label,
                    "kernel_sector": result.first_sector,
                    "sectors": list(result.sectors),
                    "core_size": result.core_size,
                    "embedding_sectors": result.area_sectors,
                    "warnings": list(result.warnings),
                },
                indent=2,
            )
        )
        return 0
    last = result.sectors[-1]
    print(
        f"installed GRUB into {args.image} ({result.label}): core.img {result.core_size:,} "
        f"bytes at LBA {result.first_sector}-{last} of {result.area_sectors} available, "
        f"boot.img kernel_sector={result.first_sector}"
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _render_partitions(report: DiskReport) -> list[str]:
    lines = [f"Disk {report.path}: {report.size:,} bytes, {report.size // 512} sectors"]
    lines.append(f"Disklabel type: {report.label or 'none'}")
    if report.disk_id:
        lines.append(f"Disk identifier: {report.disk_id}")
    if report.partitions:
        lines.append("")
        lines.append(f"{'#':>3} {'Boot':4} {'Start':>10} {'End':>10} {'Sectors':>10}  Type  FS")
        lines.extend(
            f"{p.number:>3} {'*' if p.bootable else '':4} {p.start:>10} "
            f"{p.start + p.size - 1:>10} {p.size:>10}  {p.type_name}"
            f"{' (' + p.name + ')' if p.name else ''}  {p.filesystem or '-'}"
            for p in report.partitions
        )
    return lines


def _disk(args: argparse.Namespace) -> int:
    from bootup.boot import disk

    report = disk.inspect_disk(args.image)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    lines = _render_partitions(report)
    lines.append("")
    stage1 = report.stage1
    if stage1.is_grub:
        lines.append(
            f"Stage 1: GRUB boot.img, kernel_sector={stage1.kernel_sector}, "
            f"boot_drive={stage1.boot_drive:#04x}, drive check "
            f"{'disabled' if stage1.drive_check_disabled else 'kept'}"
        )
    else:
        lines.append("Stage 1: no GRUB boot.img in sector 0")
    core = report.core
    if core is not None:
        area = (
            f"{core.embedding_area}: {core.embedding_sectors} sectors"
            if core.embedding_area
            else "no embedding area"
        )
        lines.append(
            f"Stage 1.5: core.img at LBA {core.lba}, {core.size:,} bytes = {core.sectors} "
            f"sectors ({area})"
        )
        lines.append(f"  prefix:  {core.prefix}")
        lines.append(f"  modules: {', '.join(core.modules)}")
        if core.config:
            lines.append(f"  embedded config: {core.config!r}")
        prefix_part = report.prefix_partition()
        if prefix_part is not None:
            lines.append(
                f"  stage 2 is read from partition {prefix_part.number} "
                f"({prefix_part.filesystem or 'unknown file system'})"
            )
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    print("\n".join(lines))
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from bootup.boot import disk

    report = disk.inspect_disk(args.image)
    if args.json:
        data: dict[str, Any] = report.to_json()
        print(
            json.dumps(
                {k: data[k] for k in ("path", "size", "label", "disk_id", "partitions")}, indent=2
            )
        )
    else:
        print("\n".join(_render_partitions(report)))
    return 0


def _cat(args: argparse.Namespace) -> int:
    from bootup.boot import disk, ext4
    from bootup.errors import BootFormatError

    report = disk.inspect_disk(args.image)
    if args.partition is not None:
        part = report.partition(args.partition)
        if part is None:
            raise BootFormatError(f"{args.image}: no partition {args.partition}")
    else:
        part = report.prefix_partition() or next(
            (p for p in report.partitions if (p.filesystem or "").startswith("ext")), None
        )
        if part is None:
            raise BootFormatError(f"{args.image}: no partition with an ext2/3/4 file system")
    data = ext4.read_file(args.image, part.offset, args.path)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0
