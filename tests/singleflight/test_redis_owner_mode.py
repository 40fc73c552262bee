"""Key-owner mode against a real redis-server: calls for a key run once, on its owner.

Two :class:`RedisOwnerGroup` objects with their own clients stand for two nodes.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from redis_server import RedisServer, redis_server

from bootup.errors import SingleflightError
from bootup.singleflight._owner import KeyOwner
from bootup.singleflight._redis_owner import OwnerUnavailableError, RedisOwnerGroup

pytestmark = pytest.mark.redis
__all__ = ("redis_server",)

NODES = ["node-1", "node-2"]


class Loader:
    """A handler that counts executions and blocks until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, uid: int) -> dict[str, int]:
        with self._lock:
            self.calls += 1
        self.started.set()
        assert self.release.wait(60)
        if uid < 0:
            raise LookupError(f"no user {uid}")
        return {"uid": uid}


def key_owned_by(node: str) -> str:
    router = KeyOwner(NODES)
    return next(k for k in (f"user:{i}" for i in range(1000)) if router.owner(k) == node)


@pytest.fixture
def fleet(redis_server: RedisServer) -> Iterator[tuple[RedisOwnerGroup[object], ...]]:
    ns = f"own-{uuid.uuid4().hex[:8]}"
    groups = tuple(
        RedisOwnerGroup[object](redis_server.url, nodes=NODES, self_node=n, namespace=ns)
        for n in NODES
    )
    yield groups
    for group in groups:
        group.close()


def _wait(predicate: object, what: str) -> None:
    pause = threading.Event()
    for _ in range(3000):
        if callable(predicate) and predicate():
            return
        pause.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_calls_from_every_node_run_once_on_the_owner(
    fleet: tuple[RedisOwnerGroup[object], ...],
) -> None:
    one, two = fleet
    loader = Loader()
    for group in fleet:
        group.register("user", loader)
        group.serve()
    key = key_owned_by("node-2")
    results: list[object] = []
    lock = threading.Lock()

    def call(group: RedisOwnerGroup[object]) -> None:
        value = group.do(key, "user", 7, timeout=30)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=call, args=(g,)) for g in (one,) * 5 + (two,) * 3]
    for thread in threads:
        thread.start()
    assert loader.started.wait(30)
    # Every caller is inside a group: five asked node-2 (one request), three are local
    # to node-2, and node-2's local group also holds node-1's request.
    _wait(lambda: one.stats().asked.calls == 5, "node-1's callers")
    _wait(lambda: two.stats().owned.calls == 4, "node-2's callers and node-1's request")
    loader.release.set()
    for thread in threads:
        thread.join(30)
    assert results == [{"uid": 7}] * 8
    assert loader.calls == 1
    assert one.stats().owned.executions == 0
    assert one.stats().asked.executions == 1  # one request for five callers


def test_error_on_the_owner_reaches_the_caller_by_type(
    fleet: tuple[RedisOwnerGroup[object], ...],
) -> None:
    one, two = fleet
    loader = Loader()
    loader.release.set()
    for group in fleet:
        group.register("user", loader)
    two.serve()
    with pytest.raises(LookupError, match="no user -3") as info:
        one.do(key_owned_by("node-2"), "user", -3, timeout=30)
    assert type(info.value) is LookupError
    assert any("node-2" not in n and "remote traceback" in n for n in info.value.__notes__)


def test_unknown_handler_is_a_clear_error(fleet: tuple[RedisOwnerGroup[object], ...]) -> None:
    one, two = fleet
    two.serve()
    with pytest.raises(SingleflightError, match="no handler 'missing'"):
        one.do(key_owned_by("node-2"), "missing", 1, timeout=30)
    with pytest.raises(SingleflightError, match="no handler 'missing'"):
        one.do(key_owned_by("node-1"), "missing", 1)


def test_silent_owner_gives_owner_unavailable(redis_server: RedisServer) -> None:
    group: RedisOwnerGroup[object] = RedisOwnerGroup(
        redis_server.url,
        nodes=NODES,
        self_node="node-1",
        namespace=f"own-{uuid.uuid4().hex[:8]}",
        request_timeout=0.3,
    )
    try:
        with pytest.raises(OwnerUnavailableError) as info:
            group.do(key_owned_by("node-2"), "user", 1)
        assert info.value.owner == "node-2"
        assert isinstance(info.value, TimeoutError)
    finally:
        group.close()


def test_owned_keys_run_locally(fleet: tuple[RedisOwnerGroup[object], ...]) -> None:
    one, _ = fleet
    loader = Loader()
    loader.release.set()
    one.register("user", loader)  # node-1 does not even serve: its own keys need no Redis
    assert one.do(key_owned_by("node-1"), "user", 5) == {"uid": 5}
    assert one.stats().owned.executions == 1
