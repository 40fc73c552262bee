"""Unit, service and job states, spelled exactly as ``systemctl show`` spells them.

Why a module of its own: the manager, the console and the later analysis tools all speak
about the same states, and systemd's names are the interface users script against
(``ActiveState=active``, ``SubState=running``, ``Result=exit-code``). The mapping from a
service's sub-state to its active state is systemd 252's ``state_translation_table`` in
src/core/service.c.
"""

from __future__ import annotations

from enum import StrEnum

from bootup.transaction.graph import ActiveState

__all__ = (
    "ActiveState",
    "JobResult",
    "ServiceResult",
    "ServiceState",
    "SimpleState",
    "active_state_of",
)


class ServiceState(StrEnum):
    """``SubState=`` of a service (systemd 252 ``ServiceState``)."""

    DEAD = "dead"
    CONDITION = "condition"
    START_PRE = "start-pre"
    START = "start"
    START_POST = "start-post"
    RUNNING = "running"
    EXITED = "exited"
    RELOAD = "reload"
    STOP = "stop"
    STOP_WATCHDOG = "stop-watchdog"
    STOP_SIGTERM = "stop-sigterm"
    STOP_SIGKILL = "stop-sigkill"
    STOP_POST = "stop-post"
    FINAL_WATCHDOG = "final-watchdog"
    FINAL_SIGTERM = "final-sigterm"
    FINAL_SIGKILL = "final-sigkill"
    FAILED = "failed"
    AUTO_RESTART = "auto-restart"


class SimpleState(StrEnum):
    """``SubState=`` of units whose state is just on or off (targets, slices)."""

    DEAD = "dead"
    ACTIVE = "active"


_SERVICE_ACTIVE: dict[ServiceState, ActiveState] = {
    ServiceState.DEAD: ActiveState.INACTIVE,
    ServiceState.CONDITION: ActiveState.ACTIVATING,
    ServiceState.START_PRE: ActiveState.ACTIVATING,
    ServiceState.START: ActiveState.ACTIVATING,
    ServiceState.START_POST: ActiveState.ACTIVATING,
    ServiceState.RUNNING: ActiveState.ACTIVE,
    ServiceState.EXITED: ActiveState.ACTIVE,
    ServiceState.RELOAD: ActiveState.RELOADING,
    ServiceState.STOP: ActiveState.DEACTIVATING,
    ServiceState.STOP_WATCHDOG: ActiveState.DEACTIVATING,
    ServiceState.STOP_SIGTERM: ActiveState.DEACTIVATING,
    ServiceState.STOP_SIGKILL: ActiveState.DEACTIVATING,
    ServiceState.STOP_POST: ActiveState.DEACTIVATING,
    ServiceState.FINAL_WATCHDOG: ActiveState.DEACTIVATING,
    ServiceState.FINAL_SIGTERM: ActiveState.DEACTIVATING,
    ServiceState.FINAL_SIGKILL: ActiveState.DEACTIVATING,
    ServiceState.FAILED: ActiveState.FAILED,
    # systemd 252 maps auto-restart to activating, so BindsTo= does not fire in between.
    ServiceState.AUTO_RESTART: ActiveState.ACTIVATING,
}


def active_state_of(state: ServiceState | SimpleState) -> ActiveState:
    """The ``ActiveState=`` a sub-state implies."""
    if isinstance(state, ServiceState):
        return _SERVICE_ACTIVE[state]
    return ActiveState.ACTIVE if state is SimpleState.ACTIVE else ActiveState.INACTIVE


class ServiceResult(StrEnum):
    """``Result=`` of a service: why it last stopped or failed."""

    SUCCESS = "success"
    PROTOCOL = "protocol"
    RESOURCES = "resources"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    CORE_DUMP = "core-dump"
    WATCHDOG = "watchdog"
    START_LIMIT_HIT = "start-limit-hit"


class JobResult(StrEnum):
    """How a job ended (systemd's ``JobResult``, as ``systemctl`` and the journal print it)."""

    DONE = "done"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    FAILED = "failed"
    DEPENDENCY = "dependency"
    SKIPPED = "skipped"
    INVALID = "invalid"
    ASSERT = "assert"
    UNSUPPORTED = "unsupported"
    COLLECTED = "collected"
    ONCE = "once"

    @property
    def ok(self) -> bool:
        """Only ``done`` spares the dependants' jobs (job.c: ``result != JOB_DONE`` fails them)."""
        return self is JobResult.DONE
