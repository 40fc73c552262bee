"""Key ownership by rendezvous (highest-random-weight) hashing.

The second pattern of distributed singleflight (groupcache's): instead of a lock service,
every process agrees, from the same node list alone, which node owns a key, and sends all
calls for that key there, where a *local* group coalesces them. Rendezvous hashing gives
each (node, key) pair a pseudo-random score and picks the highest. It needs no ring or
virtual nodes, spreads keys evenly, and when a node leaves only the keys it owned move
(each to its own runner-up); when one joins, it takes only the keys it now wins.

The score is BLAKE2b (keyed by nothing, 64-bit digest) over the node and the key, so every
process on every host and Python version computes the same owner; Python's ``hash()`` is
salted per process and would not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from bootup.errors import SingleflightError

__all__ = ("KeyOwner", "RoutingError")


class RoutingError(SingleflightError, ValueError):
    """The node list cannot route keys (empty, duplicate or non-string node names)."""


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _score(node: bytes, key: bytes) -> int:
    # Length-prefix the node so that ("ab", "c") and ("a", "bc") never collide.
    digest = hashlib.blake2b(len(node).to_bytes(4, "big") + node + key, digest_size=8).digest()
    return int.from_bytes(digest, "big")


class KeyOwner:
    """Routes each key to exactly one node of a fixed list.

    Usage (:class:`~bootup.singleflight._redis_owner.RedisOwnerGroup` is a ready transport
    over Redis Streams; any RPC works)::

        owner = KeyOwner(["10.0.0.1:8000", "10.0.0.2:8000"], self_node="10.0.0.2:8000")
        if owner.is_local(key):
            value = group.do(key, load, key)          # a local Group coalesces here
        else:
            value = call_peer(owner.owner(key), key)  # the owner coalesces for the fleet

    Args:
        nodes: the node names (for example ``host:port`` of each process); order does not
            matter, every process must be given the same set.
        self_node: this process's own name, for :meth:`is_local`; optional.

    Raises:
        RoutingError: the list is empty, has duplicates, or ``self_node`` is not in it.
    """

    def __init__(self, nodes: Iterable[str], *, self_node: str | None = None) -> None:
        names = list(nodes)
        if not names:
            raise RoutingError("key owner: the node list is empty; expected at least one node")
        seen: set[str] = set()
        for index, name in enumerate(names):
            if not name:
                raise RoutingError(
                    f"key owner: node #{index} is {name!r}; expected a non-empty string"
                )
            if name in seen:
                raise RoutingError(f"key owner: node {name!r} is listed twice")
            seen.add(name)
        if self_node is not None and self_node not in seen:
            raise RoutingError(f"key owner: self_node {self_node!r} is not in the node list")
        self.nodes: tuple[str, ...] = tuple(sorted(names))
        self.self_node = self_node
        self._encoded = tuple((name, _as_bytes(name)) for name in self.nodes)

    def owner(self, key: str | bytes) -> str:
        """The node that owns ``key``."""
        data = _as_bytes(key)
        best_name, best_score = "", -1
        for name, encoded in self._encoded:
            score = _score(encoded, data)
            # Ties are practically impossible with 64 bits; break them by name for determinism.
            if score > best_score or (score == best_score and name < best_name):
                best_name, best_score = name, score
        return best_name

    def ranked(self, key: str | bytes) -> list[str]:
        """All nodes in preference order for ``key``: the owner first, then its fallbacks."""
        data = _as_bytes(key)
        return [
            name
            for _, name in sorted(
                ((-_score(encoded, data), name) for name, encoded in self._encoded)
            )
        ]

    def is_local(self, key: str | bytes) -> bool:
        """Whether this process (``self_node``) owns ``key``."""
        if self.self_node is None:
            raise RoutingError("key owner: is_local() needs self_node to be set")
        return self.owner(key) == self.self_node

    def without(self, node: str) -> KeyOwner:
        """The router after ``node`` left the fleet (only its keys move)."""
        rest = [name for name in self.nodes if name != node]
        keep_self = self.self_node if self.self_node != node else None
        return KeyOwner(rest, self_node=keep_self)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"KeyOwner(nodes={list(self.nodes)!r}, self_node={self.self_node!r})"
