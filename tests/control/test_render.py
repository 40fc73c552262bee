"""systemctl's text layouts, from replies built by hand."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from bootup.control.render import exit_status_name, list_jobs, list_units, relative, status

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


def test_process_tree_nests_children() -> None:
    reply = _reply(ActiveState="active", SubState="running", MainPID="10")
    reply["processes"] = [
        {"pid": 10, "ppid": 1, "command": "/bin/sh -c x"},
        {"pid": 11, "ppid": 10, "command": "sleep 1"},
        {"pid": 12, "ppid": 10, "command": "sleep 2"},
    ]
    lines = status(reply, colour=False, now_usec=NOW).splitlines()
    assert lines[-4:] == [
        "      Tasks: 3",
        "  Processes: \u2514\u250010 /bin/sh -c x",
        "               \u251c\u250011 sleep 1",
        "               \u2514\u250012 sleep 2",
    ]
    assert lines[3] == "   Main PID: 10 (sh)"


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
        "\u00d7 a.service loaded failed failed       A",
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
        "JOB UNIT      TYPE  STATE\n  3 bb.target start waiting\n\n1 jobs listed.\n"
    )
    assert list_jobs([], _args()) == "No jobs running.\n"
