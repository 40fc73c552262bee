"""Per-unit runtime state, and the service state machine of systemd.service(5).

Each loaded unit gets a :class:`UnitRuntime`; services get a :class:`ServiceRuntime`, which
runs the ``Exec*=`` commands of its ``Type=`` and counts as started exactly where systemd
says (shared/reference/systemd.md §1.7): ``simple``/``idle`` right after the fork,
``exec`` after a successful ``execve()``, ``forking`` when the parent exits, ``oneshot``
when the last ``ExecStart=`` exits, ``notify`` on ``READY=1``.

Design. A start or a stop is one coroutine that walks the sub-states in systemd's order
(``condition -> start-pre -> start -> start-post -> running``; ``stop -> stop-sigterm ->
stop-sigkill -> stop-post -> final-sigterm -> dead|failed``), each transition commented
``# A -> B``. Operations on one service are serialised by a lock; a main process that exits
while nothing holds the lock is handled by a task of its own (stop the rest, decide on a
restart). Time comes from the injected :class:`~bootup.runtime.clock.Clock` (timeouts,
``RestartSec=``, the watchdog, start limits), children from the manager's
:class:`~bootup.runtime.process.ChildReaper`; nothing polls.

Privileges: ``User=``/``Group=`` switch credentials only when the manager runs as root (a
project-mode manager runs commands as its own user, and a ``User=`` naming that user is a
no-op). The ``+``, ``!`` and ``!!`` command prefixes therefore only matter as root: such a
command runs without the ``User=``/``Group=`` switch; bootup sets up no other privilege
restriction they could lift.

``Result=`` follows systemd's rule that the first failure sticks: a later cause never
overwrites a result that is not ``success``. That rule is why systemd 252 reports
``Result=exit-code`` (not ``start-limit-hit``) for a service that keeps failing until its
start limit refuses it (scenario C21).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import pwd
import shutil
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bootup.errors import ManagerError, NotSupportedError
from bootup.runtime.clock import Clock, TimerHandle, usec
from bootup.runtime.conditions import evaluate as evaluate_conditions
from bootup.runtime.process import (
    EXIT_EXEC,
    CgroupTree,
    ChildReaper,
    ExitCode,
    ExitStatus,
    OutputGate,
    OutputSpec,
    ProcessTable,
    SpawnError,
    kill_processes,
    spawn,
)
from bootup.runtime.process import _cgroup2_mount as cgroup2_mount
from bootup.runtime.states import (
    ActiveState,
    JobResult,
    ServiceResult,
    ServiceState,
    SimpleState,
    active_state_of,
)
from bootup.units import values
from bootup.units.execline import ExecCommand, expand_env_argv
from bootup.units.loader import expand_specifiers
from bootup.units.model import ServiceSettings, ServiceType, Unit, UnitType

__all__ = (
    "RuntimeHost",
    "ServiceRuntime",
    "SimpleRuntime",
    "UnitRuntime",
    "UnsupportedRuntime",
    "make_runtime",
)

logger = logging.getLogger(__name__)

#: systemd's default PATH for services (path-util.h DEFAULT_PATH_NORMAL).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Variables a project-mode manager passes on from its own environment, like a user manager.
_PASSED_FROM_MANAGER = ("PATH", "LANG", "HOME", "USER", "LOGNAME", "SHELL")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Settings bootup parses but does not act on yet: a start logs them, by name, as
#: "not supported yet" (a warning, since systemd units use them widely; never silent).
_NOT_SUPPORTED_KEYS: dict[str, tuple[str, ...]] = {
    # sandboxing and credentials; directories and limits; cgroup resource control; fds
    "Service": _words(
        """
        ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateNetwork NoNewPrivileges
        CapabilityBoundingSet AmbientCapabilities SystemCallFilter ReadWritePaths ReadOnlyPaths
        InaccessiblePaths LoadCredential SetCredential DynamicUser SupplementaryGroups
        RootDirectory RootImage RuntimeDirectory StateDirectory CacheDirectory LogsDirectory
        ConfigurationDirectory LimitNOFILE LimitNPROC LimitCORE LimitMEMLOCK Nice
        IOSchedulingClass CPUSchedulingPolicy OOMScoreAdjust CPUQuota CPUWeight MemoryMax
        MemoryHigh TasksMax IOWeight Sockets FileDescriptorStoreMax StandardInput TTYPath
        """
    ),
    "Unit": _words(
        """
        JobTimeoutSec JobRunningTimeoutSec StopWhenUnneeded StartLimitAction FailureAction
        SuccessAction RequiresMountsFor JoinsNamespaceOf
        """
    ),
}
_CLEAN_DAEMON_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE})
_IDLE_TIMEOUT = 5.0


class RuntimeHost(Protocol):
    """What a unit's runtime needs from its manager."""

    reaper: ChildReaper
    clock: Clock
    notify_socket: str | None
    root: str
    output_gate: OutputGate
    cgroups: CgroupTree | None

    def log(self, unit: str | None, message: str, *, priority: int = 6) -> None:
        """Write a manager line to the journal."""

    def output(self, unit: str, pid: int, source: str, line: str) -> None:
        """Write a line the unit's process printed to the journal."""

    def unit_state_changed(
        self, runtime: UnitRuntime, old: ActiveState, new: ActiveState, result_ok: bool
    ) -> None:
        """React to an active-state change (OnFailure=, BindsTo=, Upholds=, jobs)."""

    def request_restart(self, runtime: ServiceRuntime) -> None:
        """Queue the automatic restart of a service (a start job)."""

    def process_table(self) -> ProcessTable:
        """A scan of ``/proc`` no older than this event-loop turn and the last reap."""

    def invalidate_process_table(self) -> None:
        """Forget the shared scan (a process was just spawned)."""

    async def wait_idle_queue(self, limit: float) -> None:
        """Return once no other job is queued or running (Type=idle), or after ``limit`` s."""


@dataclass(slots=True)
class Timestamps:
    """The four transition timestamps systemd keeps per unit, in µs (0: never)."""

    inactive_exit: tuple[int, int] = (0, 0)
    active_enter: tuple[int, int] = (0, 0)
    active_exit: tuple[int, int] = (0, 0)
    inactive_enter: tuple[int, int] = (0, 0)

    def properties(self) -> dict[str, str]:
        """``InactiveExitTimestampMonotonic=`` and friends, as ``systemctl show`` names them."""
        out: dict[str, str] = {}
        for key, (mono, real) in (
            ("InactiveExitTimestamp", self.inactive_exit),
            ("ActiveEnterTimestamp", self.active_enter),
            ("ActiveExitTimestamp", self.active_exit),
            ("InactiveEnterTimestamp", self.inactive_enter),
        ):
            out[f"{key}Monotonic"] = str(mono)
            out[f"{key}Realtime"] = str(real)
        return out


