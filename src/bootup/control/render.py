"""systemctl's text output for the live verbs, built from control-socket replies.

Pure functions (reply in, text out) so the CLI stays thin and the layout can be tested
without a manager. Formats follow systemd 252's systemctl (src/systemctl/systemctl-show.c
``print_status_info``, systemctl-list-units.c, systemctl-list-jobs.c), checked against real
systemd by the golden files in tests/data/systemctl-golden/: the ``status`` block (the
dot, Loaded with the unit file state and preset, Drop-In, Active with timestamps and
durations, Docs, Process/Main PID, Tasks, the CGroup listing, the journal tail in
journalctl's short format) and the ``list-units``/``list-jobs`` tables with their legends.
Colours follow systemctl's rules; the caller decides whether to colour (a TTY).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

from bootup.units.values import EXIT_STATUS_NAMES, format_timespan

__all__ = (
    "colour_enabled",
    "exit_status_name",
    "list_jobs",
    "list_units",
    "relative",
    "status",
    "timestamp",
)

_GREEN: Final = "\x1b[0;1;32m"
_RED: Final = "\x1b[0;1;31m"
_BOLD: Final = "\x1b[0;1;39m"
_RESET: Final = "\x1b[0m"

_CLD: Final = {1: "exited", 2: "killed", 3: "dumped"}


def colour_enabled(*, tty: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Systemd's colors_enabled(): whether systemctl's output gets ANSI colours.

    ``$SYSTEMD_COLORS`` decides when set (a boolean, or ``16``/``256``: on); else
    ``$NO_COLOR`` turns colours off; else only a terminal (``tty``: stdout and stderr are
    TTYs) whose ``$TERM`` is set and not ``dumb`` gets them.
    """
    env = os.environ if environ is None else environ
    forced = env.get("SYSTEMD_COLORS")
    if forced is not None:
        value = forced.strip().lower()
        if value in ("16", "256", "24bit"):
            return True
        return value in ("1", "yes", "y", "true", "t", "on")
    if "NO_COLOR" in env:
        return False
    return tty and env.get("TERM", "dumb") != "dumb"


def exit_status_name(code: int, status: int) -> str:
    """``1/FAILURE``, ``15/TERM``: how systemctl status prints an exit status."""
    if code in (2, 3):
        try:
            return f"{status}/{signal.Signals(status).name.removeprefix('SIG')}"
        except ValueError:
            return str(status)
    name = EXIT_STATUS_NAMES.get(status)
    return f"{status}/{name}" if name else str(status)


def timestamp(usec: int) -> str:
    """``Thu 2026-11-26 05:30:56 UTC``: systemd's format_timestamp() in the local zone."""
    moment = dt.datetime.fromtimestamp(usec / 1e6, tz=dt.UTC).astimezone()
    return moment.strftime("%a %Y-%m-%d %H:%M:%S %Z")


def relative(usec: int, now_usec: int) -> str:
    """``2min 3s ago``: systemd's format_timestamp_relative() (two most significant units)."""
    delta = max(0, now_usec - usec)
    seconds = delta // 1_000_000
    if seconds >= 86400:
        days, rest = divmod(seconds, 86400)
        return f"{days} day{'s' if days != 1 else ''} {rest // 3600}h ago"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}min ago"
    if seconds >= 60:
        return f"{seconds // 60}min {seconds % 60}s ago"
    if seconds > 0:
        return f"{seconds}s ago"
    return f"{delta // 1000}ms ago"


_WHITE_CIRCLE: Final = "\u25cb"
_BLACK_CIRCLE: Final = "\u25cf"
_CROSS: Final = "\u00d7"
_YELLOW: Final = "\x1b[0;1;33m"
_GREY: Final = "\x1b[0;38;5;245m"
_LOAD_ERROR: Final = "\x1b[0;1;38;5;185m"
#: UnitFileState values for which systemctl 252 leaves the preset out (show_preset_for_state).
_NO_PRESET: Final = frozenset({"alias", "static", "generated", "transient"})
#: Exit statuses with a name in ``systemctl status`` (EXIT_STATUS_LIBC | EXIT_STATUS_SYSTEMD:
#: the LSB names 2-7 are left out there, unlike in the manager's own log lines).
_STATUS_NAMES: Final = {k: v for k, v in EXIT_STATUS_NAMES.items() if k < 2 or k >= 200}
_EXEC: Final = re.compile(
    r"\{ path=(?P<path>[^;]*) ; argv\[\]=(?P<argv>.*?) ; ignore_errors=(?P<ignore>yes|no) ;"
    r".*? pid=(?P<pid>\d+) ; code=(?P<code>\S+) ; status=(?P<status>\d+)(?:/\S+)? \}"
)


