"""Scenarios C16-C30 on real systemd 252 as PID 1 (reference systemd.md §7, O10).

Each scenario directory in ``tests/data/runtime-scenarios/`` holds the stub checkpoint
targets (Appendix A.1), the scenario's units and their ``multi-user.target.wants/`` links.
The test boots real systemd on it with :class:`systemd_pid1.SystemdPid1`, waits for the
console lines that mark the scenario's end (events, not sleeps), and asserts the outcome
systemd 252 produces: ``ActiveState``, ``SubState``, ``Result``, ``NRestarts``,
``ExecMainStatus`` and scenario-specific facts. This proves the harness and pins the
values bootup's manager must reproduce.

One deviation from the reference's table is recorded here, measured with this harness on
systemd 252.39: in C28 an upheld unit that lives 0.3 s is *not* "still active at 3 s";
systemd restarts it until the default start limit (5 in 10 s) stops it with
``start-limit-hit``. The scenario therefore also holds an upheld unit with
``StartLimitIntervalSec=0``, which keeps being restarted.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from systemd_pid1 import BootFailed, SystemdPid1, can_boot

pytestmark = [pytest.mark.conformance, pytest.mark.slow]

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "data" / "runtime-scenarios"

State = dict[str, str]


def st(active: str, sub: str, result: str = "success", status: int = 0, restarts: int = 0) -> State:
    """The five pinned properties, as ``systemctl show`` prints them."""
    return {
        "ActiveState": active,
        "SubState": sub,
        "Result": result,
        "ExecMainStatus": str(status),
        "NRestarts": str(restarts),
    }


@dataclass(frozen=True)
class Scenario:
    """One directory, what to wait for, and what systemd 252 ends up with."""

    directory: str
    expected: dict[str, State]
    #: console lines (regexes) that must appear, waited for in order after startup
    wait: tuple[str, ...] = ()
    #: extra checks with the manager still running
    check: Callable[[SystemdPid1], None] | None = None
    #: checks on the console after the manager powered off
    after_shutdown: Callable[[list[str]], None] | None = None
    extra_properties: tuple[str, ...] = field(default=())


def _c24(m: SystemdPid1) -> None:
    props = m.show(
        ["notify.service", "after-notify.service"],
        ("StatusText", "ActiveEnterTimestampMonotonic"),
    )
    assert props["notify.service"]["StatusText"] == "up"
    # after-notify was ordered after the READY=1 (its activation comes later).
    assert int(props["after-notify.service"]["ActiveEnterTimestampMonotonic"]) >= int(
        props["notify.service"]["ActiveEnterTimestampMonotonic"]
    )
    # O11: critical-chain works inside the namespace and puts notify.service on the chain.
    chain = m.run("systemd-analyze", "critical-chain", "--no-pager", "after-notify.service")
    assert chain.returncode == 0, chain.stderr
    assert re.search(r"^after-notify\.service \+", chain.stdout, re.M)
    assert re.search(r"└─notify\.service @", chain.stdout)


def _c26(m: SystemdPid1) -> None:
    pid_file = m.run("cat", "/run/forking.pid").stdout.strip()
    main_pid = m.show(["forking.service"], ("MainPID",))["forking.service"]["MainPID"]
    assert main_pid == pid_file
    assert main_pid != "0"


def _c28(m: SystemdPid1) -> None:
    restarts = m.console.count("upheld-nolimit.service: Deactivated successfully.")
    assert restarts >= 5
    props = m.show(["upheld-nolimit.service"], ("Result",))
    assert props["upheld-nolimit.service"]["Result"] == "success"


def _c29(m: SystemdPid1) -> None:
    assert m.run("cat", "/run/handled").stdout == "handled\n"


def _c30(lines: list[str]) -> None:
    start = next(i for i, line in enumerate(lines) if "Received SIGRTMIN+4" in line)
    stops = [
        m.group(1)
        for line in lines[start:]
        if (m := re.match(r"^(s[123])\.service: Deactivated successfully\.$", line))
    ]
    assert stops == ["s3", "s2", "s1"]
    tail = "\n".join(lines[start:])
    assert "stubborn.service: State 'stop-sigterm' timed out. Killing." in tail
    assert "stubborn.service: Main process exited, code=killed, status=9/KILL" in tail


SCENARIOS = [
    Scenario(
        "c16-simple-false-required",
        {"a.service": st("active", "running"), "b.service": st("failed", "failed", "exit-code", 1)},
        wait=(r"^b\.service: Failed with result 'exit-code'",),
    ),
    Scenario(
        "c17-oneshot-false-required",
        {"a.service": st("inactive", "dead"), "b.service": st("failed", "failed", "exit-code", 1)},
        wait=(r"^a\.service: Job a\.service/start failed with result 'dependency'",),
    ),
    Scenario(
        "c18-missing-binary-exec-vs-simple",
        {
            "exec-a.service": st("inactive", "dead"),
            "exec-b.service": st("failed", "failed", "exit-code", 203),
            "simple-a.service": st("active", "running"),
            "simple-b.service": st("failed", "failed", "exit-code", 203),
        },
        wait=(
            r"^exec-a\.service: Job exec-a\.service/start failed with result 'dependency'",
            r"^simple-b\.service: Failed with result 'exit-code'",
        ),
    ),
    Scenario(
        "c19-condition-vs-assert",
        {
            "cond-a.service": st("active", "running"),
            "cond-b.service": st("inactive", "dead"),
            "assert-a.service": st("inactive", "dead"),
            "assert-b.service": st("inactive", "dead"),
        },
        wait=(r"^assert-b\.service: Starting requested but asserts failed\.",),
    ),
    Scenario(
        "c20-bindsto-peer-dies",
        {
            "a.service": st("inactive", "dead", status=15),
            "b.service": st("failed", "failed", "exit-code", 1),
        },
        wait=(r"^b\.service: Failed with result", r"^a\.service: Deactivated successfully\."),
    ),
    Scenario(
        "c21-restart-start-limit",
        {"flaky.service": st("failed", "failed", "exit-code", 1, restarts=3)},
        wait=(
            r"^flaky\.service: Start request repeated too quickly\.",
            r"^flaky\.service: Failed with result",
        ),
    ),
    Scenario(
        "c22-restart-prevent-vs-success-status",
        {
            "prevent.service": st("failed", "failed", "exit-code", 7),
            "success.service": st("inactive", "dead", status=7),
        },
        wait=(
            r"^prevent\.service: Failed with result 'exit-code'",
            r"^success\.service: Deactivated successfully\.",
        ),
    ),
    Scenario(
        "c23-notify-never-ready",
        {"notify.service": st("failed", "failed", "timeout", 15)},
        wait=(r"^notify\.service: Failed with result 'timeout'",),
    ),
    Scenario(
        "c24-notify-ready-late",
        {
            "notify.service": st("active", "running"),
            "after-notify.service": st("active", "exited"),
        },
        check=_c24,
    ),
    Scenario(
        "c25-oneshot-remain-after-exit",
        {"remain.service": st("active", "exited"), "plain.service": st("inactive", "dead")},
    ),
    Scenario("c26-forking-pidfile", {"forking.service": st("active", "running")}, check=_c26),
    Scenario(
        "c27-exec-start-pre-failure",
        {
            "pre-fail.service": st("failed", "failed", "exit-code", 0),
            "pre-ignore.service": st("active", "running"),
        },
        wait=(r"^pre-fail\.service: Failed with result 'exit-code'",),
    ),
    Scenario(
        "c28-upholds",
        {
            "upholder.service": st("active", "running"),
            "upheld.service": st("failed", "failed", "start-limit-hit"),
        },
        wait=(r"^upheld\.service: Unit needs to be started because active unit upholder",),
        check=_c28,
    ),
    Scenario(
        "c29-onfailure-after-start-limit",
        {
            "flaky.service": st("failed", "failed", "exit-code", 1, restarts=2),
            "handler.service": st("inactive", "dead"),
        },
        wait=(r"^handler\.service: Deactivated successfully\.",),
        check=_c29,
    ),
    Scenario(
        "c30-shutdown-order",
        {
            "s1.service": st("active", "running"),
            "s2.service": st("active", "running"),
            "s3.service": st("active", "running"),
            "stubborn.service": st("active", "running"),
        },
        after_shutdown=_c30,
    ),
]


def test_every_scenario_directory_is_covered() -> None:
    on_disk = {p.name for p in SCENARIOS_DIR.iterdir() if p.is_dir()}
    assert on_disk == {s.directory for s in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.directory.split("-")[0] for s in SCENARIOS])
def test_systemd_252_outcome(scenario: Scenario, tmp_path: Path) -> None:
    with SystemdPid1(SCENARIOS_DIR / scenario.directory, workdir=tmp_path) as manager:
        for pattern in scenario.wait:
            manager.wait_for(pattern, timeout=30)
        got = manager.show(scenario.expected)
        for unit, expected in scenario.expected.items():
            actual = {key: got[unit][key] for key in expected}
            assert actual == expected, f"{unit}\n{manager.console}"
        if scenario.check is not None:
            scenario.check(manager)
        inside = manager.namespace_pids()
        assert manager.pid in inside
    # Powered off (SIGINT is how the kernel reports reboot(POWER_OFF) from a PID namespace's
    # init), nothing left in the namespace, the private cgroups gone.
    assert manager.exit_status == -signal.SIGINT, manager.console
    assert manager.leftover_processes == [], manager.console
    assert manager.leftover_cgroups == [], manager.console
    lines = manager.console.splitlines()
    assert "Powering off." in lines
    if scenario.after_shutdown is not None:
        scenario.after_shutdown(lines)


# --- the same scenarios on bootup's manager -------------------------------------------------

#: Runs inside ``unshare --pid --fork --mount --mount-proc`` with a private /run, so that
#: the units' /run files stay private, and bootup's manager is PID 1 like systemd above.
#: It starts multi-user.target, waits on the manager's own events until the expected
#: properties hold (or a safety timeout passes), shuts down, and prints one JSON object.
_DRIVER = r"""
import asyncio, json, sys
from pathlib import Path
from bootup.runtime.jobs import UnitEvent
from bootup.runtime.project import project_manager

