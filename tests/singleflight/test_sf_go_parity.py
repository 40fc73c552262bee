"""Conformance checklist items 1-12 (Go parity), for threads and for asyncio.

Go's tests are ported by behaviour (TestDo, TestDoErr, TestDoDupSuppress, TestForget,
TestDoChan, TestPanicDo, TestGoexitDo, TestPanicDoSharedByDoChan, TestPanicErrorUnwrap,
ExampleGroup); see shared/reference/singleflight.md §1.3 and §7.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest
from sf_helpers import Counter, Gate, join_all, run, start_thread, wait_until

from bootup.singleflight import AsyncGroup, Group, Result


class Boom(Exception):
    pass


class Abort(BaseException):
    """A BaseException subclass, as Go's Goexit/panic stand-in (not KeyboardInterrupt)."""


# -- 1. do returns fn's value ---------------------------------------------------------------


def test_c01_do_returns_value_threads() -> None:
    group: Group[str, int] = Group()
    assert group.do("k", lambda x: x * 2, 21) == 42
    assert len(group) == 0


def test_c01_do_returns_value_asyncio() -> None:
    async def double(x: int) -> int:
        return x * 2

    async def main() -> int:
        group: AsyncGroup[str, int] = AsyncGroup()
        value = await group.do("k", double, 21)
        assert len(group) == 0
        return value

    assert run(main) == 42


# -- 2. fn's exception propagates, no value ----------------------------------------------------


def test_c02_error_propagates_threads() -> None:
    group: Group[str, int] = Group()

    def fail() -> int:
        raise Boom("bad")

    with pytest.raises(Boom, match="bad"):
        group.do("k", fail)
    assert len(group) == 0
    assert group.stats().errors == 1


def test_c02_error_propagates_asyncio() -> None:
    async def fail() -> int:
        raise Boom("bad")

    async def main() -> None:
        group: AsyncGroup[str, int] = AsyncGroup()
        with pytest.raises(Boom, match="bad"):
            await group.do("k", fail)
        assert len(group) == 0
        assert group.stats().errors == 1

    run(main)


# -- 3. N concurrent callers: one execution, one object ----------------------------------------


def test_c03_dup_suppress_threads() -> None:
    group: Group[str, object] = Group()
    gate, calls = Gate(), Counter()
    value = object()

    def work() -> object:
        calls.bump()
        gate.wait()
        return value

    n = 20
    results: list[object] = []
    lock = threading.Lock()

    def caller() -> None:
        got = group.do("k", work)
        with lock:
            results.append(got)

    leader = start_thread(caller)
    wait_until(lambda: calls.value == 1, "the leader runs the work")
    joiners = [start_thread(caller) for _ in range(n - 1)]
    wait_until(lambda: group.stats().joins == n - 1, "every caller joined")
    gate.open()
    join_all([leader, *joiners])
    assert calls.value == 1
    assert len(results) == n
    assert all(r is value for r in results)
    assert len(group) == 0


def test_c03_dup_suppress_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, object] = AsyncGroup()
        gate = asyncio.Event()
        calls = 0
        value = object()

        async def work() -> object:
            nonlocal calls
            calls += 1
            await gate.wait()
            return value

        n = 1000
        tasks = [asyncio.create_task(group.do("k", work)) for _ in range(n)]
        await asyncio.sleep(0)  # every task reaches its wait; the work starts
        assert group.stats().joins == n - 1
        gate.set()
        results = await asyncio.gather(*tasks)
        assert calls == 1
        assert all(r is value for r in results)
        assert len(group) == 0

    run(main)


# -- 4. TestForget (golang/go#31420) -----------------------------------------------------------


def test_c04_forget_timeline_threads() -> None:
    group: Group[str, int] = Group()
    ev1, ev2, started1, started2 = Gate(), Gate(), Gate(), Gate()
    f3_called = Counter()

    def f1() -> int:
        started1.open()
        ev1.wait()
        return 1

    def f2() -> int:
        started2.open()
        ev2.wait()
        return 2

    def f3() -> int:
        f3_called.bump()
        return 3

    first = group.do_future("k", f1)
    started1.wait()
    joiner1 = group.do_future("k", f1)  # #1's waiter
    assert group.forget("k") is True
    second = group.do_future("k", f2)
    started2.wait()
    ev1.open()
    assert first.result(30) == 1
    assert joiner1.result(30) == 1
    assert len(group) == 1  # #1 finishing did not remove #2
    third = group.do_future("k", f3)
    ev2.open()
    assert second.result(30) == 2
    assert third.result(30) == 2
    assert f3_called.value == 0
    assert group.stats().executions == 2


