"""Singleflight benchmark: bootup's groups against hand-written baselines and the peers.

Why it is built this way (design and peer figures: shared/reference/singleflight.md §4, §8, A.2):

* Every contestant runs in its own subprocess (``--worker NAME``), so one library's imports,
  garbage and threads cannot slow the next one down, and one crash or hang is one error row.
* Every figure is printed next to a ratio to a baseline measured in the same run on the same
  machine; absolute ops/s mean little on a shared, noisy VM.
* Three measurements:
  (a) uncontended: ``do(key)`` over many distinct keys with a trivial function, so the
  figure is the pure bookkeeping cost of the group (median and best over several passes,
  fresh keys and a fresh group every pass);
  (b) asyncio stampede: 10,000 tasks gathered on one key, backend ``await asyncio.sleep(0.010)``;
  (c) thread stampede: 1,000 threads released by a ``Barrier`` on one key, backend
  ``time.sleep(0.010)``.
  Stampedes report the executions of every trial and the median wall time. More than one
  execution in (c) is correct: threads that reach ``do`` after the 10 ms flight ended start
  a new one.
* Every result is checked against the expected value: a fast wrong answer is an error row.

Run: ``make bench`` or ``.venv/bin/python benchmarks/singleflight.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import importlib.util
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from _stats import (
    format_ms,
    format_rate,
    format_ratio,
    format_table,
    machine_info,
    ratio,
    summarize,
)

SyncFn = Callable[[int], int]
AsyncFn = Callable[[int], Coroutine[Any, Any, int]]
SyncDo = Callable[[int], int]
AsyncDo = Callable[[int], Coroutine[Any, Any, int]]
MakeSync = Callable[[SyncFn], SyncDo]
MakeAsync = Callable[[AsyncFn], AsyncDo]

STAMPEDE_KEY = 7
STAMPEDE_VALUE = STAMPEDE_KEY + 1


class BenchmarkError(Exception):
    """A contestant returned a wrong result or failed; its figures must not be printed."""


# ---------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True, slots=True)
class Params:
    """Sizes of one run; ``--quick`` shrinks them so the smoke test takes seconds.

    ``passes`` and ``trials`` are per round. Each round runs every contestant once, so the
    contestants are measured interleaved: load that comes and goes on a shared machine
    spreads over all of them instead of falling on whichever ran at the wrong moment.
    """

    n_sync: int = 50_000
    n_async: int = 30_000
    passes: int = 3
    n_tasks: int = 10_000
    n_threads: int = 1_000
    trials: int = 3
    rounds: int = 3
    backend_s: float = 0.010
    worker_timeout_s: float = 600.0


FULL = Params()
QUICK = Params(
    n_sync=2_000,
    n_async=2_000,
    passes=1,
    n_tasks=200,
    n_threads=50,
    trials=2,
    rounds=2,
    worker_timeout_s=180.0,
)


# ---------------------------------------------------------------------------------------------
# Baselines: hand-written, correct (except the inline one, whose flaw is documented).


class _Call:
    """One in-flight call of the dict+lock baseline."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: int = 0
        self.error: BaseException | None = None


def make_dict_lock(fn: SyncFn) -> SyncDo:
    """Threads baseline: dict + Lock + Event; identity-checked delete; errors shared."""
    lock = threading.Lock()
    calls: dict[int, _Call] = {}

    def do(key: int) -> int:
        with lock:
            call = calls.get(key)
            leader = call is None
            if call is None:
                call = calls[key] = _Call()
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.value
        try:
            call.value = fn(key)
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with lock:
                if calls.get(key) is call:
                    del calls[key]
            call.done.set()
        return call.value

    return do


def _release_task(
    flights: dict[int, asyncio.Future[int]], key: int, fut: asyncio.Future[int]
) -> None:
    if flights.get(key) is fut:
        del flights[key]
    if not fut.cancelled():
        fut.exception()  # mark retrieved: the callers re-raise it


def make_task_shield(afn: AsyncFn) -> AsyncDo:
    """asyncio baseline: the work in its own task, every caller behind ``asyncio.shield``.

    The cheapest correct design: cancelling any caller, the first one included, never
    touches the shared work or the other callers.
    """
    flights: dict[int, asyncio.Future[int]] = {}

    async def do(key: int) -> int:
        fut = flights.get(key)
        if fut is None:
            fut = flights[key] = asyncio.ensure_future(afn(key))
            fut.add_done_callback(partial(_release_task, flights, key))
        return await asyncio.shield(fut)

    return do


