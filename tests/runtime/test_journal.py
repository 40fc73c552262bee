"""The journal against real SQLite files, real threads and a real writer killed with SIGKILL."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootup.runtime.journal import (
    SCHEMA_VERSION,
    Journal,
    JournalError,
    JournalReader,
    parse_level_prefix,
)
from bootup.runtime.journal import JournalValueError as _ValueError


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal.open(tmp_path / "journal.db")
    yield opened
    opened.close()


def test_append_and_query_round_trip(journal: Journal) -> None:
    journal.append("web.service", "Starting web.service...", pid=None)
    journal.append("web.service", "listening", source="stdout", pid=41)
    journal.append("db.service", "<4>disk almost full", source="stderr", pid=42)
    entries = journal.query()  # no flush: query waits for what was appended
    assert [(e.unit, e.pid, e.priority, e.source, e.message) for e in entries] == [
        ("web.service", None, 6, "manager", "Starting web.service..."),
        ("web.service", 41, 6, "stdout", "listening"),
        ("db.service", 42, 4, "stderr", "disk almost full"),
    ]
    cursors = [e.cursor for e in entries]
    assert cursors == sorted(set(cursors))
    pairs = list(itertools.pairwise(entries))
    assert all(a.realtime_usec <= b.realtime_usec for a, b in pairs)
    assert all(a.monotonic_usec <= b.monotonic_usec for a, b in pairs)


def test_query_filters(journal: Journal) -> None:
    for index in range(30):
        journal.append(f"u{index % 3}.service", f"m{index}", priority=index % 8)
    everything = journal.query()
    assert len(everything) == 30
    assert {e.unit for e in journal.query(unit="u1.service")} == {"u1.service"}
    assert len(journal.query(unit=["u0.service", "u2.service"])) == 20
    assert {e.priority for e in journal.query(max_priority=2)} == {0, 1, 2}
    assert {e.priority for e in journal.query(min_priority=3, max_priority=4)} == {3, 4}
    middle = everything[10].cursor
    assert [e.message for e in journal.query(after_cursor=middle, limit=2)] == ["m11", "m12"]
    assert [e.message for e in journal.query(reverse=True, limit=3)] == ["m29", "m28", "m27"]
    since = everything[5].realtime_usec
    until = everything[7].realtime_usec
    window = journal.query(since_usec=since, until_usec=until)
    assert {"m5", "m6", "m7"} <= {e.message for e in window}
    assert all(since <= e.realtime_usec <= until for e in window)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("<3>boom", (3, "boom")),
        ("<7> spaced", (7, " spaced")),
        ("<03>two digits", (3, "two digits")),
        ("<003>three", (3, "three")),
        ("<8>not a level", (6, "<8>not a level")),
        ("<13>facility", (6, "<13>facility")),
        ("<0003>four", (6, "<0003>four")),
        ("<>empty", (6, "<>empty")),
        ("<x>letter", (6, "<x>letter")),
        ("<3", (6, "<3")),
        ("plain", (6, "plain")),
    ],
)
def test_level_prefix_like_journald(line: str, expected: tuple[int, str]) -> None:
    assert parse_level_prefix(line, 6) == expected


def test_manager_messages_keep_their_angle_brackets(journal: Journal) -> None:
    journal.append(None, "<3>literal", priority=5)
    journal.append("a.service", "<2>as is", source="stdout", level_prefix=False)
    first, second = journal.query()
    assert (first.priority, first.message, first.unit) == (5, "<3>literal", None)
    assert (second.priority, second.message) == (6, "<2>as is")


def test_undecodable_output_is_kept_with_replacement_characters(journal: Journal) -> None:
    raw = b"caf\xe9 ok"
    journal.append("a.service", "before", source="stdout")
    journal.append("a.service", raw.decode("utf-8", "surrogateescape"), source="stdout")
    journal.append("a.service", "lone \ud800", source="stdout")
    journal.append("a.service", "after", source="stdout")
    journal.flush()  # must not raise: nothing of the batch is lost
    assert [e.message for e in journal.query()] == ["before", "caf\ufffd ok", "lone ?", "after"]


def test_bad_arguments_are_refused(journal: Journal, tmp_path: Path) -> None:
    with pytest.raises(_ValueError, match=r"priority must be 0\.\.7, found 9"):
        journal.append("a.service", "x", priority=9)
    with pytest.raises(_ValueError, match="source must be one of"):
        journal.append("a.service", "x", source="syslog")
    with pytest.raises(_ValueError, match="at least 1 MiB"):
        Journal.open(tmp_path / "small.db", max_bytes=1000)


def test_closed_journal_refuses_appends(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db")
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append(None, "late")


def test_survives_restart_and_cursors_continue(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    first = Journal.open(path)
    for index in range(100):
        first.append("a.service", f"before {index}")
    first.close()
    second = Journal.open(path)
    second.append("a.service", "after")
    entries = second.query()
    second.close()
    assert len(entries) == 101
    assert entries[-1].message == "after"
    assert entries[-1].cursor == entries[-2].cursor + 1


def test_schema_is_versioned(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JournalError, match=r"schema version 99 is newer") as info:
        Journal.open(path)
    assert info.value.path == path


def test_not_a_journal_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="not a bootup journal") as info:
        Journal.open(path)
    assert str(path) in str(info.value)
    with pytest.raises(JournalError, match="no such journal file"):
        JournalReader(tmp_path / "missing.db")


def test_threads_append_concurrently(journal: Journal) -> None:
    threads, per_thread = 4, 3000
    barrier = threading.Barrier(threads)

    def produce(name: str) -> None:
        barrier.wait()
        for index in range(per_thread):
            journal.append(name, str(index), source="stdout")

    workers = [threading.Thread(target=produce, args=(f"t{n}.service",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    journal.flush()
    for number in range(threads):
        messages = [e.message for e in journal.query(unit=f"t{number}.service")]
        assert messages == [str(index) for index in range(per_thread)]


def test_rotation_keeps_the_file_bounded(tmp_path: Path) -> None:
    max_bytes = 2**20
    journal = Journal.open(tmp_path / "j.db", max_bytes=max_bytes)
    line = "x" * 1000
    total = 12_000  # about 12 MB through a 1 MiB journal
    peak = 0
    for index in range(total):
        journal.append("flood.service", f"{index} {line}", source="stdout")
        if index % 2000 == 1999:
            journal.flush()
            peak = max(peak, journal.size_bytes())
    journal.flush()
    entries = journal.query()
    size = (tmp_path / "j.db").stat().st_size
    journal.close()
    assert journal.rotations > 0
    assert size <= max_bytes * 1.25, f"database file grew to {size} bytes"
    assert peak <= max_bytes * 1.25, f"database + WAL peaked at {peak} bytes"
    assert entries[-1].message.startswith(f"{total - 1} ")
    assert len(entries) < total
    assert [e.cursor for e in entries] == list(range(entries[0].cursor, entries[-1].cursor + 1))


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bootup.runtime.journal import Journal

    journal = Journal.open(Path(sys.argv[1]))
    for index in range(5000):
        journal.append("crash.service", f"acked {index}", source="stdout", pid=7)
    journal.flush()
    for index in range(5000):
        journal.append("crash.service", f"maybe {index}", source="stdout", pid=7)
    print("flushed", flush=True)
    sys.stdin.read()  # wait to be killed, with the journal open and maybe mid-write
    """
)


