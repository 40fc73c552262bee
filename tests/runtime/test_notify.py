"""NotifyServer against real sockets: raw datagrams, credentials, fds, limits, bad input."""

from __future__ import annotations

import array
import asyncio
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bootup.runtime.notify import (
    NOTIFY_BUFFER_MAX,
    NotifyError,
    NotifyMessage,
    NotifyServer,
    parse_notify_datagram,
)

Scenario = Callable[[NotifyServer, "asyncio.Queue[NotifyMessage]"], Awaitable[None]]


def _address(server: NotifyServer) -> str:
    text = str(server.path)
    return "\0" + text[1:] if text.startswith("@") else text


def _send(server: NotifyServer, data: bytes, fds: list[int] | None = None) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        if fds:
            client.sendmsg(
                [data],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())],
                0,
                _address(server),
            )
        else:
            client.sendto(data, _address(server))


def _run(path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        queue: asyncio.Queue[NotifyMessage] = asyncio.Queue()
        server = NotifyServer(path, queue.put_nowait)
        await server.start()
        try:
            await asyncio.wait_for(scenario(server, queue), timeout=60)
        finally:
            await server.close()

    asyncio.run(main(), debug=True)


def test_ready_and_status_with_kernel_credentials(tmp_path: Path) -> None:
    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        _send(server, b"READY=1\nSTATUS=Serving on :80\n")
        message = await queue.get()
        assert message.fields == {"READY": "1", "STATUS": "Serving on :80"}
        assert (message.pid, message.uid, message.gid) == (os.getpid(), os.getuid(), os.getgid())
        assert message.fds == 0

    _run(tmp_path / "notify", scenario)
    assert not (tmp_path / "notify").exists(), "close() removes the socket file"


def test_abstract_namespace_address() -> None:
    name = f"@bootup-test-notify-{os.getpid()}"

    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        assert server.address == name
        _send(server, b"STOPPING=1")
        assert (await queue.get()).fields == {"STOPPING": "1"}

    _run(Path(name), scenario)


def test_socket_file_is_a_socket_and_stale_one_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()

    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        _send(server, b"READY=1")
        assert (await queue.get()).fields == {"READY": "1"}

    _run(path, scenario)


def test_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    path.write_text("keep me")

    async def main() -> None:
        with pytest.raises(NotifyError, match="not a socket") as info:
            await NotifyServer(path, lambda _m: None).start()
        assert info.value.path == path

    asyncio.run(main())
    assert path.read_text() == "keep me"


def test_too_long_path_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 120)

    async def main() -> None:
        with pytest.raises(NotifyError, match=r"expected fewer than 108"):
            await NotifyServer(path, lambda _m: None).start()

    asyncio.run(main())


def test_size_limit_is_pipe_buf(tmp_path: Path) -> None:
    """4096 bytes pass, 4097 are dropped (systemd's NOTIFY_BUFFER_MAX); the server goes on."""
    exact = b"STATUS=" + b"a" * (NOTIFY_BUFFER_MAX - len(b"STATUS="))
    assert len(exact) == NOTIFY_BUFFER_MAX

    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        _send(server, exact + b"b")
        _send(server, exact)
        message = await queue.get()
        assert message.fields["STATUS"] == "a" * (NOTIFY_BUFFER_MAX - 7)
        assert server.rejected == 1

    _run(tmp_path / "n", scenario)


def test_malformed_datagrams_are_ignored_and_the_server_survives(tmp_path: Path) -> None:
    bad = [b"", b"READY=1\0STATUS=x", b"no equals sign", b"=value", b"\xff\xfe=1"]

    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        for datagram in bad:
            _send(server, datagram)
        _send(server, b"garbage line\nREADY=1\n\xffbad\nSTATUS=ok\0")  # one trailing NUL is fine
        message = await queue.get()
        assert message.fields == {"READY": "1", "STATUS": "ok"}
        assert server.rejected == len(bad)
        assert queue.empty()

    _run(tmp_path / "n", scenario)


def test_callback_exception_does_not_stop_the_server(tmp_path: Path) -> None:
    async def main() -> None:
        seen: asyncio.Queue[NotifyMessage] = asyncio.Queue()

        def on_message(message: NotifyMessage) -> None:
            seen.put_nowait(message)
            if message.fields.get("BOOM"):
                raise RuntimeError("callback failed")

        async with NotifyServer(tmp_path / "n", on_message) as server:
            _send(server, b"BOOM=1")
            _send(server, b"READY=1")
            assert (await asyncio.wait_for(seen.get(), 60)).fields == {"BOOM": "1"}
            assert (await asyncio.wait_for(seen.get(), 60)).fields == {"READY": "1"}

    asyncio.run(main())


def test_passed_fds_are_closed_which_releases_a_barrier(tmp_path: Path) -> None:
    """sd_notify_barrier(3): the client knows the manager got its message when the fd closes."""

    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        read_end, write_end = os.pipe()
        try:
            _send(server, b"BARRIER=1", [write_end])
            os.close(write_end)
            message = await queue.get()
            assert message.fields == {"BARRIER": "1"}
            assert message.fds == 1
            # EOF only once every copy of the write end is closed, the server's included.
            assert await asyncio.to_thread(os.read, read_end, 1) == b""
        finally:
            os.close(read_end)

    _run(tmp_path / "n", scenario)


def test_unexpected_and_fdstore_fds_are_closed_too(tmp_path: Path) -> None:
    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        for text in (b"READY=1", b"FDSTORE=1\nFDNAME=db"):
            read_end, write_end = os.pipe()
            _send(server, text, [write_end, write_end])
            os.close(write_end)
            assert (await queue.get()).fds == 2
            assert await asyncio.to_thread(os.read, read_end, 1) == b""
            os.close(read_end)

    _run(tmp_path / "n", scenario)


def test_burst_of_datagrams_arrives_in_order(tmp_path: Path) -> None:
    count = 500

    async def scenario(server: NotifyServer, queue: asyncio.Queue[NotifyMessage]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.connect(_address(server))
            client.setblocking(False)
            for index in range(count):
                await asyncio.get_running_loop().sock_sendall(client, f"STATUS={index}".encode())
        statuses = [(await queue.get()).fields["STATUS"] for _ in range(count)]
        assert statuses == [str(index) for index in range(count)]

    _run(tmp_path / "n", scenario)


def test_close_is_idempotent_and_start_twice_refused(tmp_path: Path) -> None:
    async def main() -> None:
        server = NotifyServer(tmp_path / "n", lambda _m: None)
        await server.start()
        with pytest.raises(NotifyError, match="already started"):
            await server.start()
        await server.close()
        await server.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("data", "fields", "problems"),
    [
        (b"READY=1", {"READY": "1"}, 0),
        (b"STATUS=a=b\nSTATUS=second", {"STATUS": "a=b"}, 0),
        (b"\n\nMAINPID=42\n", {"MAINPID": "42"}, 0),
        (b"STATUS=\n", {"STATUS": ""}, 0),
        (b"junk\nREADY=1", {"READY": "1"}, 1),
        (b"\xc3(=1", {}, 1),
    ],
)
def test_parse_notify_datagram(data: bytes, fields: dict[str, str], problems: int) -> None:
    parsed, found = parse_notify_datagram(data)
    assert parsed == fields
    assert len(found) == problems
