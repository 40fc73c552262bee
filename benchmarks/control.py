"""Benchmark: the control socket's latency and throughput, and the CLI's start-up time.

Against a real project manager process (tests/control/manager_proc.py) with ``--units``
units (a quarter of them running services, the rest targets), in the same run:

(a) Round-trip latency over one connection, per call: ``org.varlink.service.GetInfo`` (the
    baseline: framing and dispatch, no manager work), ``is-active`` (GetProperties of one
    property) and ``show`` (GetProperties, every property).
(b) Throughput: 1,000 concurrent clients each making one ``GetStatus`` call (the work of
    ``bootup status``: properties, processes and the journal tail), all connected before any
    call; calls per second.
(c) The CLI's start-up: wall time of a fresh ``bootup is-active x`` process, with no
    manager (it fails fast: start-up, parse, one failed connect) and against the running
    manager (the walk up from the working directory finds its socket), through the console
    script and ``python -m bootup``; issue 6's target is within 2x of ``python3 -c pass``
    with the same interpreter, measured in the same rounds. ``systemctl --version`` (C, no
    bus call) is printed beside it, and so is ``python3 -c 'import json, socket, argparse'``:
    the standard library any Python Varlink CLI needs, the floor under bootup's own modules.
    ``bootup --version`` (the full parser, every verb registered: what the lazy verb table
    avoids) shows what laziness buys. The package is byte-compiled first (``make setup``
    does the same): PYTHONDONTWRITEBYTECODE=1 in this environment would otherwise make every
    run compile bootup's sources again. Each round runs every command once, in turn, so the
    machine's noise hits all alike; the CPU time (user + system) of each process is printed
    too, as it varies less than wall time on a shared machine.

Medians over ``--runs`` runs (``--cli-runs``, at least 20, for (c)), ratios to the baseline
of each block.
Run: .venv/bin/python benchmarks/control.py [--runs N] [--units N] [--calls N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _stats

from bootup.control.client import Client
from bootup.control.protocol import encode_call


def _helper() -> Any:
    """tests/control/manager_proc.py: the manager process the tests use (loaded by path)."""
    path = Path(__file__).resolve().parent.parent / "tests" / "control" / "manager_proc.py"
    spec = importlib.util.spec_from_file_location("bootup_bench_manager_proc", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_proc = _helper()
SRC: Path = _proc.SRC
spawn = _proc.spawn
write_project = _proc.write_project

M = "io.bootup.Manager"


def _units(count: int) -> dict[str, str]:
    units: dict[str, str] = {}
    services = max(1, count // 4)
    for i in range(services):
        units[f"svc{i:04d}.service"] = (
            f"[Unit]\nDescription=Service {i}\n[Service]\nExecStart=/bin/sleep 3600\n"
        )
        units[f"multi-user.target.wants/svc{i:04d}.service"] = f"-> ../svc{i:04d}.service"
    for i in range(count - services):
        units[f"t{i:04d}.target"] = f"[Unit]\nDescription=Target {i}\n"
    units["web.service"] = "[Unit]\nDescription=Web\n[Service]\nExecStart=/bin/sleep 3600\n"
    units["multi-user.target.wants/web.service"] = "-> ../web.service"
    return units


def _latency(socket_path: Path, method: str, params: dict[str, object], calls: int) -> float:
    with Client(socket_path, timeout=120) as client:
        for _ in range(20):  # warm-up
            client.call(method, params)
        start = time.perf_counter()
        for _ in range(calls):
            client.call(method, params)
        return (time.perf_counter() - start) / calls


async def _burst(socket_path: Path, clients: int) -> float:
    gate = asyncio.Event()
    wire = encode_call(f"{M}.GetStatus", {"name": "web.service", "lines": 10})

    async def one() -> None:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        try:
            await gate.wait()
            writer.write(wire)
            await writer.drain()
            raw = await reader.readuntil(b"\0")
            assert "properties" in json.loads(raw[:-1])["parameters"]
        finally:
            writer.close()
            await writer.wait_closed()

    tasks = [asyncio.create_task(one()) for _ in range(clients)]
    await asyncio.sleep(0.5)  # benchmark only: let every client connect before the clock starts
    start = time.perf_counter()
    gate.set()
    async with asyncio.timeout(600):
        await asyncio.gather(*tasks)
    return time.perf_counter() - start


#: Issue 6's target for ``bootup is-active x``: this many times ``python3 -c pass``.
TARGET_RATIO = 2.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _cli_commands(directory: Path, tmp: Path) -> list[tuple[str, list[str], Path, dict[str, str]]]:
    """(label, argv, cwd, extra environment) of every command of block (c); baseline first."""
    python = sys.executable
    script = Path(python).parent / "bootup"
    bootup = [str(script)] if script.exists() else [python, "-m", "bootup"]
    nowhere = {"BOOTUP_CONTROL_SOCKET": str(tmp / "no-manager.sock")}
    commands: list[tuple[str, list[str], Path, dict[str, str]]] = [
        ("python3 -c pass (baseline)", [python, "-c", "pass"], tmp, {}),
    ]
    commands.append(
        (
            "python3 -c 'import json, socket, argparse'",
            [python, "-c", "import json, socket, argparse"],
            tmp,
            {},
        )
    )
    systemctl = shutil.which("systemctl")
    if systemctl is not None:
        commands.append(("systemctl --version", [systemctl, "--version"], tmp, {}))
    commands += [
        ("bootup is-active x, no manager", [*bootup, "is-active", "x"], tmp, nowhere),
        (
            "python -m bootup is-active x, no manager",
            [python, "-m", "bootup", "is-active", "x"],
            tmp,
            nowhere,
        ),
        ("bootup is-active web, running manager", [*bootup, "is-active", "web"], directory, {}),
        (
            "bootup show web -p ActiveState",
            [*bootup, "show", "web", "-p", "ActiveState"],
            directory,
            {},
        ),
        ("bootup --version (full parser)", [*bootup, "--version"], tmp, {}),
    ]
    return commands


def _cli_startup(directory: Path, tmp: Path, runs: int) -> None:
    """Block (c): interleaved rounds of fresh processes, medians and ratios to Python's floor."""
    base = dict(os.environ, PYTHONPATH=str(SRC))
    commands = _cli_commands(directory, tmp)
    expected = {"no manager": (1,), "running manager": (0,)}
    for label, argv, cwd, extra in commands:
        check = subprocess.run(
            argv, env={**base, **extra}, cwd=cwd, capture_output=True, text=True, check=False
        )
        wanted = next((codes for key, codes in expected.items() if label.endswith(key)), (0,))
        if check.returncode not in wanted:
            raise SystemExit(
                f"{label}: expected exit {wanted}, found {check.returncode}: {check.stderr.strip()}"
            )
    samples: list[list[float]] = [[] for _ in commands]
    cpu: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, (_label, argv, cwd, extra) in enumerate(commands):
            start = time.perf_counter()
            process = subprocess.Popen(
                argv,
                env={**base, **extra},
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _pid, status, usage = os.wait4(process.pid, 0)
            samples[index].append(time.perf_counter() - start)
            process.returncode = os.waitstatus_to_exitcode(status)
            cpu[index].append(usage.ru_utime + usage.ru_stime)
    baseline = statistics.median(samples[0])
    cpu_baseline = statistics.median(cpu[0])
    rows = []
    for (label, *_rest), taken, used in zip(commands, samples, cpu, strict=True):
        summary = _stats.summarize(taken, higher_is_better=False)
        rows.append(
            [
                label,
                _ms(summary.median),
                _ms(summary.best),
                _stats.format_ratio(_stats.ratio(summary.median, baseline)),
                _ms(statistics.median(used)),
                _stats.format_ratio(_stats.ratio(statistics.median(used), cpu_baseline)),
            ]
        )
    print(f"\n(c) CLI start-up: wall time of a fresh process, median of {runs} interleaved rounds")
    headers = ["command", "median", "best", "vs python", "cpu median", "cpu vs python"]
    print(_stats.format_table(headers, rows))
    for (label, *_rest), taken in zip(commands, samples, strict=True):
        if label.startswith("bootup is-active"):
            ratio = statistics.median(taken) / baseline
            verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
            print(
                f"target {label}: <= {TARGET_RATIO:.1f}x python3 -c pass: {verdict} ({ratio:.2f}x)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cli-runs", type=int, default=30, help="rounds of (c), at least 20")
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="few runs, small sizes")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.units, args.calls, args.cli_runs = 3, 40, 300, 20
    args.cli_runs = max(args.cli_runs, 20)
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for key, value in _stats.machine_info().items():
        print(f"{key}: {value}")
    compileall.compile_dir(str(SRC / "bootup"), quiet=1)
    with tempfile.TemporaryDirectory(prefix="bootup-bench-control-") as tmp:
        directory = write_project(Path(tmp) / "project", _units(args.units))
        manager = spawn(directory)
        try:
            sock = manager.socket
            print(f"\nmanager: {args.units + 1} units; socket {sock}\n")
            cases: list[tuple[str, str, dict[str, object]]] = [
                ("GetInfo (baseline)", "org.varlink.service.GetInfo", {}),
                (
                    "is-active",
                    f"{M}.GetProperties",
                    {"name": "web.service", "properties": ["ActiveState"]},
                ),
                ("show", f"{M}.GetProperties", {"name": "web.service"}),
            ]
            medians: dict[str, float] = {}
            rows = []
            for label, method, params in cases:
                samples = [_latency(sock, method, params, args.calls) for _ in range(args.runs)]
                summary = _stats.summarize(samples, higher_is_better=False)
                medians[label] = summary.median
                rows.append(
                    [
                        label,
                        f"{summary.median * 1e6:.1f} us",
                        f"{summary.best * 1e6:.1f} us",
                        _stats.format_ratio(
                            _stats.ratio(summary.median, medians["GetInfo (baseline)"])
                        ),
                    ]
                )
            print("(a) round trip per call, one connection")
            print(_stats.format_table(["call", "median", "best", "vs GetInfo"], rows))

            rates = [
                args.clients / asyncio.run(_burst(sock, args.clients)) for _ in range(args.runs)
            ]
            rate = _stats.summarize(rates, higher_is_better=True)
            print(f"\n(b) {args.clients} concurrent clients, one GetStatus call each")
            print(
                _stats.format_table(
                    ["", "median", "best"],
                    [["calls/s", _stats.format_rate(rate.median), _stats.format_rate(rate.best)]],
                )
            )
            _cli_startup(directory, Path(tmp), args.cli_runs)
        finally:
            manager.stop()


if __name__ == "__main__":
    main()
