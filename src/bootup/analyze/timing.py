"""Recorded startup timestamps, and ``analyze time`` over them.

The data model behind ``analyze time``, ``blame``, ``critical-chain`` and ``plot``: what
systemd-analyze 252 reads over D-Bus (src/analyze/analyze-time-data.c), here read from text
or JSON so the same renderers serve real systemd's data (``systemctl show`` output), a
bootup manager's ``state.json`` snapshot, and a saved file.

Time origin. Every timestamp is in seconds from the *analysis origin*, as systemd-analyze
computes it: in a container, a user instance or a bootup project (no firmware, loader or
kernel timestamps) that is the manager's start (``UserspaceTimestampMonotonic``), and
``BootTiming.userspace`` is ``None``; on a full boot it is the kernel's start
(CLOCK_MONOTONIC zero) and ``userspace`` says when the manager started. ``None`` means
"never happened" (systemd's 0). Durations are computed in whole microseconds, like
systemd's ``usec_t``, so rounding and ties come out as systemd's do.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bootup.errors import ManagerError, NotSupportedError
from bootup.units.values import format_timespan as units_format_timespan

__all__ = (
    "JSON_FORMAT",
    "SHOW_MANAGER_PROPERTIES",
    "SHOW_UNIT_PROPERTIES",
    "BootNotFinishedError",
    "BootTiming",
    "StartupTiming",
    "TimingDataError",
    "UnitTiming",
    "format_timespan",
    "load_timing_file",
    "render_time",
    "timing_from_json",
    "timing_from_snapshot",
    "timing_from_systemctl_show",
    "timing_to_json",
    "usec",
    "write_timing_file",
)

USEC_PER_MSEC: Final = 1_000
USEC_PER_SEC: Final = 1_000_000
USEC_PER_MINUTE: Final = 60 * USEC_PER_SEC
#: The tag of bootup's own timing JSON (``--from-file``).
JSON_FORMAT: Final = "bootup-analyze-timing/1"

#: What ``systemctl show -p ...`` must print per unit for :func:`timing_from_systemctl_show`.
SHOW_UNIT_PROPERTIES: Final = (
    "Id",
    "Names",
    "After",
    "InactiveExitTimestampMonotonic",
    "ActiveEnterTimestampMonotonic",
    "ActiveExitTimestampMonotonic",
    "InactiveEnterTimestampMonotonic",
)
#: What ``systemctl show -p ...`` (no unit: the manager) must print.
SHOW_MANAGER_PROPERTIES: Final = (
    "FirmwareTimestampMonotonic",
    "LoaderTimestampMonotonic",
    "InitRDTimestampMonotonic",
    "UserspaceTimestampMonotonic",
    "FinishTimestampMonotonic",
    "SecurityStartTimestampMonotonic",
)


class TimingDataError(ManagerError, ValueError):
    """Recorded timing data (a file, ``systemctl show`` text, a snapshot) is malformed.

    Attributes:
        source: the file or stream that was read.
        line: 1-based line number, when the input is line-oriented (else 0).
        field: the property or key that was wrong.
        expected: what was expected there.
        found: what was found instead.
    """

    def __init__(
        self, source: str, field: str, expected: str, found: str, *, line: int = 0
    ) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: expected {expected}, found {found!r}")
        self.source = source
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found


class BootNotFinishedError(ManagerError):
    """The startup has not finished yet, so ``time``/``critical-chain``/``plot`` cannot answer.

    The message is systemd-analyze 252's, so scripts that match it keep working.
    """

    def __init__(self, finish_usec: int = 0) -> None:
        super().__init__(
            "Bootup is not yet finished "
            f"(org.freedesktop.systemd1.Manager.FinishTimestampMonotonic={finish_usec}).\n"
            "Please try again later.\n"
            "Hint: Use 'systemctl list-jobs' to see active jobs"
        )
        self.finish_usec = finish_usec


def usec(seconds: float | None) -> int:
    """Seconds (``None``: never) as systemd's ``usec_t`` (0: never)."""
    return 0 if seconds is None else round(seconds * USEC_PER_SEC)


def _seconds(value_usec: int) -> float | None:
    return None if value_usec == 0 else value_usec / USEC_PER_SEC


