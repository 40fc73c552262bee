"""The manager's clock: monotonic time, wall time and timers, injectable for tests.

Why: timeouts, restart delays, start-limit windows and watchdogs are all "call me back in N
seconds". Routing them through one :class:`Clock` lets tests replace time with a
:class:`ManualClock` and step over a 90-second ``TimeoutStopSec=`` instantly, with no sleeps
and no timing assertions. The real clock is the event loop's own (``loop.call_later``), so
an idle manager has no timers beyond the ones its units asked for.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ("Clock", "LoopClock", "ManualClock", "TimerHandle", "usec")


def usec(seconds: float) -> int:
    """Seconds as systemd's integer microseconds."""
    return int(seconds * 1_000_000)


class TimerHandle(Protocol):
    """What :meth:`Clock.call_later` returns: a timer that can be cancelled."""

    def cancel(self) -> None:
        """Stop the timer from firing (harmless if it already fired)."""


class Clock(Protocol):
    """Time as the manager sees it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (CLOCK_MONOTONIC)."""

    def realtime(self) -> float:
        """Seconds since the epoch (CLOCK_REALTIME)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` on the event loop after ``delay`` seconds."""


class LoopClock:
    """The real clock: the running event loop's timers and the kernel's clocks."""

    def monotonic(self) -> float:
        """CLOCK_MONOTONIC, as systemd's ``*TimestampMonotonic`` uses."""
        return time.monotonic()

    def realtime(self) -> float:
        """CLOCK_REALTIME."""
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """``loop.call_later`` on the running loop."""
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)


class _ManualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance`.

    Timers due by the new time run in order of their deadline, on the calling thread (the
    event loop's, since tests call it from a coroutine).
    """

    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall - start
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._counter = itertools.count()

    def monotonic(self) -> float:
        """The current manual time."""
        return self._now

    def realtime(self) -> float:
        """Manual time shifted to a fixed epoch."""
        return self._now + self._wall_offset

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Register a timer at ``now + delay``."""
        timer = _ManualTimer(self._now + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._counter), timer))
        return timer

    @property
    def pending(self) -> int:
        """How many timers are waiting (not cancelled)."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        """When the next live timer fires, or None."""
        for when, _, timer in sorted(self._timers):
            if not timer.cancelled:
                return when
        return None

    def advance(self, seconds: float) -> int:
        """Move time forward and fire every timer now due; return how many fired."""
        target = self._now + seconds
        fired = 0
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
            fired += 1
        self._now = target
        return fired
