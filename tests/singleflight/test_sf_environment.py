"""Conformance checklist items 25-28: event loops, threads and mixed callers.

Item 25: one AsyncGroup used from two threads, each running its own event loop. Flights are
per loop by design (bootup.singleflight._async docstring), so each loop gets its own execution,
no RuntimeError ("attached to a different loop"), and no lost wake-up: each joiner is woken by
its own loop, so both finish as soon as their work does (the peers' lost wake-up left a joiner
waiting for its own 2 s timer; here a lost wake-up would hang until DEADLINE_S and fail).

Item 26 (hybrid): a thread caller and an asyncio caller share one execution through the
thread ``Group``, which asyncio code reaches with ``asyncio.to_thread``.

Item 28 (free-threaded CPython): 3.13t is not installed here. The thread front takes its lock
around every read and write of the table and of a flight's shared fields, and hands outcomes
over through ``threading.Event``/futures, so it does not rely on the GIL making dict operations
atomic; the thread tests below run unchanged there.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
import weakref

from sf_helpers import DEADLINE_S, Counter, Gate, join_all, run, start_thread, wait_until

from bootup.singleflight import AsyncGroup, Group

# -- 25. one AsyncGroup, two loops in two threads ---------------------------------------------


def test_c25_two_loops_in_two_threads() -> None:
    group: AsyncGroup[str, str] = AsyncGroup()
    barrier = threading.Barrier(2)
    calls = Counter()
    outcomes: dict[int, object] = {}
    both_waiting = threading.Barrier(2)

    def thread_main(index: int) -> None:
        async def main() -> None:
            gate = asyncio.Event()

            async def work() -> str:
                calls.bump()
                await gate.wait()
                return f"loop {index}"

            barrier.wait(DEADLINE_S)
            leader = asyncio.create_task(group.do("k", work))
            joiner = asyncio.create_task(group.do("k", work))
            await asyncio.sleep(0)
            # Both loops have a flight for "k" now; neither may see the other's.
            await asyncio.to_thread(both_waiting.wait, DEADLINE_S)
            gate.set()
            results = await asyncio.wait_for(asyncio.gather(leader, joiner), DEADLINE_S)
            outcomes[index] = results

        try:
            run(main)
        except BaseException as exc:
            outcomes[index] = exc

    threads = [start_thread(functools.partial(thread_main, i)) for i in range(2)]
    join_all(threads)
    assert outcomes == {0: ["loop 0", "loop 0"], 1: ["loop 1", "loop 1"]}
    assert calls.value == 2
    stats = group.stats()
    assert (stats.executions, stats.joins, stats.in_flight) == (2, 2, 0)


def test_c25_sequential_loops_in_one_thread() -> None:
    """asyncio.run twice on one group: the second loop starts clean."""
    group: AsyncGroup[str, int] = AsyncGroup()

    async def one() -> int:
        return 1

    async def main() -> int:
        return await group.do("k", one)

    assert run(main) == 1
    assert run(main) == 1
    assert group.stats().executions == 2


# -- 26. hybrid: thread caller and asyncio caller share one execution --------------------------


def test_c26_thread_and_asyncio_callers_share_through_group() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()
    calls = Counter()

    def work() -> str:
        calls.bump()
        started.open()
        gate.wait()
        return "shared"

    results: list[str] = []
    thread = start_thread(lambda: results.append(group.do("k", work)))
    started.wait()

    async def main() -> str:
        waiting = asyncio.create_task(asyncio.to_thread(group.do, "k", work))
        await asyncio.to_thread(wait_until, lambda: group.stats().joins == 1, "joined")
        gate.open()
        return await waiting

    assert run(main) == "shared"
    join_all([thread])
    assert results == ["shared"]
    assert calls.value == 1


def test_finished_loops_are_not_kept_alive_by_the_group() -> None:
    """The group maps loops to tables weakly: a loop that asyncio.run closed can be freed."""
    group: AsyncGroup[str, int] = AsyncGroup()
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def one() -> int:
        return 1

    async def suspending() -> int:
        await asyncio.sleep(0)
        return 2

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        assert await group.do("sync", one) == 1
        assert await group.do("async", suspending) == 2

    for _ in range(3):
        run(main)
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]
    assert group.stats().executions == 6
