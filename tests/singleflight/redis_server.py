"""A real, throwaway ``redis-server`` for the fleet-wide singleflight tests and benchmark.

The distributed tests must exercise the real server (Lua, Streams, blocking reads, restarts),
so this helper starts one on a free loopback port in a temporary directory, with persistence
off, and stops it afterwards. It can also restart the server on the same port, which the fault
tests use to cut every client connection in the middle of a flight.

Use it as a context manager (``with RedisServer.start() as server``) or through the
:func:`redis_server` fixture (tests import it with ``from redis_server import redis_server``).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ("RedisServer", "find_redis_server", "redis_server")

#: How long a server may take to accept connections (a busy 2-core machine is slow).
START_TIMEOUT_S = 20.0


def find_redis_server() -> str | None:
    """Return the path of ``redis-server``, or None when it is not installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, owned by the caller.

    Attributes:
        port: the TCP port it listens on (kept across :meth:`restart`).
        workdir: its private temporary directory (``dir``, log file).
    """

    def __init__(self, executable: str, port: int, workdir: Path) -> None:
        self.executable = executable
        self.port = port
        self.workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, executable: str | None = None) -> RedisServer:
        """Start a fresh server on a free port and wait until it answers PING."""
        exe = executable or find_redis_server()
        if exe is None:
            raise FileNotFoundError("redis-server is not installed (Debian package redis-server)")
        workdir = Path(tempfile.mkdtemp(prefix="bootup-redis-"))
        server = cls(exe, _free_port(), workdir)
        try:
            server._spawn()
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return server

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> None:
        args = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                log = self.workdir / "redis.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                raise RuntimeError(
                    f"redis-server on port {self.port} exited with {self._proc.returncode}: "
                    f"{err.strip()} {text.strip()[-2000:]}"
                )
            if self._answers_ping():
                return
            if time.monotonic() > deadline:
                self._kill()
                raise TimeoutError(
                    f"redis-server on port {self.port} did not answer within {START_TIMEOUT_S} s"
                )
            time.sleep(0.02)  # waiting for an external process to come up, not ordering a test

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()  # redis-server exits at once on SIGTERM when nothing is to save
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        """Stop the server (every connection drops, all data is lost) and start it again."""
        self._kill()
        self._spawn()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_server() -> Iterator[RedisServer]:
    """Context manager that skips (or, under CI, fails) the test when redis-server is missing."""
    import support

    exe = support.require_tool("redis-server", package="redis-server")
    server = RedisServer.start(exe)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the tests of one module (each test uses its own namespace)."""
    with running_server() as server:
        yield server
