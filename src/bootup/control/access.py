"""Who may call what on the control socket.

Two layers, as systemd's private socket has: the socket file's mode keeps strangers from
connecting at all (0600, owned by the manager's user: root under /run/bootup in system
mode, the project's owner in DIR/.bootup/), and every call is checked against the peer's
credentials, read with ``SO_PEERCRED`` when the connection is accepted (the kernel's record
of the connecting process, which the peer cannot forge). The explicit rule for wider
access: with ``readers="all"`` the socket is 0666 and any uid may make the read-only calls
(list, show, status, logs, subscribe), while state changes stay with the owner and root.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Final, Literal

from bootup.control.errors import PermissionDeniedError

__all__ = ("AccessPolicy", "Peer", "peer_of")

_UCRED: Final = struct.Struct("3i")


@dataclass(frozen=True, slots=True)
class Peer:
    """The credentials of the process that connected (``struct ucred``)."""

    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    """The peer's credentials of a connected AF_UNIX socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return Peer(pid, uid, gid)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The owner (and root) may do everything; others at most read, when ``readers="all"``."""

    owner_uid: int
    readers: Literal["owner", "all"] = "owner"

    @property
    def socket_mode(self) -> int:
        """The socket file's permission bits."""
        return 0o666 if self.readers == "all" else 0o600

    def allows(self, peer: Peer, *, changes_state: bool) -> bool:
        """Whether ``peer`` may make a call of this kind."""
        if peer.uid in (0, self.owner_uid):
            return True
        return not changes_state and self.readers == "all"

    def check(self, method: str, peer: Peer, *, changes_state: bool) -> None:
        """Raise unless ``peer`` may call ``method``.

        Raises:
            PermissionDeniedError: naming the method, the peer's uid and the owner.
        """
        if not self.allows(peer, changes_state=changes_state):
            raise PermissionDeniedError(
                method, peer.uid, self.owner_uid, changes_state=changes_state
            )
