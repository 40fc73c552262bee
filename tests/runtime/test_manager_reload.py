"""Manager.reset_failed(), Manager.reload() (daemon-reload) and NeedDaemonReload=, in process.

Real services run; every wait is on the manager's own state (``Manager.wait_until``) or on a
FIFO a unit reads; ``asyncio.timeout`` is only a safety net against a hang.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bootup.runtime.jobs import UnitEvent
from bootup.runtime.manager import Event, Manager
from bootup.runtime.project import project_manager, write_units
from bootup.runtime.states import ActiveState, JobResult, ServiceResult
from bootup.transaction import JobMode, JobType

T = TypeVar("T")
SAFETY = 60


def run(directory: Path, units: dict[str, str], body: Callable[[Manager], Awaitable[T]]) -> T:
    write_units(directory, units)

    async def main() -> T:
        async with asyncio.timeout(SAFETY), project_manager(directory) as m:
            return await body(m)

    return asyncio.run(main())


def touch_later(path: Path, seconds: float = 10.0) -> None:
    """Move a file's mtime forward, as an edit after the load would (no clock granularity)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


def test_reset_failed_clears_result_and_start_limit(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    units = {
        "bad.service": (
            "[Unit]\nStartLimitBurst=2\nStartLimitIntervalSec=1h\n"
            f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo run >> {runs}; exit 3'\n"
        ),
        "ok.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
    }

    async def body(m: Manager) -> None:
        events: list[Event] = []
        m.subscribe(events.append)
        for _ in range(3):  # two runs, then the start limit refuses the third
            assert await m.start_unit("bad.service") is JobResult.FAILED
        assert runs.read_text().count("run") == 2
        bad = m.service("bad.service")
        assert bad.result is ServiceResult.EXIT_CODE
        assert m.reset_failed("bad.service") == ["bad.service"]
        assert (bad.active_state, bad.sub_state.value) == (ActiveState.INACTIVE, "dead")
        assert bad.properties()["Result"] == "success"
        changes = [e for e in events if isinstance(e, UnitEvent) and e.unit == "bad.service"]
        assert (changes[-1].old, changes[-1].new) == (ActiveState.FAILED, ActiveState.INACTIVE)
        # The start limit was reset too: the next start runs the command again.
        assert await m.start_unit("bad.service") is JobResult.FAILED
        assert runs.read_text().count("run") == 3
        assert m.reset_failed() == ["bad.service"]  # every unit
        assert m.reset_failed() == []

    run(tmp_path / "p", units, body)


def test_reset_failed_resets_the_restart_counter(tmp_path: Path) -> None:
    units = {
        "flaky.service": (
            "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=1h\n"
            "[Service]\nExecStart=/bin/false\nRestart=always\nRestartSec=0\n"
        )
    }

    async def body(m: Manager) -> None:
        flaky = m.service("flaky.service")
        await m.enqueue("flaky.service", JobType.START, JobMode.REPLACE)
        await m.wait_until(lambda: flaky.active_state is ActiveState.FAILED and not m.jobs)
        assert flaky.n_restarts > 0
        m.reset_failed("flaky.service")
        assert flaky.properties()["NRestarts"] == "0"
        assert flaky.active_state is ActiveState.INACTIVE

    run(tmp_path / "p", units, body)


def test_reload_keeps_running_services_and_applies_new_config_at_next_start(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    out = tmp_path / "out"
    units = {
        "web.service": "[Service]\nExecStart=/bin/sleep 600\n",
        "gone.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "job.service": f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo one >> {out}'\n",
    }

    async def body(m: Manager) -> None:
        assert await m.start_unit("web.service") is JobResult.DONE
        web = m.service("web.service")
        pid = web.main_pid
        assert await m.start_unit("job.service") is JobResult.DONE
        write_units(
            project,
            {
                "job.service": (
                    f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo two >> {out}'\n"
                ),
                "new.service": "[Unit]\nDescription=Newcomer\n[Service]\nExecStart=/bin/true\n",
            },
        )
        (project / "gone.service").unlink()
        generation = m.generation
        await m.reload()
        assert m.generation == generation + 1
        assert m.runtime("web.service") is web  # same runtime, same process
        assert (web.active_state, web.main_pid) == (ActiveState.ACTIVE, pid)
        assert m.runtime("new.service").unit.description == "Newcomer"
        assert "gone.service" not in m.runtimes
        assert await m.restart_unit("job.service") is JobResult.DONE
        assert out.read_text().split() == ["one", "two"]

    run(project, units, body)


def test_a_running_unit_whose_file_vanished_stays_until_stopped(tmp_path: Path) -> None:
    project = tmp_path / "p"
    units = {"web.service": "[Service]\nExecStart=/bin/sleep 600\nExecStop=/bin/true\n"}

    async def body(m: Manager) -> None:
        assert await m.start_unit("web.service") is JobResult.DONE
        (project / "web.service").unlink()
        await m.reload()
        web = m.runtime("web.service")
        props = web.properties()
        assert (props["LoadState"], props["ActiveState"], props["SubState"]) == (
            "not-found",
            "active",
            "running",
        )
        assert await m.stop_unit("web.service") is JobResult.DONE
        await m.wait_until(lambda: "web.service" not in m.runtimes)  # collected, as unit GC

    run(project, units, body)


def test_queued_jobs_survive_a_reload(tmp_path: Path) -> None:
    project = tmp_path / "p"
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    units = {
        "slow.service": f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'read x < {fifo}'\n",
        "after.service": (
            "[Unit]\nWants=slow.service\nAfter=slow.service\n"
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
        ),
    }

    async def body(m: Manager) -> None:
        job = await m.enqueue("after.service", JobType.START, JobMode.REPLACE)
        await m.wait_until(lambda: m.state("slow.service") is ActiveState.ACTIVATING)
        before = dict(m.jobs)
        assert set(before) == {"slow.service", "after.service"}
        await m.reload()
        assert m.jobs == before
        await asyncio.to_thread(fifo.write_text, "go\n")
        assert await asyncio.shield(job.done) is JobResult.DONE
        assert m.state("after.service") is ActiveState.ACTIVE

    run(project, units, body)


def test_need_daemon_reload_follows_fragment_and_drop_ins(tmp_path: Path) -> None:
    project = tmp_path / "p"
    units = {
        "a.service": "[Service]\nExecStart=/bin/true\n",
        "b.service": "[Service]\nExecStart=/bin/true\n",
        "b.service.d/old.conf": "[Unit]\nDocumentation=man:b(8)\n",
        "c.service": "[Service]\nExecStart=/bin/true\n",
        "c.service.d/x.conf": "[Unit]\nDescription=C\n",
        "d.service": "[Service]\nExecStart=/bin/true\n",
    }

    async def body(m: Manager) -> None:
        assert not [n for n in m.runtimes if m.need_daemon_reload(n)]
        touch_later(project / "a.service")  # fragment edited
        write_units(project, {"b.service.d/new.conf": "[Unit]\nDescription=B\n"})  # drop-in added
        touch_later(project / "c.service.d" / "x.conf")  # drop-in edited
        # A new .d directory: systemd 252 does not look into it before a reload (its unit
        # path cache lists the directories there were), so neither does bootup.
        write_units(project, {"d.service.d/new.conf": "[Unit]\nDescription=D\n"})
        changed = ("a.service", "b.service", "c.service", "d.service")
        assert [n for n in changed if m.need_daemon_reload(n)] == list(changed[:3])
        await m.reload()
        assert not [n for n in m.runtimes if m.need_daemon_reload(n)]
        assert m.runtime("b.service").unit.description == "B"
        assert m.runtime("d.service").unit.description == "D"
        (project / "a.service").unlink()  # a vanished fragment needs a reload too
        assert m.need_daemon_reload("a.service")

    run(project, units, body)


def test_unit_file_states_are_cached_per_reload(tmp_path: Path) -> None:
    project = tmp_path / "p"
    units = {
        "on.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        "off.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        "plain.service": "[Service]\nExecStart=/bin/true\n",
        "multi-user.target.wants/on.service": "-> ../on.service",
    }

    async def body(m: Manager) -> None:
        assert m.unit_file_state("on.service") == ("enabled", "enabled")
        assert m.unit_file_state("off.service") == ("disabled", "enabled")
        assert m.unit_file_state("plain.service")[0] == "static"
        (project / "multi-user.target.wants" / "on.service").unlink()
        assert m.unit_file_state("on.service")[0] == "enabled"  # cached until a reload
        await m.reload()
        assert m.unit_file_state("on.service")[0] == "disabled"

    run(project, units, body)
