"""Benchmark: how fast the manager brings up many units, against the critical-path bound.

Shapes: ``flat`` (N independent Type=oneshot units, all wanted by one target) and
``layered`` (10 layers; each unit Requires= and is After= two units of the layer below).
Work: each unit runs ``/bin/true`` or ``/bin/sleep 0.05`` (a 50 ms service). For each,
the makespan of ``start all.target`` (request to anchor job done) is compared with two
lower bounds measured in the same run on the same machine:

* critical path: layers x (the time to spawn and reap one /bin/true through bootup's own
  spawn + SIGCHLD path, one at a time, median of 30, measured in the same process just
  before the run, plus the unit's own work: 0 or 50 ms);
* CPU bound: N x that time / usable cores (the machine cannot run more at once).

The ratio makespan / max(bounds) is the manager's overhead factor; (makespan - bound) / N
the per-unit overhead. Each configuration runs in a fresh subprocess, so the peak RSS
(``ru_maxrss``) is the manager's own. The manager writes its journal as in ``bootup up``
(SQLite in the project's .bootup/), without the state.json snapshot.

With ``--systemd`` (root), real systemd 252 boots the same directory as PID 1 of a PID
namespace (the test suite's tests/systemd_pid1.py harness) and its "Startup finished in"
figure (unit loading included) is compared with bootup's load + makespan.

Run: .venv/bin/python benchmarks/startup.py [--quick] [--runs N] [--systemd]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _stats

from bootup.runtime.process import ChildReaper, ExitStatus, OutputSpec, spawn
from bootup.runtime.project import project_manager, write_units
from bootup.runtime.states import JobResult
from bootup.units import values

LAYERS = 10
#: What each unit runs, and how long that takes by itself.
WORK = {"true": ("/bin/true", 0.0), "sleep50ms": ("/bin/sleep 0.05", 0.05)}


def make_units(count: int, shape: str, work: str = "true") -> dict[str, str]:
    """Unit files for one configuration; ``all.target`` wants every unit."""
    units: dict[str, str] = {}
    width = max(1, count // LAYERS) if shape == "layered" else count
    names = [f"u{i:05d}.service" for i in range(count)]
    for i, name in enumerate(names):
        deps = ""
        if shape == "layered" and i >= width:
            layer_start = (i // width - 1) * width
            below = {names[layer_start + (i % width)], names[layer_start + ((i + 1) % width)]}
            joined = " ".join(sorted(below))
            deps = f"Requires={joined}\nAfter={joined}\n"
        units[name] = (
            f"[Unit]\nDescription=unit {i}\n{deps}"
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart={WORK[work][0]}\n"
        )
    units["all.target"] = "[Unit]\nDescription=All\nWants=" + " ".join(names) + "\n"
    # The stub checkpoint targets of systemd.md Appendix A.1, so that real systemd (whose
    # unit path is only this directory) finds what default dependencies name.
    for stub in (
        "sysinit",
        "basic",
        "shutdown",
        "sockets",
        "timers",
        "paths",
        "slices",
        "local-fs",
    ):
        units[f"{stub}.target"] = f"[Unit]\nDescription={stub}\n"
    return units


async def _spawn_once(reaper: ChildReaper) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[ExitStatus] = loop.create_future()
    start = time.perf_counter()
    proc = spawn(
        ("/bin/true",),
        executable="/bin/true",
        env={"PATH": "/usr/bin:/bin"},
        cwd=None,
        umask=0o022,
        user=None,
        group=None,
        stdout=OutputSpec("journal"),
        stderr=OutputSpec("journal"),
        on_line=lambda source, line: None,
    )
    reaper.watch(proc.pid, done.set_result)
    await done
    for reader in proc.readers:
        await reader.closed.wait()
    return time.perf_counter() - start


async def spawn_cost(samples: int = 30) -> float:
    """Median seconds to spawn and reap one /bin/true, one at a time."""
    reaper = ChildReaper()
    reaper.start()
    try:
        return statistics.median([await _spawn_once(reaper) for _ in range(samples)])
    finally:
        reaper.close()


async def run_one(count: int, shape: str, work: str) -> dict[str, float]:
    """Bring all.target up once in a fresh project; return the measured figures.

    The spawn cost the bounds are computed from is measured right before, in the same
    process, so that both see the same machine load.
    """
    one = await spawn_cost()
    with tempfile.TemporaryDirectory(prefix="bootup-bench-") as tmp:
        directory = write_units(Path(tmp) / "units", make_units(count, shape, work))
        opened = time.perf_counter()
        async with project_manager(directory, snapshot=False) as manager:
            load = time.perf_counter() - opened
            start = time.perf_counter()
            result = await manager.start_unit("all.target")
            makespan = time.perf_counter() - start
            if result is not JobResult.DONE:
                raise SystemExit(f"start of all.target ended with {result.value}")
            active = sum(1 for r in manager.runtimes.values() if r.active_state.value == "active")
            stop_start = time.perf_counter()
            await manager.shutdown()
            stop = time.perf_counter() - stop_start
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "load": load,
        "makespan": makespan,
        "stop": stop,
        "active": active,
        "rss_kib": rss_kib,
        "spawn": one,
    }


def systemd_startup(count: int, shape: str, work: str) -> float | None:
    """Real systemd 252 as PID 1 of a namespace on the same units: "Startup finished in".

    Uses the test suite's harness (tests/systemd_pid1.py); None when this machine cannot
    boot it (not root, no unshare), with the reason printed.
    """
    sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests")]
    try:
        from systemd_pid1 import SystemdPid1
    except ImportError as exc:
        print(f"  systemd: harness unavailable ({exc})")
        return None
    with tempfile.TemporaryDirectory(prefix="bootup-bench-systemd-") as tmp:
        directory = write_units(Path(tmp) / "units", make_units(count, shape, work))
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        try:
            with SystemdPid1(directory, "all.target", workdir=workdir, boot_timeout=300) as manager:
                line = manager.wait_for(r"Startup finished in ", timeout=300)
        except BaseException as exc:  # pytest.skip raises a BaseException outside pytest
            if isinstance(exc, KeyboardInterrupt):
                raise
            print(f"  systemd: cannot boot here ({type(exc).__name__}: {exc})")
            return None
    found = re.search(r"Startup finished in (.+?)\.?$", line.strip())
    if found is None:
        return None
    return values.parse_timespan(found.group(1)) / 1_000_000


def child_main(count: int, shape: str, work: str) -> None:
    """``--one``: measure one configuration, print JSON (run in a fresh process)."""
    print(json.dumps(asyncio.run(run_one(count, shape, work))))


def measure(count: int, shape: str, work: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(count), shape, work],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"{count} {shape}: exit {done.returncode}\n{done.stderr}")
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 units, one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--systemd",
        action="store_true",
        help="also boot real systemd 252 on the same units (root, unshare; one run each)",
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("COUNT", "SHAPE", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        child_main(int(args.one[0]), args.one[1], args.one[2])
        return
    sizes = (100,) if args.quick else (100, 1000)
    runs = 1 if args.quick else args.runs
    print(f"bootup startup benchmark ({'--quick, ' if args.quick else ''}{runs} runs, medians)")
    for key, value in _stats.machine_info().items():
        print(f"  {key}: {value}")
    cores = len(os.sched_getaffinity(0))
    rows = []
    spawns: list[float] = []
    configurations = [
        (count, shape, work) for work in WORK for count in sizes for shape in ("flat", "layered")
    ]
    for count, shape, work in configurations:
        samples = [measure(count, shape, work) for _ in range(runs)]
        makespan = statistics.median(s["makespan"] for s in samples)
        stop = statistics.median(s["stop"] for s in samples)
        rss = max(s["rss_kib"] for s in samples)
        one = statistics.median(s["spawn"] for s in samples)
        spawns.append(one)
        load = statistics.median(s["load"] for s in samples)
        real = systemd_startup(count, shape, work) if args.systemd else None
        real_text = "-" if real is None else _stats.format_ms(real)
        versus = "-" if real is None else _stats.format_ratio((load + makespan) / real)
        depth = LAYERS if shape == "layered" else 1
        critical = depth * (one + WORK[work][1])
        cpu = count * one / cores
        bound = max(critical, cpu)
        rows.append(
            [
                f"{count} {shape} {work}",
                _stats.format_ms(makespan),
                _stats.format_ms(critical),
                _stats.format_ms(cpu),
                _stats.format_ratio(makespan / bound),
                f"{(makespan - bound) / count * 1000:.2f} ms",
                _stats.format_ms(stop),
                f"{rss / 1024:.0f} MiB",
                _stats.format_ms(load),
                real_text,
                versus,
            ]
        )
    print(
        "  spawn+reap of one /bin/true through bootup.runtime.process (median of the runs): "
        + ", ".join(f"{x * 1000:.2f} ms" for x in spawns)
    )
    print()
    print(
        _stats.format_table(
            [
                "units",
                "makespan",
                "crit. path",
                "cpu bound",
                "x bound",
                "overhead/unit",
                "stop all",
                "peak RSS",
                "load",
                "systemd",
                "x systemd",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
