"""The control server in a real manager process, driven by bootup's client and raw sockets."""

from __future__ import annotations

import asyncio
import socket
import stat
import threading
from pathlib import Path

import pytest

from bootup.control.client import Client
from bootup.control.errors import (
    CallError,
    ConnectError,
    InvalidParameterError,
    MethodNotFoundError,
    NoSuchUnitError,
)
from bootup.control.interface import MANAGER_DESCRIPTION
from bootup.control.methods import METHODS
from bootup.control.protocol import Decoder, encode_call
from bootup.control.server import ControlServer
from bootup.errors import ControlError
from control.manager_proc import RunningManager, spawn, write_project

M = "io.bootup.Manager"


def _state(client: Client, unit: str) -> str:
    props = client.call(f"{M}.GetProperties", {"name": unit, "properties": ["ActiveState"]})
    return str(props["properties"]["ActiveState"])


def test_every_described_method_has_a_handler_and_back() -> None:
    described = {
        line.split()[1].split("(")[0]
        for line in MANAGER_DESCRIPTION.splitlines()
        if line.startswith("method ")
    }
    assert described == set(METHODS)


def test_service_interface(running: RunningManager) -> None:
    with Client(running.socket) as client:
        info = client.call("org.varlink.service.GetInfo")
        assert info["interfaces"] == ["org.varlink.service", M]
        described = client.call("org.varlink.service.GetInterfaceDescription", {"interface": M})
        assert described["description"] == MANAGER_DESCRIPTION
        with pytest.raises(CallError) as caught:
            client.call("org.varlink.service.GetInterfaceDescription", {"interface": "x.Y"})
        assert caught.value.name == "org.varlink.service.InterfaceNotFound"


def test_unknown_methods_and_bad_parameters(running: RunningManager) -> None:
    with Client(running.socket) as client:
        with pytest.raises(MethodNotFoundError, match=f"method {M}.Nope not found"):
            client.call(f"{M}.Nope")
        with pytest.raises(CallError) as caught:
            client.call("com.example.Thing.Do")
        assert caught.value.name == "org.varlink.service.InterfaceNotFound"
        with pytest.raises(InvalidParameterError, match="parameter 'name': expected a non-empty"):
            client.call(f"{M}.GetProperties", {"name": 5})
        with pytest.raises(InvalidParameterError, match="parameter 'type': expected one of"):
            client.call(f"{M}.EnqueueJob", {"unit": "web.service", "type": "explode"})
        with pytest.raises(NoSuchUnitError, match=r"Unit nope\.service not found\.") as missing:
            client.call(f"{M}.GetStatus", {"name": "nope.service"})
        assert missing.value.exit_code == 4
        # The connection is still usable after errors.
        assert _state(client, "web.service") == "active"


def test_list_units_status_and_jobs(running: RunningManager) -> None:
    with Client(running.socket) as client:
        names = [u["name"] for u in client.call(f"{M}.ListUnits")["units"]]
        assert "web.service" in names
        assert "bad.service" not in names  # inactive, no job: only with all
        everything = client.call(f"{M}.ListUnits", {"all": True})["units"]
        assert "bad.service" in [u["name"] for u in everything]
        services = client.call(f"{M}.ListUnits", {"patterns": ["*.service"], "all": True})
        assert {u["name"] for u in services["units"]} >= {"web.service", "bad.service"}
        assert all(u["name"].endswith(".service") for u in services["units"])
        status = client.call(f"{M}.GetStatus", {"name": "web.service", "lines": 5})
        main = int(status["properties"]["MainPID"])
        assert [p["pid"] for p in status["processes"]] == [main]
        assert status["processes"][0]["command"] == "/bin/sleep 600"
        assert any("Started web.service" in e["message"] for e in status["log"])
        assert client.call(f"{M}.ListJobs") == {"jobs": []}


