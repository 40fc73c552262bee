"""Fleet-wide singleflight across real processes and a real redis-server (checklist 31-37).

Each worker is this file run as a script (``python test_redis_fleet.py '<json config>'``):
it starts T callers (threads or asyncio tasks) on one key and reports on stdout, one JSON
line per event: ``joined`` once all its callers are inside the group, ``started`` when its
backend runs (the backend then blocks until the test writes ``release`` or ``fail`` to that
worker's stdin), and ``done`` with every caller's outcome. The test reads all workers'
stdout with a selector, so every step waits on an event, never on a sleep. The only waits
on time are inherent: a lease TTL expiring after a SIGKILL, and the measurement window of
the command-rate test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from redis_server import RedisServer, redis_server

pytestmark = [pytest.mark.redis, pytest.mark.slow]
__all__ = ("redis_server",)

HERE = Path(__file__).resolve()
#: Generous bound on any single wait of the test; a protocol hang shows up as this failure.
WAIT_S = 60.0


class FleetError(Exception):
    """The backend's error: two constructor arguments, rebuilt by type in every worker."""

    def __init__(self, what: str, code: int) -> None:
        super().__init__(what, code)
        self.what = what
        self.code = code

    def __str__(self) -> str:
        return f"{self.what} (code {self.code})"


# ----------------------------------------------------------------------------- worker side


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")
    sys.stdout.flush()


def _outcome(result: Any) -> list[Any]:
    if isinstance(result, BaseException):
        from bootup.singleflight._redis_errors import RemoteError

        kind = "remote" if isinstance(result, RemoteError) else "err"
        return [kind, f"{type(result).__module__}.{type(result).__qualname__}", str(result)]
    return ["ok", result]


def _worker(config: dict[str, Any]) -> None:
    """Body of one worker process (see the module docstring)."""
    import queue

    from bootup.singleflight._redis import AsyncRedisGroup, RedisGroup

    commands: queue.Queue[str] = queue.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line.strip())

    threading.Thread(target=read_stdin, daemon=True).start()
    counter = redis.Redis.from_url(config["url"])

    def backend() -> dict[str, Any]:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            counter.incr(f"{config['ns']}:execs")  # the restart test counts "started" instead
        _emit("started")
        command = commands.get()
        if command == "fail":
            raise FleetError("disk on fire", 7)
        return {"by": os.getpid(), "n": 42}

    options = {
        "namespace": config["ns"],
        "lease_ttl": config["lease_ttl"],
        "result_ttl": config["result_ttl"],
    }
    tasks, timeout = config["tasks"], config["timeout"]
    if config["mode"] == "threads":
        group: RedisGroup[str, dict[str, Any]] = RedisGroup(config["url"], **options)
        futures = [group.do_future(config["key"], backend) for _ in range(tasks)]
        assert group.stats().calls == tasks
        _emit("joined")
        outcomes = []
        for future in futures:
            try:
                outcomes.append(_outcome(future.result(timeout)))
            except BaseException as exc:
                outcomes.append(_outcome(exc))
        _emit("done", outcomes=outcomes)
        group.close()
        return

    async def main() -> None:
        agroup: AsyncRedisGroup[str, dict[str, Any]] = AsyncRedisGroup(config["url"], **options)

        async def abackend() -> dict[str, Any]:
            return await asyncio.to_thread(backend)

        running = [
            asyncio.create_task(agroup.do(config["key"], abackend, timeout=timeout))
            for _ in range(tasks)
        ]
        await asyncio.sleep(0)  # every task runs its first step: all are inside the group
        assert agroup.stats().calls == tasks
        _emit("joined")
        results = await asyncio.gather(*running, return_exceptions=True)
        _emit("done", outcomes=[_outcome(r) for r in results])
        await agroup.aclose()

    asyncio.run(main())


# ------------------------------------------------------------------------------- test side


