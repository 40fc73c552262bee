"""One fleet-wide flight over an asyncio redis-py client (the asyncio side).

The same protocol as :mod:`._redis_sync`, with the lease extension in a task instead of a
thread. Cancellation is part of the protocol: a leader whose work is cancelled publishes
"gone" (so the waiters of other processes take over at once instead of waiting out the
lease), and a waiter cancelled in ``XREAD BLOCK`` just leaves (redis-py drops that
connection).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis.asyncio
from redis.commands.core import AsyncScript

from bootup.singleflight._redis_errors import RedisUnavailableError, SerializationError
from bootup.singleflight._redis_protocol import (
    EXTEND_SCRIPT,
    JOIN_GONE,
    JOIN_SCRIPT,
    JOIN_WATCH,
    PUBLISH_SCRIPT,
    STATUS_ERROR,
    STATUS_GONE,
    STATUS_OK,
    FlightConfig,
    KeyNames,
    decode_entry,
    first_entry_fields,
    new_token,
    origin,
)
from bootup.singleflight._redis_sync import UNAVAILABLE
from bootup.singleflight._serialize import Serializer, encode_error

__all__ = ("AsyncFlights",)

log = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncFlights:
    """Runs fleet-wide flights over one asyncio redis-py client.

    Args:
        client: the ``redis.asyncio`` client (``decode_responses=False``).
        namespace: prefix of every Redis key.
        config: the protocol's timing.
        serializer: encodes values for the other processes.
        url: the server's URL without credentials, for error messages ("" if unknown).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        namespace: str,
        config: FlightConfig,
        serializer: Serializer,
        url: str = "",
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.config = config
        self.serializer = serializer
        self.url = url
        self.origin = origin()
        self.join_script: AsyncScript = client.register_script(JOIN_SCRIPT)
        self.extend_script: AsyncScript = client.register_script(EXTEND_SCRIPT)
        self.publish_script: AsyncScript = client.register_script(PUBLISH_SCRIPT)

    def _unavailable(self, operation: str, exc: BaseException) -> RedisUnavailableError:
        where = f" at {self.url}" if self.url else ""
        return RedisUnavailableError(
            f"singleflight: Redis{where} is unreachable during {operation}: "
            f"{type(exc).__name__}: {exc}",
            url=self.url,
            operation=operation,
        )

    async def run(
        self,
        key: object,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> tuple[T, bool]:
        """Run or join the flight of ``key``; return ``(value, came_from_another_process)``.

        Raises:
            TimeoutError: ``deadline`` (a ``time.monotonic()`` instant) passed first.
            RedisUnavailableError: Redis failed while joining or waiting.
            Exception: the work's own exception, rebuilt when it came from another process.
        """
        names = KeyNames.of(self.namespace, key)
        watched: str | None = None
        mode = JOIN_WATCH
        while True:
            token = new_token()
            keys, join_args = names.join_call(token, watched, mode, self.config)
            mode = JOIN_WATCH
            try:
                reply = await self.join_script(keys=keys, args=join_args)
            except UNAVAILABLE as exc:
                raise self._unavailable("join", exc) from exc
            if reply[0] == 1:
                return await self._lead(names, token, fn, args, kwargs), False
            lease_left = -1
            if reply[0] == 0:
                watched, lease_left = reply[1].decode(), int(reply[2])
            assert watched is not None  # a {2} reply only answers a watched flight
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"singleflight: key {key!r} did not finish in time")
            try:
                answer = await self.client.xread(
                    {names.stream(watched): "0"},
                    count=1,
                    block=self.config.block_ms(remaining, lease_left),
                )
            except UNAVAILABLE as exc:
                raise self._unavailable("wait", exc) from exc
            fields = first_entry_fields(answer)
            if fields is None:
                continue  # the read timed out: join again (the leader may have died)
            outcome = decode_entry(fields, self.serializer)
            if outcome.status == STATUS_OK:
                return outcome.value, True  # type: ignore[return-value]
            if outcome.status == STATUS_ERROR:
                assert outcome.error is not None
                raise outcome.error
            assert outcome.status == STATUS_GONE
            mode = JOIN_GONE  # the leader gave up: join again, without rereading its stream

    async def _lead(
        self,
        names: KeyNames,
        token: str,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> T:
        extender = _Extender(self, names.lease, token)
        try:
            value = await fn(*args, **kwargs)
        except Exception as exc:
            extender.stop()
            await self._publish(names, token, STATUS_ERROR, encode_error(exc, origin=self.origin))
            raise
        except BaseException:
            extender.stop()
            # Shielded, so that a second cancellation cannot stop the hand-over half-way.
            await asyncio.shield(self._publish(names, token, STATUS_GONE, b""))
            raise
        extender.stop()
        try:
            payload = self.serializer.dumps(value)
        except SerializationError as exc:
            await self._publish(names, token, STATUS_ERROR, encode_error(exc, origin=self.origin))
            raise
        await self._publish(names, token, STATUS_OK, payload)
        return value

    async def _publish(self, names: KeyNames, token: str, status: bytes, payload: bytes) -> None:
        """Deliver the outcome and release the lease; a Redis failure here is only logged."""
        try:
            await self.publish_script(
                keys=[names.lease, names.stream(token)],
                args=[
                    token,
                    self.config.result_ms,
                    status,
                    self.serializer.name,
                    payload,
                    self.origin,
                ],
            )
        except redis.exceptions.RedisError as exc:  # any failure: the callers have the outcome
            log.warning(
                "singleflight: could not publish the outcome of %s: %s; other processes "
                "will take over after the lease expires",
                names.lease,
                exc,
            )


class _Extender:
    """Extends one lease every third of its TTL while the work runs.

    A timer, not a task: most flights end long before the first extension is due, and a
    cancelled timer costs nothing, where a task per flight costs a few loop iterations to
    start, cancel and reap. When the timer fires, one short task runs the extend script and
    arms the next timer.
    """

    def __init__(self, flights: AsyncFlights, lease: str, token: str) -> None:
        self._flights = flights
        self._lease = lease
        self._token = token
        self._stopped = False
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(flights.config.extend_every, self._fire)
        self._task: asyncio.Task[None] | None = None

    def _fire(self) -> None:
        if not self._stopped:
            self._task = self._loop.create_task(self._extend())

    async def _extend(self) -> None:
        config = self._flights.config
        try:
            kept = await self._flights.extend_script(
                keys=[self._lease], args=[self._token, config.lease_ms]
            )
        except redis.exceptions.RedisError as exc:
            kept = 1  # keep trying: Redis may be back before the lease runs out
            log.warning("singleflight: cannot extend lease %s: %s", self._lease, exc)
        if self._stopped:
            return  # the flight ended meanwhile (and may have released the lease)
        if not kept:
            log.warning(
                "singleflight: lease %s expired before the work finished; another "
                "process may run it too (raise lease_ttl?)",
                self._lease,
            )
            return
        self._timer = self._loop.call_later(config.extend_every, self._fire)

    def stop(self) -> None:
        """Stop extending; an extension already on the wire finishes on its own."""
        self._stopped = True
        self._timer.cancel()
