"""Golden-file tests of the CLI: every verb's stdout, stderr and exit code, pinned in review.

Why: users judge a command by what it prints, and the conformance tests only compare the
parts that real systemctl, systemd-analyze, journalctl or grub-editenv also print. Here
every verb of ``bootup`` (discovered from :func:`bootup.cli.build_parser`, so a new verb
without a case fails :func:`test_every_verb_has_a_golden_case`) runs as a real subprocess of
the console script against a fixture, and its whole output must match
``tests/cli/golden/<case>.out`` byte for byte after :func:`normalise`.

Regenerate with ``BOOTUP_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/cli/test_golden.py``
and review the diff; the cases are in ``tests/cli/golden_cases.py``; how to add one:
``tests/cli/golden/README.md``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import support
from cli.golden_cases import CASES, Case

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
DATA = HERE.parent / "data" / "cli-golden"
SRC = HERE.parents[1] / "src"
UPDATE = os.environ.get("BOOTUP_UPDATE_GOLDEN", "") not in ("", "0")
ASSETS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "boot-assets"

#: The release of the synthetic kernel of the boot fixture.
RELEASE = "6.9.0-golden"
#: The MBR disk signature written into the fixture's disk image (bootup picks a random one).
DISK_ID = b"\x57\x7e\x00\x0b"  # 0x0b007e57 little-endian

STDERR_LINE = "--- stderr ---\n"
NO_NEWLINE = "\\ no newline at end\n"

# --- normalisation ------------------------------------------------------------------------

_DURATION = (
    r"\d+(?:\.\d+)?(?:y|month|w|d|h|min|s|ms|us)(?: \d+(?:\.\d+)?(?:y|month|w|d|h|min|s|ms|us))*"
)
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DYNAMIC: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.MULTILINE), replacement)
    for pattern, replacement in (
        # the manager's cgroup: bootup-<manager pid>-<random suffix>
        (r"\bbootup-\d+-[0-9a-f]+\b", "bootup-<PID>-<HEX>"),
        # a unit's cgroup: <unit>-<random suffix>
        (r"(?:(?<=\.service)|(?<=\.scope))-[0-9a-f]{12}\b", "-<HEX>"),
        # 128-bit IDs: invocation IDs, boot IDs
        (r"\b[0-9a-f]{32}\b", "<ID128>"),
        # systemd's timestamps: "Thu 2026-11-26 07:11:14 UTC"
        (
            rf"\b{_WEEKDAY} \d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}(?: [A-Z]{{2,5}})?",
            "<TIMESTAMP>",
        ),
        # journal lines: "Nov 26 07:11:14 host ident[pid]: ..." (the host name follows the time)
        (rf"^{_MONTH} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)? \S+ ", "<TIME> <HOSTNAME> "),
        (r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{4}|Z) \S+ ", "<TIME> <HOSTNAME> "),
        # durations where a clock decides them
        (rf"(?<=; ){_DURATION}(?= ago)", "<DURATION>"),
        (rf"(?<=finished in ){_DURATION}", "<DURATION>"),
        (rf"(?<=reached after ){_DURATION}(?= in )", "<DURATION>"),
        (r"(?<= in )\d+\.\d+ s\b", "<DURATION>"),
        # PIDs
        (r"(?<=\(pid )\d+", "<PID>"),
        (r"(?<=; pid=)\d+", "<PID>"),
        (r"(?<=Process: )\d+", "<PID>"),
        (r"(?<=PID: )\d+", "<PID>"),
        (r"(?<=[\w.@-]\[)\d+(?=\]: )", "<PID>"),
        (r"(?<=[└├]─)\d+", "<PID>"),
        (r"(?<=PID=)[1-9]\d*", "<PID>"),
        # show's raw clock values
        (r"(?<=Timestamp=)[1-9]\d*$", "<USEC>"),
        (r"(?<=TimestampMonotonic=)[1-9]\d*$", "<USEC>"),
        (r"(?<=TimestampRealtime=)[1-9]\d*$", "<USEC>"),
    )
)


def normalise(text: str, paths: Mapping[str, str], *, dynamic: bool) -> str:
    """Replace what differs between runs by placeholders; nothing else changes.

    Always: every fixture path (the per-test temporary directories, the data directory,
    the boot-assets kernel release) becomes ``<NAME>`` of its placeholder, longest path
    first, so the golden files do not depend on where pytest puts its temporary files.

    Only for cases whose output comes from a live run (``Case.is_dynamic``: a running
    manager, ``bootup up``, QEMU, or a timed build):

    * PIDs (``(pid N)``, ``; pid=N``, ``Main PID: N``, ``Process: N``, ``ident[N]:``,
      process trees, ``...PID=N``) → ``<PID>``; the manager's cgroup ``bootup-PID-HEX``
      → ``bootup-<PID>-<HEX>`` and a unit's ``NAME.service-HEX`` → ``NAME.service-<HEX>``;
    * timestamps (``Thu 2026-11-26 07:11:14 UTC``, raw ``...Timestamp*=USEC``) →
      ``<TIMESTAMP>``/``<USEC>``; journal line prefixes (time and host name) →
      ``<TIME> <HOSTNAME>``;
    * durations a clock decides (``; 125ms ago``, ``finished in``, ``reached after``,
      ``in 0.08 s``) → ``<DURATION>``;
    * 128-bit IDs (invocation IDs, boot IDs) → ``<ID128>``.

    Deterministic fixtures (unit files, the fixed journal, recorded timings, the disk
    image) keep their times and numbers: there every byte is compared.
    """
    for name, path in sorted(paths.items(), key=lambda item: (-len(item[1]), item[0])):
        if path:
            text = text.replace(path, f"<{name.upper()}>")
    if dynamic:
        for pattern, replacement in _DYNAMIC:
            text = pattern.sub(replacement, text)
    return text


def render(stdout: str, stderr: str, code: int) -> str:
    """The golden file's text: stdout, ``--- stderr ---``, stderr, ``--- exit N ---``.

    A stream that does not end with a newline gets one plus the line ``\\ no newline at
    end``, so that the difference stays visible.
    """

    def part(text: str) -> str:
        return text if not text or text.endswith("\n") else text + "\n" + NO_NEWLINE

    return f"{part(stdout)}{STDERR_LINE}{part(stderr)}--- exit {code} ---\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# --- verbs from the real parser ----------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def verb_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every leaf verb of ``parser``: ``status``, ``analyze blame``, ``boot image run``."""
    found: set[str] = set()
    for name, child in _subparsers(parser).items():
        path = (*prefix, name)
        below = verb_paths(child, path)
        found |= below or {" ".join(path)}
    return found


