"""Errors of the control socket, each with the stable Varlink name it travels under.

The server turns a :class:`CallError` into an error reply ``{"error": name, "parameters":
...}``; the client turns such a reply back into the matching class (or a plain
:class:`CallError` for a name it does not know), so the CLI can map them to systemctl's exit
codes::

    bootup.errors.ControlError
    ├── ProtocolError                       the byte stream is not Varlink (closes the link)
    ├── ConnectError                        no manager listens at the socket path
    └── CallError                           a Varlink error reply (``name`` + ``parameters``)
        ├── NoSuchUnitError                 io.bootup.Manager.NoSuchUnit (exit 4)
        ├── PermissionDeniedError           io.bootup.Manager.PermissionDenied
        ├── NotSupportedCallError           io.bootup.Manager.NotSupported
        ├── InstallFailedError              io.bootup.Manager.InstallFailed (enable, ...)
        ├── NoSuchUnitFileError             io.bootup.Manager.NoSuchUnitFile (is-enabled)
        ├── InvalidParameterError           org.varlink.service.InvalidParameter
        └── MethodNotFoundError             org.varlink.service.MethodNotFound
"""

from __future__ import annotations

from bootup.errors import ControlError

# typing costs ~3 ms to import and only the type checker needs it here (the annotations
# are strings, PEP 563); mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Final

__all__ = (
    "INTERFACE",
    "SERVICE",
    "CallError",
    "ConnectError",
    "InstallFailedError",
    "InvalidParameterError",
    "MethodNotFoundError",
    "NoSuchUnitError",
    "NoSuchUnitFileError",
    "NotSupportedCallError",
    "PermissionDeniedError",
    "ProtocolError",
    "error_from_reply",
)

SERVICE: Final = "org.varlink.service"
INTERFACE: Final = "io.bootup.Manager"


class ProtocolError(ControlError):
    """The peer sent something that is not a well-formed Varlink message."""


class ConnectError(ControlError):
    """The client could not reach a manager at the socket path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot connect to the bootup manager at {path}: {reason}")
        self.path = path
        self.reason = reason


class CallError(ControlError):
    """A Varlink error reply: a dotted ``name`` and its ``parameters``."""

    #: The wire name of this class (subclasses fix it).
    wire_name: ClassVar[str] = ""

    def __init__(
        self, message: str, *, name: str = "", parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.name = name or self.wire_name
        self.parameters = dict(parameters or {})
        self.parameters.setdefault("message", message)


class NoSuchUnitError(CallError):
    """The manager has no unit of that name."""

    wire_name = f"{INTERFACE}.NoSuchUnit"
    exit_code: ClassVar[int] = 4

    def __init__(self, unit: str) -> None:
        super().__init__(f"Unit {unit} not found.", parameters={"unit": unit})
        self.unit = unit


class PermissionDeniedError(CallError):
    """The caller's uid may not make this call (checked with SO_PEERCRED)."""

    wire_name = f"{INTERFACE}.PermissionDenied"

    def __init__(self, method: str, uid: int, owner: int, *, changes_state: bool) -> None:
        what = "changes the manager's state" if changes_state else "reads the manager's state"
        super().__init__(
            f"Access denied: {method} {what}, which uid {uid} may not do "
            f"(only the owner, uid {owner}, and root may)",
            parameters={"method": method, "uid": uid},
        )


class NotSupportedCallError(CallError):
    """The call names a real systemctl feature that bootup's manager does not do yet."""

    wire_name = f"{INTERFACE}.NotSupported"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: not supported yet", parameters={"what": what})


class InstallFailedError(CallError):
    """An ``[Install]`` operation was refused; ``changes`` made before it travel along.

    Parameters: ``bare`` (systemctl words it "Failed to VERB TEXT" rather than "Failed to
    VERB unit, TEXT"), ``changes`` and ``warnings`` (printed before the failure).
    """

    wire_name = f"{INTERFACE}.InstallFailed"

    def __init__(
        self, message: str, *, bare: bool, changes: list[dict[str, Any]], warnings: list[str]
    ) -> None:
        super().__init__(
            message, parameters={"bare": bare, "changes": changes, "warnings": warnings}
        )


class NoSuchUnitFileError(CallError):
    """No unit file of that name on the manager's search path (``is-enabled``)."""

    wire_name = f"{INTERFACE}.NoSuchUnitFile"

    def __init__(self, unit: str, message: str, *, warnings: list[str]) -> None:
        super().__init__(message, parameters={"unit": unit, "warnings": warnings})


class InvalidParameterError(CallError):
    """A parameter is missing or has the wrong type or value."""

    wire_name = f"{SERVICE}.InvalidParameter"

    def __init__(self, parameter: str, expected: str, found: object) -> None:
        super().__init__(
            f"parameter {parameter!r}: expected {expected}, found {found!r:.80}",
            parameters={"parameter": parameter},
        )


class MethodNotFoundError(CallError):
    """No such method (or interface) on this server."""

    wire_name = f"{SERVICE}.MethodNotFound"

    def __init__(self, method: str) -> None:
        super().__init__(f"method {method} not found", parameters={"method": method})


_BY_NAME: dict[str, type[CallError]] = {
    cls.wire_name: cls
    for cls in (
        NoSuchUnitError,
        PermissionDeniedError,
        NotSupportedCallError,
        InstallFailedError,
        NoSuchUnitFileError,
        InvalidParameterError,
        MethodNotFoundError,
    )
}


def error_from_reply(name: str, parameters: dict[str, Any]) -> CallError:
    """The exception for an error reply; the class matches ``name`` when we know it."""
    message = parameters.get("message")
    text = message if isinstance(message, str) else f"{name} {parameters}"
    cls = _BY_NAME.get(name)
    error = CallError(text, name=name, parameters=parameters)
    if cls is not None:
        # Rebuild as the specific class without re-running its __init__ formatting.
        error = cls.__new__(cls)
        CallError.__init__(error, text, name=name, parameters=parameters)
        if cls is NoSuchUnitError:
            error.unit = str(parameters.get("unit", ""))  # type: ignore[attr-defined]
    return error
