"""Processes: spawn with systemd.exec(5) settings, reap every child, find and kill a unit's tree.

Design. The manager owns every child of its process, like an init system: one SIGCHLD
handler (on the event loop) reaps with ``waitpid(-1, WNOHANG)`` in a loop and hands each
status to whoever watches that pid; children nobody watches are orphans re-parented to us
(the manager sets itself as child subreaper, ``PR_SET_CHILD_SUBREAPER``), reaped and
counted. Nothing polls: an idle manager sleeps in the event loop until a signal, a socket
or a timer wakes it.

Without a writable cgroup (bootup's unprivileged project mode), a unit's processes are
tracked the way shared/reference/systemd.md §5 proposes: each command starts in its own
session (``setsid``), so its process group is known, and carries ``INVOCATION_ID=`` in its
environment (systemd sets it too); :func:`unit_processes` finds the unit's processes by
process group or by that marker in ``/proc``. A daemon that calls ``setsid()`` again *and*
scrubs its environment escapes both; only a cgroup keeps it (next paragraph).

Where the kernel offers a writable cgroup v2 hierarchy below the manager's own cgroup
(:class:`CgroupTree`), each unit invocation also gets a cgroup of its own, entered before
exec; its ``cgroup.procs`` then adds every process the unit started, including one that
called ``setsid()`` and scrubbed its environment, and ``cgroup.kill`` ends them all at once
(systemd.md §1.9/§5). The process-group and ``INVOCATION_ID=`` tracking stays on as well.

A side effect to know: because the manager reaps ``waitpid(-1)``, other code in the same
process must not run its own ``subprocess`` children while a manager runs (their exit
status would be taken), exactly as under a real init.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bootup.errors import ManagerError, NotSupportedError

__all__ = (
    "EXIT_CHDIR",
    "EXIT_EXEC",
    "EXIT_GROUP",
    "EXIT_USER",
    "CgroupTree",
    "ChildReaper",
    "ExitCode",
    "ExitStatus",
    "LineReader",
    "OutputGate",
    "OutputSpec",
    "ProcessTable",
    "SpawnError",
    "SpawnedProcess",
    "kill_processes",
    "set_child_subreaper",
    "spawn",
    "unit_processes",
)

logger = logging.getLogger(__name__)

#: systemd's exit codes for failures between fork() and exec() (systemd.exec(5), "PROCESS
#: EXIT CODES").
EXIT_CHDIR: Final = 200
EXIT_EXEC: Final = 203
EXIT_GROUP: Final = 216
EXIT_USER: Final = 217

_PR_SET_CHILD_SUBREAPER: Final = 36
#: systemd's LineMax= default: a longer line is split.
_LINE_MAX: Final = 48 * 1024


class ExitCode(StrEnum):
    """``ExecMainCode=`` in words: how a process ended (CLD_* of waitid(2))."""

    EXITED = "exited"
    KILLED = "killed"
    DUMPED = "dumped"


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: ``code`` says whether ``status`` is an exit status or a signal."""

    code: ExitCode
    status: int

    @classmethod
    def from_wait_status(cls, wait_status: int) -> ExitStatus:
        """Decode a ``waitpid()`` status."""
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            dumped = os.WCOREDUMP(wait_status)
            return cls(ExitCode.DUMPED if dumped else ExitCode.KILLED, sig)
        return cls(ExitCode.EXITED, os.waitstatus_to_exitcode(wait_status))

    @property
    def success(self) -> bool:
        """Exit status 0."""
        return self.code is ExitCode.EXITED and self.status == 0

    def __str__(self) -> str:
        if self.code is ExitCode.EXITED:
            return f"code=exited, status={self.status}"
        try:
            name = signal.Signals(self.status).name.removeprefix("SIG")  # systemd: 15/TERM
        except ValueError:
            name = str(self.status)
        return f"code={self.code.value}, status={self.status}/{name}"


class SpawnError(ManagerError):
    """A command could not be started; ``status`` is systemd's exit code for the step."""

    def __init__(self, argv: tuple[str, ...], status: int, reason: str) -> None:
        super().__init__(f"Failed to execute {argv[0] if argv else '?'}: {reason}")
        self.argv = argv
        self.status = status
        self.reason = reason