def case_verb(parser: argparse.ArgumentParser, argv: tuple[str, ...]) -> str:
    """The verb path ``argv`` selects, read the way argparse reads it (options skipped)."""
    path: list[str] = []
    words = iter(argv)
    for word in words:
        choices = _subparsers(parser)
        if not choices:
            break
        if word in choices:
            path.append(word)
            parser = choices[word]
        elif word.startswith("-"):
            action = parser._option_string_actions.get(word.split("=", 1)[0])
            if action is not None and action.nargs != 0 and "=" not in word:
                next(words, None)
        else:
            break
    return " ".join(path)


def test_every_verb_has_a_golden_case() -> None:
    from bootup.cli import build_parser

    parser = build_parser()
    verbs = verb_paths(parser)
    covered = {case_verb(parser, case.argv) for case in CASES}
    missing = sorted(verbs - covered)
    assert not missing, (
        "verbs without a golden case (add rows to tests/cli/golden_cases.py, see "
        f"tests/cli/golden/README.md): {', '.join(missing)}"
    )


def test_verb_paths_are_read_like_argparse_reads_them() -> None:
    from bootup.cli import build_parser

    parser = build_parser()
    assert {"status", "analyze blame", "boot initramfs list", "boot image run"} <= verb_paths(
        parser
    )
    assert "boot image" not in verb_paths(parser)  # only leaves need a case
    assert case_verb(parser, ("--project", "status", "status", "web")) == "status"
    assert case_verb(parser, ("boot", "initramfs", "list", "boot")) == "boot initramfs list"
    assert case_verb(parser, ("analyze", "--help")) == "analyze"
    assert case_verb(parser, ("nope", "status")) == ""