def format_timespan(value_usec: int, accuracy_usec: int = USEC_PER_MSEC) -> str:
    """Systemd's ``format_timespan()``: ``1min 2.345s``, ``303ms``, ``2.014s``, ``0``.

    systemd-analyze passes an accuracy of 1 ms: parts smaller than that are dropped, and a
    span under a minute with a remainder is written in dot notation with as many decimals
    as the accuracy leaves (``1.234s``, ``1.5ms`` is not possible at 1 ms).
    """
    return units_format_timespan(value_usec, accuracy_usec)


@dataclass(frozen=True, slots=True)
class UnitTiming:
    """One unit's four transition timestamps (seconds from the origin; ``None``: never).

    ``after`` is the unit's After= list (critical-chain follows it); ``names`` holds every
    name of the unit, aliases included (``default.target`` -> ``multi-user.target``).
    """

    name: str
    activating: float | None
    activated: float | None
    deactivating: float | None
    deactivated: float | None
    after: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def duration_usec(self) -> int:
        """How long the start took, as systemd-analyze computes ``UnitTimes.time``.

        Activated minus activating; for a unit that went down again without becoming
        active (a oneshot without RemainAfterExit=), deactivated minus activating; else 0.
        """
        activating, activated = usec(self.activating), usec(self.activated)
        deactivated = usec(self.deactivated)
        if activated >= activating:
            return activated - activating
        if deactivated >= activating:
            return deactivated - activating
        return 0

    @property
    def duration(self) -> float:
        """:attr:`duration_usec` in seconds."""
        return self.duration_usec / USEC_PER_SEC


@dataclass(frozen=True, slots=True)
class BootTiming:
    """The manager's own timestamps, as far as they exist (``None``: not recorded).

    ``firmware`` and ``loader`` count backwards from the kernel's start (EFI reports them
    so); ``kernel`` is when the kernel handed over (the initrd's or the manager's start);
    ``finish`` is when the startup job queue ran empty (``FinishTimestampMonotonic``).
    In a container or a bootup project only ``finish`` is set (the manager's start is
    the origin).
    """

    finish: float | None
    userspace: float | None = None
    firmware: float | None = None
    loader: float | None = None
    kernel: float | None = None
    initrd: float | None = None


@dataclass(frozen=True, slots=True)
class StartupTiming:
    """Everything the timing verbs read: the manager's times and every unit's.

    ``default_unit`` is the unit ``default.target`` names (systemd resolves the alias;
    it stays ``default.target`` when nothing is called so).
    """

    boot: BootTiming
    units: tuple[UnitTiming, ...]
    default_unit: str = "default.target"
    manager_name: str = "systemd"
    #: Where the data was read from (a file name, ``<json>``...), for error messages.
    source: str = field(default="", compare=False)
    by_name: Mapping[str, UnitTiming] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, UnitTiming] = {}
        for unit in self.units:
            for name in (unit.name, *unit.names):
                index.setdefault(name, unit)
        object.__setattr__(self, "by_name", index)

    def resolve(self, name: str) -> str:
        """The primary name of ``name`` (aliases resolved; unknown names unchanged)."""
        unit = self.by_name.get(name)
        return unit.name if unit is not None else name

    @property
    def started_units(self) -> tuple[UnitTiming, ...]:
        """Units that ever began activating: the ones systemd-analyze lists."""
        return tuple(u for u in self.units if u.activating is not None)

    def finish_usec(self, *, require_finished: bool) -> int:
        """The finish time in µs, or :class:`BootNotFinishedError` when it is required."""
        finish = usec(self.boot.finish)
        if require_finished and finish <= 0:
            raise BootNotFinishedError(finish)
        return finish


def render_time(data: StartupTiming) -> str:
    """``analyze time``: systemd-analyze 252's two lines (pretty_boot_time()).

    The first line keeps systemd's trailing space after ``(userspace)`` when no total
    follows it.
    """
    boot = data.boot
    finish = data.finish_usec(require_finished=True)
    firmware, loader = usec(boot.firmware), usec(boot.loader)
    kernel, initrd, userspace = usec(boot.kernel), usec(boot.initrd), usec(boot.userspace)
    text = "Startup finished in "
    if firmware > 0:
        text += f"{format_timespan(firmware - loader)} (firmware) + "
    if loader > 0:
        text += f"{format_timespan(loader)} (loader) + "
    if kernel > 0:
        text += f"{format_timespan(kernel)} (kernel) + "
    if initrd > 0:
        text += f"{format_timespan(userspace - initrd)} (initrd) + "
    text += f"{format_timespan(finish - userspace)} (userspace) "
    if kernel > 0:
        text += f"= {format_timespan(firmware + finish)} "
    unit = data.by_name.get(data.default_unit)
    name = unit.name if unit is not None else data.default_unit
    reached = usec(unit.activated) if unit is not None else 0
    if reached > 0:
        text += f"\n{name} reached after {format_timespan(reached - userspace)} in userspace."
    else:
        text += f"\n{name} was never reached."
    return text + "\n"


