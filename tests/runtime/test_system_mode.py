# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""``bootup init`` as PID 1 of a PID namespace: the system manager a container would run.

Each boot is ``unshare --pid --fork --mount --mount-proc`` with a private tmpfs on ``/run``
(so /run/bootup is the namespace's own) and on ``/etc/systemd/system`` (so ``enable`` never
touches the host), ``SYSTEMD_UNIT_PATH`` pointing at the scenario, the way
tests/systemd_pid1.py boots real systemd. The manager's console is its stdout, read by a
thread; tests wait for console lines (events), never for time to pass. Queries run inside
the namespaces with ``nsenter -t PID -m -p``.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from bootup.runtime.project import write_units
from bootup.runtime.system import SystemDir, SystemLockedError
from support import require_tool

BOOTUP = Path(sys.executable).with_name("bootup")

#: graphical.target is the default (runlevel 5); runlevelN.target are Debian's aliases.
#: s1 -> s2 -> s3 are ordered (After=), so shutdown must stop s3, s2, s1 in that order.
SCENARIO: dict[str, str] = {
    "graphical.target": "[Unit]\nDescription=Graphical Interface\nRequires=multi-user.target\nAfter=multi-user.target\nAllowIsolate=yes\n",
    "multi-user.target": "[Unit]\nDescription=Multi-User System\nRequires=basic.target\nAfter=basic.target\nAllowIsolate=yes\n",
    "default.target": "-> graphical.target",
    "runlevel3.target": "-> multi-user.target",
    "runlevel5.target": "-> graphical.target",
    "s1.service": "[Unit]\nDescription=First\n[Service]\nExecStart=/bin/sleep 6001\n",
    "s2.service": "[Unit]\nDescription=Second\nAfter=s1.service\n[Service]\nExecStart=/bin/sleep 6002\n",
    "s3.service": "[Unit]\nDescription=Third\nAfter=s2.service\n[Service]\nExecStart=/bin/sleep 6003\n",
    "orphaner.service": "[Unit]\nDescription=Leaves an orphan\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c '/bin/sleep 6004 & exit 0'\n",
    "x.service": "[Unit]\nDescription=Started by hand\n[Service]\nExecStart=/bin/sleep 6005\n[Install]\nWantedBy=multi-user.target\n",
    "multi-user.target.wants/s1.service": "-> ../s1.service",
    "multi-user.target.wants/s2.service": "-> ../s2.service",
    "multi-user.target.wants/s3.service": "-> ../s3.service",
    "multi-user.target.wants/orphaner.service": "-> ../orphaner.service",
}


def test_system_dir_search_path_fallback_targets_and_lock(tmp_path: Path) -> None:
    units = write_units(tmp_path / "units", {"multi-user.target": "[Unit]\nDescription=Mine\n"})
    env = {"SYSTEMD_UNIT_PATH": f"{units}"}
    system = SystemDir(tmp_path / "run", environ=env, journal_dir=tmp_path / "log")
    with system:
        assert system.search_path().dirs == (str(units), str(tmp_path / "run" / "units"))
        provided = sorted(p.name for p in (tmp_path / "run" / "units").iterdir())
        assert "multi-user.target" not in provided  # the scenario's own wins wholesale
        assert {"poweroff.target", "reboot.target", "halt.target", "basic.target"} <= set(provided)
        assert os.readlink(tmp_path / "run" / "units" / "default.target") == str(
            units / "multi-user.target"
        )
        assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755
        with pytest.raises(SystemLockedError, match=rf"\(pid {os.getpid()}\); lock file "):
            SystemDir(tmp_path / "run", environ=env).lock()
    # the journal: volatile under /run unless the persistent directory exists (Storage=auto)
    assert system.journal_path == tmp_path / "run" / "journal.db"
    (tmp_path / "log").mkdir()
    assert system.journal_path == tmp_path / "log" / "journal.db"


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "bootup init as PID 1 needs root (unshare --pid --mount)"
    for tool in ("unshare", "nsenter", "setpriv"):
        require_tool(tool, package="util-linux")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare refused here: {probe.stderr.strip()}"
    return None


