"""Time spans as systemd's ``parse_time()`` reads them and ``format_timespan()`` prints them.

Why a module of its own: ``TimeoutStopSec=90`` means seconds but ``1.5h`` is ninety minutes,
and ``systemd-analyze`` prints durations its own way; both directions are checked against
``systemd-analyze timespan`` in ``tests/conformance``. Public through
:mod:`bootup.units.values`.
"""

from __future__ import annotations

from bootup.units._valuecore import _WHITESPACE, UnitValueError

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
