"""bootup.runtime: the service manager that runs transactions for real.

General layout (each module has one job):

* :mod:`~bootup.runtime.manager`: :class:`Manager`, the asyncio manager: loads units,
  applies transactions, dispatches jobs, reacts to state changes;
* :mod:`~bootup.runtime.jobs`: installed jobs and systemd's ``job_is_runnable()`` rule;
* :mod:`~bootup.runtime.service`: per-unit runtimes, the service state machine per ``Type=``;
* :mod:`~bootup.runtime.process`: spawning, SIGCHLD reaping, subreaper, process tracking;
* :mod:`~bootup.runtime.states`: ``ActiveState``/``SubState``/``Result``/job results;
* :mod:`~bootup.runtime.clock`: the injectable clock (:class:`ManualClock` for tests);
* :mod:`~bootup.runtime.console`: systemd's ``[  OK  ] Started ...`` lines;
* :mod:`~bootup.runtime.project`: project mode (``DIR/.bootup/``, special targets, lock);
* :mod:`~bootup.runtime.journal`, :mod:`~bootup.runtime.notify`,
  :mod:`~bootup.runtime.conditions`: the journal, sd_notify and Condition*/Assert*.
"""

from __future__ import annotations

from bootup.runtime.clock import Clock as Clock
from bootup.runtime.clock import LoopClock as LoopClock
from bootup.runtime.clock import ManualClock as ManualClock
from bootup.runtime.console import Console as Console
from bootup.runtime.jobs import JobEvent as JobEvent
from bootup.runtime.jobs import UnitEvent as UnitEvent
from bootup.runtime.manager import Manager as Manager
from bootup.runtime.project import ProjectDir as ProjectDir
from bootup.runtime.project import ProjectLockedError as ProjectLockedError
from bootup.runtime.project import project_manager as project_manager
from bootup.runtime.service import ServiceRuntime as ServiceRuntime
from bootup.runtime.service import UnitRuntime as UnitRuntime
from bootup.runtime.states import ActiveState as ActiveState
from bootup.runtime.states import JobResult as JobResult
from bootup.runtime.states import ServiceResult as ServiceResult
from bootup.runtime.states import ServiceState as ServiceState

__all__ = (
    "ActiveState",
    "Clock",
    "Console",
    "JobEvent",
    "JobResult",
    "LoopClock",
    "Manager",
    "ManualClock",
    "ProjectDir",
    "ProjectLockedError",
    "ServiceResult",
    "ServiceRuntime",
    "ServiceState",
    "UnitEvent",
    "UnitRuntime",
    "project_manager",
)