def test_c04_forget_timeline_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, int] = AsyncGroup()
        ev1, ev2 = asyncio.Event(), asyncio.Event()
        f3_calls = 0

        async def f1() -> int:
            await ev1.wait()
            return 1

        async def f2() -> int:
            await ev2.wait()
            return 2

        async def f3() -> int:
            nonlocal f3_calls
            f3_calls += 1
            return 3

        first = asyncio.create_task(group.do("k", f1))
        joiner1 = asyncio.create_task(group.do("k", f1))
        await asyncio.sleep(0)
        assert group.forget("k") is True
        second = asyncio.create_task(group.do("k", f2))
        await asyncio.sleep(0)
        ev1.set()
        assert await first == 1
        assert await joiner1 == 1
        assert len(group) == 1
        third = asyncio.create_task(group.do("k", f3))
        await asyncio.sleep(0)
        ev2.set()
        assert await second == 2
        assert await third == 2
        assert f3_calls == 0
        assert group.stats().executions == 2

    run(main)


# -- 5. forget of an unknown key; forget never cancels work -----------------------------------


def test_c05_forget_unknown_and_never_cancels_threads() -> None:
    group: Group[str, str] = Group()
    assert group.forget("nothing") is False
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        return "done"

    future = group.do_future("k", work)
    started.wait()
    assert group.forget("k") is True
    assert group.forget("k") is False
    gate.open()
    assert future.result(30) == "done"
    assert len(group) == 0


def test_c05_forget_unknown_and_never_cancels_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        assert group.forget("nothing") is False
        gate = asyncio.Event()
        cancelled = False

        async def work() -> str:
            nonlocal cancelled
            try:
                await gate.wait()
            except asyncio.CancelledError:
                cancelled = True
                raise
            return "done"

        task = asyncio.create_task(group.do("k", work))
        await asyncio.sleep(0)
        assert group.forget("k") is True
        assert group.forget("k") is False
        gate.set()
        assert await task == "done"
        assert not cancelled
        assert len(group) == 0

    run(main)


# -- 6. a finished flight never deletes a newer flight's entry ----------------------------------


def test_c06_no_stale_delete_threads() -> None:
    group: Group[str, int] = Group()
    old_gate, old_started, new_gate, new_started = Gate(), Gate(), Gate(), Gate()
    calls = Counter()

    def old() -> int:
        calls.bump()
        old_started.open()
        old_gate.wait()
        return 1

    def new() -> int:
        calls.bump()
        new_started.open()
        new_gate.wait()
        return 2

    old_future = group.do_future("k", old)
    old_started.wait()
    group.forget("k")
    new_future = group.do_future("k", new)
    new_started.wait()
    old_gate.open()
    assert old_future.result(30) == 1
    # The old flight is gone; the new one must still be in the table and joinable.
    assert len(group) == 1
    joined = group.do_future("k", old)
    new_gate.open()
    assert new_future.result(30) == 2
    assert joined.result(30) == 2
    assert calls.value == 2


def test_c06_no_stale_delete_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, int] = AsyncGroup()
        old_gate, new_gate = asyncio.Event(), asyncio.Event()
        calls = 0

        async def old() -> int:
            nonlocal calls
            calls += 1
            try:
                await old_gate.wait()
            finally:
                await asyncio.sleep(0)  # a slow finally, like the cacheflight probe
            return 1

        async def new() -> int:
            nonlocal calls
            calls += 1
            await new_gate.wait()
            return 2

        old_task = asyncio.create_task(group.do("k", old))
        await asyncio.sleep(0)
        group.forget("k")
        new_task = asyncio.create_task(group.do("k", new))
        await asyncio.sleep(0)
        old_gate.set()
        assert await old_task == 1
        assert len(group) == 1
        joined = asyncio.create_task(group.do("k", old))
        await asyncio.sleep(0)
        new_gate.set()
        assert await new_task == 2
        assert await joined == 2
        assert calls == 2

    run(main)


