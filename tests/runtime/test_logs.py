"""journalctl's formats and grammars (logformat) and the real ``bootup logs`` process."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import support
from bootup.cli.commands.logs import SYSTEM_JOURNALS, system_journal_path
from bootup.runtime.journal import Journal, JournalEntry, JournalReader
from bootup.runtime.logformat import (
    PRIORITY_NAMES,
    LogArgumentError,
    entry_fields,
    format_entry,
    parse_priority,
    parse_timestamp,
)

# 2026-11-26 05:10:11.123456 UTC
_NOW = 1795669811_123456
_ENTRY = JournalEntry(
    cursor=17,
    realtime_usec=_NOW,
    monotonic_usec=1234_567890,
    unit="web.service",
    pid=4242,
    priority=3,
    source="stderr",
    message="it broke",
)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("short", "Nov 26 05:10:11 host web.service[4242]: it broke"),
        ("short-iso", "2026-11-26T05:10:11+0000 host web.service[4242]: it broke"),
        ("short-monotonic", "[ 1234.567890] host web.service[4242]: it broke"),
        ("cat", "it broke"),
    ],
)
def test_text_formats(mode: str, expected: str) -> None:
    assert format_entry(_ENTRY, mode, hostname="host", tz=dt.UTC) == expected


def test_short_pads_the_day_and_omits_a_missing_pid() -> None:
    early = JournalEntry(1, 1767225600_000000, 5, None, None, 6, "manager", "Reached target.")
    assert format_entry(early, "short", hostname="h", tz=dt.UTC) == (
        "Jan 01 00:00:00 h bootup: Reached target."
    )
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert format_entry(early, "short-iso", hostname="h", tz=berlin).startswith(
        "2026-01-01T01:00:00+0100 "
    )


def test_json_uses_journal_field_names_and_strings() -> None:
    line = format_entry(_ENTRY, "json", hostname="host")
    assert "\n" not in line
    fields = json.loads(line)
    assert fields == entry_fields(_ENTRY, "host")
    assert fields["__CURSOR"] == "17"
    assert fields["__REALTIME_TIMESTAMP"] == str(_NOW)
    assert fields["__MONOTONIC_TIMESTAMP"] == "1234567890"
    assert fields["PRIORITY"] == "3"
    assert fields["_PID"] == "4242"
    assert fields["_SYSTEMD_UNIT"] == "web.service"
    assert fields["MESSAGE"] == "it broke"
    assert all(isinstance(value, str) for value in fields.values())
    pretty = format_entry(_ENTRY, "json-pretty", hostname="host")
    assert pretty.splitlines()[1] == '\t"__CURSOR" : "17",'
    assert json.loads(pretty) == fields


def test_unknown_output_mode() -> None:
    with pytest.raises(LogArgumentError, match="one of short"):
        format_entry(_ENTRY, "verbose", hostname="h")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("err", (0, 3)),
        ("3", (0, 3)),
        ("debug", (0, 7)),
        ("emerg", (0, 0)),
        ("err..warning", (3, 4)),
        ("warning..err", (3, 4)),
        ("0..7", (0, 7)),
        ("INFO", (0, 6)),
    ],
)
def test_parse_priority(text: str, expected: tuple[int, int]) -> None:
    assert parse_priority(text) == expected


@pytest.mark.parametrize("text", ["8", "bogus", "err..", "-1", ""])
def test_parse_priority_rejects(text: str) -> None:
    with pytest.raises(LogArgumentError) as info:
        parse_priority(text)
    assert info.value.option == "--priority"


_MIN = 60 * 1_000_000
_MIDNIGHT = 1795651200_000000  # 2026-11-26 00:00:00 UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", _NOW),
        ("today", _MIDNIGHT),
        ("yesterday", _MIDNIGHT - 1440 * _MIN),
        ("tomorrow", _MIDNIGHT + 1440 * _MIN),
        ("-1h", _NOW - 60 * _MIN),
        ("+30s", _NOW + 30_000_000),
        ("5 min ago", _NOW - 5 * _MIN),
        ("1h 30min ago", _NOW - 90 * _MIN),
        ("2 days left", _NOW + 2880 * _MIN),
        ("@1700000000", 1700000000_000000),
        ("@1700000000.5", 1700000000_500000),
        ("2026-11-26 05:10:11", 1795669811_000000),
        ("2026-11-26 05:10", 1795669800_000000),
        ("2026-11-26", _MIDNIGHT),
        ("05:00", _MIDNIGHT + 300 * _MIN),
        ("Thu 2026-11-26 05:10:11", 1795669811_000000),
        ("2026-11-26T05:10:11.25", 1795669811_250000),
    ],
)
def test_parse_timestamp(text: str, expected: int) -> None:
    assert parse_timestamp(text, now_usec=_NOW, tz=dt.UTC) == expected


@pytest.mark.parametrize("text", ["bogus", "2026-13-01", "Fri 2026-11-26", "5 parsecs ago", "@x"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(LogArgumentError) as info:
        parse_timestamp(text, now_usec=_NOW, option="--until", tz=dt.UTC)
    assert info.value.option == "--until"
    assert info.value.value == text


@pytest.mark.conformance
@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26 05:10:11",
        "2026-11-26 05:10",
        "2026-11-26",
        "Thu 2026-11-26 05:10",
        "26-11-26 05:10:11",
        "@1700000000.5",
        "1999-02-28 23:59:59 UTC",
    ],
)
def test_absolute_timestamps_match_systemd_analyze(text: str) -> None:
    tool = support.require_tool("systemd-analyze", package="systemd")
    result = subprocess.run(
        [tool, "timestamp", text],
        env=dict(os.environ, TZ="UTC"),
        capture_output=True,
        text=True,
        check=True,
    )
    unix = next(line for line in result.stdout.splitlines() if "UNIX seconds:" in line)
    expected = round(float(unix.split("@", 1)[1]) * 1_000_000)
    assert parse_timestamp(text, now_usec=_NOW, tz=dt.UTC) == expected


_ORACLE_ENTRIES = (
    _ENTRY,
    JournalEntry(18, 1767225600_000001, 5_000007, "db.service", None, 6, "stdout", "no pid"),
    JournalEntry(19, 1767225601_500000, 99_000000, "web.service", 1, 5, "manager", "Started x."),
    JournalEntry(20, 1767225602_000000, 100_000000, None, None, 4, "manager", "unitless ü"),
)
_ORACLE_BOOT_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def journalctl_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The oracle entries in a real journal file, written by systemd-journal-remote."""
    remote = support.require_tool("systemd-journal-remote", package="systemd-journal-remote")
    journalctl = support.require_tool("journalctl", package="systemd")
    directory = tmp_path_factory.mktemp("journalctl")
    export = b""
    for entry in _ORACLE_ENTRIES:
        fields = entry_fields(entry, "host")
        del fields["__CURSOR"]
        fields["_BOOT_ID"] = _ORACLE_BOOT_ID
        export += "".join(f"{key}={value}\n" for key, value in fields.items()).encode() + b"\n"
    target = directory / "oracle.journal"
    subprocess.run(
        [remote, f"--output={target}", "-"], input=export, check=True, capture_output=True
    )
    return journalctl, target


