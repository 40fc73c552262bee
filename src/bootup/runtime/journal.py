"""The manager's journal: every output line and manager event, in one SQLite file.

Why SQLite and not journald's file format: the manager runs unprivileged per project, needs
ranged queries (by unit, time, priority, cursor) and must survive crashes; SQLite in WAL mode
gives all of that from the standard library. The fields mirror journald's (``MESSAGE``,
``PRIORITY``, ``_PID``, ``_SYSTEMD_UNIT``, the two timestamps, a cursor), see systemd.journal-
fields(7); :mod:`bootup.runtime.logformat` renders them the way journalctl(1) does.

Design (who owns what):

* :meth:`Journal.append` runs on the event loop. It only stamps the line with both clocks,
  parses a ``<N>`` level prefix (journald's ``SyslogLevelPrefix=yes``) and puts a tuple on
  ``_pending`` under ``_lock``. Nothing touches SQLite there.
* One writer thread owns the write connection. It takes the whole ``_pending`` list at once and
  inserts it with ``executemany`` in one transaction, so batches grow by themselves under load.
  After each batch it rotates: when the live pages pass three quarters of ``max_bytes`` it
  deletes the oldest third of the cursor range (one ranged ``DELETE`` on the primary key); the
  freed pages are reused, so the file stays near ``max_bytes``. The WAL is bounded too
  (``wal_autocheckpoint`` and ``journal_size_limit`` scale with ``max_bytes``).
* Readers (``query``, ``bootup logs``) use their own connections; WAL lets them read while the
  writer writes.

Durability, and what "acknowledged" means: an entry is *acknowledged* when a :meth:`flush`
that started after its :meth:`append` has returned. By then the entry's batch is committed
to the WAL and the WAL file has been ``fsync``-ed, so it survives a crash of the process
(``kill -9``) and of the machine. Entries appended but not yet acknowledged are committed
with ``synchronous=NORMAL`` within one batch (normally well under a millisecond): once
committed they survive ``kill -9`` of the process (the data is in the kernel's page cache)
but could be lost on power failure; entries still queued in memory when the process is
killed are lost. That is journald's trade-off as well (it syncs on demand and by timer).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from bootup.errors import ManagerError

__all__ = (
    "SCHEMA_VERSION",
    "SOURCES",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalReader",
    "parse_level_prefix",
)

logger = logging.getLogger(__name__)

#: ``PRAGMA user_version`` of the files this module writes; a newer file is refused.
SCHEMA_VERSION: Final = 1
#: Where an entry came from: the service's stdout or stderr, or the manager itself.
SOURCES: Final = frozenset({"stdout", "stderr", "manager"})
#: Above this many queued lines :meth:`Journal.append` waits for the writer (back-pressure
#: instead of unbounded memory under a flood).
_MAX_PENDING: Final = 200_000
#: At most this many lines (and 1/16 of max_bytes) go into one transaction, so that rotation
#: runs often enough to keep the file bounded under a flood.
_BATCH: Final = 4096

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS entries (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    realtime_usec INTEGER NOT NULL,
    monotonic_usec INTEGER NOT NULL,
    unit TEXT,
    pid INTEGER,
    priority INTEGER NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_unit ON entries (unit, cursor);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS: Final = "cursor, realtime_usec, monotonic_usec, unit, pid, priority, source, message"
_Row = tuple[int, int, str | None, int | None, int, str, str]


class JournalError(ManagerError):
    """The journal file cannot be opened, read or written.

    Attributes:
        path: the journal file concerned (None when no file is involved).
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = path


class JournalValueError(JournalError, ValueError):
    """An argument to the journal (priority, source, ...) is out of its range."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal record, as journalctl shows it.

    ``cursor`` increases strictly with every append and is never reused, even after rotation,
    so ``after_cursor`` resumes a reader exactly where it stopped.
    """

    cursor: int
    realtime_usec: int
    monotonic_usec: int
    unit: str | None
    pid: int | None
    priority: int
    source: str
    message: str


def parse_level_prefix(line: str, default: int) -> tuple[int, str]:
    """Split a ``<N>`` syslog level prefix off a stdout/stderr line, as journald does.

    journald (``SyslogLevelPrefix=yes``, the default) accepts one to three digits between
    ``<`` and ``>`` whose value is a bare level 0..7 (``<3>``, ``<03>``, ``<003>``); a
    facility or anything else leaves the line untouched with ``default``. The text after
    ``>`` is kept as it is (journald does not strip a following space).
    """
    if not line.startswith("<"):
        return default, line
    end = line.find(">", 1, 5)
    if end < 2:
        return default, line
    digits = line[1:end]
    if not digits.isascii() or not digits.isdigit():
        return default, line
    level = int(digits)
    if level > 7:
        return default, line
    return level, line[end + 1 :]


