"""``bootup escape``: systemd-escape(1), with the same output, messages and exit codes.

Why its own option parsing: systemd-escape parses its arguments with GNU getopt (options and
names may mix, ``--`` ends options, long options may be abbreviated) and exits 1 on a usage
error, where argparse would exit 2. The verb therefore takes its arguments raw and parses
them with :func:`getopt.gnu_getopt`. The output is byte for byte systemd-escape's: results
joined by spaces, a newline at the end; on an error the results so far stay on stdout
without a newline, as systemd-escape leaves them.
"""

from __future__ import annotations

import argparse
import getopt
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bootup.units.names import UnitNameError

__all__ = ("register", "run_escape")

_HELP = """\
bootup escape [OPTIONS...] [NAME...]

Escape strings for usage in systemd unit names.

  -h --help               Show this help
     --version            Show package version
     --suffix=SUFFIX      Unit suffix to append to escaped strings
     --template=TEMPLATE  Insert strings as instance into template
     --instance           With --unescape, show just the instance part
  -u --unescape           Unescape strings
  -m --mangle             Mangle strings
  -p --path               When escaping/unescaping assume the string is a path
"""

_LONG = ["help", "version", "suffix=", "template=", "unescape", "mangle", "path", "instance"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``escape`` verb; it takes its arguments unparsed (see the module docstring)."""
    parser = subparsers.add_parser(
        "escape",
        help="escape strings for use in unit names (systemd-escape)",
        add_help=False,
        prefix_chars="\0",
    )
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    argv: list[str] = list(args.argv)
    return run_escape(argv)


def _out(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))


def _err(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.buffer.write(text.encode("utf-8", "surrogateescape") + b"\n")
    sys.stderr.flush()


def run_escape(argv: list[str]) -> int:
    """Run systemd-escape's logic over ``argv`` (without the program name); return the exit code."""
    from bootup import __version__
    from bootup.units import names

    try:
        options, operands = getopt.gnu_getopt(argv, "hump", _LONG)
    except getopt.GetoptError as exc:
        _err(f"bootup escape: {exc.msg}")
        return 1

    opts = _Options()
    for option, value in options:
        if option in ("-h", "--help"):
            _out(_HELP)
            return 0
        if option == "--version":
            _out(f"bootup {__version__}\n")
            return 0
        if option == "--suffix":
            if value not in names.UNIT_TYPES:
                _err(f'Invalid unit suffix type "{value}".')
                return 1
            opts.suffix = value
        elif option == "--template":
            if not names.is_valid_name(value, names.NameKind.TEMPLATE):
                _err(f"Template name {value} is not valid.")
                return 1
            opts.template = value
        elif option in ("-u", "--unescape"):
            opts.action = "unescape"
        elif option in ("-m", "--mangle"):
            opts.action = "mangle"
        elif option in ("-p", "--path"):
            opts.path = True
        elif option == "--instance":
            opts.instance = True

    usage_error = _usage_error(operands, opts)
    if usage_error:
        _err(usage_error)
        return 1

    for index, operand in enumerate(operands):
        try:
            result = _one(operand, opts)
        except _Failure as failure:
            sys.stdout.flush()
            _err(str(failure))
            return 1
        if index:
            _out(" ")
        # fputs() stops at a NUL that unescaping produced.
        _out(result.split("\0", 1)[0])
    _out("\n")
    sys.stdout.flush()
    return 0


@dataclass(slots=True)
class _Options:
    action: str = "escape"
    suffix: str | None = None
    template: str | None = None
    path: bool = False
    instance: bool = False


def _usage_error(operands: list[str], opts: _Options) -> str:
    action, suffix, template = opts.action, opts.suffix, opts.template
    path, instance = opts.path, opts.instance
    if not operands:
        return "Not enough arguments."
    if template and suffix:
        return "--suffix= and --template= may not be combined."
    if (template or suffix) and action == "mangle":
        return "--suffix= and --template= are not compatible with --mangle."
    if suffix and action == "unescape":
        return "--suffix is not compatible with --unescape."
    if path and action == "mangle":
        return "--path may not be combined with --mangle."
    if instance and action != "unescape":
        return "--instance must be used in conjunction with --unescape."
    if instance and template:
        return "--instance may not be combined with --template."
    return ""


class _Failure(Exception):
    """One operand failed; the message is systemd-escape's."""


def _errno_text(exc: UnitNameError) -> str:
    return exc.errno_text


def _one(operand: str, opts: _Options) -> str:
    from bootup.units import names

    action, suffix, template = opts.action, opts.suffix, opts.template
    path, instance = opts.path, opts.instance

    if action == "escape":
        if path:
            try:
                escaped = names.path_escape(operand)
            except names.UnitNameError as exc:
                if not names.path_is_valid(operand):
                    raise _Failure(
                        f"Input '{operand}' is not a valid file system path, failed to escape."
                    ) from exc
                if not operand.startswith("/"):
                    raise _Failure(
                        f"Input '{operand}' is not an absolute file system path, failed to escape."
                    ) from exc
                if not names.path_is_normalized(operand):
                    raise _Failure(
                        f"Input '{operand}' is not a normalized file system path, failed to escape."
                    ) from exc
                raise _Failure(f"Failed to escape string: {_errno_text(exc)}") from exc
            if not names.path_is_valid(operand):
                _err(
                    f"Input '{operand}' is not a valid file system path, "
                    "escaping is likely not going be reversible."
                )
            elif not operand.startswith("/"):
                _err(
                    f"Input '{operand}' is not an absolute file system path, "
                    "escaping is likely not going to be reversible."
                )
        else:
            escaped = names.escape(operand)
        if template:
            try:
                return names.replace_instance(template, escaped)
            except names.UnitNameError as exc:
                raise _Failure(f"Failed to replace instance: {_errno_text(exc)}") from exc
        if suffix:
            return f"{escaped}.{suffix}"
        return escaped

    if action == "unescape":
        name = operand
        if template or instance:
            if not names.is_valid_name(operand):
                raise _Failure("Failed to extract instance: Invalid argument")
            found = names.unit_instance(operand)
            if not found:
                raise _Failure(f"Unit {operand} is missing the instance name.")
            own_template = names.template_of(operand)
            if template and template != own_template:
                raise _Failure(
                    f"Unit {operand} template {own_template} does not match "
                    f"specified template {template}."
                )
            name = found
        try:
            return names.path_unescape(name) if path else names.unescape(name)
        except names.UnitNameError as exc:
            raise _Failure(f"Failed to unescape string: {_errno_text(exc)}") from exc

    try:
        return names.mangle(operand)
    except names.UnitNameError as exc:
        raise _Failure(f"Failed to mangle name: {_errno_text(exc)}") from exc