def test_job_results_and_failures(running: RunningManager) -> None:
    with Client(running.socket) as client:
        reply = client.call(f"{M}.EnqueueJob", {"unit": "bad.service", "type": "start"})
        assert reply["result"] == "failed"
        assert _state(client, "bad.service") == "failed"
        props = client.call(f"{M}.GetProperties", {"name": "bad.service"})["properties"]
        assert props["Result"] == "exit-code"
        assert props["FragmentPath"] == str(running.directory / "bad.service")
        reply = client.call(f"{M}.ResetFailed", {"unit": "bad.service"})
        assert reply == {"units": ["bad.service"]}
        assert _state(client, "bad.service") == "inactive"
        done = client.call(f"{M}.EnqueueJob", {"unit": "once.service", "type": "start"})
        assert done["result"] == "done"
        logs = client.call(f"{M}.GetLogs", {"units": ["once.service"], "lines": 50})
        assert "hello-from-once" in [e["message"] for e in logs["entries"]]
        cursor = logs["entries"][0]["cursor"]
        later = client.call(f"{M}.GetLogs", {"units": ["once.service"], "after_cursor": cursor})
        assert [e["cursor"] for e in later["entries"]] == [e["cursor"] for e in logs["entries"][1:]]
        with pytest.raises(InvalidParameterError, match="'lines': expected a count from 0 to"):
            client.call(f"{M}.GetLogs", {"lines": 10**9})
        skipped = client.call(f"{M}.EnqueueJob", {"unit": "once.service", "type": "try-restart"})
        assert skipped == {"job_id": None, "result": "done"}  # not active: nothing to do


def test_subscribe_streams_state_changes_in_order(running: RunningManager) -> None:
    with Client(running.socket) as watcher, Client(running.socket) as actor:
        events = watcher.stream(f"{M}.Subscribe", {"units": ["web.service"]})
        assert next(events) == {"event": "subscribed"}
        reply = actor.call(f"{M}.EnqueueJob", {"unit": "web.service", "type": "restart"})
        assert reply["result"] == "done"
        seen: list[str] = []
        for event in events:
            if event["event"] == "unit":
                seen.append(event["unit"]["new_state"])
            if seen[-2:] == ["activating", "active"]:
                break
        assert seen[0] == "deactivating"
        assert "inactive" in seen


def test_subscribe_needs_more_and_streams_logs(running: RunningManager) -> None:
    with Client(running.socket) as client:
        with pytest.raises(CallError) as caught:
            client.call(f"{M}.Subscribe")
        assert caught.value.name == "org.varlink.service.ExpectedMore"
    with Client(running.socket) as watcher, Client(running.socket) as actor:
        events = watcher.stream(f"{M}.Subscribe", {"units": ["once.service"], "logs": True})
        assert next(events)["event"] == "subscribed"
        actor.call(f"{M}.EnqueueJob", {"unit": "once.service", "type": "start"})
        for event in events:
            if event["event"] == "log" and event["log"]["message"] == "hello-from-once":
                assert event["log"]["unit"] == "once.service"
                break


def test_oneway_more_and_pipelined_calls(running: RunningManager) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(running.socket))
        sock.sendall(
            encode_call(f"{M}.ListJobs", oneway=True)
            + encode_call(f"{M}.ListJobs", more=True)
            + encode_call(f"{M}.GetProperties", {"name": "web.service", "properties": ["Id"]})
        )
        decoder = Decoder()
        replies: list[dict[str, object]] = []
        while len(replies) < 2:
            replies += decoder.feed(sock.recv(65536))
        assert replies == [
            {"parameters": {"jobs": []}},  # more on a plain method: one reply, no continues
            {"parameters": {"properties": {"Id": "web.service"}}},
        ]


def test_socket_is_private_and_a_second_server_is_refused(running: RunningManager) -> None:
    mode = running.socket.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600

    async def second() -> None:
        server = ControlServer(None, running.socket)  # type: ignore[arg-type]
        await server.start()

    with pytest.raises(ControlError, match="another manager is already serving"):
        asyncio.run(second())


def test_stale_socket_is_replaced_and_exit_stops_the_manager(tmp_path: Path) -> None:
    directory = write_project(tmp_path)
    stale = directory / ".bootup" / "control.sock"
    stale.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))  # bound, never listening: what a killed manager leaves
    manager = spawn(directory)
    try:
        with Client(manager.socket) as client:
            assert _state(client, "web.service") == "active"
            assert client.call(f"{M}.Exit", {"exit_code": 7}) == {}
        assert manager.process.wait(timeout=60) == 7
        assert not stale.exists()
        with pytest.raises(ConnectError, match="No such file or directory"):
            Client(stale)
    finally:
        manager.stop()


def test_calls_from_many_threads_share_one_manager(running: RunningManager) -> None:
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with Client(running.socket, timeout=120) as client:
                barrier.wait()
                for _ in range(20):
                    assert _state(client, "web.service") == "active"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
