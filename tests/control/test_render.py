"""systemctl's text layouts, from replies built by hand."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from bootup.control.render import (
    colour_enabled,
    exit_status_name,
    list_jobs,
    list_units,
    relative,
    status,
)

NOW = 1_800_000_000_000_000


def _args(**kwargs: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "output": "short",
        "no_legend": False,
        "plain": False,
        "all": False,
    }
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def test_relative_times_like_systemd() -> None:
    assert relative(NOW - 5_000, NOW) == "5ms ago"
    assert relative(NOW - 3_000_000, NOW) == "3s ago"
    assert relative(NOW - 123_000_000, NOW) == "2min 3s ago"
    assert relative(NOW - 3_720_000_000, NOW) == "1h 2min ago"
    assert relative(NOW - 2 * 86_400_000_000 - 3_600_000_000, NOW) == "2 days 1h ago"


def test_exit_statuses() -> None:
    assert exit_status_name(1, 0) == "0/SUCCESS"
    assert exit_status_name(1, 203) == "203/EXEC"
    assert exit_status_name(1, 42) == "42"
    assert exit_status_name(2, 15) == "15/TERM"


def _reply(**props: str) -> dict[str, object]:
    base = {"Id": "x.service", "Description": "X", "LoadState": "loaded"}
    base.update(props)
    return {
        "properties": base,
        "fragment_path": "/u/x.service",
        "dropin_paths": [],
        "processes": [],
        "log": [],
    }


def test_failed_status_block() -> None:
    since = NOW - 61_000_000
    text = status(
        _reply(
            ActiveState="failed",
            SubState="failed",
            Result="exit-code",
            MainPID="0",
            ExecMainPID="77",
            ExecMainCode="1",
            ExecMainStatus="1",
            InactiveEnterTimestampRealtime=str(since),
        ),
        colour=False,
        now_usec=NOW,
    )
    stamp = dt.datetime.fromtimestamp(since / 1e6, tz=dt.UTC).astimezone()
    assert text.splitlines() == [
        "\u00d7 x.service - X",
        "     Loaded: loaded (/u/x.service)",
        f"     Active: failed (Result: exit-code) since {stamp:%a %Y-%m-%d %H:%M:%S %Z}; "
        "1min 1s ago",
        "   Main PID: 77 (code=exited, status=1/FAILURE)",
    ]


def test_cgroup_listing_is_flat_and_sorted_by_pid() -> None:
    """systemctl lists one cgroup's processes in pid order, not as a parent/child tree."""
    reply = _reply(
        ActiveState="active", SubState="running", MainPID="10", ControlGroup="/u/x.service"
    )
    reply["processes"] = [
        {"pid": 12, "ppid": 10, "command": "sleep 2"},
        {"pid": 10, "ppid": 1, "command": "/bin/sh -c x"},
        {"pid": 11, "ppid": 10, "command": "sleep 1"},
    ]
    lines = status(reply, colour=False, now_usec=NOW, comm=lambda pid: "sh").splitlines()
    assert lines[-6:] == [
        "   Main PID: 10 (sh)",
        "      Tasks: 3",
        "     CGroup: /u/x.service",
        "             \u251c\u250010 /bin/sh -c x",
        "             \u251c\u250011 sleep 1",
        "             \u2514\u250012 sleep 2",
    ]


def test_loaded_line_with_unit_file_state_and_preset() -> None:
    def loaded(**props: str) -> str:
        return status(_reply(ActiveState="inactive", SubState="dead", **props), colour=False)

    assert loaded().splitlines()[1] == "     Loaded: loaded (/u/x.service)"
    assert loaded(UnitFileState="static", UnitFilePreset="enabled").splitlines()[1] == (
        "     Loaded: loaded (/u/x.service; static)"
    )
    assert loaded(UnitFileState="disabled", UnitFilePreset="enabled").splitlines()[1] == (
        "     Loaded: loaded (/u/x.service; disabled; preset: enabled)"
    )
    coloured = status(
        _reply(ActiveState="inactive", UnitFileState="disabled", UnitFilePreset="enabled"),
        colour=True,
    ).splitlines()
    assert coloured[1] == (
        "     Loaded: loaded (/u/x.service; \x1b[0;1;33mdisabled\x1b[0m; preset: "
        "\x1b[0;1;32menabled\x1b[0m)"
    )
    assert coloured[0] == "\u25cb x.service - X"  # inactive: a white circle, no colour


def test_dropins_processes_and_docs() -> None:
    reply = _reply(
        ActiveState="failed",
        SubState="failed",
        Result="exit-code",
        ExecMainPID="32",
        ExecMainCode="1",
        ExecMainStatus="3",
        Documentation='"man:sleep(1)" "https://example.org/x"',
        ExecStart="{ path=/bin/sh ; argv[]=/bin/sh -c exit 3 ; ignore_errors=no ; "
        "start_time=[n/a] ; stop_time=[n/a] ; pid=32 ; code=exited ; status=3 }",
        ActiveEnterTimestampRealtime=str(NOW - 5_000_000),
        ActiveExitTimestampRealtime=str(NOW - 4_992_000),
        InactiveEnterTimestampRealtime=str(NOW - 4_992_000),
    )
    reply["dropin_paths"] = ["/u/x.service.d/10-a.conf", "/u/x.service.d/20-b.conf", "/v/c.conf"]
    lines = status(reply, colour=False, now_usec=NOW).splitlines()
    assert lines[0] == "\u00d7 x.service - X"
    assert lines[2:6] == [
        "    Drop-In: /u/x.service.d",
        "             \u2514\u250010-a.conf, 20-b.conf",
        "             /v",
        "             \u2514\u2500c.conf",
    ]
    assert lines[7:] == [
        "   Duration: 8ms",
        "       Docs: man:sleep(1)",
        "             https://example.org/x",
        "    Process: 32 ExecStart=/bin/sh -c exit 3 (code=exited, status=3)",
        "   Main PID: 32 (code=exited, status=3)",
    ]
    red = status(reply, colour=True, now_usec=NOW).splitlines()
    assert red[0] == "\x1b[0;1;31m\u00d7\x1b[0m x.service - X"
    assert red[-2].endswith("\x1b[0;1;31m(code=exited, status=3)\x1b[0m")


