"""Spawning and reaping real processes: exit statuses, exec failures, orphans, output lines."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bootup.runtime.process import (
    EXIT_CHDIR,
    EXIT_EXEC,
    ChildReaper,
    ExitCode,
    ExitStatus,
    OutputSpec,
    SpawnError,
    set_child_subreaper,
    spawn,
    unit_processes,
)

JOURNAL = OutputSpec("journal")


def _spawn(
    argv: tuple[str, ...],
    lines: list[tuple[str, str]],
    *,
    cwd: str | None = None,
    marker: str = "m",
) -> int:
    proc = spawn(
        argv,
        executable=argv[0],
        env={"PATH": "/usr/bin:/bin", "INVOCATION_ID": marker},
        cwd=cwd,
        umask=0o022,
        user=None,
        group=None,
        stdout=JOURNAL,
        stderr=JOURNAL,
        on_line=lambda source, line: lines.append((source, line)),
    )
    return proc.pid


def test_exit_status_decoding() -> None:
    async def main() -> list[ExitStatus]:
        reaper = ChildReaper()
        reaper.start()
        try:
            statuses: list[ExitStatus] = []
            done = asyncio.Event()
            lines: list[tuple[str, str]] = []
            for argv in (
                ("/bin/true",),
                ("/bin/sh", "-c", "exit 7"),
                ("/bin/sh", "-c", "kill -TERM $$"),
            ):
                pid = _spawn(argv, lines)

                def got(status: ExitStatus) -> None:
                    statuses.append(status)
                    if len(statuses) == 3:
                        done.set()

                reaper.watch(pid, got)
            await done.wait()
            return statuses
        finally:
            reaper.close()

    statuses = asyncio.run(main())
    assert sorted(str(s) for s in statuses) == sorted(
        ["code=exited, status=0", "code=exited, status=7", "code=killed, status=15/TERM"]
    )
    assert ExitStatus(ExitCode.KILLED, signal.SIGKILL).success is False


def test_spawn_failures_carry_systemds_exit_codes(tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        lines: list[tuple[str, str]] = []
        with pytest.raises(SpawnError) as missing:
            _spawn(("/nonexistent/x",), lines)
        with pytest.raises(SpawnError) as bad_cwd:
            _spawn(("/bin/true",), lines, cwd=str(tmp_path / "nope"))
        return missing.value.status, bad_cwd.value.status

    assert asyncio.run(main()) == (EXIT_EXEC, EXIT_CHDIR)


def test_output_lines_reach_the_sink_split_by_stream() -> None:
    async def main() -> list[tuple[str, str]]:
        reaper = ChildReaper()
        reaper.start()
        try:
            lines: list[tuple[str, str]] = []
            done: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
            argv = ("/bin/sh", "-c", "printf 'a\\nb\\n'; echo err >&2; printf 'no newline'")
            pid = spawn(
                argv,
                executable="/bin/sh",
                env={"PATH": "/bin"},
                cwd=None,
                umask=0o022,
                user=None,
                group=None,
                stdout=JOURNAL,
                stderr=JOURNAL,
                on_line=lambda s, line: lines.append((s, line)),
            )
            reaper.watch(pid.pid, done.set_result)
            await done
            for reader in pid.readers:
                await reader.closed.wait()
            return lines
        finally:
            reaper.close()

    lines = asyncio.run(main())
    assert sorted(lines) == [
        ("stderr", "err"),
        ("stdout", "a"),
        ("stdout", "b"),
        ("stdout", "no newline"),
    ]


def test_subreaper_reaps_orphans_and_finds_them_by_marker() -> None:
    """A double-forked grandchild is re-parented to us, found by INVOCATION_ID, and reaped."""

    async def main() -> tuple[set[int], int]:
        set_child_subreaper(True)
        reaper = ChildReaper()
        reaper.start()
        try:
            lines: list[tuple[str, str]] = []
            parent_done = asyncio.Event()
            orphan_gone = asyncio.Event()
            argv = ("/bin/sh", "-c", "(sleep 300 & echo $!) ; exit 0")
            pid = _spawn(argv, lines, marker="orphan-test")
            reaper.watch(pid, lambda s: parent_done.set())
            await parent_done.wait()
            found = unit_processes("orphan-test", [])
            reaper.add_listener(lambda p, s: orphan_gone.set() if p in found else None)
            for p in found:
                os.kill(p, signal.SIGKILL)
            await orphan_gone.wait()
            return found, reaper.orphans_reaped
        finally:
            reaper.close()
            set_child_subreaper(False)

    found, orphans = asyncio.run(main())
    assert len(found) == 1
    assert orphans >= 1
