"""Eager start of a flight's work on Python 3.11 (what ``eager_start=True`` does on 3.12+).

Why: a task per flight is what makes the asyncio front correct (the work's own
``asyncio.timeout()`` and ``TaskGroup`` bind to the work, never to a caller), but going through
the event loop for every call costs two loop iterations, even for work that finishes without
ever suspending (a cache hit, a computed value). So the first step of the work runs at once,
inside the caller's ``do()``, with ``asyncio.current_task()`` switched to a real task that the
work will own if it suspends:

* Each table keeps one *spare* task, created but not yet started (weakly: see
  :class:`SpareHolder`). The first step of a new
  flight runs with the spare as the current task, in a fresh copy of the caller's context
  (exactly what a new task would get).
* If the work finishes in that step, the flight settles before ``do()`` returns and the spare
  stays spare: the next flight's first step uses it too. When the loop gets to the spare's own
  first step, it ends, and the next flight creates a new spare. So at most one task per loop
  iteration is created for any number of flights that never suspend.
* If the work suspends, the spare is *adopted*: it becomes the flight's task, and its first
  step hands the task the future the work is waiting on, after which the task drives the work
  like any other coroutine. From its first line to its last, the work sees one task.

The only observable difference from a fresh task per flight: flights that finish in their first
step within one loop iteration see the same ``current_task()``. This uses asyncio's own hooks
for switching the current task (``asyncio.tasks._enter_task``/``_leave_task``, present since
3.7 and used by 3.12's eager tasks); without them, or with a custom task factory (which may
start tasks itself), the work simply starts on a new task's first step.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

__all__ = ("SpareHolder", "start")

_enter_task: Callable[[asyncio.AbstractEventLoop, Any], None] | None = getattr(
    asyncio.tasks, "_enter_task", None
)
_leave_task: Callable[[asyncio.AbstractEventLoop, Any], None] | None = getattr(
    asyncio.tasks, "_leave_task", None
)


class SpareHolder(Protocol):
    """Whoever keeps the spare between flights (a loop's table).

    It keeps a *weak* reference: between flights the spare is kept alive by the loop, which
    has its first step scheduled; once that step has run, or the loop was closed without
    running it, nothing should keep the task, and with it the loop, alive.
    """

    spare: weakref.ref[asyncio.Task[None]] | None


class _Shell(Coroutine[Any, Any, None]):
    """The coroutine of a spare task: retires on its first step unless a flight adopted it.

    Owned by the loop's thread. ``runner``, ``context`` and ``pending`` are set once, when a
    flight adopts the task, before the task's first step can run.
    """

    __slots__ = ("context", "fresh", "pending", "runner")

    def __init__(self) -> None:
        self.fresh = True  # the task has not taken its first step yet
        self.runner: Coroutine[Any, Any, None] | None = None
        self.context: contextvars.Context | None = None
        self.pending: Any = None  # what the work yielded in its eager first step

    def send(self, value: Any) -> Any:
        if self.fresh:
            self.fresh = False
            if self.runner is None:
                raise StopIteration(None)  # never adopted: this spare retires
            pending, self.pending = self.pending, None
            return pending  # the task now waits on what the work waits on
        assert self.runner is not None
        assert self.context is not None
        return self.context.run(self.runner.send, value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        exc = typ if val is None else val
        if self.fresh:
            self.fresh = False
            if self.runner is None:
                raise exc  # cancelled before any flight adopted it
            # Cancelled before the task's first step: Task.cancel() would have cancelled the
            # future the work waits on, had the task seen it.
            pending, self.pending = self.pending, None
            if isinstance(pending, asyncio.Future):
                pending.cancel()
        assert self.runner is not None
        assert self.context is not None
        return self.context.run(self.runner.throw, exc)

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()

    def __await__(self) -> Any:  # pragma: no cover - a task drives it with send/throw
        raise TypeError("a singleflight task shell is driven by its task, not awaited")


def _new_spare(loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    task = loop.create_task(_Shell())
    # A spare that nobody adopted holds no work: if its loop closes before the spare's first
    # step (a loop stopped right after a call), that is not "a task destroyed while pending"
    # worth reporting. Adoption turns the report back on.
    task._log_destroy_pending = False  # type: ignore[attr-defined]
    return task


def start(
    loop: asyncio.AbstractEventLoop, holder: SpareHolder, runner: Coroutine[Any, Any, None]
) -> asyncio.Task[None] | None:
    """Run the first step of ``runner`` eagerly, as ``holder``'s spare task.

    The spare is taken from ``holder`` while the step runs (a flight started by the step gets
    its own), and given back if the work finished in that step.

    Returns:
        The task that now runs the suspended work, or None if the work finished in its first
        step (the runner has then settled its flight).
    """
    if _enter_task is None or _leave_task is None or loop.get_task_factory() is not None:
        return loop.create_task(runner)
    ref, holder.spare = holder.spare, None
    task = ref() if ref is not None else None
    shell: _Shell | None = None
    if task is not None:
        shell = cast("_Shell", task.get_coro())
        if not shell.fresh or shell.runner is not None or task.cancelling():
            task = shell = None  # stepped already, or a work cancelled it: not reusable
    if task is None or shell is None:
        task = _new_spare(loop)
        shell = cast("_Shell", task.get_coro())
        ref = None
    context = contextvars.copy_context()
    caller = asyncio.current_task(loop)
    if caller is not None:
        _leave_task(loop, caller)
    _enter_task(loop, task)
    try:
        yielded = context.run(runner.send, None)
    except StopIteration:
        # Finished in one step (the runner has settled the flight): the spare stays spare.
        holder.spare = ref if ref is not None else weakref.ref(task)
        return None
    finally:
        _leave_task(loop, task)
        if caller is not None:
            _enter_task(loop, caller)
    task._log_destroy_pending = True  # type: ignore[attr-defined]
    shell.runner = runner
    shell.context = context
    shell.pending = yielded
    return task
