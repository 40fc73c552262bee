"""systemctl's live verbs, talking to a running manager over its Varlink control socket.

``start|stop|restart|try-restart|reload|reload-or-restart|isolate|kill|reset-failed|status|
is-active|is-failed|list-units|list-jobs|daemon-reload|daemon-reexec|exit``, with systemctl's
options, messages (including the "changed on disk" warning of ``status`` and the job verbs)
and exit codes (0 ok, 1 failed, 3 not active, 4 no such unit, 5 not loaded for job verbs).
Which manager: ``--project DIR`` (DIR/.bootup/control.sock), ``--system`` (/run/bootup/...), or
the nearest enclosing project with a running ``bootup up``, else the system manager.

``show`` and the ``[Install]`` verbs are registered by the offline unit-file verbs
(unitfiles.py); :func:`show_live` and :func:`install_live` here are the live
implementations they call when a manager is reachable.

Module-level imports stay light: the client is imported inside the handlers, and it only
needs the standard library, so ``bootup is-active x`` starts fast.
"""

from __future__ import annotations

import sys

# typing costs ~3 ms to import and only the type checker needs it here (the annotations
# are strings, PEP 563); mypy treats any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from bootup.control.client import Client

    _SubParsers = argparse._SubParsersAction

__all__ = ("install_live", "register", "show_live")


_MANAGER = "io.bootup.Manager"
_SUFFIXES = (
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
)
_GLOB = frozenset("*?[")


def _common() -> argparse.ArgumentParser:
    import argparse

    parent = argparse.ArgumentParser(add_help=False)
    where = parent.add_mutually_exclusive_group()
    where.add_argument("--system", action="store_true", help="talk to the system manager")
    # SUPPRESS: `bootup --project DIR status x` (the top-level option) must not be reset.
    where.add_argument(
        "--project",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="talk to DIR's manager (bootup up DIR)",
    )
    parent.add_argument("--no-pager", action="store_true", help="accepted; bootup never pages")
    parent.add_argument("-q", "--quiet", action="store_true", help="print less")
    return parent


def _listing() -> argparse.ArgumentParser:
    import argparse

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-a", "--all", action="store_true", help="include inactive units")
    parent.add_argument("--state", action="append", default=[], metavar="STATE")
    parent.add_argument("-t", "--type", action="append", default=[], metavar="TYPE")
    parent.add_argument("--plain", action="store_true", help="no status dot column")
    parent.add_argument("--no-legend", action="store_true", help="no header and footer")
    parent.add_argument("-o", "--output", default="short", choices=("short", "json", "json-pretty"))
    return parent


def _jobs() -> argparse.ArgumentParser:
    import argparse

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--no-block", action="store_true", help="do not wait for the job")
    parent.add_argument(
        "--wait", action="store_true", help="after starting, wait until the units stop again"
    )
    parent.add_argument(
        "--job-mode",
        default="replace",
        choices=(
            "fail",
            "replace",
            "replace-irreversibly",
            "isolate",
            "ignore-dependencies",
            "ignore-requirements",
            "flush",
            "triggering",
        ),
    )
    return parent


_JOB_VERBS = {
    "start": "start units",
    "stop": "stop units",
    "restart": "restart units",
    "try-restart": "restart units that are running",
    "reload": "reload units",
    "reload-or-restart": "reload units if they can, else restart them",
}