def _namespace_pids(ns: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    found.append(int(entry))
    return found


def _state(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return text.rsplit(")", 1)[1].split()[0]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except OSError:
        return []


_UNSHARE = ("unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private")


class BootupInit:
    """``bootup init`` as PID 1 of fresh PID and mount namespaces, as a context manager."""

    def __init__(self, units: Path, workdir: Path, *args: str, as_init_link: bool = False) -> None:
        self.units = units
        self.workdir = workdir
        self.args = args
        self.as_init_link = as_init_link  # exec a link named init instead of `bootup init`
        self.bin = workdir / "bin"
        self.pid: int | None = None
        self.pid_namespace = ""
        self.exit_status: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader: threading.Thread | None = None

    def __enter__(self) -> BootupInit:
        reason = _can_unshare()
        if reason is not None:
            pytest.skip(reason)
        self.bin.mkdir(parents=True, exist_ok=True)
        for name in ("systemctl", "runlevel", "telinit", "init"):
            (self.bin / name).symlink_to(BOOTUP)
        program = self.bin / "init" if self.as_init_link else f"{BOOTUP} init"
        inner = (
            "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /etc/systemd/system && "
            f"exec env -i PATH={self.bin}:/usr/sbin:/usr/bin:/sbin:/bin container=bootup-test "
            f"SYSTEMD_UNIT_PATH={self.units} {program} --no-color {' '.join(self.args)}"
        )
        self._proc = subprocess.Popen(
            [*_UNSHARE, "sh", "-c", inner],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.wait_for(r"^Startup finished in ", timeout=90)
            children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children").read_text()
            self.pid = int(children.split()[0])
            self.pid_namespace = os.readlink(f"/proc/{self.pid}/ns/pid")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def console(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def wait_for(self, pattern: str, *, timeout: float = 60) -> str:
        """Block until a console line matches (woken by each new line)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for line in self._lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    raise AssertionError(
                        f"no console line {pattern!r}; console:\n" + "\n".join(self._lines)
                    )
                self._cond.wait(remaining)

    def run(self, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespaces (as ``user`` through setpriv when given)."""
        assert self.pid is not None
        prefix = ["nsenter", "-t", str(self.pid), "-m", "-p"]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"]
        env = {
            "PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin",
            "SYSTEMD_UNIT_PATH": str(self.units),
        }
        return subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=60, env=env, check=False
        )

    def bootup(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(str(BOOTUP), *args, user=user)

    def wait_exit(self, timeout: float = 60) -> int:
        assert self._proc is not None
        self.exit_status = self._proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return self.exit_status

    def stop(self) -> None:
        """Power off (SIGRTMIN+4), SIGKILL as a last resort; nothing outlives the test."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGRTMIN + 4)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        self.exit_status = proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def namespace_processes(self) -> dict[int, tuple[str, list[str]]]:
        """host pid -> (state letter, argv) of every process in the namespace."""
        return {p: (_state(p), _cmdline(p)) for p in _namespace_pids(self.pid_namespace)}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_units(tmp_path_factory.mktemp("system") / "units", SCENARIO)


@pytest.fixture(scope="module")
def booted(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BootupInit]:
    """One system manager for the read-mostly tests of this module."""
    with BootupInit(scenario, tmp_path_factory.mktemp("boot")) as init:
        yield init


def test_default_target_starts_and_socket_is_root_0600(booted: BootupInit) -> None:
    assert any(line.startswith("Welcome to ") for line in booted.console)
    assert "[  OK  ] Reached target graphical.target - Graphical Interface." in booted.console
    active = booted.bootup("--system", "is-active", "s1.service", "graphical.target")
    assert active.returncode == 0, active.stderr
    assert active.stdout.split() == ["active", "active"]
    mode = booted.run("stat", "-c", "%a %u %F", "/run/bootup/control.sock", "/run/bootup")
    assert mode.stdout.splitlines() == ["600 0 socket", "755 0 directory"]
    journal = booted.run("test", "-s", "/run/bootup/journal.db")  # volatile: no /var/log/bootup
    assert journal.returncode == 0


def test_non_root_is_refused_and_the_manager_keeps_serving(booted: BootupInit) -> None:
    refused = booted.bootup("--system", "stop", "s1.service", user="nobody")
    assert refused.returncode == 1
    assert "/run/bootup/control.sock" in refused.stderr
    assert "owned by root (uid 0) with mode 0600" in refused.stderr
    assert "uid 65534" in refused.stderr
    default = booted.bootup("is-active", "s1.service", user="nobody")  # the default manager
    assert default.returncode == 1
    assert "owned by root (uid 0) with mode 0600" in default.stderr
    still = booted.bootup("--system", "is-active", "s1.service")
    assert (still.returncode, still.stdout.strip()) == (0, "active")


def test_a_second_system_manager_is_refused(booted: BootupInit) -> None:
    second = booted.bootup("init")
    assert second.returncode == 1
    assert "another bootup system manager is already running (pid 1)" in second.stderr
    assert "/run/bootup/lock" in second.stderr


def test_orphans_are_reaped(booted: BootupInit) -> None:
    # An orphan a unit left behind (sleep 6004) and one made from outside the units.
    made = booted.run("sh", "-c", "/bin/sleep 6006 </dev/null >/dev/null 2>&1 & exit 0")
    assert made.returncode == 0
    procs = booted.namespace_processes()
    orphans = [p for p, (_, argv) in procs.items() if argv[-1:] in (["6004"], ["6006"])]
    assert len(orphans) == 2, procs
    assert booted.pid is not None
    for pid in orphans:
        ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        assert int(ppid) == booted.pid  # re-parented to our PID 1
        fd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGTERM)
            select.select([fd], [], [], 30)  # the exit event of the orphan
        finally:
            os.close(fd)
    # A round trip through the manager's loop: the SIGCHLD it got before is handled by now.
    booted.bootup("--system", "is-active", "s1.service")
    left = booted.namespace_processes()
    assert not [p for p in orphans if p in left], left
    assert not [p for p, (state, _) in left.items() if state == "Z"], left


def test_systemctl_link_start_stop_enable(booted: BootupInit) -> None:
    start = booted.run("systemctl", "start", "x.service")
    assert start.returncode == 0, start.stderr
    assert booted.run("systemctl", "is-active", "x.service").stdout.strip() == "active"
    stop = booted.run("systemctl", "--system", "stop", "x.service")
    assert stop.returncode == 0, stop.stderr
    state = booted.run("systemctl", "is-active", "x.service")
    assert (state.returncode, state.stdout.strip()) == (3, "inactive")
    enable = booted.run("systemctl", "enable", "x.service")
    assert enable.returncode == 0, enable.stderr
    link = booted.run("readlink", "/etc/systemd/system/multi-user.target.wants/x.service")
    assert link.stdout.strip() == str(booted.units / "x.service")
    assert booted.run("systemctl", "is-enabled", "x.service").stdout.strip() == "enabled"


def test_runlevel_and_telinit(booted: BootupInit) -> None:
    assert booted.run("runlevel").stdout == "N 5\n"
    telinit = booted.run("telinit", "3")
    assert telinit.returncode == 0, telinit.stderr
    assert booted.run("runlevel").stdout == "5 3\n"
    graphical = booted.bootup("--system", "is-active", "graphical.target")
    assert graphical.stdout.strip() == "inactive"
    assert booted.bootup("--system", "is-active", "s1.service").stdout.strip() == "active"
    bad = booted.run("telinit", "7")
    assert bad.returncode == 1
    assert "unknown command '7'" in bad.stderr
    (booted.units / "late.service").write_text("[Service]\nExecStart=/bin/sleep 6007\n")
    reload = booted.run("telinit", "q")  # daemon-reload: the new unit file becomes known
    assert reload.returncode == 0, reload.stderr
    late = booted.run("systemctl", "start", "late.service")
    assert late.returncode == 0, late.stderr
    reexec = booted.run("telinit", "u")
    assert reexec.returncode == 1
    assert "not supported yet" in reexec.stderr


def test_runlevel_without_a_record_prints_unknown_like_systemd(tmp_path: Path) -> None:
    """Outside any bootup system manager (no record), as systemd 252's runlevel without utmp."""
    if os.path.exists("/run/bootup/runlevel"):
        pytest.skip("a bootup system manager runs on this machine")
    ours = subprocess.run([str(BOOTUP), "runlevel"], capture_output=True, text=True, check=False)
    assert (ours.returncode, ours.stdout) == (1, "unknown\n")
    real = shutil.which("runlevel") or "/sbin/runlevel"
    if os.path.realpath(real).endswith("systemctl"):
        theirs = subprocess.run([real], capture_output=True, text=True, check=False)
        if theirs.stdout == "unknown\n":  # this machine has no utmp runlevel either
            assert theirs.returncode == ours.returncode


def _stop_order(console: list[str]) -> list[str]:
    return [line.split()[4] for line in console if line.startswith("[  OK  ] Stopped s")]


@pytest.mark.slow
def test_sigrtmin_4_shuts_down_in_order_and_pid1_exits_0(scenario: Path, tmp_path: Path) -> None:
    ready, got = tmp_path / "ready.fifo", tmp_path / "got-term"
    os.mkfifo(ready)
    # A stray process outside every unit, that says when its SIGTERM handler is in place
    # (through a FIFO: the test blocks reading it) and records the SIGTERM it gets.
    stray = (
        "import signal, sys\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (open({str(got)!r}, 'w').write('term'), sys.exit(0)))\n"
        f"open({str(ready)!r}, 'w').write('ready\\n')\n"
        "signal.pause()\n"
    )
    with BootupInit(scenario, tmp_path / "boot") as init:
        assert init.pid is not None
        started = init.run("sh", "-c", 'python3 -c "$0" </dev/null >/dev/null 2>&1 & exit 0', stray)
        assert started.returncode == 0, started.stderr
        fd = os.open(ready, os.O_RDONLY | os.O_NONBLOCK)
        try:  # the event: the stray wrote its line (bounded, so a failure cannot hang)
            assert select.select([fd], [], [], 60)[0], "the stray process never got ready"
            assert os.read(fd, 64) == b"ready\n"
        finally:
            os.close(fd)
        os.kill(init.pid, signal.SIGRTMIN + 4)
        assert init.wait_exit() == 0
        console = init.console
        assert _stop_order(console) == ["s3.service", "s2.service", "s1.service"]
        assert console[-4:] == [
            "Sending SIGTERM to remaining processes...",
            "Sending SIGKILL to remaining processes...",
            "Powering off.",
            "Exiting container.",
        ]
        assert got.read_text() == "term"  # the sweep's SIGTERM, not the kernel's SIGKILL
        assert not _namespace_pids(init.pid_namespace)


@pytest.mark.slow
def test_poweroff_verb_and_sigterm_and_reboot(scenario: Path, tmp_path: Path) -> None:
    with BootupInit(scenario, tmp_path / "a") as init:
        off = init.bootup("poweroff")
        # 0, or killed by the final sweep's SIGTERM if still exiting (a client of the
        # namespace, as systemctl poweroff would be): what matters is how PID 1 ends
        assert off.returncode in (0, -signal.SIGTERM), off.stderr
        assert init.wait_exit() == 0
        assert _stop_order(init.console) == ["s3.service", "s2.service", "s1.service"]
        assert init.console[-2:] == ["Powering off.", "Exiting container."]
    with BootupInit(scenario, tmp_path / "b") as init:
        assert init.pid is not None
        os.kill(init.pid, signal.SIGTERM)
        assert init.wait_exit() == 0
        assert any("bootup cannot re-execute yet" in line for line in init.console)
    with BootupInit(scenario, tmp_path / "d") as init:
        done = init.bootup("--system", "exit", "7")  # systemctl exit N: a container ends with N
        assert done.returncode in (0, -signal.SIGTERM), done.stderr
        assert init.wait_exit() == 7
        assert init.console[-1] == "Exiting container."
    # the kernel's command-line word, given to a link named init as PID 1
    c = BootupInit(scenario, tmp_path / "c", "systemd.unit=multi-user.target", as_init_link=True)
    with c as init:
        assert "[  OK  ] Reached target graphical.target - Graphical Interface." not in init.console
        reboot = init.run("telinit", "6")
        assert reboot.returncode in (0, -signal.SIGTERM), reboot.stderr
        assert init.wait_exit() == 128 + signal.SIGHUP
        assert init.console[-2:] == ["Rebooting.", "Exiting container."]


@pytest.mark.slow
def test_sigint_starts_ctrl_alt_del_target_or_shuts_down(scenario: Path, tmp_path: Path) -> None:
    """SIGINT starts ctrl-alt-del.target when it exists (here Debian's alias of
    reboot.target, so the manager reboots: 129); without it the manager shuts down: 0."""
    units = tmp_path / "units"
    shutil.copytree(scenario, units, symlinks=True)
    write_units(
        units,
        {
            "reboot.target": "[Unit]\nDescription=Reboot\nDefaultDependencies=no\nAllowIsolate=yes\n",
            "ctrl-alt-del.target": "-> reboot.target",
        },
    )
    with BootupInit(units, tmp_path / "a") as init:
        assert init.pid is not None
        os.kill(init.pid, signal.SIGINT)
        assert init.wait_exit() == 128 + signal.SIGHUP
        assert "[  OK  ] Reached target reboot.target - Reboot." in init.console
        assert init.console[-2:] == ["Rebooting.", "Exiting container."]
    with BootupInit(scenario, tmp_path / "b") as init:
        assert init.pid is not None
        os.kill(init.pid, signal.SIGINT)
        assert init.wait_exit() == 0
        assert init.console[-2:] == ["Powering off.", "Exiting container."]


#: The shutdown units of Debian's systemd 252, as a container image has them.
DEBIAN_SHUTDOWN_UNITS = (
    "poweroff.target",
    "systemd-poweroff.service",
    "shutdown.target",
    "umount.target",
    "final.target",
)


@pytest.mark.slow
def test_poweroff_through_debians_shutdown_units(scenario: Path, tmp_path: Path) -> None:
    """With the real poweroff.target chain, ``poweroff`` goes through shutdown.target's
    conflicts (every service stopped in order) before poweroff.target is reached."""
    units = tmp_path / "units"
    shutil.copytree(scenario, units, symlinks=True)
    for name in DEBIAN_SHUTDOWN_UNITS:
        source = Path("/lib/systemd/system") / name
        if not source.exists():
            pytest.skip(f"{source} is not installed (Debian package systemd)")
        shutil.copy(source, units / name)
    with BootupInit(units, tmp_path / "boot") as init:
        off = init.bootup("poweroff")
        assert off.returncode in (0, -signal.SIGTERM), off.stderr
        assert init.wait_exit() == 0
        console = init.console
    assert _stop_order(console) == ["s3.service", "s2.service", "s1.service"]
    reached = console.index("[  OK  ] Reached target shutdown.target - System Shutdown.")
    assert console.index("[  OK  ] Stopped s1.service - First.") < reached
    assert reached < console.index("[  OK  ] Reached target poweroff.target - System Power Off.")
    assert console[-2:] == ["Powering off.", "Exiting container."]


@pytest.mark.slow
def test_stop_order_matches_real_systemd(scenario: Path, tmp_path: Path) -> None:
    """The same scenario under real systemd 252 as PID 1, powered off the same way."""
    from systemd_pid1 import SystemdPid1, can_boot

    reason = can_boot()
    if reason is not None:
        pytest.skip(reason)
    units = tmp_path / "units"  # the scenario plus the stub targets real systemd needs
    shutil.copytree(scenario, units, symlinks=True)
    for name in ("sysinit", "basic", "sockets", "timers", "paths", "slices", "local-fs"):
        (units / f"{name}.target").write_text(f"[Unit]\nDescription={name}\n")
    with SystemdPid1(units, "graphical.target", workdir=tmp_path / "systemd") as real:
        real.shutdown()
        found = re.finditer(r"(s\d\.service): Deactivated successfully", real.console)
        theirs = [m.group(1) for m in found]
        assert "Sending SIGTERM to remaining processes..." in real.console
    with BootupInit(units, tmp_path / "bootup") as init:
        assert init.pid is not None
        os.kill(init.pid, signal.SIGRTMIN + 4)
        assert init.wait_exit() == 0
        ours = _stop_order(init.console)
        for line in ("Received SIGRTMIN+4.", "Sending SIGTERM to remaining processes..."):
            assert line in init.console  # systemd's console lines
    assert theirs == ours == ["s3.service", "s2.service", "s1.service"]
