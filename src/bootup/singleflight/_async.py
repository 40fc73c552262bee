"""The asyncio front: :class:`AsyncGroup`, singleflight with correct cancellation.

Design (shared/reference/singleflight.md §3.3-§3.4 lists the peer bugs this avoids):

* **The work runs in its own task**, never inline in the task of the caller who happened to
  arrive first. So a cancelled or timed-out leader cannot poison its joiners (peer bug 2), and
  the work's own ``asyncio.timeout()`` blocks and ``TaskGroup``s bind to the work's task, not to
  a caller: ``asyncio.current_task()`` inside the work is the same task from its first line to
  its last.
* **The work starts eagerly** (:mod:`._eager`): its first step runs inside ``do()``, already
  as the task that will own the work, so work that never suspends settles the flight without a
  trip through the event loop.
* **Each caller waits on its own plain future**, resolved with ``None`` when the flight settles;
  the outcome is then read from the flight. Cancelling a caller cancels only that future (what
  ``asyncio.shield`` achieves, without a shield and its extra future per waiter), and because
  the waiters' futures never hold an exception, none can be "never retrieved".
* **Reference counting**: the flight counts the callers still waiting. When the last one leaves
  (cancelled, or its ``timeout=`` passed), the work is cancelled and the key released at once,
  so a later caller starts a fresh flight instead of joining a dying one, unless the group
  was made with ``detach=True``: then the work always runs to completion and a caller that
  arrives meanwhile joins it.
* **One table per event loop.** Flights are never shared across loops: asyncio futures and
  tasks belong to one loop, and waking a waiter of another loop needs
  ``call_soon_threadsafe`` or the wake-up is lost (the 2-second joiner of §3.3). A group used
  from several threads, each running its own loop, behaves as one independent group per loop.

Ownership and locking: a loop's table, its counters and its flights are touched only from that
loop's thread, so they need no lock. ``AsyncGroup._tables_lock`` guards only the mapping from
loop to table, which any thread may extend.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, TypeVarTuple, cast

from bootup.singleflight._call import (
    ACTIVE,
    DEFAULT_CLOCK,
    Clock,
    Counters,
    FlightCancelledError,
    GroupStatistics,
    Result,
    check_forget_after,
    check_timeout,
    key_error,
    not_callable_error,
    raise_shared,
    reentrant_error,
    statistics,
    timeout_error,
)
from bootup.singleflight._decorate import make_key
from bootup.singleflight._eager import start

__all__ = ("AsyncGroup",)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


class _Table:
    """The flights of one event loop; owned by that loop's thread (no lock)."""

    __slots__ = ("__weakref__", "counters", "flights", "spare", "tasks")

    def __init__(self) -> None:
        # No reference to the loop: the group maps loops to tables weakly, and a table that
        # held its loop would keep every loop the group ever saw alive.
        self.flights: dict[Hashable, _Flight] = {}
        self.counters = Counters()
        # Strong references to the running work: the loop itself keeps only weak ones.
        self.tasks: set[asyncio.Task[None]] = set()
        # See _eager: the task the next flight's first step runs as (a weak reference).
        self.spare: weakref.ref[asyncio.Task[None]] | None = None


def _retire_counters(graveyard: list[Counters], counters: Counters) -> None:
    """Keep a dead loop's counters for the group's totals (a ``weakref.finalize`` callback).

    It runs inside the garbage collector, in whatever thread collects, possibly one holding
    the group's lock, so it takes no lock: a list append is atomic. It holds the list, not the
    group, so a loop never keeps its group alive.
    """
    graveyard.append(counters)