class UnitRuntime:
    """The live state of one unit: sub-state, active state, timestamps, and its jobs' verbs."""

    def __init__(self, unit: Unit, host: RuntimeHost) -> None:
        self.unit = unit
        self.host = host
        self.sub_state: ServiceState | SimpleState = SimpleState.DEAD
        self.timestamps = Timestamps()
        #: Whether the last condition check passed (``ConditionResult=``).
        self.condition_result = True

    @property
    def name(self) -> str:
        """The unit's primary name."""
        return self.unit.name

    @property
    def active_state(self) -> ActiveState:
        """``ActiveState=``."""
        return active_state_of(self.sub_state)

    @property
    def result_ok(self) -> bool:
        """False when the unit's last run failed (for OnFailure=/OnSuccess=)."""
        return self.active_state is not ActiveState.FAILED

    def set_state(self, new: ServiceState | SimpleState) -> None:
        """Enter a sub-state, stamp the transition and tell the manager."""
        old_active = self.active_state
        self.sub_state = new
        new_active = self.active_state
        if old_active == new_active:
            return
        now = (usec(self.host.clock.monotonic()), usec(self.host.clock.realtime()))
        inactive = (ActiveState.INACTIVE, ActiveState.FAILED)
        active = (ActiveState.ACTIVE, ActiveState.RELOADING)
        if old_active in inactive and new_active not in inactive:
            self.timestamps.inactive_exit = now
        if new_active in active and old_active not in active:
            self.timestamps.active_enter = now
        if old_active in active and new_active not in active:
            self.timestamps.active_exit = now
        if new_active in inactive and old_active not in inactive:
            self.timestamps.inactive_enter = now
        self.host.unit_state_changed(self, old_active, new_active, self.result_ok)

    async def start(self) -> JobResult:
        """Run a start job; return its result."""
        raise NotImplementedError

    async def stop(self) -> JobResult:
        """Run a stop job; return its result."""
        raise NotImplementedError

    async def reload(self) -> JobResult:
        """Run a reload job (only services with ExecReload= can)."""
        raise NotSupportedError(f"Reloading {self.name}: not supported yet")

    def reset_failed(self) -> None:
        """``systemctl reset-failed``: a failed unit becomes inactive (dead)."""
        if self.active_state is ActiveState.FAILED:
            self.set_state(SimpleState.DEAD)  # failed -> dead

    def properties(self) -> dict[str, str]:
        """Properties as ``systemctl show`` names them."""
        props = {
            "Id": self.name,
            "Description": self.unit.display_description,
            "LoadState": self.unit.load_state.value,
            "ActiveState": self.active_state.value,
            "SubState": self.sub_state.value,
            "ConditionResult": "yes" if self.condition_result else "no",
            "Documentation": " ".join(f'"{d}"' for d in self.unit.documentation),
        }
        props.update(self.timestamps.properties())
        return props


class SimpleRuntime(UnitRuntime):
    """Targets and slices: active once started, inactive once stopped, nothing to run.

    Slices only group processes into cgroups, which bootup does not create; they are
    treated as always startable and active (the root slice cannot be stopped).
    """

    async def start(self) -> JobResult:
        """Targets and slices are reached at once: their ordering did the waiting."""
        if self.active_state is not ActiveState.ACTIVE:
            passed = await _check_conditions(self)
            if passed is not JobResult.DONE or not self.condition_result:
                return passed
            self.set_state(SimpleState.ACTIVE)  # dead -> active
        return JobResult.DONE

    async def stop(self) -> JobResult:
        """Stopping a target or slice just marks it inactive."""
        if self.name == "-.slice":
            return JobResult.DONE
        self.set_state(SimpleState.DEAD)  # active -> dead
        return JobResult.DONE


class UnsupportedRuntime(UnitRuntime):
    """Unit types bootup does not run yet (socket, timer, path, mount, swap, ...).

    They load and take part in ordering; a start job ends with ``unsupported`` and a journal
    line saying so, never with a silent success.
    """

    async def start(self) -> JobResult:
        """Refuse loudly."""
        self.host.log(
            self.name,
            f"Starting of {self.name} unsupported: "
            f"{self.unit.type.value} units are not supported yet.",
            priority=3,
        )
        return JobResult.UNSUPPORTED

    async def stop(self) -> JobResult:
        """Nothing runs, so nothing needs stopping."""
        return JobResult.DONE


async def _check_conditions(runtime: UnitRuntime) -> JobResult:
    """Evaluate Condition*/Assert*; DONE with ``condition_result`` False means skipped."""
    unit = runtime.unit
    if not unit.conditions and not unit.asserts:
        runtime.condition_result = True
        return JobResult.DONE
    result = evaluate_conditions(unit, root=runtime.host.root)
    if result.failed_assert:
        runtime.host.log(runtime.name, result.message, priority=3)
        return JobResult.ASSERT
    runtime.condition_result = result.passed
    if not result.passed:
        runtime.host.log(runtime.name, result.message, priority=6)
    return JobResult.DONE


@functools.cache
def _cgroup_mount_point() -> str | None:
    """Where the cgroup v2 hierarchy is mounted; ControlGroup= paths are relative to it."""
    found = cgroup2_mount()
    return found[0] if found is not None else None


def make_runtime(unit: Unit, host: RuntimeHost) -> UnitRuntime:
    """The runtime class for a unit's type."""
    if unit.type is UnitType.SERVICE:
        return ServiceRuntime(unit, host)
    if unit.type in (UnitType.TARGET, UnitType.SLICE):
        return SimpleRuntime(unit, host)
    return UnsupportedRuntime(unit, host)


# --- configuration ----------------------------------------------------------------------


def _last(unit: Unit, section: str, key: str) -> str | None:
    found = list(unit.setting(section, key))
    return found[-1] if found and found[-1] != "" else None


def _expand(unit: Unit, value: str | None) -> str | None:
    """Resolve %-specifiers in a setting the loader keeps raw (paths, environment)."""
    if value is None:
        return None
    try:
        return expand_specifiers(value, unit.name, unit.fragment_path)
    except ValueError as exc:
        raise ManagerError(
            f"{unit.source_path or unit.name}: cannot expand {value!r}: {exc}"
        ) from exc


def _seconds(usec_value: int) -> float | None:
    return None if usec_value >= values.USEC_INFINITY else usec_value / 1_000_000


def _timespan(unit: Unit, section: str, key: str, default: float | None) -> float | None:
    text = _last(unit, section, key)
    if text is None:
        return default
    try:
        return _seconds(values.parse_timespan(text))
    except ValueError as exc:
        raise ManagerError(f"{unit.source_path or unit.name}: {key}={text}: {exc}") from exc


def _exit_set(unit: Unit, key: str) -> values.ExitStatusSet:
    current = values.ExitStatusSet()
    for value in unit.setting("Service", key):
        current, _ = values.parse_exit_status_set(value, current, unit.source_path or "", 0)
    return current


