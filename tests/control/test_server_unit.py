"""The server's own machinery in-process, without a manager: limits, close, socket files.

Only ``org.varlink.service`` calls are made here, which never touch the manager.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from bootup.control.address import SYSTEM_SOCKET, find_socket, project_socket
from bootup.control.protocol import Decoder, encode_call
from bootup.control.server import ControlServer
from bootup.errors import ControlError

INFO = encode_call("org.varlink.service.GetInfo")


async def _call(path: Path, wire: bytes = INFO) -> dict[str, object]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(wire)
        await writer.drain()
        [reply] = Decoder().feed(await reader.readuntil(b"\0"))
        return reply
    finally:
        writer.close()
        await writer.wait_closed()


def _server(path: Path, **kwargs: int) -> ControlServer:
    return ControlServer(None, path, **kwargs)  # type: ignore[arg-type]


def test_connections_beyond_the_cap_are_closed_and_the_rest_served(tmp_path: Path) -> None:
    path = tmp_path / "s" / "control.sock"

    async def main() -> None:
        async with _server(path, max_connections=2) as server:
            held = [await asyncio.open_unix_connection(str(path)) for _ in range(2)]
            for _, writer in held:  # a call on each proves both are being served
                writer.write(INFO)
            for reader, _ in held:
                await reader.readuntil(b"\0")
            assert server.connections == 2
            reader, writer = await asyncio.open_unix_connection(str(path))
            assert await reader.read() == b""  # closed at once, nothing sent
            writer.close()
            assert server.refused_connections == 1
            for _, w in held:
                w.close()
            reply = await _call(path)  # a slot is free again once a client leaves
            assert "parameters" in reply

    asyncio.run(main())


def test_close_ends_idle_and_half_sent_connections_and_removes_the_socket(
    tmp_path: Path,
) -> None:
    path = tmp_path / "control.sock"

    async def main() -> None:
        server = _server(path)
        await server.start()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        idle_reader, idle_writer = await asyncio.open_unix_connection(str(path))
        half_reader, half_writer = await asyncio.open_unix_connection(str(path))
        half_writer.write(INFO[:7])
        await half_writer.drain()
        assert (await _call(path))["parameters"]
        async with asyncio.timeout(60):  # a deadline: close() must not wait for clients
            await server.close()
        assert await idle_reader.read() == b""
        assert await half_reader.read() == b""
        assert not path.exists()
        idle_writer.close()
        half_writer.close()

    asyncio.run(main())


def test_a_file_in_the_way_is_refused_and_a_stale_socket_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("not a socket")

    async def start() -> None:
        async with _server(path):
            assert "parameters" in await _call(path)

    with pytest.raises(ControlError, match="expected a socket or nothing, found another file"):
        asyncio.run(start())
    path.unlink()
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))
    asyncio.run(start())
    assert not path.exists()


def test_socket_appears_only_with_its_final_mode(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    old = os.umask(0)  # even a permissive umask does not leak into the socket's mode
    try:

        async def main() -> None:
            async with _server(path):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600
                assert os.listdir(tmp_path) == ["control.sock"]  # no temporary left

        asyncio.run(main())
    finally:
        os.umask(old)


def test_which_socket_a_client_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOTUP_CONTROL_SOCKET", raising=False)
    project = tmp_path / "proj"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert find_socket(cwd=str(deep)) == SYSTEM_SOCKET  # no running project: the system
    assert find_socket(project=str(project)) == project / ".bootup" / "control.sock"
    (project / ".bootup").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(project_socket(project)))
        assert find_socket(cwd=str(deep)) == project / ".bootup" / "control.sock"
        assert find_socket(cwd=str(deep), system=True) == SYSTEM_SOCKET
    repo = tmp_path / "repo"
    (repo / "units" / ".bootup").mkdir(parents=True)
    (repo / "src").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:  # `bootup up` from the repo: DIR=./units
        sock.bind(str(repo / "units" / ".bootup" / "control.sock"))
        assert find_socket(cwd=str(repo / "src")) == repo / "units" / ".bootup" / "control.sock"
    monkeypatch.setenv("BOOTUP_CONTROL_SOCKET", "/x/y.sock")
    assert find_socket(system=True) == Path("/x/y.sock")
