"""The live runtime oracle (reference systemd.md O10, §2.2): real systemd 252 as PID 1.

:class:`SystemdPid1` boots ``/lib/systemd/systemd --system`` as PID 1 of fresh PID and mount
namespaces (``unshare --pid --fork --mount --mount-proc``), with

* a private tmpfs on ``/run``, so its sockets never meet the host's;
* ``container=docker``, so it behaves as a container init (no hardware set-up);
* ``SYSTEMD_UNIT_PATH`` pointing at a private copy of the scenario directory, completed
  with the shutdown units ``systemctl poweroff`` needs (step 1 of §2.2);
* opt-in (``etc_links=True``): a private ``/etc/systemd/system`` holding the scenario's
  enablement links, so systemd reports ``enabled`` as on a real machine (see
  :meth:`SystemdPid1._prepare_etc_links`);
* a private cgroup (``bootup-pid1-*`` below this process's own cgroup in every writable
  hierarchy, entered before ``unshare --cgroup`` and bind-mounted over the hierarchy's
  mount point inside the mount namespace), so its ``init.scope`` and service cgroups
  never land in the host's tree;
* a pseudo-terminal bind-mounted over ``/dev/console``: systemd as PID 1 reopens its stdio
  on the console, so this is the only way to read its log, and reading it is how the
  helper waits *for events* ("Startup finished", any line a test names) instead of sleeping.

It is queried with ``nsenter -t PID -m -p systemctl ...`` and shut down with SIGRTMIN+4
(poweroff), then SIGKILL only as a last resort; the cgroups are removed afterwards and the
``unshare`` process is reaped, so no process or zombie outlives the context. A clean
poweroff shows as ``exit_status == -SIGINT``: that is how the kernel reports
``reboot(RB_POWER_OFF)`` by a PID namespace's init, and ``unshare`` passes it on.

Where the machine cannot do this (not root, no ``unshare``, namespaces refused), the
helper skips the test saying why; under ``CI=true`` a boot that fails although root and
``unshare`` exist is a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from support import IN_CI, require_tool

__all__ = ("DEFAULT_PROPERTIES", "SHUTDOWN_UNITS", "BootFailed", "SystemdPid1", "can_boot")

SYSTEMD = "/lib/systemd/systemd"
#: Units ``systemctl poweroff`` needs; copied from the host when a scenario lacks them.
SHUTDOWN_UNITS = (
    "poweroff.target",
    "systemd-poweroff.service",
    "shutdown.target",
    "umount.target",
    "final.target",
)
DEFAULT_PROPERTIES = ("Id", "ActiveState", "SubState", "Result", "NRestarts", "ExecMainStatus")
_STARTUP = re.compile(r"Startup finished in ")


@dataclass(frozen=True)
class _Hierarchy:
    """One mounted cgroup hierarchy and this process's directory in it."""

    mount_point: str
    fstype: str
    options: str
    own: Path