def _bool(unit: Unit, section: str, key: str, default: bool) -> bool:
    text = _last(unit, section, key)
    if text is None:
        return default
    try:
        return values.parse_boolean(text)
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The ``[Service]`` settings one run of a service uses, parsed once per start."""

    type: ServiceType
    timeout_start: float | None
    timeout_stop: float | None
    restart: str
    restart_sec: float
    success_status: values.ExitStatusSet
    restart_prevent: values.ExitStatusSet
    restart_force: values.ExitStatusSet
    kill_mode: str
    kill_signal: int
    final_kill_signal: int
    send_sigkill: bool
    watchdog_sec: float | None
    watchdog_signal: int
    notify_access: str
    remain_after_exit: bool
    pid_file: str | None
    guess_main_pid: bool
    working_directory: str | None
    working_directory_optional: bool
    user: str | None
    group: str | None
    umask: int
    stdout: OutputSpec
    stderr: OutputSpec
    start_limit_interval: float
    start_limit_burst: int

    @classmethod
    def from_unit(cls, unit: Unit) -> ServiceConfig:
        """Parse what the loader keeps raw; unsupported values raise NotSupportedError."""
        s = unit.service
        if s is None:
            raise ManagerError(f"{unit.name} has no [Service] settings")
        stype = s.effective_type
        if stype is ServiceType.DBUS:
            raise NotSupportedError(f"{unit.name}: Type=dbus is not supported yet")
        kill_mode = s.kill_mode or "control-group"
        if kill_mode not in ("control-group", "mixed", "process", "none"):
            raise ManagerError(
                f"{unit.name}: KillMode={kill_mode}: expected control-group, mixed, process or none"
            )
        wd = _expand(unit, s.working_directory)
        wd_optional = False
        if wd is not None and wd.startswith("-"):
            wd, wd_optional = wd[1:], True
        if wd == "~":
            wd = pwd.getpwnam(s.user).pw_dir if s.user else os.path.expanduser("~")
        umask_text = _last(unit, "Service", "UMask") or "0022"
        try:
            umask = int(umask_text, 8)
        except ValueError as exc:
            raise ManagerError(f"{unit.name}: UMask={umask_text}: expected an octal mode") from exc
        stdout = OutputSpec.parse(_last(unit, "Service", "StandardOutput") or "", default="journal")
        stderr_text = _last(unit, "Service", "StandardError") or "inherit"
        stderr = (
            stdout if stderr_text == "inherit" else OutputSpec.parse(stderr_text, default="inherit")
        )
        watchdog = _timespan(unit, "Service", "WatchdogSec", None)
        burst_text = _last(unit, "Unit", "StartLimitBurst")
        timeout_start = _seconds(s.timeout_start_usec)
        timeout_stop = _seconds(s.timeout_stop_usec)
        abort = _last(unit, "Service", "TimeoutStartFailureMode")
        if abort not in (None, "terminate"):
            raise NotSupportedError(
                f"{unit.name}: TimeoutStartFailureMode={abort} is not supported yet"
            )
        return cls(
            type=stype,
            timeout_start=timeout_start,
            timeout_stop=timeout_stop,
            restart=s.restart or "no",
            restart_sec=s.restart_usec / 1_000_000,
            success_status=_exit_set(unit, "SuccessExitStatus"),
            restart_prevent=_exit_set(unit, "RestartPreventExitStatus"),
            restart_force=_exit_set(unit, "RestartForceExitStatus"),
            kill_mode=kill_mode,
            kill_signal=values.signal_from_string(
                _last(unit, "Service", "KillSignal") or "SIGTERM"
            ),
            final_kill_signal=values.signal_from_string(
                _last(unit, "Service", "FinalKillSignal") or "SIGKILL"
            ),
            send_sigkill=_bool(unit, "Service", "SendSIGKILL", True),
            watchdog_sec=watchdog if watchdog else None,
            watchdog_signal=values.signal_from_string(
                _last(unit, "Service", "WatchdogSignal") or "SIGABRT"
            ),
            notify_access=_last(unit, "Service", "NotifyAccess")
            or ("main" if stype is ServiceType.NOTIFY or watchdog else "none"),
            remain_after_exit=s.remain_after_exit,
            pid_file=_expand(unit, s.pid_file),
            guess_main_pid=_bool(unit, "Service", "GuessMainPID", True),
            working_directory=wd,
            working_directory_optional=wd_optional,
            user=s.user,
            group=s.group,
            umask=umask,
            stdout=stdout,
            stderr=stderr,
            start_limit_interval=_timespan(unit, "Unit", "StartLimitIntervalSec", 10.0) or 0.0,
            start_limit_burst=int(burst_text) if burst_text else 5,
        )


@dataclass(slots=True)
class _StartLimit:
    """systemd's RateLimit: at most ``burst`` starts per ``interval`` window."""

    begin: float = 0.0
    count: int = 0

    def test(self, now: float, interval: float, burst: int) -> bool:
        if interval <= 0 or burst <= 0:
            return True
        if self.begin == 0.0 or now > self.begin + interval:
            self.begin = now
            self.count = 0
        if self.count < burst:
            self.count += 1
            return True
        return False


class _Deadline:
    """A timeout that fires a future; extendable (EXTEND_TIMEOUT_USEC=) and cancellable."""

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self._clock = clock
        self.expired: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handle: TimerHandle | None = None
        self.when: float | None = None
        if seconds is not None:
            self._arm(clock.monotonic() + seconds)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self.when = when
        self._handle = self._clock.call_later(when - self._clock.monotonic(), self._fire)

    def _fire(self) -> None:
        if not self.expired.done():
            self.expired.set_result(None)

    def interrupt(self) -> None:
        """Expire now (a stop job arrived while a start was in progress)."""
        self._fire()

    def extend(self, seconds: float) -> None:
        """Push the deadline to at least now + ``seconds``."""
        when = self._clock.monotonic() + seconds
        if self.when is not None and when > self.when and not self.expired.done():
            self._arm(when)

    def cancel(self) -> None:
        """Disarm."""
        if self._handle is not None:
            self._handle.cancel()
        if not self.expired.done():
            self.expired.cancel()


async def _first(waitable: asyncio.Future[object] | asyncio.Event, deadline: _Deadline) -> bool:
    """Wait for ``waitable`` or the deadline; True if ``waitable`` came first."""
    if isinstance(waitable, asyncio.Event):
        if waitable.is_set():
            return True
        task: asyncio.Future[object] = asyncio.ensure_future(waitable.wait())
    else:
        if waitable.done():
            return True
        task = waitable
    expired: asyncio.Future[object] = deadline.expired  # type: ignore[assignment]
    done, _ = await asyncio.wait({task, expired}, return_when=asyncio.FIRST_COMPLETED)
    if isinstance(waitable, asyncio.Event) and task not in done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return task in done


@dataclass(slots=True)
class _Proc:
    pid: int
    exited: asyncio.Future[ExitStatus]
    readers: list[object] = field(default_factory=list)


