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
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from bootup.errors import UnitSyntaxError
from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.syntax import escape_invalid_utf8, is_valid_utf8

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

USEC_PER_MSEC = 1_000
USEC_PER_SEC = 1_000_000
USEC_PER_MINUTE = 60 * USEC_PER_SEC
USEC_PER_HOUR = 60 * USEC_PER_MINUTE
USEC_PER_DAY = 24 * USEC_PER_HOUR
USEC_PER_WEEK = 7 * USEC_PER_DAY
USEC_PER_MONTH = 2_629_800 * USEC_PER_SEC  # 30.44 days
USEC_PER_YEAR = 31_557_600 * USEC_PER_SEC  # 365.25 days
#: systemd's USEC_INFINITY (UINT64_MAX): "infinity", no timeout.
USEC_INFINITY = 2**64 - 1
_LLONG_MAX = 2**63 - 1

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


# --- words ------------------------------------------------------------------------------


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


def _b(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _s(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


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


# --- time spans -------------------------------------------------------------------------

# Order matters: systemd takes the first suffix that matches (so "ms" before "m").
_TIME_UNITS: tuple[tuple[str, int], ...] = (
    ("seconds", USEC_PER_SEC),
    ("second", USEC_PER_SEC),
    ("sec", USEC_PER_SEC),
    ("s", USEC_PER_SEC),
    ("minutes", USEC_PER_MINUTE),
    ("minute", USEC_PER_MINUTE),
    ("min", USEC_PER_MINUTE),
    ("months", USEC_PER_MONTH),
    ("month", USEC_PER_MONTH),
    ("M", USEC_PER_MONTH),
    ("msec", USEC_PER_MSEC),
    ("ms", USEC_PER_MSEC),
    ("m", USEC_PER_MINUTE),
    ("hours", USEC_PER_HOUR),
    ("hour", USEC_PER_HOUR),
    ("hr", USEC_PER_HOUR),
    ("h", USEC_PER_HOUR),
    ("days", USEC_PER_DAY),
    ("day", USEC_PER_DAY),
    ("d", USEC_PER_DAY),
    ("weeks", USEC_PER_WEEK),
    ("week", USEC_PER_WEEK),
    ("w", USEC_PER_WEEK),
    ("years", USEC_PER_YEAR),
    ("year", USEC_PER_YEAR),
    ("y", USEC_PER_YEAR),
    ("usec", 1),
    ("us", 1),
    ("\u03bcs", 1),  # GREEK SMALL LETTER MU
    ("\u00b5s", 1),  # MICRO SIGN
)


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _strtoll(text: str, pos: int) -> tuple[int, int, bool]:
    """C strtoll(base 10) from ``pos``: (value, end, overflowed); end == pos if no digits."""
    i = _skip(text, pos, " \t\n\r\v\f")
    sign = 1
    if i < len(text) and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    start = i
    while i < len(text) and "0" <= text[i] <= "9":
        i += 1
    if i == start:
        return 0, pos, False
    value = sign * int(text[start:i])
    return value, i, not -(2**63) <= value <= _LLONG_MAX


def parse_timespan(text: str, default_unit: int = USEC_PER_SEC) -> int:
    """Parse a time span into microseconds, exactly as systemd's ``parse_time()``.

    ``90`` (in ``default_unit``), ``1min 30s``, ``1.5h``, ``5ms``, ``2 weeks``, ``infinity``
    (:data:`USEC_INFINITY`). Components add up; a fraction applies to its own unit.

    Raises:
        UnitValueError: not a time span ("Invalid argument"), or negative or too large
            ("Numerical result out of range").
    """
    expected = "a time span such as 90, 1min 30s, 1.5h, 5ms or infinity"
    pos = _skip(text, 0, _WHITESPACE)
    if text.startswith("infinity", pos):
        if text[pos + len("infinity") :].strip(_WHITESPACE):
            raise UnitValueError(text, expected)
        return USEC_INFINITY
    usec = 0
    something = False
    n = len(text)
    while True:
        pos = _skip(text, pos, _WHITESPACE)
        if pos >= n:
            if not something:
                raise UnitValueError(text, expected)
            return usec
        if text[pos] == "-":
            raise UnitValueError(text, expected, "Numerical result out of range")
        value, end, overflow = _strtoll(text, pos)
        if overflow or value < 0:
            raise UnitValueError(text, expected, "Numerical result out of range")
        if end < n and text[end] == ".":
            after = _skip(text, end + 1, "0123456789")
        elif end == pos:
            raise UnitValueError(text, expected)
        else:
            after = end
        probe = _skip(text, after, _WHITESPACE)
        multiplier = default_unit
        unit_end = probe
        for suffix, factor in _TIME_UNITS:
            if text.startswith(suffix, probe):
                multiplier = factor
                unit_end = probe + len(suffix)
                break
        if unit_end == after and after < n:
            # "12.34.56" is refused; "12.34 .56" and "12.34s.56" are fine.
            raise UnitValueError(text, expected)
        if value >= USEC_INFINITY // multiplier:
            raise UnitValueError(text, expected, "Numerical result out of range")
        amount = value * multiplier
        if amount >= USEC_INFINITY - usec:
            raise UnitValueError(text, expected, "Numerical result out of range")
        usec += amount
        something = True
        if end < n and text[end] == ".":
            scale = multiplier // 10
            digit_pos = end + 1
            while digit_pos < n and "0" <= text[digit_pos] <= "9":
                amount = int(text[digit_pos]) * scale
                if amount >= USEC_INFINITY - usec:
                    raise UnitValueError(text, expected, "Numerical result out of range")
                usec += amount
                digit_pos += 1
                scale //= 10
            if digit_pos == end + 1:
                # "3.sec", "3. 1" and "0.-0" are refused.
                raise UnitValueError(text, expected)
        pos = unit_end


_FORMAT_UNITS: tuple[tuple[str, int], ...] = (
    ("y", USEC_PER_YEAR),
    ("month", USEC_PER_MONTH),
    ("w", USEC_PER_WEEK),
    ("d", USEC_PER_DAY),
    ("h", USEC_PER_HOUR),
    ("min", USEC_PER_MINUTE),
    ("s", USEC_PER_SEC),
    ("ms", USEC_PER_MSEC),
    ("us", 1),
)


def format_timespan(usec: int, accuracy: int = 1) -> str:
    """Render microseconds as systemd's ``format_timespan()`` (``systemd-analyze timespan``).

    ``90000000`` -> ``1min 30s``; below a minute a remainder is shown with a decimal point
    (``1500000`` -> ``1.500000s``); ``accuracy`` drops smaller units (systemd-analyze
    uses 1 us, ``systemctl show`` 1 ms).
    """
    if usec == USEC_INFINITY:
        return "infinity"
    if usec <= 0:
        return "0"
    parts: list[str] = []
    t = usec
    something = False
    for suffix, unit in _FORMAT_UNITS:
        if t <= 0:
            break
        if t < accuracy and something:
            break
        if t < unit:
            continue
        whole, rest = divmod(t, unit)
        done = False
        if t < USEC_PER_MINUTE and rest > 0:
            digits = len(str(unit)) - 1
            cc = accuracy
            while cc > 1:
                rest //= 10
                digits -= 1
                cc //= 10
            if digits > 0:
                parts.append(f"{whole}.{rest:0{digits}d}{suffix}")
                t = 0
                done = True
        if not done:
            parts.append(f"{whole}{suffix}")
            t = rest
        something = True
    return " ".join(parts)


# --- signals and exit statuses ----------------------------------------------------------

#: Linux signal numbers by systemd's names (signal-util.c), without the "SIG" prefix.
SIGNAL_NAMES: dict[str, int] = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "ILL": 4,
    "TRAP": 5,
    "ABRT": 6,
    "BUS": 7,
    "FPE": 8,
    "KILL": 9,
    "USR1": 10,
    "SEGV": 11,
    "USR2": 12,
    "PIPE": 13,
    "ALRM": 14,
    "TERM": 15,
    "STKFLT": 16,
    "CHLD": 17,
    "CONT": 18,
    "STOP": 19,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "XCPU": 24,
    "XFSZ": 25,
    "VTALRM": 26,
    "PROF": 27,
    "WINCH": 28,
    "IO": 29,
    "PWR": 30,
    "SYS": 31,
}
_SIGNAL_BY_NUMBER = {number: name for name, number in SIGNAL_NAMES.items()}
_SIGRTMIN = 34
_SIGRTMAX = 64
_NSIG = 65

#: Exit status names systemd knows (``systemd-analyze exit-status``), by number.
EXIT_STATUS_NAMES: dict[int, str] = {
    0: "SUCCESS",
    1: "FAILURE",
    2: "INVALIDARGUMENT",
    3: "NOTIMPLEMENTED",
    4: "NOPERMISSION",
    5: "NOTINSTALLED",
    6: "NOTCONFIGURED",
    7: "NOTRUNNING",
    64: "USAGE",
    65: "DATAERR",
    66: "NOINPUT",
    67: "NOUSER",
    68: "NOHOST",
    69: "UNAVAILABLE",
    70: "SOFTWARE",
    71: "OSERR",
    72: "OSFILE",
    73: "CANTCREAT",
    74: "IOERR",
    75: "TEMPFAIL",
    76: "PROTOCOL",
    77: "NOPERM",
    78: "CONFIG",
    200: "CHDIR",
    201: "NICE",
    202: "FDS",
    203: "EXEC",
    204: "MEMORY",
    205: "LIMITS",
    206: "OOM_ADJUST",
    207: "SIGNAL_MASK",
    208: "STDIN",
    209: "STDOUT",
    210: "CHROOT",
    211: "IOPRIO",
    212: "TIMERSLACK",
    213: "SECUREBITS",
    214: "SETSCHEDULER",
    215: "CPUAFFINITY",
    216: "GROUP",
    217: "USER",
    218: "CAPABILITIES",
    219: "CGROUP",
    220: "SETSID",
    221: "CONFIRM",
    222: "STDERR",
    224: "PAM",
    225: "NETWORK",
    226: "NAMESPACE",
    227: "NO_NEW_PRIVILEGES",
    228: "SECCOMP",
    229: "SELINUX_CONTEXT",
    230: "PERSONALITY",
    231: "APPARMOR",
    232: "ADDRESS_FAMILIES",
    233: "RUNTIME_DIRECTORY",
    235: "CHOWN",
    236: "SMACK_PROCESS_LABEL",
    237: "KEYRING",
    238: "STATE_DIRECTORY",
    239: "CACHE_DIRECTORY",
    240: "LOGS_DIRECTORY",
    241: "CONFIGURATION_DIRECTORY",
    242: "NUMA_POLICY",
    243: "CREDENTIALS",
    244: "BPF",
    255: "EXCEPTION",
}
_EXIT_STATUS_BY_NAME = {name: number for number, name in EXIT_STATUS_NAMES.items()}


def _safe_atoi(text: str) -> int | None:
    """C ``safe_atoi()``: optional blanks and sign, decimal digits, nothing after."""
    value, end, overflow = _strtoll(text, 0)
    if end == 0 or end != len(text) or overflow or not -(2**31) <= value < 2**31:
        return None
    return value


def signal_from_string(text: str) -> int:
    """A signal by number or name: ``9``, ``KILL``, ``SIGKILL``, ``RTMIN+3``, ``SIGRTMAX-1``.

    Raises:
        UnitValueError: not a signal systemd knows.
    """
    expected = "a signal name or number (SIGTERM, KILL, 9, SIGRTMIN+1)"
    number = _safe_atoi(text)
    if number is not None:
        if 1 <= number < _NSIG:
            return number
        raise UnitValueError(text, expected, "Numerical result out of range")
    name = text[3:] if text.startswith("SIG") else text
    if name in SIGNAL_NAMES:
        return SIGNAL_NAMES[name]
    for base, sign, low, high in (("RTMIN", "+", 0, _SIGRTMAX - _SIGRTMIN), ("RTMAX", "-", 0, 0)):
        if not name.startswith(base):
            continue
        tail = name[len(base) :]
        if not tail:
            return _SIGRTMIN if base == "RTMIN" else _SIGRTMAX
        if tail[0] != sign:
            break
        offset = _safe_atoi(tail)
        if offset is None:
            break
        if base == "RTMIN" and low <= offset <= high:
            return _SIGRTMIN + offset
        if base == "RTMAX" and _SIGRTMIN - _SIGRTMAX <= offset <= high:
            return _SIGRTMAX + offset
        raise UnitValueError(text, expected, "Numerical result out of range")
    raise UnitValueError(text, expected)


def signal_to_string(number: int) -> str:
    """``SIGTERM`` for 15, ``SIGRTMIN+2`` for 36, as systemd prints signals."""
    if number in _SIGNAL_BY_NUMBER:
        return "SIG" + _SIGNAL_BY_NUMBER[number]
    if _SIGRTMIN <= number <= _SIGRTMAX:
        return "SIGRTMIN" if number == _SIGRTMIN else f"SIGRTMIN+{number - _SIGRTMIN}"
    return str(number)


def exit_status_from_string(text: str) -> int:
    """An exit status by number (0-255) or systemd name (``TEMPFAIL``, ``EXEC``).

    Raises:
        UnitValueError: neither.
    """
    value, end, overflow = _strtoll(text, 0)
    if end and end == len(text) and not overflow and 0 <= value <= 255 and text[:1] != "-":
        return value
    if text in _EXIT_STATUS_BY_NAME:
        return _EXIT_STATUS_BY_NAME[text]
    raise UnitValueError(text, "an exit status (0-255 or a name such as TEMPFAIL)")


@dataclass(frozen=True, slots=True)
class ExitStatusSet:
    """``SuccessExitStatus=`` and friends: exit statuses plus signals that count."""

    statuses: frozenset[int] = frozenset()
    signals: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.statuses or self.signals)


