"""journalctl's output formats and argument grammars, as pure functions.

Why a module of its own: ``bootup logs`` prints entries, and the manager's ``status`` output
shows the last lines of a unit the same way, so the rendering must not live in the CLI. Every
function here is pure (the clock and the time zone come in as arguments) so it is tested
without a journal.

What is reproduced (journalctl(1), systemd 252):

The text formats were checked byte for byte against journalctl 252 reading the same entries
(tests/runtime/test_logs.py feeds them through ``systemd-journal-remote``).

* ``short``: ``Nov 26 05:10:11 host ident[pid]: message`` (C-locale month, zero-padded day);
  ``short-iso``: ``2026-11-26T05:10:11+0000``; ``short-monotonic``: ``[ 1234.567890]``;
  ``cat``: the message alone;
* ``json`` / ``json-pretty``: journal field names with every value a string
  (``__CURSOR``, ``__REALTIME_TIMESTAMP``, ``__MONOTONIC_TIMESTAMP``, ``PRIORITY``, ``_PID``,
  ``_SYSTEMD_UNIT``, ``MESSAGE``, ...), pretty-printed with tabs and ``" : "`` (journalctl
  orders fields by hash, bootup in a fixed order; compare them as objects);
* ``--priority``: a level by number or name, or a range ``err..warning``;
* ``--since``/``--until``: systemd.time(7) timestamps (``2026-11-26 05:10:11``, ``today``,
  ``yesterday``, ``-1h``, ``5 min ago``, ``@1700000000``).

The identifier is the unit's name for service output and ``bootup`` for the manager's own
messages (journald would show the process name and ``systemd``; bootup has no
``SYSLOG_IDENTIFIER`` of its own).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import ClassVar, Final

from bootup.errors import ManagerError
from bootup.runtime.journal import JournalEntry

__all__ = (
    "OUTPUT_MODES",
    "PRIORITY_NAMES",
    "LogArgumentError",
    "entry_fields",
    "format_entry",
    "identifier",
    "parse_priority",
    "parse_timestamp",
)

#: The ``-o`` modes bootup renders.
OUTPUT_MODES: Final = ("short", "short-iso", "short-monotonic", "cat", "json", "json-pretty")
#: syslog(3) level names, indexed by level (log_level_from_string()).
PRIORITY_NAMES: Final = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_USEC: Final = 1_000_000


class LogArgumentError(ManagerError, ValueError):
    """A ``--priority``, ``--since``/``--until`` or ``-o`` value does not parse.

    Attributes:
        option: the option concerned (``--since``...).
        value: the text given.
        expected: what would have been accepted, in words.
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, option: str, value: str, expected: str) -> None:
        super().__init__(f"{option}: cannot parse {value!r}: expected {expected}")
        self.option = option
        self.value = value
        self.expected = expected


def identifier(entry: JournalEntry) -> str:
    """The ``SYSLOG_IDENTIFIER`` shown for an entry: the unit, or ``bootup`` for the manager."""
    if entry.source == "manager" or entry.unit is None:
        return "bootup"
    return entry.unit


