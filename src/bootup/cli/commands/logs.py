"""``bootup logs``: journalctl(1) over a project's journal.

The options and outputs follow journalctl's: ``-u`` (repeatable, names mangled like
``journalctl -u foo`` → ``foo.service``, globs matched against the units in the journal),
``-n``, ``-f``, ``-r``, ``-p``, ``--since``/``--until``, ``-o short|short-iso|
short-monotonic|cat|json|json-pretty``. The journal is ``DIR/.bootup/journal.db`` with
``--project DIR``, the file given with ``--file``, or else ``./.bootup/journal.db``.

``-f`` waits on inotify (see :meth:`bootup.runtime.journal.JournalReader.wait_for_change`),
re-querying by cursor after each change; a re-check every :data:`_FOLLOW_RECHECK_S` seconds
is the safety net, not the mechanism. bootup never starts a pager: ``--no-pager`` is
accepted for journalctl compatibility and changes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from bootup.runtime.journal import JournalEntry, JournalReader

    _Fetch = Callable[[int | None, int | None, bool], list[JournalEntry]]

__all__ = ("SYSTEM_JOURNALS", "register", "resolve_journal_path", "system_journal_path")

_FOLLOW_RECHECK_S = 5.0
_SHORT_MODES = ("short", "short-iso", "short-monotonic")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``logs`` verb."""
    parser = subparsers.add_parser(
        "logs",
        help="show the journal of a project's services (journalctl)",
        description="Show the journal of a project's services, as journalctl does.",
    )
    parser.add_argument(
        "-u", "--unit", action="append", default=[], help="show only this unit (repeatable)"
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    parser.add_argument(
        "-n",
        "--lines",
        nargs="?",
        const="10",
        default=None,
        help="show the last N entries (10 without N, all by default)",
    )
    parser.add_argument("--since", help="show entries at or after this time")
    parser.add_argument("--until", help="show entries at or before this time")
    parser.add_argument("-p", "--priority", help="a level (err, 3) or a range (err..warning)")
    parser.add_argument("-o", "--output", default="short", help="short, short-iso, ..., json")
    parser.add_argument("--no-pager", action="store_true", help="accepted; bootup never pages")
    parser.add_argument("-r", "--reverse", action="store_true", help="newest entries first")
    parser.add_argument("--project", type=Path, help="the project directory (DIR/.bootup)")
    parser.add_argument("--system", action="store_true", help="the system manager's journal")
    parser.add_argument("--file", type=Path, help="a journal file to read")
    # journalctl (getopt) takes "--since -1h"; argparse would read "-1h" as an option, so
    # this parser treats every "-<digit>..." word as a value.
    parser._negative_number_matcher = re.compile(r"^-\d")
    parser.set_defaults(handler=_handle)


#: The system manager's journal: persistent when /var/log/bootup exists, else volatile.
SYSTEM_JOURNALS = (Path("/var/log/bootup/journal.db"), Path("/run/bootup/journal.db"))


def system_journal_path() -> Path:
    """Where the system manager keeps its journal (the first candidate whose dir exists)."""
    for candidate in SYSTEM_JOURNALS:
        if candidate.parent.is_dir():
            return candidate
    return SYSTEM_JOURNALS[-1]


def resolve_journal_path(
    project: Path | None, file: Path | None, cwd: Path, *, system: bool = False
) -> Path:
    """Pick the journal file (see the module docstring for the order).

    Raises:
        JournalError: conflicting options, or no journal exists where it was looked for.
    """
    from bootup.runtime.journal import JournalError

    if (project is not None) + (file is not None) + system > 1:
        raise JournalError("--project, --file and --system may not be combined")
    if file is not None:
        return file
    if project is not None:
        candidate = Path(project) / ".bootup" / "journal.db"
        if not candidate.exists():
            raise JournalError(f"no journal found at {candidate}")
        return candidate
    if not system:
        from bootup.control.address import enclosing_project_file

        found = enclosing_project_file("journal.db", str(cwd))
        if found is not None:
            return Path(found)
    candidate = system_journal_path()
    if not candidate.exists():
        hint = "" if system else " (pass --project DIR or --file PATH)"
        where = "" if system else f"in {cwd} or its parents, nor "
        raise JournalError(f"no journal found {where}at {candidate}{hint}")
    return candidate


def _handle(args: argparse.Namespace) -> int:
    import time

    from bootup.runtime import logformat
    from bootup.runtime.journal import JournalReader

    if args.follow and args.reverse:
        print("bootup: Please specify either --reverse= or --follow=, not both.", file=sys.stderr)
        return 1
    if args.output not in logformat.OUTPUT_MODES:
        raise logformat.LogArgumentError(
            "--output", args.output, "one of " + ", ".join(logformat.OUTPUT_MODES)
        )
    now = time.time_ns() // 1000
    since = (
        logformat.parse_timestamp(args.since, now_usec=now, option="--since")
        if args.since
        else None
    )
    until = (
        logformat.parse_timestamp(args.until, now_usec=now, option="--until")
        if args.until
        else None
    )
    low, high = logformat.parse_priority(args.priority) if args.priority else (None, None)
    lines = _parse_lines(args.lines, follow=args.follow)

    path = resolve_journal_path(args.project, args.file, Path.cwd(), system=args.system)
    reader = JournalReader(path)
    try:
        start = None
        if args.follow:
            reader.wait_for_change(0)  # start watching before the first query
            start = _last_cursor(reader)
        units = _resolve_units(reader, args.unit)
        hostname = reader.hostname()

        def fetch(after: int | None, limit: int | None, reverse: bool) -> list[JournalEntry]:
            return reader.query(
                unit=units,
                since_usec=since,
                until_usec=until,
                max_priority=high,
                min_priority=low if low else None,
                after_cursor=after,
                limit=limit,
                reverse=reverse,
            )

        if lines is None:
            entries = fetch(None, None, args.reverse)
        else:
            entries = fetch(None, lines, True) if lines else []
            if not args.reverse:
                entries.reverse()
        out = sys.stdout
        for entry in entries:
            out.write(logformat.format_entry(entry, args.output, hostname=hostname) + "\n")
        if not entries and not args.follow and args.output in _SHORT_MODES:
            out.write("-- No entries --\n")
        out.flush()
        if args.follow:
            last = max((e.cursor for e in entries), default=start)
            if start is not None and last is not None:
                last = max(last, start)
            _follow(reader, fetch, last, args.output, hostname)
    finally:
        reader.close()
    return 0


def _parse_lines(text: str | None, *, follow: bool) -> int | None:
    from bootup.runtime.logformat import LogArgumentError

    if text is None:
        return 10 if follow else None
    if text == "all":
        return None
    if not text.isdigit():
        raise LogArgumentError("--lines", text, "a number of entries or 'all'")
    return int(text)


def _resolve_units(reader: JournalReader, names: list[str]) -> list[str] | None:
    import fnmatch

    from bootup.units import names as unit_names

    if not names:
        return None
    wanted: list[str] = []
    known: list[str] | None = None
    for name in names:
        if any(char in name for char in "*?["):
            if known is None:
                known = reader.units()
            pattern = name if "." in name else f"{name}.service"
            wanted.extend(unit for unit in known if fnmatch.fnmatchcase(unit, pattern))
        else:
            try:
                wanted.append(unit_names.mangle(name))
            except unit_names.UnitNameError:
                wanted.append(name)
    return wanted


def _last_cursor(reader: JournalReader) -> int | None:
    newest = reader.query(reverse=True, limit=1)
    return newest[0].cursor if newest else None


def _follow(
    reader: JournalReader,
    query: _Fetch,
    last: int | None,
    mode: str,
    hostname: str,
) -> None:
    from bootup.runtime import logformat

    out = sys.stdout
    while True:
        entries = query(last, None, False)
        for entry in entries:
            out.write(logformat.format_entry(entry, mode, hostname=hostname) + "\n")
            last = entry.cursor
        if entries:
            out.flush()
        reader.wait_for_change(_FOLLOW_RECHECK_S)
