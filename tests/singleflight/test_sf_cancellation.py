"""Conformance checklist items 17-24: cancellation and timeouts (A = asyncio, T = threads).

The peers' bugs (shared/reference/singleflight.md §3.3-§3.4): a cancelled leader poisons its
joiners with CancelledError or None; one joiner's timeout kills the shared work; the work
outlives every caller; a cancelled caller's CancelledError is swallowed.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from sf_helpers import (
    DEADLINE_S,
    Counter,
    Gate,
    await_until,
    join_all,
    run,
    start_thread,
    wait_until,
)

from bootup.singleflight import AsyncGroup, FlightCancelledError, Group


class Work:
    """An asyncio work function gated by an event, recording how it ended."""

    def __init__(self, value: str = "v1") -> None:
        self.gate = asyncio.Event()
        self.value = value
        self.calls = 0
        self.completed = 0
        self.cancelled = 0
        self.task: asyncio.Task[object] | None = None

    async def __call__(self) -> str:
        self.calls += 1
        self.task = asyncio.current_task()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.completed += 1
        return self.value


# -- 17. a cancelled leader never poisons its joiners ------------------------------------------


def test_c17_leader_cancel_does_not_poison_joiners() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        leader = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        joiners = [asyncio.create_task(group.do("k", work)) for _ in range(3)]
        await asyncio.sleep(0)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        work.gate.set()
        assert await asyncio.gather(*joiners) == ["v1"] * 3
        assert (work.calls, work.completed, work.cancelled) == (1, 1, 0)
        assert len(group) == 0
        fresh = Work("v2")
        fresh.gate.set()
        assert await group.do("k", fresh) == "v2"

    run(main)


def test_c17_work_timeout_and_taskgroup_bind_to_the_work() -> None:
    """The work's own asyncio.timeout() and TaskGroup belong to the work, not to its leader."""

    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()
        leader_task: asyncio.Task[str] | None = None
        seen: dict[str, object] = {}

        async def child() -> str:
            await gate.wait()
            return "child"

        async def work() -> str:
            seen["task"] = asyncio.current_task()
            async with asyncio.timeout(DEADLINE_S):  # bound to current_task() at entry
                async with asyncio.TaskGroup() as tg:  # parent task fixed at entry
                    part = tg.create_task(child())
                    seen["entered"] = True
            return part.result()

        leader_task = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        joiner = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        assert seen["task"] is not leader_task
        leader_task.cancel()  # must not reach the work's TaskGroup or timeout
        with pytest.raises(asyncio.CancelledError):
            await leader_task
        gate.set()
        assert await joiner == "child"
        assert group.stats().executions == 1

    run(main)


def test_c17_work_own_timeout_reaches_callers_as_timeout() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()

        async def work() -> str:
            async with asyncio.timeout(0):
                await asyncio.Event().wait()
            return "never"

        results = await asyncio.gather(
            group.do("k", work), group.do("k", work), return_exceptions=True
        )
        assert all(isinstance(r, TimeoutError) for r in results)
        assert results[0] is results[1]
        assert len(group) == 0

    run(main)


# -- 18. one joiner cancelled: the others and the work go on -----------------------------------


def test_c18_joiner_cancel_leaves_work_alone() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        leader = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        doomed = asyncio.create_task(group.do("k", work))
        other = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        work.gate.set()
        assert await leader == "v1"
        assert await other == "v1"
        assert (work.calls, work.completed, work.cancelled) == (1, 1, 0)

    run(main)


# -- 19. every caller cancelled: the work is cancelled and the key released -------------------


def test_c19_all_callers_cancelled_cancels_work() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        tasks = [asyncio.create_task(group.do("k", work)) for _ in range(2)]
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with pytest.raises(asyncio.CancelledError):
                await task
        assert len(group) == 0  # released at once, before the work has even unwound
        assert work.task is not None
        await asyncio.wait([work.task])
        assert (work.completed, work.cancelled) == (0, 1)
        # The next call starts a new flight.
        fresh = Work("v2")
        fresh.gate.set()
        assert await group.do("k", fresh) == "v2"
        assert group.stats().executions == 2

    run(main)  # run() fails on "exception never retrieved" and "Task was destroyed"


def test_c19_new_caller_never_joins_a_cancelled_flight() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        slow_exit = asyncio.Event()

        async def stubborn() -> str:
            try:
                await asyncio.Event().wait()
            finally:
                await slow_exit.wait()  # takes its time to unwind after cancellation
            return "never"

        first = asyncio.create_task(group.do("k", stubborn))
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        fresh = Work("v2")
        fresh.gate.set()
        second = asyncio.create_task(group.do("k", fresh))
        assert await second == "v2"
        slow_exit.set()
        await asyncio.sleep(0)
        assert len(group) == 0

    run(main)


# -- 20. detach=True: the work completes even if every caller leaves ---------------------------


def test_c20_detach_keeps_work_running() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup(detach=True)
        work = Work()
        first = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert len(group) == 1  # still in flight
        late = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        work.gate.set()
        assert await late == "v1"
        assert (work.calls, work.completed, work.cancelled) == (1, 1, 0)
        assert len(group) == 0

    run(main)


# -- 21. timeout= on a joiner ---------------------------------------------------------------


