"""Benchmark: the control socket's latency and throughput, and the CLI's start-up time.

Against a real project manager process (tests/control/manager_proc.py) with ``--units``
units (a quarter of them running services, the rest targets), in the same run:

(a) Round-trip latency over one connection, per call: ``org.varlink.service.GetInfo`` (the
    baseline: framing and dispatch, no manager work), ``is-active`` (GetProperties of one
    property) and ``show`` (GetProperties, every property).
(b) Throughput: 1,000 concurrent clients each making one ``GetStatus`` call (the work of
    ``bootup status``: properties, processes and the journal tail), all connected before any
    call; calls per second.
(c) The CLI's wall time for ``bootup is-active web.service``, vs ``python3 -c pass`` and
    ``python3 -c "import bootup.cli"`` and ``bootup --version`` (the CLI's parser with every
    verb registered, no control call) with the same interpreter.

Medians over ``--runs`` runs, ratios to the baseline of each block.
Run: .venv/bin/python benchmarks/control.py [--runs N] [--units N] [--calls N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
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


def _wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="few runs, small sizes")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.units, args.calls = 3, 40, 300
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for key, value in _stats.machine_info().items():
        print(f"{key}: {value}")
    with tempfile.TemporaryDirectory(prefix="bootup-bench-control-") as tmp:
        directory = write_project(Path(tmp), _units(args.units))
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

            env = dict(os.environ, PYTHONPATH=str(SRC))
            python = sys.executable
            commands = [
                ("python3 -c pass (baseline)", [python, "-c", "pass"]),
                ("python3 -c 'import bootup.cli'", [python, "-c", "import bootup.cli"]),
                ("bootup --version (all verbs registered)", [python, "-m", "bootup", "--version"]),
                ("bootup is-active web.service", [python, "-m", "bootup", "is-active", "web"]),
            ]
            walls: dict[str, float] = {}
            rows = []
            for label, argv in commands:
                check = subprocess.run(
                    argv, env=env, cwd=directory, capture_output=True, text=True, check=False
                )
                if check.returncode != 0:
                    raise SystemExit(f"{label}: exit {check.returncode}: {check.stderr.strip()}")
                samples = [_wall(argv, env, directory) for _ in range(max(args.runs, 5))]
                summary = _stats.summarize(samples, higher_is_better=False)
                walls[label] = summary.median
                rows.append(
                    [
                        label,
                        _stats.format_ms(summary.median),
                        _stats.format_ms(summary.best),
                        _stats.format_ratio(
                            _stats.ratio(summary.median, walls["python3 -c pass (baseline)"])
                        ),
                    ]
                )
            print("\n(c) CLI wall time (cwd = the project, so the socket is found from there)")
            print(_stats.format_table(["command", "median", "best", "vs python"], rows))
        finally:
            manager.stop()


if __name__ == "__main__":
    main()