# -- 7. the future API resolves to the value ------------------------------------------------


def test_c07_do_future_threads() -> None:
    group: Group[str, str] = Group()
    future = group.do_future("k", lambda: "bar")
    assert isinstance(future, Future)
    assert future.result(timeout=30) == "bar"
    wait_until(lambda: len(group) == 0, "the flight left the table")


def test_c07_do_future_asyncio() -> None:
    async def bar() -> str:
        return "bar"

    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        handle = group.do_future("k", bar)
        assert isinstance(handle, asyncio.Future)
        assert await handle == "bar"
        assert len(group) == 0

    run(main)


# -- 8. fn raises: every waiter raises, none hangs, key released, next call re-executes ---------


def test_c08_error_reaches_every_waiter_threads() -> None:
    group: Group[str, str] = Group()
    gate = Gate()
    calls = Counter()

    def work() -> str:
        if calls.bump() == 1:
            gate.wait()
            raise Boom("first execution fails")
        return "ok"

    errors: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            group.do("k", work)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [start_thread(caller)]
    wait_until(lambda: calls.value == 1, "the leader runs the work")
    threads += [start_thread(caller) for _ in range(4)]
    wait_until(lambda: group.stats().joins == 4, "four callers joined")
    gate.open()
    join_all(threads)
    assert len(errors) == 5
    assert all(e is errors[0] for e in errors)
    assert isinstance(errors[0], Boom)
    assert len(group) == 0
    assert group.do("k", work) == "ok"
    assert calls.value == 2


def test_c08_error_reaches_every_waiter_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()
        calls = 0

        async def work() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                await gate.wait()
                raise Boom("first execution fails")
            return "ok"

        tasks = [asyncio.create_task(group.do("k", work)) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        async with asyncio.timeout(30):
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, Boom) for o in outcomes)
        assert all(o is outcomes[0] for o in outcomes)
        assert len(group) == 0
        assert await group.do("k", work) == "ok"
        assert calls == 2

    run(main)


# -- 9. a BaseException subclass ---------------------------------------------------------------


def test_c09_base_exception_threads() -> None:
    group: Group[str, str] = Group()
    gate = Gate()
    calls = Counter()

    def work() -> str:
        if calls.bump() == 1:
            gate.wait()
            raise Abort("stop")
        return "ok"

    outcomes: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            group.do("k", work)
        except BaseException as exc:
            with lock:
                outcomes.append(exc)

    threads = [start_thread(caller)]
    wait_until(lambda: calls.value == 1, "the leader runs the work")
    threads += [start_thread(caller) for _ in range(3)]
    wait_until(lambda: group.stats().joins == 3, "three callers joined")
    gate.open()
    join_all(threads)
    assert len(outcomes) == 4
    assert all(isinstance(o, Abort) and o is outcomes[0] for o in outcomes)
    assert len(group) == 0
    assert group.do("k", work) == "ok"


def test_c09_base_exception_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()
        calls = 0

        async def work() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                await gate.wait()
                raise Abort("stop")
            return "ok"

        tasks = [asyncio.create_task(group.do("k", work)) for _ in range(4)]
        await asyncio.sleep(0)
        gate.set()
        outcomes = []
        for task in tasks:
            with pytest.raises(Abort) as info:
                await task
            outcomes.append(info.value)
        assert all(o is outcomes[0] for o in outcomes)
        assert len(group) == 0
        assert await group.do("k", work) == "ok"

    run(main)


# -- 10. a future joiner of a leader that raises ------------------------------------------------


def test_c10_future_joiner_gets_leaders_error_threads() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()
    joiner_fn_calls = Counter()

    def leader_fn() -> str:
        started.open()
        gate.wait()
        raise Boom("leader failed")

    def joiner_fn() -> str:
        joiner_fn_calls.bump()
        return "never"

    errors: list[BaseException] = []

    def lead() -> None:
        try:
            group.do("k", leader_fn)
        except Boom as exc:
            errors.append(exc)

    leader = start_thread(lead)
    started.wait()
    future = group.do_future("k", joiner_fn)
    gate.open()
    join_all([leader])
    exc = future.exception(timeout=30)
    assert isinstance(exc, Boom)
    assert exc is errors[0]
    with pytest.raises(Boom):
        future.result()
    assert joiner_fn_calls.value == 0


