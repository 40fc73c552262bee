"""Run systemd generators, as the manager does before it loads units (systemd.generator(7)).

Generators are small programs that turn other configuration into unit files at boot:
``/etc/fstab`` into mount units, container consoles into ``console-getty.service``,
PostgreSQL clusters into ``postgresql@VERSION-NAME.service``. systemd runs every generator
in parallel with three output directories (normal, early, late priority) and then loads
units from them as part of the search path; ``systemd --test`` does the same into a
temporary directory. Without them bootup would see a different unit set than systemd does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bootup.units.paths import SearchPath

__all__ = ("GENERATOR_DIRS", "GeneratorRun", "find_generators", "generated", "run_generators")

logger = logging.getLogger(__name__)

#: Where generators live, highest precedence first; a name found earlier shadows later
#: ones, and a link to /dev/null (or an empty file) disables the generator.
GENERATOR_DIRS = (
    "/run/systemd/system-generators",
    "/etc/systemd/system-generators",
    "/usr/local/lib/systemd/system-generators",
    "/lib/systemd/system-generators",
    "/usr/lib/systemd/system-generators",
)

#: The search path entries that generator output takes the place of.
_OUTPUTS = {
    "/run/systemd/generator.early": "early",
    "/run/systemd/generator": "normal",
    "/run/systemd/generator.late": "late",
}

#: systemd 252 gives the generators DEFAULT_TIMEOUT_USEC (90 s) in all.
TIMEOUT = 90.0


@dataclass(frozen=True, slots=True)
class GeneratorRun:
    """One generator's run: its path, exit code and what it wrote to stderr."""

    path: str
    returncode: int | None
    stderr: str


def find_generators(root: str = "/") -> list[str]:
    """The generators to run, by name across :data:`GENERATOR_DIRS` (host paths)."""
    chosen: dict[str, str] = {}
    seen_dirs: set[str] = set()
    for directory in GENERATOR_DIRS:
        host = os.path.join(root, directory.lstrip("/"))
        real = os.path.realpath(host)
        if real in seen_dirs or not os.path.isdir(host):
            continue
        seen_dirs.add(real)
        for name in sorted(os.listdir(host)):
            if name in chosen:
                continue
            path = os.path.join(host, name)
            chosen[name] = path
    runnable = []
    for name in sorted(chosen):
        path = chosen[name]
        if os.path.realpath(path) == "/dev/null" or (
            os.path.isfile(path) and os.path.getsize(path) == 0
        ):
            continue  # masked
        if os.path.isfile(path) and os.access(path, os.X_OK):
            runnable.append(path)
    return runnable


def run_generators(
    output: Path,
    *,
    root: str = "/",
    environ: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> list[GeneratorRun]:
    """Run every generator in parallel into ``output/{normal,early,late}``.

    A generator that fails or hangs is reported and the others' output is kept, as
    systemd does (it logs and continues).
    """
    dirs = {kind: output / kind for kind in ("normal", "early", "late")}
    for directory in dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if environ is None else environ)
    env.setdefault("SYSTEMD_SCOPE", "system")
    env.setdefault("SYSTEMD_IN_INITRD", "0")
    processes: list[tuple[str, subprocess.Popen[str] | None, str]] = []
    for path in find_generators(root):
        try:
            process = subprocess.Popen(
                [path, str(dirs["normal"]), str(dirs["early"]), str(dirs["late"])],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
            )
        except OSError as exc:
            processes.append((path, None, str(exc)))
            continue
        processes.append((path, process, ""))
    runs = []
    for path, proc, error in processes:
        if proc is None:
            runs.append(GeneratorRun(path, None, error))
            continue
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            stderr += f"\n{path} timed out after {timeout:g}s"
        if proc.returncode != 0:
            logger.warning("%s failed with exit status %s", path, proc.returncode)
        runs.append(GeneratorRun(path, proc.returncode, stderr))
    return runs


@contextlib.contextmanager
def generated(search_path: SearchPath, **options: object) -> Iterator[SearchPath]:
    """Run the generators into a temporary directory and use it in ``search_path``.

    Yields the search path with ``/run/systemd/generator{.early,,.late}`` replaced by the
    fresh output, as ``systemd --test`` does. A project search path, or one without
    generator directories (a ``SYSTEMD_UNIT_PATH`` without a trailing ``:``), or one under
    another root (generators describe the running system, not an image), is yielded
    unchanged and nothing runs.
    """
    if (
        search_path.project
        or search_path.root != "/"
        or not any(d in _OUTPUTS for d in search_path.dirs)
    ):
        yield search_path
        return
    with tempfile.TemporaryDirectory(prefix="bootup-generators-") as tmp:
        run_generators(Path(tmp), **options)  # type: ignore[arg-type]
        dirs = tuple(
            os.path.join(tmp, _OUTPUTS[d]) if d in _OUTPUTS else d for d in search_path.dirs
        )
        yield dataclasses.replace(search_path, dirs=dirs)
