"""The IO-free core shared by the thread and asyncio fronts: results, statistics, flight records.

Design (Go's ``golang.org/x/sync/singleflight`` is the reference, see
shared/reference/singleflight.md §1):

* A *flight* is one execution of ``fn`` for one key. The group's table maps a key to the flight
  in progress; callers that find a flight *join* it instead of starting another execution.
* The table is not a cache: a finished flight removes its own entry, and only while the entry
  is still its own (``if table.get(key) is flight``), so a flight that was forgotten can never
  evict its successor (golang/go#31420, the stale-delete bug of cacheflight).
* Every waiter receives the same value or the same exception instance. A shared exception is
  re-raised with the traceback it had when the work failed (``exc.with_traceback(tb)``), as
  ``asyncio.Future`` does since CPython 3.11, so neither a waiter's traceback nor the original
  exception's grows with the number of waiters (peer bug §3.4 item 8).
* Re-entrancy: while a flight's work runs, the context variable :data:`ACTIVE` holds a token per
  flight on the current call chain (the thread, or the asyncio task and the tasks it spawns). A
  caller that would join a flight whose token it carries would wait for itself forever, so it
  gets :class:`bootup.errors.ReentrantCallError` instead.

Nothing here locks or does I/O: each front says which lock (threads) or which event loop
(asyncio) owns the records it mutates.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from bootup.errors import ReentrantCallError, SingleflightError

__all__ = (
    "ACTIVE",
    "DEFAULT_CLOCK",
    "Clock",
    "Counters",
    "FlightCancelledError",
    "GroupStatistics",
    "Result",
    "check_forget_after",
    "check_timeout",
    "key_error",
    "not_callable_error",
    "raise_shared",
    "reentrant_error",
    "statistics",
    "timeout_error",
)

V = TypeVar("V")

#: Tokens of the flights whose work is running on the current call chain (see module docstring).
#: The asyncio front uses a plain ``object()`` per flight, so that a context copied into a
#: long-lived child task holds on to nothing but that token; the thread front uses the flight
#: itself, and resets the variable as soon as the work returns.
ACTIVE: contextvars.ContextVar[tuple[object, ...]] = contextvars.ContextVar(
    "bootup_singleflight_active", default=()
)


@dataclass(frozen=True, slots=True)
class Result(Generic[V]):
    """What :meth:`Group.do_ex` and :meth:`AsyncGroup.do_ex` return: the value and Go's shared flag.

    ``shared`` follows Go's rule exactly (ExampleGroup): a caller that joined a flight always
    gets ``True``; the caller that started it gets ``True`` only if somebody joined it. It says
    "this value went to more than one caller", not "I was deduplicated" (kubescape/kubevuln#630
    misread it that way).

    Attributes:
        value: The value the flight's work returned.
        shared: Whether the value was delivered to more than one caller.
    """

    value: V
    shared: bool


@dataclass(frozen=True, slots=True)
class GroupStatistics:
    """A snapshot of a group's counters, for tests and monitoring (like trio's ``statistics()``).

    Attributes:
        in_flight: Keys with a flight in progress now (``len(group)``).
        calls: Every call that reached the group (leaders and joiners).
        executions: Flights started, that is how often ``fn`` was called.
        joins: Calls that joined a flight instead of starting one.
        errors: Flights whose work ended with an exception (including cancellation).
        timeouts: Callers that gave up because of their own ``timeout=``.
        forgets: Flights removed from the table by :meth:`forget`, :meth:`forget_unshared`,
            ``forget_after`` or by their last caller leaving.
    """

    in_flight: int
    calls: int
    executions: int
    joins: int
    errors: int
    timeouts: int
    forgets: int


class Counters:
    """Mutable counters behind :class:`GroupStatistics`; the owner of a table updates them.

    Plain attributes rather than a dict: the fronts increment them on every call, and attribute
    increments are the cheapest thing Python offers.
    """

    __slots__ = ("calls", "errors", "executions", "forgets", "joins", "timeouts")

    def __init__(self) -> None:
        self.calls = 0
        self.executions = 0
        self.joins = 0
        self.errors = 0
        self.timeouts = 0
        self.forgets = 0

    def add_to(self, total: list[int]) -> None:
        """Add these counters to ``total`` (calls, executions, joins, errors, timeouts, forgets)."""
        total[0] += self.calls
        total[1] += self.executions
        total[2] += self.joins
        total[3] += self.errors
        total[4] += self.timeouts
        total[5] += self.forgets


def statistics(in_flight: int, total: list[int]) -> GroupStatistics:
    """Build the public snapshot from an ``add_to`` total."""
    calls, executions, joins, errors, timeouts, forgets = total
    return GroupStatistics(in_flight, calls, executions, joins, errors, timeouts, forgets)


class FlightCancelledError(SingleflightError):
    """The shared work was cancelled by something other than the caller who receives this.

    An asyncio caller must never receive a bare ``CancelledError`` for a cancellation that was
    not its own: asyncio code treats ``CancelledError`` as "I was cancelled" and would stop
    (peer bug §3.4 item 2). When the work's task is cancelled from outside (for example by
    ``asyncio.run`` shutting its loop down) while callers still wait, they get this error, with
    the original ``CancelledError`` as ``__cause__``.

    Attributes:
        key: The key of the flight whose work was cancelled.
    """

    def __init__(self, key: object) -> None:
        super().__init__(f"the shared work for key {key!r} was cancelled")
        self.key = key


def reentrant_error(key: object) -> ReentrantCallError:
    """The error for a call that would join a flight it is itself running (it would deadlock)."""
    return ReentrantCallError(
        f"re-entrant singleflight call: key {key!r} is in flight on this call chain, and its "
        "work called do() for the same key, which would wait for itself forever; use a "
        "different key or call the function directly"
    )


def key_error(key: object, cause: TypeError) -> TypeError:
    """The TypeError for a key that cannot be a dict key, naming the key's type."""
    error = TypeError(f"singleflight key must be hashable, got {type(key).__name__!s} ({cause})")
    error.__cause__ = cause
    return error


