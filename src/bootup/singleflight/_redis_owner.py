"""Key-owner mode: every call for a key runs on that key's owner node (groupcache's pattern).

Instead of a lease, the fleet agrees from the node list alone which node owns a key
(:class:`~._owner.KeyOwner`, rendezvous hashing), and every node sends its calls for that
key to the owner, which coalesces them in a local group: one execution per key across the
fleet while the owner is up, and no lease round trips on the owner itself.

The transport is Redis Streams, which the fleet already shares: each node serves an inbox
stream ``<ns>:inbox:{node}``; a caller adds (``XADD``) a request naming a *registered handler*
(functions never cross the wire, only their names and arguments) and blocks in ``XREAD``
on its private reply stream until the owner answers or the caller's timeout passes.
Requests that wait in the inbox while the owner is down are served when it comes back
(unless the callers gave up); a caller whose owner never answers gets
:class:`OwnerUnavailableError` at its deadline.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import redis

from bootup.errors import SingleflightError
from bootup.singleflight._call import GroupStatistics
from bootup.singleflight._owner import KeyOwner
from bootup.singleflight._redis_errors import RedisUnavailableError, SerializationError
from bootup.singleflight._redis_protocol import (
    STATUS_ERROR,
    STATUS_OK,
    decode_entry,
    first_entry_fields,
    new_token,
    origin,
    redis_key_text,
)
from bootup.singleflight._redis_sync import UNAVAILABLE
from bootup.singleflight._serialize import (
    JsonSerializer,
    PickleSerializer,
    Serializer,
    encode_error,
)
from bootup.singleflight._sync import Group

__all__ = ("OwnerGroupStatistics", "OwnerUnavailableError", "RedisOwnerGroup")

log = logging.getLogger(__name__)

V = TypeVar("V")

#: How long the inbox reader blocks per read (close() wakes it with a stop entry).
_SERVE_BLOCK_MS = 5000


@dataclass(frozen=True, slots=True)
class OwnerGroupStatistics:
    """Counters of a :class:`RedisOwnerGroup` on this node.

    Attributes:
        owned: the local group that runs the keys this node owns (``executions`` is how
            often a handler ran here).
        asked: the local group that coalesces this node's calls to other owners.
    """

    owned: GroupStatistics
    asked: GroupStatistics


class OwnerUnavailableError(SingleflightError, TimeoutError):
    """The key's owner node did not answer before the caller's deadline.

    Attributes:
        owner: the node that owns the key.
        key: the key of the call.
    """

    def __init__(self, message: str, *, owner: str, key: object) -> None:
        super().__init__(message)
        self.owner = owner
        self.key = key


class RedisOwnerGroup(Generic[V]):
    """Routes each key to its owner node; the owner runs the work once for the whole fleet.

    Every node creates the group with the same ``nodes`` and its own ``self_node``,
    registers the same handlers, and calls :meth:`serve` to answer the calls it owns.

    Usage::

        group = RedisOwnerGroup("redis://cache:6379/0", nodes=NODES, self_node=ME)
        group.register("user", load_user)
        group.serve()
        user = group.do(f"user:{uid}", "user", uid, timeout=2.0)

    Args:
        client: a ``redis://`` URL or a ``redis.Redis`` client (``decode_responses=False``).
        nodes: every node's name; the same list on every node.
        self_node: this node's name (one of ``nodes``).
        namespace: prefix of every Redis key.
        serializer: for arguments and values: ``"pickle"`` (default, trusted nodes only),
            ``"json"``, or a Serializer object.
        result_ttl: seconds a reply stream lives (a caller reads it at once).
        request_timeout: the deadline of a call that passes no ``timeout=``.
        workers: how many owned calls this node runs at the same time.
    """

    def __init__(
        self,
        client: str | redis.Redis,
        *,
        nodes: Iterable[str],
        self_node: str,
        namespace: str = "bootup:sf",
        serializer: Serializer | Literal["pickle", "json"] = "pickle",
        result_ttl: float = 60.0,
        request_timeout: float = 30.0,
        workers: int = 8,
    ) -> None:
        self.router = KeyOwner(nodes, self_node=self_node)
        self.self_node = self_node
        self.namespace = namespace
        if isinstance(client, str):
            # Reads block for at most 5 s, so a 10 s socket timeout only fires on a dead link.
            self._client = redis.Redis.from_url(client, socket_timeout=10.0)
            self._owns_client = True
        else:
            self._client = client
            self._owns_client = False
        if serializer == "pickle":
            self._serializer: Serializer = PickleSerializer()
        elif serializer == "json":
            self._serializer = JsonSerializer()
        elif isinstance(serializer, Serializer):
            self._serializer = serializer
        else:
            raise SingleflightError(f"serializer={serializer!r}: expected 'pickle' or 'json'")
        self.result_ms = max(10, round(result_ttl * 1000))
        self.request_timeout = request_timeout
        self._handlers: dict[str, Callable[..., V]] = {}
        self._owned: Group[str, V] = Group()  # coalesces the calls this node owns
        self._asked: Group[str, V] = Group()  # coalesces this node's calls to other owners
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "singleflight-owner")
        self._stop = threading.Event()
        self._server: threading.Thread | None = None
        self._origin = origin()

    def inbox(self, node: str) -> str:
        """The Redis stream a node reads its requests from."""
        return f"{self.namespace}:inbox:{{{node}}}"

    def register(self, name: str, fn: Callable[..., V]) -> None:
        """Make ``fn`` callable by ``name`` on this node (register the same on every node)."""
        self._handlers[name] = fn

    def do(self, key: str, name: str, *args: Any, timeout: float | None = None) -> V:
        """Run handler ``name`` for ``key`` on the key's owner, once per key in flight.

        Raises:
            OwnerUnavailableError: the owner did not answer within the deadline.
            TimeoutError: this caller's ``timeout`` passed (the owner's work goes on).
            RedisUnavailableError: Redis could not be reached.
            RemoteError: the handler failed on the owner with a type unknown here.
            Exception: the handler's own exception, rebuilt by type.
        """
        text = redis_key_text(key)
        owner = self.router.owner(text)
        if owner == self.self_node:
            return self._owned.do(text, self._run_owned, text, name, args, timeout=timeout)
        # The request's own deadline is the group's; each caller may give up sooner.
        deadline = time.monotonic() + self.request_timeout
        return self._asked.do(text, self._ask, owner, text, name, args, deadline, timeout=timeout)

    def stats(self) -> OwnerGroupStatistics:
        """Counters of the calls this node ran as owner, and of those it asked others for."""
        return OwnerGroupStatistics(owned=self._owned.stats(), asked=self._asked.stats())

    def _handler(self, name: str) -> Callable[..., V]:
        try:
            return self._handlers[name]
        except KeyError:
            raise SingleflightError(
                f"node {self.self_node!r} has no handler {name!r} "
                f"(registered: {sorted(self._handlers)})"
            ) from None

    def _run_owned(self, key: str, name: str, args: tuple[Any, ...]) -> V:
        return self._handler(name)(*args)

    def _ask(self, owner: str, key: str, name: str, args: tuple[Any, ...], deadline: float) -> V:
        reply = f"{self.namespace}:reply:{{{self.self_node}}}:{new_token()}"
        payload = self._serializer.dumps(list(args))
        try:
            self._client.xadd(
                self.inbox(owner),
                {"k": key, "n": name, "a": payload, "r": reply, "f": self._serializer.name},
            )
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OwnerUnavailableError(
                        f"owner {owner!r} of key {key!r} did not answer in time",
                        owner=owner,
                        key=key,
                    )
                answer = self._client.xread(
                    {reply: "0"}, count=1, block=max(1, round(min(remaining, 5.0) * 1000))
                )
                fields = first_entry_fields(answer)
                if fields is not None:
                    break
        except UNAVAILABLE as exc:
            raise RedisUnavailableError(
                f"singleflight: Redis is unreachable while asking {owner!r}: {exc}",
                operation="ask",
            ) from exc
        outcome = decode_entry(fields, self._serializer)
        if outcome.status == STATUS_ERROR:
            assert outcome.error is not None
            raise outcome.error
        return outcome.value  # type: ignore[return-value]

    # -- the owner's side -------------------------------------------------------------------

    def serve(self) -> None:
        """Start answering the calls this node owns (a daemon thread; idempotent)."""
        if self._server is None:
            self._server = threading.Thread(
                target=self._serve_loop, name=f"singleflight-owner:{self.self_node}", daemon=True
            )
            self._server.start()

    def _serve_loop(self) -> None:
        inbox = self.inbox(self.self_node)
        last = "0"
        while not self._stop.is_set():
            try:
                answer = self._client.xread({inbox: last}, count=100, block=_SERVE_BLOCK_MS)
                # Entries are deleted once read, so the next read starts after the last one.
            except UNAVAILABLE as exc:
                log.warning("singleflight owner %s: cannot read its inbox: %s", inbox, exc)
                self._stop.wait(0.5)  # back off while Redis is away
                continue
            for entry_id, fields in _entries(answer):
                last = entry_id
                self._client.xdel(inbox, entry_id)
                if b"stop" in fields:
                    continue  # close() woke us; the loop condition decides
                self._pool.submit(self._answer, fields)

    def _answer(self, fields: dict[bytes, bytes]) -> None:
        reply = fields.get(b"r", b"").decode()
        try:
            key = fields[b"k"].decode()
            name = fields[b"n"].decode()
            written_with = fields.get(b"f", b"").decode()
            if written_with != self._serializer.name:
                raise SerializationError(
                    f"arguments were encoded with {written_with!r}, this node uses "
                    f"{self._serializer.name!r}",
                    serializer=self._serializer.name,
                    direction="decode",
                )
            args = tuple(self._serializer.loads(fields[b"a"]))
            value = self._owned.do(key, self._run_owned, key, name, args)
            status, payload = STATUS_OK, self._serializer.dumps(value)
        except Exception as exc:  # every failure goes back to the caller
            status, payload = STATUS_ERROR, encode_error(exc, origin=self._origin)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.xadd(
                reply, {"s": status, "f": self._serializer.name, "p": payload, "o": self._origin}
            )
            pipe.pexpire(reply, self.result_ms)
            pipe.execute()
        except UNAVAILABLE as exc:
            log.warning("singleflight owner: cannot answer %s: %s", reply, exc)

    def close(self) -> None:
        """Stop serving and release the worker threads (and the client, if ours)."""
        self._stop.set()
        if self._server is not None:
            # Wake the reader at once; without Redis it sees the flag after its current block.
            with contextlib.suppress(*UNAVAILABLE):
                self._client.xadd(self.inbox(self.self_node), {"stop": self._origin})
            self._server.join()
            self._server = None
        self._pool.shutdown(wait=True)
        if self._owns_client:
            self._client.close()


def _entries(answer: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """(id, fields) of every entry of an XREAD reply (RESP2 or RESP3 shape)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        entries = next(iter(answer.values()))
        if entries and isinstance(entries[0], list):
            entries = entries[0]
    else:
        entries = answer[0][1]
    out = []
    for entry_id, fields in entries:
        ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        out.append((ident, {_b(k): _b(v) for k, v in fields.items()}))
    return out


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
