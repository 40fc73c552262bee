"""System mode: the manager as a machine's (or a container's) init, state under /run/bootup.

What systemd does as PID 1 and what bootup does here (reference systemd.md §1.9, §5):

* the unit search path is the system one (:func:`bootup.units.paths.search_path`, honouring
  ``SYSTEMD_UNIT_PATH`` with its trailing-``:`` rule), plus ``/run/bootup/units`` as the
  last, lowest-precedence directory (the role of systemd's ``generator.late``): it supplies
  the special targets a bare scenario lacks (``sysinit.target`` ... ``multi-user.target``,
  ``poweroff.target``, ``halt.target``, ``reboot.target``, ``default.target`` ->
  ``multi-user.target``); a unit of the same name anywhere else wins wholesale;
* runtime state in ``/run/bootup/`` (0755): the control socket ``control.sock`` (0600,
  root's), the notify socket, ``state.json``, the lock, and ``runlevel``;
* the journal in ``/var/log/bootup/journal.db`` when that directory exists (persistent,
  like journald's ``Storage=auto`` with ``/var/log/journal``), else in
  ``/run/bootup/journal.db`` (volatile, like ``/run/log/journal``);
* one system manager at a time: ``/run/bootup/lock`` is held with ``flock()``;
* signals as systemd's PID 1 maps them (``man systemd``, SIGNALS): SIGRTMIN+3 halt,
  SIGRTMIN+4 poweroff, SIGRTMIN+5 reboot, SIGINT starts ``ctrl-alt-del.target`` when such a
  unit exists (else shuts down, as poweroff). SIGTERM makes systemd re-execute itself;
  bootup cannot re-execute yet, so it shuts down cleanly (as poweroff) and logs why:
  container runtimes send SIGTERM to stop a container;
* ``systemctl poweroff|halt|reboot`` start ``poweroff.target`` (etc.) in
  ``replace-irreversibly`` mode, as systemctl does; a start job of one of those targets
  (however requested) begins the shutdown of that kind;
* shutting down stops every unit in reverse start order, then, as PID 1, sends SIGTERM and
  later SIGKILL to every process left (systemd-shutdown's "Sending SIGTERM to remaining
  processes..."), and ends: PID 1 of the *initial* PID namespace calls ``reboot(2)`` (a real
  machine must not see its init exit); anywhere else the manager exits, which ends a
  container: code 0 for poweroff and halt, 129 for reboot (128 + SIGHUP: what a runtime
  sees when a real systemd reboots inside a PID namespace, so ``--restart=on-failure``
  restarts it), or the code given to ``systemctl exit N``.

The runlevel (what ``runlevel`` prints) is derived as systemd's ``systemd-update-utmp``
does: the first of graphical.target (5), multi-user.target (3) and rescue.target (1) that
is active (aliases such as ``runlevel3.target`` resolve to these), looked at whenever no
job is left (a transaction settled); when none is active, nothing is recorded. Each change
is written as ``PREVIOUS CURRENT`` to ``/run/bootup/runlevel``
(bootup's stand-in for the utmp record).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Final

from bootup.errors import ManagerError
from bootup.runtime import pidlock
from bootup.runtime.jobs import JobEvent, UnitEvent
from bootup.runtime.journal import Journal
from bootup.runtime.manager import Event, Manager
from bootup.runtime.project import SPECIAL_TARGETS
from bootup.runtime.states import ActiveState
from bootup.transaction import JobMode, JobType
from bootup.units.paths import SearchPath, search_path

__all__ = (
    "RUN_DIR",
    "RUNLEVEL_TARGETS",
    "ShutdownKind",
    "SystemDir",
    "SystemLockedError",
    "SystemSupervisor",
    "in_initial_pid_namespace",
    "read_runlevel",
    "system_manager",
)

logger = logging.getLogger(__name__)

RUN_DIR: Final = Path("/run/bootup")
PERSISTENT_JOURNAL_DIR: Final = Path("/var/log/bootup")

#: systemd-update-utmp's table: the first active target names the runlevel.
RUNLEVEL_TARGETS: Final = (
    ("5", "graphical.target"),
    ("3", "multi-user.target"),
    ("1", "rescue.target"),
)

#: The inode of the initial PID namespace (PROC_PID_INIT_INO in include/linux/proc_ns.h).
_PROC_PID_INIT_INO: Final = 0xEFFFFFFC

_SHUTDOWN_TARGET_DEPS: Final = "DefaultDependencies=no\nAllowIsolate=yes\n"

#: The targets a system manager supplies when the search path has none of that name.
SYSTEM_TARGETS: Final[dict[str, str]] = {
    **SPECIAL_TARGETS,
    "poweroff.target": (
        "[Unit]\nDescription=System Power Off\nDefaultDependencies=no\nAllowIsolate=yes\n"
    ),
    "halt.target": "[Unit]\nDescription=System Halt\n" + _SHUTDOWN_TARGET_DEPS,
    "reboot.target": "[Unit]\nDescription=System Reboot\n" + _SHUTDOWN_TARGET_DEPS,
}

#: Seconds the processes left after the ordered stop get between SIGTERM and SIGKILL.
SWEEP_TIMEOUT: Final = 10.0


class ShutdownKind(StrEnum):
    """How the manager ends (systemd's emergency actions of the same names)."""

    HALT = "halt"
    POWEROFF = "poweroff"
    REBOOT = "reboot"
    EXIT = "exit"

    @property
    def target(self) -> str:
        """The target ``systemctl KIND`` starts."""
        return f"{self.value}.target"


#: SIGRTMIN+N of each kind (systemd(1), SIGNALS).
_SIGNAL_OFFSET: Final = {ShutdownKind.HALT: 3, ShutdownKind.POWEROFF: 4, ShutdownKind.REBOOT: 5}

#: reboot(2) commands (include/uapi/linux/reboot.h).
_REBOOT_CMD: Final = {
    ShutdownKind.HALT: 0xCDEF0123,
    ShutdownKind.POWEROFF: 0x4321FEDC,
    ShutdownKind.REBOOT: 0x01234567,
}
#: What systemd-shutdown prints last for each kind.
_FINAL_LINE: Final = {
    ShutdownKind.HALT: "Halting system.",
    ShutdownKind.POWEROFF: "Powering off.",
    ShutdownKind.REBOOT: "Rebooting.",
    ShutdownKind.EXIT: "Exiting.",
}
#: Exit codes when ending means exiting (a container, or not PID 1 at all).
_EXIT_CODE: Final = {
    ShutdownKind.HALT: 0,
    ShutdownKind.POWEROFF: 0,
    ShutdownKind.REBOOT: 128 + signal.SIGHUP,
}


class SystemLockedError(ManagerError):
    """Another system manager already holds /run/bootup/lock."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        who = f" (pid {holder})" if holder else ""
        super().__init__(
            f"another bootup system manager is already running{who}; lock file {lock_path}"
        )
        self.lock_path = lock_path
        self.holder = holder


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def in_initial_pid_namespace() -> bool:
    """Whether this process lives in the machine's first PID namespace (not a container's)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino == _PROC_PID_INIT_INO
    except OSError:
        return False