def test_acknowledged_entries_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "flushed\n"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert process.stdin is not None
    process.stdin.close()
    process.stdout.close()

    reopened = Journal.open(path)
    entries = reopened.query(unit="crash.service")
    reopened.append("crash.service", "after the crash")
    tail = reopened.query(reverse=True, limit=1)
    reopened.close()
    acked = [e.message for e in entries if e.message.startswith("acked")]
    assert acked == [f"acked {index}" for index in range(5000)]
    maybe = [e.message for e in entries if e.message.startswith("maybe")]
    assert maybe == [f"maybe {index}" for index in range(len(maybe))], "a prefix, in order"
    assert tail[0].message == "after the crash"
    assert tail[0].cursor > entries[-1].cursor


def test_reader_sees_writer_in_another_connection(journal: Journal) -> None:
    journal.append("a.service", "one")
    journal.flush()
    reader = JournalReader(journal.path)
    assert not reader.wait_for_change(0)  # the first call starts the inotify watch
    try:
        assert [e.message for e in reader.query()] == ["one"]
        assert reader.units() == ["a.service"]
        assert reader.hostname()
        journal.append("b.service", "two")
        journal.flush()
        assert reader.wait_for_change(60)
        assert [e.message for e in reader.query(after_cursor=1)] == ["two"]
    finally:
        reader.close()


@given(level=st.integers(0, 7), text=st.text(), width=st.integers(1, 3))
def test_level_prefix_property(level: int, text: str, width: int) -> None:
    assert parse_level_prefix(f"<{level:0{width}d}>{text}", 6) == (level, text)
    if not text.startswith("<"):
        assert parse_level_prefix(text, 5) == (5, text)


@settings(max_examples=25)
@given(
    rows=st.lists(
        st.tuples(
            st.none() | st.text(min_size=1, max_size=20),
            st.text(max_size=200),
            st.integers(0, 7),
            st.none() | st.integers(1, 2**22),
        ),
        max_size=30,
    )
)
def test_manager_lines_round_trip_exactly(
    rows: list[tuple[str | None, str, int, int | None]],
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        Journal.open(Path(directory) / "j.db") as journal,
    ):
        for unit, message, priority, pid in rows:
            journal.append(unit, message, priority=priority, pid=pid)
        journal.flush()
        stored = [(e.unit, e.message, e.priority, e.pid) for e in journal.query()]
    assert stored == rows
