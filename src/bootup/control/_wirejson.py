"""Compact JSON for the Varlink wire, without importing the :mod:`json` package.

Why: ``bootup is-active x`` is run from scripts and loops, and its start-up is measured
against ``python3 -c pass`` (issue 6 asks for at most 2x). Importing :mod:`json` pulls in
:mod:`re` and :mod:`enum` (about 7 ms here, most of the client's budget); the C
accelerator :mod:`_json` that :mod:`json` itself drives does the actual work and imports
nothing. So this module calls the accelerator the way :func:`json.dumps` and
:func:`json.loads` do for compact output and default parsing, and falls back to :mod:`json`
on interpreters without it (PyPy). Results are identical to ``json.dumps(obj,
separators=(",", ":"), ensure_ascii=False)`` and ``json.loads(text)``; a test checks that
on random documents.

Errors are :class:`ValueError` with ``msg`` and ``pos`` attributes, as
:class:`json.JSONDecodeError` has (the accelerator raises that very class for most errors,
importing :mod:`json.decoder` only then).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ("WireJSONError", "dumps", "loads")

_WHITESPACE = " \t\n\r"


class WireJSONError(ValueError):
    """Text that is not one JSON document (``msg`` says what, ``pos`` where)."""

    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(f"{msg}: char {pos}")
        self.msg = msg
        self.pos = pos


def _unencodable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _ScannerContext:
    """The settings ``_json.make_scanner`` reads: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }.__getitem__


def _accelerated() -> tuple[Callable[[Any], str], Callable[[str], Any]] | None:
    try:
        import _json  # noqa: PLC0415 (optional: CPython's accelerator)
    except ImportError:
        return None
    make_encoder = getattr(_json, "make_encoder", None)
    make_scanner = getattr(_json, "make_scanner", None)
    encode_string = getattr(_json, "encode_basestring", None)
    if make_encoder is None or make_scanner is None or encode_string is None:
        return None
    encoder = make_encoder(None, _unencodable, encode_string, None, ":", ",", False, False, True)
    scanner = make_scanner(_ScannerContext())

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    def decode(text: str) -> Any:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = scanner(text, start)
        except StopIteration as stop:
            raise WireJSONError("Expecting value", stop.value) from None
        rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
        if rest != len(text):
            raise WireJSONError("Extra data", rest)
        return value

    return encode, decode


def _portable() -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    import json  # noqa: PLC0415 (only where the accelerator is missing)

    def encode(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    return encode, json.loads


dumps, loads = _accelerated() or _portable()