@pytest.mark.conformance
@pytest.mark.parametrize("mode", ["short", "short-iso", "short-monotonic", "cat"])
def test_text_formats_match_journalctl(journalctl_file: tuple[str, Path], mode: str) -> None:
    journalctl, target = journalctl_file
    result = subprocess.run(
        [journalctl, f"--file={target}", "-o", mode, "--no-pager"],
        env=dict(os.environ, TZ="UTC"),
        capture_output=True,
        text=True,
        check=True,
    )
    ours = [format_entry(e, mode, hostname="host", tz=dt.UTC) for e in _ORACLE_ENTRIES]
    assert result.stdout.splitlines() == ours


@pytest.mark.conformance
@pytest.mark.parametrize("mode", ["json", "json-pretty"])
def test_json_formats_match_journalctl(journalctl_file: tuple[str, Path], mode: str) -> None:
    journalctl, target = journalctl_file
    result = subprocess.run(
        [journalctl, f"--file={target}", "-o", mode, "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    )
    decoder = json.JSONDecoder()
    text, theirs, pos = result.stdout, [], 0
    while pos < len(text.rstrip()):
        record, pos = decoder.raw_decode(text, pos)
        theirs.append(record)
        while pos < len(text) and text[pos] in "\n":
            pos += 1
    ours = [json.loads(format_entry(e, mode, hostname="host")) for e in _ORACLE_ENTRIES]
    for record in theirs:
        assert record.pop("_BOOT_ID") == _ORACLE_BOOT_ID
        record.pop("__CURSOR")  # journalctl's cursor is its own opaque string
    assert theirs == [{k: v for k, v in o.items() if k != "__CURSOR"} for o in ours]
    if mode == "json-pretty":
        first = format_entry(_ORACLE_ENTRIES[0], mode, hostname="host").splitlines()
        assert result.stdout.splitlines()[0] == first[0] == "{"
        assert result.stdout.splitlines()[1].startswith('\t"')
        assert first[1].startswith('\t"')


@pytest.fixture(scope="module")
def twin_journals(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """The same entries twice: a bootup project, and a journal file journalctl reads."""
    remote = support.require_tool("systemd-journal-remote", package="systemd-journal-remote")
    journalctl = support.require_tool("journalctl", package="systemd")
    project = tmp_path_factory.mktemp("twin")
    with Journal.open(project / ".bootup" / "journal.db") as journal:
        journal.append("web.service", "Starting web.service...", pid=1)
        journal.append("web.service", "<6>listening on :80", source="stdout", pid=10)
        journal.append("web.service", "<3>cannot bind", source="stderr", pid=10)
        journal.append("db.service", "<5>ready", source="stdout", pid=11)
        journal.append("db.service", "<4>slow query", source="stdout", pid=11)
        journal.append("db.service", "<7>debugging", source="stdout", pid=11)
        journal.append("web.service", "Started web.service.", pid=1, priority=5)
        entries = journal.query()
    reader = JournalReader(project / ".bootup" / "journal.db")
    hostname = reader.hostname()
    reader.close()
    export = b""
    for entry in entries:
        fields = entry_fields(entry, hostname)
        del fields["__CURSOR"]
        fields["_BOOT_ID"] = _ORACLE_BOOT_ID
        export += "".join(f"{key}={value}\n" for key, value in fields.items()).encode() + b"\n"
    target = project / "twin.journal"
    subprocess.run(
        [remote, f"--output={target}", "-"], input=export, check=True, capture_output=True
    )
    return journalctl, project, target


@pytest.mark.conformance
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-o", "short-iso"],
        ["-o", "short-monotonic"],
        ["-u", "web.service"],
        ["-u", "db"],
        ["-u", "web", "-u", "db.service", "-o", "cat"],
        ["-u", "nothing.service"],
        ["-p", "err"],
        ["-p", "warning..notice"],
        ["-p", "5", "-u", "web"],
        ["-n", "3"],
        ["-n", "0"],
        ["-r"],
        ["-r", "-n", "2", "-o", "cat"],
        ["--since", "-1h", "--until", "+1h", "-o", "cat"],
        ["--since", "tomorrow"],
    ],
)
def test_cli_matches_journalctl(twin_journals: tuple[str, Path, Path], args: list[str]) -> None:
    journalctl, project, target = twin_journals
    theirs = subprocess.run(
        [journalctl, f"--file={target}", "--no-pager", *args],
        env=dict(os.environ, TZ="UTC"),
        capture_output=True,
        text=True,
        check=True,
    )
    ours = _bootup("--project", str(project), "--no-pager", *args, cwd=project)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


# --- the real CLI --------------------------------------------------------------------


def _bootup(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bootup", "logs", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, TZ="UTC"),
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    journal = Journal.open(tmp_path / ".bootup" / "journal.db")
    journal.append("web.service", "Starting web.service...")
    journal.append("web.service", "<3>cannot bind", source="stderr", pid=10)
    journal.append("db.service", "<5>ready", source="stdout", pid=11)
    journal.append("db.service", "debugging", source="stdout", pid=11, priority=7)
    journal.close()
    return tmp_path


def test_cli_short_from_the_current_directory(project: Path) -> None:
    result = _bootup(cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[1].endswith(" web.service[10]: cannot bind")
    assert lines[0].endswith(" bootup: Starting web.service...")


def test_cli_unit_priority_lines_reverse(project: Path, tmp_path: Path) -> None:
    web = _bootup("--project", str(project), "-u", "web", "-o", "cat", cwd=tmp_path)
    assert web.stdout.splitlines() == ["Starting web.service...", "cannot bind"]
    errors = _bootup("--project", str(project), "-p", "err", "-o", "cat", cwd=tmp_path)
    assert errors.stdout.splitlines() == ["cannot bind"]
    ranged = _bootup("--project", str(project), "-p", "warning..notice", "-o", "cat", cwd=tmp_path)
    assert ranged.stdout.splitlines() == ["ready"]
    last = _bootup("--project", str(project), "-n", "2", "-o", "cat", cwd=tmp_path)
    assert last.stdout.splitlines() == ["ready", "debugging"]
    newest = _bootup("--project", str(project), "-r", "-n", "2", "-o", "cat", cwd=tmp_path)
    assert newest.stdout.splitlines() == ["debugging", "ready"]
    glob = _bootup(
        "--file", str(project / ".bootup/journal.db"), "-u", "d*", "-o", "cat", cwd=tmp_path
    )
    assert glob.stdout.splitlines() == ["ready", "debugging"]


def test_cli_json_and_time_window(project: Path) -> None:
    result = _bootup(
        "-o", "json", "--since", "-1h", "--until", "+1h", "-u", "db.service", cwd=project
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["MESSAGE"] for r in records] == ["ready", "debugging"]
    assert [r["PRIORITY"] for r in records] == ["5", "7"]
    assert {r["_SYSTEMD_UNIT"] for r in records} == {"db.service"}
    empty = _bootup("--since", "tomorrow", cwd=project)
    assert empty.stdout == "-- No entries --\n"
    assert _bootup("--since", "tomorrow", "-o", "json", cwd=project).stdout == ""


def test_cli_errors(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    bad_priority = _bootup("-p", "loud", cwd=project)
    assert bad_priority.returncode == 1
    assert "--priority: cannot parse 'loud'" in bad_priority.stderr
    bad_time = _bootup("--since", "someday", cwd=project)
    assert bad_time.returncode == 1
    assert "--since: cannot parse 'someday'" in bad_time.stderr
    both = _bootup("-f", "-r", cwd=project)
    assert both.returncode == 1
    assert "either --reverse= or --follow=" in both.stderr
    elsewhere = tmp_path_factory.mktemp("no-project")
    missing = _bootup(cwd=elsewhere)
    if not system_journal_path().exists():
        assert missing.returncode == 1
        assert f"no journal found in {elsewhere} or its parents" in missing.stderr
    both_sources = _bootup("--system", "--project", str(project), cwd=project)
    assert both_sources.returncode == 1
    assert "may not be combined" in both_sources.stderr


def test_cli_finds_the_enclosing_project_journal(project: Path) -> None:
    """Like the live verbs, logs looks upwards for the project (and in its units/)."""
    deep = project / "src" / "deep"
    deep.mkdir(parents=True)
    result = _bootup("-o", "cat", "-u", "db", cwd=deep)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ready", "debugging"]
    outer = project / "outer"
    (outer / "units").mkdir(parents=True)
    (project / ".bootup").rename(outer / "units" / ".bootup")
    nested = _bootup("-o", "cat", "-u", "web", cwd=outer)
    assert nested.returncode == 0, nested.stderr
    assert nested.stdout.splitlines() == ["Starting web.service...", "cannot bind"]


def test_cli_system_journal_location() -> None:
    """--system reads the system manager's journal, persistent if /var/log/bootup exists."""
    expected = SYSTEM_JOURNALS[0] if SYSTEM_JOURNALS[0].parent.is_dir() else SYSTEM_JOURNALS[1]
    assert system_journal_path() == expected
    if expected.exists():
        pytest.skip(f"a system journal exists at {expected}")
    result = _bootup("--system", cwd=Path("/"))
    assert result.returncode == 1
    assert f"no journal found at {expected}" in result.stderr


def test_cli_follow_prints_new_entries(project: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bootup", "logs", "-f", "-o", "cat", "-u", "live.service"],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    journal = Journal.open(project / ".bootup" / "journal.db")
    try:
        # Whatever the follower sees first (the initial query or a change), every line
        # appended from now on must come out, in order.
        for index in range(3):
            journal.append("live.service", f"line {index}", source="stdout", pid=99)
            journal.append("other.service", "not shown", source="stdout", pid=98)
            journal.flush()
            assert process.stdout.readline() == f"line {index}\n"
    finally:
        journal.close()
        process.kill()
        process.wait()
        process.stdout.close()


@given(
    moment=st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2199, 12, 31)).map(
        lambda m: m.replace(tzinfo=dt.UTC)
    ),
    layout=st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%a %Y-%m-%d %H:%M:%S"]),
)
def test_absolute_timestamps_round_trip(moment: dt.datetime, layout: str) -> None:
    text = moment.strftime(layout) + f".{moment.microsecond:06d}"
    expected = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    assert parse_timestamp(text, now_usec=_NOW, tz=dt.UTC) == expected


@given(entry_priority=st.integers(0, 7), spec=st.sampled_from(["emerg", "err", "info", "debug"]))
def test_priority_filter_is_inclusive(entry_priority: int, spec: str) -> None:
    low, high = parse_priority(spec)
    assert (low <= entry_priority <= high) == (entry_priority <= PRIORITY_NAMES.index(spec))
