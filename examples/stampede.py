"""A cache stampede, with and without bootup's singleflight groups (what ``make demo`` runs).

The story: the cache entry for one popular user has just expired, and every request that
arrives now misses at the same moment and asks the backend for the same row. The backend is
a real HTTP service on 127.0.0.1 (asyncio streams, in a thread of its own) that takes 50 ms
per query and can run 50 queries at a time, like a database with a connection limit.

Without coalescing, 1,000 misses mean 1,000 queries queued 50 at a time. With
:class:`bootup.singleflight.AsyncGroup` (asyncio) or :class:`bootup.singleflight.Group`
(threads) in front of the backend, concurrent misses for one key share one query.

Run: ``make demo`` or ``.venv/bin/python examples/stampede.py``. Takes a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bootup.singleflight import AsyncGroup, Group

HOST = "127.0.0.1"
QUERY_S = 0.050  # time one backend query takes
CAPACITY = 50  # queries the backend runs at a time
CLIENT_POOL = 100  # connections an asyncio client keeps open at most, like aiohttp's default
N_ASYNC = 1_000
N_THREADS = 200
USER_ID = 42
KEY = f"user:{USER_ID}"

User = dict[str, Any]


class DemoError(Exception):
    """A request of the demo failed: the figures would be meaningless."""


# ---------------------------------------------------------------------------------------------
# The slow backend: a small HTTP/1.1 service that answers GET /users/<id>.


class Backend:
    """A slow HTTP service running on its own event loop in a background thread.

    It runs in a thread so that its own work does not share the event loop (or the GIL
    schedule) of the clients being measured more than a separate service would.
    """

    def __init__(self) -> None:
        self.port = 0
        self._queries = 0
        self._count_lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="backend", daemon=True)
        self._failure: BaseException | None = None

    @property
    def queries(self) -> int:
        """Queries the backend has run so far."""
        with self._count_lock:
            return self._queries

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() / stop()
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        capacity = asyncio.Semaphore(CAPACITY)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = await reader.readline()
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    del line  # headers are not needed
                parts = request.decode("latin-1").split()
                if len(parts) != 3 or parts[0] != "GET" or not parts[1].startswith("/users/"):
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    return
                user_id = parts[1].removeprefix("/users/")
                async with capacity:
                    with self._count_lock:
                        self._queries += 1
                    await asyncio.sleep(QUERY_S)
                body = json.dumps({"id": user_id, "name": "Ada", "plan": "pro"}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
            except ConnectionError:
                pass  # the client went away; nothing to answer
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

        server = await asyncio.start_server(handle, HOST, 0, backlog=2048)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    @contextlib.contextmanager
    def running(self) -> Iterator[Backend]:
        """Serve for the duration of the ``with`` block."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise DemoError(f"the backend did not start: {self._failure!r}")
        try:
            yield self
        finally:
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()


def _request(port: int, user_id: int) -> bytes:
    return (
        f"GET /users/{user_id} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n"
    ).encode()


def _parse(response: bytes) -> User:
    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    if status != [b"200"]:
        raise DemoError(f"backend answered {head.splitlines()[0:1]!r}, expected HTTP 200")
    user: User = json.loads(body)
    return user


# ---------------------------------------------------------------------------------------------
# asyncio clients


async def fetch_user_async(port: int, pool: asyncio.Semaphore, user_id: int) -> User:
    """One backend query over a fresh connection, within the client's connection pool."""
    async with pool:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(_request(port, user_id))
            await writer.drain()
            response = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    return _parse(response)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one scenario did: the figures the demo prints."""

    backend_calls: int
    served: int
    requests: int
    wall_s: float
    shared: int | None = None  # requests answered by a call another request made


async def _async_stampede(backend: Backend, coalesce: bool) -> Outcome:
    pool = asyncio.Semaphore(CLIENT_POOL)
    group: AsyncGroup[str, User] = AsyncGroup()
    shared = 0

    async def get_user(user_id: int) -> User:
        nonlocal shared
        if not coalesce:
            return await fetch_user_async(backend.port, pool, user_id)
        result = await group.do_ex(f"user:{user_id}", fetch_user_async, backend.port, pool, user_id)
        if result.shared:
            shared += 1
        return result.value

    before = backend.queries
    start = time.perf_counter()
    users = await asyncio.gather(*(get_user(USER_ID) for _ in range(N_ASYNC)))
    wall = time.perf_counter() - start
    served = sum(1 for u in users if u.get("id") == str(USER_ID))
    return Outcome(
        backend.queries - before, served, N_ASYNC, wall, shared=shared if coalesce else None
    )


# ---------------------------------------------------------------------------------------------
# thread clients


def fetch_user_blocking(port: int, user_id: int) -> User:
    """One backend query with the standard library's blocking HTTP client."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", f"/users/{user_id}", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise DemoError(f"backend answered HTTP {response.status}, expected 200")
    finally:
        conn.close()
    user: User = json.loads(body)
    return user