def set_child_subreaper(enabled: bool = True) -> None:
    """Make orphaned descendants re-parent to this process (prctl PR_SET_CHILD_SUBREAPER).

    Raises:
        ManagerError: the kernel refused.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise ManagerError(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(code)}")


class ChildReaper:
    """Reap every child on SIGCHLD and dispatch exit statuses to their watchers.

    Must be started on the main thread's event loop (signal handlers live there). A status
    for a pid nobody watches yet is kept, so a watcher registered late still gets it.
    """

    def __init__(self) -> None:
        self._watchers: dict[int, Callable[[ExitStatus], None]] = {}
        self._unclaimed: dict[int, ExitStatus] = {}
        self._listeners: list[Callable[[int, ExitStatus], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Orphans reaped that no unit claimed (counted for tests and status output).
        self.orphans_reaped = 0

    def start(self) -> None:
        """Install the SIGCHLD handler on the running loop and reap anything pending."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGCHLD, self.reap)
        # A burst of exits can fill the loop's wakeup pipe; SIGCHLD coalesces and reap()
        # takes every exited child, so a dropped wakeup byte loses nothing: don't warn.
        wakeup = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
        self.reap()

    def close(self) -> None:
        """Remove the SIGCHLD handler (children left are no longer reaped by us)."""
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None

    def watch(self, pid: int, callback: Callable[[ExitStatus], None]) -> None:
        """Call ``callback(status)`` when ``pid`` is reaped (at once if it already was)."""
        status = self._unclaimed.pop(pid, None)
        if status is not None:
            callback(status)
            return
        self._watchers[pid] = callback

    def unwatch(self, pid: int) -> None:
        """Stop watching ``pid``."""
        self._watchers.pop(pid, None)

    def add_listener(self, callback: Callable[[int, ExitStatus], None]) -> None:
        """Call ``callback(pid, status)`` for every reaped child, watched or not."""
        self._listeners.append(callback)

    def reap(self) -> None:
        """Reap every exited child now (the SIGCHLD handler)."""
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            status = ExitStatus.from_wait_status(wait_status)
            watcher = self._watchers.pop(pid, None)
            if watcher is not None:
                watcher(status)
            else:
                self.orphans_reaped += 1
                if len(self._unclaimed) < 4096:
                    self._unclaimed[pid] = status
            for listener in list(self._listeners):
                listener(pid, status)

    def forget_unclaimed(self) -> None:
        """Drop statuses kept for pids that were never watched."""
        self._unclaimed.clear()


class OutputGate:
    """Pauses every pipe reader while the journal's writer catches up (back-pressure).

    Why: reading a pipe is much faster than committing its lines to SQLite, so a service
    that floods its output would otherwise pile lines up in the manager's memory. While the
    gate is closed, a reader that becomes readable stops watching its fd and parks here; the
    kernel pipe then fills and the writing process blocks in ``write()``, exactly as under
    journald. :meth:`open` re-arms every parked reader. Nothing polls.
    """

    def __init__(self) -> None:
        self._closed = False
        self._parked: list[LineReader] = []

    @property
    def is_open(self) -> bool:
        """Whether readers may read."""
        return not self._closed

    def close(self) -> None:
        """Make readers park at their next readiness."""
        self._closed = True

    def open(self) -> None:
        """Let every parked reader read again."""
        self._closed = False
        parked, self._parked = self._parked, []
        for reader in parked:
            reader.resume()

    def park(self, reader: LineReader) -> None:
        """Keep ``reader`` until :meth:`open`."""
        self._parked.append(reader)


