"""The bootup demo: bring examples/webapp up, look at it, bring it down.

Runs ``bootup up examples/webapp/units`` (a oneshot migration, a Type=notify HTTP API, a
worker that crashes once and is restarted, a target grouping them), shows systemd's console
lines as they come, then the state of each unit, a request to the API and an excerpt of the
journal, then stops everything with SIGTERM and ends with what the recorded run explains: blame,
the critical chain, and the startup plot (an SVG). Plain output when not on a TTY.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bootup.runtime.journal import JournalReader

HERE = Path(__file__).resolve().parent
UNITS = HERE / "units"
STATE = UNITS / ".bootup"
TIMEOUT = 60.0
BOLD, DIM, RESET = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if sys.stdout.isatty() else ("", "", "")


def heading(text: str) -> None:
    """A section title."""
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def pump(stream: object, lines: queue.Queue[str | None]) -> None:
    """Copy the manager's output lines into a queue (None at EOF)."""
    assert hasattr(stream, "readline")
    for line in iter(stream.readline, ""):
        lines.put(line.rstrip("\n"))
    lines.put(None)


def wait_for(lines: queue.Queue[str | None], done: object, deadline: float) -> None:
    """Echo lines until ``done(line)`` is true; fail after the deadline or at EOF."""
    assert callable(done)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SystemExit("demo: timed out waiting for the manager")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise SystemExit("demo: the manager exited early")
        print(f"  {line}", flush=True)
        if done(line):
            return


def main() -> int:
    """Run the demo; return the manager's exit status."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    since = int(time.time() * 1_000_000)  # the journal keeps earlier runs too
    shown = UNITS.relative_to(Path.cwd()) if UNITS.is_relative_to(Path.cwd()) else UNITS
    heading(f"bootup up {shown}")
    manager = subprocess.Popen(
        [sys.executable, "-m", "bootup", "up", str(UNITS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=pump, args=(manager.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + TIMEOUT
    started = {"worker": 0}

    def worker_restarted(line: str) -> bool:
        if "Started worker.service" in line:
            started["worker"] += 1
        return started["worker"] >= 2

    try:
        wait_for(lines, lambda line: "supervising" in line or worker_restarted(line), deadline)
        if started["worker"] < 2:
            print(f"{DIM}  (waiting for the worker's crash and automatic restart){RESET}")
            wait_for(lines, worker_restarted, deadline)

        heading("GET /items from the API")
        port = int((STATE / "api.port").read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/items", timeout=5) as response:
            print(f"  http://127.0.0.1:{port}/items -> {json.load(response)}")

        heading("unit status (DIR/.bootup/state.json)")
        units = json.loads((STATE / "state.json").read_text())["units"]
        print(f"  {'UNIT':<18} {'ACTIVE':<9} {'SUB':<9} {'RESULT':<9} {'RESTARTS':>8}  STATUS")
        for name in ("migrate.service", "api.service", "worker.service", "webapp.target"):
            u = units[name]
            print(
                f"  {name:<18} {u['ActiveState']:<9} {u['SubState']:<9} "
                f"{u.get('Result', '-'):<9} {u.get('NRestarts', '-'):>8}  {u.get('StatusText', '')}"
            )

        heading("journal excerpt (DIR/.bootup/journal.db)")
        reader = JournalReader(STATE / "journal.db")
        try:
            for unit in ("migrate.service", "api.service", "worker.service"):
                for entry in reversed(
                    reader.query(unit=unit, since_usec=since, limit=5, reverse=True)
                ):
                    pid = f"[{entry.pid}]" if entry.pid else ""
                    print(f"  {unit}{pid}: {entry.message}")
        finally:
            reader.close()
    finally:
        heading("SIGTERM: stopping in reverse order")
        manager.send_signal(signal.SIGTERM)
        try:
            wait_for(lines, lambda line: "all units stopped" in line, time.monotonic() + TIMEOUT)
        finally:
            code = manager.wait(timeout=TIMEOUT)
    print(f"\nbootup exited with status {code}", flush=True)
    if code == 0:
        code = explain_startup()
    return code


def explain_startup() -> int:
    """What the recorded run says about the startup: blame, critical chain, the plot."""
    bootup = [sys.executable, "-m", "bootup", "analyze"]
    where = ["--project", str(UNITS)]
    heading("bootup analyze blame / critical-chain (from the recorded run)")
    for verb in ("blame", "critical-chain"):
        shown = subprocess.run([*bootup, verb, *where], check=False, capture_output=True, text=True)
        for line in shown.stdout.splitlines():
            print(f"  {line}")
        if shown.returncode != 0:
            print(shown.stderr, file=sys.stderr)
            return shown.returncode
    plot = STATE / "startup.svg"
    drawn = subprocess.run([*bootup, "plot", *where, "-o", str(plot)], check=False)
    if drawn.returncode == 0:
        print(f"\nstartup plot written to {plot}")
    return drawn.returncode


if __name__ == "__main__":
    sys.exit(main())