def register(subparsers: _SubParsers[argparse.ArgumentParser]) -> None:
    """Add the live systemctl verbs (never a name another module registered)."""
    common, listing, jobs = _common(), _listing(), _jobs()

    def add(name: str, text: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, help=text, parents=[common, *parents])

    for verb, text in _JOB_VERBS.items():
        if verb in subparsers.choices:
            continue
        p = add(verb, text, jobs)
        p.add_argument("units", nargs="+", metavar="UNIT")
        p.set_defaults(handler=_job_verb, verb=verb)
    p = add("isolate", "start a target and stop everything it does not need", jobs)
    p.add_argument("units", nargs=1, metavar="TARGET")
    p.set_defaults(handler=_job_verb, verb="isolate")
    p = add("kill", "send a signal to a unit's processes")
    p.add_argument("units", nargs="+", metavar="UNIT")
    p.add_argument("-s", "--signal", default="SIGTERM", help="signal name or number")
    p.add_argument("--kill-whom", default="all", choices=("all", "main", "control"))
    p.set_defaults(handler=_kill)
    p = add("reset-failed", "forget that units failed")
    p.add_argument("units", nargs="*", metavar="UNIT")
    p.set_defaults(handler=_reset_failed)
    p = add("daemon-reload", "read every unit file again; running units keep running")
    p.set_defaults(handler=_daemon_reload)
    p = add("daemon-reexec", "re-execute the manager (not supported yet)")
    p.set_defaults(handler=_daemon_reexec)
    p = add("status", "show a unit's state, processes and last log lines")
    p.add_argument("units", nargs="+", metavar="UNIT")
    p.add_argument("-n", "--lines", type=int, default=10, help="journal lines to show")
    p.set_defaults(handler=_status)
    for verb, handler in (("is-active", _is_active), ("is-failed", _is_failed)):
        p = add(verb, f"exit 0 when a unit {verb.removeprefix('is-')}")
        p.add_argument("units", nargs="+", metavar="UNIT")
        p.set_defaults(handler=handler)
    p = add("list-units", "list the units the manager has loaded", listing)
    p.add_argument("patterns", nargs="*", metavar="PATTERN")
    p.set_defaults(handler=_list_units)
    p = add("list-jobs", "list the queued jobs", listing)
    p.add_argument("patterns", nargs="*", metavar="PATTERN")
    p.set_defaults(handler=_list_jobs)
    p = add("exit", "ask the manager to stop every unit and exit")
    p.add_argument("code", nargs="?", type=int, default=0, metavar="EXIT_CODE")
    p.set_defaults(handler=_exit)


# --- plumbing ---------------------------------------------------------------------------


def _connect(args: argparse.Namespace, *, timeout: float | None = 30.0) -> Client:
    from bootup.control.address import locate_socket
    from bootup.control.client import Client

    path = locate_socket(
        project=getattr(args, "project", None), system=getattr(args, "system", False)
    )
    return Client(path, timeout=timeout)


def _mangle(name: str) -> str:
    """Systemctl's unit name mangling: a name without a type suffix is a service."""
    if any(c in _GLOB for c in name) or name.endswith(_SUFFIXES):
        return name
    return f"{name}.service"


def _expand(client: Client, names: list[str]) -> list[str]:
    """Mangle names and expand globs against the units the manager has loaded."""
    out: list[str] = []
    for raw in names:
        name = _mangle(raw)
        if any(c in _GLOB for c in name):
            reply = client.call(f"{_MANAGER}.ListUnits", {"patterns": [name], "all": True})
            out.extend(u["name"] for u in reply["units"])
        else:
            out.append(name)
    return out


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# --- job verbs --------------------------------------------------------------------------

_RESULT_REASONS = {
    "exit-code": "the control process exited with error code",
    "signal": "a fatal signal was delivered to the control process",
    "core-dump": "a fatal signal was delivered causing the control process to dump core",
    "timeout": "a timeout was exceeded",
    "start-limit-hit": "start of the service was attempted too often",
    "resources": "of unavailable resources or another system error",
    "protocol": "the service did not take the steps required by its unit configuration",
    "watchdog": "the service failed to send watchdog ping",
}


def _job_verb(args: argparse.Namespace) -> int:
    verb: str = args.verb
    with _connect(args, timeout=None) as client:
        units = _expand(client, args.units)
        watcher = None
        if args.wait and verb != "stop":
            watcher = _connect(args, timeout=None)
            events = watcher.stream(f"{_MANAGER}.Subscribe", {"units": units})
            next(events)  # "subscribed": every later change reaches us
        rc = 0
        action = "start" if verb == "isolate" else verb  # systemctl's wording
        for unit in units:
            _warn_changed(client, unit)
            code = _enqueue(
                client,
                unit,
                verb,
                mode=args.job_mode,
                no_block=args.no_block,
                action=action,
                progress=args,
            )
            rc = code if code == 5 else rc or code
        if watcher is not None:
            with watcher:
                rc = _wait_inactive(client, events, units) or rc
    return rc


