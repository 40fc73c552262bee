"""Splitting a value into words as systemd's ``extract_first_word()`` does (quotes, escapes).

Why a module of its own: word splitting is the lowest layer under the list-valued settings,
the command lines and ``Environment=``, and its flags each change one rule of the C code
(extract-word.c, ``cunescape_one()`` in escape.c). Public through :mod:`bootup.units.values`.
"""

from __future__ import annotations

import enum

from bootup.units._valuecore import _WHITESPACE, UnitValueError, _b, _s


class ExtractFlags(enum.Flag):
    """The flags of systemd's ``extract_first_word()``; each changes one rule."""

    NONE = 0
    RELAX = enum.auto()  # allow an unbalanced quote and eat a trailing backslash
    CUNESCAPE = enum.auto()  # decode C escapes (\n, \x41, \u00e9, \101, ...)
    UNESCAPE_RELAX = enum.auto()  # keep unknown escapes and a trailing backslash verbatim
    UNESCAPE_SEPARATORS = enum.auto()  # "\ " is a literal separator
    KEEP_QUOTE = enum.auto()  # quotes group but stay in the word
    UNQUOTE = enum.auto()  # quotes group and are removed
    DONT_COALESCE_SEPARATORS = enum.auto()
    RETAIN_ESCAPE = enum.auto()  # a backslash is an ordinary character


class WordError(UnitValueError):
    """``extract_first_word()`` failed: a bad escape sequence or an unbalanced quote."""


_SIMPLE_ESCAPES = {
    ord("a"): b"\a",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
    ord("\\"): b"\\",
    ord('"'): b'"',
    ord("'"): b"'",
    ord("s"): b" ",
}


def _hexval(byte: int) -> int:
    if 0x30 <= byte <= 0x39:
        return byte - 0x30
    if 0x61 <= byte <= 0x66:
        return byte - 0x61 + 10
    if 0x41 <= byte <= 0x46:
        return byte - 0x41 + 10
    return -1


