"""How values and errors cross process boundaries in the fleet-wide groups.

Values go through a pluggable :class:`Serializer`: pickle by default (fast and general, but
only safe between processes of the same trusted application), or JSON. Errors never go
through pickle: they travel as JSON ``{type, args, message, traceback}`` so that a waiter
never unpickles an arbitrary object, and are rebuilt only from types that the waiting
process has already imported.
"""

from __future__ import annotations

import json
import pickle
import sys
import traceback
from typing import Any, Protocol, runtime_checkable

from bootup.singleflight._redis_errors import RemoteError, SerializationError

__all__ = (
    "JsonSerializer",
    "PickleSerializer",
    "Serializer",
    "decode_error",
    "encode_error",
    "type_name",
)


@runtime_checkable
class Serializer(Protocol):
    """Turns a flight's value into bytes and back.

    ``name`` is written next to every value, so that a process configured with another
    serializer reports the mismatch instead of misreading the bytes.
    """

    name: str

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise :class:`SerializationError` naming its type on failure."""
        ...

    def loads(self, data: bytes) -> Any:
        """Decode bytes written by :meth:`dumps` of the same serializer."""
        ...


def type_name(obj_type: type) -> str:
    """The dotted ``module.QualName`` of a type, as written on the wire."""
    return f"{obj_type.__module__}.{obj_type.__qualname__}"


class PickleSerializer:
    """Pickle: any picklable value, for processes of one trusted application only.

    Unpickling runs code chosen by whoever wrote the bytes, so every process sharing the
    Redis namespace must be trusted.
    """

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        """Pickle ``value``."""
        try:
            return pickle.dumps(value, protocol=self.protocol)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            name = type_name(type(value))
            raise SerializationError(
                f"cannot share a value of type {name} with other processes: pickle failed: {exc}",
                serializer=self.name,
                type_name=name,
                direction="encode",
            ) from exc

    def loads(self, data: bytes) -> Any:
        """Unpickle ``data``."""
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise SerializationError(
                f"cannot decode a shared value with pickle ({len(data)} bytes): "
                f"{type(exc).__name__}: {exc}",
                serializer=self.name,
                type_name="",
                direction="decode",
            ) from exc


class JsonSerializer:
    """JSON: only dicts, lists, strings, numbers, booleans and None, but safe to decode.

    Tuples come back as lists and non-string dict keys as strings, as with :mod:`json`.
    """

    name = "json"

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as compact UTF-8 JSON (NaN and infinities are refused)."""
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            name = type_name(type(value))
            raise SerializationError(
                f"cannot share a value of type {name} with other processes: "
                f"it is not JSON-serializable: {exc}",
                serializer=self.name,
                type_name=name,
                direction="encode",
            ) from exc

    def loads(self, data: bytes) -> Any:
        """Decode UTF-8 JSON."""
        try:
            return json.loads(data)
        except ValueError as exc:
            raise SerializationError(
                f"cannot decode a shared value as JSON ({len(data)} bytes): {exc}",
                serializer=self.name,
                type_name="",
                direction="decode",
            ) from exc


def encode_error(exc: BaseException, *, origin: str = "") -> bytes:
    """Encode an exception as JSON: type name, message, args (when JSON-able), traceback."""
    try:
        args: list[Any] | None = json.loads(json.dumps(list(exc.args), allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        args = None
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not stop the error from reaching waiters
        message = repr(exc.args)
    record = {
        "type": type_name(type(exc)),
        "args": args,
        "message": message,
        "traceback": "".join(traceback.format_exception(exc)),
        "origin": origin,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def _lookup_type(name: str) -> type[BaseException] | None:
    """Find an exception type among the modules this process has already imported.

    Importing a module named by another process could run arbitrary import-time code, so
    only ``sys.modules`` is consulted; a type from a module not imported here is "not
    importable" and the error arrives as :class:`RemoteError`.
    """
    # The qualname may itself contain dots (nested classes): try the longest module prefix.
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: Any = module
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return obj
        return None
    return None


def decode_error(data: bytes) -> BaseException:
    """Rebuild an exception sent by :func:`encode_error`.

    The same type is rebuilt when it is importable here (already imported) and accepts the
    sent arguments; the remote traceback is attached as a note. Anything else becomes a
    :class:`RemoteError` carrying the type name, message and traceback text.
    """
    try:
        record = json.loads(data)
        name = str(record["type"])
        message = str(record["message"])
        args = record.get("args")
        remote_tb = str(record.get("traceback", ""))
        origin = str(record.get("origin", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise SerializationError(
            f"cannot decode a shared error record ({len(data)} bytes): {exc}",
            serializer="json",
            type_name="",
            direction="decode",
        ) from exc
    cls = _lookup_type(name)
    if cls is not None:
        try:
            rebuilt = cls(*args) if isinstance(args, list) else cls(message)
        except Exception:  # a constructor with other required arguments: not constructible
            rebuilt = None
        if rebuilt is not None:
            where = f" in {origin}" if origin else ""
            rebuilt.add_note(f"[singleflight] raised{where}; remote traceback:\n{remote_tb}")
            return rebuilt
    return RemoteError(name, message, remote_tb, origin)
