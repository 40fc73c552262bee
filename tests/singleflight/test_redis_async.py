"""AsyncRedisGroup against a real redis-server.

Two groups with their own clients stand for two processes (Redis cannot tell them apart);
the multi-process runs, with asyncio workers among them, are in ``test_redis_fleet.py``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from redis_server import RedisServer, redis_server

from bootup.errors import NotSupportedError, ReentrantCallError, SingleflightError
from bootup.singleflight._redis import AsyncRedisGroup
from bootup.singleflight._redis_errors import RedisUnavailableError, SerializationError

pytestmark = pytest.mark.redis
__all__ = ("redis_server",)

LONG_TTL = 30.0


class Env:
    """Groups on one server and namespace, plus a raw client to observe the server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ns = f"a-{uuid.uuid4().hex[:10]}"
        self.raw = redis.asyncio.Redis.from_url(url)
        self.groups: list[AsyncRedisGroup[str, Any]] = []

    def group(self, **options: Any) -> AsyncRedisGroup[str, Any]:
        options.setdefault("lease_ttl", LONG_TTL)
        group: AsyncRedisGroup[str, Any] = AsyncRedisGroup(self.url, namespace=self.ns, **options)
        self.groups.append(group)
        return group

    async def blocked_readers(self, count: int) -> None:
        """Wait until ``count`` clients are blocked in XREAD (an observable server state)."""
        for _ in range(3000):
            clients = await self.raw.client_list()
            if sum(1 for c in clients if c.get("cmd") == "xread" and "b" in c["flags"]) == count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never saw {count} blocked readers")

    async def xreads(self) -> int:
        stats = await self.raw.info("commandstats")
        return int(stats.get("cmdstat_xread", {}).get("calls", 0))

    async def close(self) -> None:
        for group in self.groups:
            await group.aclose()
        await self.raw.aclose()


class Gate:
    """An async backend that counts executions and waits until released."""

    def __init__(self, value: Any = "v") -> None:
        self.value = value
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        return self.value


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


