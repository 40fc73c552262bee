# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""The manager against real processes: ordering, parallelism, failure propagation, and the
dependencies that act at run time (systemd.md §7 scenarios C3, C16-C20, C28-C30).

Every wait is on the manager's own state-change events (``Manager.wait_until``) or on a
FIFO a unit writes; ``asyncio.timeout`` is only a safety net against a hang.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bootup.runtime.clock import ManualClock
from bootup.runtime.jobs import JobEvent
from bootup.runtime.manager import Manager
from bootup.runtime.project import project_manager, write_units
from bootup.runtime.service import ServiceRuntime
from bootup.runtime.states import ActiveState, JobResult, ServiceResult
from support import require_tool

T = TypeVar("T")
SAFETY = 60


def run(
    directory: Path,
    units: dict[str, str],
    body: Callable[[Manager], Awaitable[T]],
    clock: ManualClock | None = None,
) -> T:
    """Write ``units`` into a project and run ``body`` against a manager on it."""
    write_units(directory, units)

    async def main() -> T:
        async with asyncio.timeout(SAFETY), project_manager(directory, clock=clock) as m:
            return await body(m)

    return asyncio.run(main())


def svc(m: Manager, name: str) -> ServiceRuntime:
    return m.service(name)


def test_requires_after_orders_start_and_reverses_stop(tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    units = {
        f"s{i}.service": (
            f"[Unit]\nDescription=S{i}\n"
            + (f"Requires=s{i - 1}.service\nAfter=s{i - 1}.service\n" if i > 1 else "")
            + "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            + f"ExecStart=/bin/sh -c 'echo start s{i} >> {log}'\n"
            + f"ExecStop=/bin/sh -c 'echo stop s{i} >> {log}'\n"
        )
        for i in (1, 2, 3)
    }

    async def body(m: Manager) -> None:
        assert await m.start_unit("s3.service") is JobResult.DONE
        assert [m.state(f"s{i}.service") for i in (1, 2, 3)] == [ActiveState.ACTIVE] * 3
        await m.shutdown()

    run(tmp_path / "p", units, body)
    assert log.read_text().split("\n")[:-1] == [
        "start s1",
        "start s2",
        "start s3",
        "stop s3",
        "stop s2",
        "stop s1",
    ]


def test_independent_jobs_run_concurrently(tmp_path: Path) -> None:
    """x and y each wait for the other through FIFOs: only a parallel start succeeds."""
    xy, yx = tmp_path / "xy", tmp_path / "yx"
    os.mkfifo(xy)
    os.mkfifo(yx)
    units = {
        "x.service": f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo hi > {xy}; read l < {yx}'\n",
        "y.service": f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'read l < {xy}; echo ho > {yx}'\n",
        "both.target": "[Unit]\nWants=x.service y.service\n",
    }

    async def body(m: Manager) -> tuple[JobResult, str, str]:
        result = await m.start_unit("both.target")
        return result, svc(m, "x.service").result, svc(m, "y.service").result

    assert run(tmp_path / "p", units, body) == (JobResult.DONE, "success", "success")


def test_simple_failing_requirement_does_not_stop_dependant_c16(tmp_path: Path) -> None:
    units = {
        "b.service": "[Service]\nExecStart=/bin/false\n",
        "a.service": "[Unit]\nRequires=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> tuple[ActiveState, str, ActiveState, str]:
        assert await m.start_unit("a.service") is JobResult.DONE
        await m.wait_until(lambda: m.state("b.service") is ActiveState.FAILED)
        b = svc(m, "b.service")
        return m.state("a.service"), m.runtime("a.service").sub_state, b.active_state, b.result

    assert run(tmp_path / "p", units, body) == (
        ActiveState.ACTIVE,
        "running",
        ActiveState.FAILED,
        ServiceResult.EXIT_CODE,
    )


def test_oneshot_failing_requirement_fails_dependant_c17(tmp_path: Path) -> None:
    units = {
        "b.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
        "a.service": "[Unit]\nRequires=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }
    events: list[JobEvent] = []

    async def body(m: Manager) -> tuple[JobResult, ActiveState, ActiveState]:
        m.subscribe(lambda e: events.append(e) if isinstance(e, JobEvent) else None)
        result = await m.start_unit("a.service")
        return result, m.state("a.service"), m.state("b.service")

    assert run(tmp_path / "p", units, body) == (
        JobResult.DEPENDENCY,
        ActiveState.INACTIVE,
        ActiveState.FAILED,
    )
    finished = {(e.unit, e.result) for e in events if e.result is not None}
    assert ("b.service", JobResult.FAILED) in finished
    assert ("a.service", JobResult.DEPENDENCY) in finished


def test_exec_vs_simple_with_missing_binary_c18(tmp_path: Path) -> None:
    units = {
        "bexec.service": "[Service]\nType=exec\nExecStart=/nonexistent/binary\n",
        "bsimple.service": "[Service]\nType=simple\nExecStart=/nonexistent/binary\n",
        "aexec.service": "[Unit]\nRequires=bexec.service\nAfter=bexec.service\n[Service]\nExecStart=/bin/sleep 300\n",
        "asimple.service": "[Unit]\nRequires=bsimple.service\nAfter=bsimple.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> list[object]:
        r_exec = await m.start_unit("aexec.service")
        r_simple = await m.start_unit("asimple.service")
        await m.wait_until(lambda: m.state("bsimple.service") is ActiveState.FAILED)
        return [
            r_exec,
            m.state("aexec.service"),
            svc(m, "bexec.service").properties()["ExecMainStatus"],
            r_simple,
            m.state("asimple.service"),
            svc(m, "bsimple.service").properties()["ExecMainStatus"],
        ]

    assert run(tmp_path / "p", units, body) == [
        JobResult.DEPENDENCY,
        ActiveState.INACTIVE,
        "203",
        JobResult.DONE,
        ActiveState.ACTIVE,
        "203",
    ]


def test_condition_skips_but_assert_fails_c19(tmp_path: Path) -> None:
    units = {
        "bc.service": "[Unit]\nConditionPathExists=/nonexistent\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "ba.service": "[Unit]\nAssertPathExists=/nonexistent\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "ac.service": "[Unit]\nRequires=bc.service\nAfter=bc.service\n[Service]\nExecStart=/bin/sleep 300\n",
        "aa.service": "[Unit]\nRequires=ba.service\nAfter=ba.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> list[object]:
        rc = await m.start_unit("ac.service")
        ra = await m.start_unit("aa.service")
        bc = svc(m, "bc.service")
        return [
            rc,
            m.state("ac.service"),
            bc.active_state,
            bc.sub_state,
            bc.result,
            bc.condition_result,
            ra,
            m.state("aa.service"),
        ]

    assert run(tmp_path / "p", units, body) == [
        JobResult.DONE,
        ActiveState.ACTIVE,
        ActiveState.INACTIVE,
        "dead",
        ServiceResult.SUCCESS,
        False,
        JobResult.DEPENDENCY,
        ActiveState.INACTIVE,
    ]


def test_requisite_on_inactive_unit_fails_and_starts_nothing_c3(tmp_path: Path) -> None:
    marker = tmp_path / "b-ran"
    units = {
        "b.service": f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/bin/touch {marker}\n",
        "a.service": "[Unit]\nRequisite=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> tuple[JobResult, ActiveState, ActiveState]:
        result = await m.start_unit("a.service")
        return result, m.state("a.service"), m.state("b.service")

    assert run(tmp_path / "p", units, body) == (
        JobResult.DEPENDENCY,
        ActiveState.INACTIVE,
        ActiveState.INACTIVE,
    )
    assert not marker.exists()


def test_binds_to_stops_the_binding_unit_c20(tmp_path: Path) -> None:
    fifo = tmp_path / "die"
    os.mkfifo(fifo)
    units = {
        "b.service": f"[Service]\nExecStart=/bin/sh -c 'read l < {fifo}; exit 3'\n",
        "a.service": "[Unit]\nBindsTo=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> tuple[ActiveState, ActiveState, str]:
        assert await m.start_unit("a.service") is JobResult.DONE
        assert m.state("a.service") is ActiveState.ACTIVE
        await asyncio.to_thread(fifo.write_text, "go\n")
        await m.wait_until(lambda: m.state("a.service") is ActiveState.INACTIVE)
        return (
            m.state("a.service"),
            m.state("b.service"),
            svc(m, "a.service").properties()["ExecMainStatus"],
        )

    assert run(tmp_path / "p", units, body) == (ActiveState.INACTIVE, ActiveState.FAILED, "15")


def test_part_of_stop_propagates(tmp_path: Path) -> None:
    units = {
        "b.service": "[Service]\nExecStart=/bin/sleep 300\n",
        "a.service": "[Unit]\nPartOf=b.service\nAfter=b.service\n[Service]\nExecStart=/bin/sleep 300\n",
        "g.target": "[Unit]\nWants=a.service b.service\n",
    }

    async def body(m: Manager) -> tuple[ActiveState, ActiveState]:
        assert await m.start_unit("g.target") is JobResult.DONE
        assert await m.stop_unit("b.service") is JobResult.DONE
        await m.wait_until(lambda: not m.jobs)
        return m.state("a.service"), m.state("b.service")

    assert run(tmp_path / "p", units, body) == (ActiveState.INACTIVE, ActiveState.INACTIVE)


def test_upholds_restarts_the_upheld_unit_c28(tmp_path: Path) -> None:
    count = tmp_path / "count"
    units = {
        "b.service": f"[Service]\nExecStart=/bin/sh -c 'echo x >> {count}'\n",
        "a.service": "[Unit]\nUpholds=b.service\n[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> int:
        assert await m.start_unit("a.service") is JobResult.DONE
        await m.wait_until(lambda: count.exists() and len(count.read_text().split()) >= 3)
        return len(count.read_text().split())

    assert run(tmp_path / "p", units, body) >= 3


def test_on_failure_and_on_success_fire(tmp_path: Path) -> None:
    failed_mark, ok_mark = tmp_path / "failed", tmp_path / "ok"
    units = {
        "bad.service": "[Unit]\nOnFailure=handler.service\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
        "handler.service": f"[Service]\nType=oneshot\nExecStart=/usr/bin/touch {failed_mark}\n",
        "good.service": "[Unit]\nOnSuccess=okh.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "okh.service": f"[Service]\nType=oneshot\nExecStart=/usr/bin/touch {ok_mark}\n",
    }

    async def body(m: Manager) -> tuple[JobResult, JobResult]:
        bad = await m.start_unit("bad.service")
        good = await m.start_unit("good.service")
        await m.wait_until(
            lambda: (
                m.state("handler.service") is ActiveState.INACTIVE
                and m.runtime("handler.service").timestamps.inactive_enter != (0, 0)
                and m.runtime("okh.service").timestamps.inactive_enter != (0, 0)
            )
        )
        return bad, good

    assert run(tmp_path / "p", units, body) == (JobResult.FAILED, JobResult.DONE)
    assert failed_mark.exists()
    assert ok_mark.exists()


def test_concurrent_requests_share_one_job(tmp_path: Path) -> None:
    count = tmp_path / "count"
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    units = {
        "slow.service": (
            f"[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart=/bin/sh -c 'echo x >> {count}; read l < {fifo}'\n"
        ),
    }

    async def body(m: Manager) -> list[JobResult]:
        first = asyncio.ensure_future(m.start_unit("slow.service"))
        await m.wait_until(lambda: "slow.service" in m.jobs)
        second = asyncio.ensure_future(m.start_unit("slow.service"))
        await asyncio.sleep(0)  # let the second caller join the flight before the gate opens
        await asyncio.to_thread(fifo.write_text, "go\n")
        return list(await asyncio.gather(first, second))

    assert run(tmp_path / "p", units, body) == [JobResult.DONE, JobResult.DONE]
    assert count.read_text() == "x\n"


def test_unsupported_unit_type_fails_loudly(tmp_path: Path) -> None:
    units = {
        "s.socket": "[Socket]\nListenStream=127.0.0.1:0\n",
        "s.service": "[Service]\nExecStart=/bin/sleep 300\n",
    }

    async def body(m: Manager) -> tuple[JobResult, list[str]]:
        result = await m.start_unit("s.socket")
        assert m.journal is not None
        lines = [e.message for e in m.journal.query(unit="s.socket")]
        return result, lines

    result, lines = run(tmp_path / "p", units, body)
    assert result is JobResult.UNSUPPORTED
    assert any("not supported yet" in line for line in lines)


def test_timestamps_are_recorded_in_order(tmp_path: Path) -> None:
    units = {"t.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"}

    async def body(m: Manager) -> dict[str, str]:
        await m.start_unit("t.service")
        await m.stop_unit("t.service")
        return m.runtime("t.service").properties()

    props = run(tmp_path / "p", units, body)
    keys = ("InactiveExit", "ActiveEnter", "ActiveExit", "InactiveEnter")
    stamps = [int(props[f"{k}TimestampMonotonic"]) for k in keys]
    assert all(stamps)
    assert stamps == sorted(stamps)


def test_stubborn_service_is_killed_at_stop_timeout_c30(tmp_path: Path) -> None:
    clock = ManualClock()
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    units = {
        "stubborn.service": (
            "[Service]\nTimeoutStopSec=2\n"
            f"ExecStart=/bin/sh -c 'trap \"\" TERM; echo up > {ready}; while :; do sleep 1; done'\n"
        ),
    }

    async def body(m: Manager) -> tuple[str, str, str]:
        assert await m.start_unit("stubborn.service") is JobResult.DONE
        await asyncio.to_thread(ready.read_text)
        stop = asyncio.ensure_future(m.stop_unit("stubborn.service"))
        s = svc(m, "stubborn.service")
        await m.wait_until(lambda: s.sub_state == "stop-sigterm")
        # The shell ignores SIGTERM: only the timeout (2 s on the injected clock) ends it.
        clock.advance(2.0)
        assert await stop is JobResult.DONE
        return s.active_state, s.result, s.properties()["ExecMainStatus"]

    assert run(tmp_path / "p", units, body, clock) == (
        ActiveState.FAILED,
        ServiceResult.TIMEOUT,
        "9",
    )


def test_an_idle_manager_arms_no_timer(tmp_path: Path) -> None:
    """Zero CPU when idle: once everything runs, no timer of the manager is pending."""
    clock = ManualClock()
    units = {
        "a.service": "[Service]\nExecStart=/bin/sleep 300\nTimeoutStartSec=5\n",
        "b.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        "g.target": "[Unit]\nWants=a.service b.service\n",
    }

    async def body(m: Manager) -> tuple[JobResult, int, int]:
        result = await m.start_unit("g.target")
        return result, clock.pending, len(m.jobs)

    assert run(tmp_path / "p", units, body, clock) == (JobResult.DONE, 0, 0)


# --- the systemd 252 scenarios, on bootup ----------------------------------------------------

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "data" / "runtime-scenarios"
PROPS = ("ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")


def _st(
    active: str, sub: str, result: str = "success", status: int = 0, restarts: int = 0
) -> dict[str, str]:
    return dict(zip(PROPS, (active, sub, result, str(status), str(restarts)), strict=True))


#: The outcomes real systemd 252 produced on the same directories (pinned by
#: tests/conformance/test_runtime_oracle.py, which boots it as PID 1).
SYSTEMD_252: dict[str, dict[str, dict[str, str]]] = {
    "c16-simple-false-required": {
        "a.service": _st("active", "running"),
        "b.service": _st("failed", "failed", "exit-code", 1),
    },
    "c17-oneshot-false-required": {
        "a.service": _st("inactive", "dead"),
        "b.service": _st("failed", "failed", "exit-code", 1),
    },
    "c18-missing-binary-exec-vs-simple": {
        "exec-a.service": _st("inactive", "dead"),
        "exec-b.service": _st("failed", "failed", "exit-code", 203),
        "simple-a.service": _st("active", "running"),
        "simple-b.service": _st("failed", "failed", "exit-code", 203),
    },
    "c19-condition-vs-assert": {
        "cond-a.service": _st("active", "running"),
        "cond-b.service": _st("inactive", "dead"),
        "assert-a.service": _st("inactive", "dead"),
        "assert-b.service": _st("inactive", "dead"),
    },
    "c20-bindsto-peer-dies": {
        "a.service": _st("inactive", "dead", status=15),
        "b.service": _st("failed", "failed", "exit-code", 1),
    },
    "c21-restart-start-limit": {
        "flaky.service": _st("failed", "failed", "exit-code", 1, restarts=3)
    },
    "c22-restart-prevent-vs-success-status": {
        "prevent.service": _st("failed", "failed", "exit-code", 7),
        "success.service": _st("inactive", "dead", status=7),
    },
    "c23-notify-never-ready": {"notify.service": _st("failed", "failed", "timeout", 15)},
    "c24-notify-ready-late": {
        "notify.service": _st("active", "running"),
        "after-notify.service": _st("active", "exited"),
    },
    "c25-oneshot-remain-after-exit": {
        "remain.service": _st("active", "exited"),
        "plain.service": _st("inactive", "dead"),
    },
    "c26-forking-pidfile": {"forking.service": _st("active", "running")},
    "c27-exec-start-pre-failure": {
        "pre-fail.service": _st("failed", "failed", "exit-code", 0),
        "pre-ignore.service": _st("active", "running"),
    },
    "c28-upholds": {
        "upholder.service": _st("active", "running"),
        "upheld.service": _st("failed", "failed", "start-limit-hit"),
    },
    "c29-onfailure-after-start-limit": {
        "flaky.service": _st("failed", "failed", "exit-code", 1, restarts=2),
        "handler.service": _st("inactive", "dead"),
    },
    "c30-shutdown-order": {
        name: _st("active", "running")
        for name in ("s1.service", "s2.service", "s3.service", "stubborn.service")
    },
}


def _copy_scenario(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of a scenario; files its units write to /run go to tmp_path/run."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    target = tmp_path / "project"
    shutil.copytree(SCENARIOS_DIR / name, target, symlinks=True)
    for unit in target.glob("*.service"):
        unit.write_text(unit.read_text().replace("/run/", f"{run_dir}/"))
    return target, run_dir


def _matches(m: Manager, expected: dict[str, dict[str, str]]) -> bool:
    return all(
        {k: m.runtime(u).properties().get(k) for k in want} == want for u, want in expected.items()
    )


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SYSTEMD_252), ids=lambda s: s.split("-")[0])
def test_systemd_252_scenarios_on_bootup(scenario: str, tmp_path: Path) -> None:
    """Each C16-C30 directory, run by bootup, ends as systemd 252 ended on it."""
    if scenario == "c24-notify-ready-late":
        require_tool("systemd-notify", package="systemd")
    assert {p.name for p in SCENARIOS_DIR.iterdir() if p.is_dir()} == set(SYSTEMD_252)
    project, run_dir = _copy_scenario(scenario, tmp_path)
    expected = SYSTEMD_252[scenario]

    async def main() -> tuple[dict[str, dict[str, str | None]], list[str]]:
        async with project_manager(project) as m:
            start = asyncio.ensure_future(m.start_unit("default.target"))
            try:
                async with asyncio.timeout(40):
                    await m.wait_until(lambda: _matches(m, expected))
            except TimeoutError:
                pass  # the assertion below shows what differs
            got = {u: {k: m.runtime(u).properties().get(k) for k in PROPS} for u in expected}
            if scenario == "c26-forking-pidfile":
                assert m.service("forking.service").main_pid == int(
                    (run_dir / "forking.pid").read_text()
                )
            await start
            await m.shutdown()
            assert m.journal is not None
            lines = [f"{e.unit}: {e.message}" for e in m.journal.query()]
        return got, lines

    got, lines = asyncio.run(main())
    assert got == expected
    if scenario == "c29-onfailure-after-start-limit":
        assert (run_dir / "handled").read_text() == "handled\n"
    if scenario == "c30-shutdown-order":
        stops = [
            line.split()[0].rstrip(":")
            for line in lines
            if re.match(r"^s[123]\.service: Stopped ", line)
        ]
        assert stops == ["s3.service", "s2.service", "s1.service"]
        assert "stubborn.service: State 'stop-sigterm' timed out. Killing." in lines
        assert "stubborn.service: Main process exited, code=killed, status=9/KILL" in lines