def read_runlevel(run_dir: Path = RUN_DIR) -> tuple[str, str] | None:
    """``(previous, current)`` as the system manager recorded them, None when unknown."""
    try:
        words = (run_dir / "runlevel").read_text().split()
    except OSError:
        return None
    if len(words) != 2:
        return None
    return words[0], words[1]


class SystemDir:
    """/run/bootup prepared for a system manager: directories, fallback targets, lock.

    Args:
        run_dir: the runtime directory (``/run/bootup``; tests may use another).
        environ: where ``SYSTEMD_UNIT_PATH`` is read (default ``os.environ``).
        journal_dir: the persistent journal directory, used when it exists.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] = RUN_DIR,
        *,
        environ: Mapping[str, str] | None = None,
        journal_dir: str | os.PathLike[str] = PERSISTENT_JOURNAL_DIR,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.units_dir = self.run_dir / "units"
        self.lock_path = self.run_dir / "lock"
        self.socket_path = self.run_dir / "control.sock"
        self.state_file = self.run_dir / "state.json"
        self._journal_dir = Path(journal_dir)
        self._environ = environ
        self._lock_fd: int | None = None

    @property
    def journal_path(self) -> Path:
        """Persistent when the journal directory exists (Storage=auto), else volatile."""
        if self._journal_dir.is_dir():
            return self._journal_dir / "journal.db"
        return self.run_dir / "journal.db"

    def __enter__(self) -> SystemDir:
        self.lock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unlock()

    def lock(self) -> None:
        """Create /run/bootup (0755), take its lock, write the fallback targets.

        Raises:
            SystemLockedError: another system manager holds the lock.
        """
        self.run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        fd, holder = pidlock.acquire(self.lock_path)
        if fd is None:
            raise SystemLockedError(self.lock_path, holder)
        self._lock_fd = fd
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / "runlevel").unlink()
        self.write_fallback_targets()

    def unlock(self) -> None:
        """Release the lock."""
        pidlock.release(self._lock_fd)
        self._lock_fd = None

    def base_search_path(self) -> SearchPath:
        """The system search path without bootup's fallback directory."""
        return search_path(environ=self._environ)

    def search_path(self) -> SearchPath:
        """The system search path, then the fallback targets (lowest precedence)."""
        base = self.base_search_path()
        dirs = tuple(d for d in base.dirs if d != str(self.units_dir))
        return SearchPath(
            dirs=(*dirs, str(self.units_dir)),
            root=base.root,
            config_dir=base.config_dir,
            runtime_dir=base.runtime_dir,
        )

    def _defined(self, name: str, dirs: tuple[str, ...]) -> Path | None:
        for directory in dirs:
            candidate = Path(directory) / name
            if candidate.exists() or candidate.is_symlink():
                return candidate
        return None

    def write_fallback_targets(self) -> list[str]:
        """Write the targets no other search-path directory defines; return their names."""
        self.units_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        dirs = self.base_search_path().dirs
        written: list[str] = []
        for name, text in SYSTEM_TARGETS.items():
            target = self.units_dir / name
            if self._defined(name, dirs) is not None:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                continue
            _write_atomic(target, text)
            written.append(name)
        default = self.units_dir / "default.target"
        with contextlib.suppress(FileNotFoundError):
            default.unlink()
        if self._defined("default.target", dirs) is None:
            real = self._defined("multi-user.target", dirs) or self.units_dir / "multi-user.target"
            os.symlink(real, default)
            written.append("default.target")
        return written


