"""systemctl's text output for the live verbs, built from control-socket replies.

Pure functions (reply in, text out) so the CLI stays thin and the layout can be tested
without a manager. Formats follow systemd 252's systemctl: the ``status`` block (dot,
Loaded/Active lines with timestamps and relative durations, Main PID, processes, journal
tail) and the ``list-units``/``list-jobs`` tables with their legends.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
from typing import Any, Final

__all__ = ("exit_status_name", "list_jobs", "list_units", "relative", "status", "timestamp")

_GREEN: Final = "\x1b[0;1;32m"
_RED: Final = "\x1b[0;1;31m"
_BOLD: Final = "\x1b[0;1;39m"
_RESET: Final = "\x1b[0m"

#: systemd's exit status names (exit-status.h, LSB and systemd ranges).
_EXIT_NAMES: Final = {
    0: "SUCCESS",
    1: "FAILURE",
    2: "INVALIDARGUMENT",
    3: "NOTIMPLEMENTED",
    4: "NOPERMISSION",
    5: "NOTINSTALLED",
    6: "NOTCONFIGURED",
    7: "NOTRUNNING",
    200: "CHDIR",
    203: "EXEC",
    209: "STDOUT",
    216: "GROUP",
    217: "USER",
}
_CLD: Final = {1: "exited", 2: "killed", 3: "dumped"}


def exit_status_name(code: int, status: int) -> str:
    """``1/FAILURE``, ``15/TERM``: how systemctl status prints an exit status."""
    if code in (2, 3):
        try:
            return f"{status}/{signal.Signals(status).name.removeprefix('SIG')}"
        except ValueError:
            return str(status)
    name = _EXIT_NAMES.get(status)
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


def _dot(active: str, colour: bool) -> str:
    dot = "\u00d7" if active == "failed" else "\u25cf"  # systemd 252: cross if failed
    if not colour:
        return dot
    if active == "failed":
        return f"{_RED}{dot}{_RESET}"
    if active in ("active", "reloading"):
        return f"{_GREEN}{dot}{_RESET}"
    return dot


def status(reply: dict[str, Any], *, colour: bool, now_usec: int | None = None) -> str:
    """The ``systemctl status UNIT`` block for a ``GetStatus`` reply."""
    props: dict[str, str] = reply["properties"]
    now = now_usec if now_usec is not None else int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    name = props.get("Id", "")
    description = props.get("Description", name)
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    lines = [f"{_dot(active, colour)} {name}" + (f" - {description}" if description else "")]
    fragment = reply.get("fragment_path")
    loaded = props.get("LoadState", "")
    lines.append(f"     Loaded: {loaded}" + (f" ({fragment})" if fragment else ""))
    dropins = reply.get("dropin_paths") or []
    if dropins:
        lines.append(f"    Drop-In: {dropins[0]}")
        lines.extend(f"             {d}" for d in dropins[1:])
    state = f"{active} ({sub})"
    if active == "failed" and props.get("Result", "success") != "success":
        state = f"{active} (Result: {props['Result']})"
    if colour and active in ("active", "reloading"):
        state = f"{_GREEN}{state}{_RESET}"
    elif colour and active == "failed":
        state = f"{_RED}{state}{_RESET}"
    key = {
        "active": "ActiveEnterTimestampRealtime",
        "reloading": "ActiveEnterTimestampRealtime",
        "activating": "InactiveExitTimestampRealtime",
        "deactivating": "ActiveExitTimestampRealtime",
    }.get(active, "InactiveEnterTimestampRealtime")
    since = int(props.get(key, "0") or 0)
    when = f" since {timestamp(since)}; {relative(since, now)}" if since else ""
    lines.append(f"     Active: {state}{when}")
    processes: list[dict[str, Any]] = reply.get("processes") or []
    main = int(props.get("MainPID", "0") or 0)
    exec_main = int(props.get("ExecMainPID", "0") or 0)
    if main:
        comm = next(
            (os.path.basename(p["command"].split(" ")[0]) for p in processes if p["pid"] == main),
            "",
        )
        lines.append(f"   Main PID: {main}" + (f" ({comm})" if comm else ""))
    elif exec_main:
        code = int(props.get("ExecMainCode", "0") or 0)
        status_value = int(props.get("ExecMainStatus", "0") or 0)
        how = _CLD.get(code, "exited")
        lines.append(
            f"   Main PID: {exec_main} (code={how}, status={exit_status_name(code, status_value)})"
        )
    if props.get("StatusText"):
        lines.append(f'     Status: "{props["StatusText"]}"')
    if processes:
        lines.append(f"      Tasks: {len(processes)}")
        lines.extend(_tree(processes))
    log: list[dict[str, Any]] = reply.get("log") or []
    text = "\n".join(lines) + "\n"
    if log:
        host = socket.gethostname().split(".")[0]
        text += "\n" + "".join(_log_line(e, host) + "\n" for e in log)
    return text


def _tree(processes: list[dict[str, Any]]) -> list[str]:
    """The unit's processes as systemctl's CGroup tree (parent before children)."""
    by_pid = {p["pid"]: p for p in processes}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for p in processes:
        if p["ppid"] in by_pid:
            children.setdefault(p["ppid"], []).append(p["pid"])
        else:
            roots.append(p["pid"])
    out: list[str] = []

    def walk(pid: int, prefix: str, last: bool, first_line: bool) -> None:
        label = "  Processes: " if first_line else "             "
        branch = "└─" if last else "├─"
        out.append(f"{label}{prefix}{branch}{pid} {by_pid[pid]['command']}")
        kids = sorted(children.get(pid, []))
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("  " if last else "│ "), i == len(kids) - 1, False)

    for i, root in enumerate(sorted(roots)):
        walk(root, "", i == len(roots) - 1, i == 0)
    return out


def _log_line(entry: dict[str, Any], host: str) -> str:
    moment = dt.datetime.fromtimestamp(entry["realtime_usec"] / 1e6, tz=dt.UTC).astimezone()
    ident = "bootup" if entry["source"] == "manager" or not entry["unit"] else entry["unit"]
    pid = f"[{entry['pid']}]" if entry.get("pid") else ""
    return f"{moment:%b %d %H:%M:%S} {host} {ident}{pid}: {entry['message']}"


def _table(rows: list[list[str]], header: list[str] | None) -> list[str]:
    all_rows = ([header] if header else []) + rows
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return [
        " ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in all_rows
    ]


def list_units(units: list[dict[str, Any]], args: argparse.Namespace, *, colour: bool) -> str:
    """``systemctl list-units`` (table with legend, or ``-o json``)."""
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
        return json.dumps(data, indent=2 if args.output == "json-pretty" else None) + "\n"
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
        marks = ([" "] if not args.no_legend else []) + [
            _dot(u["active_state"], colour) if u["active_state"] == "failed" else " " for u in units
        ]
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
        legend.append("JOB    = Pending job for the unit.")
    tail = f"{len(units)} loaded units listed."
    if not args.all:
        tail += " Pass --all to see loaded but inactive units, too."
    legend.append(tail)
    legend.append("To show all installed unit files use 'bootup list-unit-files'.")
    return "".join(line + "\n" for line in lines + legend)


def list_jobs(jobs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """``systemctl list-jobs`` (table, or ``-o json``)."""
    if args.output in ("json", "json-pretty"):
        data = [
            {"job": j["id"], "unit": j["unit"], "type": j["type"], "state": j["state"]}
            for j in jobs
        ]
        return json.dumps(data, indent=2 if args.output == "json-pretty" else None) + "\n"
    if not jobs:
        return "" if args.no_legend else "No jobs running.\n"
    rows = [[str(j["id"]).rjust(3), j["unit"], j["type"], j["state"]] for j in jobs]
    lines = _table(rows, None if args.no_legend else ["JOB", "UNIT", "TYPE", "STATE"])
    if not args.no_legend:
        lines += ["", f"{len(jobs)} jobs listed."]
    return "".join(line + "\n" for line in lines)
