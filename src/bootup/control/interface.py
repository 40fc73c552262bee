"""The published Varlink interface descriptions (``GetInterfaceDescription`` returns these).

Kept apart from the handlers so the text a client reads and the table the server
dispatches on can be compared by a test (every method here has a handler, and back).
"""

from __future__ import annotations

from typing import Final

__all__ = ("MANAGER_DESCRIPTION", "SERVICE_DESCRIPTION")

SERVICE_DESCRIPTION: Final = """\
# The Varlink service interface (https://varlink.org/Service).
interface org.varlink.service

method GetInfo() -> (
  vendor: string,
  product: string,
  version: string,
  url: string,
  interfaces: []string
)

method GetInterfaceDescription(interface: string) -> (description: string)

error InterfaceNotFound (interface: string)
error MethodNotFound (method: string)
error MethodNotImplemented (method: string)
error InvalidParameter (parameter: string)
error PermissionDenied ()
error ExpectedMore ()
"""

MANAGER_DESCRIPTION: Final = """\
# The bootup service manager: units, jobs, properties, logs and state changes.
# Names and values are spelled as systemctl spells them (ActiveState=active, ...).
interface io.bootup.Manager

type Unit (
  name: string,
  description: string,
  load_state: string,
  active_state: string,
  sub_state: string,
  job_id: ?int,
  job_type: ?string
)

type Job (
  id: int,
  unit: string,
  type: string,
  state: string
)

type LogEntry (
  cursor: int,
  realtime_usec: int,
  monotonic_usec: int,
  unit: ?string,
  pid: ?int,
  priority: int,
  source: string,
  message: string
)

type Process (
  pid: int,
  ppid: int,
  command: string
)

type UnitChange (
  unit: string,
  old_state: string,
  new_state: string,
  sub_state: string
)

type JobChange (
  unit: string,
  type: string,
  result: ?string
)

# Units the manager has loaded; patterns are shell globs over names and aliases;
# states match the load, active or sub state; all includes inactive units.
method ListUnits(
  patterns: ?[]string,
  states: ?[]string,
  types: ?[]string,
  all: ?bool
) -> (units: []Unit)

# The installed jobs (systemctl list-jobs).
method ListJobs() -> (jobs: []Job)

# systemctl show: every property, or only those named.
method GetProperties(name: string, properties: ?[]string) -> (properties: [string]string)

# systemctl status: the properties, the unit's processes and its last journal lines.
method GetStatus(name: string, lines: ?int) -> (
  properties: [string]string,
  fragment_path: ?string,
  dropin_paths: []string,
  processes: []Process,
  log: []LogEntry
)

# Queue a job: type is start, stop, restart, try-restart, reload, reload-or-restart or
# isolate; mode is a systemctl --job-mode. Without no_block the reply comes when the job
# finished, with its result (done, failed, dependency, ...).
method EnqueueJob(unit: string, type: string, mode: ?string, no_block: ?bool) -> (
  job_id: ?int,
  result: ?string
)

# Send a signal to a service's processes (whom: all, main or control).
method KillUnit(unit: string, signal: int, whom: ?string) -> (killed: []int)

# Forget that units failed (no unit: all of them).
method ResetFailed(unit: ?string) -> ()

# Ask the manager to stop every unit and exit with exit_code (systemctl exit).
method Exit(exit_code: ?int) -> ()

# Journal lines, oldest first: the last 'lines' ones, or those after a cursor; at most
# 10000 per reply (page on with after_cursor).
method GetLogs(units: ?[]string, lines: ?int, after_cursor: ?int) -> (entries: []LogEntry)

# Stream state changes (call with more): first an event "subscribed", then "unit", "job"
# and, with logs, "log" events for the named units (all units when none are named).
method Subscribe(units: ?[]string, logs: ?bool) -> (
  event: string,
  unit: ?UnitChange,
  job: ?JobChange,
  log: ?LogEntry
)

error NoSuchUnit (unit: string, message: string)
error NoSuchProcess (unit: string, message: string)
error JobRefused (unit: string, message: string)
error PermissionDenied (method: string, uid: int, message: string)
error NotSupported (what: string, message: string)
error ProtocolError (message: string)
error SubscriberTooSlow (message: string)
error Failed (message: string)
"""