def _glyph(active: str) -> str:
    """unit_active_state_to_glyph(): cross if failed, white circle if inactive."""
    if active == "failed":
        return _CROSS
    if active in ("inactive", "maintenance"):
        return _WHITE_CIRCLE
    return _BLACK_CIRCLE


def _active_colour(active: str) -> str:
    """format_active_state(): red if failed, green if active or reloading."""
    if active == "failed":
        return _RED
    if active in ("active", "reloading"):
        return _GREEN
    return ""


def _enable_colour(state: str) -> str:
    """format_enable_state(): yellow if disabled, green if enabled."""
    return {"disabled": _YELLOW, "enabled": _GREEN}.get(state, "")


def _paint(text: str, tint: str, colour: bool) -> str:
    return f"{tint}{text}{_RESET}" if colour and tint else text


def _dot(active: str, colour: bool) -> str:
    return _paint(_glyph(active), _active_colour(active), colour)


def _status_text(code: int, status: int) -> str:
    """``code=exited, status=3`` or ``code=killed, signal=TERM`` as systemctl status says."""
    how = _CLD.get(code, "exited")
    if code in (2, 3):
        try:
            name = signal.Signals(status).name.removeprefix("SIG")
        except ValueError:
            name = str(status)
        return f"code={how}, signal={name}"
    label = _STATUS_NAMES.get(status)
    return f"code={how}, status={status}" + (f"/{label}" if label else "")


def _usec(props: dict[str, str], key: str) -> int:
    value = props.get(key, "0") or "0"
    return int(value) if value.isdigit() else 0


def _loaded_line(props: dict[str, str], reply: dict[str, Any], colour: bool) -> str:
    load = props.get("LoadState", "")
    load_text = _paint(load, _RED if load in ("error", "not-found", "bad-setting") else "", colour)
    path = props.get("SourcePath") or reply.get("fragment_path") or props.get("FragmentPath")
    state = props.get("UnitFileState", "")
    if path and state:
        preset = props.get("UnitFilePreset", "")
        show_preset = bool(preset) and state not in _NO_PRESET
        on, off = (_enable_colour(state), _RESET) if colour and _enable_colour(state) else ("", "")
        p_on, p_off = (
            (_enable_colour(preset), _RESET) if colour and _enable_colour(preset) else ("", "")
        )
        # systemctl prints the preset's colour codes even when it leaves the preset out.
        shown = preset if show_preset else ""
        label = "; preset: " if show_preset else ""
        return f"     Loaded: {load_text} ({path}; {on}{state}{off}{label}{p_on}{shown}{p_off})"
    if path:
        return f"     Loaded: {load_text} ({path})"
    return f"     Loaded: {load_text}"


def _dropin_lines(dropins: list[str]) -> list[str]:
    """The Drop-In block: each directory, then its files after a tree corner."""
    lines: list[str] = []
    groups: list[tuple[str, list[str]]] = []
    for path in dropins:
        directory, name = os.path.split(path)
        if groups and groups[-1][0] == directory:
            groups[-1][1].append(name)
        else:
            groups.append((directory, [name]))
    for i, (directory, names) in enumerate(groups):
        lines.append(("    Drop-In: " if i == 0 else "             ") + directory)
        lines.append("             \u2514\u2500" + ", ".join(names))
    return lines