def test_cases_and_golden_files_match_one_to_one() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", name), f"bad case name {name!r}"
    stale = sorted(p.stem for p in GOLDEN.glob("*.out") if p.stem not in set(names))
    assert not stale, f"golden files without a case (delete them): {stale}"


def test_normalise_replaces_only_run_dependent_values() -> None:
    live = (
        "     Active: active (running) since Thu 2026-11-26 07:11:14 UTC; 125ms ago\n"
        "   Main PID: 18223 (sleep)\n"
        "Nov 26 07:11:14 vm web.service[18223]: port 8080 (pid 7)\n"
        "InvocationID=63a3285d598542a9a9b55b7e7c595ceb\nMainPID=0\n"
    )
    assert normalise(live, {"project": "/tmp/p"}, dynamic=True) == (
        "     Active: active (running) since <TIMESTAMP>; <DURATION> ago\n"
        "   Main PID: <PID> (sleep)\n"
        "<TIME> <HOSTNAME> web.service[<PID>]: port 8080 (pid <PID>)\n"
        "InvocationID=<ID128>\nMainPID=0\n"
    )
    fixed = "Jan  2 03:04:05 golden-host web[42]: in /tmp/p/x 1.5s\n"
    assert normalise(fixed, {"units": "/tmp/p"}, dynamic=False) == (
        "Jan  2 03:04:05 golden-host web[42]: in <UNITS>/x 1.5s\n"
    )


# --- fixtures -----------------------------------------------------------------------------


def synthetic_kernel() -> bytes:
    """A bzImage header and nothing else: enough for the parsers and for a disk image."""
    data = bytearray(2 * 512 + 64)
    data[0x1F1] = 1  # setup_sects
    struct.pack_into("<H", data, 0x1FE, 0xAA55)
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, 0x020F)
    text = f"{RELEASE} (golden@bootup) #1 SMP\0".encode()
    struct.pack_into("<H", data, 0x20E, 0x300 - 0x200)
    data[0x300 : 0x300 + len(text)] = text
    data[0x211] = 0x01  # LOADED_HIGH
    return bytes(data)


def bad_grubenv() -> bytes:
    """1024 bytes that are not a GRUB environment block (its header is wrong)."""
    return b"not a grubenv at all\n".ljust(1024, b"#")


def write_journal(path: Path) -> None:
    """A journal with fixed entries: two boots' worth of web, db and manager lines."""
    from bootup.runtime.journal import Journal

    Journal.open(path).close()
    base = 1767323045_000_000  # 2026-01-02 03:04:05 UTC
    rows = [
        (0, None, None, 6, "manager", "Reached target basic.target - Basic System."),
        (150_000, "db.service", 101, 6, "stdout", "db: listening on /run/db.sock"),
        (900_000, "web.service", 102, 6, "stdout", "web: serving on port 8080"),
        (1_200_000, "web.service", 102, 4, "stderr", "web: slow request (2.1 s)"),
        (2_000_000, "db.service", 101, 3, "stderr", "db: checkpoint failed: disk full"),
        (2_100_000, "db.service", None, 6, "manager", "Stopped db.service - Database."),
        (3_000_000, "web.service", 102, 6, "stdout", "web: bye \u2713"),
    ]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = 'golden-host' WHERE key = 'hostname'")
        conn.executemany(
            "INSERT INTO entries (realtime_usec, monotonic_usec, unit, pid, priority, source,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(base + at, 5_000_000 + at, *rest) for at, *rest in rows],
        )
    conn.close()


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("journal") / "journal.db"
    write_journal(path)
    return path


