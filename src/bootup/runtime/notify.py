"""The sd_notify server: the manager's end of ``$NOTIFY_SOCKET`` (sd_notify(3)).

Services report readiness and status by sending datagrams of newline-separated ``KEY=VALUE``
lines (``READY=1``, ``STATUS=...``, ``MAINPID=...``) to an ``AF_UNIX`` ``SOCK_DGRAM`` socket
named by ``$NOTIFY_SOCKET``; a leading ``@`` names the Linux abstract namespace. The sender is
identified by the kernel: with ``SO_PASSCRED`` on the receiving socket every datagram carries
``SCM_CREDENTIALS`` (pid, uid, gid) that the sender cannot forge without privileges.

What the server does, following systemd 252's ``manager_dispatch_notify_fd()``:

* it accepts datagrams of at most :data:`NOTIFY_BUFFER_MAX` bytes (``PIPE_BUF``); a longer one
  arrives truncated and is ignored with a warning, as are datagrams with a NUL byte (one
  trailing NUL is allowed) and ones without credentials;
* file descriptors passed with ``SCM_RIGHTS`` are closed at once (bootup has no fd store yet,
  so ``FDSTORE=1`` is logged as not supported and its fds are closed too). Closing them is also
  what answers ``BARRIER=1`` (sd_notify_barrier(3)): ``systemd-notify`` sends one after its
  message and waits until the manager has closed the fd;
* ``systemd-notify`` run by root sends the credentials of its *parent* (the service), and with
  ``--pid=N`` its own pid plus ``MAINPID=N``: the pid a message is attributed to is the one in
  :attr:`NotifyMessage.pid`, always;
* a line without ``=`` or that is not UTF-8 is logged and skipped; for a repeated key the first
  one counts (systemd looks tags up with ``strv_find_startswith()``);
* the callback's exceptions are logged; nothing a client sends can stop the server.

The socket is registered with ``loop.add_reader``: no thread and no polling.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final

from bootup.errors import ManagerError

__all__ = (
    "NOTIFY_BUFFER_MAX",
    "NOTIFY_FD_MAX",
    "NotifyError",
    "NotifyMessage",
    "NotifyServer",
    "parse_notify_datagram",
)

logger = logging.getLogger(__name__)

#: The largest datagram systemd accepts (``NOTIFY_BUFFER_MAX`` = ``PIPE_BUF``).
NOTIFY_BUFFER_MAX: Final = 4096
#: How many passed fds one datagram may carry before the control data is truncated.
NOTIFY_FD_MAX: Final = 768
#: The receive buffer systemd asks for (``NOTIFY_RCVBUF_SIZE``), so bursts are not dropped.
_RCVBUF: Final = 8 * 2**20
#: Datagrams handled per wake-up before yielding to the rest of the event loop.
_BURST: Final = 64
_UCRED: Final = struct.Struct("iII")
_ANCILLARY: Final = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(
    NOTIFY_FD_MAX * array.array("i").itemsize
)
_SUN_PATH_MAX: Final = 108


class NotifyError(ManagerError):
    """The notify socket could not be set up.

    Attributes:
        path: the ``$NOTIFY_SOCKET`` address concerned.
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(f"notify socket {path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class NotifyMessage:
    """One accepted sd_notify datagram.

    ``pid``/``uid``/``gid`` come from the kernel (``SCM_CREDENTIALS``), not from the text;
    ``fields`` maps each key to its value (``{"READY": "1", "STATUS": "up"}``).
    """

    pid: int | None
    fields: dict[str, str]
    uid: int | None = None
    gid: int | None = None
    #: How many fds came with the datagram (all of them were closed).
    fds: int = field(default=0)


def parse_notify_datagram(data: bytes) -> tuple[dict[str, str], list[str]]:
    """Parse the text of a datagram into fields, and the problems found on the way.

    Returns the fields (first occurrence of a key wins) and one message per skipped line.
    Raises nothing: a bad line is a problem, not an exception.
    """
    fields: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"line {number}: not UTF-8, ignoring: {raw!r}")
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            problems.append(f"line {number}: expected KEY=VALUE, found {line!r}, ignoring")
            continue
        fields.setdefault(key, value)
    return fields, problems