class Fleet:
    """P worker processes on one key, and the events they report."""

    def __init__(self, server: RedisServer, ns: str, modes: list[str], **config: Any) -> None:
        self.server = server
        self.ns = ns
        self.selector = selectors.DefaultSelector()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.buffers: dict[int, bytes] = {}
        self.events: list[dict[str, Any]] = []
        self.dead: set[int] = set()
        base = {
            "url": server.url,
            "ns": ns,
            "key": "hot",
            "tasks": 5,
            "timeout": WAIT_S,
            "lease_ttl": 10.0,
            "result_ttl": 30.0,
            **config,
        }
        for mode in modes:
            proc = subprocess.Popen(
                [sys.executable, str(HERE), json.dumps({**base, "mode": mode})],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert proc.stdout is not None
            self.selector.register(proc.stdout.fileno(), selectors.EVENT_READ, proc.pid)
            self.procs[proc.pid] = proc
            self.buffers[proc.pid] = b""

    def pump(self, until: Callable[[], bool], what: str) -> None:
        """Read events from every worker until ``until()`` holds."""
        deadline = time.monotonic() + WAIT_S
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.get_map():
                raise AssertionError(f"expected {what}; events so far: {self.events}")
            for key, _ in self.selector.select(remaining):
                pid = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    self.selector.unregister(key.fd)
                    continue
                *lines, self.buffers[pid] = (self.buffers[pid] + chunk).split(b"\n")
                self.events.extend(json.loads(line) for line in lines)

    def expect(self, event: str, count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` events of this kind have arrived in total; return them."""

        def got() -> list[dict[str, Any]]:
            return [e for e in self.events if e["event"] == event]

        self.pump(lambda: len(got()) >= count, f"{count} {event!r} events")
        return got()

    def send(self, pid: int, command: str) -> None:
        stdin = self.procs[pid].stdin
        assert stdin is not None
        stdin.write(command.encode() + b"\n")
        stdin.flush()

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        self.procs[pid].wait(WAIT_S)
        self.dead.add(pid)

    def outcomes(self) -> list[list[Any]]:
        live = len(self.procs) - len(self.dead)
        return [o for e in self.expect("done", live) for o in e["outcomes"]]

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(WAIT_S)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self.selector.close()


@pytest.fixture
def ns() -> str:
    return f"fleet-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def fleets() -> Iterator[Callable[..., Fleet]]:
    made: list[Fleet] = []

    def make(server: RedisServer, ns: str, modes: list[str], **config: Any) -> Fleet:
        fleet = Fleet(server, ns, modes, **config)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.close()


def blocked_readers(raw: redis.Redis) -> int:
    return sum(1 for c in raw.client_list() if c.get("cmd") == "xread" and "b" in c["flags"])


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Wait for an observable server condition (clients blocked in XREAD), with a deadline."""
    pause = threading.Event()
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.01)


MODES = ["threads", "asyncio", "threads", "asyncio"]


def test_c31_processes_by_tasks_on_one_key_run_once(
    redis_server: RedisServer, ns: str, raw: redis.Redis, fleets: Callable[..., Fleet]
) -> None:
    """Checklist 31: P processes x T tasks on one key: 1 execution, everyone the value."""
    fleet = fleets(redis_server, ns, MODES, tasks=10)
    fleet.expect("joined", len(MODES))
    (leader,) = fleet.expect("started", 1)
    wait_until(lambda: blocked_readers(raw) == len(MODES) - 1, "the other processes to wait")
    fleet.send(leader["pid"], "release")
    outcomes = fleet.outcomes()
    assert len(outcomes) == 10 * len(MODES)
    assert all(o == ["ok", {"by": leader["pid"], "n": 42}] for o in outcomes), outcomes
    assert raw.get(f"{ns}:execs") == b"1"
    assert len(fleet.expect("started", 1)) == 1


def test_c32_error_reaches_every_process(
    redis_server: RedisServer, ns: str, raw: redis.Redis, fleets: Callable[..., Fleet]
) -> None:
    """Checklist 32: same type and message everywhere; the lock is released; next call runs."""
    fleet = fleets(redis_server, ns, ["threads", "asyncio", "threads"], tasks=3)
    fleet.expect("joined", 3)
    (leader,) = fleet.expect("started", 1)
    wait_until(lambda: blocked_readers(raw) == 2, "the other processes to wait")
    fleet.send(leader["pid"], "fail")
    outcomes = fleet.outcomes()
    assert len(outcomes) == 9
    assert all(o == ["err", "__main__.FleetError", "disk on fire (code 7)"] for o in outcomes)
    assert raw.exists(f"{ns}:{{hot}}:lease") == 0
    assert raw.get(f"{ns}:execs") == b"1"
    again = fleets(redis_server, ns, ["threads"], tasks=1)
    (second,) = again.expect("started", 1)
    again.send(second["pid"], "release")
    assert again.outcomes() == [["ok", {"by": second["pid"], "n": 42}]]
    assert raw.get(f"{ns}:execs") == b"2"


def test_c33_killed_leader_is_taken_over_once(
    redis_server: RedisServer, ns: str, raw: redis.Redis, fleets: Callable[..., Fleet]
) -> None:
    """Checklist 33: SIGKILL the leader; after the TTL one waiter leads (1 more execution)."""
    fleet = fleets(
        redis_server, ns, ["threads", "asyncio", "threads"], tasks=3, lease_ttl=0.5, timeout=30
    )
    fleet.expect("joined", 3)
    (first,) = fleet.expect("started", 1)
    wait_until(lambda: blocked_readers(raw) == 2, "the other processes to wait")
    fleet.kill(first["pid"])
    # Waiting for the dead leader's lease to expire is inherent (0.5 s TTL).
    second = fleet.expect("started", 2)[1]
    assert second["pid"] != first["pid"]
    wait_until(lambda: blocked_readers(raw) == 1, "the last process to follow the new leader")
    fleet.send(second["pid"], "release")
    outcomes = fleet.outcomes()
    assert len(outcomes) == 6
    assert all(o == ["ok", {"by": second["pid"], "n": 42}] for o in outcomes), outcomes
    assert raw.get(f"{ns}:execs") == b"2"


def test_c37_waiters_give_up_at_their_own_timeout(
    redis_server: RedisServer, ns: str, raw: redis.Redis, fleets: Callable[..., Fleet]
) -> None:
    """Checklist 37: a caller's timeout is honoured while the leader is stuck."""
    fleet = fleets(redis_server, ns, ["threads", "asyncio"], tasks=2, timeout=30)
    fleet.expect("joined", 2)
    (leader,) = fleet.expect("started", 1)
    impatient = fleets(redis_server, ns, ["threads", "asyncio"], tasks=2, timeout=0.3)
    outcomes = impatient.outcomes()
    assert [o[:2] for o in outcomes] == [["err", "builtins.TimeoutError"]] * 4
    fleet.send(leader["pid"], "release")
    assert all(o == ["ok", {"by": leader["pid"], "n": 42}] for o in fleet.outcomes())
    assert raw.get(f"{ns}:execs") == b"1"


def _commands(raw: redis.Redis) -> int:
    return sum(int(v["calls"]) for v in raw.info("commandstats").values())


def test_c36_waiting_processes_do_not_poll(
    redis_server: RedisServer, ns: str, raw: redis.Redis, fleets: Callable[..., Fleet]
) -> None:
    """Checklist 36: bounded Redis commands per waiting process per second."""
    waiters, ttl = 3, 1.0
    fleet = fleets(redis_server, ns, ["threads", "asyncio"] * 2, tasks=5, lease_ttl=ttl)
    fleet.expect("joined", waiters + 1)
    (leader,) = fleet.expect("started", 1)
    wait_until(lambda: blocked_readers(raw) == waiters, "the other processes to wait")
    raw.config_resetstat()
    started = time.monotonic()
    # The measurement window: a flight that runs for several lease TTLs (inherent).
    threading.Event().wait(3 * ttl)
    # INFO commandstats counts the commands Lua scripts run, too: this is an upper bound.
    total = _commands(raw)
    elapsed = time.monotonic() - started
    fleet.send(leader["pid"], "release")
    assert len(fleet.outcomes()) == 20
    # The leader extends every TTL/3 (one EVALSHA running GET and PEXPIRE: 3 commands); each
    # waiter reads once per TTL and joins again (about 6 commands). A busy-polling waiter
    # issues thousands per second (cashews: ~2,000 SET NX/s).
    leader_rate = 3 / (ttl / 3)
    per_waiter = (total - 1 - leader_rate * elapsed) / waiters / elapsed
    assert per_waiter < 20, (total, elapsed)


def test_redis_restart_mid_flight_gives_value_or_clear_error(
    redis_server: RedisServer, ns: str, raw: redis.Redis, fleets: Callable[..., Fleet]
) -> None:
    """A redis-server restart during a flight: the value or a clear error, never a hang."""
    fleet = fleets(redis_server, ns, ["threads", "asyncio", "threads"], tasks=2, lease_ttl=0.5)
    fleet.expect("joined", 3)
    (leader,) = fleet.expect("started", 1)
    wait_until(lambda: blocked_readers(raw) == 2, "the other processes to wait")
    redis_server.restart()
    fleet.send(leader["pid"], "release")
    # Waiters either reconnect (and take over on the empty server, or read the result) or
    # report the outage; whichever it is, every caller finishes with one of the two.
    outcomes = _drain_restart(fleet)
    assert len(outcomes) == 6
    for outcome in outcomes:
        assert outcome[0] == "ok" or outcome[1].endswith("RedisUnavailableError"), outcome
    # The next call works.
    after = fleets(redis_server, ns, ["threads"], tasks=1)
    (again,) = after.expect("started", 1)
    after.send(again["pid"], "release")
    assert after.outcomes() == [["ok", {"by": again["pid"], "n": 42}]]


def _drain_restart(fleet: Fleet) -> list[list[Any]]:
    """Collect the outcomes, releasing any waiter that took over after the restart."""
    released: set[int] = set()

    def settled() -> bool:
        for event in fleet.events:
            if event["event"] == "started" and event["pid"] not in released:
                released.add(event["pid"])
                fleet.send(event["pid"], "release")
        return len([e for e in fleet.events if e["event"] == "done"]) == len(fleet.procs)

    fleet.pump(settled, "every worker to finish after the restart")
    return [o for e in fleet.events if e["event"] == "done" for o in e["outcomes"]]


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