# --- loaders -----------------------------------------------------------------------------


def _parse_usec(value: str, *, source: str, field_name: str, line: int) -> int:
    if value in ("", "n/a"):
        return 0
    if not value.isdigit():
        raise TimingDataError(
            source, field_name, "microseconds as a decimal integer", value, line=line
        )
    return int(value)


def _blocks(text: str) -> Iterable[list[tuple[int, str, str]]]:
    """``systemctl show`` output split into blocks of (line, key, value), blank-separated."""
    block: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            if block:
                yield block
            block = []
            continue
        key, eq, value = raw.partition("=")
        if not eq:
            block.append((number, "", raw))
            continue
        block.append((number, key, value))
    if block:
        yield block


def _relative(raw: int, origin: int) -> float | None:
    """A raw CLOCK_MONOTONIC µs stamp relative to ``origin`` (systemd's subtract_timestamp)."""
    if raw <= 0:
        return None
    return (raw - origin) / USEC_PER_SEC


def timing_from_systemctl_show(text: str, *, source: str = "<systemctl show>") -> StartupTiming:
    """Read ``systemctl show`` output: the manager's block and one block per unit.

    Produce it with ``systemctl show -p`` + :data:`SHOW_MANAGER_PROPERTIES` (no unit
    name) followed by ``systemctl show -p`` + :data:`SHOW_UNIT_PROPERTIES` for every
    unit of ``systemctl list-units --all``. The block holding
    ``UserspaceTimestampMonotonic`` is the manager's; the others must carry ``Id``.
    Container mode (no ``SecurityStartTimestampMonotonic``) moves the origin to the
    manager's start, as systemd-analyze does.
    """
    manager: dict[str, int] | None = None
    units: list[tuple[dict[str, int], dict[str, str]]] = []
    for block in _blocks(text):
        for number, key, value in block:
            if not key:
                raise TimingDataError(source, "line", "KEY=VALUE", value, line=number)
        keys = {key for _, key, _ in block}
        if "UserspaceTimestampMonotonic" in keys:
            manager = {
                key: _parse_usec(value, source=source, field_name=key, line=number)
                for number, key, value in block
                if key.endswith("Monotonic")
            }
        elif "Id" in keys:
            units.append(({key: n for n, key, _ in block}, {key: value for _, key, value in block}))
        else:
            raise TimingDataError(
                source,
                "block",
                "a unit block with Id= or the manager's UserspaceTimestampMonotonic=",
                block[0][1] + "=" + block[0][2],
                line=block[0][0],
            )
    if manager is None:
        raise TimingDataError(
            source,
            "UserspaceTimestampMonotonic",
            "the manager's block (systemctl show -p UserspaceTimestampMonotonic,...)",
            "no such block",
        )
    userspace = manager.get("UserspaceTimestampMonotonic", 0)
    full_boot = manager.get("SecurityStartTimestampMonotonic", 0) > 0
    origin = 0 if full_boot else userspace

    def rel(key: str) -> float | None:
        return _relative(manager.get(key, 0), origin) if full_boot else None

    firmware, loader = (
        manager.get("FirmwareTimestampMonotonic", 0),
        manager.get("LoaderTimestampMonotonic", 0),
    )
    initrd = manager.get("InitRDTimestampMonotonic", 0)
    boot = BootTiming(
        finish=_relative(manager.get("FinishTimestampMonotonic", 0), origin),
        userspace=rel("UserspaceTimestampMonotonic"),
        firmware=_seconds(firmware) if full_boot else None,
        loader=_seconds(loader) if full_boot else None,
        kernel=(_seconds(initrd or userspace) if full_boot else None),
        initrd=rel("InitRDTimestampMonotonic"),
    )
    timings = []
    default_unit = "default.target"
    for lines, props in units:

        def stamp(
            key: str, props: dict[str, str] = props, lines: dict[str, int] = lines
        ) -> float | None:
            value = props.get(key, "")
            raw = _parse_usec(value, source=source, field_name=key, line=lines.get(key, 0))
            return _relative(raw, origin)

        names = tuple(props.get("Names", "").split())
        name = props["Id"]
        if "default.target" in names:
            default_unit = name
        timings.append(
            UnitTiming(
                name=name,
                activating=stamp("InactiveExitTimestampMonotonic"),
                activated=stamp("ActiveEnterTimestampMonotonic"),
                deactivating=stamp("ActiveExitTimestampMonotonic"),
                deactivated=stamp("InactiveEnterTimestampMonotonic"),
                after=tuple(props.get("After", "").split()),
                names=tuple(n for n in names if n != name),
            )
        )
    return StartupTiming(boot=boot, units=tuple(timings), default_unit=default_unit, source=source)


