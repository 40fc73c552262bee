"""Benchmark: the startup-analysis renderers on synthetic boots of 200 to 5000 units.

Each size is a chain-and-fan of units (every unit After= the previous one and a few earlier
ones, staggered activation times), so critical-chain walks real After= lists. Measured:
``blame`` (the baseline: one sort), ``critical-chain`` of the last unit, the SVG plot and the
HTML plot, as medians over several runs, with ratios to blame in the same run, and the size
of each plot. The aim: a 1000-unit boot plots well under a second.

Run: .venv/bin/python benchmarks/analyze_plot.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import _stats

from bootup.analyze.blame import render_blame
from bootup.analyze.critical_chain import render_critical_chain
from bootup.analyze.plot import render_plot_html, render_plot_svg
from bootup.analyze.timing import BootTiming, StartupTiming, UnitTiming


def synthetic(count: int) -> StartupTiming:
    """``count`` units started over ``count`` ms, each After= a few earlier ones."""
    units = []
    for i in range(count):
        start = 0.001 * i + 0.001
        after = tuple(f"u{j:05d}.service" for j in (i - 1, i - 7, i - 31) if j >= 0)
        units.append(UnitTiming(f"u{i:05d}.service", start, start + 0.02, None, None, after=after))
    return StartupTiming(BootTiming(finish=0.001 * count + 0.05), tuple(units))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs, sizes 200 and 1000")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    sizes = (200, 1000) if args.quick else (200, 1000, 5000)
    info = _stats.machine_info()
    print(f"analyze renderers benchmark ({'--quick, ' if args.quick else ''}{runs} runs)")
    for key, value in info.items():
        print(f"  {key}: {value}")
    rows = []
    for size in sizes:
        data = synthetic(size)
        last = data.units[-1].name
        cases: dict[str, Callable[[], str]] = {
            "blame": partial(render_blame, data),
            "critical-chain": partial(render_critical_chain, data, [last]),
            "plot svg": partial(render_plot_svg, data),
            "plot html": partial(render_plot_html, data),
        }
        medians = {
            name: _stats.summarize(_stats.time_runs(run, runs), higher_is_better=False).median
            for name, run in cases.items()
        }
        for name, median in medians.items():
            size_kib = len(cases[name]()) / 1024
            rows.append(
                [
                    f"{name} ({size} units)",
                    _stats.format_ms(median),
                    _stats.format_ratio(_stats.ratio(median, medians["blame"])),
                    f"{size_kib:,.0f} KiB",
                ]
            )
    print(_stats.format_table(["case", "median", "vs blame", "output"], rows))


if __name__ == "__main__":
    main()