@pytest.fixture(scope="module")
def boot_parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The synthetic kernel, an initramfs, a disk image built by bootup and a core.img."""
    support.require_tool("mke2fs", package="e2fsprogs")
    mkimage = support.require_tool("grub-mkimage", package="grub-common")
    if not Path("/usr/lib/grub/i386-pc/boot.img").is_file():
        support.require_tool("grub-bios-setup-missing", package="grub-pc-bin")
    from bootup.boot.image import MenuEntry, Submenu, build_image
    from bootup.boot.initramfs import build_initramfs

    base = tmp_path_factory.mktemp("boot")
    parts = {
        "kernel": base / f"vmlinuz-{RELEASE}",
        "initrd": base / f"initrd.img-{RELEASE}",
        "image": base / "disk.img",
        "core": base / "core.img",
        "badenv": base / "bad-grubenv",
    }
    parts["kernel"].write_bytes(synthetic_kernel())
    parts["initrd"].write_bytes(build_initramfs(compression="none"))
    parts["badenv"].write_bytes(bad_grubenv())
    menu = (
        MenuEntry(title="Alpha", id="a", marker="a"),
        Submenu("Advanced", "adv", (MenuEntry(title="Beta", id="b", marker="b"),)),
    )
    build_image(
        parts["image"],
        kernel=parts["kernel"],
        initrd=parts["initrd"],
        menu=menu,
        grubenv={"saved_entry": "adv>b"},
        size=8 << 20,
    )
    with parts["image"].open("r+b") as handle:  # a fixed disk identifier instead of a random one
        handle.seek(440)
        handle.write(DISK_ID)
    subprocess.run(
        [mkimage, "-O", "i386-pc", "-o", str(parts["core"]), "-p", "(hd0,msdos1)/boot/grub",
         "biosdisk", "part_msdos", "ext2"],
        check=True,
    )  # fmt: skip
    return parts


@pytest.fixture(scope="module")
def qemu_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A disk image with the boot-assets kernel and a busybox probe initramfs."""
    support.require_tool("qemu-system-x86_64", package="qemu-system-x86")
    support.require_tool("mke2fs", package="e2fsprogs")
    support.require_tool("grub-mkimage", package="grub-common")
    if not (ASSETS / "kernel-version").is_file():
        script = HERE.parents[1] / "scripts" / "fetch-boot-assets"
        subprocess.run(["bash", str(script)], capture_output=True, check=False)
    if not (ASSETS / "kernel-version").is_file():
        message = f"no kernel in {ASSETS}: run scripts/fetch-boot-assets"
        if support.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from bootup.boot.image import MenuEntry, Submenu, build_image
    from bootup.boot.initramfs import build_initramfs

    base = tmp_path_factory.mktemp("qemu")
    initrd = base / "initrd.img"
    initrd.write_bytes(build_initramfs(busybox=ASSETS / "busybox"))
    image = base / "disk.img"
    menu = (
        MenuEntry(title="Alpha", id="a", marker="a"),
        Submenu("Advanced", "adv", (MenuEntry(title="Beta", id="b", marker="b"),)),
    )
    build_image(
        image, kernel=ASSETS / "vmlinuz", initrd=initrd, menu=menu, grubenv={"next_entry": "adv>b"}
    )
    return image, (ASSETS / "kernel-version").read_text().strip()


@pytest.fixture(scope="module")
def live_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One manager on a copy of tests/data/cli-golden/project for all live cases."""
    from control.manager_proc import spawn

    directory = tmp_path_factory.mktemp("live") / "project"
    shutil.copytree(DATA / "project", directory, symlinks=True)
    manager = spawn(directory)
    try:
        yield directory
    finally:
        manager.stop()


def _placeholders(case: Case, request: pytest.FixtureRequest, base: Path) -> dict[str, str]:
    """Create what ``case`` needs under ``base``; return placeholder -> path."""
    work = base / "work"
    work.mkdir()
    paths = {"data": str(DATA), "tmp": str(work)}
    used = " ".join(case.argv)
    if case.fixture == "files":
        if "{units}" in used:
            shutil.copytree(DATA / "units", base / "units", symlinks=True)
            paths["units"] = str(base / "units")
        if "{journal}" in used:
            paths["journal"] = str(request.getfixturevalue("journal"))
    elif case.fixture == "boot":
        parts: dict[str, Path] = request.getfixturevalue("boot_parts")
        paths.update({k: str(v) for k, v in parts.items() if k != "image"})
        if "{root}" in used:
            root = base / "root"
            shutil.copytree(DATA / "boot" / "root", root, symlinks=True)
            shutil.copyfile(parts["kernel"], root / "boot" / parts["kernel"].name)
            shutil.copyfile(parts["initrd"], root / "boot" / parts["initrd"].name)
            paths["root"] = str(root)
        if "{image}" in used:
            shutil.copyfile(parts["image"], base / "disk.img")
            paths["image"] = str(base / "disk.img")
    elif case.fixture == "live":
        paths["project"] = str(request.getfixturevalue("live_project"))
    elif case.fixture == "up":
        shutil.copytree(DATA / "up", base / "up", symlinks=True)
        paths["up"] = str(base / "up")
    elif case.fixture == "qemu":
        image, release = request.getfixturevalue("qemu_image")
        paths.update({"qimage": str(image), "kernel-release": release})
    return paths


def _command() -> list[str]:
    script = Path(sys.executable).with_name("bootup")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bootup"]


def _environment() -> dict[str, str]:
    """The user's environment minus what would change the output; times in UTC."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BOOTUP_CONTROL_SOCKET", "NO_COLOR", "SYSTEMD_COLORS", "COLUMNS", "LINES")
    }
    env.update(TZ="UTC", LC_ALL="C.UTF-8", TERM="dumb", PYTHONPATH=str(SRC))
    return env


