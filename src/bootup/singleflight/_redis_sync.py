"""One fleet-wide flight over a blocking redis-py client (the threads side).

:class:`SyncFlights` runs the protocol of :mod:`._redis_protocol` for one key in the
calling thread: join, then either lead (run the work while one keeper thread per group
extends every lease it holds) or wait on the leader's result stream. It knows nothing
about local coalescing: the group in front makes sure only one thread per process and key
gets here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from redis.commands.core import Script

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
from bootup.singleflight._serialize import Serializer, encode_error

__all__ = ("SyncFlights",)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: redis-py errors that mean "Redis is not there (right now)".
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class _Held:
    """One lease that the keeper extends until it is dropped."""

    __slots__ = ("due", "lease", "token")

    def __init__(self, lease: str, token: str, due: float) -> None:
        self.lease = lease
        self.token = token
        self.due = due


class _LeaseKeeper:
    """Extends every lease this process holds, from one daemon thread.

    A thread per flight would cost a thread start on every lead (about a fifth of a short
    flight); one keeper serves them all and sleeps on a condition when nothing is held.
    A lease that turns out to belong to someone else (the leader overran its TTL, e.g. a
    paused process) is logged and dropped: singleflight only promises efficiency, and the
    worst case is one extra execution.
    """

    def __init__(self, flights: SyncFlights) -> None:
        self._flights = flights
        self._cond = threading.Condition(threading.Lock())
        self._held: dict[int, _Held] = {}
        self._thread: threading.Thread | None = None

    def hold(self, lease: str, token: str) -> _Held:
        held = _Held(lease, token, time.monotonic() + self._flights.config.extend_every)
        with self._cond:
            self._held[id(held)] = held
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="singleflight-lease-keeper", daemon=True
                )
                self._thread.start()
            elif len(self._held) == 1:
                self._cond.notify()  # it sleeps without a deadline while nothing is held
        return held

    def drop(self, held: _Held) -> None:
        with self._cond:
            self._held.pop(id(held), None)

    def close(self) -> None:
        """Stop the keeper thread; leases still held stop being extended.

        A later :meth:`hold` starts a new thread, so a closed group that is used again
        still extends its leases.
        """
        with self._cond:
            self._held.clear()
            thread, self._thread = self._thread, None
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        config = self._flights.config
        while True:
            with self._cond:
                if self._thread is not threading.current_thread():
                    return  # closed (and perhaps replaced by a newer keeper thread)
                now = time.monotonic()
                due = [h for h in self._held.values() if h.due <= now]
                if not due:
                    nearest = min((h.due for h in self._held.values()), default=None)
                    self._cond.wait(None if nearest is None else nearest - now)
                    continue
                for held in due:
                    held.due = now + config.extend_every
            for held in due:
                self._extend(held)

    def _extend(self, held: _Held) -> None:
        config = self._flights.config
        try:
            kept = self._flights.extend_script(
                keys=[held.lease], args=[held.token, config.lease_ms]
            )
        except UNAVAILABLE as exc:
            log.warning("singleflight: cannot extend lease %s: %s", held.lease, exc)
            return
        except Exception:  # the keeper must outlive any one bad reply
            log.exception("singleflight: extending lease %s failed", held.lease)
            return
        if not kept:
            self.drop(held)
            log.warning(
                "singleflight: lease %s expired before the work finished; another "
                "process may run it too (raise lease_ttl?)",
                held.lease,
            )


class SyncFlights:
    """Runs fleet-wide flights over one blocking redis-py client.

    Args:
        client: the redis-py client (it must return bytes: ``decode_responses=False``).
        namespace: prefix of every Redis key.
        config: the protocol's timing.
        serializer: encodes values for the other processes.
        url: the server's URL without credentials, for error messages ("" if unknown).
    """

    def __init__(
        self,
        client: redis.Redis,
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
        self.join_script: Script = client.register_script(JOIN_SCRIPT)
        self.extend_script: Script = client.register_script(EXTEND_SCRIPT)
        self.publish_script: Script = client.register_script(PUBLISH_SCRIPT)
        self._keeper = _LeaseKeeper(self)

    def close(self) -> None:
        """Stop extending leases (the client is the caller's to close)."""
        self._keeper.close()

    def _unavailable(self, operation: str, exc: BaseException) -> RedisUnavailableError:
        where = f" at {self.url}" if self.url else ""
        return RedisUnavailableError(
            f"singleflight: Redis{where} is unreachable during {operation}: "
            f"{type(exc).__name__}: {exc}",
            url=self.url,
            operation=operation,
        )

    def run(
        self,
        key: object,
        fn: Callable[..., T],
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
                reply = self.join_script(keys=keys, args=join_args)
            except UNAVAILABLE as exc:
                raise self._unavailable("join", exc) from exc
            if reply[0] == 1:
                return self._lead(names, token, fn, args, kwargs), False
            lease_left = -1
            if reply[0] == 0:
                watched, lease_left = reply[1].decode(), int(reply[2])
            assert watched is not None  # a {2} reply only answers a watched flight
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"singleflight: key {key!r} did not finish in time")
            try:
                answer = self.client.xread(
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

    def _lead(
        self,
        names: KeyNames,
        token: str,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> T:
        held = self._keeper.hold(names.lease, token)
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            self._keeper.drop(held)
            self._publish(names, token, STATUS_ERROR, encode_error(exc, origin=self.origin))
            raise
        except BaseException:
            self._keeper.drop(held)
            self._publish(names, token, STATUS_GONE, b"")
            raise
        self._keeper.drop(held)
        try:
            payload = self.serializer.dumps(value)
        except SerializationError as exc:
            self._publish(names, token, STATUS_ERROR, encode_error(exc, origin=self.origin))
            raise
        self._publish(names, token, STATUS_OK, payload)
        return value

    def _publish(self, names: KeyNames, token: str, status: bytes, payload: bytes) -> None:
        """Deliver the outcome and release the lease; a Redis failure here is only logged.

        The leader's own callers already have the outcome; the other processes will see
        the lease expire and take over, so failing the leader's callers would help no one.
        """
        try:
            self.publish_script(
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