def _thread_stampede(backend: Backend, coalesce: bool) -> Outcome:
    group: Group[str, User] = Group()
    results: list[User | None] = [None] * N_THREADS
    errors: list[BaseException] = []
    shared = 0
    shared_lock = threading.Lock()
    barrier = threading.Barrier(N_THREADS + 1)

    def request(i: int) -> None:
        nonlocal shared
        barrier.wait()
        try:
            if coalesce:
                result = group.do_ex(KEY, fetch_user_blocking, backend.port, USER_ID)
                results[i] = result.value
                if result.shared:
                    with shared_lock:
                        shared += 1
            else:
                results[i] = fetch_user_blocking(backend.port, USER_ID)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(i,), daemon=True) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    before = backend.queries
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise DemoError(f"{len(errors)} thread requests failed, the first with {errors[0]!r}")
    served = sum(1 for u in results if u is not None and u.get("id") == str(USER_ID))
    return Outcome(
        backend.queries - before, served, N_THREADS, wall, shared=shared if coalesce else None
    )


# ---------------------------------------------------------------------------------------------
# output


def _row(label: str, o: Outcome) -> str:
    served = f"{o.served:,} / {o.requests:,}"
    line = f"  {label:<22}{o.backend_calls:>14,}{served:>18}{o.wall_s * 1000:>10,.0f} ms"
    if o.shared is not None:
        line += f"   ({o.shared:,} got a shared result)"
    return line


def _section(title: str, without: Outcome, with_: Outcome, group_name: str) -> list[str]:
    calls = without.backend_calls / max(with_.backend_calls, 1)
    speed = without.wall_s / with_.wall_s if with_.wall_s > 0 else float("inf")
    return [
        title,
        f"  {'':<22}{'backend calls':>14}{'requests served':>18}{'wall time':>13}",
        _row("without singleflight", without),
        _row(f"with {group_name}", with_),
        f"  => {calls:,.0f}x fewer backend calls, {speed:,.1f}x faster",
    ]


def main() -> int:
    print("bootup singleflight demo: a cache stampede")
    print(
        f'The cache entry for "{KEY}" has just expired and every request misses at once.\n'
        f"Each miss asks the backend, an HTTP service on {HOST} that takes "
        f"{QUERY_S * 1000:.0f} ms per query\nand runs {CAPACITY} queries at a time."
    )
    try:
        with Backend().running() as backend:
            print(f"(backend listening on {HOST}:{backend.port})\n")
            a_without = asyncio.run(_async_stampede(backend, coalesce=False))
            a_with = asyncio.run(_async_stampede(backend, coalesce=True))
            lines = _section(
                f"asyncio: {N_ASYNC:,} concurrent requests for {KEY}",
                a_without,
                a_with,
                "AsyncGroup",
            )
            print("\n".join(lines), end="\n\n", flush=True)
            t_without = _thread_stampede(backend, coalesce=False)
            t_with = _thread_stampede(backend, coalesce=True)
            lines = _section(
                f"threads: {N_THREADS:,} threads released together, one request each",
                t_without,
                t_with,
                "Group",
            )
            print("\n".join(lines))
    except (DemoError, OSError) as exc:
        print(f"stampede demo failed: {exc}", file=sys.stderr)
        return 1
    outcomes = (a_without, a_with, t_without, t_with)
    if any(o.served != o.requests for o in outcomes):
        print("stampede demo failed: some requests were not served", file=sys.stderr)
        return 1
    if t_with.backend_calls > 1:
        print(
            "\nWith threads, a caller that arrives after a flight has landed starts a new one,"
            "\nso more than one backend call there is correct singleflight behaviour."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
