"""The Redis protocol of a fleet-wide flight, without any I/O.

One flight of a key, across all processes:

1. **Join** (one Lua call). ``SET lease token NX PX ttl``; when the lease is already held,
   the script returns the holder's token instead. With the token of a flight already being
   watched, it first checks whether that flight's result stream exists, so a waiter whose
   blocking read just timed out never misses a result published in between.
2. **Lead.** The winner runs the work and extends the lease every ``ttl/3`` with a
   compare-and-``PEXPIRE`` script, so a long flight stays exclusive.
3. **Publish and release** (one Lua call). ``XADD`` the outcome to the flight's own stream
   ``done:<token>``, give the stream a TTL, and delete the lease only if it still holds
   this token (compare-and-delete: a leader that overran its lease never removes its
   successor's).
4. **Wait.** Everyone else blocks in ``XREAD BLOCK`` on the holder's stream from id ``0``,
   so an entry written before the read started is returned at once: the notification
   cannot be missed, and nothing polls. When a read times out (one lease TTL), the waiter
   joins again: a live leader kept the lease, a dead one's lease expired and exactly one
   waiter now leads.

Each flight has its own stream, named after its lease token, so a result left from an
earlier flight is never mistaken for the current one. Keys use a ``{hash tag}`` so that the
lease and the streams of one key live in the same Redis Cluster slot.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any, Final

from bootup.errors import SingleflightError
from bootup.singleflight._redis_errors import SerializationError
from bootup.singleflight._serialize import Serializer, decode_error

__all__ = (
    "EXTEND_SCRIPT",
    "JOIN_FRESH",
    "JOIN_GONE",
    "JOIN_SCRIPT",
    "JOIN_WATCH",
    "PUBLISH_SCRIPT",
    "RELEASE_SCRIPT",
    "STATUS_ERROR",
    "STATUS_GONE",
    "STATUS_OK",
    "FlightConfig",
    "KeyNames",
    "Outcome",
    "decode_entry",
    "first_entry_fields",
    "new_token",
    "origin",
    "redis_key_text",
)

#: Entry field values of the ``s`` (status) field of a result stream.
STATUS_OK: Final = b"ok"
STATUS_ERROR: Final = b"err"
#: The leader gave up without an outcome (its task was cancelled, KeyboardInterrupt, ...):
#: waiters wake at once and one of them takes over.
STATUS_GONE: Final = b"gone"

#: KEYS[1] lease; for a waiter coming back: KEYS[2] the watched flight's result stream and
#: KEYS[3] its successor pointer. ARGV[1] new token, ARGV[2] lease TTL in ms, ARGV[3] mode
#: (``fresh``: a new caller; ``watch``: a read timed out; ``gone``: the leader gave up),
#: ARGV[4] result TTL in ms.
#: Returns {1, token} (caller leads), {0, holder, lease ms left or -1} (watch that flight),
#: {2} (result ready).
#:
#: The successor pointer makes a takeover happen once: the first waiter of a dead (or
#: departed) flight that takes the lease records its token there, and every other waiter
#: of that flight follows the pointer instead of taking the lease again once the
#: successor has finished.
JOIN_SCRIPT: Final = """
local mode = ARGV[3]
if mode == 'watch' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {2}
end
if mode ~= 'fresh' then
  local successor = redis.call('GET', KEYS[3])
  if successor then
    return {0, successor, -1}
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if mode ~= 'fresh' then
    redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
  end
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

#: Modes of :data:`JOIN_SCRIPT`.
JOIN_FRESH: Final = "fresh"
JOIN_WATCH: Final = "watch"
JOIN_GONE: Final = "gone"

#: KEYS[1] lease; ARGV[1] token, ARGV[2] TTL in ms. Returns 1 if extended, 0 if not ours.
EXTEND_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

#: KEYS[1] lease; ARGV[1] token. Compare-and-delete: returns 1 if deleted, 0 if not ours.
RELEASE_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: KEYS[1] lease, KEYS[2] result stream; ARGV[1] token, ARGV[2] result TTL in ms,
#: ARGV[3] status, ARGV[4] serializer name, ARGV[5] payload, ARGV[6] origin.
#: Returns 1 if the lease was still ours (and is now released), 0 otherwise.
PUBLISH_SCRIPT: Final = """
redis.call('XADD', KEYS[2], '*', 's', ARGV[3], 'f', ARGV[4], 'p', ARGV[5], 'o', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def new_token() -> str:
    """A fresh, unguessable lease token (128 random bits)."""
    return secrets.token_hex(16)


def origin() -> str:
    """``host:pid`` of this process, written next to every outcome for diagnostics."""
    return f"{socket.gethostname()}:{os.getpid()}"


def redis_key_text(key: object) -> str:
    """The text of a singleflight key inside Redis key names.

    Only ``str`` and ``bytes`` keys mean the same thing in every process (``repr`` and
    ``hash`` of other objects are not stable across processes and versions).
    """
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "backslashreplace")
    raise SingleflightError(
        f"fleet-wide singleflight key {key!r} has type {type(key).__name__}; "
        "expected str or bytes (other keys have no stable cross-process spelling)"
    )


@dataclass(frozen=True, slots=True)
class KeyNames:
    """The Redis key names of one singleflight key."""

    lease: str
    stream_prefix: str

    @classmethod
    def of(cls, namespace: str, key: object) -> KeyNames:
        """Names for ``key`` under ``namespace``, all in one cluster hash slot."""
        base = f"{namespace}:{{{redis_key_text(key)}}}"
        return cls(lease=f"{base}:lease", stream_prefix=f"{base}:done:")

    def stream(self, token: str) -> str:
        """The result stream of the flight led by ``token``."""
        return self.stream_prefix + token

    def successor(self, token: str) -> str:
        """The pointer to the flight that took over from the one led by ``token``."""
        return self.stream_prefix[: -len("done:")] + "next:" + token

    def join_call(
        self, token: str, watched: str | None, mode: str, config: FlightConfig
    ) -> tuple[list[str], list[str | int]]:
        """The KEYS and ARGV of :data:`JOIN_SCRIPT` for this caller's situation."""
        if watched is None:
            return [self.lease], [token, config.lease_ms, JOIN_FRESH, config.result_ms]
        keys = [self.lease, self.stream(watched), self.successor(watched)]
        return keys, [token, config.lease_ms, mode, config.result_ms]


