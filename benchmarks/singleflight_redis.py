"""Fleet-wide singleflight on Redis: bootup against cashews and redis-py's Lock.

Two cases, each run several times per variant on a private redis-server (loopback, no
persistence) that this script starts and stops:

* **stampede**: 4 processes x 50 callers on one key, a 200 ms backend that INCRs a Redis
  counter. Reported: backend executions, the slowest process's wall time (from a common
  "go" to its last caller's return), and the Redis commands of the flight.
* **distinct**: one process, 10,000 distinct keys (at most 100 in flight at a time), a
  backend that only INCRs the counter: the protocol's overhead when nothing coalesces.

Commands are counted with INFO commandstats after CONFIG RESETSTAT, taken once every
process has connected and warmed up. commandstats also counts the commands Lua scripts run,
so the figure is an upper bound of round trips; ``client|setinfo`` (redis-py's connection
handshake) is included. Variants:

* ``bootup-async``: :class:`AsyncRedisGroup`; ``bootup-threads``: :class:`RedisGroup` with
  one thread per caller;
* ``cashews``: ``cache(ttl=10, lock=True)`` (cashews 7.x; a cache that also locks);
* ``redis-lock``: redis-py asyncio: GET; on a miss ``Lock(timeout=5, sleep=0.1)``, GET
  again, run the backend, SET ex=10 (the double-checked lock of reference §5).

"last in" is the time from "go" until the last caller entered the group, in the slowest
process: a caller that arrives after the flight has ended starts a new one (singleflight
does not cache), so on a loaded machine a late thread can show as a second execution.

Targets (reference §8): 1 execution; wall <= backend + 50 ms; <= 10 commands per process per
flight. Usage: ``.venv/bin/python benchmarks/singleflight_redis.py [--runs 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import redis
from _stats import machine_info

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 4
TASKS = 50
BACKEND_S = 0.2
DISTINCT_KEYS = 10_000
DISTINCT_CONCURRENCY = 100
VARIANTS = ("bootup-async", "bootup-threads", "cashews", "redis-lock")


def _redis_server_helper() -> ModuleType:
    """The tests' throwaway redis-server helper (tests/singleflight/redis_server.py)."""
    path = ROOT / "tests" / "singleflight" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("bench_redis_server", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ worker side


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def _async_worker(variant: str, url: str, case: str, ns: str) -> dict[str, Any]:
    import redis.asyncio

    counter = redis.asyncio.Redis.from_url(url)
    backend_s = BACKEND_S if case == "stampede" else 0.0

    async def backend(key: str) -> str:
        await counter.incr(f"{ns}:exec")
        if backend_s:
            await asyncio.sleep(backend_s)
        return f"value:{key}"

    call: Any
    closers: list[Any] = [counter.aclose]
    if variant == "bootup-async":
        from bootup.singleflight._redis import AsyncRedisGroup

        group: AsyncRedisGroup[str, str] = AsyncRedisGroup(url, namespace=ns)
        closers.append(group.aclose)

        async def call(key: str) -> str:
            return await group.do(key, backend, key)

    elif variant == "cashews":
        from cashews import Cache

        cache = Cache()
        cache.setup(url)
        cached = cache(ttl=10, key=ns + ":c:{key}", lock=True)(backend)
        closers.append(cache.close)

        async def call(key: str) -> str:
            return str(await cached(key))

    elif variant == "redis-lock":
        client = redis.asyncio.Redis.from_url(url)
        closers.append(client.aclose)

        async def call(key: str) -> str:
            cached = await client.get(f"{ns}:v:{key}")
            if cached is not None:
                return cached.decode() if isinstance(cached, bytes) else str(cached)
            async with client.lock(f"{ns}:lock:{key}", timeout=5, sleep=0.1):
                cached = await client.get(f"{ns}:v:{key}")
                if cached is not None:
                    return cached.decode() if isinstance(cached, bytes) else str(cached)
                value = await backend(key)
                await client.set(f"{ns}:v:{key}", value, ex=10)
                return value

    else:
        raise SystemExit(f"unknown variant {variant}")

    # Connect (as many connections as the case keeps busy) and load scripts before the clock.
    warm = 1 if case == "stampede" else DISTINCT_CONCURRENCY
    await asyncio.gather(*(call(f"warm-up-{i}") for i in range(warm)))
    _say(event="ready")
    await asyncio.to_thread(sys.stdin.readline)
    started = time.perf_counter()
    arrivals: list[float] = []

    async def arrive(key: str) -> str:
        arrivals.append(time.perf_counter())
        return str(await call(key))

    if case == "stampede":
        results = await asyncio.gather(*(arrive("hot") for _ in range(TASKS)))
        ok = all(r == "value:hot" for r in results)
    else:
        limit = asyncio.Semaphore(DISTINCT_CONCURRENCY)

        async def one(i: int) -> bool:
            async with limit:
                return bool(await arrive(f"k{i}") == f"value:k{i}")

        ok = all(await asyncio.gather(*(one(i) for i in range(DISTINCT_KEYS))))
    wall = time.perf_counter() - started
    for close in closers:
        await close()
    return {"wall": wall, "late": max(arrivals) - started, "ok": ok}


def _threads_worker(url: str, case: str, ns: str) -> dict[str, Any]:
    from bootup.singleflight._redis import RedisGroup

    counter = redis.Redis.from_url(url)
    backend_s = BACKEND_S if case == "stampede" else 0.0
    group: RedisGroup[str, str] = RedisGroup(url, namespace=ns)

    def backend(key: str) -> str:
        counter.incr(f"{ns}:exec")
        if backend_s:
            time.sleep(backend_s)
        return f"value:{key}"

    group.do("warm-up", backend, "warm-up")
    callers = TASKS if case == "stampede" else 1
    keys = ["hot"] if case == "stampede" else [f"k{i}" for i in range(DISTINCT_KEYS)]
    gate = threading.Barrier(callers + 1)
    results: list[bool] = []

    arrivals: list[float] = []

    def run() -> None:
        gate.wait()
        arrivals.append(time.perf_counter())
        results.extend(group.do(k, backend, k) == f"value:{k}" for k in keys)

    threads = [threading.Thread(target=run) for _ in range(callers)]
    for thread in threads:
        thread.start()
    _say(event="ready")
    sys.stdin.readline()
    started = time.perf_counter()
    gate.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    group.close()
    counter.close()
    return {
        "wall": wall,
        "late": max(arrivals) - started,
        "ok": all(results) and len(results) == callers * len(keys),
    }


def _worker(variant: str, url: str, case: str, ns: str) -> None:
    if variant == "bootup-threads":
        outcome = _threads_worker(url, case, ns)
    else:
        outcome = asyncio.run(_async_worker(variant, url, case, ns))
    _say(event="done", **outcome)


# ------------------------------------------------------------------------- coordinator side


def _commands(raw: redis.Redis) -> int:
    stats: dict[str, dict[str, Any]] = raw.info("commandstats")
    return sum(
        int(v["calls"])
        for k, v in stats.items()
        if k not in ("cmdstat_info", "cmdstat_config|resetstat")
    )


def _run_case(url: str, variant: str, case: str, run: int) -> dict[str, float]:
    raw = redis.Redis.from_url(url)
    raw.flushdb()
    ns = f"bench{run}"
    count = PROCESSES if case == "stampede" else 1
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", variant, url, case, ns],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if json.loads(line or "{}").get("event") != "ready":
                raise RuntimeError(f"{variant} worker failed to start: {line!r}")
        raw.delete(f"{ns}:exec")
        raw.config_resetstat()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = []
        for proc in procs:
            assert proc.stdout is not None
            outcomes.append(json.loads(proc.stdout.readline()))
        commands = _commands(raw)
        executions = int(raw.get(f"{ns}:exec") or 0)
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(120)
            if proc.stdout is not None:
                proc.stdout.close()
        raw.close()
    if not all(o["ok"] for o in outcomes):
        raise RuntimeError(f"{variant}/{case}: a caller got a wrong value: {outcomes}")
    return {
        "executions": executions,
        "wall_ms": max(o["wall"] for o in outcomes) * 1000,
        "last_arrival_ms": max(o["late"] for o in outcomes) * 1000,
        "commands": commands,
        "per_process": commands / count,
    }


def _median(runs: list[dict[str, float]], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 run, stampede only")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--cases", default="stampede,distinct")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    cases = ["stampede"] if args.quick else [c for c in args.cases.split(",") if c]
    variants = [v for v in args.variants.split(",") if v]
    helper = _redis_server_helper()
    exe = helper.find_redis_server()
    if exe is None:
        print("redis-server is not installed (apt-get install redis-server)")
        return 1
    with helper.RedisServer.start(exe) as server:
        info = ", ".join(f"{k}={v}" for k, v in machine_info().items())
        print(f"machine: {info}")
        print(f"redis-server {server.url}; {runs} runs per variant, medians")
        for case in cases:
            what = (
                f"{PROCESSES} processes x {TASKS} callers, one key, "
                f"{BACKEND_S * 1000:.0f} ms backend"
                if case == "stampede"
                else f"1 process, {DISTINCT_KEYS} distinct keys, {DISTINCT_CONCURRENCY} in flight"
            )
            print(f"\n== {case}: {what}")
            print(
                f"{'variant':16} {'execs':>7} {'wall ms':>9} {'commands':>9} {'cmd/proc':>9} "
                f"{'last in':>8}"
            )
            medians: dict[str, dict[str, float]] = {}
            for variant in variants:
                results = [_run_case(server.url, variant, case, i) for i in range(runs)]
                med = {f: _median(results, f) for f in results[0]}
                medians[variant] = med
                print(
                    f"{variant:16} {med['executions']:>7.0f} {med['wall_ms']:>9.1f} "
                    f"{med['commands']:>9.0f} {med['per_process']:>9.1f} "
                    f"{med['last_arrival_ms']:>8.1f}"
                    f"   (per run: executions {[int(r['executions']) for r in results]}, "
                    f"last in ms {[round(r['last_arrival_ms']) for r in results]})"
                )
            base = medians.get("bootup-async")
            if base:
                print("ratios to bootup-async (wall, commands):")
                for variant, med in medians.items():
                    if variant != "bootup-async":
                        print(
                            f"  {variant:16} wall x{med['wall_ms'] / base['wall_ms']:.2f}  "
                            f"commands x{med['commands'] / max(base['commands'], 1):.2f}"
                        )
            if case == "stampede" and base:
                print(
                    f"targets: 1 execution ({base['executions']:.0f}); wall <= "
                    f"{BACKEND_S * 1000 + 50:.0f} ms ({base['wall_ms']:.1f}); <= 10 commands "
                    f"per process ({base['per_process']:.1f})"
                )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(*sys.argv[2:6])
    else:
        raise SystemExit(main())
