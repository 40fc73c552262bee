"""Varlink framing and messages, without I/O (https://varlink.org/Method-Call).

A Varlink connection carries JSON objects, each terminated by one NUL byte. A call is
``{"method": "iface.Method", "parameters": {...}, "more"?, "oneway"?, "upgrade"?}``; a reply
is ``{"parameters": {...}, "continues"?}`` or ``{"error": "iface.Name", "parameters": {...}}``.
Replies come in call order; a call with ``more`` gets replies with ``continues: true`` until
the last one; a ``oneway`` call gets none.

Why our own codec and not python-varlink or asyncvarlink in the manager: the server must
bound every buffer (a peer may send 16 MiB without a NUL), check peer credentials per call
and stay alive whatever arrives; a 150-line codec whose limits we own is easier to make and
keep robust than adapting either library's socket layer. python-varlink serves as the
independent client in the conformance tests, so the codec is still checked against the
reference implementation.
"""

from __future__ import annotations

from bootup.control import _wirejson
from bootup.control.errors import ProtocolError

# typing costs ~3 ms to import and only the type checker needs it here (the annotations
# are strings, PEP 563); mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = (
    "MAX_MESSAGE",
    "Call",
    "Decoder",
    "Reply",
    "encode",
    "encode_call",
    "encode_error",
    "encode_reply",
    "parse_call",
    "parse_reply",
)

#: The largest message accepted, NUL excluded (16 MiB, the limit systemd's sd-varlink uses).
MAX_MESSAGE: Final = 16 * 2**20


def _frozen(self: object, name: str, value: object = None) -> None:
    raise AttributeError(f"{type(self).__name__} is immutable: cannot set or delete {name!r}")


def _init(self: object, **fields: object) -> None:
    for name, value in fields.items():
        object.__setattr__(self, name, value)


def _fields(self: object) -> tuple[object, ...]:
    return tuple(getattr(self, name) for name in type(self).__slots__)  # type: ignore[attr-defined]


def _repr(self: object) -> str:
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__slots__)  # type: ignore[attr-defined]
    return f"{type(self).__name__}({inner})"


def _eq(self: object, other: object) -> bool:
    if type(other) is not type(self):
        return NotImplemented  # type: ignore[no-any-return]
    return _fields(self) == _fields(other)


class Decoder:
    """Split a byte stream into NUL-terminated JSON objects, bounding what it buffers.

    ``feed`` returns the complete objects; a partial message stays buffered. More than
    :data:`MAX_MESSAGE` bytes without a NUL, invalid UTF-8/JSON, or a message that is not a
    JSON object raise :class:`ProtocolError` (the connection cannot be trusted after that).
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self.offset = 0  # stream offset of the buffer's first byte, for error messages

    @property
    def pending(self) -> int:
        """Bytes of an unfinished message held."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add received bytes; return every message they complete, in order."""
        messages: list[dict[str, Any]] = []
        start = len(self._buffer)
        self._buffer += data
        while True:
            end = self._buffer.find(b"\0", start)
            if end < 0:
                break
            raw = bytes(self._buffer[:end])
            if len(raw) > self.limit:
                raise ProtocolError(
                    f"message at stream offset {self.offset} is {len(raw)} bytes, "
                    f"expected at most {self.limit}"
                )
            messages.append(_load(raw, self.offset))
            del self._buffer[: end + 1]
            self.offset += end + 1
            start = 0
        if len(self._buffer) > self.limit:
            raise ProtocolError(
                f"message at stream offset {self.offset} exceeds {self.limit} bytes "
                f"without its NUL terminator ({len(self._buffer)} bytes buffered)"
            )
        return messages


def _load(raw: bytes, offset: int) -> dict[str, Any]:
    try:
        value = _wirejson.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"message at stream offset {offset}: expected UTF-8, found invalid byte "
            f"at {offset + exc.start}"
        ) from None
    except ValueError as exc:  # json.JSONDecodeError or WireJSONError: both have msg, pos
        msg, pos = getattr(exc, "msg", str(exc)), getattr(exc, "pos", 0)
        raise ProtocolError(
            f"message at stream offset {offset}: expected JSON, {msg} at byte {pos}"
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"message at stream offset {offset}: expected a JSON object, "
            f"found {type(value).__name__}"
        )
    return value


