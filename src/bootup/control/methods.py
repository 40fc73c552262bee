"""The typed method table of ``io.bootup.Manager`` and the handlers bound to a Manager.

Each :class:`Method` says whether it changes the manager's state (then the access policy
checks the caller's uid) and whether it streams (``more`` replies). Handlers only translate
between Varlink parameters and :class:`bootup.runtime.Manager`'s API (the unit-file methods
run :class:`bootup.units.install.Installer` on the manager's search path, as PID 1 does for
systemctl enable); where the manager has no API for an option yet, the call fails with
``io.bootup.Manager.NotSupported`` instead of pretending.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import signal
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from bootup.control.errors import (
    INTERFACE,
    CallError,
    InstallFailedError,
    InvalidParameterError,
    NoSuchUnitError,
    NoSuchUnitFileError,
    NotSupportedCallError,
)
from bootup.errors import Error, UnitError, UnitNotFoundError
from bootup.runtime.jobs import JobEvent
from bootup.runtime.journal import JournalReader
from bootup.runtime.process import unit_processes
from bootup.runtime.states import ActiveState
from bootup.transaction import JobMode, JobType
from bootup.transaction.units_graph import unit_node
from bootup.units.install import Change, Installer
from bootup.units.model import DependencyType

if TYPE_CHECKING:
    from bootup.runtime.jobs import RunJob
    from bootup.runtime.journal import JournalEntry
    from bootup.runtime.manager import Event, Manager
    from bootup.runtime.service import UnitRuntime

__all__ = ("METHODS", "Method", "Params", "unit_matches")

Params = dict[str, Any]
Handler = Callable[["Manager", Params, "ServerHooks"], Awaitable[Params]]
Streamer = Callable[["Manager", Params, "ServerHooks"], AsyncGenerator[Params, None]]

#: Entries in one GetLogs reply at most (a reply must stay far below the 16 MiB message
#: limit); a client pages on with ``after_cursor``.
MAX_LOG_ENTRIES: Final = 10000

#: A subscriber that lets this many events pile up is cut off (bounded memory).
SUBSCRIBER_BACKLOG: Final = 65536


@dataclass(frozen=True, slots=True)
class ServerHooks:
    """What the server lends handlers besides the manager (``Exit`` needs a way out)."""

    on_exit: Callable[[int], None] | None = None


@dataclass(frozen=True, slots=True)
class Method:
    """One method: its handler, and what access and reply shape it needs."""

    name: str
    changes_state: bool
    handler: Handler | None = None
    streamer: Streamer | None = None

    @property
    def streams(self) -> bool:
        """Whether the method replies with ``continues`` (only with ``more``)."""
        return self.streamer is not None


# --- parameter checks -------------------------------------------------------------------


def _string(params: Params, key: str, *, required: bool = True) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(key, "a non-empty string", value)
    return value


def _strings(params: Params, key: str) -> list[str]:
    value = params.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterError(key, "an array of strings", value)
    return list(value)


def _int(params: Params, key: str, default: int | None) -> int | None:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(key, "an integer", value)
    return value


def _bool(params: Params, key: str) -> bool:
    value = params.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParameterError(key, "a boolean", value)
    return value


# --- shapes -----------------------------------------------------------------------------


def _runtime(manager: Manager, name: str) -> UnitRuntime:
    canonical = manager.graph.canonical(name) if name in manager.graph else name
    runtime = manager.runtimes.get(canonical)
    if runtime is None:
        raise NoSuchUnitError(name)
    return runtime


def _unit(manager: Manager, runtime: UnitRuntime) -> Params:
    job = manager.jobs.get(runtime.name)
    return {
        "name": runtime.name,
        "description": runtime.unit.display_description,
        "load_state": runtime.unit.load_state.value,
        "active_state": runtime.active_state.value,
        "sub_state": runtime.sub_state.value,
        "job_id": job.id if job is not None else None,
        "job_type": job.type.value if job is not None else None,
    }


def _job(job: RunJob) -> Params:
    return {"id": job.id, "unit": job.unit, "type": job.type.value, "state": job.state.value}


def _entry(entry: JournalEntry) -> Params:
    return {
        "cursor": entry.cursor,
        "realtime_usec": entry.realtime_usec,
        "monotonic_usec": entry.monotonic_usec,
        "unit": entry.unit,
        "pid": entry.pid,
        "priority": entry.priority,
        "source": entry.source,
        "message": entry.message,
    }


def unit_matches(runtime: UnitRuntime, patterns: Iterable[str]) -> bool:
    """Whether the unit's name or an alias matches one of the shell globs."""
    names = (runtime.name, *runtime.unit.aliases)
    return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)


