# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""Service types, restarts, start limits, notify and exec settings against real processes
(systemd.md §1.7, §1.8 and scenarios C21-C27, C29).

Timeouts and RestartSec= run on an injected ManualClock where that keeps a test fast;
ordering is by the manager's state-change events and FIFOs, never by sleeping.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bootup.errors import NotSupportedError
from bootup.runtime.clock import ManualClock
from bootup.runtime.manager import Manager
from bootup.runtime.project import project_manager, write_units
from bootup.runtime.service import ServiceConfig
from bootup.runtime.states import ActiveState, JobResult, ServiceResult, ServiceState
from bootup.units.loader import Loader
from bootup.units.paths import search_path

T = TypeVar("T")
PY = sys.executable

#: A Type=notify helper: sends each argv word as one datagram, then sleeps until killed.
NOTIFY = (
    "import os, socket, sys, time\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "for msg in sys.argv[1:]:\n"
    "    if msg.startswith('wait:'):\n"
    "        open(msg[5:]).read(); continue\n"
    "    s.sendto(msg.replace('|', '\\n').encode(), os.environ['NOTIFY_SOCKET'])\n"
    "while True: time.sleep(3600)\n"
)


def run(
    directory: Path,
    units: dict[str, str],
    body: Callable[[Manager], Awaitable[T]],
    clock: ManualClock | None = None,
) -> T:
    """Write ``units`` into a project and run ``body`` against a manager on it."""
    write_units(directory, units)

    async def main() -> T:
        async with asyncio.timeout(60), project_manager(directory, clock=clock) as m:
            return await body(m)

    return asyncio.run(main())


def notify_unit(tmp_path: Path, *messages: str, extra: str = "") -> str:
    script = tmp_path / "notify.py"
    script.write_text(NOTIFY)
    args = " ".join(f"'{m}'" for m in messages)
    return f"[Service]\nType=notify\n{extra}ExecStart={PY} {script} {args}\n"


def test_oneshot_remain_after_exit_c25(tmp_path: Path) -> None:
    units = {
        "keep.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStart=/bin/true\n",
        "drop.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
    }

    async def body(m: Manager) -> list[str]:
        await m.start_unit("keep.service")
        await m.start_unit("drop.service")
        return [m.runtime(n).sub_state for n in ("keep.service", "drop.service")] + [
            m.state(n) for n in ("keep.service", "drop.service")
        ]

    assert run(tmp_path / "p", units, body) == ["exited", "dead", "active", "inactive"]