directory, spec = sys.argv[1], json.loads(sys.argv[2])
expected, min_deact = spec["expected"], spec["min_deactivations"]
out = {"props": {}, "deactivations": {}, "stops": [], "files": {}, "timed_out": False}
shutting_down = False

def listener(event):
    if isinstance(event, UnitEvent) and event.new.value in ("inactive", "failed"):
        if event.old.value not in ("inactive", "failed"):
            out["deactivations"][event.unit] = out["deactivations"].get(event.unit, 0) + 1
            if shutting_down:
                out["stops"].append(event.unit)

def props(m, unit):
    try:
        return m.runtime(unit).properties()
    except Exception as exc:
        return {"error": repr(exc)}

def settled(m):
    for unit, want in expected.items():
        got = props(m, unit)
        if any(got.get(k) != v for k, v in want.items()):
            return False
    return all(out["deactivations"].get(u, 0) >= n for u, n in min_deact.items())

async def main():
    global shutting_down
    async with project_manager(directory) as m:
        m.subscribe(listener)
        start = asyncio.ensure_future(m.start_unit("multi-user.target"))
        try:
            async with asyncio.timeout(20):
                await m.wait_until(lambda: settled(m))
        except TimeoutError:
            out["timed_out"] = True
        if not start.done():
            start.cancel()
        for unit in expected:
            out["props"][unit] = props(m, unit)
        for name in ("/run/forking.pid", "/run/handled"):
            try:
                out["files"][name] = Path(name).read_text()
            except OSError:
                pass
        shutting_down = True
    print(json.dumps(out))

