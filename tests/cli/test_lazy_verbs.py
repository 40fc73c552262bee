"""The lazy verb table: bootup.cli.main registers only the verb's module, with no visible change.

The tables must equal what the real registration produces; every verb's help and usage
errors must be the same through the lazy parser as through the full one; a plain ``VERB
WORD...`` line must get exactly the namespace argparse gives; and ``bootup is-active x``
must not import the rest of bootup nor build a parser (that is the point of the tables).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootup import cli
from bootup.cli import _verbs
from control.manager_proc import spawn, write_project

ROOT = Path(__file__).resolve().parents[2]


def _verb_choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the parser has no verbs")


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, str, object]:
    """Parse ``argv``: (stdout, stderr, the namespace or the SystemExit code)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return out.getvalue(), err.getvalue(), result


def test_tables_equal_the_registration() -> None:
    verbs, simple = _verbs.registration()
    assert verbs == _verbs.VERBS
    assert list(verbs) == list(_verbs.VERBS)  # registration order too
    assert set(_verbs.VERBS) == set(_verb_choices(cli.build_parser()))
    assert simple == _verbs.SIMPLE
    assert {"is-active", "is-failed", "status", "start", "show"} <= set(simple)
    assert _verbs.main(["--check"]) == 0


def test_check_reports_a_stale_table_and_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Path(_verbs.__file__).read_text(encoding="utf-8")
    current = _verbs._regenerated(source)
    stale = tmp_path / "_verbs.py"
    stale.write_text(current.replace('    "is-active": "ctl",\n', ""), encoding="utf-8")
    assert _verbs.main(["--check"], path=str(stale)) == 1
    out = capsys.readouterr().out
    assert '+    "is-active": "ctl",' in out
    assert "stale" in out
    assert _verbs.main(["--write"], path=str(stale)) == 0
    assert stale.read_text(encoding="utf-8") == current
    assert not [p for p in tmp_path.iterdir() if p.name != "_verbs.py"]  # no temporary left
    assert _verbs.main(["--check"], path=str(stale)) == 0


@pytest.mark.parametrize(
    ("argv", "verb"),
    [
        (["is-active", "x"], "is-active"),
        (["--root", "/r", "is-active", "x"], "is-active"),
        (["--root=/r", "show", "x"], "show"),
        (["--project", "p", "--root", "r", "status"], "status"),
        (["--project=p", "up"], "up"),
        (["boot", "--help"], "boot"),
        ([], None),
        (["-h", "status"], None),
        (["--help"], None),
        (["--version", "status"], None),
        (["--ro", "/r", "status"], None),  # argparse abbreviations: leave them to argparse
        (["--root"], None),
        (["--root", "-x", "status"], None),
        (["--", "status"], None),
        (["no-such-verb"], None),
        (["", "status"], None),
    ],
)
def test_find_verb(argv: list[str], verb: str | None) -> None:
    assert _verbs.find_verb(argv) == verb


