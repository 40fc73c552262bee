"""The common ground of the unit-file value grammars: their error and the bytes they work on.

Why a module of its own: every grammar of :mod:`bootup.units.values` (words, time spans,
exit statuses, environments) raises the same :class:`UnitValueError`, and the ones that
follow systemd's byte-oriented C code work on bytes, reached with the same lossless
``surrogateescape`` round trip. Public through :mod:`bootup.units.values`.
"""

from __future__ import annotations

from typing import ClassVar

from bootup.errors import UnitSyntaxError

_WHITESPACE = " \t\n\r"


class UnitValueError(UnitSyntaxError):
    """A value does not follow its grammar.

    Attributes:
        value: the text that failed.
        expected: what the grammar wanted, in words.
        errno_text: how systemd reports the same failure ("Invalid argument", ...).
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, value: str, expected: str, errno_text: str = "Invalid argument") -> None:
        super().__init__(f"invalid value {value!r}: expected {expected}")
        self.value = value
        self.expected = expected
        self.errno_text = errno_text


def _b(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _s(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")
