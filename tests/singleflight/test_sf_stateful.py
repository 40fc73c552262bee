"""Checklist item 27: random interleavings of calls, cancels, timeouts, forgets and outcomes.

Two Hypothesis state machines, one per front, drive a real group against a small model of
what the group must do:

* every call either starts a new flight (its own ``fn`` runs, exactly once) or joins the key's
  current flight (its ``fn`` never runs);
* every caller that stays gets its flight's outcome (value or the same exception);
* a caller that leaves (cancellation, ``timeout=``, ``future.cancel()``) gets its own
  CancelledError/TimeoutError and nothing else changes, except that on asyncio the last caller
  leaving cancels the work and releases the key;
* ``forget`` releases the key without touching the running work;
* at the end, with every flight finished, the registry is empty.

Steps are ordered by the machine, never by time: the asyncio machine runs its private loop
until nothing is ready; the thread machine waits for the observable start of each new flight.
"""

from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import Future
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sf_helpers import DEADLINE_S, Gate, wait_until

from bootup.singleflight import AsyncGroup, Group

KEYS = st.sampled_from(["a", "b"])
_ids = itertools.count()


class Failure(Exception):
    pass


@dataclass(eq=False)
class Flight:
    """The model of one flight: who runs it and who still waits for it."""

    key: str
    runner: object  # the work object whose fn runs
    callers: list[int] = field(default_factory=list)  # caller ids still waiting
    outcome: object = None  # the value, or the Failure instance
    finished: bool = False
    abandoned: bool = False


# -- asyncio -------------------------------------------------------------------------------


class AsyncWork:
    def __init__(self) -> None:
        self.id = next(_ids)
        self.gate = asyncio.Event()
        self.fail = False
        self.runs = 0
        self.cancelled = False

    async def __call__(self) -> str:
        self.runs += 1
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.fail:
            raise Failure(self.id)
        return f"value-{self.id}"


class AsyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.loop.set_debug(True)
        self.complaints: list[str] = []
        self.loop.set_exception_handler(lambda _loop, ctx: self.complaints.append(str(ctx)))
        self.group: AsyncGroup[str, str] = AsyncGroup()
        self.current: dict[str, Flight | None] = {"a": None, "b": None}
        self.flights: list[Flight] = []
        self.callers: dict[int, tuple[asyncio.Task[str], Flight]] = {}
        self.left: dict[int, type[BaseException]] = {}  # caller id -> what it must raise
        self.works: list[AsyncWork] = []

    def settle(self) -> None:
        for _ in range(6):
            self.loop.run_until_complete(asyncio.sleep(0))

    def _call(self, key: str, timeout: float | None) -> int:
        work = AsyncWork()
        self.works.append(work)
        caller = next(_ids)
        task = self.loop.create_task(self.group.do(key, work, timeout=timeout))
        flight = self.current[key]
        if flight is None:
            flight = Flight(key, work)
            self.flights.append(flight)
            self.current[key] = flight
        flight.callers.append(caller)
        self.callers[caller] = (task, flight)
        self.settle()
        assert work.runs == (1 if flight.runner is work else 0)
        return caller

    def _leave(self, caller: int, error: type[BaseException]) -> None:
        _task, flight = self.callers[caller]
        flight.callers.remove(caller)
        self.left[caller] = error
        if not flight.callers and not flight.finished:
            flight.abandoned = True
            if self.current[flight.key] is flight:
                self.current[flight.key] = None

    @rule(key=KEYS)
    def call(self, key: str) -> None:
        self._call(key, None)

    @rule(key=KEYS)
    def call_that_times_out(self, key: str) -> None:
        caller = self._call(key, 0)
        # timeout=0 expires on the next loop iteration unless the flight is already done.
        self._leave(caller, TimeoutError)

    @precondition(lambda self: any(not t.done() for t, _ in self.callers.values()))
    @rule(data=st.data())
    def cancel_a_caller(self, data: st.DataObject) -> None:
        waiting = sorted(c for c, (t, _f) in self.callers.items() if not t.done())
        caller = data.draw(st.sampled_from(waiting))
        task, _flight = self.callers[caller]
        task.cancel()
        self._leave(caller, asyncio.CancelledError)
        self.settle()

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        expected = self.current[key] is not None

        async def forget() -> bool:  # flights are per loop: forget from inside the loop
            return self.group.forget(key)

        assert self.loop.run_until_complete(forget()) is expected
        self.current[key] = None

    @precondition(lambda self: any(not f.finished and not f.abandoned for f in self.flights))
    @rule(data=st.data(), fail=st.booleans())
    def finish_a_flight(self, data: st.DataObject, fail: bool) -> None:
        running = [f for f in self.flights if not f.finished and not f.abandoned]
        flight = data.draw(st.sampled_from(running))
        self._finish(flight, fail)

    def _finish(self, flight: Flight, fail: bool) -> None:
        work = flight.runner
        assert isinstance(work, AsyncWork)
        work.fail = fail
        work.gate.set()
        flight.finished = True
        if self.current[flight.key] is flight:
            self.current[flight.key] = None
        self.settle()
        flight.outcome = None if fail else f"value-{work.id}"

    @invariant()
    def table_matches_model(self) -> None:
        assert len(self.group) == sum(1 for f in self.current.values() if f is not None)

    def teardown(self) -> None:
        try:
            for flight in self.flights:
                if not flight.finished and not flight.abandoned:
                    self._finish(flight, False)
            self.settle()
            for caller, (task, flight) in self.callers.items():
                assert task.done(), caller
                if caller in self.left:
                    expected = self.left[caller]
                    if expected is asyncio.CancelledError:
                        assert task.cancelled()
                    else:
                        assert isinstance(task.exception(), expected)
                elif flight.outcome is None:
                    assert isinstance(task.exception(), Failure)
                else:
                    assert task.result() == flight.outcome
            for work in self.works:
                assert work.runs <= 1
            for flight in self.flights:
                assert isinstance(flight.runner, AsyncWork)
                assert flight.runner.cancelled is flight.abandoned
            assert len(self.group) == 0
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            assert not self.complaints, self.complaints
        finally:
            self.loop.close()


