"""Timing helpers shared by every benchmark in ``benchmarks/``.

The project's rule for benchmarks (CONTRIBUTING.md) is: medians over several runs, and every
figure printed as a ratio to a baseline or a peer measured in the same run, on the same
machine. These helpers keep that arithmetic and its formatting in one place, so that all
benchmarks read alike. They know nothing about what is being measured.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = (
    "Summary",
    "format_count",
    "format_ms",
    "format_ratio",
    "format_rate",
    "format_table",
    "machine_info",
    "ratio",
    "summarize",
    "time_runs",
)


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and best of a list of samples.

    ``best`` is the largest sample when larger is better (rates), the smallest otherwise
    (durations): the best run shows what the code can do on a quiet machine, the median what
    it does on this one.
    """

    median: float
    best: float
    runs: int


def summarize(samples: Sequence[float], *, higher_is_better: bool) -> Summary:
    """Return the median and best of ``samples`` (at least one)."""
    if not samples:
        raise ValueError("summarize: expected at least one sample, found none")
    best = max(samples) if higher_is_better else min(samples)
    return Summary(median=statistics.median(samples), best=best, runs=len(samples))


def time_runs(run: Callable[[], object], runs: int) -> list[float]:
    """Call ``run`` ``runs`` times and return the wall time of each call in seconds."""
    durations: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        durations.append(time.perf_counter() - start)
    return durations


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or None when either figure is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def format_ratio(value: float | None) -> str:
    """``1.23x``, or ``-`` for a missing ratio."""
    return "-" if value is None else f"{value:.2f}x"


def format_rate(ops_per_s: float | None) -> str:
    """Operations per second with thousands separators, or ``-``."""
    return "-" if ops_per_s is None else f"{ops_per_s:,.0f}"


def format_ms(seconds: float | None) -> str:
    """A duration in milliseconds, or ``-``."""
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def format_count(count: int | None) -> str:
    """An integer with thousands separators, or ``-``."""
    return "-" if count is None else f"{count:,}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align ``rows`` under ``headers``: the first column left, the others right."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(
                f"format_table: expected {len(headers)} cells per row, found {len(row)}: {row!r}"
            )
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(w) for cell, w in zip(rest, widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def machine_info() -> dict[str, str]:
    """Describe the machine a figure was measured on: figures mean nothing without it."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for entry in cpuinfo:
                if entry.startswith("model name"):
                    model = entry.partition(":")[2].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "cpu": model,
        "cores": f"{usable} usable of {os.cpu_count() or 0}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "load average": load,
    }