def make_inline(afn: AsyncFn) -> AsyncDo:
    """asyncio baseline: the leader awaits the work inline, joiners await a future.

    Faster (no task per call) but wrong: cancelling the leader cancels the work and every
    joiner gets ``CancelledError``. Printed for information only.
    """
    flights: dict[int, asyncio.Future[int]] = {}

    async def do(key: int) -> int:
        fut = flights.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = flights[key] = asyncio.get_running_loop().create_future()
        try:
            value = await afn(key)
        except BaseException as exc:
            if flights.get(key) is fut:
                del flights[key]
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()
            raise
        if flights.get(key) is fut:
            del flights[key]
        fut.set_result(value)
        return value

    return do


# ---------------------------------------------------------------------------------------------
# bootup and the peers. Imports happen inside the factories, in the worker process only.


def make_bootup_sync(fn: SyncFn) -> SyncDo:
    from bootup.singleflight import Group

    group: Group[int, int] = Group()
    return lambda key: group.do(key, fn, key)


def make_bootup_async(afn: AsyncFn) -> AsyncDo:
    from bootup.singleflight import AsyncGroup

    group: AsyncGroup[int, int] = AsyncGroup()
    return lambda key: group.do(key, afn, key)


def make_coalescer_sync(fn: SyncFn) -> SyncDo:
    import coalescer.sync

    group = coalescer.sync.Coalescer()
    return lambda key: group.do(key, fn, key)


def make_coalescer_async(afn: AsyncFn) -> AsyncDo:
    import coalescer

    group = coalescer.Coalescer()
    return lambda key: group.do(key, afn, key)


def make_oneflight_sync(fn: SyncFn) -> SyncDo:
    import oneflight

    group = oneflight.OneFlight()
    return lambda key: group.do(key, fn, key)[0]


def make_oneflight_async(afn: AsyncFn) -> AsyncDo:
    import oneflight

    group = oneflight.AsyncOneFlight()

    async def do(key: int) -> int:
        value, _shared = await group.do(key, afn, key)
        return value

    return do


def _raw_async(afn: AsyncFn) -> AsyncDo:
    return afn


def _raw_sync(fn: SyncFn) -> SyncDo:
    return fn


@dataclass(frozen=True, slots=True)
class Contestant:
    """One row of the table: how to build its ``do(key)`` for threads and for asyncio."""

    name: str
    role: str  # "baseline", "bootup" or "peer"
    make_sync: MakeSync | None
    make_async: MakeAsync | None
    module: str | None = None  # import name; the row is skipped when it is not installed
    distribution: str | None = None  # for the version shown in the table
    needs: tuple[str, ...] = ()  # names the module must define
    note: str = ""


CONTESTANTS: tuple[Contestant, ...] = (
    Contestant("raw-call", "baseline", _raw_sync, _raw_async, note="no coalescing"),
    Contestant("dict+lock", "baseline", make_dict_lock, None, note="threads baseline"),
    Contestant("dict+task+shield", "baseline", None, make_task_shield, note="asyncio baseline"),
    Contestant(
        "dict+future-inline",
        "baseline",
        None,
        make_inline,
        note="leader cancel poisons joiners: information only",
    ),
    Contestant(
        "bootup",
        "bootup",
        make_bootup_sync,
        make_bootup_async,
        module="bootup.singleflight",
        distribution="bootup",
        needs=("Group", "AsyncGroup"),
        note="Group / AsyncGroup",
    ),
    Contestant(
        "coalescer",
        "peer",
        make_coalescer_sync,
        make_coalescer_async,
        module="coalescer",
        distribution="coalescer",
    ),
    Contestant(
        "oneflight",
        "peer",
        make_oneflight_sync,
        make_oneflight_async,
        module="oneflight",
        distribution="oneflight",
    ),
)
BY_NAME = {c.name: c for c in CONTESTANTS}


def unavailable_reason(contestant: Contestant) -> str | None:
    """Why a contestant cannot run here (not installed, or not written yet), or None.

    Importing in the parent is harmless: the measurements run in fresh worker processes.
    """
    if contestant.module is None:
        return None
    try:
        module = importlib.import_module(contestant.module)
    except ImportError as exc:
        return f"{contestant.module} cannot be imported ({exc})"
    missing = [name for name in contestant.needs if not hasattr(module, name)]
    if missing:
        return f"{contestant.module} has no {', '.join(missing)} yet"
    return None


