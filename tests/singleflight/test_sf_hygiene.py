"""Conformance checklist items 13-16 (failure hygiene), for threads and for asyncio.

Peer bugs these pin down (shared/reference/singleflight.md §3.4): tracebacks that grow with
the number of waiters (3,004 frames for 1,000 waiters in oneflight), keys leaked after failures
and cancellations, and re-entrant calls that deadlock instead of failing.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from sf_helpers import DEADLINE_S, Counter, Gate, join_all, run, start_thread, tb_len, wait_until

from bootup.errors import ReentrantCallError
from bootup.singleflight import AsyncGroup, Group


class Boom(Exception):
    pass


class Abort(BaseException):
    pass


#: Frames a waiter may add on top of the work's own traceback: its own do()/wait frames and the
#: test's caller frame. A constant, whatever the number of waiters.
WAITER_FRAMES = 8

# -- 13. 1,000 waiters share one error: bounded tracebacks ---------------------------------------


@pytest.mark.slow
def test_c13_traceback_bounded_threads() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        raise Boom("shared")

    n = 1000
    lengths: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            group.do("k", work)
        except Boom as exc:
            length = tb_len(exc)
            with lock:
                lengths.append(length)
                errors.append(exc)

    first = start_thread(caller)
    started.wait()
    threads = [start_thread(caller) for _ in range(n - 1)]
    wait_until(lambda: group.stats().joins == n - 1, "every caller joined")
    gate.open()
    join_all([first, *threads])
    assert len(errors) == n
    original = errors[0]
    assert all(e is original for e in errors)
    # The work's own frames: work() plus the group's frame that called it.
    assert max(lengths) <= 2 + WAITER_FRAMES, max(lengths)
    # And the shared instance itself did not accumulate the waiters' frames.
    assert tb_len(original) <= 2 + WAITER_FRAMES


def test_c13_traceback_bounded_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()

        async def work() -> str:
            await gate.wait()
            raise Boom("shared")

        n = 1000
        lengths: list[int] = []
        errors: list[BaseException] = []

        async def caller() -> None:
            try:
                await group.do("k", work)
            except Boom as exc:
                lengths.append(tb_len(exc))
                errors.append(exc)

        tasks = [asyncio.create_task(caller()) for _ in range(n)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks)
        assert len(errors) == n
        assert all(e is errors[0] for e in errors)
        assert max(lengths) <= 2 + WAITER_FRAMES, max(lengths)
        assert tb_len(errors[0]) <= 2 + WAITER_FRAMES

    run(main, debug=False)  # thousands of flights: see sf_helpers.run


def test_c13_future_tracebacks_bounded_threads() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        raise Boom("shared")

    futures = [group.do_future("k", work)]
    started.wait()
    futures += [group.do_future("k", work) for _ in range(199)]
    gate.open()
    lengths = []
    for future in futures:
        with pytest.raises(Boom) as info:
            future.result(DEADLINE_S)
        lengths.append(tb_len(info.value))
    assert max(lengths) <= 2 + WAITER_FRAMES, max(lengths)


# -- 14. no key leaks after failures and cancellations -------------------------------------------


def test_c14_no_leak_after_failures_threads() -> None:
    group: Group[int, int] = Group()

    def fail(exc: BaseException) -> int:
        raise exc

    for i in range(1000):
        with pytest.raises(Boom):
            group.do(i, fail, Boom())
    for i in range(1000):
        with pytest.raises(Abort):
            group.do(i, fail, Abort())
    assert len(group) == 0
    assert group.stats().errors == 2000


def test_c14_no_leak_after_failures_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[int, int] = AsyncGroup()

        async def fail(exc: BaseException) -> int:
            raise exc

        async def forever() -> int:
            await asyncio.Event().wait()
            return 0

        for i in range(1000):
            with pytest.raises(Boom):
                await group.do(i, fail, Boom())
        for i in range(1000):
            with pytest.raises(Abort):
                await group.do(i, fail, Abort())
        # 1,000 leaders cancelled right after their first scheduling step.
        tasks = [asyncio.create_task(group.do(i, forever)) for i in range(1000)]
        await asyncio.sleep(0)
        assert len(group) == 1000
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert len(group) == 0
        # The cancelled work really ended (no task left behind).
        await asyncio.sleep(0)
        assert all(t.done() for t in asyncio.all_tasks() if t is not asyncio.current_task())

    run(main, debug=False)  # thousands of flights: see sf_helpers.run


# -- 15. a re-entrant call on the same key fails clearly -----------------------------------------


def test_c15_reentrant_call_raises_threads() -> None:
    group: Group[str, str] = Group()

    def work() -> str:
        return group.do("k", work)

    with pytest.raises(ReentrantCallError, match="re-entrant singleflight call: key 'k'"):
        group.do("k", work)
    assert len(group) == 0
    # Also through a future: the work runs on another thread, and its call chain still knows.
    future = group.do_future("k", work)
    with pytest.raises(ReentrantCallError):
        future.result(DEADLINE_S)


def test_c15_reentrant_call_raises_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()

        async def same_task() -> str:
            return await group.do("k", same_task)

        with pytest.raises(ReentrantCallError, match="key 'k'"):
            await asyncio.wait_for(group.do("k", same_task), DEADLINE_S)

        async def task_chain() -> str:
            # A child task of the work: it inherits the work's context, so it is on the chain.
            return await asyncio.create_task(group.do("k2", task_chain))

        with pytest.raises(ReentrantCallError, match="key 'k2'"):
            await asyncio.wait_for(group.do("k2", task_chain), DEADLINE_S)
        assert len(group) == 0

    run(main)


def test_c15_unrelated_caller_still_joins_asyncio() -> None:
    """The re-entrancy mark follows the work's call chain only, not the group or the loop."""

    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()

        async def work() -> str:
            await gate.wait()
            return "v"

        leader = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        other = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        gate.set()
        assert await leader == await other == "v"
        assert group.stats().executions == 1

    run(main)


# -- 16. a different key inside fn works -----------------------------------------------------


def test_c16_nested_different_key_threads() -> None:
    group: Group[str, str] = Group()
    calls = Counter()

    def inner() -> str:
        calls.bump()
        return "inner"

    def outer() -> str:
        return "outer+" + group.do("inner", inner)

    assert group.do("outer", outer) == "outer+inner"
    assert calls.value == 1
    assert len(group) == 0


def test_c16_nested_different_key_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()

        async def inner() -> str:
            await asyncio.sleep(0)
            return "inner"

        async def outer() -> str:
            return "outer+" + await group.do("inner", inner)

        assert await group.do("outer", outer) == "outer+inner"
        assert len(group) == 0

    run(main)


def test_c16_nested_flight_joined_by_outsiders_threads() -> None:
    """A nested flight can be joined by callers outside it while the outer flight waits."""
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()

    def inner() -> str:
        started.open()
        gate.wait()
        return "inner"

    def outer() -> str:
        return group.do("inner", inner)

    results: list[str] = []
    t1 = start_thread(lambda: results.append(group.do("outer", outer)))
    started.wait()
    t2 = start_thread(lambda: results.append(group.do("inner", inner)))
    wait_until(lambda: group.stats().joins == 1, "the outsider joined the inner flight")
    gate.open()
    join_all([t1, t2])
    assert sorted(results) == ["inner", "inner"]