def _local(usec: int, tz: dt.tzinfo | None) -> dt.datetime:
    moment = dt.datetime.fromtimestamp(usec // _USEC, tz=dt.UTC)
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def _prefix(entry: JournalEntry, hostname: str) -> str:
    ident = identifier(entry)
    if entry.pid is not None:
        return f"{hostname} {ident}[{entry.pid}]: "
    return f"{hostname} {ident}: "


def format_entry(
    entry: JournalEntry, mode: str, *, hostname: str, tz: dt.tzinfo | None = None
) -> str:
    """Render one entry as journalctl ``-o mode`` does, without the trailing newline.

    ``tz`` is the zone of the short timestamps (None: the local zone, as journalctl).

    Raises:
        LogArgumentError: ``mode`` is not one of :data:`OUTPUT_MODES`.
    """
    if mode == "cat":
        return entry.message
    if mode == "short":
        moment = _local(entry.realtime_usec, tz)
        stamp = f"{_MONTHS[moment.month - 1]} {moment.day:02d} {moment:%H:%M:%S}"
        return f"{stamp} {_prefix(entry, hostname)}{entry.message}"
    if mode == "short-iso":
        moment = _local(entry.realtime_usec, tz)
        return f"{moment:%Y-%m-%dT%H:%M:%S%z} {_prefix(entry, hostname)}{entry.message}"
    if mode == "short-monotonic":
        seconds, micro = divmod(entry.monotonic_usec, _USEC)
        return f"[{seconds:5d}.{micro:06d}] {_prefix(entry, hostname)}{entry.message}"
    if mode == "json":
        return json.dumps(entry_fields(entry, hostname), ensure_ascii=False, separators=(",", ":"))
    if mode == "json-pretty":
        return json.dumps(
            entry_fields(entry, hostname), ensure_ascii=False, indent="\t", separators=(",", " : ")
        )
    raise LogArgumentError("--output", mode, "one of " + ", ".join(OUTPUT_MODES))


def entry_fields(entry: JournalEntry, hostname: str) -> dict[str, str]:
    """The journal fields of an entry, journalctl's names, every value a string."""
    fields = {
        "__CURSOR": str(entry.cursor),
        "__REALTIME_TIMESTAMP": str(entry.realtime_usec),
        "__MONOTONIC_TIMESTAMP": str(entry.monotonic_usec),
        "PRIORITY": str(entry.priority),
        "SYSLOG_IDENTIFIER": identifier(entry),
        "_TRANSPORT": "journal" if entry.source == "manager" else "stdout",
        "_HOSTNAME": hostname,
    }
    if entry.pid is not None:
        fields["_PID"] = str(entry.pid)
    if entry.unit is not None:
        fields["_SYSTEMD_UNIT" if entry.source != "manager" else "UNIT"] = entry.unit
    fields["MESSAGE"] = entry.message
    return fields


def _one_priority(text: str, whole: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES.index(text)
    raise LogArgumentError(
        "--priority", whole, "a level 0..7 or one of " + ", ".join(PRIORITY_NAMES) + ", or A..B"
    )


def parse_priority(text: str) -> tuple[int, int]:
    """Parse ``-p``: return the (most, least) severe level to show, both inclusive.

    ``err`` and ``3`` mean 0..3 (that level and everything more important); ``err..warning``
    means 3..4; the two ends may come in either order.
    """
    if ".." in text:
        first, _, second = text.partition("..")
        low, high = sorted((_one_priority(first, text), _one_priority(second, text)))
        return low, high
    return 0, _one_priority(text, text)


_SPAN_UNITS: Final = {
    "usec": 1,
    "us": 1,
    "µs": 1,
    "μs": 1,
    "msec": 1000,
    "ms": 1000,
    "seconds": _USEC,
    "second": _USEC,
    "sec": _USEC,
    "s": _USEC,
    "minutes": 60 * _USEC,
    "minute": 60 * _USEC,
    "min": 60 * _USEC,
    "m": 60 * _USEC,
    "hours": 3600 * _USEC,
    "hour": 3600 * _USEC,
    "hr": 3600 * _USEC,
    "h": 3600 * _USEC,
    "days": 86400 * _USEC,
    "day": 86400 * _USEC,
    "d": 86400 * _USEC,
    "weeks": 7 * 86400 * _USEC,
    "week": 7 * 86400 * _USEC,
    "w": 7 * 86400 * _USEC,
    "months": 2629800 * _USEC,
    "month": 2629800 * _USEC,
    "M": 2629800 * _USEC,
    "years": 31557600 * _USEC,
    "year": 31557600 * _USEC,
    "y": 31557600 * _USEC,
}
_SPAN_PART: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµμ]*)")
_ABSOLUTE: Final = re.compile(
    r"(?:(?P<date>\d{2}|\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2}))?"
    r"(?:(?:^|[ T])(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:\.(?P<frac>\d{1,6}))?)?)?"
)
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES: Final = frozenset(
    {*_WEEKDAYS, "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)


def _span(text: str, option: str, whole: str) -> int:
    """A systemd.time(7) time span (``1h 30min``, ``5 min``, a bare number is seconds)."""
    total = 0
    pos = 0
    text = text.strip()
    if not text:
        raise LogArgumentError(option, whole, "a time span such as 1h or 5 min")
    while pos < len(text):
        match = _SPAN_PART.match(text, pos)
        if match is None or match.end() == pos:
            raise LogArgumentError(option, whole, "a time span such as 1h, 5 min or 1h 30min")
        number, unit = match.group(1), match.group(2)
        if unit not in _SPAN_UNITS and unit != "":
            raise LogArgumentError(
                option, whole, f"a time unit ({', '.join(sorted(set(_SPAN_UNITS)))}), not {unit!r}"
            )
        total += round(float(number) * _SPAN_UNITS.get(unit, _USEC))
        pos = match.end()
    return total


def parse_timestamp(
    text: str, *, now_usec: int, option: str = "--since", tz: dt.tzinfo | None = None
) -> int:
    """Parse a systemd.time(7) timestamp into microseconds since the epoch.

    ``now_usec`` is "now"; ``tz`` the zone of dates without one (None: the local zone).
    Accepted: ``now``, ``today``, ``yesterday``, ``tomorrow``, ``@EPOCH[.frac]``, ``+SPAN``,
    ``-SPAN``, ``SPAN ago``, ``SPAN left``, ``[WEEKDAY] YYYY-MM-DD [HH:MM[:SS[.frac]]]``
    (``T`` may separate date and time), ``HH:MM[:SS]`` (today), with an optional ``UTC``.

    Raises:
        LogArgumentError: the text is none of these, naming ``option``.
    """
    original = text
    text = text.strip()
    zone = tz
    if text.endswith((" UTC", " utc")) or (text.endswith("Z") and "-" in text):
        zone = dt.UTC
        text = text.removesuffix("Z").removesuffix(" UTC").removesuffix(" utc").strip()
    now = _local(now_usec, zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    words = {"now": None, "today": 0, "yesterday": -1, "tomorrow": 1}
    if text in words:
        offset = words[text]
        if offset is None:
            return now_usec
        return _usec(midnight + dt.timedelta(days=offset))
    if text.startswith("@"):
        try:
            return round(float(text[1:]) * _USEC)
        except ValueError:
            raise LogArgumentError(option, original, "@ followed by seconds since 1970") from None
    if text.startswith(("+", "-")):
        span = _span(text[1:], option, original)
        return now_usec + span if text[0] == "+" else now_usec - span
    if text.endswith(" ago"):
        return now_usec - _span(text.removesuffix(" ago"), option, original)
    if text.endswith(" left"):
        return now_usec + _span(text.removesuffix(" left"), option, original)
    first, _, rest = text.partition(" ")
    if first.lower() in _WEEKDAY_NAMES:
        text = rest.strip()
    match = _ABSOLUTE.fullmatch(text)
    expected = (
        "YYYY-MM-DD [HH:MM[:SS]], HH:MM[:SS], today, yesterday, now, -1h, '5 min ago' or @EPOCH"
    )
    if not text or match is None or (match["date"] is None and match["hour"] is None):
        raise LogArgumentError(option, original, expected)
    year, month, day = now.year, now.month, now.day
    if match["date"] is not None:
        year = int(match["date"])
        if len(match["date"]) == 2:
            year += 1900 if year >= 70 else 2000
        month, day = int(match["month"]), int(match["day"])
    hour = int(match["hour"] or 0)
    minute = int(match["minute"] or 0)
    second = int(match["second"] or 0)
    micro = int((match["frac"] or "0").ljust(6, "0"))
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise LogArgumentError(option, original, f"a valid date and time ({exc})") from None
    local = moment.replace(tzinfo=zone) if zone is not None else moment.astimezone()
    if first.lower() in _WEEKDAY_NAMES and _WEEKDAYS[local.weekday()] != first.lower()[:3]:
        raise LogArgumentError(option, original, f"a date that is a {first}")
    return _usec(local)


def _usec(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * _USEC + delta.microseconds