def test_c10_future_joiner_gets_leaders_error_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()
        joiner_calls = 0

        async def leader_fn() -> str:
            await gate.wait()
            raise Boom("leader failed")

        async def joiner_fn() -> str:
            nonlocal joiner_calls
            joiner_calls += 1
            return "never"

        leader = asyncio.create_task(group.do("k", leader_fn))
        await asyncio.sleep(0)
        handle = group.do_future("k", joiner_fn)
        gate.set()
        with pytest.raises(Boom) as leader_info:
            await leader
        with pytest.raises(Boom) as joiner_info:
            await handle
        assert joiner_info.value is leader_info.value
        assert joiner_calls == 0

    run(main)


# -- 11. except OriginalType catches the shared error --------------------------------------


class LookupFailed(KeyError):
    pass


def test_c11_original_type_is_caught_threads() -> None:
    group: Group[str, str] = Group()
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        raise LookupFailed("user 7")

    caught: list[BaseException] = []

    def caller() -> None:
        try:
            group.do("k", work)
        except LookupFailed as exc:  # the original type, not a wrapper
            caught.append(exc)

    threads = [start_thread(caller)]
    started.wait()
    threads += [start_thread(caller) for _ in range(3)]
    wait_until(lambda: group.stats().joins == 3, "three callers joined")
    gate.open()
    join_all(threads)
    assert len(caught) == 4
    assert all(isinstance(e, KeyError) for e in caught)


def test_c11_original_type_is_caught_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()

        async def work() -> str:
            await gate.wait()
            raise LookupFailed("user 7")

        caught: list[BaseException] = []

        async def caller() -> None:
            try:
                await group.do("k", work)
            except LookupFailed as exc:
                caught.append(exc)

        tasks = [asyncio.create_task(caller()) for _ in range(4)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks)
        assert len(caught) == 4

    run(main)


# -- 12. the shared flag (ExampleGroup) ---------------------------------------------------------


def test_c12_shared_flag_threads() -> None:
    group: Group[str, str] = Group()
    assert group.do_ex("k", lambda: "v") == Result("v", False)  # alone
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        return "func 1"

    results: dict[str, Result[str]] = {}
    leader = start_thread(lambda: results.__setitem__("leader", group.do_ex("k", work)))
    started.wait()
    joiner = start_thread(lambda: results.__setitem__("joiner", group.do_ex("k", lambda: "f2")))
    wait_until(lambda: group.stats().joins == 1, "the joiner joined")
    future_joiner = group.do_future_ex("k", lambda: "f3")
    gate.open()
    join_all([leader, joiner])
    assert results["leader"] == Result("func 1", True)
    assert results["joiner"] == Result("func 1", True)
    assert future_joiner.result(30) == Result("func 1", True)
    # A future leader's flag is computed when the flight completes: True once someone joined.
    gate2, started2 = Gate(), Gate()

    def work2() -> str:
        started2.open()
        gate2.wait()
        return "x"

    future_leader = group.do_future_ex("k2", work2)
    started2.wait()
    late = group.do_future_ex("k2", work2)
    gate2.open()
    assert future_leader.result(30) == Result("x", True)
    assert late.result(30) == Result("x", True)
    assert group.do_future_ex("k3", lambda: "y").result(30) == Result("y", False)


def test_c12_shared_flag_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()

        async def quick() -> str:
            return "v"

        assert await group.do_ex("k", quick) == Result("v", False)
        gate = asyncio.Event()

        async def work() -> str:
            await gate.wait()
            return "func 1"

        leader = asyncio.create_task(group.do_ex("k", work))
        await asyncio.sleep(0)
        joiner = asyncio.create_task(group.do_ex("k", quick))
        handle = group.do_future_ex("k", quick)
        await asyncio.sleep(0)
        gate.set()
        assert await leader == Result("func 1", True)
        assert await joiner == Result("func 1", True)
        assert await handle == Result("func 1", True)
        lone = group.do_future_ex("k2", quick)
        assert await lone == Result("v", False)

    run(main)
