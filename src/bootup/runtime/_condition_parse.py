"""The parameter grammars of ``Condition*=`` lines: words, operators, versions, sizes.

Why a module of its own: several checks share systemd's small grammars (``extract_first_word()``
splitting, the comparison operators of ``ConditionKernelVersion=``/``ConditionOSRelease=``,
``strverscmp_improved()``, sizes and percentages), and none of them looks at the system, so
they are tested on their own. Private to :mod:`bootup.runtime.conditions`, which re-exports
:func:`strverscmp_improved`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_OPERATORS = (
    # (text, operator, needs fnmatch permission, only with equal-by-string)
    ("!$=", "fnmatch-unequal", True, False),
    ("$=", "fnmatch-equal", True, False),
    ("<>", "unequal", False, False),
    ("<=", "le", False, False),
    (">=", "ge", False, False),
    ("<", "lt", False, False),
    (">", "gt", False, False),
    ("==", "equal", False, False),
    ("=", "string-equal", False, True),
    ("=", "equal", False, False),
    ("!=", "string-unequal", False, True),
    ("!=", "unequal", False, False),
)
_OPERATOR_CHARS = "!<=>$"


class _CheckError(Exception):
    """A check could not be made (systemd's negative return): the line counts as failed."""


def _parse_boolean(text: str) -> bool:
    low = text.lower()
    if low in ("1", "yes", "y", "true", "t", "on"):
        return True
    if low in ("0", "no", "n", "false", "f", "off"):
        return False
    raise _CheckError(f"not a boolean: {text!r}")


def _split_words(text: str, *, relax: bool = True) -> list[str]:
    """extract_first_word(EXTRACT_UNQUOTE): whitespace-separated, quotes removed."""
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\n\r":
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and i + 1 < n:
                    i += 1
                    word.append(text[i])
                else:
                    word.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < n:
                i += 1
                word.append(text[i])
            elif ch in " \t\n\r":
                break
            else:
                word.append(ch)
            i += 1
        if quote and not relax:
            raise _CheckError("unbalanced quotes")
        words.append("".join(word))


def _parse_operator(text: str, *, fnmatch_ok: bool, by_string: bool) -> tuple[str | None, str]:
    for token, op, needs_fnmatch, needs_string in _OPERATORS:
        if needs_fnmatch and not fnmatch_ok:
            continue
        if needs_string and not by_string:
            continue
        if text.startswith(token):
            return op, text[len(token) :]
    return None, text


def _order(cmp: int, op: str) -> bool:
    return {
        "lt": cmp < 0,
        "le": cmp <= 0,
        "equal": cmp == 0,
        "unequal": cmp != 0,
        "ge": cmp >= 0,
        "gt": cmp > 0,
    }[op]


def _version_or_fnmatch(op: str, actual: str, pattern: str) -> bool:
    if op == "fnmatch-equal":
        return fnmatch.fnmatchcase(actual, pattern)
    if op == "fnmatch-unequal":
        return not fnmatch.fnmatchcase(actual, pattern)
    if op == "string-equal":
        return actual == pattern
    if op == "string-unequal":
        return actual != pattern
    return _order(strverscmp_improved(actual, pattern), op)


def _valid_version_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "~-^.")


def _cmp(x: str | int, y: str | int) -> int:
    if isinstance(x, str) and isinstance(y, str):
        return (x > y) - (x < y)
    return (int(x) > int(y)) - (int(x) < int(y))


def _span(text: str, start: int, accept: Callable[[str], bool]) -> int:
    end = start
    while end < len(text) and accept(text[end]):
        end += 1
    return end


def _is_digit(ch: str) -> bool:
    return ch in "0123456789"


def _is_alpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def strverscmp_improved(a: str, b: str) -> int:
    """Compare two version strings the way systemd does (string-util.c); -1, 0 or 1.

    Segment by segment: ``~`` sorts before everything (pre-releases), then the end of the
    string, then ``-`` (release), ``^`` (patch) and ``.``; numeric segments compare by
    value and are newer than alphabetic ones. Pinned against ``systemd-analyze
    compare-versions``.
    """
    if not a or not b:
        return _cmp(a, b)
    i = j = 0
    while True:
        i = _span(a, i, lambda ch: not _valid_version_char(ch))
        j = _span(b, j, lambda ch: not _valid_version_char(ch))
        for sep in ("~", "", "-", "^", "."):
            ca, cb = a[i : i + 1], b[j : j + 1]
            if sep == "":
                if not ca or not cb:  # one string ended: the longer one is newer
                    return _cmp(a[i:], b[j:])
                continue
            if sep in (ca, cb):
                r = _cmp(ca != sep, cb != sep)
                if r:
                    return r
                i, j = i + 1, j + 1
        ca, cb = a[i : i + 1], b[j : j + 1]
        if _is_digit(ca) or _is_digit(cb):
            ea, eb = _span(a, i, _is_digit), _span(b, j, _is_digit)
            r = _cmp(ea != i, eb != j)  # a number is newer than nothing
            if r:
                return r
            i, j = _span(a, i, lambda ch: ch == "0"), _span(b, j, lambda ch: ch == "0")
            r = _cmp(ea - i, eb - j) or _cmp(a[i:ea], b[j:eb])
        else:
            ea, eb = _span(a, i, _is_alpha), _span(b, j, _is_alpha)
            m = min(ea - i, eb - j)
            r = _cmp(a[i : i + m], b[j : j + m]) or _cmp(ea - i, eb - j)
        if r:
            return r
        i, j = ea, eb


def _key_matches(words: Sequence[str], parameter: str) -> bool:
    if "=" in parameter:
        return parameter in words
    return any(w == parameter or w.startswith(parameter + "=") for w in words)


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)\s*", text)
    if not m:
        raise _CheckError(f"not a size: {text!r}")
    factor: int = 1 << (10 * " KMGTPE".index(m.group(2) or " "))
    whole, _, frac = m.group(1).partition(".")
    value = int(whole) * factor
    if frac:
        value += int(frac) * factor // 10 ** len(frac)
    return value


def _parse_permyriad(text: str) -> int:
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]{1,2}))?%", text)
    if m:
        return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]))?\u2030", text)
    if m:
        return int(m.group(1)) * 10 + int(m.group(2) or "0")
    m = re.fullmatch(r"([0-9]+)\u2031", text)
    if m:
        return int(m.group(1))
    raise _CheckError(f"not a percentage: {text!r}")
