"""The service manager: loads a unit set, applies transactions, runs and supervises jobs.

Design. One asyncio event loop does everything; nothing polls. A request ("start
multi-user.target") becomes a transaction (:func:`bootup.transaction.build_transaction`,
systemd's rules), whose jobs are installed one per unit. A job runs as soon as systemd's
``job_is_runnable()`` holds (:mod:`bootup.runtime.jobs`); independent jobs run concurrently
as tasks. When a job finishes, only its unit's ordering neighbours are looked at again.
Failures propagate as in src/core/job.c: a failed start or verify job fails the waiting
start jobs of the units that ``Requires=``, ``BindsTo=`` or ``Requisite=`` it with result
``dependency``. State changes drive the rest: ``OnFailure=``/``OnSuccess=``, stopping
``BindsTo=`` dependants, restarting ``Upholds=`` targets, automatic restarts.

Concurrent identical requests share one job through a singleflight
:class:`~bootup.singleflight.AsyncGroup` keyed by (unit, job type): every caller gets the
same result.

Configuration changes. :meth:`Manager.reload` is ``daemon-reload``: the files are read again
in a worker thread and swapped in between two loop steps; runtime objects (and so running
processes and queued jobs) stay. :meth:`Manager.need_daemon_reload` and
:meth:`Manager.unit_file_state` answer ``NeedDaemonReload=`` and ``UnitFileState=`` as
systemd 252 does (compared with it by tests/conformance/test_reload_systemd.py), and
:meth:`Manager.reset_failed` is ``reset-failed``.

Observers (the console, tests) subscribe to :class:`~bootup.runtime.jobs.JobEvent` and
:class:`~bootup.runtime.jobs.UnitEvent`; :meth:`Manager.wait_until` waits for a predicate
over the manager's state, woken by those events, never by a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from bootup.errors import ManagerError
from bootup.runtime.clock import Clock, LoopClock, usec
from bootup.runtime.console import job_message
from bootup.runtime.jobs import JobEvent, JobState, RunJob, UnitEvent, is_runnable
from bootup.runtime.journal import Journal
from bootup.runtime.notify import NotifyMessage, NotifyServer
from bootup.runtime.process import (
    CgroupTree,
    ChildReaper,
    OutputGate,
    ProcessTable,
    set_child_subreaper,
)
from bootup.runtime.service import ServiceRuntime, UnitRuntime, make_runtime
from bootup.runtime.states import ActiveState, JobResult, ServiceState
from bootup.singleflight import AsyncGroup
from bootup.transaction import (
    JobMode,
    JobType,
    QueuedJob,
    Transaction,
    UnitGraph,
    build_transaction,
)
from bootup.transaction.units_graph import unit_node
from bootup.units.dependencies import load_graph
from bootup.units.loader import Loader
from bootup.units.model import DependencyType, LoadState, Unit, UnitType
from bootup.units.paths import SearchPath
from bootup.units.paths import _dropin_candidates as dropin_candidates

if TYPE_CHECKING:
    from bootup.units.install import _Presets

__all__ = ("Event", "Manager")

logger = logging.getLogger(__name__)

Event = JobEvent | UnitEvent

_PROPAGATE_START_FAILURE = (
    DependencyType.REQUIRED_BY,
    DependencyType.BOUND_BY,
    DependencyType.REQUISITE_OF,
)
_INACTIVE = (ActiveState.INACTIVE, ActiveState.FAILED)
#: systemd's auto_start_stop_ratelimit: at most 16 Upholds= starts per 10 s per unit.
_UPHOLD_BURST = 16
_UPHOLD_INTERVAL = 10.0


class Manager:
    """A bootup service manager over one unit search path.

    Use as ``async with Manager(path, state_dir=...) as m: await m.start_unit("x.target")``.
    It must run on the main thread's event loop (it handles SIGCHLD).

    Args:
        search_path: where units are loaded from.
        state_dir: runtime files (the notify socket); created if missing.
        journal: where manager and service lines go; None keeps them in the Python log.
        clock: time source for timeouts and restarts (tests inject a ManualClock).
        root: the root directory conditions are evaluated against.
        subreaper: make the manager the child subreaper of its descendants.
    """

    def __init__(
        self,
        search_path: SearchPath,
        *,
        state_dir: Path,
        journal: Journal | None = None,
        clock: Clock | None = None,
        root: str = "/",
        subreaper: bool = True,
        state_file: Path | None = None,
    ) -> None:
        self.search_path = search_path
        self.state_dir = state_dir
        self.journal = journal
        self.clock: Clock = clock or LoopClock()
        self.root = root
        self.reaper = ChildReaper()
        self.notify_socket: str | None = None
        self.units: dict[str, Unit] = {}
        self.graph: UnitGraph = UnitGraph([])
        self.runtimes: dict[str, UnitRuntime] = {}
        self.jobs: dict[str, RunJob] = {}
        self._superseded: dict[str, RunJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[Event], object]] = []
        self._changed: asyncio.Condition | None = None
        self._flights: AsyncGroup[tuple[str, str], JobResult] = AsyncGroup()
        self._notify: NotifyServer | None = None
        self._subreaper = subreaper
        self._uphold_starts: dict[str, list[float]] = {}
        self._closed = False
        self._table: ProcessTable | None = None
        #: Set by shutdown(): no new start jobs from triggers, restarts or Upholds=.
        self.stopping = False
        self._idle: asyncio.Event | None = None
        self.state_file = state_file
        #: Wall-clock µs when this manager opened: its "boot", for ``status``'s journal
        #: tail (systemctl status shows the lines of the current boot only).
        self.started_usec = time.time_ns() // 1000
        #: systemd's UserspaceTimestamp: (monotonic, realtime) µs when the manager opened.
        self.userspace_timestamp: tuple[int, int] | None = None
        #: systemd's FinishTimestamp: when the job queue first ran empty after jobs ran
        #: (manager_check_finished), the end of "startup" for analyze time/blame/plot.
        self.finish_timestamp: tuple[int, int] | None = None
        self._snapshot_pending = False
        #: Closed while the journal commits a backlog of output lines (see _output_drain).
        self.output_gate = OutputGate()
        #: The cgroup v2 subtree units run in, or None: process-group tracking only.
        self.cgroups: CgroupTree | None = None
        self._lines_since_drain = 0
        #: What each unit's files looked like when loaded (NeedDaemonReload=).
        self._stamps: dict[str, _FileStamp] = {}
        self._dropin_dirs: frozenset[str] = frozenset()
        #: Units kept after their file vanished because they still run (or failed).
        self._ghosts: set[str] = set()
        #: Set when unit files were changed through the manager and not reloaded since
        #: (systemd's unit_file_state_outdated): every unit then needs a daemon-reload.
        self.unit_file_state_outdated = False
        self._file_states: dict[str, tuple[str, str]] = {}
        self._presets: _Presets | None = None
        self._reload_lock: asyncio.Lock | None = None
        #: How many times the unit files were (re)loaded.
        self.generation = 0

    # --- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Manager:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Load the units, start reaping children and receiving sd_notify messages."""
        self._changed = asyncio.Condition()
        self._idle = asyncio.Event()
        self._idle.set()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.started_usec = time.time_ns() // 1000
        self.userspace_timestamp = self._now_usec()
        self.load()
        if self._subreaper:
            set_child_subreaper(True)
        self.reaper.start()
        self.reaper.add_listener(self._drop_table)
        notify = NotifyServer(self.state_dir / "notify", self._on_notify)
        await notify.start()
        self._notify = notify
        self.notify_socket = notify.address
        self.cgroups = CgroupTree.create()
        if self.cgroups is not None:
            self.log(None, f"Tracking unit processes in cgroup v2 subtree {self.cgroups.path}.")
        else:
            self.log(
                None,
                "No writable cgroup v2 hierarchy: tracking unit processes by process group "
                "and INVOCATION_ID.",
            )

    def load(self) -> None:
        """(Re)load every unit on the search path and the graph transactions use."""
        self._apply_load(_load_units(self.search_path))

    def request_reload(self) -> None:
        """SIGHUP's daemon-reload: nobody waits for it, so a failure is logged, not raised."""

        async def run() -> None:
            try:
                await self.reload()
            except Exception as exc:  # a broken unit tree must not end supervision
                self.log(None, f"Failed to reload: {exc}", priority=3)

        self._spawn(run())

    async def reload(self) -> None:
        """``systemctl daemon-reload``: read every unit file again, keep what runs.

        The files are read in a worker thread (the loop keeps serving); the result is
        applied at once, between two loop steps. Runtime objects keep their state, so a
        running service keeps running and its new settings apply from its next start, as
        in systemd. Units whose file disappeared are forgotten when inactive; one that
        still runs or failed stays, ``not-found``, until it is stopped or reset. Queued
        jobs survive and are looked at again under the new ordering.
        """
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            began = time.monotonic()
            self.log(None, "Reloading.")
            loaded = await asyncio.to_thread(_load_units, self.search_path)
            self._apply_load(loaded)
            took = (time.monotonic() - began) * 1000
            self.log(None, f"Reloading finished in {took:.0f} ms.")
        for job in list(self.jobs.values()):
            self._try_run(job)
        if self.state_file is not None and not self._snapshot_pending:
            self._snapshot_pending = True  # units may have come or gone: state.json too
            asyncio.get_running_loop().call_soon(self._write_snapshot)
        self._wake()

    def _apply_load(self, loaded: _Loaded) -> None:
        units = dict(loaded.units)
        ghosts: set[str] = set()
        for name, runtime in list(self.runtimes.items()):
            if name in units:
                continue
            if runtime.active_state is ActiveState.INACTIVE and name not in self.jobs:
                del self.runtimes[name]
                continue
            # systemd keeps a unit that runs (or failed) when its file is gone: it is
            # not-found from now on, and is collected once it is stopped (or reset).
            units[name] = loaded.loader.load(name)
            ghosts.add(name)
        graph = loaded.graph
        if ghosts or graph is None:
            graph = UnitGraph([unit_node(u) for u in units.values()])
        self.units = units
        self.graph = graph
        self._ghosts = ghosts
        self._stamps = loaded.stamps
        self._dropin_dirs = loaded.dropin_dirs
        self._file_states = {}
        self._presets = None
        self.unit_file_state_outdated = False
        self.generation += 1
        for name, unit in units.items():
            existing = self.runtimes.get(name)
            if existing is None:
                self.runtimes[name] = make_runtime(unit, self)
            else:
                existing.unit = unit

    def _collect_later(self, name: str) -> None:
        """Forget a ghost unit (file gone) once it is inactive without a job (unit GC)."""
        if name not in self._ghosts:
            return

        def collect() -> None:
            runtime = self.runtimes.get(name)
            if name not in self._ghosts or runtime is None or name in self.jobs:
                return
            if runtime.active_state is not ActiveState.INACTIVE:
                return
            self._ghosts.discard(name)
            del self.runtimes[name]
            self.units.pop(name, None)
            self.graph = UnitGraph([unit_node(u) for u in self.units.values()])
            self.log(None, f"Collecting {name}.", priority=7)

        asyncio.get_running_loop().call_soon(collect)

    # --- reset-failed, unit file states, NeedDaemonReload= --------------------------

    def reset_failed(self, name: str | None = None) -> list[str]:
        """``systemctl reset-failed [UNIT]``: failed units become inactive (dead).

        As systemd's unit_reset_failed(): ``Result=`` back to success, the restart counter
        and the start rate limit reset; only a unit in the failed state changes state (so
        observers see failed -> inactive). Returns the names of the units that were failed.

        Raises:
            ManagerError: ``name`` is not loaded.
        """
        runtimes = [self.runtime(name)] if name is not None else list(self.runtimes.values())
        was_failed: list[str] = []
        for runtime in runtimes:
            if runtime.active_state is ActiveState.FAILED:
                was_failed.append(runtime.name)
            runtime.reset_failed()
        return was_failed

    def unit_file_state(self, name: str) -> tuple[str, str]:
        """``(UnitFileState=, UnitFilePreset=)`` of a loaded unit, from the manager's path.

        Computed per unit at the first question after a (re)load and kept until the next
        one (or until unit files are changed through the manager), as systemd caches them
        per unit. Per unit on purpose: one state walks the configuration directory's
        links (about 2 ms with 1,000 units), so all of them at once would take seconds.
        As in systemd, the preset is asked for any unit with a fragment (static ones too).
        """
        from bootup.errors import UnitError  # noqa: PLC0415
        from bootup.units.install import Installer  # noqa: PLC0415
        from bootup.units.install import _Presets as Presets  # noqa: PLC0415

        cached = self._file_states.get(name)
        if cached is not None:
            return cached
        runtime = self.runtimes.get(name)
        fragment = runtime.unit.fragment_path if runtime is not None else None
        found = ("", "")
        if runtime is not None and (fragment or runtime.unit.load_state is LoadState.MASKED):
            try:
                state = Installer(self.search_path).state(name).value
            except (UnitError, OSError):
                state = ""
            if self._presets is None:
                self._presets = Presets.load(self.search_path)
            preset = self._presets.query(os.path.basename(fragment)) if fragment else ""
            found = (state, preset)
        self._file_states[name] = found
        return found

    def unit_files_changed(self) -> None:
        """Unit files were changed through the manager (enable, disable, ...).

        Their states are computed again, and every unit reports ``NeedDaemonReload=yes``
        until the next reload, as systemd does after an install operation.
        """
        self._file_states = {}
        self.unit_file_state_outdated = True

    def need_daemon_reload(self, name: str) -> bool:
        """``NeedDaemonReload=``: a unit's fragment or drop-ins changed since the last load.

        systemd's unit_need_daemon_reload(): the fragment (or source file) vanished or has
        a newer mtime, the list of drop-ins differs, or one of them is newer than the
        newest drop-in at load time.
        """
        if self.unit_file_state_outdated:
            return True
        runtime = self.runtimes.get(name)
        stamp = self._stamps.get(name)
        if runtime is None or stamp is None:
            return False
        unit = runtime.unit
        if _newer(stamp.fragment, stamp.fragment_mtime):
            return True
        if _newer(stamp.source, stamp.source_mtime):
            return True
        current: tuple[str, ...] = ()
        if unit.load_state is LoadState.LOADED:
            current = _current_dropins(
                self.search_path, unit.names or (unit.name,), self._dropin_dirs
            )
        if current != stamp.dropins:
            return True
        return any(_newer(path, stamp.dropin_mtime) for path in stamp.dropins)

    async def close(self) -> None:
        """Stop everything that runs, then release the sockets and the SIGCHLD handler."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            await self.shutdown()
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._notify is not None:
            await self._notify.close()
        self.reaper.close()
        if self.cgroups is not None:
            self.cgroups.close()
        if self._subreaper:
            set_child_subreaper(False)

    # --- the RuntimeHost side ---------------------------------------------------------

    def log(self, unit: str | None, message: str, *, priority: int = 6) -> None:
        """A manager line into the journal (and the Python log)."""
        level = _LEVELS.get(priority, logging.INFO) if self.journal is None else logging.DEBUG
        logger.log(level, "%s: %s", unit or "bootup", message)
        if self.journal is not None:
            self.journal.append(unit, message, priority=priority, source="manager")

    def output(self, unit: str, pid: int, source: str, line: str) -> None:
        """A line printed by a unit's process."""
        if self.journal is not None:
            self.journal.append(unit, line, pid=pid or None, source=source)
            self._lines_since_drain += 1
            if self._lines_since_drain >= _DRAIN_EVERY and self.output_gate.is_open:
                self.output_gate.close()
                self._spawn(self._output_drain())
        else:
            logger.info("%s[%d]: %s", unit, pid, line)

    async def _output_drain(self) -> None:
        """Let the journal commit the lines read so far, then read pipes again.

        Why: the journal's writer thread queues lines in memory, and pipes are read far
        faster than SQLite commits; without this, a service flooding its output grows the
        manager by the whole backlog. Pausing the readers (:class:`OutputGate`) pushes the
        back-pressure into the pipes, so the flooding process waits instead.
        """
        journal = self.journal
        try:
            if journal is not None:
                await asyncio.get_running_loop().run_in_executor(None, journal.flush)
        except Exception as exc:  # the journal failing must not stop supervision
            logger.warning("journal flush failed: %s", exc)
        finally:
            self._lines_since_drain = 0
            self.output_gate.open()

    def unit_state_changed(
        self, runtime: UnitRuntime, old: ActiveState, new: ActiveState, result_ok: bool
    ) -> None:
        """Fire the dependencies that act on state changes, then tell observers."""
        name = runtime.name
        self._emit(UnitEvent(name, old, new, runtime.sub_state.value))
        if new is ActiveState.INACTIVE and name in self._ghosts:
            self._collect_later(name)
        if new is ActiveState.FAILED:
            self._trigger(name, DependencyType.ON_FAILURE, "OnFailure")
        if new is ActiveState.INACTIVE and old not in _INACTIVE and result_ok:
            self._trigger(name, DependencyType.ON_SUCCESS, "OnSuccess")
        if new in _INACTIVE and old not in _INACTIVE:
            self._stop_bound(name)
            self._uphold(name)
        if new is ActiveState.ACTIVE:
            for other in self._deps(name, DependencyType.UPHOLDS):
                self._uphold(other)

    def process_table(self) -> ProcessTable:
        """A ``/proc`` scan shared by everyone asking in this loop turn (see ProcessTable)."""
        if self._table is None:
            self._table = ProcessTable.scan()
            asyncio.get_running_loop().call_soon(self._drop_table)
        return self._table

    def _drop_table(self, *_: object) -> None:
        self._table = None

    def invalidate_process_table(self) -> None:
        """Forget the shared ``/proc`` scan (called when a process is spawned)."""
        self._table = None

    def request_restart(self, runtime: ServiceRuntime) -> None:
        """Queue a start job for a service whose RestartSec= elapsed."""
        self._spawn(self._restart_job(runtime.name))

    async def _restart_job(self, name: str) -> None:
        if self.stopping:
            return
        with contextlib.suppress(Exception):
            await self.enqueue(name, JobType.START, JobMode.REPLACE)

    async def wait_idle_queue(self, limit: float) -> None:
        """Type=idle: wait until no other start job is queued, at most ``limit`` seconds."""
        loop = asyncio.get_running_loop()
        fired: asyncio.Future[None] = loop.create_future()

        def expire() -> None:
            if not fired.done():
                fired.set_result(None)

        def others_done() -> bool:
            return sum(1 for j in self.jobs.values() if j.type is JobType.START) <= 1

        timer = self.clock.call_later(limit, expire)
        waiter = asyncio.ensure_future(self.wait_until(others_done))
        try:
            await asyncio.wait({waiter, fired}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            waiter.cancel()

    # --- observers --------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Event], object]) -> Callable[[], None]:
        """Call ``listener`` for every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        # The snapshot is scheduled before the listeners run, so a listener that defers its
        # output with call_soon (the console of ``bootup up``) prints after state.json
        # already shows the change.
        if self.state_file is not None and not self._snapshot_pending:
            self._snapshot_pending = True
            asyncio.get_running_loop().call_soon(self._write_snapshot)
        for listener in list(self._listeners):
            listener(event)
        self._wake()

    def _now_usec(self) -> tuple[int, int]:
        return usec(self.clock.monotonic()), usec(self.clock.realtime())

    def manager_properties(self) -> dict[str, str]:
        """The manager's own timestamps, as ``systemctl show`` (no unit) names them."""
        props: dict[str, str] = {}
        for key, stamp in (
            ("UserspaceTimestamp", self.userspace_timestamp),
            ("FinishTimestamp", self.finish_timestamp),
        ):
            mono, real = stamp or (0, 0)
            props[f"{key}Monotonic"] = str(mono)
            props[f"{key}Realtime"] = str(real)
        return props

    def snapshot(self) -> dict[str, object]:
        """Every unit's ``systemctl show``-style properties and the queued jobs.

        Each unit carries its After= list and the snapshot the manager's own timestamps, so
        the startup can be analysed from this file alone (``bootup analyze``).
        """
        units: dict[str, dict[str, str]] = {}
        for name, runtime in sorted(self.runtimes.items()):
            props = runtime.properties()
            props.setdefault("After", " ".join(self._after(name)))
            props.setdefault("Names", " ".join(sorted({name, *runtime.unit.aliases})))
            units[name] = props
        return {
            "pid": os.getpid(),
            "manager": self.manager_properties(),
            "units": units,
            "jobs": [
                {"id": j.id, "unit": j.unit, "type": j.type.value, "state": j.state.value}
                for j in self.list_jobs()
            ],
        }

    def _write_snapshot(self) -> None:
        """Write :meth:`snapshot` to ``state_file`` atomically (coalesced per loop turn)."""
        self._snapshot_pending = False
        path = self.state_file
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(self.snapshot(), f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("cannot write %s: %s", path, exc)

    def _wake(self) -> None:
        changed = self._changed
        if changed is None:
            return

        async def notify() -> None:
            async with changed:
                changed.notify_all()

        self._spawn(notify())

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is checked after every event."""
        assert self._changed is not None
        async with self._changed:
            await self._changed.wait_for(predicate)

    def state(self, name: str) -> ActiveState:
        """A unit's active state (aliases accepted)."""
        return self.runtime(name).active_state

    def runtime(self, name: str) -> UnitRuntime:
        """A unit's runtime object (aliases accepted)."""
        canonical = self.graph.canonical(name) if name in self.graph else name
        try:
            return self.runtimes[canonical]
        except KeyError:
            raise ManagerError(f"Unit {name} not loaded.") from None

    def service(self, name: str) -> ServiceRuntime:
        """A service's runtime object."""
        runtime = self.runtime(name)
        if not isinstance(runtime, ServiceRuntime):
            raise ManagerError(f"Unit {name} is not a service.")
        return runtime

    # --- requests ---------------------------------------------------------------------

    async def start_unit(self, name: str, mode: JobMode = JobMode.REPLACE) -> JobResult:
        """Start a unit and what it pulls in; return the anchor job's result."""
        return await self._flights.do((name, "start"), self._run_request, name, JobType.START, mode)

    async def stop_unit(self, name: str, mode: JobMode = JobMode.REPLACE) -> JobResult:
        """Stop a unit and what depends on it; return the anchor job's result."""
        return await self._flights.do((name, "stop"), self._run_request, name, JobType.STOP, mode)

    async def restart_unit(self, name: str, mode: JobMode = JobMode.REPLACE) -> JobResult:
        """Restart a unit (stop then start)."""
        return await self._flights.do(
            (name, "restart"), self._run_request, name, JobType.RESTART, mode
        )

    async def reload_unit(self, name: str) -> JobResult:
        """Run a unit's ExecReload=."""
        return await self._flights.do(
            (name, "reload"), self._run_request, name, JobType.RELOAD, JobMode.REPLACE
        )

    async def _run_request(self, name: str, job_type: JobType, mode: JobMode) -> JobResult:
        job = await self.enqueue(name, job_type, mode)
        return await asyncio.shield(job.done)

    async def enqueue(self, name: str, job_type: JobType, mode: JobMode) -> RunJob:
        """Build and install a transaction; return the anchor job (already running maybe).

        Raises:
            TransactionError: systemd would refuse the request (message as systemd's).
        """
        states = {n: r.active_state for n, r in self.runtimes.items()}
        queued = {u: QueuedJob(j.type, j.irreversible) for u, j in self.jobs.items()}
        tx = build_transaction(self.graph, name, job_type, mode, states=states, queued=queued)
        for line in tx.log:
            self.log(None, line, priority=7)
        return self._install(tx, job_type)

    def _install(self, tx: Transaction, job_type: JobType) -> RunJob:
        loop = asyncio.get_running_loop()
        for unit in tx.cancelled:
            old = self.jobs.get(unit)
            if old is not None and old.state is JobState.WAITING:
                self._finish(old, JobResult.CANCELED)
        installed: list[RunJob] = []
        anchor: RunJob | None = None
        for unit, job in sorted(tx.jobs.items()):
            existing = self.jobs.get(unit)
            if existing is not None and existing.type is job.type:
                installed.append(existing)
                if unit == tx.anchor:
                    anchor = existing
                continue
            new = RunJob(
                unit,
                job.type,
                loop.create_future(),
                irreversible=tx.mode is JobMode.REPLACE_IRREVERSIBLY,
            )
            if existing is not None:
                if existing.state is JobState.WAITING:
                    self._finish(existing, JobResult.CANCELED, dispatch=False)
                else:
                    self._superseded[unit] = existing
                    runtime = self.runtimes.get(unit)
                    if job.type in (JobType.STOP, JobType.RESTART) and isinstance(
                        runtime, ServiceRuntime
                    ):
                        runtime.interrupt_start()
            self.jobs[unit] = new
            installed.append(new)
            if unit == tx.anchor:
                anchor = new
        if anchor is None:
            # The anchor was redundant (a start of an active unit): a job that is done at once.
            anchor = RunJob(tx.anchor, job_type, loop.create_future())
            anchor.done.set_result(JobResult.DONE)
        if self._idle is not None:
            self._idle.clear()
        for run_job in installed:
            self._try_run(run_job)
        return anchor

    # --- dispatch ---------------------------------------------------------------------

    def _deps(self, name: str, kind: DependencyType) -> tuple[str, ...]:
        unit = self.units.get(name)
        return unit.deps(kind) if unit is not None else ()

    def _after(self, name: str) -> tuple[str, ...]:
        return self._deps(name, DependencyType.AFTER)

    def _before(self, name: str) -> tuple[str, ...]:
        return self._deps(name, DependencyType.BEFORE)

    def _try_run(self, job: RunJob) -> None:
        if job.state is not JobState.WAITING or job.finished or self.jobs.get(job.unit) is not job:
            return
        if job.unit in self._superseded:
            return
        if not is_runnable(job, self.jobs, self._after, self._before):
            return
        job.state = JobState.RUNNING
        self._spawn(self._run_job(job))

    def _dispatch_neighbours(self, name: str) -> None:
        for other in (*self._after(name), *self._before(name), name):
            job = self.jobs.get(other)
            if job is not None:
                self._try_run(job)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _job_event(self, job: RunJob, result: JobResult | None) -> JobEvent:
        unit = self.units.get(job.unit)
        description = unit.display_description if unit is not None else job.unit
        unit_type = unit.type.value if unit is not None else ""
        detail = ""
        runtime = self.runtimes.get(job.unit)
        if result is JobResult.DONE and runtime is not None and not runtime.condition_result:
            detail = "skipped"
        return JobEvent(job.unit, job.type, description, unit_type, result, detail)

    async def _run_job(self, job: RunJob) -> None:
        runtime = self.runtimes.get(job.unit)
        self._emit(self._job_event(job, None))
        try:
            if runtime is None:
                result = JobResult.INVALID
            elif job.type is JobType.START:
                result = await runtime.start()
            elif job.type is JobType.STOP:
                result = await runtime.stop()
            elif job.type is JobType.RESTART:
                await runtime.stop()
                result = await runtime.start()
            elif job.type is JobType.RELOAD:
                result = await runtime.reload()
            elif job.type is JobType.VERIFY_ACTIVE:
                result = await self._verify_active(runtime)
            else:
                result = JobResult.DONE
        except asyncio.CancelledError:
            self._finish(job, JobResult.CANCELED)
            raise
        except Exception as exc:  # a bug or an unsupported setting must not kill the manager
            self.log(job.unit, f"Job {job.unit}/{job.type.value} failed: {exc}", priority=3)
            logger.exception("job %s/%s failed", job.unit, job.type.value)
            result = (
                JobResult.UNSUPPORTED if isinstance(exc, NotImplementedError) else JobResult.FAILED
            )
        self._finish(job, result)

    async def _verify_active(self, runtime: UnitRuntime) -> JobResult:
        if runtime.active_state is ActiveState.ACTIVATING:
            await self.wait_until(lambda: runtime.active_state is not ActiveState.ACTIVATING)
        if runtime.active_state in (ActiveState.ACTIVE, ActiveState.RELOADING):
            return JobResult.DONE
        self.log(
            runtime.name,
            f"Unit {runtime.name} is not active, and a unit that needs it is being started.",
            priority=4,
        )
        return JobResult.SKIPPED

    def _finish(self, job: RunJob, result: JobResult, *, dispatch: bool = True) -> None:
        if job.finished:
            return
        job.done.set_result(result)
        if self.jobs.get(job.unit) is job:
            del self.jobs[job.unit]
        if self._superseded.get(job.unit) is job:
            del self._superseded[job.unit]
        event = self._job_event(job, result)
        message = job_message(event)
        if message is not None:
            self.log(job.unit, message, priority=6 if result is JobResult.DONE else 3)
        self._emit(event)
        if result is not JobResult.DONE and job.type in (JobType.START, JobType.VERIFY_ACTIVE):
            self._fail_dependants(job.unit)
        if result in (JobResult.TIMEOUT, JobResult.DEPENDENCY):
            self._trigger(job.unit, DependencyType.ON_FAILURE, "OnFailure")
        if dispatch:
            self._dispatch_neighbours(job.unit)
        if job.unit in self._ghosts:
            self._collect_later(job.unit)
        if not self.jobs and self._idle is not None:
            self._idle.set()
        if not self.jobs and self.finish_timestamp is None:
            self.finish_timestamp = self._now_usec()

    def _fail_dependants(self, name: str) -> None:
        for kind in _PROPAGATE_START_FAILURE:
            for other in self._deps(name, kind):
                job = self.jobs.get(other)
                if job is None or job.state is not JobState.WAITING:
                    continue
                if job.type in (JobType.START, JobType.VERIFY_ACTIVE):
                    self._finish(job, JobResult.DEPENDENCY)

    # --- dependencies that act at run time ----------------------------------------------

    def _trigger(self, name: str, kind: DependencyType, label: str) -> None:
        targets = self._deps(name, kind)
        if not targets:
            return
        self.log(name, f"Triggering {label}= dependencies: {' '.join(targets)}")
        for target in targets:
            self._spawn(self._start_quietly(target))

    async def _start_quietly(self, name: str) -> None:
        if self.stopping:
            return
        try:
            await self.enqueue(name, JobType.START, JobMode.REPLACE)
        except Exception as exc:
            self.log(name, f"Failed to enqueue job: {exc}", priority=3)

    def _stop_bound(self, name: str) -> None:
        """BindsTo=: units bound to a unit that went inactive are stopped."""
        for other in self._deps(name, DependencyType.BOUND_BY):
            runtime = self.runtimes.get(other)
            if runtime is None or runtime.active_state in _INACTIVE:
                continue
            if (job := self.jobs.get(other)) is not None and job.type is JobType.STOP:
                continue
            self.log(other, f"Unit {other} is bound to inactive unit {name}. Stopping, too.")
            self._spawn(self._stop_quietly(other))

    async def _stop_quietly(self, name: str) -> None:
        try:
            await self.enqueue(name, JobType.STOP, JobMode.REPLACE)
        except Exception as exc:
            self.log(name, f"Failed to enqueue stop job: {exc}", priority=3)

    def _uphold(self, name: str) -> None:
        """Upholds=: restart a unit while an active unit upholds it."""
        if self.stopping:
            return
        runtime = self.runtimes.get(name)
        if runtime is None or runtime.active_state not in _INACTIVE or name in self.jobs:
            return
        holders = [
            h
            for h in self._deps(name, DependencyType.UPHELD_BY)
            if (r := self.runtimes.get(h)) is not None and r.active_state is ActiveState.ACTIVE
        ]
        if not holders:
            return
        now = self.clock.monotonic()
        starts = [t for t in self._uphold_starts.get(name, []) if now - t < _UPHOLD_INTERVAL]
        if len(starts) >= _UPHOLD_BURST:
            self.log(
                name,
                f"Unit {name} is upheld by {holders[0]}, but its start rate limit was hit.",
                priority=4,
            )
            self._uphold_starts[name] = starts
            return
        starts.append(now)
        self._uphold_starts[name] = starts
        self.log(
            name, f"A dependency job for {name} is queued: upheld by active unit {holders[0]}."
        )
        self._spawn(self._start_quietly(name))

    # --- sd_notify ----------------------------------------------------------------------

    def _on_notify(self, message: NotifyMessage) -> None:
        service = self._service_of_pid(message.pid)
        if service is None:
            self.log(
                None,
                f"Cannot find unit for notify message of PID {message.pid}, ignoring.",
                priority=7,
            )
            return
        service.handle_notify(message.pid, message.fields)
        self._wake()

    def _service_of_pid(self, pid: int | None) -> ServiceRuntime | None:
        if pid is None:
            return None
        services = [r for r in self.runtimes.values() if isinstance(r, ServiceRuntime)]
        for s in services:
            if pid in (s.main_pid, s.control_pid):
                return s
        marker = _invocation_of(pid)
        if marker:
            for s in services:
                if s.invocation_id == marker:
                    return s
        return None

    # --- shutdown ---------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop every unit that is not inactive, in reverse start order, and wait for it."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        for job in list(self.jobs.values()):
            if job.state is JobState.WAITING:
                self._finish(job, JobResult.CANCELED, dispatch=False)
        stops: list[RunJob] = []
        for name, runtime in sorted(self.runtimes.items()):
            if runtime.unit.type is UnitType.SLICE:
                continue
            busy = runtime.active_state not in _INACTIVE or (
                isinstance(runtime, ServiceRuntime)
                and runtime.sub_state is ServiceState.AUTO_RESTART
            )
            if not busy:
                continue
            existing = self.jobs.get(name)
            job = RunJob(name, JobType.STOP, loop.create_future())
            if existing is not None:
                self._superseded[name] = existing
                if isinstance(runtime, ServiceRuntime):
                    runtime.interrupt_start()
            self.jobs[name] = job
            stops.append(job)
        for job in stops:
            self._try_run(job)
        if stops:
            await asyncio.gather(*(asyncio.shield(j.done) for j in stops))
        await self.wait_until(lambda: not self.jobs)

    def list_jobs(self) -> list[RunJob]:
        """The installed jobs (``systemctl list-jobs``)."""
        return sorted(self.jobs.values(), key=lambda j: j.id)

    def units_in(self, names: Iterable[str]) -> list[UnitRuntime]:
        """Runtimes for the given names (unknown names skipped)."""
        return [self.runtimes[n] for n in names if n in self.runtimes]


#: Output lines the journal may have queued before the pipes are paused (~8 MB at most).
_DRAIN_EVERY = 16384

_LEVELS = {
    0: logging.CRITICAL,
    1: logging.CRITICAL,
    2: logging.CRITICAL,
    3: logging.ERROR,
    4: logging.WARNING,
    5: logging.INFO,
    6: logging.INFO,
    7: logging.DEBUG,
}


def _invocation_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return ""
    for item in environ.split(b"\0"):
        if item.startswith(b"INVOCATION_ID="):
            return item[len(b"INVOCATION_ID=") :].decode(errors="replace")
    return ""


@dataclass(frozen=True, slots=True)
class _FileStamp:
    """A unit's files and their mtimes (ns) when it was loaded (NeedDaemonReload=)."""

    fragment: str | None
    fragment_mtime: int
    source: str | None
    source_mtime: int
    dropins: tuple[str, ...]
    dropin_mtime: int


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One reading of the search path: the units, their graph, and their file stamps."""

    loader: Loader
    units: dict[str, Unit]
    graph: UnitGraph | None
    stamps: dict[str, _FileStamp]
    #: The ``*.d`` directories that existed (systemd's unit path cache): a drop-in
    #: directory created later is not seen before a reload, as in systemd 252.
    dropin_dirs: frozenset[str]


def _mtime(path: str | None) -> int:
    if path is None:
        return 0
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _load_units(search_path: SearchPath) -> _Loaded:
    """Read every unit on the path (a pure function of the files: safe in a thread)."""
    loader = Loader(search_path)
    units = load_graph(loader)
    graph = UnitGraph([unit_node(u) for u in units.values()])
    stamps: dict[str, _FileStamp] = {}
    for name, unit in units.items():
        fragment = unit.fragment_path if unit.load_state is not LoadState.MASKED else None
        source = unit.source_path if unit.source_path != unit.fragment_path else None
        stamps[name] = _FileStamp(
            fragment=fragment,
            fragment_mtime=_mtime(fragment),
            source=source,
            source_mtime=_mtime(source),
            dropins=tuple(unit.dropin_paths) if unit.load_state is LoadState.LOADED else (),
            dropin_mtime=max((_mtime(p) for p in unit.dropin_paths), default=0),
        )
    dirs: set[str] = set()
    for directory in search_path.host_dirs():
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        dirs.update(os.path.join(directory, e) for e in entries if e.endswith(".d"))
    return _Loaded(loader, units, graph, stamps, frozenset(dirs))


def _newer(path: str | None, mtime: int) -> bool:
    """Systemd's fragment_mtime_newer(): the file is gone, or modified after ``mtime``."""
    if path is None:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return True
    if stat.S_ISCHR(st.st_mode):
        return False  # masked (/dev/null): its mtime says nothing about the unit
    return st.st_mtime_ns > mtime


def _current_dropins(
    search_path: SearchPath, names: Iterable[str], known_dirs: frozenset[str]
) -> tuple[str, ...]:
    """The ``*.conf`` drop-ins of a unit's names as the files are now (unit_find_dropin_paths).

    The same rules as the loader's: candidates ``name.d``, the template's, the prefix forms
    and the type's; a file name in an earlier directory shadows a later one; empty or
    ``/dev/null`` drop-ins mask and are left out. Only directories that existed at the
    last load are looked into (``known_dirs``: systemd 252 filters through its unit path
    cache, so a new ``.d`` directory needs no reload in its eyes); their files are read
    afresh on every call.
    """
    best: dict[str, tuple[int, str]] = {}
    candidates = {c: None for name in names for c in dropin_candidates(name)}
    for rank, directory in enumerate(search_path.host_dirs()):
        for candidate in candidates:
            where = os.path.join(directory, candidate + ".d")
            if where not in known_dirs:
                continue
            try:
                entries = os.listdir(where)
            except OSError:
                continue
            for entry in entries:
                if entry.endswith(".conf") and (entry not in best or rank < best[entry][0]):
                    best[entry] = (rank, os.path.join(where, entry))
    out: list[str] = []
    for entry in sorted(best):
        path = best[entry][1]
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_size == 0 or stat.S_ISCHR(st.st_mode):
            continue
        out.append(path)
    return tuple(out)