def version_of(contestant: Contestant) -> str:
    if contestant.distribution is None:
        return ""
    try:
        return importlib.metadata.version(contestant.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# ---------------------------------------------------------------------------------------------
# The measurements (run inside a worker process).


def _identity(key: int) -> int:
    return key


async def _aidentity(key: int) -> int:
    return key


def measure_sync_uncontended(make: MakeSync, params: Params) -> list[float]:
    """ops/s of each pass: ``do`` over ``n_sync`` fresh distinct keys, a fresh group."""
    rates: list[float] = []
    for p in range(params.passes):
        do = make(_identity)
        keys = range(p * params.n_sync, (p + 1) * params.n_sync)
        gc.collect()
        start = time.perf_counter()
        out = [do(k) for k in keys]
        elapsed = time.perf_counter() - start
        if out != list(keys):
            raise BenchmarkError("sync uncontended: do(key) did not return fn(key)")
        rates.append(params.n_sync / elapsed)
    return rates


async def _async_uncontended(make: MakeAsync, params: Params) -> list[float]:
    rates: list[float] = []
    for p in range(params.passes):
        do = make(_aidentity)
        keys = range(p * params.n_async, (p + 1) * params.n_async)
        out: list[int] = []
        append = out.append
        gc.collect()
        start = time.perf_counter()
        for k in keys:
            append(await do(k))
        elapsed = time.perf_counter() - start
        if out != list(keys):
            raise BenchmarkError("asyncio uncontended: do(key) did not return fn(key)")
        rates.append(params.n_async / elapsed)
    return rates


def measure_async_uncontended(make: MakeAsync, params: Params) -> list[float]:
    """ops/s of each pass: one task awaiting ``do`` over ``n_async`` fresh distinct keys."""
    return asyncio.run(_async_uncontended(make, params))


async def _async_stampede_trial(make: MakeAsync, params: Params) -> tuple[int, float]:
    executions = 0

    async def backend(key: int) -> int:
        nonlocal executions
        executions += 1
        await asyncio.sleep(params.backend_s)
        return key + 1

    do = make(backend)
    gc.collect()
    start = time.perf_counter()
    results = await asyncio.gather(*[do(STAMPEDE_KEY) for _ in range(params.n_tasks)])
    wall = time.perf_counter() - start
    wrong = sum(1 for r in results if r != STAMPEDE_VALUE)
    if wrong:
        raise BenchmarkError(
            f"asyncio stampede: {wrong} of {len(results)} callers got a wrong value"
        )
    return executions, wall


def measure_async_stampede(make: MakeAsync, params: Params) -> tuple[list[int], list[float]]:
    """Executions and wall time of each trial of ``n_tasks`` tasks gathered on one key."""
    executions: list[int] = []
    walls: list[float] = []
    for _ in range(params.trials):
        n, wall = asyncio.run(_async_stampede_trial(make, params))
        executions.append(n)
        walls.append(wall)
    return executions, walls


def _thread_stampede_trial(make: MakeSync, params: Params) -> tuple[int, float]:
    count_lock = threading.Lock()
    executions = 0

    def backend(key: int) -> int:
        nonlocal executions
        with count_lock:
            executions += 1
        time.sleep(params.backend_s)
        return key + 1

    do = make(backend)
    n = params.n_threads
    barrier = threading.Barrier(n + 1)
    results: list[int | None] = [None] * n
    errors: list[BaseException] = []

    def caller(i: int) -> None:
        barrier.wait()
        try:
            results[i] = do(STAMPEDE_KEY)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    gc.collect()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise BenchmarkError(f"thread stampede: {len(errors)} callers raised, first: {errors[0]!r}")
    wrong = sum(1 for r in results if r != STAMPEDE_VALUE)
    if wrong:
        raise BenchmarkError(f"thread stampede: {wrong} of {n} callers got a wrong value")
    return executions, wall


def measure_thread_stampede(make: MakeSync, params: Params) -> tuple[list[int], list[float]]:
    """Executions and wall time of each trial of ``n_threads`` threads released together."""
    executions: list[int] = []
    walls: list[float] = []
    for _ in range(params.trials):
        n, wall = _thread_stampede_trial(make, params)
        executions.append(n)
        walls.append(wall)
    return executions, walls


@dataclass(slots=True)
class WorkerResult:
    """What one worker process measured; sections it could not run stay None."""

    name: str
    version: str = ""
    sync_rates: list[float] | None = None
    async_rates: list[float] | None = None
    async_stampede_execs: list[int] | None = None
    async_stampede_walls: list[float] | None = None
    thread_stampede_execs: list[int] | None = None
    thread_stampede_walls: list[float] | None = None
    errors: list[str] = field(default_factory=list)

    def merged(self, later: WorkerResult) -> WorkerResult:
        """This round's samples followed by a later round's.

        A section missing in either round is missing in the merge: its figures would describe
        only some of the rounds.
        """

        def cat(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
            return None if a is None or b is None else a + b

        return WorkerResult(
            name=self.name,
            version=self.version or later.version,
            sync_rates=cat(self.sync_rates, later.sync_rates),
            async_rates=cat(self.async_rates, later.async_rates),
            async_stampede_execs=cat(self.async_stampede_execs, later.async_stampede_execs),
            async_stampede_walls=cat(self.async_stampede_walls, later.async_stampede_walls),
            thread_stampede_execs=cat(self.thread_stampede_execs, later.thread_stampede_execs),
            thread_stampede_walls=cat(self.thread_stampede_walls, later.thread_stampede_walls),
            errors=self.errors + later.errors,
        )


def run_worker(name: str, params: Params) -> WorkerResult:
    """Measure one contestant; a failing section is recorded and the others still run."""
    contestant = BY_NAME[name]
    result = WorkerResult(name=name, version=version_of(contestant))
    make_sync, make_async = contestant.make_sync, contestant.make_async

    def attempt(section: str, measure: Callable[[], None]) -> None:
        try:
            measure()
        except Exception as exc:
            result.errors.append(f"{section}: {type(exc).__name__}: {exc}")

    if make_sync is not None:

        def sync_unc() -> None:
            result.sync_rates = measure_sync_uncontended(make_sync, params)

        attempt("threads uncontended", sync_unc)
    if make_async is not None:

        def async_unc() -> None:
            result.async_rates = measure_async_uncontended(make_async, params)

        attempt("asyncio uncontended", async_unc)

        def async_st() -> None:
            execs, walls = measure_async_stampede(make_async, params)
            result.async_stampede_execs, result.async_stampede_walls = execs, walls

        attempt("asyncio stampede", async_st)
    if make_sync is not None:

        def thread_st() -> None:
            execs, walls = measure_thread_stampede(make_sync, params)
            result.thread_stampede_execs, result.thread_stampede_walls = execs, walls

        attempt("thread stampede", thread_st)
    return result


# ---------------------------------------------------------------------------------------------
# The parent: one subprocess per contestant, then the table and the verdicts.


def spawn_worker(name: str, params: Params) -> WorkerResult:
    """Run one contestant in a fresh interpreter and parse the JSON line it prints."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        "--params",
        json.dumps(asdict(params)),
    ]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=params.worker_timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return WorkerResult(name=name, errors=[f"worker hung for {params.worker_timeout_s:.0f} s"])
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return WorkerResult(name=name, errors=[f"worker exited {proc.returncode}: {tail}"])
    try:
        data = json.loads(lines[-1])
        return WorkerResult(**data)
    except (ValueError, TypeError) as exc:
        return WorkerResult(name=name, errors=[f"worker printed no result line: {exc}"])


def _median(xs: Sequence[float] | None) -> float | None:
    return None if not xs else summarize(xs, higher_is_better=True).median


def _best(xs: Sequence[float] | None, *, higher_is_better: bool) -> float | None:
    return None if not xs else summarize(xs, higher_is_better=higher_is_better).best


def _execs(xs: Sequence[int] | None) -> str:
    """Executions per trial, short: ``1 (all 9)``, or ``3-10, median 6`` (all of them: --json)."""
    if not xs:
        return "-"
    if min(xs) == max(xs):
        return f"{xs[0]:,} (all {len(xs)})"
    return f"{min(xs):,}-{max(xs):,}, median {statistics.median(xs):g}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One of the issue's targets: PASS, MISS or n/a, with the figures behind it."""

    target: str
    outcome: str
    detail: str


def _judge(
    target: str, value: float | None, limit: float | None, *, at_least: bool, detail: str
) -> Verdict:
    if value is None or limit is None:
        return Verdict(target, "n/a", detail or "not measured")
    passed = value >= limit if at_least else value <= limit
    return Verdict(target, "PASS" if passed else "MISS", detail)


def _rate_target(target: str, mine: float | None, theirs: float | None) -> Verdict:
    r = ratio(mine, theirs)
    detail = f"{format_rate(mine)} vs {format_rate(theirs)} ops/s = {format_ratio(r)}"
    return _judge(target, r, 1.0, at_least=True, detail=detail)


def _wall_target(target: str, mine: float | None, theirs: float | None, extra: str) -> Verdict:
    detail = f"{format_ms(mine)} vs {format_ms(theirs)} = {format_ratio(ratio(mine, theirs))}"
    return _judge(target, mine, theirs, at_least=False, detail=detail + extra)


def verdicts(results: dict[str, WorkerResult], params: Params) -> list[Verdict]:
    """The issue's targets, judged on medians measured in this run."""
    empty = WorkerResult(name="")
    bootup = results.get("bootup", empty)
    lock = results.get("dict+lock", empty)
    shield = results.get("dict+task+shield", empty)
    inline = results.get("dict+future-inline", empty)
    coal = results.get("coalescer", empty)
    mine_async = _median(bootup.async_rates)

    out = [
        _rate_target(
            "threads uncontended: Group >= 1.0x dict+lock",
            _median(bootup.sync_rates),
            _median(lock.sync_rates),
        ),
        _rate_target(
            "asyncio uncontended: AsyncGroup >= 1.0x dict+task+shield",
            mine_async,
            _median(shield.async_rates),
        ),
        _rate_target(
            "asyncio uncontended: AsyncGroup >= 1.0x coalescer",
            mine_async,
            _median(coal.async_rates),
        ),
        Verdict(
            "asyncio uncontended: AsyncGroup / dict+future-inline",
            "info",
            f"{format_ratio(ratio(mine_async, _median(inline.async_rates)))}"
            " (inline is faster but wrong when the leader is cancelled)",
        ),
    ]

    stampede = f"{params.n_tasks:,}-task stampede"
    execs = bootup.async_stampede_execs
    out.append(
        Verdict(
            f"{stampede}: exactly 1 execution per trial",
            "n/a" if not execs else ("PASS" if all(e == 1 for e in execs) else "MISS"),
            f"executions {_execs(execs)}",
        )
    )
    peer_walls = {
        name: wall
        for name, res in results.items()
        if BY_NAME[name].role == "peer" and (wall := _median(res.async_stampede_walls)) is not None
    }
    best_peer = min(peer_walls, key=peer_walls.__getitem__, default=None)
    out.append(
        _wall_target(
            f"{stampede}: AsyncGroup wall <= best peer",
            _median(bootup.async_stampede_walls),
            None if best_peer is None else peer_walls[best_peer],
            f" (best peer: {best_peer or 'none measured'})",
        )
    )
    out.append(
        _wall_target(
            f"{params.n_threads:,}-thread stampede: Group wall <= dict+lock",
            _median(bootup.thread_stampede_walls),
            _median(lock.thread_stampede_walls),
            f"; executions {_execs(bootup.thread_stampede_execs)}",
        )
    )
    out.append(
        Verdict(
            "absolute goals of reference §8 (2-vCPU VM, other hardware)",
            "info",
            f"threads {format_rate(_median(bootup.sync_rates))} ops/s (goal >= 200,000),"
            f" asyncio {format_rate(mine_async)} ops/s (goal >= 400,000),"
            f" stampede {format_ms(_median(bootup.async_stampede_walls))} (goal <= 200 ms)",
        )
    )
    return out


def render(
    machine: dict[str, str],
    results: dict[str, WorkerResult],
    skipped: dict[str, str],
    params: Params,
    quick: bool,
) -> str:
    """The human-readable report: machine, two tables, errors, verdicts."""
    lines = [
        "singleflight benchmark"
        + (" (--quick: tiny sizes, figures are not meaningful)" if quick else "")
    ]
    lines += [f"  {k}: {v}" for k, v in machine.items()]
    lines.append(
        f"  sizes: uncontended {params.n_sync:,} keys (threads), {params.n_async:,} (asyncio),"
        f" {params.passes * params.rounds} passes; stampedes {params.n_tasks:,} tasks,"
        f" {params.n_threads:,} threads, {params.trials * params.rounds} trials;"
        f" backend {params.backend_s * 1000:.0f} ms; {params.rounds} interleaved rounds"
    )
    lines.append("")

    lock = results.get("dict+lock")
    shield = results.get("dict+task+shield")
    inline = results.get("dict+future-inline")
    lock_sync = None if lock is None else _median(lock.sync_rates)
    shield_async = None if shield is None else _median(shield.async_rates)
    inline_async = None if inline is None else _median(inline.async_rates)
    lock_wall = None if lock is None else _median(lock.thread_stampede_walls)
    shield_wall = None if shield is None else _median(shield.async_stampede_walls)

    def label(r: WorkerResult) -> str:
        return f"{r.name} {r.version}".strip()

    rows = []
    for r in results.values():
        sync_med, async_med = _median(r.sync_rates), _median(r.async_rates)
        rows.append(
            [
                label(r),
                format_rate(sync_med),
                format_rate(_best(r.sync_rates, higher_is_better=True)),
                format_ratio(ratio(sync_med, lock_sync)),
                format_rate(async_med),
                format_rate(_best(r.async_rates, higher_is_better=True)),
                format_ratio(ratio(async_med, shield_async)),
                format_ratio(ratio(async_med, inline_async)),
            ]
        )
    lines.append(
        "(a) uncontended ops/s, median and best of the passes;"
        " ratio = ops/s / baseline's (higher is better)"
    )
    lines.append(
        format_table(
            [
                "library",
                "threads med",
                "best",
                "/dict+lock",
                "asyncio med",
                "best",
                "/task+shield",
                "/inline",
            ],
            rows,
        )
    )
    lines.append("")

    rows = []
    for r in results.values():
        a_wall, t_wall = _median(r.async_stampede_walls), _median(r.thread_stampede_walls)
        rows.append(
            [
                label(r),
                _execs(r.async_stampede_execs),
                format_ms(a_wall),
                format_ratio(ratio(a_wall, shield_wall)),
                _execs(r.thread_stampede_execs),
                format_ms(t_wall),
                format_ratio(ratio(t_wall, lock_wall)),
            ]
        )
    lines.append(
        f"(b) {params.n_tasks:,} asyncio tasks and (c) {params.n_threads:,} threads on one key:"
        " executions of the trials, median wall; ratio = wall / baseline (lower is better)"
    )
    lines.append(
        format_table(
            [
                "library",
                "(b) executions",
                "wall",
                "/task+shield",
                "(c) executions",
                "wall",
                "/dict+lock",
            ],
            rows,
        )
    )
    notes = [f"  {name}: {c.note}" for name, c in BY_NAME.items() if c.note and name in results]
    notes += [f"  {name}: skipped, {why}" for name, why in skipped.items()]
    errors = [f"  {r.name}: {e}" for r in results.values() for e in r.errors]
    if notes:
        lines += ["", "notes:", *notes]
    if errors:
        lines += ["", "ERRORS (figures of these sections are missing):", *errors]
    lines += ["", "verdict (issue 2 targets, on medians of this run):"]
    judged = verdicts(results, params)
    width = max(len(v.target) for v in judged)
    for v in judged:
        lines.append(f"  {v.outcome:<4}  {v.target.ljust(width)}  {v.detail}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for the smoke test)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of tables"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BY_NAME),
        help="run only these contestants (repeatable; baselines are needed for ratios)",
    )
    parser.add_argument("--worker", choices=sorted(BY_NAME), help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        params = Params(**json.loads(args.params)) if args.params else FULL
        print(json.dumps(asdict(run_worker(args.worker, params))))
        return 0

    params = QUICK if args.quick else FULL
    names = list(dict.fromkeys(args.only or [c.name for c in CONTESTANTS]))
    machine = machine_info()  # before the run: its load average is what the run started in
    results: dict[str, WorkerResult] = {}
    skipped: dict[str, str] = {}
    for name in names:
        why = unavailable_reason(BY_NAME[name])
        if why is not None:
            skipped[name] = why
    for round_no in range(params.rounds):
        for name in names:
            if name in skipped:
                continue
            if not args.json:
                print(
                    f"round {round_no + 1}/{params.rounds}: {name} ...", file=sys.stderr, flush=True
                )
            measured = spawn_worker(name, params)
            results[name] = measured if name not in results else results[name].merged(measured)

    failed = any(r.errors for r in results.values())
    if args.json:
        document = {
            "machine": machine,
            "params": asdict(params),
            "quick": args.quick,
            "results": {name: asdict(r) for name, r in results.items()},
            "skipped": skipped,
            "verdicts": [asdict(v) for v in verdicts(results, params)],
        }
        print(json.dumps(document, indent=2))
    else:
        print(render(machine, results, skipped, params, args.quick))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