def _explain_failure(client: Client, verb: str, unit: str, result: str) -> None:
    """Print systemctl's message for a job that did not end with ``done``."""
    hint = f'See "bootup status {unit}" and "bootup logs -u {unit}" for details.'
    if result == "dependency":
        _err(f"A dependency job for {unit} failed. See 'bootup logs' for details.")
        return
    if result == "canceled":
        _err(f"Job for {unit} canceled.")
        return
    if result == "unsupported":
        _err(f"Operation on {unit} not supported yet: its unit type is not supported.")
        return
    if result == "assert":
        _err(f"Assertion failed on job for {unit}.")
        return
    reply = client.call(f"{_MANAGER}.GetProperties", {"name": unit, "properties": ["Result"]})
    reason = _RESULT_REASONS.get(reply["properties"].get("Result", ""))
    if reason:
        _err(f"Job for {unit} failed because {reason}.\n{hint}")
    else:
        _err(f"Job for {unit} failed.\n{hint}")


def _wait_inactive(client: Client, events: Any, units: list[str]) -> int:
    """--wait: block until every unit is inactive or failed; 1 if one failed."""
    waiting = set(units)
    failed = False
    for unit in list(waiting):
        reply = client.call(
            f"{_MANAGER}.GetProperties", {"name": unit, "properties": ["ActiveState"]}
        )
        state = reply["properties"]["ActiveState"]
        if state in ("inactive", "failed"):
            waiting.discard(unit)
            failed = failed or state == "failed"
    for event in events:
        change = event.get("unit")
        if not waiting:
            break
        if (
            event.get("event") == "unit"
            and change
            and change["unit"] in waiting
            and change["new_state"] in ("inactive", "failed")
        ):
            waiting.discard(change["unit"])
            failed = failed or change["new_state"] == "failed"
            if not waiting:
                break
    return 1 if failed else 0


def _kill(args: argparse.Namespace) -> int:
    import signal

    text: str = args.signal
    try:
        number = int(text) if text.isdigit() else int(signal.Signals[_signame(text)])
    except KeyError:
        _err(f"Failed to parse signal string {text}.")
        return 1
    rc = 0
    with _connect(args) as client:
        for unit in _expand(client, args.units):
            from bootup.control.errors import CallError

            try:
                client.call(
                    f"{_MANAGER}.KillUnit",
                    {"unit": unit, "signal": number, "whom": args.kill_whom},
                )
            except CallError as exc:
                _err(f"Failed to kill unit {unit}: {exc}")
                rc = exc.exit_code if exc.exit_code != 4 else 1
    return rc


def _signame(text: str) -> str:
    upper = text.upper()
    return upper if upper.startswith("SIG") else f"SIG{upper}"


def _reset_failed(args: argparse.Namespace) -> int:
    from bootup.control.errors import NoSuchUnitError

    rc = 0
    with _connect(args) as client:
        units: list[str | None] = list(_expand(client, args.units)) if args.units else [None]
        for unit in units:
            try:
                client.call(f"{_MANAGER}.ResetFailed", {"unit": unit})
            except NoSuchUnitError:
                _err(f"Failed to reset failed state of unit {unit}: Unit {unit} not loaded.")
                rc = 1
    return rc


def _daemon_reload(args: argparse.Namespace) -> int:
    with _connect(args, timeout=None) as client:
        client.call(f"{_MANAGER}.Reload")
    return 0


def _daemon_reexec(args: argparse.Namespace) -> int:
    from bootup.errors import NotSupportedError

    raise NotSupportedError(
        "daemon-reexec is not supported yet (the manager cannot hand its state to a new "
        "process); use daemon-reload to read the unit files again"
    )


def _warn_changed(client: Client, unit: str) -> None:
    """Systemctl's warning when a unit's files changed after the manager loaded them."""
    from bootup.control.errors import CallError

    try:
        reply = client.call(
            f"{_MANAGER}.GetProperties", {"name": unit, "properties": ["NeedDaemonReload"]}
        )
    except CallError:
        return
    if reply["properties"].get("NeedDaemonReload") == "yes":
        _err(_changed_warning(unit))


def _changed_warning(unit: str) -> str:
    return (
        f"Warning: The unit file, source configuration file or drop-ins of {unit} changed "
        "on disk. Run 'bootup daemon-reload' to reload units."
    )


#: systemctl --now: what follows enabling, disabling or masking.
_NOW_JOB = {"enable": "start", "disable": "stop", "mask": "stop"}
_INSTALL_METHODS = {
    "enable": "EnableUnitFiles",
    "disable": "DisableUnitFiles",
    "reenable": "ReenableUnitFiles",
    "mask": "MaskUnitFiles",
    "unmask": "UnmaskUnitFiles",
}