class LineReader:
    """Read a pipe on the event loop and hand over each line (no thread, no polling)."""

    def __init__(
        self, fd: int, on_line: Callable[[str], None], gate: OutputGate | None = None
    ) -> None:
        self._fd = fd
        self._on_line = on_line
        self._gate = gate
        self._buffer = b""
        self._loop = asyncio.get_running_loop()
        self.closed = asyncio.Event()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def _emit(self, raw: bytes) -> None:
        self._on_line(raw.decode("utf-8", "replace").rstrip("\r"))

    def resume(self) -> None:
        """Watch the pipe again after the gate parked this reader."""
        if not self.closed.is_set():
            self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        if self._gate is not None and not self._gate.is_open:
            self._loop.remove_reader(self._fd)
            self._gate.park(self)
            return
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if self._buffer:
                self._emit(self._buffer)
                self._buffer = b""
            self.close()
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._emit(line)
        while len(self._buffer) >= _LINE_MAX:
            self._emit(self._buffer[:_LINE_MAX])
            self._buffer = self._buffer[_LINE_MAX:]

    def close(self) -> None:
        """Stop reading and close the pipe."""
        if self.closed.is_set():
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self.closed.set()


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """``StandardOutput=``/``StandardError=`` resolved: ``kind`` and, for files, ``path``.

    Kinds: ``journal`` (a pipe read into the journal), ``inherit`` (the manager's own fd),
    ``null``, ``file`` (opened for writing, not truncated, like systemd), ``append``,
    ``truncate``.
    """

    kind: str
    path: str | None = None

    @classmethod
    def parse(cls, value: str, *, default: str) -> OutputSpec:
        """Parse a ``Standard*=`` value; unsupported kinds raise NotSupportedError."""
        text = value or default
        for prefix in ("file:", "append:", "truncate:"):
            if text.startswith(prefix):
                return cls(prefix[:-1], text[len(prefix) :])
        if text in ("journal", "journal+console", "kmsg", "kmsg+console", "syslog"):
            return cls("journal")
        if text in ("inherit", "null", "tty"):
            return cls("inherit" if text == "tty" else text)
        raise NotSupportedError(f"Standard output kind {text!r}: not supported yet")


@dataclass(slots=True)
class SpawnedProcess:
    """A started command: its pid and the readers of its output pipes."""

    pid: int
    argv: tuple[str, ...]
    readers: list[LineReader]


def _open_output(spec: OutputSpec) -> int | None:
    """An fd for the child's stdout/stderr (None: inherit); the caller closes it."""
    if spec.kind == "null":
        return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    if spec.kind in ("file", "append", "truncate"):
        assert spec.path is not None
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        if spec.kind == "append":
            flags |= os.O_APPEND
        elif spec.kind == "truncate":
            flags |= os.O_TRUNC
        return os.open(spec.path, flags, 0o644)
    return None


def _cgroup2_mount() -> tuple[str, str] | None:
    """(mount point, root) of the first cgroup2 mount in /proc/self/mountinfo."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if sep and right.split()[:1] == ["cgroup2"] and len(fields) >= 5:
            return fields[4].replace("\\040", " "), fields[3]
    return None


def _own_cgroup2_path() -> str | None:
    """This process's path in the unified hierarchy (the ``0::`` line of /proc/self/cgroup)."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


