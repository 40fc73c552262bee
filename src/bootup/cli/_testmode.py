"""``bootup --test --system --unit=UNIT``: the transaction systemd would start at boot.

Same flags as ``systemd --test``: load the units, queue the default (or given) unit's start
job as PID 1 would (isolate when the unit allows it, else replace, logging "Default target
could not be isolated, starting instead"), and print the jobs instead of running them.
``--json`` prints ``{"anchor", "mode", "jobs": [{"unit", "job"}], "order": [{"unit",
"after"}]}`` for scripts; ``order`` lists which job waits for which.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from bootup.cli._units import add_unit_path_options, load_graph

__all__ = ("run_test_mode",)

# Lines systemd logs at debug level only; shown with SYSTEMD_LOG_LEVEL=debug.
_DEBUG_ONLY = ("Trying to enqueue", "Deleting job", "Fixing conflicting", "Deleting ")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bootup --test",
        description="Print the boot transaction instead of running it (as systemd --test).",
    )
    parser.add_argument("--test", action="store_true", required=True)
    parser.add_argument("--user", action="store_true", help="not supported yet")
    parser.add_argument("--unit", default="default.target", help="the unit to start")
    parser.add_argument("--no-pager", action="store_true", help="accepted for compatibility")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_unit_path_options(parser)
    return parser


def run_test_mode(argv: Sequence[str]) -> int:
    """Run test mode; returns the exit code (1 when the transaction fails, as systemd)."""
    from bootup.transaction import JobMode, JobRequestError, TransactionError, build_transaction

    args = _parser().parse_args(argv)
    if args.user:
        print("bootup --test: --user is not supported yet", file=sys.stderr)
        return 1
    debug = os.environ.get("SYSTEMD_LOG_LEVEL", "").lower() == "debug"
    graph = load_graph(args, [args.unit], generators=True)
    log: list[str] = []
    try:
        try:
            tr = build_transaction(graph, args.unit, mode=JobMode.ISOLATE)
        except JobRequestError as exc:
            log.append(f"Default target could not be isolated, starting instead: {exc}")
            tr = build_transaction(graph, args.unit)
    except TransactionError as exc:
        print(f"Failed to start default target: {exc}", file=sys.stderr)
        return 1
    for line in (*log, *tr.log):
        if debug or not any(marker in line for marker in _DEBUG_ONLY):
            print(line, file=sys.stderr)
    if args.json:
        document = {
            "anchor": tr.anchor,
            "mode": str(tr.mode),
            "jobs": [{"unit": job.unit, "job": str(job.type)} for job in tr.jobs.values()],
            "order": [
                {"unit": unit, "after": other}
                for unit, waits in sorted(tr.waits_for.items())
                for other in waits
            ],
        }
        print(json.dumps(document, indent=2))
        return 0
    print("-> By jobs:")
    for number, job in enumerate(tr.jobs.values(), start=1):
        print(f"\t-> Job {number}:")
        print(f"\t\tAction: {job.unit} -> {job.type}")
        print("\t\tState: waiting")
        waits = tr.waits_for.get(job.unit, ())
        if waits:
            print(f"\t\tWaits For: {' '.join(waits)}")
    return 0