def test_c21_joiner_timeout_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        leader = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError, match=r"timeout of 0\.01 s"):
            await group.do("k", work, timeout=0.01)
        other = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        work.gate.set()
        assert await leader == "v1"
        assert await other == "v1"
        assert (work.calls, work.completed, work.cancelled) == (1, 1, 0)
        assert group.stats().timeouts == 1

    run(main)


def test_c21_lone_caller_timeout_cancels_work_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        with pytest.raises(TimeoutError):
            await group.do("k", work, timeout=0)
        assert work.task is not None
        await asyncio.wait([work.task])
        assert work.cancelled == 1
        assert len(group) == 0

    run(main)


def test_c21_joiner_timeout_threads() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()
    calls = Counter()

    def work() -> str:
        calls.bump()
        started.open()
        gate.wait()
        return "v1"

    results: list[str] = []
    leader = start_thread(lambda: results.append(group.do("k", work)))
    started.wait()
    with pytest.raises(TimeoutError, match=r"timeout of 0\.01 s"):
        group.do("k", work, timeout=0.01)
    other = start_thread(lambda: results.append(group.do("k", work)))
    wait_until(lambda: group.stats().joins == 2, "the second joiner joined")
    gate.open()
    join_all([leader, other])
    assert results == ["v1", "v1"]
    assert calls.value == 1
    assert group.stats().timeouts == 1


def test_c21_leader_timeout_threads() -> None:
    """A leader with timeout= runs the work on another thread and can stop waiting."""
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        return "v1"

    with pytest.raises(TimeoutError):
        group.do("k", work, timeout=0)
    started.wait()
    assert len(group) == 1  # the work goes on
    future = group.do_future("k", work)
    gate.open()
    assert future.result(DEADLINE_S) == "v1"
    assert group.stats().executions == 1


def test_c21_future_result_timeout_threads() -> None:
    group: Group[str, str] = Group()
    gate = Gate()

    def work() -> str:
        gate.wait()
        return "v1"

    future = group.do_future("k", work)
    with pytest.raises(TimeoutError):
        future.result(timeout=0.01)
    joined = group.do_future("k", work)
    assert joined.cancel()  # withdraws only this caller
    gate.open()
    assert future.result(DEADLINE_S) == "v1"
    assert joined.cancelled()


# -- 22. wait_for / asyncio.timeout around do -------------------------------------------------


def test_c22_wait_for_and_timeout_around_do() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        leader = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(group.do("k", work), 0.01)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await group.do("k", work)
        handle = group.do_future("k", work)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(handle, 0.01)
        assert handle.cancelled()
        work.gate.set()
        assert await leader == "v1"
        assert (work.calls, work.completed, work.cancelled) == (1, 1, 0)

    run(main)


def test_c22_leader_wrapped_in_wait_for_does_not_cancel_work_for_joiners() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        leader = asyncio.create_task(asyncio.wait_for(group.do("k", work), 0.01))
        await asyncio.sleep(0)
        joiner = asyncio.create_task(group.do("k", work))
        with pytest.raises(TimeoutError):
            await leader
        work.gate.set()
        assert await joiner == "v1"
        assert work.cancelled == 0

    run(main)


# -- 23. the caller's CancelledError is re-raised as itself -------------------------------------


def test_c23_cancelled_error_is_the_callers_own() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        observed: dict[str, object] = {}

        async def caller() -> None:
            try:
                await group.do("k", work)
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                assert task is not None
                observed["args"] = exc.args
                observed["cancelling"] = task.cancelling()
                raise

        task = asyncio.create_task(caller())
        await asyncio.sleep(0)
        task.cancel("my reason")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert observed == {"args": ("my reason",), "cancelling": 1}

        async def timed() -> int:
            other = Work()
            keeper = asyncio.create_task(group.do("k2", other))  # keeps the flight alive
            await asyncio.sleep(0)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await group.do("k2", other)
            current = asyncio.current_task()
            assert current is not None
            other.gate.set()
            assert await keeper == "v1"
            return current.cancelling()  # asyncio.timeout() uncancelled its own request

        assert await timed() == 0
        work.gate.set()
        await asyncio.sleep(0)

    run(main)


def test_c23_work_cancelled_from_outside_gives_flight_cancelled_error() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        work = Work()
        callers = [asyncio.create_task(group.do("k", work)) for _ in range(2)]
        await await_until(lambda: work.task is not None, "the work started")
        assert work.task is not None
        work.task.cancel()  # neither caller's own cancellation
        for caller in callers:
            with pytest.raises(FlightCancelledError) as info:
                await caller
            assert isinstance(info.value.__cause__, asyncio.CancelledError)
            assert info.value.key == "k"
        assert len(group) == 0

    run(main)


# -- 24. a thread leader raising KeyboardInterrupt -----------------------------------------------


def test_c24_keyboard_interrupt_in_thread_leader() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        raise KeyboardInterrupt

    outcomes: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            group.do("k", work)
        except BaseException as exc:
            with lock:
                outcomes.append(exc)

    threads = [start_thread(caller)]
    started.wait()
    threads += [start_thread(caller) for _ in range(3)]
    wait_until(lambda: group.stats().joins == 3, "three callers joined")
    gate.open()
    join_all(threads)
    assert len(outcomes) == 4
    assert all(isinstance(o, KeyboardInterrupt) and o is outcomes[0] for o in outcomes)
    assert len(group) == 0
    assert group.do("k", lambda: "ok") == "ok"