def parse_exit_status_set(
    value: str, current: ExitStatusSet, path: str, line: int
) -> tuple[ExitStatusSet, list[Diagnostic]]:
    """Apply one ``SuccessExitStatus=``-style assignment (``config_parse_set_status()``).

    An empty value resets the set; otherwise each word is an exit status (number or name)
    or else a signal; a bad word is skipped with systemd's warning. Words are split at blanks
    without unquoting, as systemd does, so ``"SIGTERM`` is one (bad) word.
    """
    if not value:
        return ExitStatusSet(), []
    statuses = set(current.statuses)
    signals = set(current.signals)
    diagnostics: list[Diagnostic] = []
    for word in extract_words(value):
        try:
            statuses.add(exit_status_from_string(word))
            continue
        except UnitValueError:
            pass
        try:
            signals.add(signal_from_string(word))
        except UnitValueError:
            diagnostics.append(
                Diagnostic(path, line, Severity.WARNING, f"Failed to parse value, ignoring: {word}")
            )
    return ExitStatusSet(frozenset(statuses), frozenset(signals)), diagnostics


# --- environment ------------------------------------------------------------------------

_ENV_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def env_name_is_valid(name: str) -> bool:
    """A shell variable name: letters, digits, ``_``, not starting with a digit."""
    return bool(name) and not name[0].isdigit() and all(ch in _ENV_NAME_CHARS for ch in name)