class _Flight:
    """One execution of the work for one key, on one loop (owned by that loop's thread)."""

    __slots__ = (
        "abandoned",
        "deadline",
        "done",
        "dups",
        "exc",
        "handles",
        "key",
        "live",
        "loop",
        "shared",
        "table",
        "task",
        "tb",
        "token",
        "value",
        "waiters",
    )

    def __init__(
        self,
        key: Hashable,
        loop: asyncio.AbstractEventLoop,
        table: _Table,
        deadline: float | None,
    ) -> None:
        self.key = key
        self.loop = loop
        self.table = table
        self.deadline = deadline  # forget_after: the table stops offering it after this instant
        self.token = object()  # this flight's mark in ACTIVE (re-entrancy detection)
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[None]] = []  # one per do() caller, resolved with None
        self.handles: list[tuple[asyncio.Future[Any], bool]] | None = None  # do_future callers
        self.live = 0  # callers still waiting; the work is cancelled when it drops to 0
        self.dups = 0  # callers that joined (Go's dups)
        self.abandoned = False  # every caller left and the work was cancelled
        self.done = False
        self.shared = False
        self.value: Any = None
        self.exc: BaseException | None = None
        self.tb: TracebackType | None = None

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<flight {self.key!r} {state} live={self.live} dups={self.dups}>"


async def _await(awaitable: Awaitable[V]) -> V:
    """Turn a non-coroutine awaitable (a Future, an object with ``__await__``) into a coroutine."""
    return await awaitable


