"""Independent Varlink clients against bootup's control socket.

python-varlink is the reference implementation of the protocol (varlink/python); its client
fetches and parses ``io.bootup.Manager``'s interface description, builds calls, reads
``more`` streams and maps error replies, all without any of bootup's code. systemd 252 has
no ``varlinkctl``; when a newer one is installed, it is driven too.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import support
from bootup.control.client import Client
from control.manager_proc import RunningManager, spawn, write_project

pytestmark = pytest.mark.conformance
M = "io.bootup.Manager"


def _varlink() -> Any:
    try:
        return importlib.import_module("varlink")
    except ImportError:
        message = "python-varlink is not installed (pip install varlink)"
        if support.IN_CI:
            pytest.fail(message + "; make test should have installed it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningManager]:
    manager = spawn(write_project(tmp_path_factory.mktemp("varlink")))
    try:
        yield manager
    finally:
        manager.stop()


def test_reference_client_reads_info_and_parses_the_interface(running: RunningManager) -> None:
    varlink = _varlink()
    client = varlink.Client(address=f"unix:{running.socket}")
    try:
        assert client.get_interfaces() == ["org.varlink.service", M]
        interface = client.get_interface(M)  # parsed by python-varlink's own IDL parser
        assert set(interface.members) >= {"ListUnits", "EnqueueJob", "Subscribe", "Unit", "Job"}
        with client.open("org.varlink.service", namespaced=False) as service:
            assert service.GetInfo()["vendor"] == "bootup"
    finally:
        client.cleanup()


def test_reference_client_calls_methods_and_gets_errors(running: RunningManager) -> None:
    varlink = _varlink()
    client = varlink.Client(address=f"unix:{running.socket}")
    try:
        with client.open(M, namespaced=False) as manager:
            units = manager.ListUnits(patterns=["web.*"], all=True)["units"]
            assert [u["name"] for u in units] == ["web.service"]
            assert units[0]["active_state"] == "active"
            props = manager.GetProperties("web.service", ["ActiveState", "SubState"])
            assert props == {"properties": {"ActiveState": "active", "SubState": "running"}}
            with pytest.raises(varlink.VarlinkError) as caught:
                manager.GetStatus("nope.service")
            assert caught.value.error() == f"{M}.NoSuchUnit"
            assert caught.value.parameters()["unit"] == "nope.service"
            reply = manager.EnqueueJob("bad.service", "start")
            assert reply["result"] == "failed"
    finally:
        client.cleanup()


def test_reference_client_streams_with_more(running: RunningManager) -> None:
    varlink = _varlink()
    client = varlink.Client(address=f"unix:{running.socket}")
    try:
        with client.open(M, namespaced=False) as watcher:
            events = watcher.Subscribe(units=["once.service"], _more=True)
            assert next(events)["event"] == "subscribed"
            with Client(running.socket) as actor:  # another connection acts meanwhile
                actor.call(f"{M}.EnqueueJob", {"unit": "once.service", "type": "start"})
            states = []
            for event in events:
                if event["event"] == "unit":
                    states.append(event["unit"]["new_state"])
                if states and states[-1] == "inactive":
                    break
            assert states[0] == "activating"
    finally:
        client.cleanup()


def test_varlinkctl_when_installed(running: RunningManager) -> None:
    tool = shutil.which("varlinkctl")
    if tool is None:
        pytest.skip("varlinkctl is not in systemd 252; nothing to drive")
    done = subprocess.run(
        [tool, "call", str(running.socket), f"{M}.ListJobs", "{}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"jobs"' in done.stdout