def run_case(case: Case, paths: Mapping[str, str], cwd: Path) -> tuple[str, int]:
    """Run ``case`` as the console script; return its normalised golden text and exit code."""
    argv = list(case.argv)
    for name, path in paths.items():
        argv = [word.replace(f"{{{name}}}", path) for word in argv]
    done = subprocess.run(
        [*_command(), *argv],
        capture_output=True,
        cwd=cwd,
        env=_environment(),
        timeout=600,
        check=False,
    )
    stdout = done.stdout.decode("utf-8", "backslashreplace")
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    text = render(stdout, stderr, done.returncode)
    return normalise(text, paths, dynamic=case.is_dynamic), done.returncode


def _params() -> list[object]:
    params: list[object] = []
    for case in CASES:
        marks: list[pytest.MarkDecorator] = []
        if case.slow:
            marks.append(pytest.mark.slow)
        if case.fixture == "qemu":
            marks.append(pytest.mark.e2e)
        if case.xfail:
            marks.append(pytest.mark.xfail(reason=case.xfail, strict=True))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


#: The live cases run so far in this session: each one's output depends on those before it.
_LIVE_RAN: list[str] = []


def _missed_live_cases(case: Case) -> list[str]:
    """The live cases before ``case`` in the table that did not run before it."""
    if case.fixture != "live":
        return []
    before = [c.name for c in CASES[: CASES.index(case)] if c.fixture == "live"]
    return [name for name in before if name not in _LIVE_RAN]


@pytest.mark.parametrize("case", _params())
def test_golden(case: Case, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    paths = _placeholders(case, request, tmp_path)
    missed = _missed_live_cases(case)
    if case.fixture == "live":
        _LIVE_RAN.append(case.name)
    actual, code = run_case(case, paths, Path(paths["tmp"]))
    golden = GOLDEN / f"{case.name}.out"
    assert "Traceback (most recent call last)" not in actual, f"bootup crashed:\n{actual}"
    assert code == case.exit, (
        f"bootup {' '.join(case.argv)}: exit {code}, the case expects {case.exit}\n{actual}"
    )
    if UPDATE and not case.xfail:
        if missed:
            pytest.fail(
                f"not rewriting {golden.name}: it depends on the live cases before it, which did "
                f"not run ({', '.join(missed)}); regenerate the whole module"
            )
        if not golden.exists() or golden.read_text(encoding="utf-8") != actual:
            write_atomic(golden, actual)
        return
    if not golden.exists():
        if case.xfail:
            return  # it no longer crashes: strict xfail reports the XPASS (see README.md)
        pytest.fail(f"{golden} is missing: run with BOOTUP_UPDATE_GOLDEN=1 and review it")
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{case.name}.out",
                tofile="actual",
            )
        )
        hint = f"\n(the live cases before it did not run: {', '.join(missed)})" if missed else ""
        pytest.fail(f"bootup {' '.join(case.argv)}: output differs{hint}\n{diff}", pytrace=False)
