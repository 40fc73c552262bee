"""ExecStart= parsing against real systemd 252.

Two oracles: the ``Command Line:`` lines of ``systemd --test`` (run as ``nobody``, which the
test mode requires) show the parsed argv of every command of a unit that loads; and
``systemd-analyze verify`` shows the warnings, and the "Exec format error" refusal for
values that make a unit fail to load. bootup reads the same unit file with its own syntax
parser, expands specifiers with the same unit name, and must produce the same argv, in the
same order, and the same diagnostics.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import support
from bootup.units.execline import ExecCommand, parse_exec, quote_command_line
from bootup.units.specifiers import HostContext, UnitContext, expand
from bootup.units.syntax import read_unit_file

GOOD = [
    "/bin/echo plain words",
    '/bin/echo "a b" \'c d\' "g\\"h" x"a b"y \'\' ""',
    "/bin/echo \\x41 \\101 \\u00e9 \\U0001F600 \\t \\n \\a \\s \\\\ '\\x7f'",
    "-/bin/echo $FOO ${BAR} $$ a$b ${A:-b}",
    '@/bin/sh sh -c "echo hi; exit 0"',
    "/bin/true ; /bin/false ; -/bin/echo third",
    "/bin/echo \\; literal ; /bin/echo a;b c; ;d",
    ":+/bin/echo x",
    "!!/bin/echo y",
    "!/bin/echo z",
    "+-@:/bin/sh sh",
    "echo relative",
    "/bin//echo//x",
    "/bin/echo e\\ f \\q",
    "/bin/echo %n %N %p %P %i %I %f %j %J %% trailing %",
    "/bin/echo %H %m %b %t %S %C %L %E %T %V %y %Y %d",
    "-/bin/echo %Z ignored-with-dash",
    "-",
    "-@",
    '-/bin/echo "unterminated',
    "-/bin/echo/",
    "-rel/ative",
    "/bin/echo 'x\\\"y' \"it's\"",
    "; /bin/echo after-leading-semicolon",
    "/bin/echo \\x00 \\u0000",
    '/bin/echo ü "ä ö" \\xff \\303\\274',
]

BAD = [
    '/bin/echo "unterminated',
    "/bin/echo/",
    "@/bin/echo",
    "rel/ative",
    "/bin/echo %Z",
    "%Z/x",
    "",
    '/bin/ok ; /bin/echo "bad',
]

UNIT_HEAD = "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\n"
INSTANCE = "good@in\\x2dst.service"


def as_nobody(command: list[str]) -> list[str]:
    """``systemd --test`` refuses to run as root: drop to nobody when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = support.require_tool("runuser", package="util-linux")
    return [runuser, "-u", "nobody", "--", *command]


