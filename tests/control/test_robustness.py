"""Whatever a peer sends, the manager answers or hangs up, and keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootup.control.client import Client
from bootup.control.protocol import MAX_MESSAGE, Decoder, encode_call
from control.manager_proc import RunningManager

M = "io.bootup.Manager"


def _alive(running: RunningManager) -> None:
    """The manager process still runs and answers a fresh client."""
    assert running.process.poll() is None
    with Client(running.socket, timeout=120) as client:
        props = client.call(f"{M}.GetProperties", {"name": "web.service"})["properties"]
        assert props["ActiveState"] == "active"


def _read_until_closed(sock: socket.socket) -> list[dict[str, object]]:
    """Every message the server sends until it closes the connection."""
    decoder = Decoder()
    messages: list[dict[str, object]] = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return messages  # closed with our bytes unread: the kernel resets, also a refusal
        if not data:
            return messages
        messages += decoder.feed(data)


def _connect(running: RunningManager) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(120)
    sock.connect(str(running.socket))
    return sock


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b"{not json}\0", "expected JSON"),
        (b"[1]\0", "expected a JSON object, found list"),
        (b'{"method": 3}\0', "call field 'method'"),
        (b'{"method":"a.B","more":"x"}\0', "call field 'more'"),
        (b"\xff\xfe\0", "expected UTF-8"),
    ],
)
def test_malformed_message_gets_an_error_then_the_connection_closes(
    running: RunningManager, wire: bytes, expected: str
) -> None:
    with _connect(running) as sock:
        sock.sendall(wire)
        [reply] = _read_until_closed(sock)
    assert reply["error"] == f"{M}.ProtocolError"
    assert expected in str(reply["parameters"])
    _alive(running)


@pytest.mark.slow
def test_oversized_message_is_refused_without_buffering_it_all(running: RunningManager) -> None:
    with _connect(running) as sock:
        chunk = b" " * 2**20
        sent = 0
        try:
            sock.sendall(b'{"method":"x.Y","parameters":{"pad":"')
            while sent <= MAX_MESSAGE + 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up on us mid-send: also a refusal
        replies = _read_until_closed(sock)
    assert replies == [] or replies[0]["error"] == f"{M}.ProtocolError"
    if replies:
        assert f"exceeds {MAX_MESSAGE} bytes" in str(replies[0]["parameters"])
    _alive(running)


def test_half_sent_message_does_not_block_other_clients(running: RunningManager) -> None:
    wire = encode_call(f"{M}.ListUnits")
    with _connect(running) as stuck:
        stuck.sendall(wire[: len(wire) // 2])
        _alive(running)  # served while the half message waits
        stuck.sendall(wire[len(wire) // 2 :])  # completing it later still works
        decoder = Decoder()
        replies: list[dict[str, object]] = []
        while not replies:
            replies = decoder.feed(stuck.recv(65536))
        assert "units" in replies[0]["parameters"]  # type: ignore[operator]
    with _connect(running) as gone:
        gone.sendall(wire[:10])  # and a client that leaves mid-message is just dropped
    _alive(running)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=2000))
def test_fuzz_random_bytes(running: RunningManager, data: bytes) -> None:
    with _connect(running) as sock:
        sock.sendall(data + b"\0")
        sock.shutdown(socket.SHUT_WR)
        for reply in _read_until_closed(sock):
            assert "error" in reply or "parameters" in reply
    _alive(running)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(
        [f"{M}.ListUnits", f"{M}.GetProperties", f"{M}.GetStatus", f"{M}.KillUnit", "a.B"]
    ),
    parameters=st.dictionaries(
        st.sampled_from(["name", "unit", "signal", "lines", "patterns", "whom", "x"]),
        st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
        max_size=3,
    ),
    cut=st.integers(min_value=0, max_value=200),
)
def test_fuzz_truncated_and_mistyped_calls(
    running: RunningManager, method: str, parameters: dict[str, object], cut: int
) -> None:
    if method == f"{M}.KillUnit":
        parameters["signal"] = 0  # never actually signal the test's processes
    wire = json.dumps({"method": method, "parameters": parameters}).encode()
    truncated = wire[: min(cut, len(wire))]
    with _connect(running) as sock:
        sock.sendall(truncated + b"\0")
        sock.shutdown(socket.SHUT_WR)
        replies = _read_until_closed(sock)
    assert len(replies) <= 1
    _alive(running)


@pytest.mark.slow
def test_a_thousand_concurrent_clients_are_served(running: RunningManager) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

    async def one(gate: asyncio.Event) -> str:
        reader, writer = await asyncio.open_unix_connection(str(running.socket))
        try:
            await gate.wait()  # every client is connected before any calls
            writer.write(encode_call(f"{M}.GetStatus", {"name": "web.service", "lines": 1}))
            await writer.drain()
            raw = await reader.readuntil(b"\0")
            return str(json.loads(raw[:-1])["parameters"]["properties"]["ActiveState"])
        finally:
            writer.close()
            await writer.wait_closed()

    async def main() -> list[str]:
        gate = asyncio.Event()
        async with asyncio.timeout(300):  # a deadline, not a sleep: a stuck server fails
            tasks = [asyncio.create_task(one(gate)) for _ in range(1000)]
            await asyncio.sleep(0)
            gate.set()
            return await asyncio.gather(*tasks)

    states = asyncio.run(main())
    assert states == ["active"] * 1000
    _alive(running)