def _env_value_is_valid(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any((ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in value)


def env_assignment_is_valid(assignment: str) -> bool:
    """``NAME=value`` with a valid name and a value without control characters but tab/newline."""
    name, equals, value = assignment.partition("=")
    return bool(equals) and env_name_is_valid(name) and _env_value_is_valid(value)


def parse_environment(
    value: str,
    path: str,
    line: int,
    expand: Callable[[str], str] | None = None,
) -> tuple[list[tuple[str, str]] | None, list[Diagnostic]]:
    r"""Parse one ``Environment=`` value (``config_parse_environ()``).

    Words are split at blanks with quotes removed and C escapes decoded, so
    ``"A=a b" C=\x41`` is ``[("A", "a b"), ("C", "A")]``. ``expand`` resolves specifiers in
    each word (a :class:`~bootup.units.specifiers.SpecifierError` skips that word, as in
    systemd). Invalid assignments are skipped with systemd's warning.

    Returns:
        ``(None, [])`` for an empty value, which resets the environment list; else the
        assignments in order (a later one for the same name wins when applied) and the
        diagnostics.
    """
    if not value:
        return None, []
    diagnostics: list[Diagnostic] = []
    try:
        words = extract_words(value, ExtractFlags.CUNESCAPE | ExtractFlags.UNQUOTE)
    except WordError:
        return [], [Diagnostic(path, line, Severity.WARNING, f"Invalid syntax, ignoring: {value}")]
    result: list[tuple[str, str]] = []
    for word in words:
        resolved = word
        if expand is not None:
            try:
                resolved = expand(word)
            except UnitSyntaxError as exc:
                reason = getattr(exc, "errno_text", "") or str(exc)
                diagnostics.append(
                    Diagnostic(
                        path,
                        line,
                        Severity.WARNING,
                        f"Failed to resolve specifiers in {word}, ignoring: {reason}",
                    )
                )
                continue
        if not env_assignment_is_valid(resolved):
            diagnostics.append(
                Diagnostic(
                    path,
                    line,
                    Severity.WARNING,
                    f"Invalid environment assignment, ignoring: {resolved}",
                )
            )
            continue
        name, _, rest = resolved.partition("=")
        result.append((name, rest))
    return result, diagnostics


@dataclass(frozen=True, slots=True)
class EnvironmentFileSpec:
    """One ``EnvironmentFile=`` entry: the path, and whether a missing file is fine (``-``)."""

    path: str
    ignore_missing: bool


def parse_environment_file_spec(value: str) -> EnvironmentFileSpec | None:
    """Parse an ``EnvironmentFile=`` value; ``None`` for the empty value (reset the list).

    Raises:
        UnitValueError: the path (after an optional ``-``) is not absolute.
    """
    if not value:
        return None
    ignore = value.startswith("-")
    path = value[1:] if ignore else value
    if not path.startswith("/"):
        raise UnitValueError(value, "an absolute path, optionally prefixed with '-'")
    return EnvironmentFileSpec(path, ignore)


_NEWLINE = "\n\r"
_SHELL_NEED_ESCAPE = '"\\`$'


def parse_environment_file(
    data: bytes | str, path: str
) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    r"""Parse the contents of an ``EnvironmentFile=`` as systemd's ``load_env_file()`` does.

    The format is shell-like but not a shell: ``KEY=value`` per line, ``#``/``;`` comments
    at the start of a line, single quotes literal, double quotes with ``\"``, ``\\``,
    ``\``` and ``\$`` escapes, a backslash-newline continuing the line, blanks around an
    unquoted value dropped. There is no variable expansion and no ``export``: a line
    ``export A=1`` yields the invalid name ``export A`` and is skipped with systemd's
    "Ignoring invalid environment assignment" error, as the real manager does.

    Returns:
        The valid assignments in file order (a later one for a name wins when applied),
        and diagnostics for invalid UTF-8, invalid names and lines without ``=``.
    """
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    pairs: list[tuple[str, str | None, int]] = []
    key: list[str] = []
    value: list[str] | None = None
    last_key_ws: int | None = None
    last_value_ws: int | None = None
    line = 1
    state = "PRE_KEY"

    def add(ch: str) -> None:
        nonlocal value
        if value is None:
            value = []
        value.append(ch)

    def push(chomp: bool) -> None:
        nonlocal key, value
        name = "".join(key[:last_key_ws] if last_key_ws is not None else key)
        if value is not None and chomp and last_value_ws is not None:
            del value[last_value_ws:]
        pairs.append((name, None if value is None else "".join(value), line))
        key = []
        value = None

    for ch in text:
        if state == "PRE_KEY":
            if ch in "#;":
                state = "COMMENT"
            elif ch not in _WHITESPACE:
                state = "KEY"
                last_key_ws = None
                key.append(ch)
        elif state == "KEY":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
                key = []
            elif ch == "=":
                state = "PRE_VALUE"
                last_value_ws = None
            else:
                if ch not in _WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(ch)
        elif state == "PRE_VALUE":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
                push(chomp=False)
            elif ch == "'":
                state = "SINGLE"
            elif ch == '"':
                state = "DOUBLE"
            elif ch == "\\":
                state = "VALUE_ESCAPE"
            elif ch not in _WHITESPACE:
                state = "VALUE"
                add(ch)
        elif state == "VALUE":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
                push(chomp=True)
            elif ch == "\\":
                state = "VALUE_ESCAPE"
                last_value_ws = None
            else:
                if ch not in _WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value) if value is not None else 0
                add(ch)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if ch not in _NEWLINE:
                add(ch)
        elif state == "SINGLE":
            if ch == "'":
                state = "PRE_VALUE"
            else:
                add(ch)
        elif state == "DOUBLE":
            if ch == '"':
                state = "PRE_VALUE"
            elif ch == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                add(ch)
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if ch in _SHELL_NEED_ESCAPE:
                add(ch)
            elif ch != "\n":
                add("\\")
                add(ch)
        elif state == "COMMENT":
            if ch == "\\":
                state = "COMMENT_ESCAPE"
            elif ch in _NEWLINE:
                state = "PRE_KEY"
                line += 1
        elif state == "COMMENT_ESCAPE":
            state = "COMMENT"
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        push(chomp=state == "VALUE")

    result: list[tuple[str, str]] = []
    diagnostics: list[Diagnostic] = []
    for name, raw_value, at_line in pairs:
        if not _is_clean(name):
            diagnostics.append(
                Diagnostic(
                    path,
                    at_line,
                    Severity.ERROR,
                    f"{path}:{at_line}: invalid UTF-8 in key '{_clean(name)}', ignoring.",
                )
            )
            continue
        if raw_value is not None and not _is_clean(raw_value):
            diagnostics.append(
                Diagnostic(
                    path,
                    at_line,
                    Severity.ERROR,
                    f"{path}:{at_line}: invalid UTF-8 value for key {name}: "
                    f"'{_clean(raw_value)}', ignoring.",
                )
            )
            continue
        assignment = f"{name}={raw_value or ''}"
        if not env_assignment_is_valid(assignment):
            diagnostics.append(
                Diagnostic(
                    path,
                    at_line,
                    Severity.ERROR,
                    f"Ignoring invalid environment assignment '{assignment}': {path}",
                )
            )
            continue
        result.append((name, raw_value or ""))
    return result, diagnostics


def _is_clean(text: str) -> bool:
    return is_valid_utf8(_b(text))


def _clean(text: str) -> str:
    return escape_invalid_utf8(_b(text))


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
