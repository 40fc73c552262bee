"""reset-failed against a running manager: Varlink ResetFailed and ``bootup reset-failed``."""

from __future__ import annotations

import pytest

from bootup.control.client import Client
from bootup.control.errors import NoSuchUnitError
from control.manager_proc import RunningManager
from control.manager_proc import run_bootup as bootup

M = "io.bootup.Manager"


def _props(client: Client, unit: str, *names: str) -> dict[str, str]:
    reply = client.call(f"{M}.GetProperties", {"name": unit, "properties": list(names)})
    props: dict[str, str] = reply["properties"]
    return props


def _fail_bad(client: Client) -> None:
    reply = client.call(f"{M}.EnqueueJob", {"unit": "bad.service", "type": "start"})
    assert reply["result"] == "failed"


def test_reset_failed_makes_a_failed_unit_inactive_and_tells_subscribers(
    running: RunningManager,
) -> None:
    with Client(running.socket) as client, Client(running.socket) as watcher:
        _fail_bad(client)
        assert _props(client, "bad.service", "ActiveState", "Result") == {
            "ActiveState": "failed",
            "Result": "exit-code",
        }
        events = watcher.stream(f"{M}.Subscribe", {"units": ["bad.service"]})
        assert next(events)["event"] == "subscribed"
        assert client.call(f"{M}.ResetFailed", {"unit": "bad.service"}) == {
            "units": ["bad.service"]
        }
        change = next(events)
        assert change["event"] == "unit"
        assert change["unit"] == {
            "unit": "bad.service",
            "old_state": "failed",
            "new_state": "inactive",
            "sub_state": "dead",
        }
        assert _props(client, "bad.service", "ActiveState", "SubState", "Result", "NRestarts") == {
            "ActiveState": "inactive",
            "SubState": "dead",
            "Result": "success",
            "NRestarts": "0",
        }
        # Nothing failed any more: resetting everything changes nothing.
        assert client.call(f"{M}.ResetFailed", {}) == {"units": []}
        with pytest.raises(NoSuchUnitError, match=r"Unit nope\.service not found"):
            client.call(f"{M}.ResetFailed", {"unit": "nope.service"})


def test_reset_failed_verb_with_globs_and_without_units(running: RunningManager) -> None:
    project = str(running.directory)
    with Client(running.socket) as client:
        _fail_bad(client)
        done = bootup("reset-failed", "--project", project, "ba*")
        assert (done.returncode, done.stderr) == (0, "")
        assert _props(client, "bad.service", "ActiveState")["ActiveState"] == "inactive"
        _fail_bad(client)
    assert bootup("is-failed", "--project", project, "bad").returncode == 0
    done = bootup("reset-failed", cwd=running.directory)  # every unit, project found from cwd
    assert (done.returncode, done.stderr) == (0, "")
    assert bootup("is-failed", "--project", project, "bad").returncode == 1
    done = bootup("reset-failed", "--project", project, "nope")
    assert done.returncode == 1
    assert done.stderr == (
        "Failed to reset failed state of unit nope.service: Unit nope.service not loaded.\n"
    )