def _exec_processes(props: dict[str, str]) -> list[dict[str, Any]]:
    """Exited ``Exec*=`` commands from their systemctl-show values (``{ path=... }``)."""
    out: list[dict[str, Any]] = []
    for key in ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload",
                "ExecStop", "ExecStopPost"):  # fmt: skip
        for m in _EXEC.finditer(props.get(key, "")):
            code = {"exited": 1, "killed": 2, "dumped": 3}.get(m["code"], 0)
            out.append(
                {
                    "name": key,
                    "argv": m["argv"],
                    "ignore": m["ignore"] == "yes",
                    "pid": int(m["pid"]),
                    "code": code,
                    "status": int(m["status"]),
                }
            )
    return out


def _clean_exit(code: int, status: int) -> bool:
    """is_clean_exit(..., EXIT_CLEAN_DAEMON): exit 0, or SIGHUP/INT/TERM/PIPE."""
    if code == 1:
        return status == 0
    return code == 2 and status in (1, 2, 13, 15)


def _read_comm(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


def status(
    reply: dict[str, Any],
    *,
    colour: bool,
    now_usec: int | None = None,
    comm: Callable[[int], str | None] = _read_comm,
) -> str:
    """The ``systemctl status UNIT`` block for a ``GetStatus`` reply (systemd 252's layout).

    ``comm`` names a running process for the ``Main PID:`` line (systemctl reads
    /proc/PID/comm on the local machine; a test passes its own).
    """
    props: dict[str, str] = reply["properties"]
    now = now_usec if now_usec is not None else int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    name = props.get("Id", "")
    description = props.get("Description", "")
    first = f"{_dot(props.get('ActiveState', ''), colour)} {name}"
    if description and description != name:
        first += f" - {description}"
    lines = [first, _loaded_line(props, reply, colour)]
    lines.extend(_dropin_lines(list(reply.get("dropin_paths") or [])))
    lines.extend(_active_lines(props, colour, now))
    for i, doc in enumerate(props.get("Documentation", "").split()):
        lines.append(f"   {'Docs:' if i == 0 else '':>9} {doc.strip(chr(34))}")
    lines.extend(_pid_lines(props, colour, comm))
    if props.get("StatusText"):
        lines.append(f'     Status: "{props["StatusText"]}"')
    errno_value = _usec(props, "StatusErrno")
    if errno_value:
        lines.append(f"      Error: {errno_value} ({os.strerror(errno_value)})")
    processes: list[dict[str, Any]] = reply.get("processes") or []
    lines.extend(_cgroup_lines(props, processes, colour))
    log: list[dict[str, Any]] = reply.get("log") or []
    text = "\n".join(lines) + "\n"
    if log:
        host = socket.gethostname()
        names = _identifiers(props, processes)
        text += "\n" + "".join(_log_line(e, host, names) + "\n" for e in log)
    return text


def _active_lines(props: dict[str, str], colour: bool, now: int) -> list[str]:
    """``Active:`` (state, result, since when) and, for a unit that ran, ``Duration:``."""
    name = props.get("Id", "")
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    state = active if sub == active or not sub else f"{active} ({sub})"
    text = f"     Active: {_paint(state, _active_colour(active), colour)}"
    result = props.get("Result", "")
    if result and result != "success":
        text += f" (Result: {result})"
    key = {
        "active": "ActiveEnterTimestampRealtime",
        "reloading": "ActiveEnterTimestampRealtime",
        "inactive": "InactiveEnterTimestampRealtime",
        "failed": "InactiveEnterTimestampRealtime",
        "activating": "InactiveExitTimestampRealtime",
    }.get(active, "ActiveExitTimestampRealtime")
    since = _usec(props, key)
    if since:
        text += f" since {timestamp(since)}; {relative(since, now)}"
    lines = [text]
    entered = _usec(props, "ActiveEnterTimestampRealtime")
    exited = _usec(props, "ActiveExitTimestampRealtime")
    if (
        since
        and not name.endswith(".target")
        and active in ("inactive", "failed")
        and entered
        and exited >= entered
    ):
        lines.append(f"   Duration: {format_timespan(exited - entered, 1000)}")
    return lines


def _pid_lines(props: dict[str, str], colour: bool, comm: Callable[[int], str | None]) -> list[str]:
    """``Process:`` lines of exited commands, then ``Main PID:`` (and ``Control PID:``)."""
    lines: list[str] = []
    main = _usec(props, "MainPID")
    shown_main = main or _usec(props, "ExecMainPID")
    control = _usec(props, "ControlPID")
    for p in _exec_processes(props):
        if p["code"] == 0:
            continue
        tint = "" if _clean_exit(p["code"], p["status"]) else (_YELLOW if p["ignore"] else _RED)
        detail = _paint(f"({_status_text(p['code'], p['status'])})", tint, colour)
        lines.append(f"    Process: {p['pid']} {p['name']}={p['argv']} {detail}")
        if p["pid"] == control:
            control = 0
    if not (shown_main or control):
        return lines
    text = ""
    if shown_main:
        text = f"   Main PID: {shown_main}"
        if main:
            name_of = comm(main)
            if name_of:
                text += f" ({name_of})"
        else:
            code = _usec(props, "ExecMainCode")
            if code:
                text += f" ({_status_text(code, _usec(props, 'ExecMainStatus'))})"
    if control:
        text += "; Control PID: " if shown_main else "  Cntrl PID: "
        text += str(control)
        name_of = comm(control)
        if name_of:
            text += f" ({name_of})"
    lines.append(text)
    return lines


def _cgroup_lines(
    props: dict[str, str], processes: list[dict[str, Any]], colour: bool
) -> list[str]:
    """``Tasks:`` and the ``CGroup:`` listing, while the unit has processes."""
    if not processes:
        return []  # like systemd, whose empty cgroups are pruned: no CGroup block
    # Tasks: the cgroup's pids.current counts threads, but a process that forked before
    # bootup moved its parent into the cgroup is outside it: the larger count is closer.
    tasks = props.get("TasksCurrent", "")
    lines = [f"      Tasks: {max(len(processes), int(tasks) if tasks.isdigit() else 0)}"]
    tree = _tree(processes, "             ", colour)
    cgroup = props.get("ControlGroup", "")
    if cgroup:
        lines.append(f"     CGroup: {cgroup}")
        lines.extend(tree)
    else:
        # No cgroup (unprivileged project mode): the processes found by session and
        # INVOCATION_ID, under a label of bootup's own rather than a made-up cgroup path.
        lines.append("  Processes: " + tree[0].lstrip())
        lines.extend(tree[1:])
    return lines


def _tree(processes: list[dict[str, Any]], prefix: str, colour: bool) -> list[str]:
    """The unit's processes as systemctl's CGroup listing: one cgroup, pids in order."""
    ordered = sorted(processes, key=lambda p: int(p["pid"]))
    out: list[str] = []
    for i, p in enumerate(ordered):
        branch = "\u2514\u2500" if i == len(ordered) - 1 else "\u251c\u2500"
        label = _paint(f"{p['pid']} {p['command']}", _GREY, colour)
        out.append(f"{prefix}{branch}{label}")
    return out


def _identifiers(props: dict[str, str], processes: list[dict[str, Any]]) -> dict[int, str]:
    """Pid -> syslog identifier (argv[0]'s base name, as journald records a service's output)."""
    names: dict[int, str] = {}
    for p in _exec_processes(props):
        names[p["pid"]] = os.path.basename(p["argv"].split(" ", 1)[0])
    for p in processes:
        names[int(p["pid"])] = os.path.basename(str(p["command"]).split(" ", 1)[0])
    return names


def _log_line(entry: dict[str, Any], host: str, names: dict[int, str]) -> str:
    """Journalctl's short format: ``Nov 26 07:11:35 host sh[33]: message``."""
    moment = dt.datetime.fromtimestamp(entry["realtime_usec"] / 1e6, tz=dt.UTC).astimezone()
    pid = entry.get("pid")
    if entry["source"] == "manager" or not entry["unit"]:
        ident = "bootup"
    else:
        ident = names.get(pid, "") if pid else ""
        ident = ident or entry["unit"]
    suffix = f"[{pid}]" if pid else ""
    return f"{moment:%b %d %H:%M:%S} {host} {ident}{suffix}: {entry['message']}"


def _table(rows: list[list[str]], header: list[str] | None) -> list[str]:
    all_rows = ([header] if header else []) + rows
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return [
        " ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in all_rows
    ]


def _program() -> str:
    """The name systemctl's hints should use: ``systemctl`` when invoked through that link."""
    return "systemctl" if os.path.basename(sys.argv[0]) == "systemctl" else "bootup"


def _mark(unit: dict[str, Any], colour: bool) -> str:
    """list-units' first column: a dot for units not loaded or failed (else blank)."""
    if unit["load_state"] != "loaded":
        return _paint(_BLACK_CIRCLE, _LOAD_ERROR, colour)
    if unit["active_state"] == "failed":
        return _paint(_BLACK_CIRCLE, _RED, colour)
    return " "


def list_units(units: list[dict[str, Any]], args: argparse.Namespace, *, colour: bool) -> str:
    """``systemctl list-units`` (table with legend, or ``-o json``), as systemd 252 prints it.

    Sorted as systemctl sorts: by unit type (the suffix), then by name.
    """
    units = sorted(units, key=lambda u: (u["name"].rpartition(".")[2], u["name"]))
    if args.output in ("json", "json-pretty"):
        data = [
            {
                "unit": u["name"],
                "load": u["load_state"],
                "active": u["active_state"],
                "sub": u["sub_state"],
                "description": u["description"],
            }
            for u in units
        ]
        if args.output == "json-pretty":
            return json.dumps(data, indent=2) + "\n"
        return json.dumps(data, separators=(",", ":")) + "\n"
    jobs = any(u.get("job_type") for u in units)
    header = ["UNIT", "LOAD", "ACTIVE", "SUB"] + (["JOB"] if jobs else []) + ["DESCRIPTION"]
    rows = []
    for u in units:
        row = [u["name"], u["load_state"], u["active_state"], u["sub_state"]]
        if jobs:
            row.append(u.get("job_type") or "")
        row.append(u["description"])
        rows.append(row)
    lines = _table(rows, None if args.no_legend else header)
    if not args.plain:
        marks = ([" "] if not args.no_legend else []) + [_mark(u, colour) for u in units]
        lines = [f"{m} {line}" for m, line in zip(marks, lines, strict=True)]
    if args.no_legend:
        return "".join(line + "\n" for line in lines)
    if not units:
        return "0 loaded units listed.\n"
    legend = [
        "",
        "LOAD   = Reflects whether the unit definition was properly loaded.",
        "ACTIVE = The high-level unit activation state, i.e. generalization of SUB.",
        "SUB    = The low-level unit activation state, values depend on unit type.",
    ]
    if jobs:
        legend += ["JOB    = Pending job for the unit.", ""]
    states = [s for group in getattr(args, "state", []) or [] for s in group.split(",") if s]
    hint = f"To show all installed unit files use '{_program()} list-unit-files'."
    count = f"{len(units)} loaded units listed."
    if args.all or "inactive" in states:
        legend += [_paint(count, _BOLD, colour), _paint(hint, _GREY, colour)]
    elif not states:
        legend += [
            _paint(count, _BOLD, colour) + " Pass --all to see loaded but inactive units, too.",
            _paint(hint, _GREY, colour),
        ]
    else:
        legend.append(_paint(count, _BOLD, colour))
    return "".join(line + "\n" for line in lines + legend)


def list_jobs(jobs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """``systemctl list-jobs`` (table, or ``-o json``)."""
    if args.output in ("json", "json-pretty"):
        data = [
            {"job": j["id"], "unit": j["unit"], "type": j["type"], "state": j["state"]}
            for j in jobs
        ]
        if args.output == "json-pretty":
            return json.dumps(data, indent=2) + "\n"
        return json.dumps(data, separators=(",", ":")) + "\n"
    if not jobs:
        return "" if args.no_legend else "No jobs running.\n"
    rows = [[str(j["id"]), j["unit"], j["type"], j["state"]] for j in jobs]
    lines = _table(rows, None if args.no_legend else ["JOB", "UNIT", "TYPE", "STATE"])
    if not args.no_legend:
        lines += ["", f"{len(jobs)} jobs listed."]
    return "".join(line + "\n" for line in lines)
