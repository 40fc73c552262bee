"""The eager first step of the asyncio front (bootup.singleflight._eager).

The work's first step runs inside the caller's ``do()``; these tests pin what must still hold
then: the work never runs as the caller's task, it runs in its own copy of the caller's context,
nested flights get their own task, suspended work keeps one task from start to end, and no task
is left behind.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref

import pytest
from sf_helpers import run

from bootup.singleflight import AsyncGroup

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_work_never_runs_as_the_callers_task() -> None:
    async def main() -> None:
        group: AsyncGroup[str, object] = AsyncGroup()
        caller = asyncio.current_task()

        async def sync_work() -> object:
            return asyncio.current_task()

        seen = await group.do("sync", sync_work)
        assert isinstance(seen, asyncio.Task)
        assert seen is not caller

        async def suspending_work() -> object:
            first = asyncio.current_task()
            await asyncio.sleep(0)
            assert asyncio.current_task() is first  # one task from start to end
            return first

        seen = await group.do("suspends", suspending_work)
        assert isinstance(seen, asyncio.Task)
        assert seen is not caller

    run(main)


def test_work_runs_in_a_copy_of_the_callers_context() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        VAR.set("caller")

        async def work() -> str:
            inherited = VAR.get()
            VAR.set("work")  # must not leak into the caller
            await asyncio.sleep(0)
            return inherited + "/" + VAR.get()

        async def sync_work() -> str:
            inherited = VAR.get()
            VAR.set("work")
            return inherited

        assert await group.do("a", work) == "caller/work"
        assert await group.do("b", sync_work) == "caller"
        assert VAR.get() == "caller"

    run(main)


def test_nested_flights_in_a_first_step_get_their_own_task() -> None:
    async def main() -> None:
        group: AsyncGroup[str, tuple[object, object]] = AsyncGroup()

        async def inner() -> tuple[object, object]:
            return asyncio.current_task(), None

        async def outer() -> tuple[object, object]:
            mine = asyncio.current_task()
            nested, _ = await group.do("inner", inner)
            assert asyncio.current_task() is mine  # restored after the nested first step
            return mine, nested

        outer_task, inner_task = await group.do("outer", outer)
        assert outer_task is not inner_task
        assert outer_task is not asyncio.current_task()

    run(main)


def test_no_task_is_left_behind() -> None:
    async def main() -> None:
        group: AsyncGroup[int, int] = AsyncGroup()

        async def echo(x: int) -> int:
            return x

        for i in range(100):
            assert await group.do(i, echo, i) == i
        await asyncio.sleep(0)  # the spare task takes its first step and retires
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert len(group) == 0

    run(main)


def test_work_that_cancels_itself_in_its_first_step() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()

        async def self_cancelling() -> str:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)  # the cancellation lands here
            return "never"

        async def fine() -> str:
            return "fine"

        with pytest.raises(Exception, match="was cancelled") as info:
            await group.do("k", self_cancelling)
        assert isinstance(info.value.__cause__, asyncio.CancelledError)
        # The next flight does not inherit the cancelled task.
        assert await group.do("k", fine) == "fine"

    run(main)


def test_cancel_before_the_adopted_task_first_step() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        cancelled = asyncio.Event()
        gate = asyncio.Event()

        async def work() -> str:
            try:
                await gate.wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "v"

        caller = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)  # do() ran: the work's first step suspended on the gate
        caller.cancel()  # before the work's task took a step of its own
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.wait_for(cancelled.wait(), 30)
        assert len(group) == 0

    run(main)


def test_loop_stopped_right_after_a_call_reports_nothing() -> None:
    """An unadopted spare task left at loop close is not "destroyed while pending" noise."""
    group: AsyncGroup[str, int] = AsyncGroup()
    complaints: list[object] = []
    results: list[int] = []

    async def one() -> int:
        return 1

    async def main() -> None:
        results.append(await group.do("k", one))
        asyncio.get_running_loop().stop()  # the loop ends with this iteration

    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: complaints.append(context))
    try:
        done = loop.create_task(main())
        loop.run_forever()
        assert done.done()
    finally:
        loop.close()
    loop_ref = weakref.ref(loop)
    del loop, done
    gc.collect()
    assert results == [1]
    assert complaints == []
    assert loop_ref() is None  # the group (still alive) does not keep the loop alive
    assert group.stats().executions == 1
