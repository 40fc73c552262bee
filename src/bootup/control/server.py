"""The manager's side of the control socket: an asyncio AF_UNIX Varlink server.

Design. One task per connection reads bytes into a sans-IO :class:`Decoder` and answers
calls one at a time, in order, as Varlink requires. Nothing a peer sends can hurt the
manager: the decoder bounds the buffer (16 MiB), a protocol violation gets an error reply
and the connection is closed, a handler's unexpected exception becomes an error reply (and
a log line), and the number of connections is capped (beyond it new ones are closed at
once). Access is checked per call against ``SO_PEERCRED`` (:mod:`bootup.control.access`).
A ``more`` stream watches its connection for EOF, so a client that goes away ends its
subscription; bytes sent meanwhile are kept (bounded) and answered after the stream.

Start it with one call next to a running :class:`~bootup.runtime.Manager`::

    server = await serve(manager, project_socket(directory))
    ...
    await server.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

from bootup import __version__
from bootup.control.access import AccessPolicy, Peer, peer_of
from bootup.control.errors import (
    INTERFACE,
    SERVICE,
    CallError,
    MethodNotFoundError,
    NotSupportedCallError,
    ProtocolError,
)
from bootup.control.interface import MANAGER_DESCRIPTION, SERVICE_DESCRIPTION
from bootup.control.methods import METHODS, Method, Params, ServerHooks
from bootup.control.protocol import (
    MAX_MESSAGE,
    Call,
    Decoder,
    encode_error,
    encode_reply,
    parse_call,
)
from bootup.errors import ControlError, Error, NotSupportedError

if TYPE_CHECKING:
    from bootup.runtime.manager import Manager

__all__ = ("ControlServer", "serve")

logger = logging.getLogger(__name__)

#: Connections served at once; more are closed on accept (file descriptors are finite).
MAX_CONNECTIONS: Final = 8192
_BACKLOG: Final = 4096
_READ_SIZE: Final = 256 * 1024
_DESCRIPTIONS: Final = {SERVICE: SERVICE_DESCRIPTION, INTERFACE: MANAGER_DESCRIPTION}


class _Closed(Exception):
    """The connection must be closed (protocol error already answered, or EOF)."""


class ControlServer:
    """A Varlink server for one manager on one socket path.

    Args:
        manager: the running manager the calls act on.
        path: the socket path (its directory is created, mode 0755).
        policy: who may call what; by default only the current uid (and root).
        on_exit: called with the exit code on ``Exit`` (``systemctl exit``); None refuses.
        max_connections: connections served at once.
    """

    def __init__(
        self,
        manager: Manager,
        path: str | os.PathLike[str],
        *,
        policy: AccessPolicy | None = None,
        on_exit: Callable[[int], None] | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.manager = manager
        self.path = Path(path)
        self.policy = policy or AccessPolicy(os.getuid())
        self.hooks = ServerHooks(on_exit=on_exit)
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._inode: tuple[int, int] | None = None
        self._closing = False
        #: Calls answered and connections refused, for tests and benchmarks.
        self.calls = 0
        self.refused_connections = 0

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket (atomically, with its final mode) and start accepting.

        Raises:
            ControlError: another manager already serves this path, or it cannot be bound.
        """
        _raise_fd_limit()
        sock = _bind(self.path, self.policy.socket_mode)
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        self._server = await asyncio.start_unix_server(
            self._accept, sock=sock, limit=_READ_SIZE, backlog=_BACKLOG
        )
        logger.info("control socket listening on %s", self.path)

    async def close(self) -> None:
        """Stop accepting, end every connection and remove the socket file."""
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        if self._inode is not None:
            with contextlib.suppress(OSError):
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.path)
            self._inode = None

    @property
    def connections(self) -> int:
        """Connections open right now."""
        return len(self._connections)

    # --- connections ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.max_connections:
            self.refused_connections += 1
            writer.close()
            return
        self._connections.add(task)
        try:
            sock = writer.get_extra_info("socket")
            peer = peer_of(sock)
            await _Connection(self, reader, writer, peer).run()
        except (ConnectionError, OSError, _Closed):
            pass
        except asyncio.CancelledError:
            # close() ends connections by cancelling them; end quietly (asyncio's stream
            # callback would otherwise report the cancelled task as an error).
            if not self._closing:
                raise
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _Connection:
    """One client: its decoder, its credentials and the calls not answered yet."""

    def __init__(
        self,
        server: ControlServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: Peer,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.decoder = Decoder()
        self.queued: list[dict[str, Any]] = []

    async def run(self) -> None:
        while True:
            while self.queued:
                await self._answer(self.queued.pop(0))
            data = await self.reader.read(_READ_SIZE)
            if not data:
                return
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            self.queued.extend(self.decoder.feed(data))
        except ProtocolError as exc:
            self._send(encode_error(f"{INTERFACE}.ProtocolError", {"message": str(exc)}))
            raise _Closed from exc
        if len(self.queued) > 4096:  # pipelined without reading replies: refuse to hoard
            self._send(
                encode_error(
                    f"{INTERFACE}.ProtocolError",
                    {"message": "more than 4096 calls pipelined, expected at most 4096"},
                )
            )
            raise _Closed

    def _send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def _flush(self) -> None:
        await self.writer.drain()

    async def _answer(self, message: dict[str, Any]) -> None:
        try:
            call = parse_call(message)
        except ProtocolError as exc:
            self._send(encode_error(f"{INTERFACE}.ProtocolError", {"message": str(exc)}))
            raise _Closed from exc
        self.server.calls += 1
        try:
            if call.upgrade:
                raise NotSupportedCallError("protocol upgrade")
            if call.interface == SERVICE:
                reply = self._service_call(call)
                if not call.oneway:
                    self._send(encode_reply(reply))
            else:
                await self._manager_call(call)
        except CallError as exc:
            if not call.oneway:
                self._send(encode_error(exc.name, exc.parameters))
        await self._flush()

    def _service_call(self, call: Call) -> Params:
        if call.member == "GetInfo":
            return {
                "vendor": "bootup",
                "product": "bootup service manager",
                "version": __version__,
                "url": "",  # the project publishes no URL yet; Varlink allows an empty one
                "interfaces": [SERVICE, INTERFACE],
            }
        if call.member == "GetInterfaceDescription":
            name = call.parameters.get("interface")
            if not isinstance(name, str) or name not in _DESCRIPTIONS:
                raise CallError(
                    f"interface {name!r:.80} not found",
                    name=f"{SERVICE}.InterfaceNotFound",
                    parameters={"interface": name if isinstance(name, str) else ""},
                )
            return {"description": _DESCRIPTIONS[name]}
        raise MethodNotFoundError(call.method)

    async def _manager_call(self, call: Call) -> None:
        if call.interface != INTERFACE:
            raise CallError(
                f"interface {call.interface} not found",
                name=f"{SERVICE}.InterfaceNotFound",
                parameters={"interface": call.interface},
            )
        method = METHODS.get(call.member)
        if method is None:
            raise MethodNotFoundError(call.method)
        self.server.policy.check(call.method, self.peer, changes_state=method.changes_state)
        if method.streams:
            if not call.more:
                raise CallError(
                    f"{call.method} streams its replies: call it with more",
                    name=f"{SERVICE}.ExpectedMore",
                )
            await self._stream(method, call)
            return
        assert method.handler is not None
        reply = await _guard(
            call.method, method.handler(self.server.manager, call.parameters, self.server.hooks)
        )
        if call.oneway:
            return
        wire = encode_reply(reply)
        if len(wire) > MAX_MESSAGE:  # a peer could not accept it; say so instead
            raise CallError(
                f"{call.method}: the reply is {len(wire)} bytes, more than a message may be "
                f"({MAX_MESSAGE}); ask for less",
                name=f"{INTERFACE}.Failed",
            )
        self._send(wire)

    async def _stream(self, method: Method, call: Call) -> None:
        assert method.streamer is not None
        stream = method.streamer(self.server.manager, call.parameters, self.server.hooks)
        eof = asyncio.ensure_future(self._watch_eof())
        try:
            while True:
                step = asyncio.ensure_future(_guard(call.method, anext(stream)))
                done, _ = await asyncio.wait({step, eof}, return_when=asyncio.FIRST_COMPLETED)
                if step not in done:
                    step.cancel()
                    with contextlib.suppress(BaseException):
                        await step
                    raise _Closed
                try:
                    reply = step.result()
                except StopAsyncIteration:
                    break
                self._send(encode_reply(reply, continues=True))
                await self._flush()
        finally:
            eof.cancel()
            with contextlib.suppress(BaseException):
                await eof
            await stream.aclose()
        self._send(encode_reply({"event": "end"}))

    async def _watch_eof(self) -> None:
        """Read while a stream runs: keep pipelined calls, return on EOF or a bad message."""
        while True:
            data = await self.reader.read(_READ_SIZE)
            if not data:
                return
            try:
                self._feed(data)
            except _Closed:
                return


async def _guard(method: str, awaitable: Any) -> Any:
    """Await a handler step, turning every failure into a :class:`CallError`."""
    try:
        return await awaitable
    except (CallError, StopAsyncIteration):
        raise
    except NotSupportedError as exc:
        raise CallError(
            str(exc), name=f"{INTERFACE}.NotSupported", parameters={"what": method}
        ) from exc
    except Error as exc:
        raise CallError(str(exc), name=f"{INTERFACE}.Failed") from exc
    except Exception as exc:  # a bug must not take the manager down: log it, answer it
        logger.exception("control call %s failed", method)
        raise CallError(
            f"{method} failed: {type(exc).__name__}: {exc}", name=f"{INTERFACE}.Failed"
        ) from exc


def _raise_fd_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard one (systemd does the same), for many clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _bind(path: Path, mode: int) -> socket.socket:
    """Create the listening socket at ``path`` with ``mode`` from its first moment.

    The socket is bound under a temporary name with a restrictive umask, given its mode,
    and renamed into place, so no client ever sees it with looser permissions. A stale
    socket (nobody accepts on it) is replaced; a live one is an error.
    """
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if not path.is_socket():
            raise ControlError(f"{path}: expected a socket or nothing, found another file")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # stale: left by a manager that died
        else:
            raise ControlError(f"{path}: another manager is already serving this socket")
        finally:
            probe.close()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        old = os.umask(0o177)
        try:
            sock.bind(str(tmp))
        finally:
            os.umask(old)
        os.chmod(tmp, mode)
        sock.listen(_BACKLOG)
        os.replace(tmp, path)
    except OSError as exc:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ControlError(f"{path}: cannot create the control socket: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


async def serve(
    manager: Manager,
    path: str | os.PathLike[str],
    *,
    readers: Literal["owner", "all"] = "owner",
    on_exit: Callable[[int], None] | None = None,
) -> ControlServer:
    """Start serving ``manager`` on ``path``; return the server (``await server.close()``).

    The owner is the current uid (root for the system manager under /run/bootup); with
    ``readers="all"`` other users may make read-only calls.
    """
    server = ControlServer(
        manager, path, policy=AccessPolicy(os.getuid(), readers), on_exit=on_exit
    )
    await server.start()
    return server