def timing_from_snapshot(
    snapshot: Mapping[str, object],
    *,
    after: Mapping[str, Sequence[str]] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    default_unit: str = "default.target",
    source: str = "<state.json>",
) -> StartupTiming:
    """Read a bootup manager's ``state.json`` snapshot (``Manager.snapshot()``).

    The snapshot holds every unit's ``*TimestampMonotonic`` properties and its ``After=``
    list, and the manager's own ``UserspaceTimestampMonotonic``/``FinishTimestampMonotonic``
    under ``"manager"``. Snapshots written before bootup recorded those lack them: there
    the earliest unit activation stands in for the manager's start and the default unit's
    activation (else the last recorded transition) for the finish, and ``after`` supplies
    the After= lists (from the unit files). ``after``, when given, wins.
    """
    units_obj = snapshot.get("units")
    if not isinstance(units_obj, Mapping):
        raise TimingDataError(
            source, "units", "an object of unit properties", type(units_obj).__name__
        )
    raw: dict[str, dict[str, int]] = {}
    for name, props in units_obj.items():
        if not isinstance(props, Mapping):
            raise TimingDataError(source, f"units.{name}", "an object", type(props).__name__)
        raw[str(name)] = {
            key: _parse_usec(
                str(props.get(key, "0")), source=source, field_name=f"units.{name}.{key}", line=0
            )
            for key in SHOW_UNIT_PROPERTIES[3:]
        }
    names = {  # systemctl show's Names=: the unit's own name and its aliases
        str(name): [n for n in str(props.get("Names", "")).split() if n != name]
        if isinstance(props, Mapping)
        else []
        for name, props in units_obj.items()
    }
    recorded = {
        str(name): str(props.get("After", "")).split() if isinstance(props, Mapping) else []
        for name, props in units_obj.items()
    }
    manager_obj = snapshot.get("manager")
    manager = manager_obj if isinstance(manager_obj, Mapping) else {}
    origin = _parse_usec(
        str(manager.get("UserspaceTimestampMonotonic", "0")),
        source=source,
        field_name="manager.UserspaceTimestampMonotonic",
        line=0,
    )
    starts = [v["InactiveExitTimestampMonotonic"] for v in raw.values()]
    starts = [s for s in starts if s > 0]
    if origin <= 0:
        if not starts:
            return StartupTiming(BootTiming(finish=None), (), default_unit, "bootup", source)
        # One microsecond before the first activation, so that unit keeps a non-zero
        # offset (systemd treats 0 as "never").
        origin = min(starts) - 1
    finish = _parse_usec(
        str(manager.get("FinishTimestampMonotonic", "0")),
        source=source,
        field_name="manager.FinishTimestampMonotonic",
        line=0,
    )
    resolved_default = default_unit
    for name, others in (aliases if aliases is not None else names).items():
        if default_unit in others:
            resolved_default = name
    if finish <= 0:
        default = raw.get(resolved_default, {})
        finish = default.get("ActiveEnterTimestampMonotonic", 0)
    if finish <= 0:
        finish = max((s for v in raw.values() for s in v.values()), default=0)
    timings = tuple(
        UnitTiming(
            name=name,
            activating=_relative(v["InactiveExitTimestampMonotonic"], origin),
            activated=_relative(v["ActiveEnterTimestampMonotonic"], origin),
            deactivating=_relative(v["ActiveExitTimestampMonotonic"], origin),
            deactivated=_relative(v["InactiveEnterTimestampMonotonic"], origin),
            after=tuple(after[name] if after is not None and name in after else recorded[name]),
            names=tuple(aliases[name] if aliases is not None and name in aliases else names[name]),
        )
        for name, v in sorted(raw.items())
    )
    return StartupTiming(
        BootTiming(finish=_relative(finish, origin)), timings, resolved_default, "bootup", source
    )