def install_live(args: argparse.Namespace) -> int:
    """``enable|disable|reenable|mask|unmask|is-enabled`` through the running manager.

    As systemctl does with PID 1: the manager edits the links in its own search path and
    sends back the changes, printed as the offline verbs print them; then the manager
    reloads (unless ``--no-reload``) and, with ``--now``, the units are started (enable)
    or stopped (disable, mask). Expects ``args.verb``, ``args.units`` and the flags.
    """
    from bootup.cli.commands.unitfiles import report_changes
    from bootup.control.errors import InstallFailedError, NoSuchUnitFileError
    from bootup.errors import NotSupportedError
    from bootup.units.install import Change, UnitFileState

    verb: str = args.verb
    if getattr(args, "now", False) and verb not in _NOW_JOB:
        raise NotSupportedError(f"{verb} --now is not supported yet")
    with _connect(args, timeout=None) as client:
        if verb == "is-enabled":
            ok = False
            for name in args.units:
                try:
                    reply = client.call(f"{_MANAGER}.GetUnitFileState", {"name": name})
                except NoSuchUnitFileError as exc:
                    for warning in exc.parameters.get("warnings", []):
                        _err(warning)
                    # systemctl stops at the first unit it cannot find.
                    _err(f"Failed to get unit file state for {name}: No such file or directory")
                    return 1
                for warning in reply.get("warnings", []):
                    _err(warning)
                state = UnitFileState(reply["state"])
                if state is UnitFileState.BAD:
                    _err(f"Failed to get unit file state for {name}: Bad message")
                    return 1
                if not getattr(args, "quiet", False):
                    print(state.value)
                ok = ok or state.counts_as_enabled
            return 0 if ok else 1
        params: dict[str, Any] = {
            "files": args.units,
            "runtime": getattr(args, "runtime", False),
        }
        if verb not in ("disable", "unmask"):
            params["force"] = getattr(args, "force", False)
        failure: str | None = None
        try:
            reply = client.call(f"{_MANAGER}.{_INSTALL_METHODS[verb]}", params)
        except InstallFailedError as exc:
            reply = exc.parameters
            failure = (
                f"Failed to {verb} {exc}" if reply.get("bare") else f"Failed to {verb} unit, {exc}"
            )
        changes = [
            Change(c["type"], c["path"], c["target"], c["text"], c["bare"])
            for c in reply.get("changes", [])
        ]
        rc = report_changes(verb, changes, list(reply.get("warnings", [])), failure)
        if rc:
            return rc
        if not getattr(args, "no_reload", False):
            client.call(f"{_MANAGER}.Reload")
        if getattr(args, "now", False):
            rc = _now_jobs(client, _NOW_JOB[verb], [_mangle(u) for u in args.units])
    return rc


def _now_jobs(client: Client, job: str, units: list[str]) -> int:
    rc = 0
    for unit in units:
        code = _enqueue(client, unit, job)
        rc = code if code == 5 else rc or code
    return rc


def _enqueue(
    client: Client,
    unit: str,
    job: str,
    *,
    mode: str = "replace",
    no_block: bool = False,
    action: str | None = None,
    progress: argparse.Namespace | None = None,
) -> int:
    """Queue one job and wait for it as systemctl does; return its exit code.

    0, 1, or 5 when the unit is not loaded, after printing systemctl's message for a
    failure. ``progress``: the command's arguments, to draw the job spinner on a terminal.
    """
    import contextlib

    from bootup.cli._progress import job_progress
    from bootup.control.errors import CallError, NoSuchUnitError

    action = action or job
    params = {"unit": unit, "type": job, "mode": mode, "no_block": no_block}
    spinner = job_progress(progress, [unit]) if progress else contextlib.nullcontext()
    try:
        with spinner:
            reply = client.call(f"{_MANAGER}.EnqueueJob", params)
    except NoSuchUnitError:
        _err(f"Failed to {action} {unit}: Unit {unit} not found.")
        return 5
    except CallError as exc:
        _err(f"Failed to {action} {unit}: {exc}")
        return 1
    result = reply.get("result")
    if result not in (None, "done"):
        _explain_failure(client, job, unit, str(result))
        return 1
    return 0