@pytest.mark.parametrize("verb", list(_verbs.VERBS))
def test_each_verb_parses_the_same_through_the_lazy_path(
    verb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    lazy = cli._parser_for([verb])
    full = cli.build_parser()
    choices = _verb_choices(lazy)
    assert verb in choices
    assert len(choices) < len(_verbs.VERBS), "the lazy path registered every module"
    for argv in (
        [verb, "--help"],
        [verb, "--no-such-option"],
        ["--root", "/r", verb, "--no-such-option"],
        ["--project=/p", verb, "--help"],
    ):
        assert _run(lazy, argv) == _run(full, argv), argv


def test_parsed_arguments_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    for argv in (
        ["is-active", "web", "db.service"],
        ["--root", "/r", "show", "-p", "Id", "x.service"],
        ["--project=/p", "start", "--no-block", "x"],
        ["list-units", "--all", "-o", "json"],
    ):
        assert _verbs.find_verb(argv) is not None
        assert _run(cli._parser_for(argv), argv) == _run(cli.build_parser(), argv), argv


def test_top_level_help_and_unknown_verbs_still_list_every_verb() -> None:
    out, _err, result = _run(cli._parser_for(["--help"]), ["--help"])
    assert result == ("exit", 0)
    assert all(verb in out for verb in _verbs.VERBS)
    _out, err, result = _run(cli._parser_for(["no-such-verb"]), ["no-such-verb"])
    assert result == ("exit", 2)
    assert "invalid choice: 'no-such-verb'" in err
    assert all(f"'{verb}'" in err for verb in _verbs.VERBS)


def test_no_verb_prints_the_full_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert all(verb in err for verb in _verbs.VERBS)


#: Modules `bootup is-active x` may import from bootup (the rest is the manager's).
_ALLOWED_BOOTUP = {
    "bootup",
    "bootup.__main__",
    "bootup.errors",
    "bootup.cli",
    "bootup.cli._invoked",
    "bootup.cli._verbs",
    "bootup.cli.commands",
    "bootup.cli.commands.ctl",
    "bootup.control",
    "bootup.control.address",
    "bootup.control.client",
    "bootup.control.errors",
    "bootup.control.protocol",
    "bootup.control._wirejson",
}
#: Standard-library packages that would mean the wrong code path (the full parser, the
#: manager, an event loop) or a needless heavy import.
_FORBIDDEN_STDLIB = (
    "asyncio",
    "concurrent",
    "subprocess",
    "threading",
    "logging",
    "tempfile",
    "difflib",
    "pkgutil",
    "email",
    "http",
    "xml",
    "decimal",
    # The start-up budget (2x `python3 -c pass`) has no room for these: the client uses
    # the C modules behind json and socket, and builds no parser for a plain command.
    "argparse",
    "json",
    "re",
    "enum",
    "socket",
    "pathlib",
    "typing",
    "dataclasses",
)

_PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n"))
sys.argv = ["bootup", "is-active", "x"]
import runpy
runpy.run_module("bootup", run_name="__main__", alter_sys=True)
"""


def test_is_active_imports_only_the_client(tmp_path: Path) -> None:
    env = dict(os.environ, BOOTUP_CONTROL_SOCKET=str(tmp_path / "none.sock"))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # no manager: connection refused, exit 1
    assert "cannot connect to the bootup manager" in done.stderr
    modules = set(done.stderr.rsplit("MODULES ", 1)[1].split())
    assert {m for m in modules if m.split(".")[0] == "bootup"} <= _ALLOWED_BOOTUP
    assert "bootup.cli.commands.ctl" in modules
    assert not {m for m in modules if m.split(".")[0] in _FORBIDDEN_STDLIB}
    # A plain `is-active x` builds no parser at all: argparse's help formatter (shutil) and
    # its message catalogue lookup (locale) are never reached.
    assert not {"shutil", "locale"} & modules


def test_console_script_with_a_top_level_option_before_the_verb(tmp_path: Path) -> None:
    script = shutil.which("bootup", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the bootup console script is not installed next to this interpreter")
    env = dict(os.environ, BOOTUP_CONTROL_SOCKET=str(tmp_path / "none.sock"))
    done = subprocess.run(
        [script, "--root", str(tmp_path), "is-active", "x"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("bootup: cannot connect to the bootup manager at ")


@pytest.mark.parametrize("module", ["unitfiles", "no_such_module"])
def test_a_stale_table_falls_back_to_the_full_parser(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_verbs.VERBS, "is-active", module)
    parser = cli._parser_for(["is-active", "x"])
    assert set(_verb_choices(parser)) == set(_verb_choices(cli.build_parser()))
    assert parser.parse_args(["is-active", "x"]).units == ["x"]


_WORDS = st.lists(
    st.text(min_size=0, max_size=8).filter(lambda w: not w.startswith("-")), min_size=1, max_size=4
)
_TOP = st.lists(
    st.sampled_from(["--root", "--project"]).flatmap(
        lambda option: st.sampled_from([[option, "/some/dir"], [f"{option}=/d"], [f"{option}="]])
    ),
    max_size=3,
).map(lambda pairs: [word for pair in pairs for word in pair])


@functools.cache
def _full() -> argparse.ArgumentParser:
    return cli.build_parser()


@given(verb=st.sampled_from(sorted(_verbs.SIMPLE)), top=_TOP, words=_WORDS)
def test_a_simple_line_gets_the_namespace_argparse_gives(
    verb: str, top: list[str], words: list[str]
) -> None:
    argv = [*top, verb, *words]
    found = _verbs.simple_command(argv)
    assert found is not None, argv
    module, name, attributes = found
    expected = vars(_full().parse_args(argv))
    handler = expected.pop("handler")
    assert module == _verbs.VERBS[verb]
    assert handler.__name__ == name
    assert handler.__module__ == f"bootup.cli.commands.{module}"
    assert attributes == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["is-active"],  # no word: argparse's usage error, from the parser
        ["is-active", "x", "-q"],
        ["is-active", "--", "x"],
        ["is-active", "-"],
        ["-h", "is-active", "x"],
        ["escape", "x"],  # not a simple verb (its words may start with -)
        ["--ro", "/r", "is-active", "x"],
    ],
)
def test_other_lines_are_not_simple(argv: list[str]) -> None:
    assert _verbs.simple_command(argv) is None


def test_simple_lists_are_fresh_for_every_call() -> None:
    first = _verbs.simple_command(["list-units", "a"])
    second = _verbs.simple_command(["list-units", "b"])
    assert first is not None
    assert second is not None
    assert first[2]["state"] == []
    assert first[2]["state"] is not second[2]["state"]


def test_the_table_tool_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "bootup.cli._verbs", "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_simple_lines_against_a_running_manager(tmp_path: Path) -> None:
    directory = write_project(tmp_path / "project")
    manager = spawn(directory)
    try:
        env = {k: v for k, v in os.environ.items() if k != "BOOTUP_CONTROL_SOCKET"}
        probe = _PROBE.replace('"is-active", "x"', '"is-active", "web", "nosuch"')
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env=env,
            cwd=directory,  # the socket is found by walking up from here
            check=False,
            timeout=120,
        )
        assert done.stdout.splitlines() == ["active", "inactive"], done.stderr
        assert done.returncode == 0  # systemctl: 0 when any of the units is active
        modules = set(done.stderr.rsplit("MODULES ", 1)[1].split())
        assert not {"shutil", "locale"} & modules  # the simple path: no parser built
    finally:
        manager.stop()


def test_version_is_what_the_full_parser_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """``bootup --version`` answers without building every verb, with argparse's text."""
    from bootup.cli import build_parser, main

    assert main(["--version"]) == 0
    fast = capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == fast