@contextlib.asynccontextmanager
async def system_manager(system: SystemDir, *, journal: bool = True) -> AsyncIterator[Manager]:
    """Lock /run/bootup, open the journal and run a :class:`Manager` on the system path.

    On exit every unit still running is stopped (reverse order), then the journal and the
    lock are released.
    """
    with system:
        opened = Journal.open(system.journal_path) if journal else None
        try:
            manager = Manager(
                system.search_path(),
                state_dir=system.run_dir,
                journal=opened,
                state_file=system.state_file,
            )
            async with manager:
                yield manager
        finally:
            if opened is not None:
                opened.close()


@dataclass(frozen=True, slots=True)
class ShutdownRequest:
    """Why and how the manager is going down."""

    kind: ShutdownKind
    reason: str
    exit_code: int = 0


class SystemSupervisor:
    """PID-1 duties around a running system :class:`Manager`.

    Maps signals to shutdown requests, notices ``systemctl poweroff`` (a start job of a
    shutdown target), keeps the runlevel record, and carries out the end: ordered stop,
    sweep of leftover processes, then ``reboot(2)`` or exit.

    Args:
        manager: the open system manager.
        system: its directories.
        say: writes one console line (systemd's console; ``print`` in the CLI).
    """

    def __init__(self, manager: Manager, system: SystemDir, say: Callable[[str], None]) -> None:
        self.manager = manager
        self.system = system
        self.say = say
        self.request: ShutdownRequest | None = None
        self._requested = asyncio.Event()
        self._runlevel: str | None = None
        self._signals: list[int] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._kind_of_target: dict[str, ShutdownKind] = {}
        self._reaped = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()

    # --- wiring ----------------------------------------------------------------------

    def install(self) -> None:
        """Handle the init signals and watch the manager's events."""
        loop = asyncio.get_running_loop()
        handlers: dict[int, tuple[str, Callable[[], None]]] = {
            signal.SIGRTMIN + 3: ("SIGRTMIN+3", lambda: self._signalled(ShutdownKind.HALT)),
            signal.SIGRTMIN + 4: ("SIGRTMIN+4", lambda: self._signalled(ShutdownKind.POWEROFF)),
            signal.SIGRTMIN + 5: ("SIGRTMIN+5", lambda: self._signalled(ShutdownKind.REBOOT)),
            signal.SIGINT: ("SIGINT", self._ctrl_alt_del),
            signal.SIGTERM: ("SIGTERM", self._sigterm),
            signal.SIGHUP: ("SIGHUP", self.manager.request_reload),  # as systemd: reload
        }
        for number, (name, handler) in handlers.items():
            loop.add_signal_handler(number, self._received, name, handler)
            self._signals.append(number)
        for kind in (ShutdownKind.HALT, ShutdownKind.POWEROFF, ShutdownKind.REBOOT):
            name = kind.target
            canonical = self.manager.graph.canonical(name) if name in self.manager.graph else name
            self._kind_of_target.setdefault(canonical, kind)
        self._unsubscribe = self.manager.subscribe(self._on_event)
        self.manager.reaper.add_listener(self._on_reaped)

    def uninstall(self) -> None:
        """Undo :meth:`install`."""
        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.remove_signal_handler(number)
        self._signals.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- requests --------------------------------------------------------------------

    def shut_down(self, kind: ShutdownKind, reason: str, exit_code: int | None = None) -> None:
        """Ask for the end (the first request wins, as systemd's irreversible job does)."""
        if self.request is not None:
            return
        code = exit_code if exit_code is not None else _EXIT_CODE.get(kind, 0)
        self.request = ShutdownRequest(kind, reason, code)
        self.manager.log(None, f"Shutting down ({kind.value}), requested by {reason}.")
        self._requested.set()

    def exit(self, code: int) -> None:
        """``systemctl exit N`` (the control socket's Exit): in a container, end with N."""
        self.shut_down(ShutdownKind.EXIT, "systemctl exit", code)

    async def wait(self) -> ShutdownRequest:
        """Block until a shutdown is requested."""
        await self._requested.wait()
        assert self.request is not None
        return self.request

    def _received(self, name: str, handler: Callable[[], None]) -> None:
        self.say(f"Received {name}.")  # systemd's console line
        self.manager.log(None, f"Received {name}.")
        handler()

    def _signalled(self, kind: ShutdownKind) -> None:
        self.shut_down(kind, f"SIGRTMIN+{_SIGNAL_OFFSET[kind]}")

    def _sigterm(self) -> None:
        message = (
            "Received SIGTERM: systemd would re-execute itself here; bootup cannot "
            "re-execute yet, so it shuts down cleanly (as poweroff)."
        )
        self.manager.log(None, message, priority=4)
        self.say(message)
        self.shut_down(ShutdownKind.POWEROFF, "SIGTERM")

    def _ctrl_alt_del(self) -> None:
        name = "ctrl-alt-del.target"
        if name not in self.manager.graph:
            self.shut_down(ShutdownKind.POWEROFF, "SIGINT (no ctrl-alt-del.target)")
            return
        self.manager.log(None, f"Received SIGINT, starting {name}.")

        async def start() -> None:
            try:
                await self.manager.enqueue(name, JobType.START, JobMode.REPLACE_IRREVERSIBLY)
            except Exception as exc:  # a refused transaction must still end the system
                self.manager.log(None, f"Failed to start {name}: {exc}", priority=3)
                self.shut_down(ShutdownKind.POWEROFF, f"SIGINT ({name} failed)")

        task = asyncio.ensure_future(start())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, JobEvent):
            kind = self._kind_of_target.get(event.unit)
            if kind is not None and event.type is JobType.START:
                self.shut_down(kind, f"a start job for {event.unit}")
        # Like systemd-update-utmp, record the runlevel once a transaction settled (no job
        # left), not at every step of the boot (multi-user.target is active on the way to
        # graphical.target, which must not make the previous runlevel 3).
        settled = not self.manager.jobs and not self.manager.stopping and self.request is None
        if settled and (isinstance(event, UnitEvent) or event.result is not None):
            self.update_runlevel()

    # --- runlevel --------------------------------------------------------------------

    def current_runlevel(self) -> str | None:
        """The runlevel systemd-update-utmp would record now (None: none of its targets)."""
        for level, target in RUNLEVEL_TARGETS:
            if target not in self.manager.graph:
                continue
            with contextlib.suppress(ManagerError):
                state = self.manager.state(target)
                if state in (ActiveState.ACTIVE, ActiveState.RELOADING):
                    return level
        return None

    def update_runlevel(self) -> None:
        """Record a runlevel change as ``PREVIOUS CURRENT`` (N: no previous one)."""
        level = self.current_runlevel()
        if level is None or level == self._runlevel:
            return
        previous = self._runlevel or "N"
        self._runlevel = level
        try:
            _write_atomic(self.system.run_dir / "runlevel", f"{previous} {level}\n")
        except OSError as exc:
            self.manager.log(None, f"Failed to record the runlevel: {exc}", priority=4)

    # --- the end ---------------------------------------------------------------------

    async def finish(self) -> int:
        """Stop every unit in order, sweep leftover processes, and end.

        Returns the exit code (only when ending means exiting; on a real machine's PID 1
        this calls ``reboot(2)`` and does not return).
        """
        request = self.request or ShutdownRequest(ShutdownKind.POWEROFF, "the manager ending")
        await self.manager.shutdown()
        self.say("Shutting down.")
        pid1 = os.getpid() == 1
        if pid1:
            await self.sweep()
        else:
            self.manager.log(None, "Not PID 1: leaving processes outside the units alone.")
        if not (pid1 and request.kind is ShutdownKind.EXIT):
            self.say(_FINAL_LINE[request.kind])
        if pid1 and in_initial_pid_namespace() and request.kind in _REBOOT_CMD:
            _reboot(_REBOOT_CMD[request.kind])  # does not return
        if pid1:
            self.say("Exiting container.")
        if request.kind in _REBOOT_CMD:
            where = "in a child PID namespace" if pid1 else "without being PID 1"
            self.manager.log(
                None,
                f"Running {where}: not calling reboot(2) for {request.kind.value}; "
                f"exiting with code {request.exit_code}.",
            )
        return request.exit_code

    async def sweep(self, grace: float = SWEEP_TIMEOUT) -> None:
        """As PID 1: SIGTERM to every process left, then SIGKILL after ``grace`` seconds.

        Waits on the reaper's events (every reaped child re-checks), never on a timer tick.
        Only this namespace's processes are seen (``/proc`` is the namespace's own).
        """
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "SIGKILL")):
            self.say(f"Sending {name} to remaining processes...")  # as systemd-shutdown
            left = _other_processes()
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
                    if sig == signal.SIGTERM:
                        os.kill(pid, signal.SIGCONT)
            if left:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_gone(), grace)

    async def _all_gone(self) -> None:
        while _other_processes():
            self._reaped.clear()
            await self._reaped.wait()

    def _on_reaped(self, *_: object) -> None:
        self._reaped.set()


def _other_processes() -> list[int]:
    """Every live process in this PID namespace but ourselves.

    Zombies are left out: ours are reaped on SIGCHLD anyway, and one whose parent lives
    outside the namespace (a command run with ``nsenter``) is not ours to reap, so waiting
    for it to vanish would only run into the timeout.
    """
    me = os.getpid()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def _reboot(command: int) -> None:
    """sync, then reboot(2); only ever called as PID 1 of the initial PID namespace."""
    os.sync()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.reboot(ctypes.c_int(command)) != 0:
        code = ctypes.get_errno()
        raise ManagerError(f"reboot(2) failed: {os.strerror(code)}")
