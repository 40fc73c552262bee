"""Benchmark: load the whole unit tree (this machine's plus the package corpus), cold.

Each run is a fresh process, so nothing is cached but the kernel's page cache:

* ``bootup load``: build the unit-file index of the search path and load every unit with its
  default, implicit and inverse dependencies (``bootup.units.load_graph``);
* ``bootup verify``: what ``bootup verify`` does over every unit file of the tree;
* ``systemd-analyze verify``: systemd 252 over the same files, the peer in the same run.

Printed: medians over the runs, units per second, peak RSS of the process (from wait4) and
the peak of Python allocations (tracemalloc, in the load child), and ratios to
systemd-analyze. The target is the whole Debian tree loaded in under 0.5 s.

The corpus comes from tests/data/tools/fetch-unit-corpus.sh (skipped when absent).
Run: .venv/bin/python benchmarks/units_load.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import _stats

CORPUS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "unit-corpus" / "units"
TREE = (Path("/lib/systemd/system"), Path("/etc/systemd/system"))
TARGET_SECONDS = 0.5


def unit_files() -> list[str]:
    dirs = [*([CORPUS] if CORPUS.is_dir() else []), *TREE]
    return [
        str(entry)
        for directory in dirs
        if directory.is_dir()
        for entry in sorted(directory.iterdir())
        if entry.is_file() and not entry.is_symlink() and "." in entry.name
    ]


def unit_path() -> str:
    return f"{CORPUS}:" if CORPUS.is_dir() else ""


def child(mode: str, trace: bool) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    if trace:
        tracemalloc.start()  # slows Python down a lot: only in the extra memory run
    from bootup.units.dependencies import load_graph
    from bootup.units.loader import Loader
    from bootup.units.paths import search_path
    from bootup.units.verify import verify_files

    files = unit_files()
    start = time.perf_counter()
    if mode == "load":
        count = len(load_graph(Loader(search_path()), None))
    else:
        verify_files(files)
        count = len(files)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
    print(json.dumps({"seconds": seconds, "units": count, "py_peak": peak}))


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall time, peak RSS in KiB (wait4) and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.perf_counter() - start, usage.ru_maxrss, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--child", choices=("load", "verify"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trace)
        return 0
    runs = 3 if args.quick else args.runs
    env = dict(os.environ)
    if unit_path():
        env["SYSTEMD_UNIT_PATH"] = unit_path()
    else:
        env.pop("SYSTEMD_UNIT_PATH", None)
    files = unit_files()
    print("machine:", ", ".join(f"{k}: {v}" for k, v in _stats.machine_info().items()))
    print(f"tree: {', '.join(map(str, TREE))}" + (f" + corpus {CORPUS}" if CORPUS.is_dir() else ""))
    print(f"unit files: {len(files)}; runs: {runs} (fresh process each)")
    me = [sys.executable, __file__]
    results: dict[str, tuple[_stats.Summary, _stats.Summary, int, int]] = {}
    whole: dict[str, _stats.Summary] = {}
    for label, mode in (("bootup load", "load"), ("bootup verify", "verify")):
        inner: list[float] = []
        walls: list[float] = []
        rss: list[float] = []
        units = py_peak = 0
        for _ in range(runs):
            wall, maxrss, out = run_child([*me, "--child", mode], env)
            walls.append(wall)
            data = json.loads(out)
            inner.append(data["seconds"])
            rss.append(maxrss)
            units = data["units"]
        _, _, out = run_child([*me, "--child", mode, "--trace"], env)
        py_peak = json.loads(out)["py_peak"]
        whole[label] = _stats.summarize(walls, higher_is_better=False)
        results[label] = (
            _stats.summarize(inner, higher_is_better=False),
            _stats.summarize(rss, higher_is_better=False),
            units,
            py_peak,
        )
    analyze = shutil.which("systemd-analyze")
    peer: tuple[_stats.Summary, _stats.Summary] | None = None
    if analyze:
        peer_walls: list[float] = []
        rss = []
        for _ in range(runs):
            wall, maxrss, _ = run_child([analyze, "verify", "--man=no", *files], env)
            peer_walls.append(wall)
            rss.append(maxrss)
        peer = (
            _stats.summarize(peer_walls, higher_is_better=False),
            _stats.summarize(rss, higher_is_better=False),
        )
    rows = []
    for label, (time_s, rss_s, units, py_peak) in results.items():
        rows.append(
            [
                label,
                _stats.format_count(units),
                _stats.format_ms(time_s.median),
                _stats.format_ms(time_s.best),
                _stats.format_rate(units / time_s.median),
                f"{rss_s.median / 1024:,.1f} MiB",
                f"{py_peak / 2**20:,.1f} MiB",
                _stats.format_ratio(_stats.ratio(time_s.median, peer[0].median) if peer else None),
            ]
        )
    for label, wall_s in whole.items():
        units = results[label][2]
        rows.append(
            [
                f"{label} (wall, incl. python start)",
                _stats.format_count(units),
                _stats.format_ms(wall_s.median),
                _stats.format_ms(wall_s.best),
                _stats.format_rate(units / wall_s.median),
                "-",
                "-",
                _stats.format_ratio(_stats.ratio(wall_s.median, peer[0].median) if peer else None),
            ]
        )
    if peer:
        rows.append(
            [
                "systemd-analyze verify (wall, incl. exec)",
                _stats.format_count(len(files)),
                _stats.format_ms(peer[0].median),
                _stats.format_ms(peer[0].best),
                _stats.format_rate(len(files) / peer[0].median),
                f"{peer[1].median / 1024:,.1f} MiB",
                "-",
                "1.00x",
            ]
        )
    headers = ["what", "units", "median", "best", "units/s", "peak RSS", "py peak", "vs systemd"]
    print(_stats.format_table(headers, rows))
    load_median = results["bootup load"][0].median
    verdict = "PASS" if load_median < TARGET_SECONDS else "MISS"
    print(
        f"target: whole tree loaded in < {TARGET_SECONDS * 1000:.0f} ms: {verdict} "
        f"({_stats.format_ms(load_median)} median)"
    )
    print(
        "bootup times are measured inside the process (imports excluded); systemd-analyze's "
        "is the wall time of the whole process; py peak: one extra tracemalloc run."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