TestAsyncInterleavings = AsyncMachine.TestCase
TestAsyncInterleavings.settings = settings(max_examples=30, stateful_step_count=25)


# -- threads ----------------------------------------------------------------------------------


class ThreadWork:
    def __init__(self) -> None:
        self.id = next(_ids)
        self.gate = Gate()
        self.started = Gate()
        self.fail = False
        self.runs = 0

    def __call__(self) -> str:
        self.runs += 1
        self.started.open()
        self.gate.wait()
        if self.fail:
            raise Failure(self.id)
        return f"value-{self.id}"


class ThreadMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.group: Group[str, str] = Group()
        self.current: dict[str, Flight | None] = {"a": None, "b": None}
        self.flights: list[Flight] = []
        self.callers: dict[int, tuple[Future[str], Flight]] = {}
        self.withdrawn: set[int] = set()
        self.works: list[ThreadWork] = []

    @rule(key=KEYS)
    def call(self, key: str) -> None:
        work = ThreadWork()
        self.works.append(work)
        future = self.group.do_future(key, work)
        flight = self.current[key]
        if flight is None:
            flight = Flight(key, work)
            self.flights.append(flight)
            self.current[key] = flight
            work.started.wait()  # the new flight's own fn runs
        caller = next(_ids)
        flight.callers.append(caller)
        self.callers[caller] = (future, flight)

    @precondition(lambda self: any(not f.done() for f, _ in self.callers.values()))
    @rule(data=st.data())
    def withdraw_a_caller(self, data: st.DataObject) -> None:
        waiting = sorted(c for c, (f, _fl) in self.callers.items() if not f.done())
        caller = data.draw(st.sampled_from(waiting))
        future, _flight = self.callers[caller]
        if future.cancel():
            self.withdrawn.add(caller)

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        assert self.group.forget(key) is (self.current[key] is not None)
        self.current[key] = None

    @precondition(lambda self: any(not f.finished for f in self.flights))
    @rule(data=st.data(), fail=st.booleans())
    def finish_a_flight(self, data: st.DataObject, fail: bool) -> None:
        running = [f for f in self.flights if not f.finished]
        self._finish(data.draw(st.sampled_from(running)), fail)

    def _finish(self, flight: Flight, fail: bool) -> None:
        work = flight.runner
        assert isinstance(work, ThreadWork)
        work.fail = fail
        flight.outcome = None if fail else f"value-{work.id}"
        flight.finished = True
        if self.current[flight.key] is flight:
            self.current[flight.key] = None
        work.gate.open()
        # The flight is over once its own caller's future is resolved (or it withdrew).
        wait_until(
            lambda: all(self.callers[c][0].done() for c in flight.callers),
            "the finished flight resolved its callers",
        )
        wait_until(lambda: self._table_size() == len(self.group), "the table caught up")

    def _table_size(self) -> int:
        return sum(1 for f in self.current.values() if f is not None)

    @invariant()
    def table_matches_model(self) -> None:
        assert len(self.group) == self._table_size()

    def teardown(self) -> None:
        for flight in self.flights:
            if not flight.finished:
                self._finish(flight, False)
        for caller, (future, flight) in self.callers.items():
            if caller in self.withdrawn:
                assert future.cancelled()
            elif flight.outcome is None:
                with pytest.raises(Failure):
                    future.result(DEADLINE_S)
            else:
                assert future.result(DEADLINE_S) == flight.outcome
        assert all(
            w.runs == (1 if any(f.runner is w for f in self.flights) else 0) for w in self.works
        )
        assert len(self.group) == 0


TestThreadInterleavings = ThreadMachine.TestCase
TestThreadInterleavings.settings = settings(max_examples=60, stateful_step_count=20)