class AsyncGroup(Generic[K, V]):
    """Duplicate-call suppression for asyncio: one execution of the work per key in flight.

    ``await group.do(key, fn, *args)`` runs ``fn(*args)`` (a coroutine function) in a task of
    its own unless a flight for ``key`` is already running on this event loop, in which case it
    waits for that flight. Every caller gets the same value, or the same exception instance.
    The task starts eagerly: work that finishes without suspending is done when ``do`` returns,
    without a trip through the event loop.

    Cancellation: a caller's cancellation or ``timeout=`` ends only that caller's wait; its
    ``CancelledError`` is re-raised as itself. The work is cancelled only when its last caller
    has left (and never with ``detach=True``). Callers waiting on work that something else
    cancelled get :class:`FlightCancelledError`, never a bare ``CancelledError``.
    ``asyncio.timeout()`` or ``asyncio.wait_for()`` around ``do`` behaves like ``timeout=``.

    Loops: flights are per event loop. One group may be used from several threads, each with
    its own loop; callers on different loops never share a flight (see the module docstring).

    Arguments: ``fn`` receives the positional ``*args``; bind keyword arguments with
    :func:`functools.partial`. Keywords of ``do`` itself belong to the group.

    Usage::

        users: AsyncGroup[int, User] = AsyncGroup()
        user = await users.do(uid, fetch_user, uid, timeout=2.0)

        @users.coalesce(key=lambda uid: uid)
        async def fetch_user(uid: int) -> User: ...

    Args:
        detach: Let the work finish even when every caller has left, instead of cancelling it.
        forget_after: Rate control: forget a key this many seconds after its flight started,
            so at most one execution starts per interval and key.
        clock: The monotonic clock ``forget_after`` is measured with (tests inject one).
    """

    def __init__(
        self,
        *,
        detach: bool = False,
        forget_after: float | None = None,
        clock: Clock = DEFAULT_CLOCK,
    ) -> None:
        self._detach = detach
        self._forget_after = check_forget_after(forget_after)
        self._clock = clock
        self._tables_lock = threading.Lock()
        self._tables: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Table] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _Table] | None = None
        self._retired = [0] * 6  # totals of the tables whose loops are gone; _tables_lock
        self._graveyard: list[Counters] = []  # their counters, until stats() folds them in

    # -- tables ----------------------------------------------------------------------------------

    def _table(self, loop: asyncio.AbstractEventLoop) -> _Table:
        """The table of ``loop``, the running loop (created on first use)."""
        last = self._last  # one read: another thread may replace it at any time
        if last is not None and last[0]() is loop:
            return last[1]
        with self._tables_lock:
            table = self._tables.get(loop)
            if table is None:
                table = _Table()
                self._tables[loop] = table
                weakref.finalize(loop, _retire_counters, self._graveyard, table.counters)
            self._last = (weakref.ref(loop), table)
        return table

    def _all_tables(self) -> list[_Table]:
        with self._tables_lock:
            return list(self._tables.values())

    # -- the flight's life ----------------------------------------------------------------------

    def _enter(
        self,
        loop: asyncio.AbstractEventLoop,
        table: _Table,
        key: K,
        fn: Callable[..., Awaitable[V]],
        args: tuple[Any, ...],
    ) -> _Flight:
        """Find or start the flight for ``key`` and count this caller as waiting on it."""
        if not callable(fn):
            raise not_callable_error(fn)
        counters = table.counters
        counters.calls += 1
        flights = table.flights
        try:
            flight = flights.get(key)
        except TypeError as exc:
            raise key_error(key, exc) from exc
        if flight is not None and flight.deadline is not None and self._clock() >= flight.deadline:
            del flights[key]
            counters.forgets += 1
            flight = None
        if flight is None:
            awaitable = fn(*args)
            if not inspect.iscoroutine(awaitable):
                if not inspect.isawaitable(awaitable):
                    raise TypeError(
                        f"AsyncGroup fn must return an awaitable, {fn!r} returned "
                        f"{type(awaitable).__name__}"
                    )
                awaitable = _await(awaitable)
            deadline = None
            if self._forget_after is not None:
                deadline = self._clock() + self._forget_after
            flight = _Flight(key, loop, table, deadline)
            flights[key] = flight
            counters.executions += 1
            task = start(loop, table, self._run(flight, awaitable))
            if task is not None:  # the work suspended in its first step
                flight.task = task
                table.tasks.add(task)
        else:
            if flight.token in ACTIVE.get():
                raise reentrant_error(key)
            flight.dups += 1
            counters.joins += 1
        flight.live += 1
        return flight

    async def _run(self, flight: _Flight, work: Coroutine[Any, Any, Any]) -> None:
        """The body of the work's task: run the work, then settle the flight for its callers."""
        ACTIVE.set((*ACTIVE.get(), flight.token))  # this task's context only (and its children)
        try:
            value = await work
        except BaseException as exc:
            self._settle(flight, None, exc)
            if isinstance(exc, KeyboardInterrupt | SystemExit) and not flight.live:
                raise  # nobody will re-raise it: let it stop the loop as asyncio would
        else:
            self._settle(flight, value, None)

    def _settle(self, flight: _Flight, value: Any, exc: BaseException | None) -> None:
        """Release the key (if still this flight's) and wake every caller still waiting."""
        table = flight.table
        if table.flights.get(flight.key) is flight:
            del table.flights[flight.key]
        if flight.task is not None:
            table.tasks.discard(flight.task)
        flight.done = True
        flight.shared = flight.dups > 0
        if exc is not None:
            if isinstance(exc, asyncio.CancelledError):
                # Not the callers' own cancellation: never hand them a bare CancelledError.
                wrapped = FlightCancelledError(flight.key)
                wrapped.__cause__ = exc
                exc = wrapped
            table.counters.errors += 1
            flight.exc = exc
            flight.tb = exc.__traceback__
        else:
            flight.value = value
        for waiter in flight.waiters:
            if not waiter.done():  # a caller that left has cancelled its own future
                waiter.set_result(None)
        flight.waiters = []
        if flight.handles is not None:
            for handle, wants_result in flight.handles:
                if handle.done():
                    continue
                if exc is not None:
                    handle.set_exception(exc)
                    handle.exception()  # delivered; a dropped handle must not log it
                elif wants_result:
                    handle.set_result(Result(value, flight.shared))
                else:
                    handle.set_result(value)
            flight.handles = None

    def _leave(self, flight: _Flight) -> None:
        """A caller stopped waiting before the flight settled (cancelled, or timed out)."""
        if flight.done:
            return
        flight.live -= 1
        if flight.live or self._detach or flight.abandoned:
            return
        # The last caller left: cancel the work and release the key now, so a new caller starts
        # a fresh flight rather than joining one that is being cancelled.
        flight.abandoned = True
        table = flight.table
        if table.flights.get(flight.key) is flight:
            del table.flights[flight.key]
        assert flight.task is not None
        flight.task.cancel()

    async def _wait(self, flight: _Flight, timeout: float | None) -> None:  # noqa: ASYNC109
        """Wait for the flight on this caller's own future; on any exit without it, leave.

        :meth:`do` and :meth:`do_ex` inline the ``timeout=None`` case of this (one coroutine
        frame less per caller matters in a 10,000-caller stampede).
        """
        waiter = flight.loop.create_future()
        flight.waiters.append(waiter)
        try:
            if timeout is None:
                await waiter
            else:
                async with asyncio.timeout(timeout):
                    await waiter
        except BaseException as exc:
            waiter.cancel()
            self._leave(flight)
            if isinstance(exc, TimeoutError) and timeout is not None:
                flight.table.counters.timeouts += 1
                raise timeout_error(flight.key, timeout) from None
            raise
        if flight.exc is not None:
            raise_shared(flight.exc, flight.tb)

    # -- public API ------------------------------------------------------------------------------

    async def do(
        self,
        key: K,
        fn: Callable[[*Ts], Awaitable[V]],
        /,
        *args: *Ts,
        timeout: float | None = None,  # noqa: ASYNC109 (the per-caller timeout of the issue)
    ) -> V:
        """Run ``fn(*args)`` once per key in flight on this loop; return its value to every caller.

        Args:
            key: Any hashable value naming the work.
            fn: A coroutine function (or any callable returning an awaitable), called with
                ``*args`` only; use :func:`functools.partial` for keywords.
            *args: Positional arguments for ``fn``.
            timeout: Seconds this caller waits at most; it raises ``TimeoutError`` then. The
                shared work goes on for the other callers (it is cancelled only if this was the
                last caller and the group is not ``detach``).

        Returns:
            The value the work returned.

        Raises:
            TimeoutError: This caller's ``timeout`` passed first.
            FlightCancelledError: Something other than the callers cancelled the work.
            bootup.errors.ReentrantCallError: The work called ``do`` for its own key.
            TypeError: ``key`` is not hashable, ``fn`` is not callable or returned no awaitable.
        """
        if timeout is not None:
            check_timeout(timeout)
        loop = asyncio.get_running_loop()
        flight = self._enter(loop, self._table(loop), key, fn, args)
        if flight.done:  # finished in its eager first step (see _eager)
            if flight.exc is not None:
                raise_shared(flight.exc, flight.tb)
            return cast("V", flight.value)
        if timeout is not None:
            await self._wait(flight, timeout)
            return cast("V", flight.value)
        waiter = flight.loop.create_future()
        flight.waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            waiter.cancel()
            self._leave(flight)
            raise
        if flight.exc is not None:
            raise_shared(flight.exc, flight.tb)
        return cast("V", flight.value)

    async def do_ex(
        self,
        key: K,
        fn: Callable[[*Ts], Awaitable[V]],
        /,
        *args: *Ts,
        timeout: float | None = None,  # noqa: ASYNC109 (the per-caller timeout of the issue)
    ) -> Result[V]:
        """Like :meth:`do`, but return ``Result(value, shared)`` with Go's ``shared`` flag.

        A caller that joined always gets ``shared=True``; the one that started the flight gets
        ``True`` only if somebody joined.
        """
        if timeout is not None:
            check_timeout(timeout)
        loop = asyncio.get_running_loop()
        flight = self._enter(loop, self._table(loop), key, fn, args)
        leader = flight.dups == 0  # right after _enter: only a joiner has counted a dup
        if not flight.done:
            await self._wait(flight, timeout)
        elif flight.exc is not None:
            raise_shared(flight.exc, flight.tb)
        return Result(cast("V", flight.value), flight.shared if leader else True)

    def do_future(
        self, key: K, fn: Callable[[*Ts], Awaitable[V]], /, *args: *Ts
    ) -> asyncio.Future[V]:
        """Return an awaitable handle (an ``asyncio.Future``) for the flight's value.

        Must be called with a loop running. Cancelling the handle withdraws this caller only,
        exactly like cancelling a :meth:`do` caller; ``asyncio.wait_for(handle, t)`` is a
        per-caller timeout.
        """
        return cast("asyncio.Future[V]", self._handle(key, fn, args, False))

    def do_future_ex(
        self, key: K, fn: Callable[[*Ts], Awaitable[V]], /, *args: *Ts
    ) -> asyncio.Future[Result[V]]:
        """Like :meth:`do_future`, resolving to ``Result(value, shared)`` (Go's DoChan rule)."""
        return cast("asyncio.Future[Result[V]]", self._handle(key, fn, args, True))

    def _handle(
        self, key: K, fn: Callable[..., Awaitable[V]], args: tuple[Any, ...], wants_result: bool
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        flight = self._enter(loop, self._table(loop), key, fn, args)
        handle: asyncio.Future[Any] = loop.create_future()
        if flight.done:  # finished in its eager first step
            if flight.exc is not None:
                handle.set_exception(flight.exc)
                handle.exception()  # delivered; a dropped handle must not log it
            elif wants_result:
                handle.set_result(Result(flight.value, flight.shared))
            else:
                handle.set_result(flight.value)
            return handle
        if flight.handles is None:
            flight.handles = []
        flight.handles.append((handle, wants_result))

        def on_done(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                self._leave(flight)

        handle.add_done_callback(on_done)
        return handle

    def forget(self, key: K) -> bool:
        """Forget the running loop's flight for ``key``: later calls start a new execution.

        The running work is not interrupted and its current callers still get its outcome.
        Must be called from the loop whose flights it forgets (flights are per loop).

        Returns:
            True if a flight was forgotten, False if none was in flight for ``key``.
        """
        table = self._table_for_forget()
        try:
            flight = table.flights.pop(key, None)
        except TypeError as exc:
            raise key_error(key, exc) from exc
        if flight is None:
            return False
        table.counters.forgets += 1
        return True

    def forget_unshared(self, key: K) -> bool:
        """Forget ``key`` only if nobody joined its flight (Go's internal ``ForgetUnshared``).

        Returns:
            True if the key was forgotten or nothing was in flight for it; False if other
            callers share the flight, which then stays in the table.
        """
        table = self._table_for_forget()
        flight = table.flights.get(key)
        if flight is None:
            return True
        if flight.dups:
            return False
        del table.flights[key]
        table.counters.forgets += 1
        return True

    def _table_for_forget(self) -> _Table:
        try:
            return self._table(asyncio.get_running_loop())
        except RuntimeError:
            raise RuntimeError(
                "AsyncGroup.forget() must be called from a running event loop: flights are per "
                "loop, and the loop's table belongs to the loop's thread"
            ) from None

    def coalesce(
        self,
        key: Callable[..., K] | None = None,
        *,
        noself: bool = False,
        timeout: float | None = None,
    ) -> Callable[[Callable[P, Awaitable[V]]], Callable[P, Coroutine[Any, Any, V]]]:
        """Decorate a coroutine function so that concurrent calls with one key share one run.

        The wrapper is itself a coroutine function (``inspect.iscoroutinefunction`` is true),
        keeps the signature for type checkers (``ParamSpec``) and ``__wrapped__``, and works on
        methods.

        Args:
            key: Builds the key from the call's arguments (the same arguments as the function).
                By default the key is the function plus its arguments, which must be hashable.
            noself: Leave out the first positional argument (``self``) from the key.
            timeout: Per-caller timeout of every call, as for :meth:`do`.
        """
        check_timeout(timeout)

        def decorate(fn: Callable[P, Awaitable[V]]) -> Callable[P, Coroutine[Any, Any, V]]:
            @functools.wraps(fn)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> V:
                flight_key = cast("K", make_key(fn, key, noself, args, kwargs))
                work = functools.partial(fn, *args, **kwargs)
                return await self.do(flight_key, work, timeout=timeout)

            return wrapper

        return decorate

    # -- introspection ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """Keys in flight that later callers would join, summed over every loop."""
        tables = self._all_tables()
        if self._forget_after is None:
            return sum(len(t.flights) for t in tables)
        now = self._clock()
        return sum(
            1
            for t in tables
            for f in list(t.flights.values())
            if f.deadline is None or now < f.deadline
        )

    def stats(self) -> GroupStatistics:
        """Return a snapshot of the counters, summed over every loop."""
        with self._tables_lock:
            graveyard = self._graveyard
            while graveyard:
                graveyard.pop().add_to(self._retired)
            total = list(self._retired)
            tables = list(self._tables.values())
        for table in tables:
            table.counters.add_to(total)
        return statistics(len(self), total)

    def __repr__(self) -> str:
        s = self.stats()
        mode = " detach" if self._detach else ""
        return (
            f"<{type(self).__module__}.{type(self).__qualname__}{mode} in_flight={s.in_flight} "
            f"calls={s.calls} executions={s.executions} joins={s.joins} errors={s.errors}>"
        )