def _unichar_is_valid(code: int) -> bool:
    if code >= 0x110000 or (code & 0xFFFFF800) == 0xD800:
        return False
    return not (0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


def _cunescape_one(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """Decode the escape whose letter is at ``data[pos]``; return (bytes, length) or None."""
    letter = data[pos]
    if letter in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[letter], 1
    if letter == ord("x"):
        digits = data[pos + 1 : pos + 3]
        if len(digits) < 2:
            return None
        high, low = _hexval(digits[0]), _hexval(digits[1])
        if high < 0 or low < 0 or (high == 0 and low == 0):
            return None
        return bytes([high << 4 | low]), 3
    if letter in (ord("u"), ord("U")):
        count = 4 if letter == ord("u") else 8
        digits = data[pos + 1 : pos + 1 + count]
        if len(digits) < count or any(_hexval(d) < 0 for d in digits):
            return None
        code = int(digits.decode("ascii"), 16)
        if code == 0 or (letter == ord("U") and not _unichar_is_valid(code)):
            return None
        if code >= 0x110000:
            return None
        return chr(code).encode("utf-8", "surrogatepass"), 1 + count
    if ord("0") <= letter <= ord("7"):
        digits = data[pos : pos + 3]
        if len(digits) < 3 or any(not ord("0") <= d <= ord("7") for d in digits):
            return None
        value = int(digits.decode("ascii"), 8)
        if value == 0 or value > 255:
            return None
        return bytes([value]), 3
    return None


def _extract(
    data: bytes, pos: int, separators: bytes, flags: ExtractFlags
) -> tuple[bytes | None, int | None]:
    """The byte-level core of :func:`extract_first_word`; see there."""
    n = len(data)
    word = bytearray()
    have_word = False
    if flags & ExtractFlags.DONT_COALESCE_SEPARATORS:
        have_word = True
    # Skip leading separators.
    while True:
        if pos >= n:
            return (bytes(word), None) if have_word else (None, None)
        byte = data[pos]
        if byte in separators:
            if flags & ExtractFlags.DONT_COALESCE_SEPARATORS:
                return bytes(word), pos + 1
            pos += 1
            continue
        have_word = True
        break

    quote = 0
    backslash = False
    unquote = bool(flags & ExtractFlags.UNQUOTE)
    quotes_active = bool(flags & (ExtractFlags.KEEP_QUOTE | ExtractFlags.UNQUOTE))
    retain_escape = bool(flags & ExtractFlags.RETAIN_ESCAPE)
    while True:
        if backslash:
            if pos >= n:
                if flags & ExtractFlags.UNESCAPE_RELAX and (
                    not quote or flags & ExtractFlags.RELAX
                ):
                    word.append(0x5C)
                    return bytes(word), None
                if flags & ExtractFlags.RELAX:
                    return bytes(word), None
                raise WordError(_s(data), "a character after the backslash")
            byte = data[pos]
            if flags & (ExtractFlags.CUNESCAPE | ExtractFlags.UNESCAPE_SEPARATORS):
                decoded = _cunescape_one(data, pos) if flags & ExtractFlags.CUNESCAPE else None
                if decoded is not None:
                    word += decoded[0]
                    pos += decoded[1] - 1
                elif flags & ExtractFlags.UNESCAPE_SEPARATORS and (
                    byte in separators or byte == 0x5C
                ):
                    word.append(byte)
                elif flags & ExtractFlags.UNESCAPE_RELAX:
                    word.append(0x5C)
                    word.append(byte)
                else:
                    raise WordError(_s(data), "a valid escape sequence")
            else:
                word.append(byte)
            backslash = False
            pos += 1
        elif quote:
            while True:
                if pos >= n:
                    if flags & ExtractFlags.RELAX:
                        return bytes(word), None
                    raise WordError(_s(data), "a closing quote", "Invalid argument")
                byte = data[pos]
                if byte == quote:
                    quote = 0
                    if unquote:
                        pos += 1
                        break
                elif byte == 0x5C and not retain_escape:
                    backslash = True
                    pos += 1
                    break
                word.append(byte)
                pos += 1
                if not quote:
                    break
        else:
            while True:
                if pos >= n:
                    return bytes(word), None
                byte = data[pos]
                if byte in (0x27, 0x22) and quotes_active:
                    quote = byte
                    if unquote:
                        pos += 1
                        break
                elif byte == 0x5C and not retain_escape:
                    backslash = True
                    pos += 1
                    break
                elif byte in separators:
                    if flags & ExtractFlags.DONT_COALESCE_SEPARATORS:
                        return bytes(word), pos + 1
                    while pos < n and data[pos] in separators:
                        pos += 1
                    return bytes(word), (pos if pos < n else None)
                word.append(byte)
                pos += 1
                if quote:
                    break


def extract_first_word(
    text: str,
    flags: ExtractFlags = ExtractFlags.NONE,
    separators: str = _WHITESPACE,
) -> tuple[str | None, str | None]:
    r"""Split the first word off ``text``, as systemd's ``extract_first_word()`` does.

    Returns:
        ``(word, rest)``: ``word`` is ``None`` when there is no word left; ``rest`` is
        ``None`` when the input is used up, else the text after the word and the separators
        that follow it.

    Raises:
        WordError: an unknown escape (without ``UNESCAPE_RELAX``), a trailing backslash, or
            an unbalanced quote (without ``RELAX``).
    """
    data = _b(text)
    word, pos = _extract(data, 0, _b(separators), flags)
    rest = None if pos is None else _s(data[pos:])
    return (None if word is None else _s(word)), rest


def extract_words(
    text: str,
    flags: ExtractFlags = ExtractFlags.NONE,
    separators: str = _WHITESPACE,
) -> list[str]:
    """All words of ``text`` (``strv_split_full()``)."""
    data = _b(text)
    seps = _b(separators)
    words: list[str] = []
    pos: int | None = 0
    while pos is not None:
        word, pos = _extract(data, pos, seps, flags)
        if word is None:
            break
        words.append(_s(word))
    return words
