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

import json
from dataclasses import dataclass, field
from typing import Any, Final

from bootup.control.errors import ProtocolError

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
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"message at stream offset {offset}: expected UTF-8, found invalid byte "
            f"at {offset + exc.start}"
        ) from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"message at stream offset {offset}: expected JSON, {exc.msg} at byte {exc.pos}"
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"message at stream offset {offset}: expected a JSON object, "
            f"found {type(value).__name__}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Call:
    """A method call as received."""

    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    more: bool = False
    oneway: bool = False
    upgrade: bool = False

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


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply as received by a client: parameters, or an error name with parameters."""

    parameters: dict[str, Any]
    continues: bool = False
    error: str | None = None


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
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\0"


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