asyncio.run(main())
"""

#: Scenarios bootup's manager does not reproduce yet, with what differs.
BOOTUP_GAPS: dict[str, str] = {}


#: Units that must have gone inactive at least N times before bootup's state is final
#: (the counterpart of the console lines waited for on systemd).
_MIN_DEACTIVATIONS: dict[str, dict[str, int]] = {
    "c28-upholds": {"upheld-nolimit.service": 5},
    "c29-onfailure-after-start-limit": {"handler.service": 1},
}


def _bootup_expectations(scenario: Scenario) -> dict[str, int]:
    return _MIN_DEACTIVATIONS.get(scenario.directory, {})


def _run_bootup(scenario: Scenario, tmp_path: Path) -> dict[str, Any]:
    reason = can_boot()
    if reason is not None:
        pytest.skip(reason)
    project = tmp_path / "project"
    shutil.copytree(SCENARIOS_DIR / scenario.directory, project, symlinks=True)
    spec = {"expected": scenario.expected, "min_deactivations": _bootup_expectations(scenario)}
    inner = 'mount -t tmpfs tmpfs /run && exec "$0" -c "$1" "$2" "$3"'
    done = subprocess.run(
        [
            "unshare",
            "--pid",
            "--fork",
            "--mount",
            "--mount-proc",
            "--propagation",
            "private",
            "sh",
            "-c",
            inner,
            sys.executable,
            _DRIVER,
            str(project),
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(
            s,
            marks=[pytest.mark.xfail(strict=True, reason=BOOTUP_GAPS[s.directory])]
            if s.directory in BOOTUP_GAPS
            else [],
        )
        for s in SCENARIOS
    ],
    ids=[s.directory.split("-")[0] for s in SCENARIOS],
)
def test_bootup_matches_systemd_252(scenario: Scenario, tmp_path: Path) -> None:
    """bootup's manager, as PID 1 of the same kind of namespace, ends up where systemd does."""
    got = _run_bootup(scenario, tmp_path)
    for unit, expected in scenario.expected.items():
        actual = {key: got["props"][unit].get(key) for key in expected}
        assert actual == expected, (unit, got["props"][unit])
    assert not got["timed_out"]
    name = scenario.directory
    if name == "c24-notify-ready-late":
        assert got["props"]["notify.service"]["StatusText"] == "up"
        assert int(got["props"]["after-notify.service"]["ActiveEnterTimestampMonotonic"]) >= int(
            got["props"]["notify.service"]["ActiveEnterTimestampMonotonic"]
        )
    elif name == "c26-forking-pidfile":
        assert (
            got["props"]["forking.service"]["MainPID"] == got["files"]["/run/forking.pid"].strip()
        )
    elif name == "c29-onfailure-after-start-limit":
        assert got["files"].get("/run/handled") == "handled\n"
    elif name == "c30-shutdown-order":
        order = [u for u in got["stops"] if u in ("s1.service", "s2.service", "s3.service")]
        assert order == ["s3.service", "s2.service", "s1.service"]
        assert "stubborn.service" in got["stops"]


def test_a_failed_boot_reports_the_console_and_leaves_nothing(tmp_path: Path) -> None:
    """The harness's failure path: no default unit (and no rescue.target) makes PID 1 exit."""
    manager = SystemdPid1(
        SCENARIOS_DIR / "c16-simple-false-required",
        "nonexistent.target",
        workdir=tmp_path,
        fail_in_ci=False,
    )
    with pytest.raises(BootFailed, match=r"Unit nonexistent\.target not found\."), manager:
        pass
    assert manager.leftover_processes == []
    assert manager.leftover_cgroups == []