class ServiceRuntime(UnitRuntime):
    """One service: its processes, sub-state, result, restarts and notify messages."""

    def __init__(self, unit: Unit, host: RuntimeHost) -> None:
        super().__init__(unit, host)
        self.sub_state = ServiceState.DEAD
        self.result = ServiceResult.SUCCESS
        self.main_pid: int | None = None
        self.control_pid: int | None = None
        self._exec_main_status: ExitStatus | None = None
        self._exec_main_pid: int | None = None
        #: ExecMainStartTimestamp= and ExecMainExitTimestamp= as (monotonic, realtime) µs.
        self.exec_main_start: tuple[int, int] = (0, 0)
        self.exec_main_exit: tuple[int, int] = (0, 0)
        self.n_restarts = 0
        self.status_text = ""
        self.status_errno = 0
        self.invocation_id = ""
        self.config: ServiceConfig | None = None
        self._pgids: set[int] = set()
        self._cgroup: str | None = None  # this invocation's cgroup, when cgroups are used
        self._lock = asyncio.Lock()
        self._main: _Proc | None = None
        self._ready: asyncio.Event = asyncio.Event()
        self._stopping_notified = False
        self._deadline: _Deadline | None = None
        self._restart_timer: TimerHandle | None = None
        self._watchdog_timer: TimerHandle | None = None
        self._watchdog_override: float | None = None
        self._start_limit = _StartLimit()
        self._reaped = asyncio.Event()
        self._auto_restarting = False
        self._supervisor: asyncio.Task[None] | None = None
        self._forbid_restart = False
        self._starting = False
        self._stop_requested = False
        host.reaper.add_listener(self._on_any_reap)

    # --- bookkeeping ------------------------------------------------------------------

    def _now(self) -> tuple[int, int]:
        return (usec(self.host.clock.monotonic()), usec(self.host.clock.realtime()))

    @property
    def exec_main_pid(self) -> int | None:
        """``ExecMainPID=``; setting it stamps ``ExecMainStartTimestamp=`` (fork time)."""
        return self._exec_main_pid

    @exec_main_pid.setter
    def exec_main_pid(self, pid: int | None) -> None:
        self._exec_main_pid = pid
        if pid:
            self.exec_main_start = self._now()
            self.exec_main_exit = (0, 0)

    @property
    def exec_main_status(self) -> ExitStatus | None:
        """How the main process ended; setting it stamps ``ExecMainExitTimestamp=``."""
        return self._exec_main_status

    @exec_main_status.setter
    def exec_main_status(self, status: ExitStatus | None) -> None:
        self._exec_main_status = status
        if status is not None:
            self.exec_main_exit = self._now()

    @property
    def result_ok(self) -> bool:
        """``Result=success``."""
        return self.result is ServiceResult.SUCCESS

    def reset_failed(self) -> None:
        """Systemd's service_reset_failed() plus unit_reset_failed().

        ``Result=`` back to success, the restart counter and the start rate limit reset,
        and a failed service becomes dead.
        """
        self.result = ServiceResult.SUCCESS
        self.n_restarts = 0
        self._start_limit = _StartLimit()
        if self.sub_state is ServiceState.FAILED:
            self.set_state(ServiceState.DEAD)  # failed -> dead

    def control_group(self) -> str:
        """``ControlGroup=``: this invocation's cgroup below the cgroup2 mount, or ""."""
        if self._cgroup is None:
            return ""
        mount = _cgroup_mount_point()
        if mount is None:
            return ""
        return "/" + os.path.relpath(self._cgroup, mount).lstrip("/")

    def tasks_current(self) -> str:
        """``TasksCurrent=``: the tasks in this invocation's cgroup, or ``[not set]``.

        Not in :meth:`properties` (which every state.json snapshot calls for every unit):
        it reads a cgroup file, so the control socket asks for it per query.
        """
        if self._cgroup is None:
            return "[not set]"
        try:
            with open(os.path.join(self._cgroup, "pids.current")) as f:
                return f.read().strip()
        except OSError:
            pass
        try:
            with open(os.path.join(self._cgroup, "cgroup.threads")) as f:
                return str(sum(1 for line in f if line.strip()))
        except OSError:
            return "[not set]"

    def _on_any_reap(self, pid: int, status: ExitStatus) -> None:
        """Wake whoever waits for this unit's processes to be gone."""
        self._reaped.set()

    def _fail(self, result: ServiceResult) -> None:
        """Record a failure cause unless an earlier one is already recorded."""
        if self.result is ServiceResult.SUCCESS:
            self.result = result

    def _log(self, message: str, priority: int = 6) -> None:
        self.host.log(self.name, message, priority=priority)

    def owns_pid(self, pid: int) -> bool:
        """Whether a process belongs to this service (main, control, or marked)."""
        if pid in (self.main_pid, self.control_pid):
            return True
        if not self.invocation_id:
            return False
        return pid in self._processes()

    def _processes(self) -> set[int]:
        """Every live process of this invocation: process groups, marker, and cgroup."""
        found = self.host.process_table().processes(self.invocation_id, self._pgids)
        if self._cgroup is not None:
            found |= {pid for pid in CgroupTree.members(self._cgroup) if _alive(pid)}
        return found

    def _use_cgroup(self) -> str | None:
        """This invocation's cgroup (created on first use), or None without cgroups."""
        cgroups = self.host.cgroups
        if cgroups is None or not self.invocation_id:
            return None
        wanted = os.path.join(cgroups.path, f"{self.name}-{self.invocation_id[:12]}")
        if self._cgroup != wanted:
            self._release_cgroup()
            try:
                self._cgroup = cgroups.unit_cgroup(self.name, self.invocation_id)
            except OSError as exc:
                self._log(f"Failed to create cgroup {wanted}: {exc.strerror}", priority=4)
                self._cgroup = None
        return self._cgroup

    def _release_cgroup(self) -> None:
        """Remove this invocation's cgroup once it is empty (kept while populated)."""
        if self._cgroup is not None and CgroupTree.remove(self._cgroup):
            self._cgroup = None

    def _exec_start_property(self) -> str:
        """``ExecStart=`` as systemctl show prints it, with the main process's pid and status.

        Only the last ExecStart= command (the one the main process runs) carries a pid and
        an exit status: bootup records the main process's, not every command's.
        """
        service = self.unit.service
        commands = service.exec_commands("ExecStart") if service is not None else ()
        parts = []
        status = self.exec_main_status
        for i, cmd in enumerate(commands):
            main = i == len(commands) - 1 and self.exec_main_pid
            pid = self.exec_main_pid if main else 0
            code = {1: "exited", 2: "killed", 3: "dumped"}.get(_cld(status), "(null)")
            value = status.status if main and status is not None else 0
            parts.append(
                f"{{ path={cmd.path} ; argv[]={' '.join(cmd.argv)} ; "
                f"ignore_errors={'yes' if cmd.ignore_failure else 'no'} ; "
                f"start_time=[n/a] ; stop_time=[n/a] ; pid={pid or 0} ; "
                f"code={code if main and status is not None else '(null)'} ; status={value} }}"
            )
        return " ".join(parts)

    def properties(self) -> dict[str, str]:
        """``systemctl show`` properties of a service."""
        props = super().properties()
        status = self.exec_main_status
        props.update(
            {
                "Type": self.config.type.value
                if self.config
                else (self.unit.service.effective_type.value if self.unit.service else ""),
                "Result": self.result.value,
                "MainPID": str(self.main_pid or 0),
                "ControlPID": str(self.control_pid or 0),
                "ExecMainPID": str(self.exec_main_pid or 0),
                "ExecMainStartTimestampMonotonic": str(self.exec_main_start[0]),
                "ExecMainStartTimestampRealtime": str(self.exec_main_start[1]),
                "ExecMainExitTimestampMonotonic": str(self.exec_main_exit[0]),
                "ExecMainExitTimestampRealtime": str(self.exec_main_exit[1]),
                "ControlGroup": self.control_group(),
                "ExecMainCode": str(_cld(status)),
                "ExecMainStatus": str(status.status if status else 0),
                "NRestarts": str(self.n_restarts),
                "StatusText": self.status_text,
                "StatusErrno": str(self.status_errno),
                "InvocationID": self.invocation_id,
                "ExecStart": self._exec_start_property(),
            }
        )
        if self.config is not None:
            timeout = self.config.timeout_start
            props["TimeoutStartUSec"] = (
                "infinity" if timeout is None else values.format_timespan(usec(timeout))
            )
        return props

    # --- environment and spawning -----------------------------------------------------

    def _expand_value(self, value: str) -> str:
        return _expand(self.unit, value) or ""

    def _environment(self, cfg: ServiceConfig, *, mainpid: bool) -> dict[str, str]:
        env: dict[str, str] = {k: os.environ[k] for k in _PASSED_FROM_MANAGER if k in os.environ}
        env.setdefault("PATH", DEFAULT_PATH)
        env["INVOCATION_ID"] = self.invocation_id
        env["MANAGERPID"] = str(os.getpid())
        if self.host.notify_socket and (
            cfg.notify_access != "none" or cfg.type is ServiceType.NOTIFY
        ):
            env["NOTIFY_SOCKET"] = self.host.notify_socket
        if cfg.watchdog_sec:
            env["WATCHDOG_USEC"] = str(usec(cfg.watchdog_sec))
        if mainpid and self.main_pid:
            env["MAINPID"] = str(self.main_pid)
        for value in self.unit.setting("Service", "PassEnvironment"):
            for name in value.split():
                if name in os.environ:
                    env[name] = os.environ[name]
        service = self.unit.service
        assert service is not None
        for value in service.environment:
            pairs, _ = values.parse_environment(
                value, self.unit.source_path or "", 0, expand=self._expand_value
            )
            env.update(dict(pairs or []))
        for value in service.environment_files:
            spec = values.parse_environment_file_spec(self._expand_value(value))
            if spec is None:
                continue
            try:
                with open(spec.path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                if spec.ignore_missing:
                    continue
                raise _StepFailed(
                    ServiceResult.RESOURCES,
                    f"Failed to load environment files: {spec.path}: {exc.strerror}",
                ) from exc
            pairs2, _ = values.parse_environment_file(data, spec.path)
            env.update(dict(pairs2))
        return env

    def _spawn(self, cmd: ExecCommand, cfg: ServiceConfig, *, mainpid: bool = False) -> _Proc:
        """Start one command; raises SpawnError with systemd's exit code."""
        env = self._environment(cfg, mainpid=mainpid)
        argv = tuple(cmd.argv) if cmd.no_env_expand else tuple(expand_env_argv(cmd.argv, env))
        path = cmd.path
        if not path.startswith("/"):
            found = shutil.which(path, path=env.get("PATH", DEFAULT_PATH))
            if found is None:
                raise SpawnError(
                    argv,
                    EXIT_EXEC,
                    f"Unable to locate executable '{path}': No such file or directory",
                )
            path = found
        privileged = cmd.fully_privileged or cmd.no_setuid or cmd.ambient_magic
        cwd = cfg.working_directory
        if cwd is not None and cfg.working_directory_optional and not os.path.isdir(cwd):
            cwd = None
        user = None if privileged or cfg.user is None or _is_self(cfg.user) else cfg.user
        group = None if privileged or cfg.group is None else cfg.group
        spawned = spawn(
            argv,
            executable=path,
            env=env,
            cwd=cwd,
            umask=cfg.umask,
            user=user,
            group=group,
            stdout=cfg.stdout,
            stderr=cfg.stderr,
            on_line=self._line_sink(),
            gate=self.host.output_gate,
            cgroup=self._use_cgroup(),
        )
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ExitStatus] = loop.create_future()

        def exited(status: ExitStatus) -> None:
            if not fut.done():
                fut.set_result(status)

        self.host.reaper.watch(spawned.pid, exited)
        self._pgids.add(spawned.pid)
        self.host.invalidate_process_table()
        self._log(f"Executing {' '.join(argv)} (pid {spawned.pid})", priority=7)
        return _Proc(spawned.pid, fut, list(spawned.readers))

    def _line_sink(self) -> Callable[[str, str], None]:
        holder: dict[str, int] = {}

        def sink(source: str, line: str) -> None:
            self.host.output(self.name, holder.get("pid", 0), source, line)

        def bind(source: str, line: str) -> None:
            sink(source, line)

        # The pid is only known after Popen returns; lines arrive later, on the loop.
        self._pending_sink = holder
        return bind

    async def _run_control(
        self, cmd: ExecCommand, cfg: ServiceConfig, deadline: _Deadline, *, mainpid: bool = False
    ) -> ExitStatus | None:
        """Run a control command to its end; None when the deadline passed first."""
        proc = self._spawn(cmd, cfg, mainpid=mainpid)
        self._pending_sink["pid"] = proc.pid
        self.control_pid = proc.pid
        try:
            if await _first(proc.exited, deadline):  # type: ignore[arg-type]
                return proc.exited.result()
            self._log(f"Control process {proc.pid} ({cmd.argv[0]}) timed out.", priority=4)
            kill_processes([proc.pid], cfg.kill_signal)
            if cfg.send_sigkill:
                kill_processes([proc.pid], signal.SIGKILL)
            await proc.exited
            return None
        finally:
            self.control_pid = None

    # --- start ----------------------------------------------------------------------

    async def start(self) -> JobResult:
        """A start job: conditions, start limit, ExecCondition/StartPre/Start/StartPost."""
        async with self._lock:
            result = await self._start_locked()
        self._catch_up_on_main_exit()
        return result

    def _catch_up_on_main_exit(self) -> None:
        """A main process that ended while an operation held the lock is handled now."""
        main = self._main
        if main is not None and main.exited.done() and self.sub_state is ServiceState.RUNNING:
            self._spawn_supervisor()

    async def _start_locked(self) -> JobResult:
        if self.active_state in (ActiveState.ACTIVE, ActiveState.RELOADING):
            return JobResult.DONE
        auto = self._auto_restarting
        self._auto_restarting = False
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None
        try:
            cfg = ServiceConfig.from_unit(self.unit)
        except (NotSupportedError, ManagerError, ValueError) as exc:
            self._log(f"Failed to start: {exc}", priority=3)
            return (
                JobResult.UNSUPPORTED if isinstance(exc, NotSupportedError) else JobResult.INVALID
            )
        self.config = cfg
        if not auto:
            self.n_restarts = 0
        if not self._start_limit.test(
            self.host.clock.monotonic(), cfg.start_limit_interval, cfg.start_limit_burst
        ):
            self._log("Start request repeated too quickly.", priority=4)
            self._fail(ServiceResult.START_LIMIT_HIT)
            self._log(f"Failed with result '{self.result.value}'.", priority=4)
            self.set_state(ServiceState.FAILED)  # dead|auto-restart -> failed
            return JobResult.FAILED
        checked = await _check_conditions(self)
        if checked is not JobResult.DONE:
            return checked
        if not self.condition_result:
            if self.sub_state is not ServiceState.DEAD:
                self.set_state(ServiceState.DEAD)  # auto-restart -> dead
            return JobResult.DONE
        present = [
            f"{key}="
            for section, keys in _NOT_SUPPORTED_KEYS.items()
            for key in keys
            if any(self.unit.setting(section, key))
        ]
        if present:
            self._log(f"Not supported yet, ignored for this start: {' '.join(present)}", priority=4)
        self.result = ServiceResult.SUCCESS
        self.exec_main_status = None
        self.status_text = ""
        self.main_pid = None
        self._pgids = set()
        self._ready = asyncio.Event()
        self._stopping_notified = False
        self._forbid_restart = False
        self.invocation_id = uuid.uuid4().hex
        deadline = _Deadline(self.host.clock, cfg.timeout_start)
        self._deadline = deadline
        self._starting = True
        self._stop_requested = False
        try:
            return await self._start_steps(cfg, deadline)
        except _StepFailed as exc:
            if self._stop_requested:
                self._log("Start interrupted by a stop request.")
                self._forbid_restart = True
                await self._finish_failed_start(cfg)
                return JobResult.CANCELED
            self._log(exc.message, priority=3)
            self._fail(exc.result)
            await self._finish_failed_start(cfg)
            return JobResult.FAILED
        finally:
            self._starting = False
            deadline.cancel()
            if self._deadline is deadline:
                self._deadline = None

    def interrupt_start(self) -> bool:
        """Abort a start in progress because a stop job replaced it; True if one was."""
        if not self._starting or self._deadline is None:
            return False
        self._stop_requested = True
        self._forbid_restart = True
        self._deadline.interrupt()
        return True

    async def _start_steps(self, cfg: ServiceConfig, deadline: _Deadline) -> JobResult:
        service = self.unit.service
        assert service is not None
        # ExecCondition=: 1-254 skips the unit like a failed condition, 255 or a signal fails.
        conditions = service.exec_commands("ExecCondition")
        if conditions:
            self.set_state(ServiceState.CONDITION)  # dead -> condition
            for cmd in conditions:
                status = await self._control_step(cmd, cfg, deadline)
                if status.success:
                    continue
                if status.code is ExitCode.EXITED and status.status < 255:
                    self._log("Skipped due to 'exec-condition'.")
                    self.condition_result = False
                    await self._kill_all_and_wait(cfg, cfg.kill_signal, final=True)
                    self.set_state(ServiceState.DEAD)  # condition -> dead
                    return JobResult.DONE
                raise _StepFailed(_result_of(status), f"Control process exited, {status}")
        for cmd in service.exec_commands("ExecStartPre"):
            self.set_state(ServiceState.START_PRE)  # dead|condition -> start-pre
            await self._checked_step(cmd, cfg, deadline)
        starts = service.exec_commands("ExecStart")
        self.set_state(ServiceState.START)  # start-pre -> start
        if cfg.type is ServiceType.ONESHOT:
            for cmd in starts:
                status = await self._main_step(cmd, cfg, deadline)
                if not (status.success or self._clean(cfg, status) or cmd.ignore_failure):
                    raise _StepFailed(_result_of(status), f"Main process exited, {status}")
            self._main = None
            self.main_pid = None
        elif not starts:
            raise _StepFailed(
                ServiceResult.PROTOCOL,
                "Service has no ExecStart= setting, which is only allowed for Type=oneshot "
                "services. Refusing.",
            )
        else:
            await self._start_main(starts[0], cfg, deadline)
        for cmd in service.exec_commands("ExecStartPost"):
            self.set_state(ServiceState.START_POST)  # start -> start-post
            await self._checked_step(cmd, cfg, deadline)
        if cfg.type is ServiceType.ONESHOT:
            if cfg.remain_after_exit:
                self.set_state(ServiceState.EXITED)  # start|start-post -> exited
            else:
                # Leftover processes of a finished oneshot are stopped (service_enter_stop).
                await self._kill_all_and_wait(cfg, cfg.kill_signal, final=True)
                self.set_state(ServiceState.DEAD)  # start -> dead
            return JobResult.DONE
        main = self._main
        if main is not None and main.exited.done():
            status = main.exited.result()
            if main.pid and not self._clean(cfg, status):
                # It died during ExecStartPost=: systemd fails the start (start-post -> ...).
                raise _StepFailed(_result_of(status), f"Main process exited, {status}")
            # It ended cleanly, or it never ran (simple with an exec failure, 203): the job
            # is done, then the exit is handled as in the running state.
            self.set_state(ServiceState.RUNNING)  # start -> running
            self._spawn_supervisor()
            return JobResult.DONE
        if main is None and cfg.remain_after_exit:
            self.set_state(ServiceState.EXITED)  # start -> exited
        else:
            self.set_state(ServiceState.RUNNING)  # start|start-post -> running
        self._arm_watchdog(cfg)
        if self._stopping_notified:
            # STOPPING=1 arrived while the start was finishing: honour it now.
            self.set_state(ServiceState.STOP_SIGTERM)  # running -> stop-sigterm (by notify)
        return JobResult.DONE

    async def _control_step(
        self, cmd: ExecCommand, cfg: ServiceConfig, deadline: _Deadline
    ) -> ExitStatus:
        try:
            status = await self._run_control(cmd, cfg, deadline)
        except SpawnError as exc:
            self._log(str(exc), priority=3)
            return ExitStatus(ExitCode.EXITED, exc.status)
        if status is None:
            raise _StepFailed(
                ServiceResult.TIMEOUT,
                f"{self.sub_state.value.capitalize()} operation timed out. Terminating.",
            )
        return status

    async def _checked_step(
        self, cmd: ExecCommand, cfg: ServiceConfig, deadline: _Deadline
    ) -> None:
        status = await self._control_step(cmd, cfg, deadline)
        if not status.success and not cmd.ignore_failure:
            raise _StepFailed(_result_of(status), f"Control process exited, {status}")

    async def _main_step(
        self, cmd: ExecCommand, cfg: ServiceConfig, deadline: _Deadline
    ) -> ExitStatus:
        """One oneshot ExecStart=: run it as the main process, to its end."""
        try:
            proc = self._spawn(cmd, cfg)
        except SpawnError as exc:
            self._log(str(exc), priority=3)
            self.exec_main_status = ExitStatus(ExitCode.EXITED, exc.status)
            return self.exec_main_status
        self._pending_sink["pid"] = proc.pid
        self._main = proc
        self.main_pid = proc.pid
        self.exec_main_pid = proc.pid
        if not await _first(proc.exited, deadline):  # type: ignore[arg-type]
            raise _StepFailed(ServiceResult.TIMEOUT, "Start operation timed out. Terminating.")
        status = proc.exited.result()
        self.exec_main_status = status
        return status

    async def _start_main(self, cmd: ExecCommand, cfg: ServiceConfig, deadline: _Deadline) -> None:
        """Start the long-running main process; return where its Type= says start is done."""
        try:
            proc = self._spawn(cmd, cfg)
        except SpawnError as exc:
            self._log(str(exc), priority=3)
            status = ExitStatus(ExitCode.EXITED, exc.status)
            self.exec_main_status = status
            if cfg.type in (ServiceType.SIMPLE, ServiceType.IDLE):
                # systemd forks first: the start job is done, then the child fails with 203.
                loop = asyncio.get_running_loop()
                fut: asyncio.Future[ExitStatus] = loop.create_future()
                fut.set_result(status)
                self._main = _Proc(0, fut)
                return
            raise _StepFailed(ServiceResult.EXIT_CODE, f"Main process exited, {status}") from exc
        self._pending_sink["pid"] = proc.pid
        self._main = proc
        self.main_pid = proc.pid
        self.exec_main_pid = proc.pid
        proc.exited.add_done_callback(self._main_exit_callback(proc))
        if cfg.type is ServiceType.IDLE:
            await self.host.wait_idle_queue(_IDLE_TIMEOUT)
            return
        if cfg.type in (ServiceType.SIMPLE, ServiceType.EXEC):
            return  # Popen returned: fork (simple) and execve (exec) succeeded
        if cfg.type is ServiceType.FORKING:
            if not await _first(proc.exited, deadline):  # type: ignore[arg-type]
                raise _StepFailed(ServiceResult.TIMEOUT, "Start operation timed out. Terminating.")
            status = proc.exited.result()
            if not status.success:
                self.exec_main_status = status
                raise _StepFailed(_result_of(status), f"Control process exited, {status}")
            self._main = None
            self.main_pid = None
            await self._find_forked_main(cfg)
            return
        # notify: READY=1, or the main process ends first, or the deadline passes.
        ready_task = asyncio.ensure_future(self._ready.wait())
        try:
            waits: set[asyncio.Future[object]] = {ready_task, proc.exited, deadline.expired}  # type: ignore[arg-type]
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready_task.cancel()
        if self._ready.is_set():
            return
        if proc.exited in done:
            status = proc.exited.result()
            self.exec_main_status = status
            if status.success:
                raise _StepFailed(
                    ServiceResult.PROTOCOL, "Main process exited before sending READY=1."
                )
            raise _StepFailed(_result_of(status), f"Main process exited, {status}")
        raise _StepFailed(ServiceResult.TIMEOUT, "Start operation timed out. Terminating.")

    async def _find_forked_main(self, cfg: ServiceConfig) -> None:
        pid: int | None = None
        if cfg.pid_file:
            try:
                pid = int(_read_text(cfg.pid_file).split()[0])
            except (OSError, ValueError, IndexError) as exc:
                raise _StepFailed(
                    ServiceResult.PROTOCOL,
                    f"Can't open PID file {cfg.pid_file} (yet?) after start: {exc}",
                ) from exc
            if not _alive(pid):
                raise _StepFailed(
                    ServiceResult.PROTOCOL,
                    f"PID {pid} read from file {cfg.pid_file} does not exist or is a zombie.",
                )
        elif cfg.guess_main_pid:
            mine = [
                p
                for p in self.host.process_table().processes(self.invocation_id, self._pgids)
                if _ppid(p) == os.getpid()
            ]
            if len(mine) == 1:
                pid = mine[0]
            else:
                self._log(
                    "Supervising process without a known main PID (could not guess it).", priority=4
                )
        if pid is not None:
            self._adopt_main(pid)

    def _adopt_main(self, pid: int) -> None:
        """Make ``pid`` the main process (forking, MAINPID=), watching for its exit."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ExitStatus] = loop.create_future()
        proc = _Proc(pid, fut)

        def exited(status: ExitStatus) -> None:
            if not fut.done():
                fut.set_result(status)

        if _ppid(pid) == os.getpid():
            self.host.reaper.watch(pid, exited)
        else:
            _watch_foreign(pid, exited)
        self._main = proc
        self.main_pid = pid
        self.exec_main_pid = pid
        fut.add_done_callback(self._main_exit_callback(proc))

    def _main_exit_callback(self, proc: _Proc) -> Callable[[asyncio.Future[ExitStatus]], None]:
        def done(fut: asyncio.Future[ExitStatus]) -> None:
            if fut.cancelled() or self._main is not proc:
                return
            self.exec_main_status = fut.result()
            self._log(
                f"Main process exited, {fut.result()}", priority=6 if fut.result().success else 4
            )
            if not self._lock.locked():
                self._spawn_supervisor()

        return done

    def _spawn_supervisor(self) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._after_main_exit())

    async def _after_main_exit(self) -> None:
        """The main process ended while running: stop the rest, then restart or stay down."""
        async with self._lock:
            main, cfg = self._main, self.config
            if main is None or cfg is None or not main.exited.done():
                return
            if self.sub_state not in (ServiceState.RUNNING, ServiceState.STOP_SIGTERM):
                return
            status = main.exited.result()
            self._main = None
            self.main_pid = None
            self._disarm_watchdog()
            clean = self._clean(cfg, status)
            if not clean:
                self._fail(_result_of(status))
            if clean and cfg.remain_after_exit:
                self.set_state(ServiceState.EXITED)  # running -> exited
                return
            await self._stop_sequence(cfg, run_exec_stop=True)
            self._enter_dead(cfg, status)

    def _enter_dead(self, cfg: ServiceConfig, status: ExitStatus | None) -> None:
        """Finish in dead or failed, or schedule the automatic restart."""
        self._release_cgroup()
        if self._shall_restart(cfg, status):
            self._log(f"Scheduled restart job, restart counter is at {self.n_restarts + 1}.")
            self.set_state(ServiceState.AUTO_RESTART)  # stop-post -> auto-restart
            self._restart_timer = self.host.clock.call_later(cfg.restart_sec, self._restart_due)
            return
        if self.result is ServiceResult.SUCCESS:
            self.set_state(ServiceState.DEAD)  # ... -> dead
        else:
            self._log(f"Failed with result '{self.result.value}'.", priority=4)
            self.set_state(ServiceState.FAILED)  # ... -> failed

    def _restart_due(self) -> None:
        self._restart_timer = None
        if self.sub_state is not ServiceState.AUTO_RESTART:
            return
        self.n_restarts += 1
        self._auto_restarting = True
        self.host.request_restart(self)

    def _shall_restart(self, cfg: ServiceConfig, status: ExitStatus | None) -> bool:
        if self._forbid_restart or cfg.restart == "no":
            return False
        if status is not None:
            if _in_set(status, cfg.restart_prevent):
                return False
            if _in_set(status, cfg.restart_force):
                return True
        r = self.result
        if cfg.restart == "always":
            return True
        if cfg.restart == "on-success":
            return r is ServiceResult.SUCCESS
        if cfg.restart == "on-failure":
            return r is not ServiceResult.SUCCESS
        if cfg.restart == "on-abnormal":
            return r in (
                ServiceResult.SIGNAL,
                ServiceResult.CORE_DUMP,
                ServiceResult.TIMEOUT,
                ServiceResult.WATCHDOG,
            )
        if cfg.restart == "on-watchdog":
            return r is ServiceResult.WATCHDOG
        if cfg.restart == "on-abort":
            return r in (ServiceResult.SIGNAL, ServiceResult.CORE_DUMP)
        return False

    def _clean(self, cfg: ServiceConfig, status: ExitStatus) -> bool:
        if status.code is ExitCode.EXITED:
            return status.status == 0 or status.status in cfg.success_status.statuses
        if status.status in cfg.success_status.signals:
            return True
        return cfg.type is not ServiceType.ONESHOT and status.status in _CLEAN_DAEMON_SIGNALS

    async def _finish_failed_start(self, cfg: ServiceConfig) -> None:
        """After a failed start step: kill what runs, run ExecStopPost=, end failed."""
        self._disarm_watchdog()
        await self._stop_sequence(cfg, run_exec_stop=False)
        status = self.exec_main_status
        self._main = None
        self.main_pid = None
        self._enter_dead(cfg, status)

    # --- stop -----------------------------------------------------------------------

    async def stop(self) -> JobResult:
        """A stop job: ExecStop=, KillSignal= with TimeoutStopSec=, SIGKILL, ExecStopPost=."""
        self._forbid_restart = True
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None
        async with self._lock:
            if self.sub_state is ServiceState.AUTO_RESTART:
                self._auto_restarting = False
                self.set_state(
                    ServiceState.FAILED if not self.result_ok else ServiceState.DEAD
                )  # auto-restart -> failed|dead
                return JobResult.DONE
            if self.active_state in (ActiveState.INACTIVE, ActiveState.FAILED):
                return JobResult.DONE
            cfg = self.config
            assert cfg is not None
            self._disarm_watchdog()
            await self._stop_sequence(cfg, run_exec_stop=True)
            self._release_cgroup()
            self._main = None
            self.main_pid = None
            if self.result is ServiceResult.SUCCESS:
                self.set_state(ServiceState.DEAD)  # stop-post -> dead
            else:
                self._log(f"Failed with result '{self.result.value}'.", priority=4)
                self.set_state(ServiceState.FAILED)  # stop-post -> failed
            return JobResult.DONE

    async def _stop_sequence(self, cfg: ServiceConfig, *, run_exec_stop: bool) -> None:
        # After a daemon-reload, a unit whose file vanished has no [Service] settings any
        # more (not-found, as in systemd): it is stopped with its signals only.
        service = self.unit.service or ServiceSettings()
        deadline = _Deadline(self.host.clock, cfg.timeout_stop)
        self._deadline = deadline
        try:
            main_alive = self._main is not None and not self._main.exited.done()
            stops = service.exec_commands("ExecStop") if run_exec_stop else ()
            for cmd in stops:
                self.set_state(ServiceState.STOP)  # running|exited -> stop
                try:
                    status = await self._run_control(cmd, cfg, deadline, mainpid=main_alive)
                except SpawnError as exc:
                    self._log(str(exc), priority=3)
                    continue
                if status is None:
                    self._fail(ServiceResult.TIMEOUT)
                    break
            self.set_state(ServiceState.STOP_SIGTERM)  # stop -> stop-sigterm
            if not await self._signal_and_wait(cfg, cfg.kill_signal, deadline, final=False):
                self._log("State 'stop-sigterm' timed out. Killing.", priority=4)
                self._fail(ServiceResult.TIMEOUT)
                if cfg.send_sigkill:
                    self.set_state(ServiceState.STOP_SIGKILL)  # stop-sigterm -> stop-sigkill
                    again = _Deadline(self.host.clock, cfg.timeout_stop)
                    try:
                        await self._signal_and_wait(cfg, cfg.final_kill_signal, again, final=True)
                    finally:
                        again.cancel()
            posts = service.exec_commands("ExecStopPost")
            if posts:
                self.set_state(ServiceState.STOP_POST)  # stop-sigkill|stop-sigterm -> stop-post
                post_deadline = _Deadline(self.host.clock, cfg.timeout_stop)
                try:
                    for cmd in posts:
                        try:
                            await self._run_control(cmd, cfg, post_deadline)
                        except SpawnError as exc:
                            self._log(str(exc), priority=3)
                finally:
                    post_deadline.cancel()
            # final-sigterm: whatever ExecStopPost= left behind.
            await self._kill_all_and_wait(cfg, cfg.kill_signal, final=True)
        finally:
            deadline.cancel()
            if self._deadline is deadline:
                self._deadline = None

    def _targets(self, cfg: ServiceConfig, *, rest: bool) -> set[int]:
        """Which processes a kill reaches: the main one, or (rest=True) the others too."""
        main = (
            {self._main.pid}
            if self._main is not None and self._main.pid and not self._main.exited.done()
            else set()
        )
        if cfg.kill_mode == "none":
            return set()
        if cfg.kill_mode == "process" or not rest:
            return main
        return main | self._processes()

    async def _signal_and_wait(
        self, cfg: ServiceConfig, sig: int, deadline: _Deadline, *, final: bool
    ) -> bool:
        """Send ``sig`` per KillMode=, wait until they are gone; False on timeout.

        Without a cgroup to kill at once, a process forked between the scan and the
        kill (a child of a process being killed) would be missed and keep the stop
        waiting until its timeout: every rescan signals the processes it sees for the
        first time, as systemd's cgroup kill would have reached them.
        """
        signalled: set[int] = set()
        mixed = cfg.kill_mode == "mixed" and not final

        def send() -> None:
            main = self._targets(cfg, rest=False) if mixed else set()
            everyone = self._targets(cfg, rest=True)
            if mixed:
                kill_processes(main - signalled, sig)
                kill_processes(everyone - main - signalled, signal.SIGKILL)
            else:
                if sig == signal.SIGKILL and self._cgroup is not None:
                    CgroupTree.kill(self._cgroup)  # all at once, forks in flight included
                fresh = everyone - signalled
                kill_processes(fresh, sig)
                if sig not in (signal.SIGKILL, signal.SIGCONT):
                    kill_processes(fresh, signal.SIGCONT)
            signalled.update(everyone)

        send()
        while True:
            self._reaped.clear()
            if not self._targets(cfg, rest=True):
                return True
            send()
            if not await _first(self._reaped, deadline):
                return False

    async def _kill_all_and_wait(self, cfg: ServiceConfig, sig: int, *, final: bool) -> None:
        """final-sigterm/final-sigkill: end every process of the unit that is left."""
        if cfg.kill_mode in ("none", "process"):
            return
        if not self._processes():
            return
        deadline = _Deadline(self.host.clock, cfg.timeout_stop)
        try:
            if not await self._signal_and_wait(cfg, sig, deadline, final=final) and (
                cfg.send_sigkill
            ):
                self._log(
                    "Processes still around after final SIGTERM. Entering final-sigkill.",
                    priority=4,
                )
                again = _Deadline(self.host.clock, cfg.timeout_stop)
                try:
                    await self._signal_and_wait(cfg, cfg.final_kill_signal, again, final=True)
                finally:
                    again.cancel()
        finally:
            deadline.cancel()

    # --- reload ---------------------------------------------------------------------

    async def reload(self) -> JobResult:
        """A reload job: ExecReload= with $MAINPID."""
        async with self._lock:
            service, cfg = self.unit.service, self.config
            if service is None or cfg is None or self.active_state is not ActiveState.ACTIVE:
                return JobResult.INVALID
            previous = self.sub_state
            self.set_state(ServiceState.RELOAD)  # running -> reload
            deadline = _Deadline(self.host.clock, cfg.timeout_start)
            ok = True
            try:
                for cmd in service.exec_commands("ExecReload"):
                    try:
                        status = await self._run_control(cmd, cfg, deadline, mainpid=True)
                    except SpawnError as exc:
                        self._log(str(exc), priority=3)
                        ok = ok and cmd.ignore_failure
                        continue
                    if status is None or not (status.success or cmd.ignore_failure):
                        ok = False
            finally:
                deadline.cancel()
            self.set_state(previous)  # reload -> running
        self._catch_up_on_main_exit()
        return JobResult.DONE if ok else JobResult.FAILED

    # --- sd_notify ------------------------------------------------------------------

    def notify_allowed(self, pid: int | None) -> bool:
        """NotifyAccess=: may this sender talk for the service?"""
        access = self.config.notify_access if self.config else "none"
        if access == "none" or pid is None:
            return False
        if access == "all":
            return self.owns_pid(pid)
        if access == "exec":
            return pid in (self.main_pid, self.control_pid)
        return pid == self.main_pid

    def handle_notify(self, pid: int | None, fields: dict[str, str]) -> None:
        """Apply one sd_notify message (already attributed to this service)."""
        if not self.notify_allowed(pid):
            self._log(
                f"Got notification message from PID {pid}, but reception only permitted "
                f"for main PID {self.main_pid or 0}",
                priority=4,
            )
            return
        if "MAINPID" in fields:
            try:
                new = int(fields["MAINPID"])
            except ValueError:
                self._log(
                    "Failed to parse MAINPID= field in notification message, ignoring: "
                    + fields["MAINPID"],
                    priority=4,
                )
            else:
                if new != self.main_pid and _alive(new):
                    self._adopt_main(new)
        if "STATUS" in fields:
            self.status_text = fields["STATUS"]
        if "ERRNO" in fields:
            with contextlib.suppress(ValueError):
                self.status_errno = int(fields["ERRNO"])
        if "EXTEND_TIMEOUT_USEC" in fields and self._deadline is not None:
            with contextlib.suppress(ValueError):
                self._deadline.extend(int(fields["EXTEND_TIMEOUT_USEC"]) / 1_000_000)
        if "WATCHDOG_USEC" in fields:
            with contextlib.suppress(ValueError):
                self._watchdog_override = int(fields["WATCHDOG_USEC"]) / 1_000_000
                if self.config is not None:
                    self._arm_watchdog(self.config)
        if fields.get("WATCHDOG") == "1" and self.config is not None:
            self._arm_watchdog(self.config)
        elif fields.get("WATCHDOG") == "trigger":
            self._watchdog_expired()
        if fields.get("READY") == "1":
            self._ready.set()
        if fields.get("STOPPING") == "1" and not self._stopping_notified:
            self._stopping_notified = True
            if self.sub_state is ServiceState.RUNNING:
                self._forbid_restart = False
                self.set_state(ServiceState.STOP_SIGTERM)  # running -> stop-sigterm (by notify)
                self._spawn_supervisor_on_exit()
        if fields.get("RELOADING") == "1" and self.sub_state is ServiceState.RUNNING:
            self.set_state(ServiceState.RELOAD)  # running -> reload (by notify)
        elif (
            fields.get("READY") == "1"
            and self.sub_state is ServiceState.RELOAD
            and not self._lock.locked()
        ):
            self.set_state(ServiceState.RUNNING)  # reload -> running (by notify)

    def _spawn_supervisor_on_exit(self) -> None:
        main = self._main
        if main is not None and main.exited.done():
            self._spawn_supervisor()

    def _arm_watchdog(self, cfg: ServiceConfig) -> None:
        seconds = self._watchdog_override or cfg.watchdog_sec
        if not seconds:
            return
        if self._watchdog_timer is not None:
            self._watchdog_timer.cancel()
        self._watchdog_timer = self.host.clock.call_later(seconds, self._watchdog_expired)

    def _disarm_watchdog(self) -> None:
        if self._watchdog_timer is not None:
            self._watchdog_timer.cancel()
            self._watchdog_timer = None

    def _watchdog_expired(self) -> None:
        self._watchdog_timer = None
        cfg = self.config
        if cfg is None or self.sub_state is not ServiceState.RUNNING or self._main is None:
            return
        seconds = self._watchdog_override or cfg.watchdog_sec or 0
        self._log(f"Watchdog timeout (limit {values.format_timespan(usec(seconds))})!", priority=2)
        self._fail(ServiceResult.WATCHDOG)
        kill_processes([self._main.pid], cfg.watchdog_signal)


class _StepFailed(Exception):
    """A start step failed with a service result and systemd's log line."""

    def __init__(self, result: ServiceResult, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.message = message


def _result_of(status: ExitStatus) -> ServiceResult:
    if status.code is ExitCode.EXITED:
        return ServiceResult.EXIT_CODE
    if status.code is ExitCode.DUMPED:
        return ServiceResult.CORE_DUMP
    return ServiceResult.SIGNAL


def _in_set(status: ExitStatus, statuses: values.ExitStatusSet) -> bool:
    if status.code is ExitCode.EXITED:
        return status.status in statuses.statuses
    return status.status in statuses.signals


def _cld(status: ExitStatus | None) -> int:
    if status is None:
        return 0
    return {ExitCode.EXITED: 1, ExitCode.KILLED: 2, ExitCode.DUMPED: 3}[status.code]


def _is_self(user: str) -> bool:
    try:
        return pwd.getpwnam(user).pw_uid == os.getuid()
    except KeyError:
        return user == str(os.getuid())


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rfind(b")") + 2 :].split()[1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _watch_foreign(pid: int, callback: Callable[[ExitStatus], None]) -> None:
    """Watch a process that is not our child through a pidfd (its status is unknowable)."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        loop.call_soon(callback, ExitStatus(ExitCode.EXITED, 0))
        return

    def readable() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        callback(ExitStatus(ExitCode.EXITED, 0))

    loop.add_reader(fd, readable)