def _optional_number(value: object, *, source: str, field_name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TimingDataError(source, field_name, "a number of seconds or null", repr(value))
    return float(value)


def _string_list(value: object, *, source: str, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TimingDataError(source, field_name, "a list of unit names", repr(value))
    return tuple(value)


def timing_to_json(data: StartupTiming) -> str:
    """Bootup's timing file (:data:`JSON_FORMAT`): what ``--from-file`` reads back."""
    boot = data.boot
    obj = {
        "format": JSON_FORMAT,
        "manager": data.manager_name,
        "default_unit": data.default_unit,
        "boot": {
            "finish": boot.finish,
            "userspace": boot.userspace,
            "firmware": boot.firmware,
            "loader": boot.loader,
            "kernel": boot.kernel,
            "initrd": boot.initrd,
        },
        "units": [
            {
                "name": u.name,
                "activating": u.activating,
                "activated": u.activated,
                "deactivating": u.deactivating,
                "deactivated": u.deactivated,
                "after": list(u.after),
                "names": list(u.names),
            }
            for u in data.units
        ],
    }
    return json.dumps(obj, indent=1) + "\n"


def timing_from_json(obj: object, *, source: str = "<json>") -> StartupTiming:
    """Read bootup's timing JSON (:func:`timing_to_json`), or a manager's ``state.json``."""
    if not isinstance(obj, Mapping):
        raise TimingDataError(source, "top level", "a JSON object", type(obj).__name__)
    if "format" not in obj and isinstance(obj.get("units"), Mapping):
        return timing_from_snapshot(obj, source=source)
    if obj.get("format") != JSON_FORMAT:
        raise TimingDataError(source, "format", repr(JSON_FORMAT), str(obj.get("format")))
    boot_obj = obj.get("boot")
    if not isinstance(boot_obj, Mapping):
        raise TimingDataError(source, "boot", "an object", type(boot_obj).__name__)

    def boot_field(key: str) -> float | None:
        return _optional_number(boot_obj.get(key), source=source, field_name=f"boot.{key}")

    boot = BootTiming(
        finish=boot_field("finish"),
        userspace=boot_field("userspace"),
        firmware=boot_field("firmware"),
        loader=boot_field("loader"),
        kernel=boot_field("kernel"),
        initrd=boot_field("initrd"),
    )
    units_obj = obj.get("units")
    if not isinstance(units_obj, list):
        raise TimingDataError(source, "units", "a list", type(units_obj).__name__)
    units = []
    for index, entry in enumerate(units_obj):
        where = f"units[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise TimingDataError(source, f"{where}.name", "a unit name", repr(entry))

        def number(
            key: str, entry: Mapping[str, object] = entry, where: str = where
        ) -> float | None:
            return _optional_number(entry.get(key), source=source, field_name=f"{where}.{key}")

        units.append(
            UnitTiming(
                name=str(entry["name"]),
                activating=number("activating"),
                activated=number("activated"),
                deactivating=number("deactivating"),
                deactivated=number("deactivated"),
                after=_string_list(entry.get("after"), source=source, field_name=f"{where}.after"),
                names=_string_list(entry.get("names"), source=source, field_name=f"{where}.names"),
            )
        )
    default_unit = obj.get("default_unit", "default.target")
    manager_name = obj.get("manager", "systemd")
    if not isinstance(default_unit, str) or not isinstance(manager_name, str):
        raise TimingDataError(source, "default_unit", "a unit name", repr(default_unit))
    return StartupTiming(boot, tuple(units), default_unit, manager_name, source)


def load_timing_file(path: str | os.PathLike[str]) -> StartupTiming:
    """Read ``--from-file``: bootup's timing JSON, a ``state.json``, or ``systemctl show`` text."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotSupportedError(
            f"{source}: no such file; reading timings from a running bootup manager "
            "without a recorded file is not supported yet"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TimingDataError(source, "file", "a readable UTF-8 file", str(exc)) from exc
    if text.lstrip().startswith(("{", "[")):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TimingDataError(
                source, "JSON", "valid JSON", f"{exc.msg} at column {exc.colno}", line=exc.lineno
            ) from exc
        return timing_from_json(obj, source=source)
    return timing_from_systemctl_show(text, source=source)


def write_timing_file(path: str | os.PathLike[str], data: StartupTiming) -> None:
    """Write :func:`timing_to_json` atomically (temporary file, fsync, rename)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(timing_to_json(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