def _now_usec() -> tuple[int, int]:
    return time.time_ns() // 1000, time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            if not path.exists():
                raise JournalError("no such journal file", path)
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"not a bootup journal (SQLite says: {exc})", path) from exc
    if version > SCHEMA_VERSION:
        conn.close()
        raise JournalError(
            f"journal schema version {version} is newer than this bootup understands "
            f"(expected at most {SCHEMA_VERSION})",
            path,
        )
    return conn


def _query(
    conn: sqlite3.Connection,
    *,
    unit: str | Sequence[str] | None = None,
    since_usec: int | None = None,
    until_usec: int | None = None,
    max_priority: int | None = None,
    min_priority: int | None = None,
    after_cursor: int | None = None,
    limit: int | None = None,
    reverse: bool = False,
) -> list[JournalEntry]:
    clauses: list[str] = []
    params: list[object] = []
    if unit is not None:
        units = [unit] if isinstance(unit, str) else list(unit)
        clauses.append(f"unit IN ({', '.join('?' * len(units))})")
        params.extend(units)
    if since_usec is not None:
        clauses.append("realtime_usec >= ?")
        params.append(since_usec)
    if until_usec is not None:
        clauses.append("realtime_usec <= ?")
        params.append(until_usec)
    if max_priority is not None:
        clauses.append("priority <= ?")
        params.append(max_priority)
    if min_priority is not None:
        clauses.append("priority >= ?")
        params.append(min_priority)
    if after_cursor is not None:
        clauses.append("cursor > ?")
        params.append(after_cursor)
    sql = f"SELECT {_COLUMNS} FROM entries"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY cursor DESC" if reverse else " ORDER BY cursor"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    try:
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [JournalEntry(*row) for row in rows]


