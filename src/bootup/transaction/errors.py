"""Why a transaction could not be built; messages are systemd 252's own wording."""

from __future__ import annotations

from bootup.errors import TransactionError

__all__ = (
    "ConflictingJobsError",
    "DestructiveTransactionError",
    "JobNotApplicableError",
    "JobRequestError",
    "OrderingCycleError",
    "TransactionError",
    "UnitLoadError",
)


class JobRequestError(TransactionError, ValueError):
    """The request itself is refused (isolate without AllowIsolate=, a wrong mode)."""


class UnitLoadError(TransactionError):
    """A unit the transaction needs is not loaded (not found, masked, bad setting)."""

    def __init__(self, unit: str, load_state: str, message: str) -> None:
        super().__init__(message)
        self.unit = unit
        self.load_state = load_state


class JobNotApplicableError(TransactionError):
    """The job type makes no sense for the unit (reload of a unit that cannot reload)."""

    def __init__(self, unit: str, job_type: str) -> None:
        super().__init__(f"Job type {job_type} is not applicable for unit {unit}.")
        self.unit = unit
        self.job_type = job_type


class OrderingCycleError(TransactionError):
    """An ordering cycle whose jobs all matter to the anchor, so none can be dropped.

    ``cycle`` lists ``(unit, job type)`` along the cycle, as systemd logs them.
    """

    def __init__(self, cycle: tuple[tuple[str, str], ...]) -> None:
        super().__init__("Transaction order is cyclic. See system logs for details.")
        self.cycle = cycle


class ConflictingJobsError(TransactionError):
    """Two jobs for one unit cannot merge and both matter to the anchor."""

    def __init__(self, unit: str, first: str, second: str) -> None:
        super().__init__(
            f"Transaction contains conflicting jobs '{first}' and '{second}' for {unit}. "
            "Probably contradicting requirement dependencies configured."
        )
        self.unit = unit
        self.job_types = (first, second)


class DestructiveTransactionError(TransactionError):
    """The transaction would replace a queued job that must not be replaced."""
