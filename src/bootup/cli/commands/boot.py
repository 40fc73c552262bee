"""The ``bootup boot`` verb: the boot chain, from the MBR to the kernel that boots next.

``boot`` owns its own sub-parsers. Stage 2 (grubenv, grub.cfg, /etc/default/grub, BLS,
``explain``, ``set-default``, ``reboot-once``, ``env``) is defined here; other parts of the
boot chain plug in without editing this file: every module named ``_boot_*.py`` in this
package defines ``register_boot(boot_subparsers)`` and is discovered with :mod:`pkgutil`.
The leading underscore keeps :func:`bootup.cli.build_parser` from registering those modules
as top-level verbs.

Module-level imports stay light (argparse only); handlers import the parsers they need.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from bootup.boot._inputs import naming_os_errors
from bootup.cli import commands

if TYPE_CHECKING:
    from bootup.boot.explain import ChainReport, StageTwo

__all__ = ("register",)

_PLUGIN_PREFIX = "_boot_"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bootup boot`` with its sub-commands and those of every ``_boot_*`` module."""
    parser = subparsers.add_parser(
        "boot",
        help="inspect and change the boot chain (GRUB, grubenv, menus, disk images)",
        description="Inspect and change the boot chain: which kernel boots next, and why.",
    )
    parser.set_defaults(handler=_usage(parser))
    boot_subparsers = parser.add_subparsers(dest="boot_command", metavar="SUBCOMMAND")
    _register_stage2(boot_subparsers)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith(_PLUGIN_PREFIX):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register_boot(boot_subparsers)


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="root directory holding boot/grub/grub.cfg, boot/grub/grubenv and "
        "etc/default/grub (default /)",
    )
    parser.add_argument("--grubenv", default=None, metavar="FILE", help="the grubenv file")
    parser.add_argument("--grub-cfg", default=None, metavar="FILE", help="the grub.cfg file")
    parser.add_argument(
        "--default-grub", default=None, metavar="FILE", help="the /etc/default/grub file"
    )
    parser.add_argument(
        "--flavor",
        choices=("upstream", "fedora"),
        default=None,
        help="how GRUB matches the default: upstream/Debian (number first) or Fedora "
        "(id, title, then number); default: fedora when BLS entries are used",
    )


def _register_stage2(
    boot_subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    explain = boot_subparsers.add_parser(
        "explain",
        help="show the whole boot chain and which entry boots next, with every warning",
        description="Explain the boot chain of a disk IMAGE or a ROOT directory.",
    )
    explain.add_argument("target", metavar="IMAGE|ROOT")
    explain.add_argument("--json", action="store_true", help="print a JSON document")
    explain.add_argument("--flavor", choices=("upstream", "fedora"), default=None)
    explain.set_defaults(handler=naming_os_errors(_explain))

    for name, variable, what in (
        ("set-default", "saved_entry", "the saved default entry (GRUB_DEFAULT=saved)"),
        ("reboot-once", "next_entry", "the entry for the next boot only"),
    ):
        sub = boot_subparsers.add_parser(
            name,
            help=f"validate ENTRY against the menu and write {variable} ({what})",
            description=f"Resolve ENTRY (title, id, index or a 'submenu>entry' path) against "
            f"the real menu, refuse what would not boot, then write {variable} atomically.",
        )
        sub.add_argument("entry", metavar="ENTRY")
        _add_target(sub)
        sub.add_argument(
            "--image", default=None, metavar="IMAGE", help="change grubenv inside a disk image"
        )
        sub.add_argument("--json", action="store_true", help="print a JSON document")
        sub.set_defaults(handler=naming_os_errors(_set_entry), variable=variable)

    resolve = boot_subparsers.add_parser(
        "resolve",
        help="print the entry that boots next and why",
        description="Resolve the default entry of a ROOT directory (or explicit files).",
    )
    _add_target(resolve)
    resolve.add_argument("--json", action="store_true", help="print a JSON document")
    resolve.set_defaults(handler=naming_os_errors(_resolve))

    env = boot_subparsers.add_parser(
        "env",
        help="a drop-in for grub-editenv: FILE create|list|set NAME=VALUE...|unset NAME...",
        description="Edit a GRUB environment block exactly as grub-editenv does.",
    )
    env.add_argument("file", metavar="FILE")
    env.add_argument("action", choices=("create", "list", "set", "unset"))
    env.add_argument("items", nargs="*", metavar="NAME[=VALUE]")
    env.set_defaults(handler=naming_os_errors(_env))


def _explain(args: argparse.Namespace) -> int:
    from bootup.boot import explain

    report: ChainReport = explain.explain(args.target, flavor=args.flavor)
    if args.json:
        print(explain.render_json(report))
    else:
        print(explain.render_text(report), end="")
    return 0


def _target_paths(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "root": args.root,
        "grubenv": args.grubenv,
        "grub_cfg": args.grub_cfg,
        "default_grub": args.default_grub,
    }


def _resolve(args: argparse.Namespace) -> int:
    from bootup.boot import explain

    resolution: StageTwo = explain.resolve_target(**_target_paths(args), flavor=args.flavor)
    if args.json:
        print(explain.render_resolution_json(resolution))
    else:
        print(explain.render_resolution_text(resolution), end="")
    return 0


def _set_entry(args: argparse.Namespace) -> int:
    from bootup.boot import explain

    outcome = explain.set_entry(
        args.entry,
        variable=args.variable,
        image=args.image,
        flavor=args.flavor,
        **_target_paths(args),
    )
    if args.json:
        print(explain.render_set_json(outcome))
    else:
        print(explain.render_set_text(outcome), end="")
    return outcome.exit_code


def _env(args: argparse.Namespace) -> int:
    """``grub-editenv FILE create|list|set|unset``, with the same bytes and the same output."""
    import sys

    from bootup.boot import grubenv

    items: list[str] = list(args.items)
    if args.action == "create":
        grubenv.create_file(args.file)
        return 0
    if args.action == "list":
        block = grubenv.load_or_create(args.file)
        sys.stdout.flush()
        sys.stdout.buffer.write(block.listing())
        sys.stdout.buffer.flush()
        damage = block.damage()
        if damage is not None:
            print(f"bootup: warning: {damage}", file=sys.stderr)
        return 0
    pairs: list[tuple[str, str]] = []
    if args.action == "set":
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                grubenv.load_or_create(args.file)  # grub-editenv creates the file first, too
                print(f"bootup: invalid parameter {item!r}: expected NAME=VALUE", file=sys.stderr)
                return 1
            pairs.append((name, value))

    def change(block: grubenv.EnvBlock) -> None:
        for name, value in pairs:
            block.set(name, value)
        if args.action == "unset":
            for name in items:
                block.unset(name)

    grubenv.edit(args.file, change)
    return 0
