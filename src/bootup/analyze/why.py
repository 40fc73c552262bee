"""``analyze why UNIT``: the dependency paths that pull a unit in, or why none does.

systemd has no such command; users reconstruct the answer from ``list-dependencies
--reverse`` and debug logs. bootup answers it from the transaction itself: every job
remembers who pulled it in and over which dependency, and every job the engine dropped
(to break a cycle, to resolve a conflict, as garbage) left a log line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from bootup.transaction import (
    DependencyKind,
    JobMode,
    JobRequestError,
    LoadState,
    Pull,
    Transaction,
    TransactionError,
    UnitGraph,
    build_transaction,
)

__all__ = ("WhyReport", "explain_why", "render_why")

_PULL_KINDS = (
    DependencyKind.REQUIRES,
    DependencyKind.REQUISITE,
    DependencyKind.WANTS,
    DependencyKind.BINDS_TO,
    DependencyKind.UPHOLDS,
)


@dataclass(frozen=True, slots=True)
class WhyReport:
    """The answer: ``chains`` when the unit is pulled in, else ``reasons``."""

    unit: str
    target: str
    job: str | None
    chains: tuple[tuple[Pull, ...], ...]
    reasons: tuple[str, ...]


def _transaction(graph: UnitGraph, target: str) -> Transaction:
    try:
        return build_transaction(graph, target, mode=JobMode.ISOLATE)
    except JobRequestError:
        return build_transaction(graph, target)


def _static_path(graph: UnitGraph, start: str, goal: str) -> list[tuple[str, str]] | None:
    previous: dict[str, tuple[str, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            path: list[tuple[str, str]] = []
            step: str | None = current
            while step is not None and previous[step] is not None:
                parent, kind = previous[step]  # type: ignore[misc]
                path.append((parent, kind))
                step = parent
            return list(reversed(path))
        for kind in _PULL_KINDS:
            for dep in graph.deps(current, kind):
                if dep not in previous:
                    previous[dep] = (current, kind)
                    queue.append(dep)
    return None


def explain_why(
    graph: UnitGraph, unit: str, target: str, *, conditions: Sequence[str] = ()
) -> WhyReport:
    """Explain whether and why starting ``target`` starts ``unit``.

    ``conditions`` are the unit's Condition*=/Assert*= lines: they do not keep a unit out
    of a transaction (systemd checks them when the job runs), so they are reported as a
    note, not as a reason.
    """
    unit = graph.canonical(unit)
    target = graph.canonical(target)
    node = graph.node(unit)
    reasons: list[str] = []
    if node.load_state is LoadState.MASKED:
        reasons.append(f"{unit} is masked (linked to /dev/null): nothing can start it.")
    elif node.load_state is LoadState.NOT_FOUND:
        reasons.append(f"{unit} was not found on the unit search path.")
    elif node.load_state is not LoadState.LOADED:
        reasons.append(f"{unit} did not load: {node.load_state}.")
    try:
        tr = _transaction(graph, target)
    except TransactionError as exc:
        reasons.append(f"Starting {target} fails: {exc}")
        return WhyReport(unit, target, None, (), tuple(reasons))
    job = tr.jobs.get(unit)
    if job is not None:
        chains: list[tuple[Pull, ...]] = []
        for pull in job.pulled_by:
            if pull.unit is None:
                chains.append((pull,))
            else:
                chains.append((*tr.why(pull.unit), pull))
        notes = tuple(f"Conditions are checked only when the job runs: {c}" for c in conditions)
        return WhyReport(unit, target, str(job.type), tuple(chains), notes)
    path = _static_path(graph, target, unit)
    if path is None:
        reasons.append(
            f"No Requires=, Wants=, BindsTo=, Requisite= or Upholds= path leads from {target} "
            f"to {unit}."
        )
    else:
        steps = " -> ".join(f"{parent} {kind}" for parent, kind in path)
        reasons.append(f"{target} reaches it ({steps} {unit}), but the job was dropped:")
        dropped = [line for line in tr.log if unit in line and "Trying to enqueue" not in line]
        reasons.extend(f"  {line}" for line in dropped)
        if not dropped:
            reasons.append(
                "  the job was redundant or garbage-collected with the unit that wanted it."
            )
    return WhyReport(unit, target, None, (), tuple(reasons))


def render_why(report: WhyReport) -> str:
    """Render a report as the CLI prints it."""
    if report.job is None:
        lines = [f"{report.unit} is not started by {report.target}:"]
        lines.extend(f"  {reason}" for reason in report.reasons)
        return "\n".join(lines) + "\n"
    lines = [f"{report.unit} gets a {report.job} job when {report.target} starts, because:"]
    for chain in report.chains:
        if len(chain) == 1:
            lines.append(f"  {report.unit} is the unit requested")
            continue
        parts = [chain[1].unit or report.target]
        parts.extend(f"{pull.kind}= {pull_next}" for pull, pull_next in _steps(chain, report.unit))
        lines.append("  " + " -> ".join(parts))
    lines.extend(f"  note: {reason}" for reason in report.reasons)
    return "\n".join(lines) + "\n"


def _steps(chain: tuple[Pull, ...], unit: str) -> list[tuple[Pull, str]]:
    """Pair each pull with the unit it pulled in (the next puller, or ``unit`` last)."""
    pulls = chain[1:]
    steps = []
    for index, pull in enumerate(pulls):
        pulled = pulls[index + 1].unit if index + 1 < len(pulls) else unit
        steps.append((pull, pulled or unit))
    return steps