def test_value_coalesced_within_and_across_groups(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a, b = env.group(), env.group()
            gate = Gate({"n": 1})
            ta = [asyncio.create_task(a.do_ex("k", gate)) for _ in range(10)]
            await gate.started.wait()
            tb = [asyncio.create_task(b.do_ex("k", gate)) for _ in range(10)]
            await env.blocked_readers(1)
            gate.release.set()
            results = await asyncio.gather(*ta, *tb)
            assert [r.value for r in results] == [{"n": 1}] * 20
            assert all(r.shared for r in results)
            assert gate.calls == 1
            assert (a.stats().executions, b.stats().remote, b.stats().joins) == (1, 1, 9)
            assert len(a) == len(b) == 0
            alone = await a.do_ex("solo", _released("x"))
            assert (alone.value, alone.shared) == ("x", False)
            assert await a.do_future("f", _released("y")) == "y"
        finally:
            await env.close()

    run(main)


def _released(value: Any) -> Gate:
    gate = Gate(value)
    gate.release.set()
    return gate


def test_lease_extension_keeps_a_long_async_flight_exclusive(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a, b = (
                env.group(lease_ttl=0.4, result_ttl=5.0),
                env.group(lease_ttl=0.4, result_ttl=5.0),
            )
            gate = Gate("long")
            ta = asyncio.create_task(a.do("k", gate))
            await gate.started.wait()
            before = await env.xreads()
            tb = asyncio.create_task(b.do("k", gate))
            # Outlive the lease several times (inherent): b re-reads every TTL or so and
            # finds a's lease extended each time.
            for _ in range(3000):
                if await env.xreads() >= before + 4:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("b never re-read the stream")
            assert gate.calls == 1
            gate.release.set()
            assert (await ta, await tb) == ("long", "long")
            assert gate.calls == 1
        finally:
            await env.close()

    run(main)


def test_error_reaches_other_group_as_same_type(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a, b = env.group(), env.group()
            release = asyncio.Event()

            async def fail() -> Any:
                await release.wait()
                raise PermissionError(13, "no entry")

            ta = asyncio.create_task(a.do("k", fail))
            await asyncio.sleep(0)
            tb = asyncio.create_task(b.do("k", fail))
            await env.blocked_readers(1)
            release.set()
            for task in (ta, tb):
                with pytest.raises(PermissionError) as info:
                    await task
                assert (info.value.errno, info.value.strerror) == (13, "no entry")
        finally:
            await env.close()

    run(main)


def test_cancelled_leader_hands_over_at_once(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a, b = env.group(), env.group()
            stuck = Gate("never")
            ta = asyncio.create_task(a.do("k", stuck))
            await stuck.started.wait()
            successor = Gate("from b")
            successor.release.set()
            tb = asyncio.create_task(b.do("k", successor, timeout=10))
            await env.blocked_readers(1)
            ta.cancel()  # a's only caller leaves: its flight is cancelled and says so
            with pytest.raises(asyncio.CancelledError):
                await ta
            # b would otherwise wait out a 30 s lease; its 10 s timeout would fire first.
            assert await tb == "from b"
            assert (stuck.calls, successor.calls) == (1, 1)
            assert len(a) == 0
        finally:
            await env.close()

    run(main)


def test_one_caller_leaving_does_not_stop_the_flight(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a = env.group()
            gate = Gate("kept")
            leader = asyncio.create_task(a.do("k", gate))
            await gate.started.wait()
            quitter = asyncio.create_task(a.do("k", gate))
            impatient = asyncio.create_task(a.do("k", gate, timeout=0.05))
            await asyncio.sleep(0)
            quitter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await quitter
            with pytest.raises(TimeoutError):
                await impatient
            gate.release.set()
            assert await leader == "kept"
            assert gate.calls == 1
            assert a.stats().timeouts == 1
        finally:
            await env.close()

    run(main)


def test_per_caller_timeout_across_groups(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a, b = env.group(), env.group()
            gate = Gate("late")
            ta = asyncio.create_task(a.do("k", gate))
            await gate.started.wait()
            with pytest.raises(TimeoutError):
                await b.do("k", gate, timeout=0.2)
            patient = asyncio.create_task(b.do("k", gate))
            await env.blocked_readers(1)
            gate.release.set()
            assert (await ta, await patient) == ("late", "late")
            assert gate.calls == 1
        finally:
            await env.close()

    run(main)


def test_serializer_mismatch_is_reported(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a, b = env.group(serializer="pickle"), env.group(serializer="json")
            gate = Gate([1, 2])
            ta = asyncio.create_task(a.do("k", gate))
            await gate.started.wait()
            tb = asyncio.create_task(b.do("k", gate))
            await env.blocked_readers(1)
            gate.release.set()
            assert await ta == [1, 2]
            with pytest.raises(SerializationError, match="same serializer"):
                await tb
        finally:
            await env.close()

    run(main)


def test_reentrant_call_is_refused(redis_server: RedisServer) -> None:
    async def main() -> None:
        env = Env(redis_server.url)
        try:
            a = env.group()

            async def inner() -> int:
                return 2

            async def outer() -> int:
                return int(await a.do("k", outer))

            async def nested() -> int:
                return int(await a.do("other", inner))

            with pytest.raises(ReentrantCallError):
                await a.do("k", outer)
            assert await a.do("k2", nested) == 2
        finally:
            await env.close()

    run(main)


def test_second_event_loop_is_not_supported(redis_server: RedisServer) -> None:
    group: AsyncRedisGroup[str, str] = AsyncRedisGroup(
        redis_server.url, namespace=f"l-{uuid.uuid4().hex[:8]}"
    )

    async def first() -> None:
        assert await group.do("k", _released("v").__call__) == "v"

    async def second() -> None:
        with pytest.raises(NotSupportedError, match="event loop"):
            await group.do("k", _released("v").__call__)

    async def close() -> None:
        await group.client.connection_pool.disconnect()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(first())
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                asyncio.run(second())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(30)
        assert not errors, errors
        loop.run_until_complete(close())
    finally:
        loop.close()


def test_unreachable_redis(redis_server: RedisServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        strict: AsyncRedisGroup[str, str] = AsyncRedisGroup(f"redis://127.0.0.1:{port}/0")
        lenient: AsyncRedisGroup[str, str] = AsyncRedisGroup(
            f"redis://127.0.0.1:{port}/0", fallback_local=True
        )
        try:
            with pytest.raises(RedisUnavailableError) as info:
                await strict.do("k", _released("v").__call__)
            assert isinstance(info.value, ConnectionError)
            assert isinstance(info.value, SingleflightError)
            assert str(port) in str(info.value)
            gate = Gate("local")
            tasks = [asyncio.create_task(lenient.do("k", gate)) for _ in range(5)]
            await gate.started.wait()
            gate.release.set()
            assert await asyncio.gather(*tasks) == ["local"] * 5
            assert gate.calls == 1
            assert lenient.stats().fallbacks == 1
        finally:
            await strict.aclose()
            await lenient.aclose()

    run(main)


def test_wrong_client_type_is_refused() -> None:
    import redis as sync_redis

    with pytest.raises(SingleflightError, match=r"redis\.asyncio"):
        AsyncRedisGroup(sync_redis.Redis())  # type: ignore[arg-type]
