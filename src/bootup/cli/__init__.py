"""The ``bootup`` command line.

Each module in :mod:`bootup.cli.commands` contributes verbs through a
``register(subparsers)`` function and stays cheap to import: heavy imports happen inside
the handlers, so ``bootup is-active x`` does not pay for the boot-chain parsers. A handler
takes the parsed arguments and returns the process exit code. Errors derived from
:class:`bootup.errors.Error` are reported as ``bootup: message`` with the error's own exit
code; this is the only place that turns exceptions into exit codes.

Start-up time matters (``bootup is-active x`` runs in scripts and loops), so :func:`main`
registers only the module that owns the verb on the command line, found in the static
table of :mod:`bootup.cli._verbs`, and for a plain ``VERB WORD...`` line uses the
namespace argparse is known to produce without building a parser at all; help, no verb
and unknown verbs get the full parser of :func:`build_parser`, so argparse's messages stay
the same.
"""

from __future__ import annotations

import sys

from bootup import __version__
from bootup.cli import commands
from bootup.cli._invoked import as_invoked
from bootup.errors import Error

# argparse and typing cost milliseconds to import, and a plain ``VERB WORD...`` line needs
# neither; mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    _SubParsers = argparse._SubParsersAction
    Handler = Callable[[argparse.Namespace], int]

__all__ = ("as_invoked", "build_parser", "main")


def top_level_parser() -> tuple[argparse.ArgumentParser, _SubParsers[argparse.ArgumentParser]]:
    """The top-level parser and its (still empty) verb sub-parsers."""
    import argparse

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
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND")


def command_modules() -> list[str]:
    """The modules of :mod:`bootup.cli.commands` that register verbs, in registration order."""
    import pkgutil

    names = (info.name for info in pkgutil.iter_modules(commands.__path__))
    return sorted(name for name in names if not name.startswith("_"))


def register_module(subparsers: _SubParsers[argparse.ArgumentParser], name: str) -> None:
    """Import ``bootup.cli.commands.<name>`` and let it add its verbs."""
    import importlib

    importlib.import_module(f"{commands.__name__}.{name}").register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser from every module in :mod:`bootup.cli.commands`."""
    parser, subparsers = top_level_parser()
    for name in command_modules():
        register_module(subparsers, name)
    return parser


def _parser_for(arguments: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for this command line: its verb's module only, when that is certain."""
    from bootup.cli._verbs import VERBS, find_verb

    verb = find_verb(arguments)
    if verb is None:
        return build_parser()
    parser, subparsers = top_level_parser()
    try:
        register_module(subparsers, VERBS[verb])
    except ModuleNotFoundError:
        return build_parser()  # a stale table (the tests catch it): still parse correctly
    if verb not in subparsers.choices:
        return build_parser()  # the verb moved to another module since the table was made
    return parser


def _simple(arguments: Sequence[str]) -> tuple[Handler, argparse.Namespace] | None:
    """The handler and namespace of a ``VERB WORD...`` line, without building a parser."""
    import importlib

    from bootup.cli._verbs import simple_command

    found = simple_command(arguments)
    if found is None:
        return None
    module, name, attributes = found
    try:
        handler = getattr(importlib.import_module(f"{commands.__name__}.{module}"), name)
    except (ModuleNotFoundError, AttributeError):
        return None  # a stale table (the tests catch it): parse the usual way
    from types import SimpleNamespace

    # What parse_args would return; the handlers only read attributes, so the cheap
    # SimpleNamespace stands in for argparse.Namespace (whose module costs ~5 ms).
    namespace: argparse.Namespace = SimpleNamespace(**attributes)  # type: ignore[assignment]
    return handler, namespace


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        try:
            arguments = as_invoked(sys.argv[0], arguments)
        except Error as exc:
            print(f"bootup: {exc}", file=sys.stderr)
            return exc.exit_code
    if arguments == ["--version"]:  # what argparse prints, without building every verb
        print(f"bootup {__version__}")
        return 0
    if "--test" in arguments:
        from bootup.cli._testmode import run_test_mode

        return _guarded(lambda: run_test_mode(arguments))
    simple = _simple(arguments)
    if simple is not None:
        run, namespace = simple
        return _guarded(lambda: run(namespace))
    parser = _parser_for(arguments)
    args = parser.parse_args(arguments)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        # The top-level help lists every verb, so it comes from the full parser.
        build_parser().print_help(sys.stderr)
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