def test_start_pre_failure_vs_ignored_failure_c27(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    units = {
        "hard.service": f"[Service]\nExecStartPre=/bin/false\nExecStart=/usr/bin/touch {ran}\n",
        "soft.service": "[Service]\nExecStartPre=-/bin/false\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> list[object]:
        hard = await m.start_unit("hard.service")
        soft = await m.start_unit("soft.service")
        return [
            hard,
            m.state("hard.service"),
            m.service("hard.service").result,
            soft,
            m.state("soft.service"),
        ]

    assert run(tmp_path / "p", units, body) == [
        JobResult.FAILED,
        ActiveState.FAILED,
        ServiceResult.EXIT_CODE,
        JobResult.DONE,
        ActiveState.ACTIVE,
    ]
    assert not ran.exists()


def test_exec_condition_skips_like_a_condition(tmp_path: Path) -> None:
    units = {
        "c.service": "[Service]\nExecCondition=/bin/sh -c 'exit 1'\nExecStart=/bin/sleep 300\n"
    }

    async def body(m: Manager) -> tuple[JobResult, ActiveState, str]:
        result = await m.start_unit("c.service")
        return result, m.state("c.service"), m.service("c.service").result

    assert run(tmp_path / "p", units, body) == (JobResult.DONE, ActiveState.INACTIVE, "success")


def test_restart_prevent_vs_success_exit_status_c22(tmp_path: Path) -> None:
    units = {
        "prevent.service": "[Service]\nRestart=on-failure\nRestartPreventExitStatus=7\nExecStart=/bin/sh -c 'exit 7'\n",
        "success.service": "[Service]\nRestart=on-failure\nSuccessExitStatus=7\nExecStart=/bin/sh -c 'exit 7'\n",
    }

    async def body(m: Manager) -> list[object]:
        await m.start_unit("prevent.service")
        await m.start_unit("success.service")
        p, s = m.service("prevent.service"), m.service("success.service")
        await m.wait_until(
            lambda: p.sub_state == "failed" and s.timestamps.inactive_enter != (0, 0)
        )
        return [p.active_state, p.result, p.n_restarts, s.active_state, s.result, s.n_restarts]

    assert run(tmp_path / "p", units, body) == [
        ActiveState.FAILED,
        ServiceResult.EXIT_CODE,
        0,
        ActiveState.INACTIVE,
        ServiceResult.SUCCESS,
        0,
    ]


def test_start_limit_stops_a_flapping_service_c21_c29(tmp_path: Path) -> None:
    clock = ManualClock()
    runs, handled = tmp_path / "runs", tmp_path / "handled"
    units = {
        "flap.service": (
            "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=20\nOnFailure=handler.service\n"
            f"[Service]\nRestart=on-failure\nRestartSec=100ms\nExecStart=/bin/sh -c 'echo x >> {runs}; exit 1'\n"
        ),
        "handler.service": f"[Service]\nType=oneshot\nExecStart=/usr/bin/touch {handled}\n",
    }

    async def body(m: Manager) -> list[object]:
        s = m.service("flap.service")
        await m.start_unit("flap.service")
        while s.active_state is not ActiveState.FAILED:
            await m.wait_until(
                lambda: s.sub_state in (ServiceState.AUTO_RESTART, ServiceState.FAILED)
            )
            if s.sub_state is ServiceState.AUTO_RESTART:
                clock.advance(0.1)  # RestartSec= elapses on the injected clock
                await m.wait_until(lambda: s.sub_state is not ServiceState.AUTO_RESTART)
        h = m.runtime("handler.service")
        await m.wait_until(lambda: h.timestamps.inactive_enter != (0, 0))
        return [s.active_state, s.result, s.n_restarts]

    # systemd 252: three executions, NRestarts=3, Result=exit-code (not start-limit-hit).
    assert run(tmp_path / "p", units, body, clock) == [
        ActiveState.FAILED,
        ServiceResult.EXIT_CODE,
        3,
    ]
    assert runs.read_text() == "x\nx\nx\n"
    assert handled.exists()


def test_restart_always_restarts_after_clean_exit(tmp_path: Path) -> None:
    clock = ManualClock()
    runs = tmp_path / "runs"
    units = {"a.service": f"[Service]\nRestart=always\nExecStart=/bin/sh -c 'echo x >> {runs}'\n"}

    async def body(m: Manager) -> int:
        s = m.service("a.service")
        await m.start_unit("a.service")
        await m.wait_until(lambda: s.sub_state is ServiceState.AUTO_RESTART)
        clock.advance(0.1)
        await m.wait_until(lambda: s.sub_state is not ServiceState.AUTO_RESTART)
        await m.wait_until(lambda: s.sub_state is ServiceState.AUTO_RESTART)
        return s.n_restarts

    assert run(tmp_path / "p", units, body, clock) == 1
    assert runs.read_text() == "x\nx\n"


def test_forking_with_pid_file_c26(tmp_path: Path) -> None:
    pidfile = tmp_path / "b.pid"
    units = {
        "b.service": f"[Service]\nType=forking\nPIDFile={pidfile}\nExecStart=/bin/sh -c 'sleep 300 & echo $! > {pidfile}'\n",
    }

    async def body(m: Manager) -> tuple[str, str, int]:
        assert await m.start_unit("b.service") is JobResult.DONE
        s = m.service("b.service")
        return s.active_state, s.sub_state, s.main_pid or 0

    active, sub, main_pid = run(tmp_path / "p", units, body)
    assert (active, sub) == ("active", "running")
    assert main_pid == int(pidfile.read_text())


def test_forking_guesses_main_pid_and_supervises_it(tmp_path: Path) -> None:
    """A double-forking daemon: the subreaper adopts it, so its exit is still seen."""
    units = {
        "d.service": "[Service]\nType=forking\nExecStart=/bin/sh -c '(sleep 300 &) ; exit 0'\n"
    }

    async def body(m: Manager) -> tuple[str, bool, str]:
        assert await m.start_unit("d.service") is JobResult.DONE
        s = m.service("d.service")
        guessed = s.main_pid is not None
        assert s.main_pid is not None
        os.kill(s.main_pid, 9)
        await m.wait_until(lambda: s.active_state is ActiveState.FAILED)
        return s.sub_state, guessed, s.result

    assert run(tmp_path / "p", units, body) == ("failed", True, ServiceResult.SIGNAL)


def test_notify_ready_status_and_ordering_c24(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    units = {
        "n.service": notify_unit(
            tmp_path, "STATUS=warming up", f"wait:{gate}", "READY=1|STATUS=serving"
        ),
        "after.service": "[Unit]\nRequires=n.service\nAfter=n.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> list[object]:
        start = asyncio.ensure_future(m.start_unit("after.service"))
        n = m.service("n.service")
        await m.wait_until(lambda: n.status_text == "warming up")
        seen = [n.sub_state, m.state("after.service")]
        await asyncio.to_thread(gate.write_text, "go\n")
        assert await start is JobResult.DONE
        return [*seen, n.sub_state, n.status_text, m.state("after.service")]

    assert run(tmp_path / "p", units, body) == [
        "start",
        ActiveState.INACTIVE,
        "running",
        "serving",
        ActiveState.ACTIVE,
    ]


def test_notify_without_ready_times_out_c23(tmp_path: Path) -> None:
    clock = ManualClock()
    units = {"n.service": notify_unit(tmp_path, "STATUS=never ready", extra="TimeoutStartSec=1\n")}

    async def body(m: Manager) -> list[object]:
        n = m.service("n.service")
        start = asyncio.ensure_future(m.start_unit("n.service"))
        await m.wait_until(lambda: n.status_text == "never ready")
        clock.advance(1.0)
        result = await start
        return [result, n.active_state, n.result, n.properties()["ExecMainStatus"]]

    assert run(tmp_path / "p", units, body, clock) == [
        JobResult.FAILED,
        ActiveState.FAILED,
        ServiceResult.TIMEOUT,
        "15",
    ]


def test_notify_extend_timeout_keeps_the_start_alive(tmp_path: Path) -> None:
    clock = ManualClock()
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    units = {
        "n.service": notify_unit(
            tmp_path,
            "EXTEND_TIMEOUT_USEC=5000000|STATUS=extended",
            f"wait:{gate}",
            "READY=1",
            extra="TimeoutStartSec=1\n",
        )
    }

    async def body(m: Manager) -> JobResult:
        n = m.service("n.service")
        start = asyncio.ensure_future(m.start_unit("n.service"))
        await m.wait_until(lambda: n.status_text == "extended")
        clock.advance(2.0)  # past TimeoutStartSec=1, within the 5 s extension
        assert n.sub_state == "start"
        await asyncio.to_thread(gate.write_text, "go\n")
        return await start

    assert run(tmp_path / "p", units, body, clock) is JobResult.DONE


def test_notify_watchdog_timeout_fails_and_restarts(tmp_path: Path) -> None:
    clock = ManualClock()
    units = {
        "w.service": notify_unit(
            tmp_path,
            "READY=1|WATCHDOG=1|STATUS=petted",
            extra="WatchdogSec=3\nRestart=on-watchdog\n",
        )
    }

    async def body(m: Manager) -> list[object]:
        w = m.service("w.service")
        assert await m.start_unit("w.service") is JobResult.DONE
        await m.wait_until(lambda: w.status_text == "petted")
        clock.advance(3.0)  # no further WATCHDOG=1: the watchdog fires (SIGABRT)
        await m.wait_until(lambda: w.sub_state is ServiceState.AUTO_RESTART)
        return [w.result, w.properties()["ExecMainCode"] in ("2", "3")]

    assert run(tmp_path / "p", units, body, clock) == [ServiceResult.WATCHDOG, True]


def test_notify_errno_and_stopping(tmp_path: Path) -> None:
    units = {"n.service": notify_unit(tmp_path, "READY=1|ERRNO=5|STATUS=bye", "STOPPING=1")}

    async def body(m: Manager) -> tuple[int, str]:
        n = m.service("n.service")
        assert await m.start_unit("n.service") is JobResult.DONE
        await m.wait_until(lambda: n.sub_state == "stop-sigterm")
        return n.status_errno, n.status_text

    assert run(tmp_path / "p", units, body) == (5, "bye")


def test_environment_workdir_umask_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    envfile = tmp_path / "env"
    envfile.write_text("FROM_FILE=yes\nB=from-file\n")
    work = tmp_path / "work"
    work.mkdir()
    units = {
        "e.service": (
            '[Service]\nType=oneshot\nEnvironment="A=x y" B=2\n'
            f"EnvironmentFile={envfile}\nEnvironmentFile=-/nonexistent/env\n"
            f"WorkingDirectory={work}\nUMask=0077\nStandardOutput=file:{out}\n"
            "ExecStart=/bin/sh -c 'echo \"$A|$B|$FROM_FILE|$(pwd)|$(umask)|${INVOCATION_ID:+has-id}\"'\n"
        )
    }

    async def body(m: Manager) -> JobResult:
        return await m.start_unit("e.service")

    assert run(tmp_path / "p", units, body) is JobResult.DONE
    assert out.read_text() == f"x y|from-file|yes|{work}|0077|has-id\n"


def test_stdout_and_stderr_go_to_the_journal_with_pid(tmp_path: Path) -> None:
    units = {
        "j.service": "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo to-out; echo to-err >&2'\n"
    }

    async def body(m: Manager) -> list[tuple[str, str, bool]]:
        await m.start_unit("j.service")
        assert m.journal is not None
        pid = m.service("j.service").exec_main_pid
        return sorted(
            (e.source, e.message, e.pid == pid)
            for e in m.journal.query(unit="j.service")
            if e.source != "manager"
        )

    assert run(tmp_path / "p", units, body) == [
        ("stderr", "to-err", True),
        ("stdout", "to-out", True),
    ]


def test_exec_stop_sees_mainpid_and_stop_post_runs(tmp_path: Path) -> None:
    log = tmp_path / "log"
    units = {
        "s.service": (
            "[Service]\nExecStart=/bin/sleep 300\n"
            f"ExecStop=/bin/sh -c 'echo stop $MAINPID >> {log}; kill $MAINPID'\n"
            f"ExecStopPost=/bin/sh -c 'echo post >> {log}'\n"
        )
    }

    async def body(m: Manager) -> int:
        await m.start_unit("s.service")
        pid = m.service("s.service").main_pid or 0
        await m.stop_unit("s.service")
        return pid

    pid = run(tmp_path / "p", units, body)
    assert log.read_text() == f"stop {pid}\npost\n"


def test_kill_mode_process_leaves_other_processes(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    units = {
        "p.service": (
            "[Service]\nKillMode=process\n"
            f"ExecStart=/bin/sh -c 'sleep 300 & echo $! > {pidfile}; echo up > {ready}; wait'\n"
        )
    }

    async def body(m: Manager) -> bool:
        await m.start_unit("p.service")
        await asyncio.to_thread(ready.read_text)
        await m.stop_unit("p.service")
        child = int(pidfile.read_text())
        alive = _alive(child)
        os.kill(child, 9)
        return alive

    assert run(tmp_path / "p", units, body) is True


def test_service_forking_a_thousand_children_leaves_no_zombie(tmp_path: Path) -> None:
    units = {
        "fork.service": (
            "[Service]\nType=oneshot\n"
            "ExecStart=/bin/sh -c 'i=0; while [ $i -lt 1000 ]; do (sleep 300 &) ; i=$((i+1)); done'\n"
        )
    }

    async def body(m: Manager) -> tuple[JobResult, list[str]]:
        result = await m.start_unit("fork.service")
        return result, _children_of(os.getpid())

    result, left = run(tmp_path / "p", units, body)
    assert result is JobResult.DONE
    assert left == []


def test_dbus_type_is_not_supported_yet(tmp_path: Path) -> None:
    write_units(
        tmp_path,
        {"d.service": "[Service]\nType=dbus\nBusName=org.example.X\nExecStart=/bin/sleep 300\n"},
    )
    unit = Loader(search_path(project=str(tmp_path))).load("d.service")
    with pytest.raises(NotSupportedError, match="Type=dbus is not supported yet"):
        ServiceConfig.from_unit(unit)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def _children_of(parent: int) -> list[str]:
    """``pid:state`` of every process whose parent is ``parent`` (zombies included)."""
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == parent:
            left.append(f"{entry}:{fields[0]}")
    return left


def test_exec_type_idle_type_reload_and_restart(tmp_path: Path) -> None:
    log = tmp_path / "log"
    units = {
        "e.service": "[Service]\nType=exec\nExecStart=/bin/sleep 300\n",
        "i.service": f"[Service]\nType=idle\nExecStart=/bin/sh -c 'echo idle >> {log}; exec sleep 300'\n",
        "r.service": (
            "[Service]\nExecStart=/bin/sleep 300\n"
            f"ExecReload=/bin/sh -c 'echo reload $MAINPID >> {log}'\n"
        ),
    }

    async def body(m: Manager) -> list[object]:
        out: list[object] = [await m.start_unit(n) for n in ("e.service", "i.service", "r.service")]
        r = m.service("r.service")
        first = r.main_pid
        out.append(await m.reload_unit("r.service"))
        out.append(await m.restart_unit("r.service"))
        out += [r.sub_state, r.main_pid != first, m.service("e.service").sub_state]
        return [out, first]

    (out, first) = run(tmp_path / "p", units, body)
    assert out == [JobResult.DONE] * 5 + ["running", True, "running"]
    assert f"reload {first}" in log.read_text().splitlines()


def test_kill_mode_mixed_terms_main_and_kills_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "log"
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    script = tmp_path / "mixed.sh"
    script.write_text(
        f"sh -c \"trap 'echo child-got-term >> {log}' TERM; sleep 300 & wait\" &\n"
        f"trap 'echo main-got-term >> {log}; exit 0' TERM\n"
        f"echo up > {ready}\n"
        "wait\n"
    )
    units = {"m.service": f"[Service]\nKillMode=mixed\nExecStart=/bin/sh {script}\n"}

    async def body(m: Manager) -> tuple[JobResult, ActiveState]:
        await m.start_unit("m.service")
        await asyncio.to_thread(ready.read_text)
        result = await m.stop_unit("m.service")
        return result, m.state("m.service")

    assert run(tmp_path / "p", units, body) == (JobResult.DONE, ActiveState.INACTIVE)
    # The main process got SIGTERM (and ran its trap); the child only got SIGKILL.
    assert log.read_text().splitlines() == ["main-got-term"]


def test_stop_during_start_interrupts_the_start(tmp_path: Path) -> None:
    units = {"n.service": notify_unit(tmp_path, "STATUS=starting")}

    async def body(m: Manager) -> tuple[JobResult, JobResult, ActiveState, str]:
        n = m.service("n.service")
        start = asyncio.ensure_future(m.start_unit("n.service"))
        await m.wait_until(lambda: n.status_text == "starting")
        stopped = await m.stop_unit("n.service")
        return await start, stopped, n.active_state, n.result

    assert run(tmp_path / "p", units, body) == (
        JobResult.CANCELED,
        JobResult.DONE,
        ActiveState.INACTIVE,
        "success",
    )


def test_user_and_group_switch_when_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("User=/Group= need root (the project mode runs unprivileged)")
    out = tmp_path / "id"
    out.touch()
    out.chmod(0o666)
    tmp_path.chmod(0o755)
    units = {
        "u.service": (
            f"[Service]\nType=oneshot\nUser=nobody\nGroup=nogroup\nStandardOutput=append:{out}\n"
            "ExecStart=/bin/sh -c 'id -un; id -gn'\nExecStart=+/bin/sh -c 'id -un'\n"
        )
    }

    async def body(m: Manager) -> JobResult:
        return await m.start_unit("u.service")

    assert run(tmp_path / "p", units, body) is JobResult.DONE
    assert out.read_text().splitlines() == ["nobody", "nogroup", "root"]


def test_standard_output_null_and_append(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("kept\n")
    units = {
        "a.service": f"[Service]\nType=oneshot\nStandardOutput=append:{out}\nExecStart=/bin/echo added\n",
        "n.service": "[Service]\nType=oneshot\nStandardOutput=null\nExecStart=/bin/echo gone\n",
    }

    async def body(m: Manager) -> list[str]:
        await m.start_unit("a.service")
        await m.start_unit("n.service")
        assert m.journal is not None
        return [e.message for e in m.journal.query(unit="n.service") if e.source != "manager"]

    assert run(tmp_path / "p", units, body) == []
    assert out.read_text() == "kept\nadded\n"


@pytest.mark.parametrize(
    ("restart", "exit_code", "restarted"),
    [
        ("no", "exit 1", False),
        ("always", "exit 0", True),
        ("on-success", "exit 0", True),
        ("on-success", "exit 1", False),
        ("on-failure", "exit 1", True),
        ("on-failure", "exit 0", False),
        ("on-abnormal", "exit 1", False),
        ("on-abnormal", "kill -KILL $$$$", True),
        ("on-abort", "kill -KILL $$$$", True),
        ("on-failure", "kill -INT $$$$", False),
        ("on-abort", "exit 1", False),
        ("on-watchdog", "exit 1", False),
    ],
)
def test_restart_table(tmp_path: Path, restart: str, exit_code: str, restarted: bool) -> None:
    """systemd.service(5) Table 2: which exits restart under which Restart= value."""
    clock = ManualClock()
    units = {"r.service": f"[Service]\nRestart={restart}\nExecStart=/bin/sh -c '{exit_code}'\n"}

    async def body(m: Manager) -> bool:
        s = m.service("r.service")
        await m.start_unit("r.service")
        await m.wait_until(
            lambda: (
                s.sub_state in (ServiceState.AUTO_RESTART, ServiceState.DEAD, ServiceState.FAILED)
                and s.main_pid is None
            )
        )
        return s.sub_state is ServiceState.AUTO_RESTART

    assert run(tmp_path / "p", units, body, clock) is restarted


def test_settings_not_supported_yet_are_named_in_the_journal(tmp_path: Path) -> None:
    units = {
        "s.service": "[Service]\nType=oneshot\nPrivateTmp=yes\nLimitNOFILE=1024\nExecStart=/bin/true\n"
    }

    async def body(m: Manager) -> list[str]:
        assert await m.start_unit("s.service") is JobResult.DONE
        assert m.journal is not None
        return [
            e.message for e in m.journal.query(unit="s.service") if "supported yet" in e.message
        ]

    assert run(tmp_path / "p", units, body) == [
        "Not supported yet, ignored for this start: PrivateTmp= LimitNOFILE="
    ]


def test_main_exit_during_start_post_is_still_handled(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    units = {
        "p.service": (
            f"[Service]\nExecStart=/bin/sh -c 'echo x > {fifo}; exit 3'\n"
            f"ExecStartPost=/bin/sh -c 'read l < {fifo}'\n"
        )
    }

    async def body(m: Manager) -> list[object]:
        result = await m.start_unit("p.service")
        s = m.service("p.service")
        await m.wait_until(lambda: s.active_state is ActiveState.FAILED)
        return [result, s.sub_state, s.result, s.properties()["ExecMainStatus"]]

    # Whether the exit is seen during ExecStartPost= (the start fails, as in systemd) or just
    # after it (the start is done, then the unit fails) depends on the scheduler.
    result, *rest = run(tmp_path / "p", units, body)
    assert result in (JobResult.DONE, JobResult.FAILED)
    assert rest == ["failed", "exit-code", "3"]
