"""The public surface: exports, bad input, the decorator (item 30), rate control, statistics."""

from __future__ import annotations

import ast
import asyncio
import functools
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sf_helpers import DEADLINE_S, Gate, run

import bootup.singleflight as sf
from bootup.errors import SingleflightError
from bootup.singleflight import AsyncGroup, Group, GroupStatistics, Result

T = TypeVar("T")


async def announced(call: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start ``call`` in a task and return once it has entered the group (ordering by an event).

    The task sets an event and then, in the same step, awaits ``call``, whose first step (up to
    its first suspension, where it waits on the flight) enters the group's table. The caller,
    woken by the event, can only resume after that step: so when this returns, the call has
    started or joined its flight, with no assumption about how many loop turns that takes.
    """
    entered = asyncio.Event()

    async def enter_then_await() -> T:
        entered.set()
        return await call

    task = asyncio.create_task(enter_then_await())
    await entered.wait()
    return task


# -- the public API ----------------------------------------------------------------------------


def test_public_api_names_have_docstrings_and_public_module() -> None:
    assert isinstance(sf.__all__, tuple)
    local = [n for n in sf.__all__ if n not in {"RedisGroup", "AsyncRedisGroup", "RemoteError"}]
    for name in local:
        obj = getattr(sf, name)
        assert obj.__doc__, f"{name} needs a docstring"
        if name != "ReentrantCallError":  # lives in bootup.errors, re-exported
            assert obj.__module__ == "bootup.singleflight", (name, obj.__module__)
    for cls in (Group, AsyncGroup):
        for attr, member in vars(cls).items():
            if not attr.startswith("_") and callable(member):
                assert member.__doc__, f"{cls.__name__}.{attr} needs a docstring"


def test_thread_and_asyncio_fronts_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")}

    assert public(Group) == public(AsyncGroup)
    for name in public(Group):
        sync_params = list(inspect.signature(getattr(Group, name)).parameters)
        async_params = list(inspect.signature(getattr(AsyncGroup, name)).parameters)
        assert sync_params == async_params, name


def test_importing_the_package_does_not_import_redis() -> None:
    code = "import sys, bootup.singleflight; print('redis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_lazy_redis_names_resolve_when_redis_is_installed() -> None:
    pytest.importorskip("redis")
    module_file = Path(sf.__file__).with_name("_redis.py")
    if not module_file.exists():
        pytest.skip("bootup.singleflight._redis is not written yet")
    for name in ("RedisGroup", "AsyncRedisGroup", "RemoteError"):
        assert getattr(sf, name) is getattr(
            importlib.import_module("bootup.singleflight._redis"), name
        )


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sf.Nope  # noqa: B018


def test_result_is_frozen() -> None:
    result = Result(1, False)
    with pytest.raises(AttributeError):
        result.value = 2  # type: ignore[misc]


# -- bad input -------------------------------------------------------------------------------


def test_unhashable_key_names_its_type_threads() -> None:
    group: Group[object, int] = Group()
    with pytest.raises(TypeError, match="key must be hashable, got list"):
        group.do([1, 2], lambda: 1)
    with pytest.raises(TypeError, match="got tuple"):
        group.do((1, [2]), lambda: 1)
    assert len(group) == 0


def test_unhashable_key_names_its_type_asyncio() -> None:
    async def one() -> int:
        return 1

    async def main() -> None:
        group: AsyncGroup[object, int] = AsyncGroup()
        with pytest.raises(TypeError, match="key must be hashable, got dict"):
            await group.do({}, one)
        assert len(group) == 0

    run(main)


def test_non_callable_fn_is_a_type_error() -> None:
    group: Group[str, int] = Group()
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        group.do("k", 5)  # type: ignore[arg-type]

    async def main() -> None:
        agroup: AsyncGroup[str, int] = AsyncGroup()
        with pytest.raises(TypeError, match="fn must be callable"):
            await agroup.do("k", None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must return an awaitable"):
            await agroup.do("k", lambda: 5)  # type: ignore[arg-type, return-value]
        assert len(agroup) == 0

    run(main)


@pytest.mark.parametrize("bad", [-1, float("nan"), "1"])
def test_bad_timeouts_and_intervals_are_rejected(bad: object) -> None:
    error = TypeError if isinstance(bad, str) else ValueError
    with pytest.raises(error, match="timeout"):
        Group[str, int]().do("k", lambda: 1, timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(error, match="forget_after"):
        AsyncGroup(forget_after=bad)  # type: ignore[arg-type]


def test_forget_outside_a_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        AsyncGroup[str, int]().forget("k")


def test_reentrant_error_is_a_singleflight_error() -> None:
    assert issubclass(sf.ReentrantCallError, SingleflightError)
    assert issubclass(sf.FlightCancelledError, SingleflightError)


def test_async_group_accepts_any_awaitable() -> None:
    async def main() -> None:
        group: AsyncGroup[str, int] = AsyncGroup()
        loop = asyncio.get_running_loop()

        def make_future() -> asyncio.Future[int]:
            future: asyncio.Future[int] = loop.create_future()
            loop.call_soon(future.set_result, 7)
            return future

        assert await group.do("k", make_future) == 7

    run(main)


def test_keyword_arguments_through_partial() -> None:
    def greet(name: str, *, punctuation: str = ".") -> str:
        return f"hello {name}{punctuation}"

    group: Group[str, str] = Group()
    assert group.do("k", functools.partial(greet, punctuation="!"), "bob") == "hello bob!"


# -- 30. the decorator -----------------------------------------------------------------------


def test_c30_decorator_threads() -> None:
    group: Group[object, str] = Group()
    gate, started = Gate(), Gate()
    calls: list[tuple[int, str]] = []

    @group.coalesce()
    def load(uid: int, *, suffix: str = "") -> str:
        """Load a user."""
        calls.append((uid, suffix))
        if uid == 1:
            started.open()
            gate.wait()
        return f"user{uid}{suffix}"

    assert load.__wrapped__ is not None  # type: ignore[attr-defined]
    assert load.__name__ == "load"
    assert load.__doc__ == "Load a user."
    assert inspect.signature(load) == inspect.signature(load.__wrapped__)  # type: ignore[attr-defined]
    assert not inspect.iscoroutinefunction(load)
    first = group.do_future("other", lambda: "x")
    assert first.result(DEADLINE_S) == "x"
    future = group.do_future("side", lambda: load(1))
    started.wait()
    assert load(2, suffix="!") == "user2!"
    joined = group.do_future("side2", lambda: load(1))
    gate.open()
    assert future.result(DEADLINE_S) == "user1"
    assert joined.result(DEADLINE_S) == "user1"
    assert calls.count((1, "")) == 1


def test_c30_decorator_asyncio_methods_key_and_noself() -> None:
    group: AsyncGroup[object, str] = AsyncGroup()

    class Repo:
        def __init__(self, name: str) -> None:
            self.name = name
            self.calls = 0
            self.gate = asyncio.Event()
            self.entered = asyncio.Event()

        @group.coalesce(key=lambda uid: ("user", uid), noself=True)
        async def fetch(self, uid: int) -> str:
            """Fetch a user."""
            self.calls += 1
            self.entered.set()
            await self.gate.wait()
            return f"{self.name}:{uid}"

        @group.coalesce()
        async def per_instance(self, uid: int) -> str:
            self.calls += 1
            self.entered.set()
            await self.gate.wait()
            return f"{self.name}/{uid}"

    assert inspect.iscoroutinefunction(Repo.fetch)
    assert Repo.fetch.__doc__ == "Fetch a user."
    assert list(inspect.signature(Repo.fetch).parameters) == ["self", "uid"]
    assert Repo.fetch.__wrapped__ is not None  # type: ignore[attr-defined]

    async def main() -> None:
        a, b = Repo("a"), Repo("b")
        # noself: two instances share one flight per uid.
        t1 = asyncio.create_task(a.fetch(1))
        await a.entered.wait()
        t2 = await announced(b.fetch(1))
        assert group.stats().joins == 1
        a.gate.set()
        assert await t1 == await t2 == "a:1"
        assert (a.calls, b.calls) == (1, 0)
        # Default key includes self: instances do not share.
        a.calls = 0
        a.gate, b.gate = asyncio.Event(), asyncio.Event()
        a.entered, b.entered = asyncio.Event(), asyncio.Event()
        calls = [asyncio.create_task(a.per_instance(2))]
        await a.entered.wait()
        calls.append(asyncio.create_task(b.per_instance(2)))
        await b.entered.wait()
        calls.append(await announced(a.per_instance(2)))
        assert group.stats().joins == 2
        a.gate.set()
        b.gate.set()
        assert await asyncio.gather(*calls) == ["a/2", "b/2", "a/2"]
        assert (a.calls, b.calls) == (1, 1)

    run(main)


def test_c30_noself_without_arguments_is_a_clear_error() -> None:
    group: Group[object, int] = Group()

    @group.coalesce(noself=True)
    def nothing() -> int:
        return 1

    with pytest.raises(TypeError, match="noself=True"):
        nothing()


# -- rate control (forget_after), forget_unshared, statistics ---------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_forget_after_threads() -> None:
    clock = FakeClock()
    group: Group[str, str] = Group(forget_after=0.01, clock=clock)
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        return "old"

    first = group.do_future("k", work)
    started.wait()
    joined = group.do_future("k", lambda: "never")  # within the interval: joins
    clock.now += 0.01
    assert len(group) == 0  # past the interval, no longer offered to new callers
    assert group.do("k", lambda: "new") == "new"  # a new execution, while the old one runs
    gate.open()
    assert first.result(DEADLINE_S) == joined.result(DEADLINE_S) == "old"
    s = group.stats()
    assert (s.executions, s.joins, s.forgets) == (2, 1, 1)


def test_forget_after_asyncio() -> None:
    async def main() -> None:
        clock = FakeClock()
        group: AsyncGroup[str, str] = AsyncGroup(forget_after=0.01, clock=clock)
        gate = asyncio.Event()

        started = asyncio.Event()

        async def slow() -> str:
            started.set()
            await gate.wait()
            return "old"

        async def fast() -> str:
            return "new"

        first = asyncio.create_task(group.do("k", slow))
        await started.wait()
        joined = await announced(group.do("k", fast))
        assert group.stats().joins == 1
        clock.now += 0.02
        assert await group.do("k", fast) == "new"
        gate.set()
        assert await first == await joined == "old"
        assert group.stats().executions == 2

    run(main)


def test_forget_unshared() -> None:
    group: Group[str, str] = Group()
    assert group.forget_unshared("unknown") is True  # Go: forgotten or unknown
    gate, started = Gate(), Gate()

    def work() -> str:
        started.open()
        gate.wait()
        return "v"

    lone = group.do_future("lone", work)
    started.wait()
    assert group.forget_unshared("lone") is True
    assert len(group) == 0
    gate2, started2 = Gate(), Gate()

    def work2() -> str:
        started2.open()
        gate2.wait()
        return "w"

    shared = [group.do_future("shared", work2)]
    started2.wait()
    shared.append(group.do_future("shared", work2))
    assert group.forget_unshared("shared") is False
    assert len(group) == 1
    gate.open()
    gate2.open()
    assert lone.result(DEADLINE_S) == "v"
    assert [f.result(DEADLINE_S) for f in shared] == ["w", "w"]


def test_forget_unshared_asyncio() -> None:
    async def main() -> None:
        group: AsyncGroup[str, str] = AsyncGroup()
        gate = asyncio.Event()
        started = {"a": asyncio.Event(), "b": asyncio.Event()}

        async def work(key: str) -> str:
            started[key].set()
            await gate.wait()
            return "v"

        assert group.forget_unshared("unknown") is True
        one = asyncio.create_task(group.do("a", work, "a"))
        two = [asyncio.create_task(group.do("b", work, "b"))]
        await started["a"].wait()
        await started["b"].wait()
        two.append(await announced(group.do("b", work, "b")))
        assert group.stats().joins == 1
        assert group.forget_unshared("a") is True
        assert group.forget_unshared("b") is False
        assert len(group) == 1
        gate.set()
        assert await one == "v"
        assert await asyncio.gather(*two) == ["v", "v"]

    run(main)


def test_stats_and_repr() -> None:
    group: Group[str, int] = Group()
    assert group.stats() == GroupStatistics(0, 0, 0, 0, 0, 0, 0)
    group.do("k", lambda: 1)
    with pytest.raises(ZeroDivisionError):
        group.do("k", lambda: 1 // 0)
    s = group.stats()
    assert (s.calls, s.executions, s.errors, s.in_flight) == (2, 2, 1, 0)
    assert repr(group) == (
        "<bootup.singleflight.Group in_flight=0 calls=2 executions=2 joins=0 errors=1>"
    )
    assert repr(AsyncGroup(detach=True)).startswith("<bootup.singleflight.AsyncGroup detach ")


def test_the_core_is_io_free() -> None:
    """_call.py is the shared, IO-free core: no asyncio, threads or sockets in it."""
    spec = importlib.util.find_spec("bootup.singleflight._call")
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"asyncio", "threading", "socket", "selectors", "concurrent"}