class NotifyServer:
    """Receives sd_notify datagrams on ``path`` and hands each to ``on_message``.

    ``on_message`` runs on the event loop, once per accepted datagram, in arrival order.
    """

    def __init__(self, path: Path, on_message: Callable[[NotifyMessage], None]) -> None:
        self.path = path
        self._on_message = on_message
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bound_file: Path | None = None
        #: Datagrams ignored since start (malformed, too long, no credentials): for tests.
        self.rejected = 0

    @property
    def address(self) -> str:
        """The address exactly as ``$NOTIFY_SOCKET`` spells it."""
        return str(self.path)

    async def start(self) -> None:
        """Bind the socket and start receiving; a stale socket file at ``path`` is replaced.

        Raises:
            NotifyError: the address is too long, taken by a non-socket file, or cannot be bound.
        """
        if self._sock is not None:
            raise NotifyError("already started", self.path)
        text = str(self.path)
        abstract = text.startswith("@")
        address = "\0" + text[1:] if abstract else text
        if len(os.fsencode(address)) >= _SUN_PATH_MAX:
            raise NotifyError(
                f"address is {len(os.fsencode(address))} bytes, expected fewer than "
                f"{_SUN_PATH_MAX} (sun_path)",
                self.path,
            )
        if not abstract:
            self._remove_stale()
        sock = socket.socket(
            socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        )
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise NotifyError(f"cannot bind: {exc.strerror or exc}", self.path) from exc
        self._bound_file = None if abstract else Path(text)
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._on_readable)

    async def close(self) -> None:
        """Stop receiving, close the socket and remove its file."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
        sock.close()
        if self._bound_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._bound_file.unlink()
            self._bound_file = None

    async def __aenter__(self) -> NotifyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _remove_stale(self) -> None:
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise NotifyError("exists and is not a socket, refusing to replace it", self.path)
        self.path.unlink()

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_BURST):
            try:
                data, ancdata, flags, _addr = sock.recvmsg(
                    NOTIFY_BUFFER_MAX + 1, _ANCILLARY, socket.MSG_TRUNC | socket.MSG_CMSG_CLOEXEC
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                logger.exception("notify socket %s: receiving failed", self.path)
                return
            try:
                self._handle(data, ancdata, flags)
            except Exception:
                logger.exception("notify socket %s: handling a datagram failed", self.path)

    def _handle(self, data: bytes, ancdata: list[tuple[int, int, bytes]], flags: int) -> None:
        pid = uid = gid = None
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level != socket.SOL_SOCKET:
                continue
            if kind == socket.SCM_RIGHTS:
                received = array.array("i")
                usable = len(payload) - len(payload) % received.itemsize
                received.frombytes(payload[:usable])
                fds.extend(received)
            elif kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
                pid, uid, gid = _UCRED.unpack_from(payload)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if flags & socket.MSG_CTRUNC:
            self._reject("control data truncated (too many fds?), ignoring")
            return
        if flags & socket.MSG_TRUNC or len(data) > NOTIFY_BUFFER_MAX:
            self._reject(f"datagram exceeds {NOTIFY_BUFFER_MAX} bytes, ignoring (pid {pid})")
            return
        if not data:
            self._reject(f"empty datagram, ignoring (pid {pid})")
            return
        if b"\0" in data[:-1]:
            self._reject(f"datagram with an embedded NUL byte, ignoring (pid {pid})")
            return
        if pid is None or pid <= 0:
            self._reject("datagram without valid credentials, ignoring")
            return
        fields, problems = parse_notify_datagram(data.rstrip(b"\0"))
        for problem in problems:
            logger.warning("notify socket %s: pid %d: %s", self.path, pid, problem)
        if fds and fields.get("FDSTORE") == "1":
            logger.warning(
                "notify socket %s: pid %d: FDSTORE=1 is not supported yet, closed %d fds",
                self.path,
                pid,
                len(fds),
            )
        elif fds and fields.get("BARRIER") == "1":
            # sd_notify_barrier(3): the client waits until every copy of its fd is closed.
            logger.debug("notify socket %s: pid %d: barrier", self.path, pid)
        elif fds:
            logger.warning(
                "notify socket %s: pid %d: closed %d unexpected fds", self.path, pid, len(fds)
            )
        if not fields:
            self._reject(f"no KEY=VALUE lines in the datagram, ignoring (pid {pid})")
            return
        self._on_message(NotifyMessage(pid=pid, fields=fields, uid=uid, gid=gid, fds=len(fds)))

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        logger.warning("notify socket %s: %s", self.path, reason)
