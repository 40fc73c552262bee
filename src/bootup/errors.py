"""The one error hierarchy of bootup.

Every exception that bootup raises on purpose derives from :class:`Error`, so callers can
catch "anything bootup refused" with one clause. Each subsystem has its own base, which also
inherits the builtin category whose meaning fits, so ``except ValueError`` keeps working for
users who do not know bootup's names::

    bootup.errors.Error
    ├── SingleflightError
    │   └── ReentrantCallError (RuntimeError)      re-entrant call on a key in flight
    ├── UnitError
    │   ├── UnitSyntaxError (ValueError)           a unit file or value does not parse
    │   └── UnitNotFoundError (LookupError)        no such unit on the search path
    ├── TransactionError                           a job cannot be built or applied
    ├── ManagerError                               the running manager refused or failed
    ├── ControlError                               the control socket or its client failed
    ├── BootFormatError (ValueError)               a boot-chain structure is malformed
    └── NotSupportedError (NotImplementedError)    a real feature bootup does not do yet

This module is a leaf: it imports nothing from bootup, so the independent subpackages
(:mod:`bootup.singleflight`, :mod:`bootup.boot`) may depend on it without depending on
each other. Subsystems define their leaf errors next to their code, deriving from these
bases.
"""

from __future__ import annotations

# typing costs ~3 ms to import and only the type checker needs it here (the annotations
# are strings, PEP 563); mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


__all__ = (
    "BootFormatError",
    "ControlError",
    "Error",
    "ManagerError",
    "NotSupportedError",
    "ReentrantCallError",
    "SingleflightError",
    "TransactionError",
    "UnitError",
    "UnitNotFoundError",
    "UnitSyntaxError",
)


class Error(Exception):
    """Root of every error bootup raises on purpose.

    ``exit_code`` is what the CLI exits with when this error reaches it (systemctl's LSB
    table: 1 generic failure, 3 not active, 4 no such unit, 5 not loaded).
    """

    exit_code: ClassVar[int] = 1


class SingleflightError(Error):
    """Misuse of a singleflight group (the work's own exceptions pass through unchanged)."""


class ReentrantCallError(SingleflightError, RuntimeError):
    """A call joined a flight that it is itself running, which could never finish."""


class UnitError(Error):
    """A unit file, unit name or unit value could not be used."""


class UnitSyntaxError(UnitError, ValueError):
    """A unit file or a value in it does not follow systemd.syntax(7)."""


class UnitNotFoundError(UnitError, LookupError):
    """No unit of that name exists on the search path."""

    exit_code: ClassVar[int] = 4


class TransactionError(Error):
    """A requested job cannot be turned into a consistent transaction."""


class ManagerError(Error):
    """The service manager could not carry out a request."""


class ControlError(Error):
    """The control socket or its client failed (connection, protocol, access)."""


class BootFormatError(Error, ValueError):
    """A boot-chain structure (MBR, GPT, GRUB image, grubenv, kernel header) is malformed."""


class NotSupportedError(Error, NotImplementedError):
    """A real systemd or GRUB feature that bootup does not implement yet.

    Raised instead of silently succeeding, so that users see the gap.
    """
