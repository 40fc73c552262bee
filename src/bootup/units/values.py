r"""Value grammars of unit files, as systemd 252 parses them (systemd.syntax(7), systemd.time(7)).

Why a module of its own: the same few grammars recur under hundreds of keys, and each has
sharp edges that real unit files rely on: ``TimeoutStopSec=90`` means seconds but
``1.5h`` is ninety minutes; ``RemainAfterExit=on`` is true; ``SuccessExitStatus=TEMPFAIL``
is 75; ``Environment="A=a b" C=d`` holds two assignments; an empty assignment resets a list.
The parsers here follow systemd's C code (``extract_first_word()``, ``parse_time()``,
``format_timespan()``, ``parse_boolean()``, ``config_parse_set_status()``,
``config_parse_environ()``, ``parse_env_file_internal()``) and are checked against
``systemd-analyze timespan`` and ``systemd --test`` dumps in ``tests/conformance``.

Parsers raise :class:`UnitValueError` (a ``ValueError``) with the offending value and what
was expected; the ones that, like systemd, skip bad items and go on return diagnostics
instead.

Each grammar lives in a private module of its own (``_words``, ``_timespan``, ``_status``,
``_environment``, all on ``_valuecore``); this module is their public face, with the
booleans and list assignments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from bootup.units._environment import (
    EnvironmentFileSpec,
    env_assignment_is_valid,
    env_name_is_valid,
    parse_environment,
    parse_environment_file,
    parse_environment_file_spec,
)
from bootup.units._status import (
    EXIT_STATUS_NAMES,
    SIGNAL_NAMES,
    ExitStatusSet,
    exit_status_from_string,
    parse_exit_status_set,
    signal_from_string,
    signal_to_string,
)
from bootup.units._timespan import (
    USEC_INFINITY,
    USEC_PER_DAY,
    USEC_PER_HOUR,
    USEC_PER_MINUTE,
    USEC_PER_MONTH,
    USEC_PER_MSEC,
    USEC_PER_SEC,
    USEC_PER_WEEK,
    USEC_PER_YEAR,
    format_timespan,
    parse_timespan,
)
from bootup.units._valuecore import UnitValueError
from bootup.units._words import ExtractFlags, WordError, extract_first_word, extract_words

__all__ = (
    "EXIT_STATUS_NAMES",
    "SIGNAL_NAMES",
    "USEC_INFINITY",
    "USEC_PER_DAY",
    "USEC_PER_HOUR",
    "USEC_PER_MINUTE",
    "USEC_PER_MONTH",
    "USEC_PER_MSEC",
    "USEC_PER_SEC",
    "USEC_PER_WEEK",
    "USEC_PER_YEAR",
    "EnvironmentFileSpec",
    "ExitStatusSet",
    "ExtractFlags",
    "UnitValueError",
    "WordError",
    "apply_list_assignment",
    "env_assignment_is_valid",
    "env_name_is_valid",
    "exit_status_from_string",
    "extract_first_word",
    "extract_words",
    "format_timespan",
    "parse_boolean",
    "parse_environment",
    "parse_environment_file",
    "parse_environment_file_spec",
    "parse_exit_status_set",
    "parse_timespan",
    "signal_from_string",
    "signal_to_string",
)

T = TypeVar("T")

# The classes live in private modules (one grammar each); reprs and pickles name this one.
for _cls in (UnitValueError, ExtractFlags, WordError, ExitStatusSet, EnvironmentFileSpec):
    _cls.__module__ = __name__

# --- booleans ---------------------------------------------------------------------------

_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})


def parse_boolean(text: str) -> bool:
    """``1/yes/y/true/t/on`` and ``0/no/n/false/f/off``, case-insensitive (``parse_boolean()``).

    Raises:
        UnitValueError: anything else, blanks included.
    """
    folded = text.lower() if text.isascii() else text
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise UnitValueError(text, "a boolean (yes/no, true/false, on/off, 1/0)")


# --- lists ------------------------------------------------------------------------------


def apply_list_assignment(
    current: Sequence[T], items: Sequence[T] | None, *, resettable: bool = True
) -> tuple[T, ...]:
    """Apply one assignment to a list-valued setting: ``None`` (empty value) resets it.

    ``resettable=False`` is for settings that cannot be reset, such as dependencies
    (systemd.unit(5): "Dependencies (After=, etc.) cannot be reset to an empty list"):
    there an empty value changes nothing.
    """
    if items is None:
        return tuple(current) if not resettable else ()
    return (*current, *items)