class CgroupTree:
    """The manager's cgroup v2 subtree: one child cgroup per unit invocation.

    Why: a process group and an environment marker can both be shed by a daemon; a cgroup
    cannot (without privileges). :meth:`create` makes ``bootup-<id>/`` below the manager's
    own cgroup and returns None when the hierarchy is missing or not writable, so callers
    fall back to the process-group tracking.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls) -> CgroupTree | None:
        """Make the manager's subtree, or None when no writable cgroup v2 is available."""
        mount = _cgroup2_mount()
        own = _own_cgroup2_path()
        if mount is None or own is None or mount[1] != "/":
            return None
        base = os.path.join(mount[0], own.lstrip("/"))
        _remove_stale_subtrees(base)
        path = os.path.join(base, f"bootup-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.mkdir(path)
        except OSError:
            return None
        if not os.path.exists(os.path.join(path, "cgroup.procs")):
            with contextlib.suppress(OSError):
                os.rmdir(path)
            return None
        return cls(path)

    def unit_cgroup(self, unit: str, invocation_id: str) -> str:
        """Create (if needed) and return the cgroup of one unit invocation."""
        path = os.path.join(self.path, f"{unit}-{invocation_id[:12]}")
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        return path

    @staticmethod
    def members(cgroup: str) -> set[int]:
        """The pids in ``cgroup`` (``cgroup.procs``; empty when it is gone)."""
        try:
            with open(os.path.join(cgroup, "cgroup.procs"), encoding="ascii") as f:
                return {int(word) for word in f.read().split()}
        except OSError:
            return set()

    @staticmethod
    def populated(cgroup: str) -> bool:
        """``populated 1`` in ``cgroup.events``: a process lives in it or below."""
        try:
            with open(os.path.join(cgroup, "cgroup.events"), encoding="ascii") as f:
                return "populated 1" in f.read().splitlines()
        except OSError:
            return False

    @staticmethod
    def kill(cgroup: str) -> bool:
        """SIGKILL every process of ``cgroup`` at once (``cgroup.kill``); False if missing."""
        try:
            with open(os.path.join(cgroup, "cgroup.kill"), "w", encoding="ascii") as f:
                f.write("1")
        except OSError:
            return False
        return True

    @staticmethod
    def remove(cgroup: str) -> bool:
        """Remove an empty cgroup; False while it is still populated (or already gone)."""
        try:
            os.rmdir(cgroup)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Remove every empty unit cgroup and, if then empty, the subtree itself."""
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path):
                if entry.is_dir(follow_symlinks=False):
                    self.remove(entry.path)
        self.remove(self.path)


def _remove_stale_subtrees(base: str) -> None:
    """Remove empty ``bootup-<pid>-*`` subtrees of managers that died (kill -9) in ``base``.

    A subtree whose manager is gone but which still holds processes is left alone: those
    processes are someone's to clean up, and the directory shows where they are.
    """
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith("bootup-") and e.is_dir()]
    except OSError:
        return
    for entry in entries:
        owner = entry.name.split("-")[1]
        if not owner.isdigit() or _proc_stat(int(owner)) is not None:
            continue
        CgroupTree(entry.path).close()


def _move_to_cgroup(cgroup: str, pid: int) -> None:
    """Move ``pid`` into ``cgroup`` from the parent, right after the spawn.

    Known gap: what the child forks before this write (a script that starts a daemon at
    its very first line) stays outside the cgroup and is tracked by process group and
    INVOCATION_ID only; systemd avoids it by entering the cgroup before exec, which here
    would cost CPython's vfork path (see :func:`spawn`).
    """
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w", encoding="ascii") as f:
            f.write(str(pid))
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            logger.warning("cannot move pid %d into %s: %s", pid, cgroup, exc.strerror)


def spawn(
    argv: tuple[str, ...],
    *,
    executable: str,
    env: Mapping[str, str],
    cwd: str | None,
    umask: int,
    user: str | None,
    group: str | None,
    stdout: OutputSpec,
    stderr: OutputSpec,
    on_line: Callable[[str, str], None],
    gate: OutputGate | None = None,
    cgroup: str | None = None,
) -> SpawnedProcess:
    """Start one command in a new session, its output routed as configured.

    ``on_line(source, line)`` receives each journal-bound line (source ``stdout`` or
    ``stderr``). Called on the event loop; the caller must register the pid with the
    :class:`ChildReaper` before yielding to the loop. Readers pause while ``gate`` is closed.
    With ``cgroup``, the parent moves the child into that cgroup as soon as it exists. Not
    from a preexec hook in the child: that takes CPython off its vfork path and made every
    spawn about three times slower (benchmarks/startup.py: 3.7 s instead of 1.4 s for
    1,000 units). What the child forks before the move is still found by its process
    group and INVOCATION_ID.

    Raises:
        SpawnError: with systemd's exit code (203 EXEC, 200 CHDIR, 217 USER, 216 GROUP).
    """
    fds: list[int] = []
    readers: list[LineReader] = []
    child_fds: dict[str, int | None] = {}
    pipes: list[tuple[str, int]] = []
    try:
        for source, spec in (("stdout", stdout), ("stderr", stderr)):
            if spec.kind == "journal":
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                fds.append(write_end)
                pipes.append((source, read_end))
                child_fds[source] = write_end
            else:
                fd = _open_output(spec)
                if fd is not None:
                    fds.append(fd)
                child_fds[source] = fd
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        for _, fd in pipes:
            os.close(fd)
        raise SpawnError(argv, 209, f"cannot open output: {exc.strerror}") from exc
    try:
        proc = subprocess.Popen(
            list(argv),
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=child_fds["stdout"],
            stderr=child_fds["stderr"],
            env=dict(env),
            cwd=cwd,
            umask=umask,
            user=user,
            group=group,
            start_new_session=True,
            close_fds=True,
        )
    except KeyError as exc:  # unknown user or group name, looked up before fork
        _close_all(fds, pipes)
        is_group = group is not None and str(exc).strip("'\"").endswith(group)
        raise SpawnError(
            argv, EXIT_GROUP if is_group else EXIT_USER, f"no such user or group {exc}"
        ) from exc
    except OSError as exc:
        _close_all(fds, pipes)
        if cwd is not None and exc.filename == cwd:
            raise SpawnError(
                argv,
                EXIT_CHDIR,
                f"Changing to the requested working directory failed: {exc.strerror}",
            ) from exc
        if exc.errno == errno.EPERM and (user or group):
            raise SpawnError(argv, EXIT_USER, f"Failed to change user: {exc.strerror}") from exc
        raise SpawnError(argv, EXIT_EXEC, exc.strerror or str(exc)) from exc
    if cgroup is not None:
        _move_to_cgroup(cgroup, proc.pid)
    # The manager reaps with waitpid(-1); Popen must never wait for this pid itself.
    proc.returncode = 0
    for fd in fds:
        os.close(fd)
    for source, read_end in pipes:
        readers.append(LineReader(read_end, _bind_source(on_line, source), gate))
    return SpawnedProcess(proc.pid, argv, readers)


def _bind_source(on_line: Callable[[str, str], None], source: str) -> Callable[[str], None]:
    def emit(line: str) -> None:
        on_line(source, line)

    return emit


def _close_all(fds: list[int], pipes: list[tuple[str, int]]) -> None:
    for fd in fds:
        os.close(fd)
    for _, fd in pipes:
        os.close(fd)


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    tail = data[data.rfind(b")") + 2 :].split()
    return tail[0].decode(), int(tail[1]), int(tail[2])


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """One scan of ``/proc``: live processes by process group and by ``INVOCATION_ID=``.

    A scan reads every process's stat and environment, so the manager shares one scan
    between the units that ask in the same event-loop turn (many stops run together at
    shutdown) and drops it whenever a child is reaped or spawned.
    """

    by_pgid: dict[int, frozenset[int]]
    by_invocation: dict[str, frozenset[int]]

    @classmethod
    def scan(cls, *, exclude: int | None = None) -> ProcessTable:
        """Read ``/proc`` now (zombies and this process left out)."""
        me = os.getpid() if exclude is None else exclude
        by_pgid: dict[int, set[int]] = {}
        by_invocation: dict[str, set[int]] = {}
        try:
            entries = os.listdir("/proc")
        except OSError:
            entries = []
        for entry in entries:
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            stat = _proc_stat(pid)
            if stat is None or stat[0] in ("Z", "X"):
                continue
            by_pgid.setdefault(stat[2], set()).add(pid)
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read()
            except OSError:
                continue
            start = environ.find(b"INVOCATION_ID=")
            if start == -1 or (start > 0 and environ[start - 1] != 0):
                continue
            end = environ.find(b"\0", start)
            value = environ[start + len(b"INVOCATION_ID=") : end if end != -1 else None]
            by_invocation.setdefault(value.decode(errors="replace"), set()).add(pid)
        return cls(
            {k: frozenset(v) for k, v in by_pgid.items()},
            {k: frozenset(v) for k, v in by_invocation.items()},
        )

    def processes(self, invocation_id: str, pgids: Iterable[int]) -> set[int]:
        """Processes in one of ``pgids`` or carrying ``INVOCATION_ID=invocation_id``."""
        found: set[int] = set(self.by_invocation.get(invocation_id, ())) if invocation_id else set()
        for pgid in pgids:
            found.update(self.by_pgid.get(pgid, ()))
        return found


def unit_processes(
    invocation_id: str, pgids: Iterable[int], *, exclude: int | None = None
) -> set[int]:
    """Live (non-zombie) processes in one of ``pgids`` or carrying ``INVOCATION_ID=``."""
    return ProcessTable.scan(exclude=exclude).processes(invocation_id, pgids)


def kill_processes(pids: Iterable[int], sig: int) -> int:
    """Send ``sig`` to each pid that still exists; return how many were signalled."""
    sent = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            continue
        except PermissionError:
            logger.warning("not allowed to send signal %d to pid %d", sig, pid)
    return sent