def not_callable_error(fn: object) -> TypeError:
    """The TypeError for an ``fn`` that cannot be called."""
    return TypeError(f"singleflight fn must be callable, got {type(fn).__name__}: {fn!r}")


def check_forget_after(forget_after: float | None) -> float | None:
    """Validate the ``forget_after`` option of a group (None, or seconds >= 0)."""
    if forget_after is None:
        return None
    if isinstance(forget_after, bool) or not isinstance(forget_after, int | float):
        raise TypeError(
            f"forget_after must be a number of seconds or None, got {type(forget_after).__name__}"
        )
    if not forget_after >= 0:  # also rejects NaN
        raise ValueError(f"forget_after must be >= 0 seconds, got {forget_after!r}")
    return float(forget_after)


def check_timeout(timeout: float | None) -> None:
    """Validate a per-caller ``timeout=`` (None, or seconds >= 0)."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds or None, got {type(timeout).__name__}"
        )
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")


def raise_shared(exc: BaseException, tb: TracebackType | None) -> None:
    """Raise the flight's shared exception with the traceback it had when the work failed.

    Resetting ``__traceback__`` first keeps every waiter's traceback at "original frames plus
    the waiter's own frames" instead of letting each re-raise prepend frames to one shared chain.
    """
    raise exc.with_traceback(tb)


def timeout_error(key: object, timeout: float) -> TimeoutError:
    """The TimeoutError of one caller that stopped waiting (the shared work goes on)."""
    return TimeoutError(
        f"singleflight key {key!r} did not finish within this caller's timeout of {timeout} s "
        "(the shared work keeps running for the other callers)"
    )


#: The clock for ``forget_after``; a parameter of the groups so tests can inject their own.
Clock = Callable[[], float]
DEFAULT_CLOCK: Clock = time.monotonic
