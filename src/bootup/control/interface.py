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

# Forget that units failed (no unit: all of them): failed units become inactive, their
# Result= success, their restart counter and start rate limit reset. Replies with the
# units that were failed.
method ResetFailed(unit: ?string) -> (units: []string)

# daemon-reload: read every unit file again. Running units keep running (new settings
# apply from their next start); queued jobs are kept. Replies when the reload is done.
method Reload() -> ()

# One change an [Install] operation made, as systemctl prints it: type is symlink,
# unlink, notice or error; bare errors read "Failed to VERB TEXT".
type UnitFileChange (
  type: string,
  path: string,
  target: string,
  text: string,
  bare: bool
)

# systemctl enable/disable/reenable/mask/unmask against the manager's search path. Like
# systemctl, a client reloads afterwards (Reload) and starts or stops units for --now.
# runtime and force are not supported yet (NotSupported).
method EnableUnitFiles(files: []string, runtime: ?bool, force: ?bool) -> (
  changes: []UnitFileChange,
  warnings: []string
)
method DisableUnitFiles(files: []string, runtime: ?bool) -> (
  changes: []UnitFileChange,
  warnings: []string
)
method ReenableUnitFiles(files: []string, runtime: ?bool, force: ?bool) -> (
  changes: []UnitFileChange,
  warnings: []string
)
method MaskUnitFiles(files: []string, runtime: ?bool, force: ?bool) -> (
  changes: []UnitFileChange,
  warnings: []string
)
method UnmaskUnitFiles(files: []string, runtime: ?bool) -> (
  changes: []UnitFileChange,
  warnings: []string
)

# systemctl is-enabled: enabled, disabled, static, indirect, linked, masked, alias,
# generated, transient, enabled-runtime, ...
method GetUnitFileState(name: string) -> (state: string, warnings: []string)

# One loaded unit as the transaction engine sees it: its dependency lists after default,
# implicit and inverse dependencies (keys are systemd's property names: Wants, After, ...),
# and the flags that are true (allow_isolate, refuse_manual_start, can_reload, ...).
type GraphUnit (
  name: string,
  load_state: string,
  load_error: string,
  aliases: []string,
  dependencies: [string][]string,
  flags: []string
)

# The manager's loaded dependency graph (analyze dot, analyze why); generation counts
# the (re)loads.
method GetUnitGraph() -> (units: []GraphUnit, generation: int)

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
error InstallFailed (message: string, bare: bool, changes: []UnitFileChange, warnings: []string)
error NoSuchUnitFile (unit: string, message: string, warnings: []string)
error ProtocolError (message: string)
error SubscriberTooSlow (message: string)
error Failed (message: string)
"""
