"""The ``bootup`` command line.

Each module in :mod:`bootup.cli.commands` contributes verbs through a
``register(subparsers)`` function and stays cheap to import: heavy imports happen inside
the handlers, so ``bootup is-active x`` does not pay for the boot-chain parsers. A handler
takes the parsed arguments and returns the process exit code. Errors derived from
:class:`bootup.errors.Error` are reported as ``bootup: message`` with the error's own exit
code; this is the only place that turns exceptions into exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

from bootup import __version__
from bootup.cli import commands
from bootup.cli._invoked import as_invoked
from bootup.errors import Error

__all__ = ("Handler", "as_invoked", "build_parser", "main")

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser from every module in :mod:`bootup.cli.commands`."""
    parser = argparse.ArgumentParser(
        prog="bootup",
        description="The Linux boot-and-startup chain: service manager, boot chain, singleflight.",
    )
    parser.add_argument("--version", action="version", version=f"bootup {__version__}")
    # As with systemctl, --root may come before the verb; the verbs that read unit files
    # accept it after the verb too. SUPPRESS keeps either position from resetting the other.
    parser.add_argument(
        "--root", metavar="DIR", default=argparse.SUPPRESS, help="operate on the files under DIR"
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="use the project in DIR (its unit files and its running manager)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        try:
            arguments = as_invoked(sys.argv[0], arguments)
        except Error as exc:
            print(f"bootup: {exc}", file=sys.stderr)
            return exc.exit_code
    if "--test" in arguments:
        from bootup.cli._testmode import run_test_mode

        return _guarded(lambda: run_test_mode(arguments))
    parser = build_parser()
    args = parser.parse_args(arguments)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return _guarded(lambda: handler(args))


def _guarded(run: Callable[[], int]) -> int:
    """Run a handler, turning bootup's errors into ``bootup: message`` and an exit code."""
    try:
        return run()
    except Error as exc:
        print(f"bootup: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
