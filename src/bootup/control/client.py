"""A blocking Varlink client for the CLI: one socket, calls answered in order.

Blocking on purpose: a CLI verb makes one or two calls and exits, so an event loop would
only add start-up time (``bootup is-active x`` should cost little more than Python itself).
Error replies become :mod:`bootup.control.errors` exceptions; a dead or missing manager
becomes :class:`ConnectError` naming the socket path.
"""

from __future__ import annotations

# _socket is the C module behind socket: the wrapper module imports enum, selectors and
# collections (about 3 ms at start-up), and this client needs none of what it adds.
import _socket
import errno
import os

from bootup.control.errors import ConnectError, ProtocolError, error_from_reply
from bootup.control.protocol import Decoder, encode_call, parse_reply

# typing costs ~3 ms to import and only the type checker needs it here (the annotations
# are strings, PEP 563); mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType
    from typing import Any

__all__ = ("Client",)


class Client:
    """A connection to a manager's control socket.

    Args:
        path: the socket path (see :func:`bootup.control.address.find_socket`).
        timeout: seconds any single socket operation may block; None waits for ever (a
            ``start`` without ``--no-block`` waits as long as the job runs).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float | None = None) -> None:
        self.path = os.fspath(path)
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError as exc:
            self._sock.close()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            if exc.errno == errno.ENOENT:
                reason += " (is a manager running? `bootup up DIR` serves DIR/.bootup/control.sock)"
            raise ConnectError(self.path, reason) from exc
        self._decoder = Decoder()
        self._ready: list[dict[str, Any]] = []

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()

    def fileno(self) -> int:
        """The socket's descriptor (for select())."""
        return self._sock.fileno()

    def call(self, method: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``method`` and return its reply's parameters.

        Raises:
            CallError: the server answered with an error (the matching subclass if known).
            ConnectError: the manager closed the connection.
        """
        self._sock.sendall(encode_call(method, parameters))
        return self._receive()[0]

    def send_oneway(self, method: str, parameters: dict[str, Any] | None = None) -> None:
        """Call without wanting a reply (Varlink ``oneway``)."""
        self._sock.sendall(encode_call(method, parameters, oneway=True))

    def stream(
        self, method: str, parameters: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Call with ``more`` and yield every reply's parameters until the last one."""
        self._sock.sendall(encode_call(method, parameters, more=True))
        while True:
            reply, continues = self._receive()
            yield reply
            if not continues:
                return

    def _receive(self) -> tuple[dict[str, Any], bool]:
        while not self._ready:
            try:
                data = self._sock.recv(256 * 1024)
            except TimeoutError as exc:
                raise ConnectError(self.path, "timed out waiting for a reply") from exc
            except OSError as exc:
                raise ConnectError(self.path, os.strerror(exc.errno or 0)) from exc
            if not data:
                raise ConnectError(self.path, "the manager closed the connection")
            try:
                self._ready.extend(self._decoder.feed(data))
            except ProtocolError as exc:
                raise ConnectError(self.path, f"bad reply: {exc}") from exc
        reply = parse_reply(self._ready.pop(0))
        if reply.error is not None:
            raise error_from_reply(reply.error, reply.parameters)
        return reply.parameters, reply.continues
