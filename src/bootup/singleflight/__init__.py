"""Singleflight: duplicate-call suppression for threads and asyncio (Go's x/sync/singleflight).

General layout: :mod:`._call` holds the IO-free pieces both fronts share (results, statistics,
errors, the re-entrancy mark); :mod:`._sync` is the thread front :class:`Group`;
:mod:`._async` is the asyncio front :class:`AsyncGroup`. The Redis-backed groups for several
processes (``RedisGroup``, ``AsyncRedisGroup``, the key-owner mode ``KeyOwner`` and
``RedisOwnerGroup``, and their errors) live in ``._redis`` and are imported lazily, on first
access, because ``redis`` is an optional dependency.

Usage::

    from bootup.singleflight import AsyncGroup, Group

    group: Group[str, bytes] = Group()
    data = group.do("config", read_config, "/etc/app.conf")

The semantics follow Go where Go decided (errors reach every waiter, ``shared``, identity-checked
``forget``) and shared/reference/singleflight.md §6-§7 where Go did not (cancellation, timeouts,
re-entrancy, loops).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bootup.errors import ReentrantCallError as ReentrantCallError
from bootup.singleflight._async import AsyncGroup as AsyncGroup
from bootup.singleflight._call import FlightCancelledError as FlightCancelledError
from bootup.singleflight._call import GroupStatistics as GroupStatistics
from bootup.singleflight._call import Result as Result
from bootup.singleflight._sync import Group as Group

if TYPE_CHECKING:
    from bootup.singleflight._redis import AsyncRedisGroup as AsyncRedisGroup
    from bootup.singleflight._redis import KeyOwner as KeyOwner
    from bootup.singleflight._redis import OwnerUnavailableError as OwnerUnavailableError
    from bootup.singleflight._redis import RedisGroup as RedisGroup
    from bootup.singleflight._redis import RedisGroupStatistics as RedisGroupStatistics
    from bootup.singleflight._redis import RedisOwnerGroup as RedisOwnerGroup
    from bootup.singleflight._redis import RedisUnavailableError as RedisUnavailableError
    from bootup.singleflight._redis import RemoteError as RemoteError
    from bootup.singleflight._redis import SerializationError as SerializationError

__all__ = (
    "Group",
    "AsyncGroup",
    "Result",
    "GroupStatistics",
    "FlightCancelledError",
    "ReentrantCallError",
    "RedisGroup",
    "AsyncRedisGroup",
    "RemoteError",
    "RedisOwnerGroup",
    "KeyOwner",
    "RedisUnavailableError",
    "SerializationError",
    "OwnerUnavailableError",
    "RedisGroupStatistics",
)

#: Names served by ``._redis`` on first access, so that importing this package never imports
#: the optional ``redis`` client.
_LAZY = frozenset(
    {
        "RedisGroup",
        "AsyncRedisGroup",
        "RemoteError",
        "RedisOwnerGroup",
        "KeyOwner",
        "RedisUnavailableError",
        "SerializationError",
        "OwnerUnavailableError",
        "RedisGroupStatistics",
    }
)

# Reprs and tracebacks show the public path, not the private module (anyio/httpx habit).
for _cls in (Group, AsyncGroup, Result, GroupStatistics, FlightCancelledError):
    _cls.__module__ = __name__
del _cls


def __getattr__(name: str) -> Any:
    """Import the Redis-backed names lazily (PEP 562); anything else is an AttributeError."""
    if name in _LAZY:
        module = importlib.import_module("bootup.singleflight._redis")
        value = getattr(module, name)
        if isinstance(value, type):
            value.__module__ = __name__  # the public path in reprs, as for the local groups
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
