"""``analyze blame``: units by how long they took to start, slowest first.

As systemd-analyze 252 (src/analyze/analyze-blame.c) prints it: a two-column table without
a header, the duration right-aligned to the widest one (format_timespan() at 1 ms
accuracy), one space, the unit name. Units whose start took no time are left out. Rows are
sorted by the exact duration in microseconds, longest first; equal durations keep the
order the units were listed in (systemd's table sort falls back to insertion order).
"""

from __future__ import annotations

from bootup.analyze.timing import StartupTiming, UnitTiming, format_timespan

__all__ = ("blame_rows", "render_blame")


def blame_rows(data: StartupTiming) -> list[UnitTiming]:
    """The units blame lists, in its order."""
    rows = [u for u in data.started_units if u.duration_usec > 0]
    # sorted() is stable: ties stay in listing order, as systemd's table sort does.
    return sorted(rows, key=lambda u: -u.duration_usec)


def render_blame(data: StartupTiming) -> str:
    """The text of ``analyze blame`` (no finished startup needed, as in systemd)."""
    rows = [(format_timespan(u.duration_usec), u.name) for u in blame_rows(data)]
    width = max((len(t) for t, _ in rows), default=0)
    return "".join(f"{t:>{width}} {name}\n" for t, name in rows)