def _exit(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        client.call(f"{_MANAGER}.Exit", {"exit_code": args.code})
    return 0


# --- queries ----------------------------------------------------------------------------


def _states(client: Client, units: list[str]) -> list[str]:
    from bootup.control.errors import NoSuchUnitError

    states: list[str] = []
    for unit in units:
        try:
            reply = client.call(
                f"{_MANAGER}.GetProperties", {"name": unit, "properties": ["ActiveState"]}
            )
            states.append(reply["properties"]["ActiveState"])
        except NoSuchUnitError:
            states.append("inactive")
    return states


def _is_active(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        states = _states(client, _expand(client, args.units))
    if not args.quiet:
        for state in states:
            print(state)
    return 0 if any(s in ("active", "reloading") for s in states) else 3


def _is_failed(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        states = _states(client, _expand(client, args.units))
    if not args.quiet:
        for state in states:
            print(state)
    return 0 if "failed" in states else 1


def _list_units(args: argparse.Namespace) -> int:
    from bootup.control import render as out

    params = {
        "patterns": [_mangle(p) for p in args.patterns] or None,
        "states": [s for group in args.state for s in group.split(",") if s] or None,
        "types": [t for group in args.type for t in group.split(",") if t] or None,
        "all": args.all,
    }
    with _connect(args) as client:
        units = client.call(f"{_MANAGER}.ListUnits", params)["units"]
    colour = out.colour_enabled(tty=sys.stdout.isatty() and sys.stderr.isatty())
    sys.stdout.write(out.list_units(units, args, colour=colour))
    return 0


def _list_jobs(args: argparse.Namespace) -> int:
    import fnmatch

    from bootup.control import render as out

    with _connect(args) as client:
        jobs = client.call(f"{_MANAGER}.ListJobs")["jobs"]
    if args.patterns:
        jobs = [j for j in jobs if any(fnmatch.fnmatchcase(j["unit"], p) for p in args.patterns)]
    sys.stdout.write(out.list_jobs(jobs, args))
    return 0


def _status(args: argparse.Namespace) -> int:
    from bootup.control import render as out
    from bootup.control.errors import NoSuchUnitError

    rc = 0
    first = True
    with _connect(args) as client:
        for unit in _expand(client, args.units):
            try:
                reply = client.call(f"{_MANAGER}.GetStatus", {"name": unit, "lines": args.lines})
            except NoSuchUnitError:
                _err(f"Unit {unit} could not be found.")
                rc = 4
                continue
            if not first:
                print()
            first = False
            tty = sys.stdout.isatty() and sys.stderr.isatty()
            sys.stdout.write(out.status(reply, colour=out.colour_enabled(tty=tty)))
            if reply["properties"].get("NeedDaemonReload") == "yes":
                sys.stdout.flush()
                _err(_changed_warning(unit))
            state = reply["properties"].get("ActiveState", "")
            if state not in ("active", "reloading") and rc == 0:
                rc = 3
    return rc


def show_live(args: argparse.Namespace) -> int:
    """``show`` against the running manager: ``-p/--property``, ``--value``, ``-o json``.

    Expects ``args.units``, ``args.property`` (a list of comma-separated groups),
    ``args.value`` and optionally ``args.system``/``args.project``/``args.json``.
    """
    from bootup.control.errors import NoSuchUnitError

    wanted = [p for group in getattr(args, "property", []) for p in group.split(",") if p]
    blocks: list[dict[str, str]] = []
    rc = 0
    with _connect(args) as client:
        for unit in _expand(client, args.units):
            params: dict[str, Any] = {"name": unit, "properties": wanted or None}
            try:
                props = client.call(f"{_MANAGER}.GetProperties", params)["properties"]
            except NoSuchUnitError:
                props = {"Id": unit, "LoadState": "not-found", "ActiveState": "inactive"}
                if wanted:
                    props = {k: props.get(k, "") for k in wanted}
                rc = 0  # systemctl show prints not-found units and succeeds
            blocks.append(props)
    if getattr(args, "json", False) or getattr(args, "output", "") in ("json", "json-pretty"):
        import json

        print(json.dumps(blocks))
        return rc
    for i, block in enumerate(blocks):
        if i and not args.value:
            print()
        for key, value in block.items():
            print(value if args.value else f"{key}={value}")
    return rc
