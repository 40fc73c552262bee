"""``analyze critical-chain [UNIT...]``: the chain of units that held a unit's start back.

The walk of systemd-analyze 252 (src/analyze/analyze-critical-chain.c): from the unit, look
at its After= units that became active by the end of the startup; print the one that became
active last (and, with ``fuzz``, those within ``fuzz`` of it), then recurse into it. Each
line shows ``@`` when the unit became active (or started activating, for units whose start
took time) and ``+`` how long the start took, both relative to the manager's start; units
whose start took time are highlighted in red on a terminal. A unit already shown in the
same tree prints ``...`` beneath it instead of being expanded again (or looping).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bootup.analyze.timing import StartupTiming, UnitTiming, format_timespan, usec

__all__ = ("HEADER", "render_critical_chain")

HEADER = (
    'The time when unit became active or started is printed after the "@" character.\n'
    'The time the unit took to start is printed after the "+" character.\n'
    "\n"
)


_RED = "\x1b[0;1;31m"
_NORMAL = "\x1b[0m"
_VERTICAL, _SPACE, _BRANCH, _RIGHT = "│ ", "  ", "├─", "└─"


@dataclass(frozen=True, slots=True)
class _Entry:
    """One line of the tree still to print: a unit, its depth and its branch lines."""

    name: str
    unit: UnitTiming
    level: int
    branches: int
    last: bool


class _Walk:
    """One critical-chain rendering: the unit times, the boot, and the lines so far."""

    def __init__(self, data: StartupTiming, fuzz_usec: int, colour: bool) -> None:
        self.data = data
        # Only units that started have times (systemd's hashmap holds nothing else).
        # systemd keys them by primary name: After= lists and Id= use primary names.
        self.times = {unit.name: unit for unit in data.started_units}
        self.finish = data.finish_usec(require_finished=True)
        self.userspace = usec(data.boot.userspace)
        self.fuzz = fuzz_usec
        self.colour = colour
        self.lines: list[str] = []

    def _red(self, text: str) -> str:
        return f"{_RED}{text}{_NORMAL}" if self.colour else text

    def _in_range(self, unit: UnitTiming | None) -> bool:
        return unit is not None and 0 < usec(unit.activated) <= self.finish

    def _print(
        self, name: str, level: int, branches: int, last: bool, unit: UnitTiming | None
    ) -> None:
        prefix = "".join(
            _VERTICAL if branches & (1 << (i - 1)) else _SPACE for i in range(level, 0, -1)
        )
        prefix += _RIGHT if last else _BRANCH
        # systemd 252's list_dependencies_print() (later releases test activating first).
        if unit is not None and unit.duration_usec:
            at = format_timespan(usec(unit.activating) - self.userspace)
            took = format_timespan(unit.duration_usec)
            self.lines.append(prefix + self._red(f"{name} @{at} +{took}"))
        elif unit is not None and usec(unit.activated) > self.userspace:
            at = format_timespan(usec(unit.activated) - self.userspace)
            self.lines.append(f"{prefix}{name} @{at}")
        else:
            self.lines.append(prefix + name)

    def _after(self, name: str) -> list[str]:
        unit = self.data.by_name.get(name)
        deps = list(unit.after) if unit is not None else []

        def activated(dep: str) -> int:
            dep_unit = self.times.get(dep)
            return usec(dep_unit.activated) if dep_unit is not None else 0

        # Latest activation first; sorted() is stable where systemd's qsort() is not.
        return sorted(deps, key=lambda d: -activated(d))

    def _children(self, name: str, level: int, branches: int) -> list[_Entry]:
        """The After= units of ``name`` the walk shows: the last activated (within fuzz)."""
        in_range = [
            (dep, unit)
            for dep in self._after(name)
            if (unit := self.times.get(dep)) is not None and self._in_range(unit)
        ]
        longest = max((usec(unit.activated) for _, unit in in_range), default=0)
        if longest == 0:
            return []
        chosen = [(d, u) for d, u in in_range if longest - usec(u.activated) <= self.fuzz]
        last = len(chosen) - 1
        return [
            _Entry(dep, unit, level, branches, index == last)
            for index, (dep, unit) in enumerate(chosen)
        ]

    def walk(self, name: str) -> None:
        """Print the tree below ``name`` depth first.

        Iterative, not recursive: a chain of a thousand units must not hit Python's
        recursion limit. Every unit is expanded once per tree; meeting it again prints
        ``...`` beneath it (systemd keeps one list of the units already shown).
        """
        seen = {name}
        stack = [iter(self._children(name, 0, 0))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            self._print(entry.name, entry.level, entry.branches, entry.last, entry.unit)
            below = (entry.branches << 1) | (0 if entry.last else 1)
            if entry.name in seen:
                self._print("...", entry.level + 1, below, True, None)
                continue
            seen.add(entry.name)
            stack.append(iter(self._children(entry.name, entry.level + 1, below)))

    def root(self, name: str) -> None:
        resolved = self.data.resolve(name)
        unit = self.times.get(resolved)
        if unit is not None:
            if unit.duration_usec:
                self.lines.append(self._red(f"{resolved} +{format_timespan(unit.duration_usec)}"))
            elif usec(unit.activated) > self.userspace:
                at = format_timespan(usec(unit.activated) - self.userspace)
                self.lines.append(f"{resolved} @{at}")
            else:
                self.lines.append(resolved)
        self.walk(name)


def render_critical_chain(
    data: StartupTiming,
    units: Sequence[str] = (),
    *,
    fuzz: float = 0.0,
    colour: bool = False,
) -> str:
    """The text of ``analyze critical-chain`` for ``units``.

    Without ``units`` the chain is the data's default unit's (``default.target``, or the
    unit the data says it names), as systemd-analyze shows ``default.target``'s.

    Args:
        data: the recorded timings (the startup must have finished).
        units: the units to explain, each its own tree.
        fuzz: also follow After= units that became active within this many seconds of the
            last one (systemd-analyze's ``--fuzz``).
        colour: highlight units whose start took time, as on a terminal.

    """
    walk = _Walk(data, usec(fuzz), colour)
    # A unit the data does not know (named, or the data's default unit) prints nothing but
    # the header, as systemd-analyze 252 does for a unit that is not loaded.
    for name in units or (data.default_unit,):
        walk.root(name)
    return HEADER + "".join(line + "\n" for line in walk.lines)