@pytest.fixture
def unit_dir() -> Iterator[Path]:
    # systemd --test refuses to run as root, and nobody must be able to read the units.
    directory = Path(tempfile.mkdtemp(prefix="bootup-execline-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def host_context() -> HostContext:
    return HostContext.from_system()


def parse_ours(path: Path, unit: str) -> tuple[list[ExecCommand], list[str], bool]:
    parsed = read_unit_file(path)
    assert parsed.fatal is None
    ctx = UnitContext(unit, str(path))
    host = host_context()
    commands: list[ExecCommand] = []
    diagnostics: list[str] = []
    fatal = False
    for assignment in parsed.assignments:
        if assignment.key != "ExecStart":
            continue
        result = parse_exec(
            assignment.value,
            assignment.path,
            assignment.line,
            expand_path=lambda text: expand(text, ctx, host),
            expand_arg=lambda text: expand(text, ctx, host),
        )
        if result.commands is None:
            commands.clear()
        else:
            commands.extend(result.commands)
        diagnostics.extend(str(d) for d in result.diagnostics)
        fatal = fatal or result.fatal
    return commands, diagnostics, fatal


def run_test_mode(directory: Path, unit: str) -> str:
    systemd = support.require_tool("/lib/systemd/systemd", package="systemd")
    proc = subprocess.run(
        as_nobody(
            [
                "env",
                f"SYSTEMD_UNIT_PATH={directory}",
                "SYSTEMD_LOG_TARGET=console",
                "SYSTEMD_LOG_LEVEL=debug",
                "SYSTEMD_LOG_COLOR=0",
                systemd,
                "--test",
                "--system",
                f"--unit={unit}",
                "--no-pager",
            ]
        ),
        capture_output=True,
        check=False,
    )
    return (proc.stdout + proc.stderr).decode("utf-8", "surrogateescape")


def command_lines(dump: str, unit: str) -> list[str]:
    section = dump.split(f"-> Unit {unit}:", 1)[1]
    block = section.split("\t\t-> ExecStart:\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if not line.startswith("\t\t\tCommand Line: "):
            break
        lines.append(line.removeprefix("\t\t\tCommand Line: "))
    return lines


def test_exec_start_argv_matches_systemd_test_dump(unit_dir: Path) -> None:
    text = UNIT_HEAD + "".join(f"ExecStart={value}\n" for value in GOOD)
    path = unit_dir / "good@.service"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    dump = run_test_mode(unit_dir, INSTANCE)

    ours, our_diags, fatal = parse_ours(path, INSTANCE)
    assert not fatal
    assert [quote_command_line(c.argv) for c in ours] == command_lines(dump, INSTANCE)

    theirs = [line for line in dump.splitlines() if line.startswith(f"{path}:")]
    assert our_diags == theirs


def test_prefix_flags_and_paths(unit_dir: Path) -> None:
    del unit_dir
    result = parse_exec("+-@:/bin//sh sh -c x ; !!/bin/true", "f", 3)
    first, second = result.commands or ()
    assert first.path == "/bin/sh"
    assert first.argv == ("sh", "-c", "x")
    assert (first.ignore_failure, first.separate_argv0, first.no_env_expand) == (True, True, True)
    assert first.fully_privileged
    assert not first.no_setuid
    assert first.prefix == "-@:+"
    assert second.ambient_magic
    assert not second.no_setuid
    assert parse_exec("", "f", 1).commands is None


def verify_messages(directory: Path, units: list[str]) -> str:
    tool = support.require_tool("systemd-analyze", package="systemd")
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(directory), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(
        [tool, "verify", "--man=no", *[str(directory / u) for u in units]],
        capture_output=True,
        env=env,
        check=False,
    )
    return (proc.stdout + proc.stderr).decode("utf-8", "surrogateescape")


def test_fatal_exec_values_match_systemd_analyze_verify(unit_dir: Path) -> None:
    units = []
    for index, value in enumerate(BAD):
        name = f"bad{index}.service"
        (unit_dir / name).write_text(
            UNIT_HEAD + "ExecStart=/bin/true\n" + f"ExecStart={value}\n", encoding="utf-8"
        )
        units.append(name)
    output = verify_messages(unit_dir, units)
    for name, value in zip(units, BAD, strict=True):
        path = unit_dir / name
        _, our_diags, fatal = parse_ours(path, name)
        theirs = [line for line in output.splitlines() if line.startswith(f"{path}:")]
        assert our_diags == theirs, value
        refused = f"{name}: Unit configuration has fatal error" in output
        assert fatal == refused, value


def test_messages_name_the_problem() -> None:
    result = parse_exec("/bin/echo/", "/u/a.service", 7)
    (diag,) = result.diagnostics
    assert str(diag) == "/u/a.service:7: Executable path specifies a directory: /bin/echo/"
    assert diag.fatal
    assert diag.errno_text == "Exec format error"
    assert re.search("Unbalanced quoting", str(parse_exec('/x "y', "f", 1).diagnostics[0]))


_FIRST = ["/bin/echo", "@/bin/sh", ":/bin/echo", "+/bin/true", "echo", "/bin/x/", "/bin//e", "%p"]
_WORDS = [
    "plain",
    '"a b"',
    "'c d'",
    'x"y z"w',
    "\\x41",
    "\\q",
    "\\ ",
    "; -/bin/echo",
    "; -",
    "\\;",
    "a;b",
    "%n",
    "%i",
    "%%",
    "%Z",
    "$X",
    "${Y}",
    '"open',
    "\\t",
    "é",
    '""',
    "\\\\",
    "-",
]


@pytest.mark.parametrize("seed", [252, 1, 2, 3])
def test_random_exec_lines_match_systemd_test_dump(unit_dir: Path, seed: int) -> None:
    """Seeded random ExecStart= values (all with "-", so none refuses the unit)."""
    import random

    rng = random.Random(seed)
    values = []
    for _ in range(80):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(0, 5))]
        values.append("-" + " ".join([rng.choice(_FIRST), *words]))
    path = unit_dir / "rnd@.service"
    path.write_text(UNIT_HEAD + "".join(f"ExecStart={v}\n" for v in values), encoding="utf-8")
    path.chmod(0o644)
    name = "rnd@i.service"
    dump = run_test_mode(unit_dir, name)
    ours, our_diags, fatal = parse_ours(path, name)
    assert not fatal
    assert [quote_command_line(c.argv) for c in ours] == command_lines(dump, name)
    theirs = [line for line in dump.splitlines() if line.startswith(f"{path}:")]
    assert our_diags == theirs
    assert len(ours) > 20
