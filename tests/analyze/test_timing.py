"""The timing data model, its loaders, systemd's timespan format and ``analyze time``.

Expected texts come from systemd 252 (``systemd-analyze timespan`` run here, and outputs
recorded from a real systemd booted in a namespace by tests/conformance/
test_analyze_systemd.py), or are worked out by hand from systemd's rules where noted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.analyze.timing import (
    BootNotFinishedError,
    BootTiming,
    StartupTiming,
    TimingDataError,
    UnitTiming,
    format_timespan,
    load_timing_file,
    render_time,
    timing_from_json,
    timing_from_snapshot,
    timing_from_systemctl_show,
    timing_to_json,
    write_timing_file,
)
from bootup.errors import NotSupportedError
from support import require_tool

# Recorded with systemd 252.39-1~deb12u2 as PID 1 of a namespace (container mode): the
# manager's block and two units of `systemctl show -p ...`.
SHOW = """\
FirmwareTimestampMonotonic=0
LoaderTimestampMonotonic=0
InitRDTimestampMonotonic=0
UserspaceTimestampMonotonic=3551285781
FinishTimestampMonotonic=3552524084
SecurityStartTimestampMonotonic=0

Id=d.service
Names=d.service
After=sysinit.target systemd-journald.socket system.slice basic.target
InactiveExitTimestampMonotonic=3551345764
ActiveEnterTimestampMonotonic=0
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=3551449832