@dataclass(frozen=True, slots=True)
class FlightConfig:
    """Timing of the protocol, validated once.

    Attributes:
        lease_ttl: seconds a lease lives without extension; a dead leader is replaced
            within about this long after its last extension.
        result_ttl: seconds a published outcome stays readable for late waiters.
        read_block: the longest single ``XREAD BLOCK``, in seconds (at most one lease TTL,
            and shorter than the client's socket timeout).
    """

    lease_ttl: float
    result_ttl: float
    read_block: float

    @classmethod
    def build(
        cls, *, lease_ttl: float, result_ttl: float, socket_timeout: float | None
    ) -> FlightConfig:
        """Validate the TTLs and derive the read block from the client's socket timeout."""
        if not lease_ttl >= 0.01:
            raise SingleflightError(
                f"lease_ttl={lease_ttl!r}: expected at least 0.01 s (Redis PX resolution)"
            )
        if not result_ttl >= lease_ttl:
            raise SingleflightError(
                f"result_ttl={result_ttl!r}: expected at least lease_ttl ({lease_ttl} s), "
                "or waiters could miss a published result and run the work again"
            )
        block = lease_ttl
        if socket_timeout is not None:
            if socket_timeout <= 0.2:
                raise SingleflightError(
                    f"the Redis client's socket_timeout={socket_timeout!r} is too short for "
                    "blocking reads; expected more than 0.2 s (or None)"
                )
            block = min(
                block, socket_timeout - 0.1 if socket_timeout < 1.0 else socket_timeout * 0.8
            )
        return cls(lease_ttl=lease_ttl, result_ttl=result_ttl, read_block=block)

    @property
    def lease_ms(self) -> int:
        """The lease TTL in milliseconds."""
        return max(10, round(self.lease_ttl * 1000))

    @property
    def result_ms(self) -> int:
        """The result TTL in milliseconds."""
        return max(10, round(self.result_ttl * 1000))

    @property
    def extend_every(self) -> float:
        """How often the leader extends its lease: three chances before it would expire."""
        return self.lease_ttl / 3.0

    def block_ms(self, remaining: float | None, lease_left_ms: int = -1) -> int:
        """The next ``XREAD BLOCK`` in ms.

        At most one read block, cut to the caller's remaining time, and to just past the
        moment the watched lease expires: a dead leader is then replaced within one lease
        TTL, while a live one has extended its lease by then and the waiter reads again.
        """
        block = self.read_block if remaining is None else min(self.read_block, remaining)
        if lease_left_ms >= 0:
            block = min(block, lease_left_ms / 1000 + 0.02)
        return max(1, round(block * 1000))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One entry of a result stream, decoded.

    Exactly one of three: a value (``status == STATUS_OK``), an error to raise
    (``STATUS_ERROR``), or the leader gave up (``STATUS_GONE``: join again).
    """

    status: bytes
    value: object = None
    error: BaseException | None = None


def decode_entry(fields: dict[bytes, bytes], serializer: Serializer) -> Outcome:
    """Decode the fields of a result-stream entry written by :data:`PUBLISH_SCRIPT`."""
    status = fields.get(b"s", b"")
    if status == STATUS_GONE:
        return Outcome(STATUS_GONE)
    payload = fields.get(b"p", b"")
    if status == STATUS_ERROR:
        return Outcome(STATUS_ERROR, error=decode_error(payload))
    if status != STATUS_OK:
        raise SerializationError(
            f"result stream entry has status {status!r}; expected b'ok', b'err' or b'gone'",
            serializer=serializer.name,
            type_name="",
            direction="decode",
        )
    written_with = fields.get(b"f", b"").decode(errors="replace")
    if written_with != serializer.name:
        raise SerializationError(
            f"the leader {fields.get(b'o', b'?').decode(errors='replace')} encoded the value "
            f"with serializer {written_with!r}, but this group uses {serializer.name!r}; "
            "every process sharing a namespace must use the same serializer",
            serializer=serializer.name,
            type_name="",
            direction="decode",
        )
    return Outcome(STATUS_OK, value=serializer.loads(payload))


def first_entry_fields(answer: Any) -> dict[bytes, bytes] | None:
    """The fields of the first entry of an ``XREAD`` reply, or None for an empty reply.

    redis-py returns ``[[stream, [(id, fields)]]]`` over RESP2 and
    ``{stream: [[(id, fields)]]}`` over RESP3; both are accepted.
    """
    if not answer:
        return None
    if isinstance(answer, dict):
        entries = next(iter(answer.values()))
        if entries and isinstance(entries[0], list):
            entries = entries[0]
    else:
        entries = answer[0][1]
    if not entries:
        return None
    fields = entries[0][1]
    return {
        (k.encode() if isinstance(k, str) else k): (v.encode() if isinstance(v, str) else v)
        for k, v in fields.items()
    }
