"""Helpers of the singleflight tests: gates, latches and a strict asyncio runner.

Ordering is done with gates (events) and by waiting for an observable state of the group
(``wait_until(lambda: group.stats().joins == n)``): the tests never assume that some time is
enough for something to happen. Every wait has a generous deadline so that a bug shows up as a
failure naming what did not happen, not as a hung test run.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Upper bound for anything a test waits for; only reached when the code under test is broken.
DEADLINE_S = 30.0


def wait_until(predicate: Callable[[], bool], what: str, deadline: float = DEADLINE_S) -> None:
    """Block until ``predicate()`` holds (an observable state, not a duration), or fail."""
    pause = threading.Event()
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        pause.wait(0.0005)


async def await_until(
    predicate: Callable[[], bool], what: str, deadline: float = DEADLINE_S
) -> None:
    """The asyncio twin of :func:`wait_until`: yield to the loop until ``predicate()`` holds."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0)


class Gate:
    """A one-shot thread gate: ``wait()`` fails the test instead of hanging forever."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def open(self) -> None:
        self._event.set()

    def wait(self) -> None:
        if not self._event.wait(DEADLINE_S):
            raise AssertionError("gate was never opened")

    def is_open(self) -> bool:
        return self._event.is_set()


class Counter:
    """A thread-safe call counter for the work functions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def bump(self) -> int:
        with self._lock:
            self.value += 1
            return self.value


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]], *, debug: bool = True) -> T:
    """Run ``coro_fn()`` with ``asyncio.run(debug=True)`` and fail on any loop complaint.

    ``debug=False`` is for the few tests that push thousands of flights, where asyncio's debug
    bookkeeping (a stack capture per task and future) would dominate the run time.

    "Future exception was never retrieved", "Task was destroyed but it is pending" and other
    reports reach the loop's exception handler; this records them and fails the test.
    """
    complaints: list[str] = []

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        complaints.append(str(context.get("message")) + " " + repr(context.get("exception")))

    async def main() -> T:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(handler)
        try:
            return await coro_fn()
        finally:
            gc.collect()
            await asyncio.sleep(0)

    result = asyncio.run(main(), debug=debug)
    gc.collect()
    assert not complaints, complaints
    return result


def tb_len(exc: BaseException) -> int:
    """Number of entries in an exception's traceback chain."""
    n = 0
    tb = exc.__traceback__
    while tb is not None:
        n += 1
        tb = tb.tb_next
    return n


def start_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), f"{thread.name} hung"