def _own_cgroups() -> list[_Hierarchy]:
    """This process's cgroup directory in each mounted hierarchy."""
    mounts: list[tuple[str, str, str]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            mounts.append((fields[4], rest[0], rest[2]))
    found: list[_Hierarchy] = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        wanted = set(controllers.split(",")) if controllers else set()
        for point, fstype, options in mounts:
            v2 = fstype == "cgroup2"
            if (not wanted and v2) or (wanted and not v2 and wanted <= set(options.split(","))):
                if all(h.mount_point != point for h in found):
                    found.append(_Hierarchy(point, fstype, options, Path(point) / path.lstrip("/")))
                break
    return found


def _pids_in_namespace(ns: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                found.append(int(entry))
        except OSError:
            continue
    return found


def _has_install_section(unit_file: Path) -> bool:
    """Whether a unit file has an ``[Install]`` section (what ``systemctl enable`` reads)."""
    try:
        lines = unit_file.read_text(errors="replace").splitlines()
    except OSError:
        return False
    return any(line.strip() == "[Install]" for line in lines)


class BootFailed(RuntimeError):
    """systemd did not come up (or did not go down) within the deadline."""


class _Exited(Exception):
    """Internal: the manager exited while a wait was pending."""


def can_boot() -> str | None:
    """Why this machine cannot run the oracle, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "the runtime oracle needs root (unshare --pid --mount)"
    if not os.access(SYSTEMD, os.X_OK):
        return f"{SYSTEMD} is not installed (Debian package systemd)"
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package util-linux)"
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare refused here: {probe.stderr.strip()}"
    return None


class SystemdPid1:
    """Real systemd as PID 1 of a namespace, as a context manager.

    Args:
        units: the scenario directory (never modified: a private copy is booted).
        default_unit: ``--unit=`` of the manager (the default target).
        workdir: where the copy and logs go (a pytest ``tmp_path``).
        boot_timeout: seconds to wait for "Startup finished" (the box is shared and slow).
        log_level: ``SYSTEMD_LOG_LEVEL`` of the manager (``info`` keeps state changes).
        fail_in_ci: under ``CI=true`` a failed boot fails the test (``pytest.fail``); a
            test that expects the boot to fail passes ``False`` to get :class:`BootFailed`.
        etc_links: make the scenario's enablement real. systemd computes UnitFileState= from
            links in its *configuration* directories only (``/etc/systemd/system``, ...), so
            a ``*.wants/`` link inside the ``SYSTEMD_UNIT_PATH`` copy pulls the unit in but
            leaves it ``disabled``. With this flag, the links ``systemctl enable`` would have
            created move into a private directory bind-mounted over /etc/systemd/system
            inside the mount namespace, which is put first in ``SYSTEMD_UNIT_PATH``. Off by
            default: the unit path and /etc stay exactly as before.
    """

    def __init__(
        self,
        units: Path,
        default_unit: str = "multi-user.target",
        *,
        workdir: Path,
        boot_timeout: float = 60.0,
        log_level: str = "info",
        fail_in_ci: bool = True,
        etc_links: bool = False,
    ) -> None:
        self.source = units
        self.default_unit = default_unit
        self.workdir = workdir
        self.boot_timeout = boot_timeout
        self.log_level = log_level
        self.fail_in_ci = fail_in_ci
        self.unit_dir = workdir / "units"
        self.etc_links = etc_links
        #: the private /etc/systemd/system (bind-mounted inside the namespace when etc_links)
        self.config_dir = workdir / "etc-systemd-system"
        self.pid: int | None = None  # host pid of the manager
        self.exit_status: int | None = None
        #: the manager's PID-namespace link (``pid:[N]``), kept to check for leftovers
        self.pid_namespace: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False  # the console reader saw the end of the pty
        self._exited = False  # the unshare process (and so the manager) has exited
        self._reader: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._cgroups: list[Path] = []
        self._hierarchies: list[_Hierarchy] = []

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> SystemdPid1:
        reason = can_boot()
        if reason is not None:
            pytest.skip(reason)
        require_tool("nsenter", package="util-linux")
        try:
            self._boot()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _prepare_units(self) -> None:
        shutil.copytree(self.source, self.unit_dir, symlinks=True)
        for name in SHUTDOWN_UNITS:
            if not (self.unit_dir / name).exists():
                shutil.copy(f"/lib/systemd/system/{name}", self.unit_dir / name)
        if self.etc_links:
            self._prepare_etc_links()

    def _prepare_etc_links(self) -> None:
        """Move the copy's enablement links into the private /etc/systemd/system.

        A link ``X.wants/U`` or ``X.requires/U`` counts as enablement when ``U``'s file has an
        ``[Install]`` section: those are the links ``systemctl enable`` creates, and it
        creates them in /etc pointing at the unit file's absolute path, as done here. Links
        to units without ``[Install]`` (such as the journald link standing in for Debian's
        /lib/systemd/system/sysinit.target.wants/) are vendor links and stay in the copy.
        """
        self.config_dir.mkdir()
        for link in sorted(self.unit_dir.glob("*.wants/*")) + sorted(
            self.unit_dir.glob("*.requires/*")
        ):
            if not link.is_symlink():
                continue
            target = link.resolve()
            if not target.is_file() or not _has_install_section(target):
                continue
            moved = self.config_dir / link.parent.name / link.name
            moved.parent.mkdir(exist_ok=True)
            moved.symlink_to(target)
            link.unlink()
            if not any(link.parent.iterdir()):
                link.parent.rmdir()

    def _make_cgroups(self) -> None:
        """A private child of this process's own cgroup in every writable hierarchy.

        Children of the *current* cgroups (not of the roots), so whatever limits the test
        runs under still apply. ``unshare --cgroup`` alone is not enough: the cgroup file
        systems mounted on the host still show the whole tree, and systemd would create
        ``init.scope`` at the host's root; so inside the mount namespace each private
        directory is bind-mounted over its hierarchy's mount point (a fresh cgroup mount
        is refused here), and systemd sees it as the root.
        """
        name = f"bootup-pid1-{uuid.uuid4().hex[:12]}"
        for h in _own_cgroups():
            base = h.own
            if not (base / "cgroup.procs").exists() or not os.access(base, os.W_OK):
                continue
            try:
                (base / name).mkdir()
            except OSError:
                continue
            self._cgroups.append(base / name)
            self._hierarchies.append(h)

    def _boot(self) -> None:
        self._prepare_units()
        self._make_cgroups()
        master, slave = os.openpty()
        self._master, self._slave = master, slave
        tty = os.ttyname(slave)
        enter = "".join(f"echo $$ 2>/dev/null > {cg}/cgroup.procs; " for cg in self._cgroups)
        cgroup_flag = "--cgroup " if self._cgroups else ""
        remount = "".join(
            f"mount --bind {cg} {h.mount_point} && "
            for cg, h in zip(self._cgroups, self._hierarchies, strict=True)
        )
        etc = f"mount --bind {self.config_dir} /etc/systemd/system && " if self.etc_links else ""
        # /etc/systemd/system first, as on a real machine (it overrides the vendor units).
        unit_path = f"/etc/systemd/system:{self.unit_dir}" if self.etc_links else str(self.unit_dir)
        inner = (
            f"{remount}{etc}mount -t tmpfs tmpfs /run && "
            f"mount --bind {tty} /dev/console && "
            f"exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin container=docker "
            f"SYSTEMD_UNIT_PATH={unit_path} SYSTEMD_LOG_LEVEL={self.log_level} "
            f"SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0 "
            f"{SYSTEMD} --system --unit={self.default_unit} --show-status=no"
        )
        script = (
            f"{enter}exec unshare --pid --fork --mount --mount-proc --propagation private "
            f"{cgroup_flag}sh -c '{inner}'"
        )
        log = (self.workdir / "launcher.log").open("wb")
        self._proc = subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        # The slave stays open here until shutdown: a pty whose slave nobody holds reads as
        # EIO, and systemd closes and reopens /dev/console while it boots.
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        self._watcher = threading.Thread(target=self._watch_exit, daemon=True)
        self._watcher.start()
        try:
            self.wait_for(_STARTUP, timeout=self.boot_timeout)
        except BootFailed as exc:
            launcher = (self.workdir / "launcher.log").read_text(errors="replace")
            message = f"{exc}\nlauncher: {launcher}\nconsole:\n{self.console}"
            if IN_CI and self.fail_in_ci:
                pytest.fail(message)
            raise BootFailed(message) from exc
        self.pid = self._manager_pid()
        self.pid_namespace = os.readlink(f"/proc/{self.pid}/ns/pid")

    def _manager_pid(self) -> int:
        assert self._proc is not None
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        text = children.read_text().split()
        if not text:
            raise BootFailed("unshare has no child: the manager is gone")
        return int(text[0])

    def _read_console(self) -> None:
        assert self._master is not None
        buffer = b""
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            if complete:
                with self._cond:
                    self._lines.extend(
                        line.decode(errors="replace").rstrip("\r") for line in complete
                    )
                    self._cond.notify_all()
        with self._cond:
            if buffer:
                self._lines.append(buffer.decode(errors="replace"))
            self._eof = True
            self._cond.notify_all()

    def _watch_exit(self) -> None:
        assert self._proc is not None
        self._proc.wait()
        with self._cond:
            self._exited = True
            self._cond.notify_all()

    @property
    def console(self) -> str:
        """Everything the manager logged so far."""
        with self._cond:
            return "\n".join(self._lines)

    def wait_for(self, pattern: str | re.Pattern[str], *, timeout: float = 30.0) -> str:
        """Block until a console line matches ``pattern``; return that line.

        Event-driven: woken by the console reader on every new line, never polling.

        Raises:
            BootFailed: the manager exited first (the console is drained before the check,
                so nothing it logged is missed), or ``timeout`` passed.
        """
        try:
            return self._wait_for(pattern, timeout=timeout, until_exit=True)
        except _Exited:
            self._drain()
            try:
                return self._wait_for(pattern, timeout=0, until_exit=False)
            except BootFailed:
                raise BootFailed(f"manager exited before logging {pattern!r}") from None

    def _drain(self) -> None:
        """Read everything already written to the console: write a sentinel line behind it
        (we hold the pty's slave end too) and wait for that line to come out."""
        if self._slave is None or self._eof:
            return
        marker = f"@@bootup-pid1-drain-{uuid.uuid4().hex}@@"
        with contextlib.suppress(OSError):
            os.write(self._slave, f"\r\n{marker}\r\n".encode())
            with contextlib.suppress(BootFailed):
                self._wait_for(re.escape(marker), timeout=10, until_exit=False)
        with self._cond:
            self._lines = [line for line in self._lines if marker not in line]

    def _wait_for(self, pattern: str | re.Pattern[str], *, timeout: float, until_exit: bool) -> str:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self._lines)
                if until_exit and self._exited:
                    raise _Exited
                if self._eof:
                    raise BootFailed(f"console closed before {regex.pattern!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BootFailed(f"no {regex.pattern!r} within {timeout:g} s")
                self._cond.wait(remaining)

    # --- queries -------------------------------------------------------------------------

    def run(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespaces (``nsenter -t PID -m -p``)."""
        assert self.pid is not None, "not booted"
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-p", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``systemctl --no-pager ARGS`` against this manager."""
        return self.run("systemctl", "--no-pager", *args)

    def show(
        self, units: Iterable[str], properties: Iterable[str] = DEFAULT_PROPERTIES
    ) -> dict[str, dict[str, str]]:
        """``systemctl show -p ...`` for each unit, keyed by unit name."""
        names = list(units)
        done = self.systemctl("show", "-p", ",".join(properties), *names)
        if done.returncode != 0:
            raise BootFailed(f"systemctl show {' '.join(names)} failed: {done.stderr.strip()}")
        # One block per unit, in argument order, separated by empty lines.
        blocks = [b for b in done.stdout.split("\n\n") if b.strip()]
        if len(blocks) != len(names):
            raise BootFailed(f"systemctl show printed {len(blocks)} blocks for {names}")
        out: dict[str, dict[str, str]] = {}
        for name, block in zip(names, blocks, strict=True):
            out[name] = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        return out

    def namespace_pids(self) -> list[int]:
        """Host pids of every process (zombies included) in the manager's PID namespace."""
        if self.pid is None:
            return []
        try:
            ns = os.readlink(f"/proc/{self.pid}/ns/pid")
        except OSError:
            return []
        return _pids_in_namespace(ns)

    def settle(self, seconds: float) -> None:
        """Let time pass inside the scenario (only where a scenario defines a settle time)."""
        time.sleep(seconds)

    # --- shutdown ------------------------------------------------------------------------

    def shutdown(self, *, timeout: float = 30.0) -> int | None:
        """Power the manager off (SIGRTMIN+4), then SIGKILL as a last resort; clean up.

        Returns the exit status of the ``unshare`` process (``None`` if it never ran).
        Idempotent.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            target = self.pid
            if target is None:
                try:
                    target = self._manager_pid()
                    self.pid_namespace = os.readlink(f"/proc/{target}/ns/pid")
                except (OSError, BootFailed):
                    target = None
            if target is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, signal.SIGRTMIN + 4)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                if target is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target, signal.SIGKILL)  # kills the whole PID namespace
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        # systemd calls setsid(), so killing unshare's process group does not reach it: make
        # sure nothing of the namespace outlives us (the init first, which takes the rest).
        if target_ns := self.pid_namespace:
            for pid in _pids_in_namespace(target_ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # The kernel kills and reaps the rest of the namespace after its init exits;
            # give that a bounded moment so leftover_processes reports what really stays.
            deadline = time.monotonic() + 10
            while _pids_in_namespace(target_ns) and time.monotonic() < deadline:
                time.sleep(0.05)
        if proc is not None:
            self.exit_status = proc.returncode
        self._drain()  # keep the last lines systemd wrote before it exited
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        if self._reader is not None:
            self._reader.join(timeout=10)
            self._reader = None
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None
        if self._master is not None:
            os.close(self._master)
            self._master = None
        self._remove_cgroups()
        return self.exit_status

    def _remove_cgroups(self) -> None:
        """Remove the private cgroups, deepest first.

        A cgroup becomes removable only once the kernel has finished tearing down its last
        task, which may lag the namespace init's exit by a moment; so a removal that finds
        one still busy is retried for a bounded time (cleanup only, never test ordering).
        """
        deadline = time.monotonic() + 10
        while True:
            for cg in self._cgroups:
                for path in sorted(
                    (p for p in cg.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
                ):
                    with contextlib.suppress(OSError):
                        path.rmdir()
                with contextlib.suppress(OSError):
                    cg.rmdir()
            self._cgroups = [cg for cg in self._cgroups if cg.exists()]
            if not self._cgroups or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    @property
    def leftover_processes(self) -> list[int]:
        """Processes (zombies included) still in the manager's PID namespace."""
        return _pids_in_namespace(self.pid_namespace) if self.pid_namespace else []

    @property
    def leftover_cgroups(self) -> list[Path]:
        """Cgroup directories that could not be removed (empty after a clean shutdown)."""
        return list(self._cgroups)
