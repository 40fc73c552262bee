"""Fleet-wide singleflight: one execution per key across every process sharing a Redis.

:class:`RedisGroup` (threads) and :class:`AsyncRedisGroup` (asyncio) have the surface of
the local groups (``do``, ``do_ex``, ``do_future``, ``forget``, ``len()``, ``stats()``,
per-caller ``timeout=``). Each is two layers:

* a **local group in front**, so only one caller per process and key talks to Redis;
* the **Redis protocol** (:mod:`._redis_protocol`): a lease taken with ``SET NX PX`` and
  extended while the work runs, the outcome delivered through a per-flight Redis Stream that
  waiters read with ``XREAD BLOCK`` from id 0 (no polling, no missed notification), release
  by compare-and-delete, and takeover by one waiter when a leader dies.

Values cross processes through a pluggable serializer (pickle by default, or JSON); errors
cross as JSON and are rebuilt as the same type when possible, else as :class:`RemoteError`.
When Redis is unreachable the caller gets :class:`RedisUnavailableError`, or, with
``fallback_local=True``, the work runs with local coalescing only.

The key-owner mode (:class:`RedisOwnerGroup`, groupcache's pattern) routes each key to one
node by rendezvous hashing instead (:class:`KeyOwner`), and that node coalesces the fleet's
calls in a local group.

Like every lease without fencing tokens, this buys efficiency, not mutual exclusion: a
leader paused past its lease can overlap with its successor (one extra execution).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, TypeVarTuple

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bootup.errors import NotSupportedError, SingleflightError
from bootup.singleflight._async import AsyncGroup
from bootup.singleflight._call import Result
from bootup.singleflight._owner import KeyOwner, RoutingError
from bootup.singleflight._redis_async import AsyncFlights
from bootup.singleflight._redis_errors import (
    RedisUnavailableError,
    RemoteError,
    SerializationError,
)
from bootup.singleflight._redis_owner import (
    OwnerGroupStatistics,
    OwnerUnavailableError,
    RedisOwnerGroup,
)
from bootup.singleflight._redis_protocol import FlightConfig
from bootup.singleflight._redis_sync import SyncFlights
from bootup.singleflight._serialize import JsonSerializer, PickleSerializer, Serializer
from bootup.singleflight._sync import Group

__all__ = (
    "AsyncRedisGroup",
    "JsonSerializer",
    "KeyOwner",
    "OwnerGroupStatistics",
    "OwnerUnavailableError",
    "PickleSerializer",
    "RedisGroup",
    "RedisGroupStatistics",
    "RedisOwnerGroup",
    "RedisUnavailableError",
    "RemoteError",
    "RoutingError",
    "SerializationError",
    "Serializer",
)

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Ts = TypeVarTuple("Ts")

#: The default prefix of every Redis key the groups write.
DEFAULT_NAMESPACE = "bootup:sf"


@dataclass(frozen=True, slots=True)
class RedisGroupStatistics:
    """A snapshot of one fleet-wide group's counters, for this process.

    Attributes:
        in_flight: keys with a flight in progress in this process (``len(group)``).
        calls: every call that reached the group.
        joins: calls that joined a flight already running in this process.
        flights: flights this process took part in (one Redis conversation each).
        executions: flights whose work ran in this process (it held the lease).
        remote: flights whose outcome came from another process.
        fallbacks: flights run locally because Redis was unreachable (``fallback_local``).
        timeouts: callers that gave up because of their own ``timeout=``.
    """

    in_flight: int
    calls: int
    joins: int
    flights: int
    executions: int
    remote: int
    fallbacks: int
    timeouts: int


class _Tally:
    """Counters of the Redis side; guarded by a lock (threads) or the loop (asyncio)."""

    __slots__ = ("executions", "fallbacks", "flights", "lock", "remote")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.flights = 0
        self.executions = 0
        self.remote = 0
        self.fallbacks = 0

    def add(self, *, remote: bool, fallback: bool = False) -> None:
        with self.lock:
            self.flights += 1
            if fallback:
                self.fallbacks += 1
                self.executions += 1
            elif remote:
                self.remote += 1
            else:
                self.executions += 1


def _resolve_serializer(serializer: Serializer | Literal["pickle", "json"]) -> Serializer:
    if serializer == "pickle":
        return PickleSerializer()
    if serializer == "json":
        return JsonSerializer()
    if isinstance(serializer, str):
        raise SingleflightError(
            f"serializer={serializer!r}: expected 'pickle', 'json' or a Serializer object"
        )
    if not isinstance(serializer, Serializer):
        raise SingleflightError(
            f"serializer {serializer!r} has no name/dumps/loads; expected a Serializer"
        )
    return serializer


def _public_url(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _client_options(lease_ttl: float) -> dict[str, Any]:
    """Options for clients the group builds itself from a URL.

    The socket timeout must outlast the longest blocking read (one lease TTL); retries are
    short, so that an unreachable server is reported within about a second instead of
    redis-py's default ten attempts.
    """
    return {
        "socket_timeout": max(5.0, lease_ttl * 1.5 + 1.0),
        "socket_connect_timeout": 5.0,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
    }


def _socket_timeout(pool_kwargs: dict[str, Any]) -> float | None:
    value = pool_kwargs.get("socket_timeout")
    return None if value is None else float(value)


def _check_client(pool_kwargs: dict[str, Any], group: str) -> None:
    """Refuse a client whose replies the protocol cannot read."""
    if pool_kwargs.get("decode_responses"):
        raise SingleflightError(
            f"{group}: the Redis client has decode_responses=True; expected False (values "
            "cross processes as bytes, and pickled bytes are not text)"
        )


def _refuse_cluster(client: object, group: str) -> None:
    """Redis Cluster clients are a real deployment this module does not handle yet."""
    if type(client).__name__ == "RedisCluster":
        raise NotSupportedError(
            f"{group}: Redis Cluster clients are not supported yet (the keys of one flight "
            "share a hash slot, but the group has not been tested against a cluster)"
        )


def _check_url(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise SingleflightError(
            f"Redis URL {_public_url(url)!r}: expected a redis://, rediss:// or unix:// URL"
        )


class RedisGroup(Generic[K, V]):
    """Duplicate-call suppression for threads across every process that shares a Redis.

    The first caller in the fleet runs ``fn(*args)``; every other caller, in this process or
    any other, waits for that execution and gets its value or its exception. Keys must be
    ``str`` or ``bytes`` (they become part of Redis key names).

    A caller's ``timeout=`` ends only its own wait. The process's flight goes on: its work
    if it leads, or its wait for the leader's outcome, which ends when the leader publishes
    or, if the leader dies, when this process takes over and finishes the work.

    Usage::

        users: RedisGroup[str, dict] = RedisGroup("redis://cache:6379/0", namespace="users")
        user = users.do(f"user:{uid}", load_user, uid, timeout=2.0)

    Args:
        client: a ``redis://`` URL, or a ``redis.Redis`` client (``decode_responses=False``;
            its ``socket_timeout`` bounds how long one blocking read may last).
        namespace: prefix of every Redis key, so that unrelated groups never meet.
        lease_ttl: seconds the leader's lease lives without extension (it is extended every
            third of that while the work runs). A dead leader is replaced within about one
            to two TTLs.
        result_ttl: seconds a published outcome stays readable (at least ``lease_ttl``).
        serializer: ``"pickle"`` (default; trusted processes only), ``"json"``, or an object
            with ``name``, ``dumps`` and ``loads``.
        fallback_local: when Redis is unreachable, run the work with coalescing within this
            process only (logged) instead of raising :class:`RedisUnavailableError`.

    Raises:
        SingleflightError: an option is out of range.
    """

    def __init__(
        self,
        client: str | redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        lease_ttl: float = 10.0,
        result_ttl: float = 60.0,
        serializer: Serializer | Literal["pickle", "json"] = "pickle",
        fallback_local: bool = False,
    ) -> None:
        _refuse_cluster(client, "RedisGroup")
        if isinstance(client, str):
            _check_url(client)
            self.url = _public_url(client)
            self._client = redis.Redis.from_url(client, **_client_options(lease_ttl))
            self._owns_client = True
        elif isinstance(client, redis.Redis):
            _check_client(client.get_connection_kwargs(), "RedisGroup")
            self.url = ""
            self._client = client
            self._owns_client = False
        else:
            raise SingleflightError(
                f"RedisGroup: client {client!r} is a {type(client).__name__}; expected a "
                "redis:// URL or a redis.Redis (use AsyncRedisGroup for redis.asyncio)"
            )
        config = FlightConfig.build(
            lease_ttl=lease_ttl,
            result_ttl=result_ttl,
            socket_timeout=_socket_timeout(self._client.get_connection_kwargs()),
        )
        self.namespace = namespace
        self.fallback_local = fallback_local
        self._flights = SyncFlights(
            self._client,
            namespace=namespace,
            config=config,
            serializer=_resolve_serializer(serializer),
            url=self.url,
        )
        self._local: Group[K, tuple[V, bool]] = Group()
        self._tally = _Tally()

    @property
    def client(self) -> redis.Redis:
        """The redis-py client the group talks through."""
        return self._client

    def _flight(self, key: K, fn: Callable[..., V], args: tuple[Any, ...]) -> tuple[V, bool]:
        """The one Redis conversation of this process for a flight of ``key``."""
        try:
            value, remote = self._flights.run(key, fn, args, {})
        except RedisUnavailableError as exc:
            if not self.fallback_local or exc.operation not in ("join", "wait"):
                raise
            log.warning("singleflight: %s; running %r with local coalescing only", exc, key)
            self._tally.add(remote=False, fallback=True)
            return fn(*args), False
        self._tally.add(remote=remote)
        return value, remote

    def do(self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts, timeout: float | None = None) -> V:
        """Run ``fn(*args)`` once per key in flight across the fleet; return its value.

        Args:
            key: ``str`` or ``bytes`` naming the work, the same in every process.
            fn: the work; called with ``*args`` only (bind keywords with functools.partial).
            *args: positional arguments for ``fn``.
            timeout: seconds this caller waits at most; the shared work goes on.

        Returns:
            The value of this process's execution or of another process's.

        Raises:
            TimeoutError: this caller's ``timeout`` passed first.
            RedisUnavailableError: Redis is unreachable (and ``fallback_local`` is off).
            RemoteError: the work failed in another process with a type unknown here.
            SerializationError: the value does not serialize (names its type).
            Exception: the work's exception, in every process.
        """
        value, _ = self._local.do(key, self._flight, key, fn, args, timeout=timeout)
        return value

    def do_ex(
        self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts, timeout: float | None = None
    ) -> Result[V]:
        """Like :meth:`do`, returning ``Result(value, shared)``.

        ``shared`` is true when the value went to more than one caller of this process, or
        came from another process.
        """
        result = self._local.do_ex(key, self._flight, key, fn, args, timeout=timeout)
        value, remote = result.value
        return Result(value, result.shared or remote)

    def do_future(
        self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts
    ) -> concurrent.futures.Future[V]:
        """Go's ``DoChan``: a ``concurrent.futures.Future`` of the flight's value.

        ``future.result(timeout=...)`` is this caller's own timeout.
        """
        inner = self._local.do_future(key, self._flight, key, fn, args)
        outer: concurrent.futures.Future[V] = concurrent.futures.Future()
        outer.set_running_or_notify_cancel()

        def relay(done: concurrent.futures.Future[tuple[V, bool]]) -> None:
            if done.cancelled():
                outer.set_exception(
                    SingleflightError(f"singleflight: the flight of key {key!r} was cancelled")
                )
                return
            exc = done.exception()
            if exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(done.result()[0])

        inner.add_done_callback(relay)
        return outer

    def forget(self, key: K) -> bool:
        """Let the next caller in this process start a new flight.

        The fleet-wide lease is not touched: the new flight joins the running one in Redis
        if it is still running (this is the only safe choice; another process's lease is
        not ours to delete).
        """
        return self._local.forget(key)

    def __len__(self) -> int:
        return len(self._local)

    def stats(self) -> RedisGroupStatistics:
        """A snapshot of this process's counters."""
        local = self._local.stats()
        tally = self._tally
        with tally.lock:
            return RedisGroupStatistics(
                in_flight=local.in_flight,
                calls=local.calls,
                joins=local.joins,
                flights=tally.flights,
                executions=tally.executions,
                remote=tally.remote,
                fallbacks=tally.fallbacks,
                timeouts=local.timeouts,
            )

    def close(self) -> None:
        """Stop the lease keeper, and close the client if the group created it from a URL."""
        self._flights.close()
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisGroup[K, V]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncRedisGroup(Generic[K, V]):
    """Duplicate-call suppression for asyncio across every process that shares a Redis.

    The asyncio twin of :class:`RedisGroup`: ``await group.do(key, fetch, arg)``. Within the
    process, the flight runs in its own task; a caller's ``timeout=`` or cancellation never
    stops it while other callers wait, and it is cancelled when the last caller leaves (the
    lease is then handed over at once: waiters in other processes take over).

    One group serves one event loop (redis.asyncio connections belong to a loop); using it
    from another loop raises :class:`~bootup.errors.NotSupportedError`.

    Args:
        client: a ``redis://`` URL or a ``redis.asyncio.Redis`` client.
        namespace: prefix of every Redis key.
        lease_ttl: seconds the leader's lease lives without extension.
        result_ttl: seconds a published outcome stays readable (at least ``lease_ttl``).
        serializer: ``"pickle"`` (default), ``"json"`` or a Serializer object.
        fallback_local: on an unreachable Redis, coalesce within this process only.
        detach: keep a flight running when all its callers of this process have left.
    """

    def __init__(
        self,
        client: str | redis.asyncio.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        lease_ttl: float = 10.0,
        result_ttl: float = 60.0,
        serializer: Serializer | Literal["pickle", "json"] = "pickle",
        fallback_local: bool = False,
        detach: bool = False,
    ) -> None:
        _refuse_cluster(client, "AsyncRedisGroup")
        if isinstance(client, str):
            _check_url(client)
            self.url = _public_url(client)
            self._client = redis.asyncio.Redis.from_url(client, **_client_options(lease_ttl))
            self._owns_client = True
        elif isinstance(client, redis.asyncio.Redis):
            _check_client(client.connection_pool.connection_kwargs, "AsyncRedisGroup")
            self.url = ""
            self._client = client
            self._owns_client = False
        else:
            raise SingleflightError(
                f"AsyncRedisGroup: client {client!r} is a {type(client).__name__}; expected "
                "a redis:// URL or a redis.asyncio.Redis (use RedisGroup for redis.Redis)"
            )
        config = FlightConfig.build(
            lease_ttl=lease_ttl,
            result_ttl=result_ttl,
            socket_timeout=_socket_timeout(self._client.connection_pool.connection_kwargs),
        )
        self.namespace = namespace
        self.fallback_local = fallback_local
        self._flights = AsyncFlights(
            self._client,
            namespace=namespace,
            config=config,
            serializer=_resolve_serializer(serializer),
            url=self.url,
        )
        self._local: AsyncGroup[K, tuple[V, bool]] = AsyncGroup(detach=detach)
        self._tally = _Tally()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> redis.asyncio.Redis:
        """The redis-py asyncio client the group talks through."""
        return self._client

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise NotSupportedError(
                "AsyncRedisGroup: this group is bound to the event loop it was first used "
                "on; using it from another event loop is not supported yet (create one group "
                "per loop)"
            )

    async def _flight(
        self, key: K, fn: Callable[..., Awaitable[V]], args: tuple[Any, ...]
    ) -> tuple[V, bool]:
        try:
            value, remote = await self._flights.run(key, fn, args, {})
        except RedisUnavailableError as exc:
            if not self.fallback_local or exc.operation not in ("join", "wait"):
                raise
            log.warning("singleflight: %s; running %r with local coalescing only", exc, key)
            self._tally.add(remote=False, fallback=True)
            return await fn(*args), False
        self._tally.add(remote=remote)
        return value, remote

    async def do(
        self,
        key: K,
        fn: Callable[[*Ts], Awaitable[V]],
        /,
        *args: *Ts,
        timeout: float | None = None,  # noqa: ASYNC109 - this caller's wait, not the work's
    ) -> V:
        """Run ``await fn(*args)`` once per key in flight across the fleet; return its value.

        Raises:
            TimeoutError: this caller's ``timeout`` passed first (the work goes on).
            RedisUnavailableError: Redis is unreachable (and ``fallback_local`` is off).
            RemoteError: the work failed in another process with a type unknown here.
            SerializationError: the value does not serialize (names its type).
            Exception: the work's exception, in every process.
        """
        self._check_loop()
        value, _ = await self._local.do(key, self._flight, key, fn, args, timeout=timeout)
        return value

    async def do_ex(
        self,
        key: K,
        fn: Callable[[*Ts], Awaitable[V]],
        /,
        *args: *Ts,
        timeout: float | None = None,  # noqa: ASYNC109 - this caller's wait, not the work's
    ) -> Result[V]:
        """Like :meth:`do`, returning ``Result(value, shared)``.

        ``shared`` is true when the value went to more than one caller of this process, or
        came from another process.
        """
        self._check_loop()
        result = await self._local.do_ex(key, self._flight, key, fn, args, timeout=timeout)
        value, remote = result.value
        return Result(value, result.shared or remote)

    def do_future(
        self, key: K, fn: Callable[[*Ts], Awaitable[V]], /, *args: *Ts
    ) -> asyncio.Future[V]:
        """An awaitable handle for the flight's value (the caller joins now).

        Cancelling the handle withdraws this caller only; ``asyncio.wait_for(handle, t)`` is
        a per-caller timeout.
        """
        self._check_loop()
        inner = self._local.do_future(key, self._flight, key, fn, args)
        outer: asyncio.Future[V] = asyncio.get_running_loop().create_future()

        def relay(done: asyncio.Future[tuple[V, bool]]) -> None:
            if outer.done():
                return
            if done.cancelled():
                outer.cancel()
            elif (exc := done.exception()) is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(done.result()[0])

        def withdraw(handle: asyncio.Future[V]) -> None:
            if handle.cancelled():
                inner.cancel()

        inner.add_done_callback(relay)
        outer.add_done_callback(withdraw)
        return outer

    def forget(self, key: K) -> bool:
        """Let the next caller in this process start a new flight (see RedisGroup.forget)."""
        return self._local.forget(key)

    def __len__(self) -> int:
        return len(self._local)

    def stats(self) -> RedisGroupStatistics:
        """A snapshot of this process's counters (on the group's event loop)."""
        local, tally = self._local.stats(), self._tally
        with tally.lock:
            return RedisGroupStatistics(
                in_flight=local.in_flight,
                calls=local.calls,
                joins=local.joins,
                flights=tally.flights,
                executions=tally.executions,
                remote=tally.remote,
                fallbacks=tally.fallbacks,
                timeouts=local.timeouts,
            )

    async def aclose(self) -> None:
        """Close the client if the group created it from a URL."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRedisGroup[K, V]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
