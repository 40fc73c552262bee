"""The thread front: :class:`Group`, Go's ``Do``/``DoChan``/``Forget`` for threads.

Ownership and locking (Go's habit of saying which lock guards which field):

* ``Group._lock`` guards ``Group._flights`` and ``Group._counters``, and, on each flight, the
  fields written while it is in flight (``dups``, ``gate``, ``futures``) and the hand-over of
  the outcome (``done``, ``shared``).
* The outcome fields of a flight (``value``, ``exc``, ``tb``) are written once by the thread
  running the work, before ``done`` is set under the lock, and read by waiters only after the
  flight's gate opens or its future is resolved. Nobody writes them afterwards.

The leader of :meth:`Group.do` runs ``fn`` inline in its own thread, as Go does. The wake-up
primitive is created only when somebody joins, so an uncontended call costs one lock
round-trip to start and one to finish and allocates nothing but the flight record. That
primitive is a *baton*: a plain lock, taken when the first waiter arrives and released by the
work when the flight ends; each waiter takes it and passes it on at once (``with gate: pass``).
Waking 1,000 waiters that way is cheaper than ``threading.Event``, whose ``Condition`` makes
every woken waiter queue again for the condition's lock, and ``with`` hands the baton on even if
a signal handler raises in the waiter.

A leader that has a ``timeout=``, and :meth:`Group.do_future`, run the work in a new daemon
thread instead (Go's ``DoChan`` runs it in a new goroutine), so the caller can stop waiting
while the work goes on for everybody else.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, TypeVarTuple, cast

from bootup.singleflight._call import (
    ACTIVE,
    DEFAULT_CLOCK,
    Clock,
    Counters,
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

__all__ = ("Group",)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


def _locked() -> threading.Lock:
    """A new lock, already taken: the baton of a flight that somebody waits for."""
    gate = threading.Lock()
    gate.acquire()
    return gate


class _FlightFuture(Future[T]):
    """A ``concurrent.futures.Future`` whose ``result()`` keeps a shared traceback bounded.

    ``Future.result()`` does ``raise self._exception``, which prepends the caller's frames to the
    one exception instance every waiter shares (402-999 frames for 200 waiters, §3.4 item 8).
    This subclass re-raises it with the traceback the work left, like ``asyncio.Future``.
    """

    _flight_tb: TracebackType | None = None

    def result(self, timeout: float | None = None) -> T:
        exc = self.exception(timeout)
        if exc is not None:
            raise exc.with_traceback(self._flight_tb)
        return super().result(0)


class _Flight(Generic[V]):
    """One execution of ``fn`` for one key (Go's ``call``); see the module docstring for locking."""

    __slots__ = (
        "deadline",
        "done",
        "dups",
        "exc",
        "futures",
        "gate",
        "key",
        "shared",
        "tb",
        "value",
    )

    def __init__(self, key: Hashable, deadline: float | None) -> None:
        self.key = key
        self.deadline = deadline  # forget_after: the table stops offering it after this instant
        self.dups = 0  # callers that joined (Go's dups); guarded by Group._lock
        # The baton (see the module docstring): created locked by the first waiter, under the
        # group lock, and released by the work when the flight ends.
        self.gate: threading.Lock | None = None
        self.futures: list[tuple[_FlightFuture[Any], bool]] | None = None  # (future, wants Result)
        self.done = False
        self.shared = False
        self.value: V | None = None
        self.exc: BaseException | None = None
        self.tb: TracebackType | None = None

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<flight {self.key!r} {state} dups={self.dups}>"


class Group(Generic[K, V]):
    """Duplicate-call suppression for threads: one execution of ``fn`` per key in flight.

    ``do(key, fn, *args)`` runs ``fn(*args)`` unless a call for ``key`` is already running, in
    which case it waits for that call and returns its value, or raises its exception (the same
    instance, ``BaseException`` included) in every waiter. It is not a cache: once the flight
    ends, the next call runs ``fn`` again.

    Arguments: ``fn`` receives the positional ``*args``; bind keyword arguments with
    :func:`functools.partial`. Keywords of ``do`` itself (``timeout=``) belong to the group and
    are never passed to ``fn``, so the two can never collide, and type checkers still check
    ``args`` against ``fn`` (``TypeVarTuple``).

    Usage::

        users: Group[int, User] = Group()
        user = users.do(uid, load_user, uid)                 # value, or load_user's exception
        user = users.do(uid, load_user, uid, timeout=2.0)    # TimeoutError after 2 s, work goes on
        fut = users.do_future(uid, load_user, uid)           # Go's DoChan
        user = fut.result(timeout=0.5)

    Args:
        forget_after: Rate control (the Go article's trick): forget a key this many seconds
            after its flight started, so later callers start a new execution even if the old one
            still runs. At most one execution then starts per interval and key.
        clock: The monotonic clock ``forget_after`` is measured with (tests inject one).
    """

    def __init__(self, *, forget_after: float | None = None, clock: Clock = DEFAULT_CLOCK) -> None:
        self._lock = threading.Lock()
        self._flights: dict[K, _Flight[V]] = {}
        self._counters = Counters()
        self._forget_after = check_forget_after(forget_after)
        self._clock = clock

    # -- entering and leaving the table -------------------------------------------------------

    def _enter(
        self,
        key: K,
        fn: object,
        leader_waits: bool,
        future: tuple[_FlightFuture[Any], bool] | None = None,
    ) -> tuple[_Flight[V], bool]:
        """Find or start the flight for ``key``; return it and whether this caller leads it.

        A joiner always finds the flight's gate created; a leader gets one only when
        ``leader_waits`` (it runs the work elsewhere and blocks like a joiner). ``future`` is a
        :meth:`do_future` caller's future, registered under the same lock so that it cannot
        miss the flight's completion.
        """
        if not callable(fn):
            raise not_callable_error(fn)
        with self._lock:
            counters = self._counters
            counters.calls += 1
            try:
                flight = self._flights.get(key)
            except TypeError as exc:
                raise key_error(key, exc) from exc
            if (
                flight is not None
                and flight.deadline is not None
                and self._clock() >= flight.deadline
            ):
                del self._flights[key]
                counters.forgets += 1
                flight = None
            if flight is None:
                deadline = None
                if self._forget_after is not None:
                    deadline = self._clock() + self._forget_after
                flight = _Flight(key, deadline)
                self._flights[key] = flight
                counters.executions += 1
                if leader_waits:
                    flight.gate = _locked()
                leader = True
            else:
                if flight in ACTIVE.get():
                    raise reentrant_error(key)
                flight.dups += 1
                counters.joins += 1
                if future is None and flight.gate is None:
                    flight.gate = _locked()
                leader = False
            if future is not None:
                if flight.futures is None:
                    flight.futures = []
                flight.futures.append(future)
            return flight, leader

    def _run(self, flight: _Flight[V], fn: Callable[..., V], args: tuple[Any, ...]) -> None:
        """Run the work and publish its outcome; never raises (the outcome holds the error)."""
        token = ACTIVE.set((*ACTIVE.get(), flight))
        try:
            flight.value = fn(*args)
        except BaseException as exc:
            flight.exc = exc
            flight.tb = exc.__traceback__
        finally:
            ACTIVE.reset(token)
            self._finish(flight)

    def _finish(self, flight: _Flight[V]) -> None:
        """Remove the flight (only if the entry is still its own) and wake every waiter."""
        with self._lock:
            if self._flights.get(cast("K", flight.key)) is flight:
                del self._flights[cast("K", flight.key)]
            flight.done = True
            flight.shared = flight.dups > 0
            if flight.exc is not None:
                self._counters.errors += 1
            gate = flight.gate
            futures = flight.futures
        if gate is not None:
            gate.release()  # hand the baton to the first waiter
        if futures is not None:
            for future, wants_result in futures:
                if not future.set_running_or_notify_cancel():
                    continue  # this caller cancelled its own future; the others still get theirs
                if flight.exc is not None:
                    future._flight_tb = flight.tb
                    future.set_exception(flight.exc)
                elif wants_result:
                    future.set_result(Result(flight.value, flight.shared))
                else:
                    future.set_result(flight.value)

    def _wait(self, flight: _Flight[V], timeout: float | None) -> V:
        """Block until the flight is done (or this caller's timeout passes); return its value."""
        gate = flight.gate
        assert gate is not None  # created under the lock by _enter
        if timeout is None:
            with gate:  # take the baton and pass it on, even if a signal handler raises
                pass
        else:
            if not gate.acquire(True, timeout):
                with self._lock:
                    self._counters.timeouts += 1
                raise timeout_error(flight.key, timeout)
            gate.release()
        if flight.exc is not None:
            raise_shared(flight.exc, flight.tb)
        return cast("V", flight.value)

    def _start_thread(
        self, flight: _Flight[V], fn: Callable[..., V], args: tuple[Any, ...]
    ) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(flight, fn, args),
            name=f"singleflight {flight.key!r}",
            daemon=True,  # like a goroutine: the work does not keep the process alive
        )
        thread.start()

    # -- public API ----------------------------------------------------------------------------

    def do(self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts, timeout: float | None = None) -> V:
        """Run ``fn(*args)`` once per key in flight and return its value to every caller.

        The first caller runs ``fn`` in its own thread (Go's ``Do``); callers that arrive while
        it runs wait and receive the same value, or the same exception instance re-raised.

        Args:
            key: Any hashable value naming the work.
            fn: The work; called with ``*args`` only (use :func:`functools.partial` for
                keywords).
            *args: Positional arguments for ``fn``.
            timeout: Seconds this caller waits at most. It raises ``TimeoutError`` then; the
                shared work is never interrupted and still serves the other callers. With a
                timeout, a caller that starts the flight runs the work in a new thread.

        Returns:
            The value ``fn`` returned, for this caller or for the flight it joined.

        Raises:
            TimeoutError: This caller's ``timeout`` passed first.
            bootup.errors.ReentrantCallError: ``fn`` called ``do`` for its own key.
            TypeError: ``key`` is not hashable or ``fn`` is not callable.
        """
        if timeout is not None:
            check_timeout(timeout)
            flight, leader = self._enter(key, fn, True)
            if leader:
                self._start_thread(flight, fn, args)
            return self._wait(flight, timeout)
        flight, leader = self._enter(key, fn, False)
        if not leader:
            return self._wait(flight, None)
        self._run(flight, fn, args)
        if flight.exc is not None:
            raise_shared(flight.exc, flight.tb)
        return cast("V", flight.value)

    def do_ex(
        self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts, timeout: float | None = None
    ) -> Result[V]:
        """Like :meth:`do`, but return ``Result(value, shared)`` with Go's ``shared`` flag.

        A joiner always gets ``shared=True``; the leader gets ``True`` only if somebody joined.
        """
        if timeout is not None:
            check_timeout(timeout)
            flight, leader = self._enter(key, fn, True)
            if leader:
                self._start_thread(flight, fn, args)
            value = self._wait(flight, timeout)
            return Result(value, flight.shared if leader else True)
        flight, leader = self._enter(key, fn, False)
        if not leader:
            return Result(self._wait(flight, None), True)
        self._run(flight, fn, args)
        if flight.exc is not None:
            raise_shared(flight.exc, flight.tb)
        return Result(cast("V", flight.value), flight.shared)

    def do_future(self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts) -> Future[V]:
        """Go's ``DoChan``: return a ``concurrent.futures.Future`` of the flight's value.

        A new flight runs in a new daemon thread. ``future.result(timeout=...)`` is this
        caller's timeout, and ``future.cancel()`` withdraws only this caller: the work and the
        other callers' futures are unaffected. The future's exception is the flight's shared
        exception; ``fn`` of a caller that joined is never called.
        """
        return cast("Future[V]", self._future(key, fn, args, False))

    def do_future_ex(self, key: K, fn: Callable[[*Ts], V], /, *args: *Ts) -> Future[Result[V]]:
        """Like :meth:`do_future`, resolving to ``Result(value, shared)``.

        ``shared`` is computed once, when the flight completes (Go's ``DoChan`` rule), so the
        leader's future also says ``True`` if anybody joined.
        """
        return cast("Future[Result[V]]", self._future(key, fn, args, True))

    def _future(
        self, key: K, fn: Callable[..., V], args: tuple[Any, ...], wants_result: bool
    ) -> _FlightFuture[Any]:
        future: _FlightFuture[Any] = _FlightFuture()
        flight, leader = self._enter(key, fn, False, (future, wants_result))
        if leader:
            self._start_thread(flight, fn, args)
        return future

    def forget(self, key: K) -> bool:
        """Forget the flight for ``key``: later calls start a new execution.

        The running work is not interrupted and its current waiters still get its outcome
        (Go's ``Forget``). When it finishes, it does not remove the newer flight.

        Returns:
            True if a flight was forgotten, False if none was in flight for ``key``.
        """
        with self._lock:
            if self._flights.pop(key, None) is None:
                return False
            self._counters.forgets += 1
            return True

    def forget_unshared(self, key: K) -> bool:
        """Forget ``key`` only if nobody joined its flight (Go's internal ``ForgetUnshared``).

        Returns:
            True if the key was forgotten or nothing was in flight for it; False if other
            callers share the flight, which then stays in the table.
        """
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                return True
            if flight.dups:
                return False
            del self._flights[key]
            self._counters.forgets += 1
            return True

    def coalesce(
        self,
        key: Callable[..., K] | None = None,
        *,
        noself: bool = False,
        timeout: float | None = None,
    ) -> Callable[[Callable[P, V]], Callable[P, V]]:
        """Decorate a function so that concurrent calls with the same key share one execution.

        The wrapper keeps the function's signature for type checkers (``ParamSpec``), and
        ``__wrapped__``, ``__name__`` and ``__doc__`` for introspection; it works on methods.

        Args:
            key: Builds the key from the call's arguments (the same arguments as the function).
                By default the key is the function plus its arguments, which must be hashable.
            noself: Leave out the first positional argument (``self``) from the key, so calls
                on different instances share flights.
            timeout: Per-caller timeout of every call, as for :meth:`do`.
        """
        check_timeout(timeout)

        def decorate(fn: Callable[P, V]) -> Callable[P, V]:
            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> V:
                flight_key = cast("K", make_key(fn, key, noself, args, kwargs))
                return self.do(flight_key, functools.partial(fn, *args, **kwargs), timeout=timeout)

            return wrapper

        return decorate

    # -- introspection -------------------------------------------------------------------------

    def __len__(self) -> int:
        """Keys with a flight in progress that later callers would join."""
        with self._lock:
            if self._forget_after is None:
                return len(self._flights)
            now = self._clock()
            return sum(1 for f in self._flights.values() if f.deadline is None or now < f.deadline)

    def stats(self) -> GroupStatistics:
        """Return a snapshot of the counters (calls, executions, joins, errors, ...)."""
        in_flight = len(self)
        total = [0] * 6
        with self._lock:
            self._counters.add_to(total)
        return statistics(in_flight, total)

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} in_flight={s.in_flight} "
            f"calls={s.calls} executions={s.executions} joins={s.joins} errors={s.errors}>"
        )