# --- read-only methods ------------------------------------------------------------------


async def _list_units(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    patterns = _strings(params, "patterns")
    states = set(_strings(params, "states"))
    types = {t.removeprefix(".") for t in _strings(params, "types")}
    show_all = _bool(params, "all")
    units: list[Params] = []
    for name, runtime in sorted(manager.runtimes.items()):
        if patterns and not unit_matches(runtime, patterns):
            continue
        if types and runtime.unit.type.value not in types:
            continue
        shape = _unit(manager, runtime)
        if states:
            if not states & {shape["load_state"], shape["active_state"], shape["sub_state"]}:
                continue
        elif not show_all and shape["active_state"] == "inactive" and shape["job_id"] is None:
            continue  # systemctl list-units without --all: active, failed or with a job
        units.append(shape)
        del name
    return {"units": units}


async def _list_jobs(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    return {"jobs": [_job(j) for j in manager.list_jobs()]}


#: Properties that cost file system work (a directory walk, stats): computed only when
#: asked for, so ``is-active`` (ActiveState= only) stays cheap.
_FILE_PROPERTIES: Final = frozenset({"UnitFileState", "UnitFilePreset", "NeedDaemonReload"})


def _properties(
    manager: Manager, runtime: UnitRuntime, wanted: Iterable[str] | None = None
) -> dict[str, str]:
    """Every ``systemctl show`` property of a unit (the file ones only if ``wanted``)."""
    if wanted is not None:
        wanted = set(wanted)
    want_files = wanted is None or not _FILE_PROPERTIES.isdisjoint(wanted)
    props = runtime.properties()
    unit = runtime.unit
    props.setdefault("Names", " ".join(unit.names or (unit.name,)))
    for kind in DependencyType:  # as loaded: after default, implicit and inverse ones
        props.setdefault(kind.value, " ".join(sorted(unit.deps(kind))))
    props.setdefault("FragmentPath", unit.fragment_path or "")
    props.setdefault("DropInPaths", " ".join(unit.dropin_paths))
    tasks = getattr(runtime, "tasks_current", None)
    if tasks is not None and (wanted is None or "TasksCurrent" in wanted):
        props.setdefault("TasksCurrent", tasks())  # reads a cgroup file: only when asked
    if want_files:
        state, preset = manager.unit_file_state(runtime.name)
        props.setdefault("UnitFileState", state)
        props.setdefault("UnitFilePreset", preset)
        reload = manager.need_daemon_reload(runtime.name)
        props.setdefault("NeedDaemonReload", "yes" if reload else "no")
    job = manager.jobs.get(runtime.name)
    props.setdefault("Job", str(job.id) if job is not None else "")
    return props


async def _get_properties(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    name = _string(params, "name")
    assert name is not None
    wanted = _strings(params, "properties")
    props = _properties(manager, _runtime(manager, name), wanted or None)
    if wanted:
        props = {k: props.get(k, "") for k in wanted}
    return {"properties": props}


def _processes(runtime: UnitRuntime) -> list[Params]:
    main = getattr(runtime, "main_pid", None)
    control = getattr(runtime, "control_pid", None)
    invocation = getattr(runtime, "invocation_id", "")
    pids: set[int] = {p for p in (main, control) if p}
    if invocation:
        pids |= unit_processes(invocation, pids)
    out: list[Params] = []
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().rstrip(b"\0").split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        command = " ".join(a.decode(errors="replace") for a in argv)
        out.append({"pid": pid, "ppid": ppid, "command": command})
    return out


#: In-flight /proc scans, shared by concurrent status calls of one unit (see below).
_SCANS: dict[tuple[int, str], asyncio.Future[list[Params]]] = {}


async def _shared_processes(runtime: UnitRuntime) -> list[Params]:
    """The unit's processes; concurrent callers share one scan of /proc.

    A scan reads every process's environment (about 2 ms here), so a burst of ``status``
    calls would otherwise serialise on it. The scan runs in a thread, and callers that
    arrive while it runs await the same result (one flight per unit, the singleflight
    pattern): a caller never gets a scan that started before the previous one finished.
    """
    key = (id(asyncio.get_running_loop()), runtime.name)
    flight = _SCANS.get(key)
    if flight is None:
        flight = asyncio.ensure_future(asyncio.to_thread(_processes, runtime))
        _SCANS[key] = flight

        def forget(done: asyncio.Future[list[Params]]) -> None:
            if _SCANS.get(key) is done:
                del _SCANS[key]

        flight.add_done_callback(forget)
    return await asyncio.shield(flight)


async def _query_journal(manager: Manager, **query: Any) -> list[JournalEntry]:
    journal = manager.journal
    if journal is None:
        return []
    return await asyncio.to_thread(journal.query, **query)


async def _get_status(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    name = _string(params, "name")
    assert name is not None
    lines = _int(params, "lines", 10)
    if lines is None or not 0 <= lines <= MAX_LOG_ENTRIES:
        raise InvalidParameterError("lines", f"a count from 0 to {MAX_LOG_ENTRIES}", lines)
    runtime = _runtime(manager, name)
    entries: list[JournalEntry] = []
    if lines:
        # This boot's lines only, as systemctl status (a project's journal outlives runs).
        entries = await _query_journal(
            manager,
            unit=runtime.name,
            since_usec=manager.started_usec,
            limit=lines,
            reverse=True,
        )
    return {
        "properties": _properties(manager, runtime),
        "fragment_path": runtime.unit.fragment_path,
        "dropin_paths": list(runtime.unit.dropin_paths),
        "processes": await _shared_processes(runtime),
        "log": [_entry(e) for e in reversed(entries)],
    }


async def _get_logs(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    units = _strings(params, "units")
    lines = _int(params, "lines", None)
    cursor = _int(params, "after_cursor", None)
    if lines is not None and not 0 <= lines <= MAX_LOG_ENTRIES:
        raise InvalidParameterError("lines", f"a count from 0 to {MAX_LOG_ENTRIES}", lines)
    if manager.journal is None:
        raise NotSupportedCallError("logs of a manager without a journal")
    reverse = cursor is None and lines is not None
    entries = await _query_journal(
        manager,
        unit=units or None,
        after_cursor=cursor,
        limit=MAX_LOG_ENTRIES if lines is None else lines,
        reverse=reverse,
    )
    if reverse:
        entries.reverse()
    return {"entries": [_entry(e) for e in entries]}


# --- state-changing methods -------------------------------------------------------------

_JOB_TYPES: Final = (
    "start",
    "stop",
    "restart",
    "try-restart",
    "reload",
    "reload-or-restart",
    "isolate",
)


def _can_reload(runtime: UnitRuntime) -> bool:
    return any(runtime.unit.setting("Service", "ExecReload"))


async def _enqueue_job(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    name = _string(params, "unit")
    kind = _string(params, "type")
    assert name is not None
    assert kind is not None
    if kind not in _JOB_TYPES:
        raise InvalidParameterError("type", f"one of {', '.join(_JOB_TYPES)}", kind)
    mode_text = _string(params, "mode", required=False) or "replace"
    try:
        mode = JobMode(mode_text)
    except ValueError:
        modes = ", ".join(m.value for m in JobMode)
        raise InvalidParameterError("mode", f"one of {modes}", mode_text) from None
    no_block = _bool(params, "no_block")
    runtime = _runtime(manager, name)
    active = runtime.active_state in (ActiveState.ACTIVE, ActiveState.RELOADING)
    job_type: JobType
    if kind == "isolate":
        job_type, mode = JobType.START, JobMode.ISOLATE
    elif kind == "try-restart":
        if not active:
            return {"job_id": None, "result": "done"}
        job_type = JobType.RESTART
    elif kind == "reload-or-restart":
        if not active:
            job_type = JobType.START
        else:
            job_type = JobType.RELOAD if _can_reload(runtime) else JobType.RESTART
    else:
        job_type = JobType(kind)
    try:
        job = await manager.enqueue(runtime.name, job_type, mode)
    except Error as exc:
        raise CallError(
            str(exc), name=f"{INTERFACE}.JobRefused", parameters={"unit": runtime.name}
        ) from exc
    if no_block:
        return {"job_id": job.id, "result": None}
    result = await asyncio.shield(job.done)
    return {"job_id": job.id, "result": result.value}


async def _kill_unit(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    name = _string(params, "unit")
    assert name is not None
    number = _int(params, "signal", int(signal.SIGTERM))
    whom = _string(params, "whom", required=False) or "all"
    valid = set(signal.valid_signals())
    if number is None or number not in valid:
        raise InvalidParameterError("signal", "a signal number", number)
    if whom not in ("all", "main", "control"):
        raise InvalidParameterError("whom", "all, main or control", whom)
    runtime = _runtime(manager, name)
    processes = {p["pid"] for p in _processes(runtime)}
    main = getattr(runtime, "main_pid", None)
    control = getattr(runtime, "control_pid", None)
    if whom == "main":
        processes = {main} if main else set()
    elif whom == "control":
        processes = {control} if control else set()
    if not processes and whom != "all":
        raise CallError(
            f"No {whom} process to kill",
            name=f"{INTERFACE}.NoSuchProcess",
            parameters={"unit": runtime.name},
        )
    killed: list[int] = []
    for pid in sorted(processes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)
            killed.append(pid)
    return {"killed": killed}


async def _reset_failed(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    name = _string(params, "unit", required=False)
    target = _runtime(manager, name).name if name is not None else None
    return {"units": manager.reset_failed(target)}


async def _reload(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    await manager.reload()
    return {}


# --- unit files: enable, disable, ... through the manager (systemctl talks to PID 1) ------


def _change(change: Change) -> Params:
    return {
        "type": change.kind,
        "path": change.path,
        "target": change.target,
        "text": change.text,
        "bare": change.bare,
    }


def _unit_file_method(operation: str) -> Handler:
    """A handler running one :class:`~bootup.units.install.Installer` operation.

    The links are made in the manager's own search path (its configuration directory), in
    a worker thread; a change marks every unit as needing a daemon-reload until the next
    one, as systemd's unit_file_state_outdated does. A refusal is an ``InstallFailed``
    error that carries what was changed before it, for the client to print in order.
    """

    async def handler(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
        files = _strings(params, "files")
        if not files:
            raise InvalidParameterError("files", "a non-empty array of unit names", files)
        if _bool(params, "runtime"):
            raise NotSupportedCallError(f"{operation} --runtime")
        if _bool(params, "force"):
            raise NotSupportedCallError(f"{operation} --force")
        installer = Installer(manager.search_path)
        changes: list[Change] = []

        failure: UnitError | None = None
        try:
            await asyncio.to_thread(installer.apply, operation, files, changes)
        except UnitError as exc:
            failure = exc
        if any(c.kind in ("symlink", "unlink") for c in changes):
            manager.unit_files_changed()
        shaped = [_change(c) for c in changes]
        if failure is not None:
            raise InstallFailedError(
                str(failure),
                bare=bool(getattr(failure, "bare", False)),
                changes=shaped,
                warnings=list(installer.warnings),
            )
        return {"changes": shaped, "warnings": list(installer.warnings)}

    return handler


async def _get_unit_file_state(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    name = _string(params, "name")
    assert name is not None
    installer = Installer(manager.search_path)
    try:
        state = await asyncio.to_thread(installer.state, name)
    except UnitNotFoundError as exc:
        raise NoSuchUnitFileError(name, str(exc), warnings=list(installer.warnings)) from exc
    return {"state": state.value, "warnings": list(installer.warnings)}


# --- the dependency graph (analyze dot, analyze why) ------------------------------------

#: UnitNode flags sent by name when true.
_NODE_FLAGS: Final = (
    "allow_isolate",
    "ignore_on_isolate",
    "refuse_manual_start",
    "refuse_manual_stop",
    "can_start",
    "can_reload",
    "perpetual",
)


async def _get_unit_graph(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    units: list[Params] = []
    for unit in sorted(manager.units.values(), key=lambda u: u.name):
        node = unit_node(unit)
        units.append(
            {
                "name": node.name,
                "load_state": node.load_state.value,
                "load_error": node.load_error,
                "aliases": list(node.aliases),
                "dependencies": {
                    kind.value: list(targets) for kind, targets in node.dependencies.items()
                },
                "flags": [f for f in _NODE_FLAGS if getattr(node, f)],
            }
        )
    return {"units": units, "generation": manager.generation}


async def _exit(manager: Manager, params: Params, hooks: ServerHooks) -> Params:
    code = _int(params, "exit_code", 0)
    if code is None or not 0 <= code <= 255:
        raise InvalidParameterError("exit_code", "0..255", code)
    if hooks.on_exit is None:
        raise NotSupportedCallError("exit (this manager was started without an exit hook)")
    hooks.on_exit(code)
    return {}


# --- the subscription stream ------------------------------------------------------------


async def _subscribe(
    manager: Manager, params: Params, hooks: ServerHooks
) -> AsyncGenerator[Params, None]:
    units = set(_strings(params, "units"))
    logs = _bool(params, "logs")
    if logs and manager.journal is None:
        raise NotSupportedCallError("log streaming of a manager without a journal")
    queue: asyncio.Queue[Params | None] = asyncio.Queue()

    def wanted(unit: str | None) -> bool:
        return not units or unit in units

    def push(event: Params) -> None:
        if queue.qsize() >= SUBSCRIBER_BACKLOG:
            queue.put_nowait(None)  # the reader sees None and gives up
            return
        queue.put_nowait(event)

    def listener(event: Event) -> None:
        if not wanted(event.unit):
            return
        if isinstance(event, JobEvent):
            result = event.result.value if event.result is not None else None
            push(
                {
                    "event": "job",
                    "job": {"unit": event.unit, "type": event.type.value, "result": result},
                }
            )
        else:
            push(
                {
                    "event": "unit",
                    "unit": {
                        "unit": event.unit,
                        "old_state": event.old.value,
                        "new_state": event.new.value,
                        "sub_state": event.sub_state,
                    },
                }
            )

    unsubscribe = manager.subscribe(listener)
    follower: _LogFollower | None = None
    try:
        if logs:
            follower = _LogFollower(manager, push, wanted)
            await follower.start()
        yield {"event": "subscribed"}
        while True:
            item = await queue.get()
            if item is None:
                raise CallError(
                    f"more than {SUBSCRIBER_BACKLOG} events unread; subscription dropped",
                    name=f"{INTERFACE}.SubscriberTooSlow",
                )
            yield item
    finally:
        unsubscribe()
        if follower is not None:
            follower.stop()


#: Log subscriptions served at once; each holds one thread and one inotify watch.
MAX_LOG_FOLLOWERS: Final = 128


class _LogFollower:
    """Follow the journal file for new lines and push them as ``log`` events.

    The journal has no in-process change notification, so a thread of its own (not the
    loop's executor, which status calls need) waits on the file's directory with inotify
    (:meth:`JournalReader.wait_for_change`) and queries past the last cursor; results are
    handed to the event loop with ``call_soon_threadsafe``. At most
    :data:`MAX_LOG_FOLLOWERS` run at once.
    """

    live = 0  # followers running now; touched on the event loop only

    def __init__(
        self,
        manager: Manager,
        push: Callable[[Params], None],
        wanted: Callable[[str | None], bool],
    ) -> None:
        self._manager = manager
        self._push = push
        self._wanted = wanted
        self._stop = threading.Event()
        self._started = False

    async def start(self) -> None:
        if _LogFollower.live >= MAX_LOG_FOLLOWERS:
            raise CallError(
                f"more than {MAX_LOG_FOLLOWERS} log subscriptions at once; try again later",
                name=f"{INTERFACE}.Failed",
            )
        journal = self._manager.journal
        assert journal is not None
        _LogFollower.live += 1
        self._started = True
        reader = await asyncio.to_thread(JournalReader, journal.path)
        try:
            await asyncio.to_thread(reader.wait_for_change, 0)  # arm the watch, then query
            newest = await asyncio.to_thread(reader.query, limit=1, reverse=True)
        except BaseException:
            reader.close()
            raise
        cursor = newest[0].cursor if newest else 0
        loop = asyncio.get_running_loop()
        thread = threading.Thread(
            target=self._run, args=(reader, cursor, loop), name="bootup-log-follower", daemon=True
        )
        thread.start()

    def _run(self, reader: JournalReader, cursor: int, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while not self._stop.is_set():
                reader.wait_for_change(0.5)  # inotify; the timeout only bounds stop()'s delay
                if self._stop.is_set():
                    break
                for entry in reader.query(after_cursor=cursor):
                    cursor = entry.cursor
                    if self._wanted(entry.unit):
                        event = {"event": "log", "log": _entry(entry)}
                        loop.call_soon_threadsafe(self._push, event)
        except (Error, RuntimeError):  # journal closed or loop gone: the stream just ends
            pass
        finally:
            reader.close()

    def stop(self) -> None:
        self._stop.set()
        if self._started:
            self._started = False
            _LogFollower.live -= 1


METHODS: Final[dict[str, Method]] = {
    m.name: m
    for m in (
        Method("ListUnits", False, _list_units),
        Method("ListJobs", False, _list_jobs),
        Method("GetProperties", False, _get_properties),
        Method("GetStatus", False, _get_status),
        Method("GetLogs", False, _get_logs),
        Method("Subscribe", False, streamer=_subscribe),
        Method("EnqueueJob", True, _enqueue_job),
        Method("KillUnit", True, _kill_unit),
        Method("ResetFailed", True, _reset_failed),
        Method("Reload", True, _reload),
        Method("EnableUnitFiles", True, _unit_file_method("enable")),
        Method("DisableUnitFiles", True, _unit_file_method("disable")),
        Method("ReenableUnitFiles", True, _unit_file_method("reenable")),
        Method("MaskUnitFiles", True, _unit_file_method("mask")),
        Method("UnmaskUnitFiles", True, _unit_file_method("unmask")),
        Method("GetUnitFileState", False, _get_unit_file_state),
        Method("GetUnitGraph", False, _get_unit_graph),
        Method("Exit", True, _exit),
    )
}