class Call:
    """A method call as received (immutable).

    A plain class rather than a dataclass: this module is on ``bootup is-active``'s
    start-up path, and :mod:`dataclasses` costs several milliseconds to import (it imports
    :mod:`inspect`).
    """

    __slots__ = ("method", "more", "oneway", "parameters", "upgrade")

    method: str
    parameters: dict[str, Any]
    more: bool
    oneway: bool
    upgrade: bool

    def __init__(
        self,
        method: str,
        parameters: dict[str, Any] | None = None,
        more: bool = False,
        oneway: bool = False,
        upgrade: bool = False,
    ) -> None:
        _init(
            self,
            method=method,
            parameters={} if parameters is None else parameters,
            more=more,
            oneway=oneway,
            upgrade=upgrade,
        )

    def __repr__(self) -> str:
        return _repr(self)

    def __eq__(self, other: object) -> bool:
        return _eq(self, other)

    __hash__ = None  # type: ignore[assignment]
    __setattr__ = _frozen
    __delattr__ = _frozen

    @property
    def interface(self) -> str:
        """The part of ``method`` before the last dot."""
        return self.method.rpartition(".")[0]

    @property
    def member(self) -> str:
        """The method's own name."""
        return self.method.rpartition(".")[2]


def parse_call(message: dict[str, Any]) -> Call:
    """Check a received object is a well-formed call.

    Raises:
        ProtocolError: a field is missing or has the wrong type (named in the message).
    """
    method = message.get("method")
    if not isinstance(method, str) or "." not in method:
        raise ProtocolError(
            f"call field 'method': expected a string 'interface.Method', found {method!r:.80}"
        )
    parameters = message.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ProtocolError(
            f"call field 'parameters': expected an object, found {type(parameters).__name__}"
        )
    flags: dict[str, bool] = {}
    for name in ("more", "oneway", "upgrade"):
        value = message.get(name, False)
        if not isinstance(value, bool):
            raise ProtocolError(
                f"call field {name!r}: expected a boolean, found {type(value).__name__}"
            )
        flags[name] = value
    return Call(method, parameters, flags["more"], flags["oneway"], flags["upgrade"])


class Reply:
    """A reply as received by a client: parameters, or an error name with parameters."""

    __slots__ = ("continues", "error", "parameters")

    parameters: dict[str, Any]
    continues: bool
    error: str | None

    def __init__(
        self, parameters: dict[str, Any], continues: bool = False, error: str | None = None
    ) -> None:
        _init(self, parameters=parameters, continues=continues, error=error)

    def __repr__(self) -> str:
        return _repr(self)

    def __eq__(self, other: object) -> bool:
        return _eq(self, other)

    __hash__ = None  # type: ignore[assignment]
    __setattr__ = _frozen
    __delattr__ = _frozen


def parse_reply(message: dict[str, Any]) -> Reply:
    """Check a received object is a well-formed reply.

    Raises:
        ProtocolError: a field has the wrong type.
    """
    parameters = message.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ProtocolError(
            f"reply field 'parameters': expected an object, found {type(parameters).__name__}"
        )
    error = message.get("error")
    if error is not None and not isinstance(error, str):
        raise ProtocolError(f"reply field 'error': expected a string, found {error!r:.80}")
    continues = message.get("continues", False)
    if not isinstance(continues, bool):
        raise ProtocolError(f"reply field 'continues': expected a boolean, found {continues!r}")
    return Reply(parameters, continues, error)


def encode(message: dict[str, Any]) -> bytes:
    """One message on the wire: compact JSON and its NUL terminator."""
    return _wirejson.dumps(message).encode() + b"\0"


def encode_call(
    method: str,
    parameters: dict[str, Any] | None = None,
    *,
    more: bool = False,
    oneway: bool = False,
) -> bytes:
    """A call message."""
    message: dict[str, Any] = {"method": method, "parameters": parameters or {}}
    if more:
        message["more"] = True
    if oneway:
        message["oneway"] = True
    return encode(message)


def encode_reply(parameters: dict[str, Any], *, continues: bool = False) -> bytes:
    """A reply message (``continues`` for all but the last reply to a ``more`` call)."""
    message: dict[str, Any] = {"parameters": parameters}
    if continues:
        message["continues"] = True
    return encode(message)


def encode_error(name: str, parameters: dict[str, Any] | None = None) -> bytes:
    """An error reply."""
    return encode({"error": name, "parameters": parameters or {}})