Id=multi-user.target
Names=multi-user.target default.target
After=c.service a.service basic.target b.service d.service e.service slow.service
InactiveExitTimestampMonotonic=3552516511
ActiveEnterTimestampMonotonic=3552516511
ActiveExitTimestampMonotonic=0
InactiveEnterTimestampMonotonic=0
"""
# What systemd-analyze time printed for that boot (note the space after "(userspace)").
TIME = (
    "Startup finished in 1.238s (userspace) \n"
    "multi-user.target reached after 1.230s in userspace.\n"
)

TIMESPANS = [
    "1.234567s",
    "90.5s",
    "185us",
    "3d",
    "1y2month",
    "0",
    "2h 3min 4.5s",
    "1ms",
    "59.999999s",
]


@pytest.mark.parametrize("span", TIMESPANS)
def test_format_timespan_equals_systemd_analyze_timespan(span: str) -> None:
    tool = require_tool("systemd-analyze", package="systemd")
    out = subprocess.run([tool, "timespan", span], capture_output=True, text=True, check=True)
    fields = dict(line.strip().split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert format_timespan(int(fields["μs"]), 1) == fields["Human"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (185, "185us"),  # below the accuracy, but the first part is always printed
        (1_500, "1ms"),  # the 500 µs are below the 1 ms accuracy
        (303_456, "303ms"),
        (1_100_000, "1.100s"),
        (2_014_999, "2.014s"),  # truncated, never rounded
        (90_500_000, "1min 30.500s"),
        (3_600_000_000, "1h"),
        (3_723_000_000, "1h 2min 3s"),
    ],
)
def test_format_timespan_at_millisecond_accuracy(value: int, text: str) -> None:
    assert format_timespan(value) == text


def test_show_text_is_read_in_container_mode() -> None:
    data = timing_from_systemctl_show(SHOW)
    assert data.boot.userspace is None  # the manager's start is the origin
    assert data.boot.finish == pytest.approx(1.238303)
    assert data.default_unit == "multi-user.target"
    d = data.by_name["d.service"]
    assert d.activating == pytest.approx(0.059983)
    assert d.activated is None
    assert d.deactivated == pytest.approx(0.164051)
    assert d.duration_usec == 104068  # deactivated - activating: it never became active
    assert d.after[0] == "sysinit.target"
    assert data.by_name["default.target"] is data.by_name["multi-user.target"]


def test_render_time_equals_recorded_systemd_output() -> None:
    assert render_time(timing_from_systemctl_show(SHOW)) == TIME


def test_render_time_full_boot() -> None:
    # Worked out from pretty_boot_time(): firmware 5 s and loader 2 s count back from the
    # kernel's start; the manager started at 1.5 s and finished at 4 s.
    data = StartupTiming(
        BootTiming(finish=4.0, userspace=1.5, firmware=5.0, loader=2.0, kernel=1.5),
        (UnitTiming("graphical.target", 3.9, 3.9, None, None, names=("default.target",)),),
    )
    assert render_time(data) == (
        "Startup finished in 3s (firmware) + 2s (loader) + 1.500s (kernel) + "
        "2.500s (userspace) = 9s \ngraphical.target reached after 2.400s in userspace.\n"
    )


def test_render_time_default_never_reached() -> None:
    data = StartupTiming(BootTiming(finish=0.5), (UnitTiming("a.service", 0.1, 0.2, None, None),))
    assert render_time(data).endswith("\ndefault.target was never reached.\n")


def test_unfinished_startup_is_refused_with_systemds_message() -> None:
    data = StartupTiming(BootTiming(finish=None), ())
    with pytest.raises(BootNotFinishedError, match=r"^Bootup is not yet finished \("):
        render_time(data)


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (SHOW.replace("=3551345764", "=12ab"), 11, "InactiveExitTimestampMonotonic"),
        (SHOW.replace("Names=d.service", "garbage"), 9, "line"),
        (SHOW.split("\n\n", 1)[1], 0, "UserspaceTimestampMonotonic"),
        ("Foo=1\n", 1, "block"),
    ],
    ids=["number", "no-equals", "no-manager", "unknown-block"],
)
def test_bad_show_text_names_line_and_field(text: str, line: int, field: str) -> None:
    with pytest.raises(TimingDataError) as info:
        timing_from_systemctl_show(text, source="show.txt")
    assert info.value.line == line
    assert info.value.field == field
    assert str(info.value).startswith(f"show.txt:{line}: " if line else "show.txt: ")


def test_json_round_trip(tmp_path: Path) -> None:
    data = timing_from_systemctl_show(SHOW)
    again = timing_from_json(json.loads(timing_to_json(data)))
    assert again == data
    path = tmp_path / "timing.json"
    write_timing_file(path, data)
    assert load_timing_file(path) == data
    assert [p.name for p in tmp_path.iterdir()] == ["timing.json"]  # no temporary left


def test_load_timing_file_reads_show_text(tmp_path: Path) -> None:
    path = tmp_path / "show.txt"
    path.write_text(SHOW)
    assert load_timing_file(path) == timing_from_systemctl_show(SHOW)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"format": "nope"}, "format"),
        (
            {"format": "bootup-analyze-timing/1", "boot": {"finish": "x"}, "units": []},
            "boot.finish",
        ),
        (
            {
                "format": "bootup-analyze-timing/1",
                "boot": {},
                "units": [{"name": "a", "after": [1]}],
            },
            "units[0].after",
        ),
        ([], "top level"),
    ],
)
def test_bad_json_names_the_field(obj: object, field: str) -> None:
    with pytest.raises(TimingDataError) as info:
        timing_from_json(obj, source="t.json")
    assert info.value.field == field


def test_invalid_json_file_names_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{\n "format": \n}\n')
    with pytest.raises(TimingDataError, match=r"t\.json:3: JSON"):
        load_timing_file(path)


def test_missing_file_is_not_supported_yet(tmp_path: Path) -> None:
    with pytest.raises(NotSupportedError, match="not supported yet"):
        load_timing_file(tmp_path / "missing.json")


def test_snapshot_without_manager_times_uses_first_activation() -> None:
    def props(start: int, active: int) -> dict[str, str]:
        return {
            "InactiveExitTimestampMonotonic": str(start),
            "ActiveEnterTimestampMonotonic": str(active),
            "ActiveExitTimestampMonotonic": "0",
            "InactiveEnterTimestampMonotonic": "0",
        }

    snapshot = {
        "units": {
            "a.service": props(1_000_000, 1_300_000),
            "b.service": props(1_300_000, 1_500_000),
            "multi-user.target": props(1_500_001, 1_500_001),
            "never.service": props(0, 0),
        }
    }
    data = timing_from_snapshot(
        snapshot,
        after={"b.service": ["a.service"]},
        aliases={"multi-user.target": ["default.target"]},
    )
    assert data.default_unit == "multi-user.target"
    assert data.manager_name == "bootup"
    assert data.by_name["a.service"].activating == pytest.approx(1e-6)
    assert data.boot.finish == pytest.approx(0.500002)
    assert data.by_name["b.service"].after == ("a.service",)
    assert data.by_name["never.service"].activating is None
    assert (
        render_time(data).splitlines()[1] == "multi-user.target reached after 500ms in userspace."
    )


def test_snapshot_with_bad_value_names_unit_and_key() -> None:
    snapshot = {"units": {"a.service": {"InactiveExitTimestampMonotonic": "soon"}}}
    with pytest.raises(TimingDataError) as info:
        timing_from_snapshot(snapshot)
    assert info.value.field == "units.a.service.InactiveExitTimestampMonotonic"


def _bootup(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bootup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_cli_without_any_recorded_data_says_where_it_looked(tmp_path: Path) -> None:
    done = _bootup("analyze", "time", "--project", str(tmp_path))
    assert done.returncode == 1
    assert f"{tmp_path}/.bootup/state.json: file: expected the state a running bootup" in (
        done.stderr
    )
    assert "found 'no such file'" in done.stderr
    system = _bootup("analyze", "blame", "--system", cwd=tmp_path)
    if not Path("/run/bootup/state.json").exists():
        assert system.returncode == 1
        assert "/run/bootup/state.json: file: expected" in system.stderr


@pytest.mark.slow
def test_cli_reads_a_real_bootup_managers_state(tmp_path: Path) -> None:
    """bootup up records the startup; analyze reads it back with the project's After=."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.service").write_text(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 0.2\n"
    )
    (project / "b.service").write_text(
        "[Unit]\nAfter=a.service\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 0.1\n"
    )
    wants = project / "multi-user.target.wants"
    wants.mkdir()
    (wants / "a.service").symlink_to("../a.service")
    (wants / "b.service").symlink_to("../b.service")
    up = _bootup("up", str(project), "--exit-after-start", "--no-color")
    assert up.returncode == 0, up.stderr

    time = _bootup("analyze", "time", "--project", str(project))
    assert time.returncode == 0, time.stderr
    assert time.stdout.startswith("Startup finished in ")
    assert "multi-user.target reached after" in time.stdout

    blame = _bootup("analyze", "blame", "--project", str(project))
    assert blame.returncode == 0, blame.stderr
    assert {"a.service", "b.service"} <= {line.split()[-1] for line in blame.stdout.splitlines()}

    chain = _bootup("analyze", "critical-chain", "b.service", "--project", str(project))
    assert chain.returncode == 0, chain.stderr
    lines = chain.stdout.splitlines()
    assert lines[3].startswith("b.service +")
    assert lines[4].startswith("└─a.service @")  # b waited for a (After=)

    dump = _bootup("analyze", "timing-dump", "--project", str(project))
    saved = tmp_path / "timing.json"
    saved.write_text(dump.stdout)
    again = _bootup("analyze", "blame", "--from-file", str(saved))
    assert again.stdout == blame.stdout

    # Every timestamp came from the manager (its start and finish too), and the state
    # carries the After= lists: analysing needs neither the unit files nor --project.
    state = json.loads((project / ".bootup" / "state.json").read_text())
    userspace = int(state["manager"]["UserspaceTimestampMonotonic"])
    finish = int(state["manager"]["FinishTimestampMonotonic"])
    first = min(
        int(u["InactiveExitTimestampMonotonic"])
        for u in state["units"].values()
        if int(u["InactiveExitTimestampMonotonic"])
    )
    assert 0 < userspace < first <= finish
    assert {"a.service", "basic.target"} <= set(state["units"]["b.service"]["After"].split())
    for unit in ("a.service", "b.service"):
        (project / unit).unlink()
    inside = project / "some" / "dir"
    inside.mkdir(parents=True)
    found = _bootup("analyze", "critical-chain", "b.service", cwd=inside)
    assert found.returncode == 0, found.stderr
    assert found.stdout == chain.stdout
