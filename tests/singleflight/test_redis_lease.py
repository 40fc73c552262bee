"""The Redis protocol against a real redis-server, within one process.

Two :class:`RedisGroup` objects with their own clients stand for two processes here: Redis
cannot tell them apart, and their local groups are separate, so every flight between them
goes through the lease and the result stream. The multi-process tests are in
``test_redis_fleet.py``.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from redis_server import RedisServer, redis_server

from bootup.errors import NotSupportedError, ReentrantCallError, SingleflightError
from bootup.singleflight._redis import RedisGroup
from bootup.singleflight._redis_errors import (
    RedisUnavailableError,
    SerializationError,
)
from bootup.singleflight._redis_protocol import (
    JOIN_FRESH,
    JOIN_SCRIPT,
    JOIN_WATCH,
    PUBLISH_SCRIPT,
    RELEASE_SCRIPT,
    FlightConfig,
    KeyNames,
    first_entry_fields,
)

pytestmark = pytest.mark.redis
__all__ = ("redis_server",)

#: Long enough that a test which wrongly waited for a lease to expire would time out instead.
LONG_TTL = 30.0


@pytest.fixture
def ns() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def groups(redis_server: RedisServer, ns: str) -> Iterator[list[RedisGroup[str, object]]]:
    made: list[RedisGroup[str, object]] = []
    yield made
    for group in made:
        group.close()


def _group(
    made: list[RedisGroup[str, object]], url: str, ns: str, **options: object
) -> RedisGroup[str, object]:
    group: RedisGroup[str, object] = RedisGroup(url, namespace=ns, **options)  # type: ignore[arg-type]
    made.append(group)
    return group


def _xreads(raw: redis.Redis) -> int:
    return int(raw.info("commandstats").get("cmdstat_xread", {}).get("calls", 0))


def _blocked_readers(raw: redis.Redis) -> int:
    return sum(1 for c in raw.client_list() if c.get("cmd") == "xread" and "b" in c["flags"])


def _wait_for(predicate: object, what: str) -> None:
    """Wait until an observable condition of the server holds (with a generous deadline)."""
    done = threading.Event()
    for _ in range(2000):
        if callable(predicate) and predicate():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Gate:
    """A backend that records each execution and blocks until released."""

    def __init__(self, value: object = "v") -> None:
        self.value = value
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> object:
        with self._lock:
            self.calls += 1
        self.started.release()
        assert self.release.wait(60)
        return self.value


def test_c31_value_and_one_execution_across_two_groups(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    gate = Gate({"answer": 42})
    fa = [a.do_future("k", gate) for _ in range(3)]
    assert gate.started.acquire(timeout=30)
    fb = [b.do_future("k", gate) for _ in range(3)]
    _wait_for(lambda: _blocked_readers(raw) == 1, "b to block on the result stream")
    gate.release.set()
    assert [f.result(30) for f in fa + fb] == [{"answer": 42}] * 6
    assert gate.calls == 1
    assert (a.stats().executions, b.stats().remote, b.stats().executions) == (1, 1, 0)
    assert b.stats().joins == 2
    assert len(a) == len(b) == 0
    # The lease is released and the next call runs the work again (not a cache).
    assert raw.exists(KeyNames.of(ns, "k").lease) == 0
    gate2 = Gate("again")
    gate2.release.set()
    assert b.do("k", gate2) == "again"


def test_do_ex_reports_shared(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    assert a.do_ex("alone", lambda: 1).shared is False
    gate = Gate(7)
    leader = a.do_future("k", gate)
    assert gate.started.acquire(timeout=30)
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(b.do_ex("k", gate)))
    waiter.start()
    _wait_for(lambda: _blocked_readers(raw) == 1, "b to block on the result stream")
    gate.release.set()
    waiter.join(30)
    assert leader.result(30) == 7
    assert [(r.value, r.shared) for r in results] == [(7, True)]  # type: ignore[attr-defined]


def test_c32_error_reaches_other_group_as_same_type(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    started, release = threading.Event(), threading.Event()

    def fail() -> object:
        started.set()
        assert release.wait(60)
        raise LookupError("no such user: 17")

    fa = a.do_future("k", fail)
    assert started.wait(30)
    fb = b.do_future("k", fail)
    _wait_for(lambda: _blocked_readers(raw) == 1, "b to block on the result stream")
    release.set()
    for fut in (fa, fb):
        with pytest.raises(LookupError, match="no such user: 17") as info:
            fut.result(30)
        assert type(info.value) is LookupError
    assert raw.exists(KeyNames.of(ns, "k").lease) == 0


def test_c35_compare_and_delete_never_removes_a_successors_lease(
    redis_server: RedisServer, ns: str, raw: redis.Redis
) -> None:
    names = KeyNames.of(ns, "k")
    join, release, publish = (
        raw.register_script(s) for s in (JOIN_SCRIPT, RELEASE_SCRIPT, PUBLISH_SCRIPT)
    )
    assert join(keys=[names.lease], args=["tok-a", 60_000, "fresh", 5000]) == [1, b"tok-a"]
    assert join(keys=[names.lease], args=["tok-x", 60_000, "fresh", 5000])[:2] == [0, b"tok-a"]
    raw.delete(names.lease)  # tok-a's lease "expires" while its holder still works
    assert join(keys=[names.lease], args=["tok-b", 60_000, "fresh", 5000]) == [1, b"tok-b"]
    # The stale holder releases and publishes: neither touches tok-b's lease.
    assert release(keys=[names.lease], args=["tok-a"]) == 0
    assert (
        publish(
            keys=[names.lease, names.stream("tok-a")],
            args=["tok-a", 5000, b"ok", b"pickle", b"", b""],
        )
        == 0
    )
    assert raw.get(names.lease) == b"tok-b"
    assert release(keys=[names.lease], args=["tok-b"]) == 1
    assert raw.exists(names.lease) == 0


def test_c37_result_published_before_the_read_is_not_missed(
    redis_server: RedisServer, ns: str, raw: redis.Redis
) -> None:
    config = FlightConfig.build(lease_ttl=LONG_TTL, result_ttl=60.0, socket_timeout=None)
    names = KeyNames.of(ns, "k")
    join, publish = (raw.register_script(s) for s in (JOIN_SCRIPT, PUBLISH_SCRIPT))
    assert join(*names.join_call("lead", None, JOIN_FRESH, config)) == [1, b"lead"]
    # A waiter learns the holder's token ...
    reply = join(*names.join_call("w", None, JOIN_FRESH, config))
    assert reply[:2] == [0, b"lead"]
    assert 0 < reply[2] <= config.lease_ms  # the lease's time left bounds the next read
    # ... and the leader publishes before the waiter starts reading.
    publish(
        keys=[names.lease, names.stream("lead")],
        args=["lead", config.result_ms, b"ok", b"pickle", b"x", b""],
    )
    # Reading from id 0 returns the entry at once (a missed notification would block 30 s).
    answer = raw.xread({names.stream("lead"): "0"}, count=1, block=30_000)
    assert first_entry_fields(answer) == {b"s": b"ok", b"f": b"pickle", b"p": b"x", b"o": b""}
    # A waiter whose read timed out just before the publish is sent to read it, too.
    assert join(*names.join_call("w2", "lead", JOIN_WATCH, config)) == [2]


def test_c33_takeover_happens_once(redis_server: RedisServer, ns: str, raw: redis.Redis) -> None:
    config = FlightConfig.build(lease_ttl=LONG_TTL, result_ttl=60.0, socket_timeout=None)
    names = KeyNames.of(ns, "k")
    join, publish = (raw.register_script(s) for s in (JOIN_SCRIPT, PUBLISH_SCRIPT))
    assert join(*names.join_call("dead", None, JOIN_FRESH, config))[0] == 1
    raw.delete(names.lease)  # the holder died and its lease expired
    # The first of its waiters to come back takes over ...
    assert join(*names.join_call("w1", "dead", JOIN_WATCH, config)) == [1, b"w1"]
    publish(
        keys=[names.lease, names.stream("w1")],
        args=["w1", config.result_ms, b"ok", b"pickle", b"x", b""],
    )
    # ... and a slower waiter of the dead flight follows it instead of running the work again,
    # even though the successor already finished and released the lease.
    assert join(*names.join_call("w2", "dead", JOIN_WATCH, config)) == [0, b"w1", -1]
    # A new caller is not handed the old result: it leads a new flight.
    assert join(*names.join_call("n", None, JOIN_FRESH, config)) == [1, b"n"]


def test_c35_stale_leader_in_a_group_does_not_release_successor(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    lease = KeyNames.of(ns, "k").lease
    gate_a, gate_b = Gate("a"), Gate("b")
    fa = a.do_future("k", gate_a)
    assert gate_a.started.acquire(timeout=30)
    raw.delete(lease)  # as if a's lease expired during a long pause
    fb = b.do_future("k", gate_b)
    assert gate_b.started.acquire(timeout=30)
    token_b = raw.get(lease)
    gate_a.release.set()
    assert fa.result(30) == "a"
    assert raw.get(lease) == token_b  # a's compare-and-delete left b's lease alone
    gate_b.release.set()
    assert fb.result(30) == "b"
    assert raw.exists(lease) == 0


def test_c34_lease_extension_keeps_a_long_flight_exclusive(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    ttl = 0.4
    a = _group(groups, redis_server.url, ns, lease_ttl=ttl, result_ttl=5.0)
    b = _group(groups, redis_server.url, ns, lease_ttl=ttl, result_ttl=5.0)
    lease = KeyNames.of(ns, "k").lease
    gate = Gate("long")
    fa = a.do_future("k", gate)
    assert gate.started.acquire(timeout=30)
    token = raw.get(lease)
    before = _xreads(raw)
    fb = b.do_future("k", gate)
    # Let the flight run for many TTLs (inherent: the point is to outlive the lease);
    # b's reads time out every TTL and it joins again, finding a's lease still alive.
    _wait_for(lambda: _xreads(raw) >= before + 4, "b to re-read the stream several times")
    assert raw.get(lease) == token
    assert gate.calls == 1
    gate.release.set()
    assert (fa.result(30), fb.result(30)) == ("long", "long")
    assert gate.calls == 1
    assert b.stats().remote == 1


def test_leader_giving_up_hands_over_at_once(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    started, release = threading.Event(), threading.Event()

    def quit_work() -> object:
        started.set()
        assert release.wait(60)
        raise SystemExit(3)

    fa = a.do_future("k", quit_work)
    assert started.wait(30)
    fb = b.do_future("k", lambda: "taken over")
    _wait_for(lambda: _blocked_readers(raw) == 1, "b to block on the result stream")
    release.set()
    with pytest.raises(SystemExit):
        fa.result(30)
    # Without the hand-over b would wait out a 30 s lease; its timeout would fire first.
    assert fb.result(10) == "taken over"


def test_c37_per_caller_timeout_leaves_the_flight_alone(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    gate = Gate("late")
    fa = a.do_future("k", gate)
    assert gate.started.acquire(timeout=30)
    patient = b.do_future("k", gate)
    with pytest.raises(TimeoutError, match=r"0\.2 s"):
        b.do("k", gate, timeout=0.2)
    with pytest.raises(TimeoutError):
        a.do("k", gate, timeout=0.05)
    assert b.stats().timeouts == 1
    gate.release.set()
    assert (fa.result(30), patient.result(30)) == ("late", "late")
    assert gate.calls == 1


def test_unserializable_value_is_a_clear_error_everywhere(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]], raw: redis.Redis
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL, serializer="json")
    b = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL, serializer="json")
    started, release = threading.Event(), threading.Event()

    def make_set() -> object:
        started.set()
        assert release.wait(60)
        return {1, 2}

    fa = a.do_future("k", make_set)
    assert started.wait(30)
    fb = b.do_future("k", make_set)
    _wait_for(lambda: _blocked_readers(raw) == 1, "b to block on the result stream")
    release.set()
    for fut in (fa, fb):
        with pytest.raises(SerializationError, match=r"builtins\.set"):
            fut.result(30)
    assert a.do("j", lambda: {"ok": [1, 2]}) == {"ok": [1, 2]}


def test_reentrant_call_is_refused(
    redis_server: RedisServer, ns: str, groups: list[RedisGroup[str, object]]
) -> None:
    a = _group(groups, redis_server.url, ns, lease_ttl=LONG_TTL)
    with pytest.raises(ReentrantCallError):
        a.do("k", lambda: a.do("k", lambda: 1))
    assert a.do("outer", lambda: a.do("inner", lambda: 2)) == 2  # nested keys are fine


def test_unreachable_redis_is_a_clear_error_or_falls_back(
    groups: list[RedisGroup[str, object]],
) -> None:
    import socket

    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://:secret@127.0.0.1:{port}/0"
    strict = _group(groups, url, "x")
    with pytest.raises(RedisUnavailableError) as info:
        strict.do("k", lambda: 1)
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, SingleflightError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "secret" not in str(info.value)
    assert info.value.operation == "join"

    lenient = _group(groups, url, "x", fallback_local=True)
    gate = Gate("local")
    futures = [lenient.do_future("k", gate) for _ in range(4)]
    assert gate.started.acquire(timeout=30)
    gate.release.set()
    assert [f.result(30) for f in futures] == ["local"] * 4
    assert gate.calls == 1  # still coalesced within the process
    assert lenient.stats().fallbacks == 1


def test_bad_arguments(redis_server: RedisServer) -> None:
    with pytest.raises(SingleflightError, match="redis://"):
        RedisGroup("http://127.0.0.1/")
    with pytest.raises(SingleflightError, match="result_ttl"):
        RedisGroup(redis_server.url, lease_ttl=5, result_ttl=1)
    with pytest.raises(SingleflightError, match="serializer"):
        RedisGroup(redis_server.url, serializer="yaml")  # type: ignore[arg-type]
    with pytest.raises(SingleflightError, match=r"expected a redis:// URL or a redis\.Redis"):
        RedisGroup(42)  # type: ignore[arg-type]
    decoding = redis.Redis.from_url(redis_server.url, decode_responses=True)
    with pytest.raises(SingleflightError, match="decode_responses=True"):
        RedisGroup(decoding)
    decoding.close()
    from redis.cluster import RedisCluster

    with pytest.raises(NotSupportedError, match="Cluster"):
        RedisGroup(RedisCluster.__new__(RedisCluster))  # type: ignore[arg-type]
    group: RedisGroup[object, int] = RedisGroup(redis_server.url)
    with group, pytest.raises(SingleflightError, match="int"):
        group.do(42, lambda: 1)


def test_close_stops_the_lease_keeper(redis_server: RedisServer, ns: str) -> None:
    def keepers() -> int:
        return sum(t.name == "singleflight-lease-keeper" for t in threading.enumerate())

    before = keepers()
    group: RedisGroup[str, int] = RedisGroup(redis_server.url, namespace=ns)
    assert group.do("k", lambda: 1) == 1
    assert keepers() == before + 1  # started by the first lead, idle since
    group.close()
    assert keepers() == before


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.one_of(
            st.just(("fresh", 0)),
            st.just(("publish", 0)),
            st.just(("die", 0)),
            st.tuples(st.just("rejoin"), st.integers(0, 7)),
        ),
        max_size=40,
    )
)
def test_join_script_properties(
    redis_server: RedisServer, raw: redis.Redis, ops: list[tuple[str, int]]
) -> None:
    """Random interleavings of callers, waiters, leaders finishing and leaders dying.

    Each flight that dies is taken over at most once by its own waiters, a waiter of a
    published flight is always sent to read it, and nobody but a lease holder leads.
    """
    config = FlightConfig.build(lease_ttl=LONG_TTL, result_ttl=60.0, socket_timeout=None)
    names = KeyNames.of(f"p-{uuid.uuid4().hex[:10]}", "k")
    join, publish = (raw.register_script(s) for s in (JOIN_SCRIPT, PUBLISH_SCRIPT))
    holder: str | None = None
    published: set[str] = set()
    takeovers: dict[str, int] = {}
    waiters: list[str] = []  # the token each waiter watches

    def lead(reply: list[object]) -> str:
        nonlocal holder
        assert holder is None, "two lease holders"
        holder = _text(reply[1])
        return holder

    for counter, (op, index) in enumerate(ops):
        token = f"t{counter}"
        if op == "fresh":
            reply = join(*names.join_call(token, None, JOIN_FRESH, config))
            if reply[0] == 1:
                lead(reply)
            else:
                waiters.append(_text(reply[1]))
        elif op == "publish" and holder is not None:
            publish(
                keys=[names.lease, names.stream(holder)],
                args=[holder, config.result_ms, b"ok", b"pickle", b"", b""],
            )
            published.add(holder)
            holder = None
        elif op == "die" and holder is not None:
            raw.delete(names.lease)
            holder = None
        elif op == "rejoin" and waiters:
            slot = index % len(waiters)
            watched = waiters[slot]
            reply = join(*names.join_call(token, watched, JOIN_WATCH, config))
            if watched in published:
                assert reply == [2]
                waiters.pop(slot)  # it reads the result and leaves
            elif reply[0] == 1:
                takeovers[watched] = takeovers.get(watched, 0) + 1
                assert takeovers[watched] == 1, f"flight {watched} taken over twice"
                lead(reply)
                waiters.pop(slot)
            else:
                waiters[slot] = _text(reply[1])


def _text(value: object) -> str:
    assert isinstance(value, bytes)
    return value.decode()