class JournalReader:
    """A read-only view of a journal file, for ``bootup logs`` and other processes.

    It never writes (the file is opened with SQLite's ``mode=ro``), so it may read the file of
    a running manager.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = _connect(path, readonly=True)
        self._inotify: _Inotify | None = None

    def query(
        self,
        *,
        unit: str | Sequence[str] | None = None,
        since_usec: int | None = None,
        until_usec: int | None = None,
        max_priority: int | None = None,
        min_priority: int | None = None,
        after_cursor: int | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[JournalEntry]:
        """Return matching entries ordered by cursor (newest first with ``reverse``)."""
        try:
            return _query(
                self._conn,
                unit=unit,
                since_usec=since_usec,
                until_usec=until_usec,
                max_priority=max_priority,
                min_priority=min_priority,
                after_cursor=after_cursor,
                limit=limit,
                reverse=reverse,
            )
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot read the journal: {exc}", self.path) from exc

    def units(self) -> list[str]:
        """The distinct unit names in the journal, sorted (for ``-u`` globs)."""
        try:
            rows = self._conn.execute(
                "SELECT DISTINCT unit FROM entries WHERE unit IS NOT NULL ORDER BY unit"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot read the journal: {exc}", self.path) from exc
        return [str(row[0]) for row in rows]

    def hostname(self) -> str:
        """The host name the writer recorded (this host's when the file has none)."""
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'hostname'").fetchone()
        except sqlite3.OperationalError:
            row = None
        return str(row[0]) if row else socket.gethostname()

    def wait_for_change(self, timeout: float) -> bool:
        """Block until the journal's directory sees a write, or ``timeout`` seconds pass.

        The first call starts the watch (call it with 0 before the first query).

        SQLite has no change notification, so this watches the directory of the file with
        inotify(7) (``IN_MODIFY``/``IN_CREATE``/``IN_MOVED_TO``; the writer's commits are
        ``write()`` calls on ``*-wal``). The watch is created with the reader, so a write that
        happens between a query and this call is not missed. Returns whether anything changed;
        a spurious True only costs one query.
        """
        if self._inotify is None:
            self._inotify = _Inotify(self.path.parent)
        return self._inotify.wait(timeout)

    def close(self) -> None:
        """Close the connection and the watch."""
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._conn.close()


class _Inotify:
    """A minimal inotify(7) watch on one directory, through ctypes (no dependency)."""

    _IN_MODIFY: ClassVar[int] = 0x002
    _IN_MOVED_TO: ClassVar[int] = 0x080
    _IN_CREATE: ClassVar[int] = 0x100

    def __init__(self, directory: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        if fd < 0:
            errno = ctypes.get_errno()
            raise JournalError(f"inotify_init1 failed: {os.strerror(errno)}", directory)
        mask = self._IN_MODIFY | self._IN_MOVED_TO | self._IN_CREATE
        if int(libc.inotify_add_watch(fd, os.fsencode(directory), mask)) < 0:
            errno = ctypes.get_errno()
            os.close(fd)
            raise JournalError(f"inotify_add_watch failed: {os.strerror(errno)}", directory)
        self._fd = fd

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, 65536):
                pass
        return True

    def close(self) -> None:
        os.close(self._fd)


class Journal:
    """The writable journal of one manager; see the module docstring for the design.

    Thread-safe: :meth:`append`, :meth:`flush` and :meth:`query` may be called from any thread.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, max_bytes: int) -> None:
        """Use :meth:`open`; this takes an already prepared write connection."""
        self.path = path
        self.max_bytes = max_bytes
        self._conn = conn
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        self._read_conn = _connect(path, readonly=False)
        self._read_lock = threading.Lock()
        # _lock guards every field below; the writer thread and appenders share them.
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer waits here
        self._done = threading.Condition(self._lock)  # flush()/query() wait here
        self._pending: list[_Row] = []
        self._appended = 0  # sequence number of the last append
        self._committed = 0  # ... of the last one committed to the WAL
        self._synced = 0  # ... of the last one fsync-ed
        self._sync_wanted = 0  # the highest sequence a flush() waits to see synced
        self._closing = False
        self._error: BaseException | None = None
        self.rotations = 0  # how many times old entries were deleted (for tests, benchmarks)
        self._writer = threading.Thread(target=self._run, name=f"journal:{path.name}", daemon=True)
        self._writer.start()

    @classmethod
    def open(cls, path: Path, *, max_bytes: int = 64 * 2**20) -> Journal:
        """Open (creating if needed) the journal at ``path``, keeping it near ``max_bytes``.

        Raises:
            JournalError: the file is not a journal, or has a newer schema.
            JournalValueError: ``max_bytes`` is below 1 MiB.
        """
        if max_bytes < 2**20:
            raise JournalValueError(f"max_bytes must be at least 1 MiB, found {max_bytes}", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path, readonly=False)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"cannot switch to WAL mode (SQLite kept {mode!r})", path)
            conn.execute("PRAGMA synchronous = NORMAL")
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            wal_pages = max(64, max_bytes // page_size // 32)
            conn.execute(f"PRAGMA wal_autocheckpoint = {wal_pages}")
            conn.execute(f"PRAGMA journal_size_limit = {wal_pages * page_size * 2}")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('hostname', ?)",
                (socket.gethostname(),),
            )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"cannot prepare the journal: {exc}", path) from exc
        except BaseException:
            conn.close()
            raise
        _fsync_dir(path.parent)
        return cls(path, conn, max_bytes)

    # --- the event-loop side -----------------------------------------------------------

    def append(
        self,
        unit: str | None,
        message: str,
        *,
        priority: int = 6,
        pid: int | None = None,
        source: str = "manager",
        level_prefix: bool = True,
    ) -> None:
        """Queue one line; the writer thread stores it within one batch.

        Lines from ``stdout``/``stderr`` lose a ``<N>`` level prefix, which becomes their
        priority (journald's ``SyslogLevelPrefix=yes``; pass ``level_prefix=False`` for a
        unit with ``SyslogLevelPrefix=no``). Cheap: no I/O happens here.

        Raises:
            JournalValueError: ``priority`` is not 0..7 or ``source`` is unknown.
            JournalError: the journal is closed.
        """
        if source not in SOURCES:
            raise JournalValueError(
                f"source must be one of {sorted(SOURCES)}, found {source!r}", self.path
            )
        if not 0 <= priority <= 7:
            raise JournalValueError(f"priority must be 0..7, found {priority}", self.path)
        if level_prefix and source != "manager":
            priority, message = parse_level_prefix(message, priority)
        realtime, monotonic = _now_usec()
        row = (realtime, monotonic, unit, pid, priority, source, message)
        with self._lock:
            if self._closing:
                raise JournalError("the journal is closed", self.path)
            while len(self._pending) >= _MAX_PENDING and self._writer.is_alive():
                self._done.wait()
            self._pending.append(row)
            self._appended += 1
            if len(self._pending) == 1:
                self._work.notify()

    def flush(self) -> None:
        """Return once everything appended before this call is committed and fsync-ed.

        Raises:
            JournalError: the writer failed to store a batch since the last flush (the lines
                of that batch are lost; later ones are not).
        """
        with self._lock:
            target = self._appended
            if target > self._sync_wanted:
                self._sync_wanted = target
                self._work.notify()
            while self._synced < target and self._writer.is_alive():
                self._done.wait()
            self._raise_error()
            if self._synced < target:
                raise JournalError("the journal's writer thread has stopped", self.path)

    def query(
        self,
        *,
        unit: str | Sequence[str] | None = None,
        since_usec: int | None = None,
        until_usec: int | None = None,
        max_priority: int | None = None,
        min_priority: int | None = None,
        after_cursor: int | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[JournalEntry]:
        """Return matching entries, including every line appended before the call.

        It waits for the writer to commit what is queued (no fsync), then reads through its
        own connection, so it does not block appends.
        """
        with self._lock:
            target = self._appended
            self._work.notify()
            while self._committed < target and self._writer.is_alive():
                self._done.wait()
        with self._read_lock:
            try:
                return _query(
                    self._read_conn,
                    unit=unit,
                    since_usec=since_usec,
                    until_usec=until_usec,
                    max_priority=max_priority,
                    min_priority=min_priority,
                    after_cursor=after_cursor,
                    limit=limit,
                    reverse=reverse,
                )
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"cannot read the journal: {exc}", self.path) from exc

    def close(self) -> None:
        """Store and fsync everything queued, stop the writer and close the file."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._sync_wanted = self._appended
            self._work.notify()
        self._writer.join()
        with self._read_lock:
            self._read_conn.close()
        self._conn.close()
        with self._lock:
            self._raise_error()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def size_bytes(self) -> int:
        """The size of the database file plus its WAL, in bytes (what rotation bounds)."""
        total = 0
        for name in (self.path, Path(f"{self.path}-wal")):
            with contextlib.suppress(FileNotFoundError):
                total += name.stat().st_size
        return total

    # --- the writer thread ---------------------------------------------------------------

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise JournalError(f"writing the journal failed: {error}", self.path) from error

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and self._sync_wanted <= self._synced and not self._closing:
                    self._work.wait()
                count = self._batch_length()
                batch = self._pending[:count]
                del self._pending[:count]
                target = self._appended - len(self._pending)
                want_sync = self._synced < self._sync_wanted <= target
                stop = self._closing and not batch and not want_sync
                self._done.notify_all()  # appenders blocked on a full queue
            if stop:
                return
            try:
                if batch:
                    self._insert_or_clean(batch)
                    self._rotate()
                if want_sync:
                    self._fsync()
            except Exception as exc:  # the writer must outlive any one bad batch
                logger.exception("journal %s: storing %d lines failed", self.path, len(batch))
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                with self._lock:
                    self._error = exc
            with self._lock:
                self._committed = target
                if want_sync:
                    self._synced = target
                self._done.notify_all()

    def _batch_length(self) -> int:
        """How many queued rows fit one batch: at most _BATCH rows and 1/16 of max_bytes."""
        budget = max(64 * 1024, self.max_bytes // 16)
        count = 0
        for row in self._pending[:_BATCH]:
            budget -= len(row[6]) + 64
            count += 1
            if budget <= 0:
                break
        return count

    def _insert_or_clean(self, batch: list[_Row]) -> None:
        """Insert a batch; if a text cannot be stored (lone surrogates), clean all and retry.

        Output decoded with ``surrogateescape`` carries undecodable bytes as lone surrogates,
        which SQLite's UTF-8 cannot hold; they become U+FFFD, as journalctl would show them,
        instead of costing the whole batch.
        """
        try:
            self._insert(batch)
        except UnicodeEncodeError:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._insert(
                [
                    (rt, mono, None if unit is None else _clean(unit), pid, prio, src, _clean(msg))
                    for rt, mono, unit, pid, prio, src, msg in batch
                ]
            )

    def _insert(self, batch: list[_Row]) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO entries (realtime_usec, monotonic_usec, unit, pid, priority, source,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        conn.execute("COMMIT")

    def _rotate(self) -> None:
        conn = self._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if (pages - free) * self._page_size <= self.max_bytes * 3 // 4:
            return
        low, high = conn.execute("SELECT min(cursor), max(cursor) FROM entries").fetchone()
        if low is None or low == high:
            return
        cut = low + max(1, (high - low) // 3)
        conn.execute("DELETE FROM entries WHERE cursor < ?", (cut,))
        # The DELETE wrote its b-tree changes to the WAL; copy them back now and shrink the
        # WAL, so database + WAL stay near max_bytes rather than max_bytes + a rotation.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.rotations += 1
        logger.debug("journal %s: rotated away cursors %d..%d", self.path, low, cut - 1)

    def _fsync(self) -> None:
        # The WAL holds every committed frame not yet checkpointed; checkpoints fsync the
        # database file themselves (synchronous=NORMAL), so syncing the WAL is enough.
        for name in (Path(f"{self.path}-wal"), self.path):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _clean(text: str) -> str:
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