def test_journal_lines_name_the_program() -> None:
    reply = _reply(
        ActiveState="active",
        SubState="exited",
        ExecStart="{ path=/bin/echo ; argv[]=/bin/echo hi ; ignore_errors=no ; "
        "start_time=[n/a] ; stop_time=[n/a] ; pid=7 ; code=exited ; status=0 }",
    )
    reply["log"] = [
        {"realtime_usec": NOW, "unit": "x.service", "pid": 7, "source": "stdout", "message": "hi"},
        {"realtime_usec": NOW, "unit": "x.service", "pid": None, "source": "manager",
         "message": "Started x.service."},
    ]  # fmt: skip
    lines = status(reply, colour=False, now_usec=NOW).splitlines()
    assert lines[-3] == ""
    assert lines[-2].endswith(" echo[7]: hi")
    assert lines[-1].endswith(" bootup: Started x.service.")


def test_list_units_and_jobs_layouts() -> None:
    units: list[dict[str, Any]] = [
        {
            "name": "a.service",
            "load_state": "loaded",
            "active_state": "failed",
            "sub_state": "failed",
            "description": "A",
            "job_id": None,
            "job_type": None,
        },
        {
            "name": "bb.target",
            "load_state": "loaded",
            "active_state": "active",
            "sub_state": "active",
            "description": "B",
            "job_id": 3,
            "job_type": "start",
        },
    ]
    text = list_units(units, _args(), colour=False)
    assert text.splitlines()[:3] == [
        "  UNIT      LOAD   ACTIVE SUB    JOB   DESCRIPTION",
        "\u25cf a.service loaded failed failed       A",
        "  bb.target loaded active active start B",
    ]
    assert "JOB    = Pending job for the unit." in text
    assert list_units(units, _args(plain=True, no_legend=True), colour=False).splitlines() == [
        "a.service loaded failed failed       A",
        "bb.target loaded active active start B",
    ]
    assert json.loads(list_units(units, _args(output="json"), colour=False))[1] == {
        "unit": "bb.target",
        "load": "loaded",
        "active": "active",
        "sub": "active",
        "description": "B",
    }
    jobs = [{"id": 3, "unit": "bb.target", "type": "start", "state": "waiting"}]
    assert list_jobs(jobs, _args()) == (
        "JOB UNIT      TYPE  STATE\n3   bb.target start waiting\n\n1 jobs listed.\n"
    )
    assert list_jobs([], _args()) == "No jobs running.\n"


def test_colour_rules_like_systemd() -> None:
    assert colour_enabled(tty=True, environ={"TERM": "xterm"})
    assert not colour_enabled(tty=False, environ={"TERM": "xterm"})
    assert not colour_enabled(tty=True, environ={"TERM": "dumb"})
    assert not colour_enabled(tty=True, environ={})
    assert not colour_enabled(tty=True, environ={"TERM": "xterm", "NO_COLOR": "1"})
    assert colour_enabled(tty=False, environ={"SYSTEMD_COLORS": "1"})
    assert colour_enabled(tty=False, environ={"SYSTEMD_COLORS": "256", "NO_COLOR": ""})
    assert not colour_enabled(tty=True, environ={"TERM": "xterm", "SYSTEMD_COLORS": "0"})


def test_processes_without_a_cgroup_and_none_once_exited() -> None:
    reply = _reply(ActiveState="active", SubState="running", MainPID="10", TasksCurrent="1")
    reply["processes"] = [
        {"pid": 10, "ppid": 1, "command": "sleep 9"},
        {"pid": 11, "ppid": 10, "command": "sleep 8"},
    ]
    lines = status(reply, colour=False, now_usec=NOW, comm=lambda pid: None).splitlines()
    assert lines[-3:] == [
        "      Tasks: 2",  # the child that forked before the cgroup move still counts
        "  Processes: \u251c\u250010 sleep 9",
        "             \u2514\u250011 sleep 8",
    ]
    exited = _reply(ActiveState="active", SubState="exited", ControlGroup="/u/x.service")
    text = status(exited, colour=False)
    assert "CGroup" not in text
    assert "Tasks" not in text


def test_list_units_legend_depends_on_the_filters() -> None:
    unit = {
        "name": "a.service",
        "load_state": "loaded",
        "active_state": "failed",
        "sub_state": "failed",
        "description": "A",
    }
    text = list_units([unit], _args(state=["failed"]), colour=False)
    assert text.splitlines()[-1] == "1 loaded units listed."
    text = list_units([unit], _args(all=True), colour=False)
    assert text.splitlines()[-2:] == [
        "1 loaded units listed.",
        "To show all installed unit files use 'bootup list-unit-files'.",
    ]


def test_exit_status_names_cover_systemds_whole_table() -> None:
    """1/FAILURE, 226/NAMESPACE, 64/USAGE (BSD), 15/TERM for a signal, bare numbers else."""
    from bootup.control.render import exit_status_name

    assert exit_status_name(1, 1) == "1/FAILURE"
    assert exit_status_name(1, 226) == "226/NAMESPACE"
    assert exit_status_name(1, 64) == "64/USAGE"
    assert exit_status_name(2, 15) == "15/TERM"
    assert exit_status_name(1, 150) == "150"
