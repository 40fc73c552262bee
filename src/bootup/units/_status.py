"""Signal names and exit statuses: ``KillSignal=``, ``SuccessExitStatus=`` and their kin.

Why a module of its own: systemd accepts a signal or an exit status by number or by name
(``TERM``, ``SIGRTMIN+3``, ``TEMPFAIL``), with tables from signal-util.c and exit-status.c,
and ``config_parse_set_status()`` mixes both in one list. Public through
:mod:`bootup.units.values`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootup.units._timespan import _strtoll
from bootup.units._valuecore import UnitValueError
from bootup.units._words import extract_words
from bootup.units.diagnostics import Diagnostic, Severity

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
