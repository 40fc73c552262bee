"""Benchmark: the journal's append throughput, and its size under a flood.

(a) Throughput, the same lines in the same run, three ways:

* ``bootup Journal``: ``append()`` per line then one ``flush()`` (commit + fsync), as the manager
  uses it. Also printed: the CPU seconds spent inside ``append()`` calls, which is what the
  event loop pays (the writer thread does the SQLite work).
* ``sqlite3 executemany``: the floor for this schema: one ``executemany`` in one transaction
  on the same table and index (WAL, synchronous=NORMAL), then an fsync.
* ``plain file``: the lines written to a buffered text file, then an fsync (what a naive
  ``StandardOutput=append:`` costs).

(b) Flood: ``--flood-mb`` MB of 1 KiB lines through a journal with ``max_bytes=16 MiB``;
printed: the peak of database + WAL, the final database file, the number of rotations.

Medians over ``--runs`` runs, and ratios to the executemany baseline.
Run: .venv/bin/python benchmarks/journal.py [--runs N] [--lines N] [--flood-mb N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import _stats

from bootup.runtime.journal import Journal

_SCHEMA = (
    "CREATE TABLE entries (cursor INTEGER PRIMARY KEY AUTOINCREMENT, realtime_usec INTEGER"
    " NOT NULL, monotonic_usec INTEGER NOT NULL, unit TEXT, pid INTEGER, priority INTEGER NOT"
    " NULL, source TEXT NOT NULL, message TEXT NOT NULL)",
    "CREATE INDEX entries_by_unit ON entries (unit, cursor)",
)


def _lines(count: int) -> list[str]:
    return [f"GET /api/items/{index} 200 0.{index % 997:03d}s user=alice" for index in range(count)]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_journal(directory: Path, lines: list[str]) -> tuple[float, float]:
    """Return (wall seconds until flush() returned, CPU seconds inside append())."""
    journal = Journal.open(directory / "journal.db")
    try:
        start = time.perf_counter()
        cpu = 0.0
        chunk = 1000
        for offset in range(0, len(lines), chunk):
            before = time.thread_time()
            for line in lines[offset : offset + chunk]:
                journal.append("web.service", line, source="stdout", pid=4242)
            cpu += time.thread_time() - before
        journal.flush()
        return time.perf_counter() - start, cpu
    finally:
        journal.close()


def run_executemany(directory: Path, lines: list[str]) -> float:
    path = directory / "raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            conn.execute(statement)
        start = time.perf_counter()
        now = time.time_ns() // 1000
        mono = time.monotonic_ns() // 1000
        rows = [(now, mono, "web.service", 4242, 6, "stdout", line) for line in lines]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO entries (realtime_usec, monotonic_usec, unit, pid, priority, source,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        _fsync(Path(f"{path}-wal"))
        return time.perf_counter() - start
    finally:
        conn.close()


def run_plain_file(directory: Path, lines: list[str]) -> float:
    path = directory / "plain.log"
    start = time.perf_counter()
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())
    return time.perf_counter() - start


def run_flood(directory: Path, megabytes: int, max_bytes: int) -> dict[str, float]:
    journal = Journal.open(directory / "flood.db", max_bytes=max_bytes)
    line = "x" * 1000
    count = megabytes * 1000 * 1000 // len(line)
    peak = 0
    start = time.perf_counter()
    try:
        for index in range(count):
            journal.append("flood.service", line, source="stdout", pid=1)
            if index % 20_000 == 19_999:
                journal.flush()
                peak = max(peak, journal.size_bytes())
        journal.flush()
        peak = max(peak, journal.size_bytes())
        seconds = time.perf_counter() - start
        kept = len(journal.query(limit=None))
    finally:
        journal.close()
    return {
        "lines": count,
        "seconds": seconds,
        "peak": peak,
        "final_db": (directory / "flood.db").stat().st_size,
        "rotations": journal.rotations,
        "kept": kept,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--flood-mb", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="3 runs, 20k lines, 20 MB flood")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.lines, args.flood_mb = 3, 20_000, 20
    info = _stats.machine_info()
    print(f"journal benchmark ({args.runs} runs, {args.lines:,} lines, {args.flood_mb} MB flood)")
    for key, value in info.items():
        print(f"  {key}: {value}")

    lines = _lines(args.lines)
    samples: dict[str, list[float]] = {"journal": [], "executemany": [], "plain": [], "cpu": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bootup-bench-") as tmp:
            directory = Path(tmp)
            wall, cpu = run_journal(directory, lines)
            samples["journal"].append(wall)
            samples["cpu"].append(cpu)
            samples["executemany"].append(run_executemany(directory, lines))
            samples["plain"].append(run_plain_file(directory, lines))

    base = _stats.summarize(samples["executemany"], higher_is_better=False).median
    rows = []
    for name, key in (
        ("bootup Journal", "journal"),
        ("sqlite3 executemany", "executemany"),
        ("plain file", "plain"),
    ):
        median = _stats.summarize(samples[key], higher_is_better=False).median
        rows.append(
            [
                name,
                _stats.format_ms(median),
                _stats.format_rate(args.lines / median),
                _stats.format_ratio(_stats.ratio(median, base)),
            ]
        )
    print()
    print("(a) append throughput, median wall time until durable")
    print(_stats.format_table(["writer", "time", "lines/s", "time vs executemany"], rows))
    cpu = _stats.summarize(samples["cpu"], higher_is_better=False).median
    print(
        f"  CPU inside append() (the event loop's cost): {_stats.format_ms(cpu)} median, "
        f"{cpu / args.lines * 1e6:.2f} us per line"
    )

    with tempfile.TemporaryDirectory(prefix="bootup-bench-") as tmp:
        flood = run_flood(Path(tmp), args.flood_mb, 16 * 2**20)
    mib = 2**20
    print()
    print(f"(b) flood: {args.flood_mb} MB in {flood['lines']:,.0f} lines, max_bytes=16 MiB")
    print(f"  time: {flood['seconds']:.1f} s ({flood['lines'] / flood['seconds']:,.0f} lines/s)")
    print(f"  peak database + WAL: {flood['peak'] / mib:.1f} MiB")
    print(f"  final database file: {flood['final_db'] / mib:.1f} MiB")
    print(f"  rotations: {flood['rotations']:.0f}, entries kept: {flood['kept']:,.0f}")
    bounded = flood["peak"] <= 16 * mib
    print(f"  bounded (peak database + WAL <= max_bytes): {'PASS' if bounded else 'MISS'}")


if __name__ == "__main__":
    main()
