# ruff: noqa: E501  (unit files are written inline, one line per unit)
"""Fault tests of ``bootup up`` with real processes: an output flood, a manager killed by SIGKILL.

Both run the manager as a real ``python -m bootup up`` process, as a user does, and look only
at what survives it: the journal file, the lock, the processes left behind.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootup.runtime.journal import Journal, JournalReader
from bootup.runtime.project import write_units

BOOTUP = [sys.executable, "-m", "bootup"]

#: Runs ``bootup up DIR --exit-after-start`` and prints the peak RSS (KiB) of its children,
#: i.e. of the manager process (its own children are far smaller: sh, head, tr, fold).
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)

_FLOOD_LINES = 100_000_000 // 200  # fold -w 200 breaks the stream every 200 bytes


def _up_peak_rss(directory: Path) -> int:
    """Run ``bootup up DIR --exit-after-start`` to completion; return the manager's peak RSS in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *BOOTUP, "up", str(directory), "--exit-after-start"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    code, peak_kib = done.stdout.split()
    assert code == "0", done.stderr
    return int(peak_kib) * 1024


def _flood_units(flood: bool) -> dict[str, str]:
    command = (
        "/bin/sh -c 'head -c 100000000 /dev/zero | tr \"\\\\0\" x | fold -w 200; echo; echo flood-done'"
        if flood
        else "/bin/sh -c 'echo flood-done'"
    )
    return {
        "flood.service": f"[Unit]\nDescription=Flood\n[Service]\nType=oneshot\nExecStart={command}\nTimeoutStartSec=infinity\n",
        "multi-user.target": "[Unit]\nDescription=Everything\nRequires=flood.service\nAfter=flood.service\n",
    }


@pytest.mark.slow
def test_a_100_mb_output_flood_keeps_the_journal_bounded_and_the_manager_flat(
    tmp_path: Path,
) -> None:
    quiet = write_units(tmp_path / "quiet", _flood_units(flood=False))
    loud = write_units(tmp_path / "loud", _flood_units(flood=True))
    baseline = _up_peak_rss(quiet)
    peak = _up_peak_rss(loud)

    # `bootup up` opens the journal with Journal.open's default size bound.
    max_bytes = inspect.signature(Journal.open).parameters["max_bytes"].default
    assert isinstance(max_bytes, int)
    database = loud / ".bootup" / "journal.db"
    on_disk = sum(
        p.stat().st_size for p in (database, database.with_name("journal.db-wal")) if p.exists()
    )
    assert on_disk <= max_bytes, f"journal uses {on_disk} bytes, bound {max_bytes}"

    reader = JournalReader(database)
    try:
        entries = reader.query(unit="flood.service")
    finally:
        reader.close()
    messages = [e.message for e in entries]
    flood_lines = sum(1 for m in messages if m == "x" * 200)
    # Rotation dropped the oldest lines (100 MB does not fit) but kept the newest ones.
    assert 0 < flood_lines < _FLOOD_LINES
    assert "flood-done" in messages
    print(f"journal {on_disk} bytes (bound {max_bytes}), peak RSS {peak} vs baseline {baseline}")
    assert peak < baseline + 64 * 2**20, f"peak RSS {peak} vs baseline {baseline}"


def _wait_for_pid_exit(pid: int, deadline: float) -> None:
    """Block until ``pid`` (not our child) is gone, using a pidfd (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([fd], [], [], deadline)
        assert readable, f"pid {pid} still alive after {deadline}s"
    finally:
        os.close(fd)


def _follow_until(database: Path, wanted: set[str], deadline: float) -> list[str]:
    """Follow the journal as ``bootup logs -f`` does until every ``wanted`` line is committed."""
    end = time.monotonic() + deadline
    reader = JournalReader(database)
    try:
        reader.wait_for_change(0)  # start the watch before the first query
        seen: list[str] = []
        cursor: int | None = None
        while True:
            for entry in reader.query(after_cursor=cursor):
                cursor = entry.cursor
                seen.append(entry.message)
            if wanted <= set(seen):
                return seen
            remaining = end - time.monotonic()
            assert remaining > 0, f"never saw {wanted - set(seen)}; saw {seen}"
            reader.wait_for_change(remaining)
    finally:
        reader.close()


def test_a_manager_killed_mid_start_leaves_a_free_lock_and_an_intact_journal(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "hang.pid"
    units = write_units(
        tmp_path / "units",
        {
            "prepare.service": "[Unit]\nDescription=Prepare\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo prepared-before-the-kill'\n",
            "hang.service": (
                "[Unit]\nDescription=Never ready\nRequires=prepare.service\nAfter=prepare.service\n"
                f"[Service]\nType=notify\nTimeoutStartSec=infinity\nExecStart=/bin/sh -c 'echo $$$$ > {pidfile}; echo hang-started; exec sleep 300'\n"
            ),
            "multi-user.target": "[Unit]\nDescription=Everything\nRequires=hang.service\nAfter=hang.service\n",
        },
    )
    database = units / ".bootup" / "journal.db"
    manager = subprocess.Popen(
        [*BOOTUP, "up", str(units)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    leftover: int | None = None
    try:
        assert manager.stdout is not None
        # The first console line comes after the journal was opened (created).
        first = manager.stdout.readline()
        assert first, manager.stderr.read() if manager.stderr else ""
        seen = _follow_until(database, {"prepared-before-the-kill", "hang-started"}, 120)
        leftover = int(pidfile.read_text())
        manager.kill()
        assert manager.wait(timeout=60) == -signal.SIGKILL
    finally:
        if manager.poll() is None:
            manager.kill()
            manager.wait(timeout=60)
        if leftover is not None:
            # The manager died without stopping hang.service: clean it up by pid.
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
            _wait_for_pid_exit(leftover, 60)
    assert manager.stderr is not None
    assert manager.stdout is not None
    manager.stderr.close()
    manager.stdout.close()

    # The database is valid and still holds every line that was visible before the kill.
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reader = JournalReader(database)
    try:
        before = [e.message for e in reader.query()]
    finally:
        reader.close()
    assert before[: len(seen)] == seen

    # The lock died with the manager: a new one starts on the same directory.
    again = subprocess.run(
        [*BOOTUP, "up", str(units), "--unit", "prepare.service", "--exit-after-start"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "[  OK  ] Started prepare.service - Prepare." in again.stdout
    reader = JournalReader(database)
    try:
        after = [e.message for e in reader.query()]
    finally:
        reader.close()
    assert after[: len(before)] == before
    assert after.count("prepared-before-the-kill") == 2
