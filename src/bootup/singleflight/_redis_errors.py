"""Errors of the fleet-wide (Redis) singleflight groups.

They live in their own leaf module so that the serializer, the protocol drivers and the
public groups can all raise them without importing each other.
"""

from __future__ import annotations

from bootup.errors import SingleflightError

__all__ = ("RedisUnavailableError", "RemoteError", "SerializationError")


class RemoteError(SingleflightError):
    """The work failed in another process with an exception that cannot be rebuilt here.

    The leader sends every error as its type name, message and traceback text (never as a
    pickle). A waiter re-raises the same type when that type is already imported here and
    can be constructed from the sent arguments; otherwise it raises this error, which keeps
    everything that crossed the wire.

    Attributes:
        type_name: the dotted name of the remote exception's type (``module.QualName``).
        message: ``str()`` of the remote exception.
        remote_traceback: the formatted traceback from the leader's process.
        origin: ``host:pid`` of the process that ran the work.
    """

    def __init__(
        self, type_name: str, message: str, remote_traceback: str = "", origin: str = ""
    ) -> None:
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback
        self.origin = origin
        where = f" in {origin}" if origin else ""
        super().__init__(f"{type_name}: {message} (raised{where}; see .remote_traceback)")

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (self.type_name, self.message, self.remote_traceback, self.origin),
        )


class SerializationError(SingleflightError, TypeError):
    """A value could not be encoded for, or decoded from, another process.

    Attributes:
        serializer: the serializer's name (``pickle``, ``json``, ...).
        type_name: the type of the value that did not encode ("" when decoding).
        direction: ``"encode"`` or ``"decode"``.
    """

    def __init__(
        self, message: str, *, serializer: str = "", type_name: str = "", direction: str = ""
    ) -> None:
        super().__init__(message)
        self.serializer = serializer
        self.type_name = type_name
        self.direction = direction

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_serialization_error,
            (str(self), self.serializer, self.type_name, self.direction),
        )


def _rebuild_serialization_error(
    message: str, serializer: str, type_name: str, direction: str
) -> SerializationError:
    return SerializationError(
        message, serializer=serializer, type_name=type_name, direction=direction
    )


class RedisUnavailableError(SingleflightError, ConnectionError):
    """Redis could not be reached, or dropped the connection, during a flight.

    Raised instead of running the work without fleet-wide coalescing; pass
    ``fallback_local=True`` to the group to coalesce within the process instead.

    Attributes:
        url: where the group tried to connect (no password), or "" for a caller's client.
        operation: what the group was doing (``join``, ``wait``, ``publish``, ...).
    """

    def __init__(self, message: str, *, url: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.operation = operation
