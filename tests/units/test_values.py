"""Value grammars: words, booleans, signals, exit statuses, Environment=, EnvironmentFile=."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import support
from bootup.units.values import (
    EnvironmentFileSpec,
    ExitStatusSet,
    ExtractFlags,
    UnitValueError,
    WordError,
    apply_list_assignment,
    env_assignment_is_valid,
    env_name_is_valid,
    exit_status_from_string,
    extract_first_word,
    extract_words,
    parse_boolean,
    parse_environment,
    parse_environment_file,
    parse_environment_file_spec,
    parse_exit_status_set,
    signal_from_string,
    signal_to_string,
)

UQ = ExtractFlags.UNQUOTE | ExtractFlags.CUNESCAPE


def as_nobody(command: list[str]) -> list[str]:
    """``systemd --test`` refuses to run as root: drop to nobody when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = support.require_tool("runuser", package="util-linux")
    return [runuser, "-u", "nobody", "--", *command]


@pytest.mark.parametrize("text", ["1", "yes", "YES", "y", "true", "True", "t", "on", "ON"])
def test_true(text: str) -> None:
    assert parse_boolean(text) is True


@pytest.mark.parametrize("text", ["0", "no", "n", "false", "FALSE", "f", "off"])
def test_false(text: str) -> None:
    assert parse_boolean(text) is False


@pytest.mark.parametrize("text", ["", "maybe", " yes", "2", "enable"])
def test_not_boolean(text: str) -> None:
    with pytest.raises(UnitValueError) as info:
        parse_boolean(text)
    assert info.value.value == text
    assert "boolean" in info.value.expected


def test_extract_words_quotes_and_escapes() -> None:
    assert extract_words("a \"b c\" d'e f'g", UQ) == ["a", "b c", "de fg"]
    assert extract_words("\\x41\\101\\u00e9 \\s", UQ) == ["AAé", " "]
    assert extract_words("  lead   trail  ", UQ) == ["lead", "trail"]
    assert extract_words("", UQ) == []
    assert extract_words('"" x', UQ) == ["", "x"]
    with pytest.raises(WordError):
        extract_words('"open', UQ)
    with pytest.raises(WordError):
        extract_words("bad\\q", UQ)
    assert extract_words("bad\\q", UQ | ExtractFlags.UNESCAPE_RELAX) == ["bad\\q"]
    assert extract_words('"open', UQ | ExtractFlags.RELAX) == ["open"]
    # Without UNQUOTE quotes are ordinary characters.
    assert extract_words('"a b"') == ['"a', 'b"']


def test_extract_first_word_rest() -> None:
    assert extract_first_word("one  two three", UQ) == ("one", "two three")
    assert extract_first_word("last ", UQ) == ("last", None)
    assert extract_first_word("   ", UQ) == (None, None)
    assert extract_first_word("a,b,,c", separators=",") == ("a", "b,,c")
    assert extract_words("a,,b", ExtractFlags.DONT_COALESCE_SEPARATORS, ",") == ["a", "", "b"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_extract_words_never_crashes(text: str) -> None:
    for flags in (ExtractFlags.NONE, UQ, UQ | ExtractFlags.RELAX | ExtractFlags.UNESCAPE_RELAX):
        try:
            words = extract_words(text, flags)
        except WordError:
            continue
        assert all(isinstance(w, str) for w in words)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=12), max_size=6))
def test_quoting_round_trip(words: list[str]) -> None:
    def quote(word: str) -> str:
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = " ".join(quote(w) for w in words)
    assert extract_words(text, UQ) == words


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("9", 9),
        ("KILL", 9),
        ("SIGKILL", 9),
        ("SIGTERM", 15),
        ("HUP", 1),
        ("RTMIN", 34),
        ("SIGRTMIN+2", 36),
        ("RTMAX", 64),
        ("SIGRTMAX-1", 63),
        ("SIGSYS", 31),
    ],
)
def test_signals(text: str, number: int) -> None:
    assert signal_from_string(text) == number


@pytest.mark.parametrize("text", ["", "0", "65", "SIGBOGUS", "RTMIN+31", "RTMIN-1", "sigterm"])
def test_bad_signals(text: str) -> None:
    with pytest.raises(UnitValueError):
        signal_from_string(text)


def test_signal_names() -> None:
    assert signal_to_string(15) == "SIGTERM"
    assert signal_to_string(34) == "SIGRTMIN"
    assert signal_to_string(36) == "SIGRTMIN+2"


def test_exit_statuses() -> None:
    assert exit_status_from_string("0") == 0
    assert exit_status_from_string("255") == 255
    assert exit_status_from_string("TEMPFAIL") == 75
    assert exit_status_from_string("EXEC") == 203
    for bad in ["256", "-1", "tempfail", "", "1-5"]:
        with pytest.raises(UnitValueError):
            exit_status_from_string(bad)


def test_exit_status_names_match_systemd_analyze() -> None:
    from bootup.units.values import EXIT_STATUS_NAMES

    tool = support.require_tool("systemd-analyze", package="systemd")
    out = subprocess.run(
        [tool, "exit-status", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    real = {int(f[1]): f[0] for f in rows if len(f) >= 2}
    assert real == EXIT_STATUS_NAMES


def test_exit_status_set_like_systemd() -> None:
    value = '1 SIGKILL KILL 1-5 TEMPFAIL 256 RTMIN+1 bogus 9 "SIGTERM'
    result, diags = parse_exit_status_set(value, ExitStatusSet(), "f", 5)
    assert result.statuses == {1, 75, 9}
    assert result.signals == {9, 35}
    assert [str(d) for d in diags] == [
        "f:5: Failed to parse value, ignoring: 1-5",
        "f:5: Failed to parse value, ignoring: 256",
        "f:5: Failed to parse value, ignoring: bogus",
        'f:5: Failed to parse value, ignoring: "SIGTERM',
    ]
    more, _ = parse_exit_status_set("SIGHUP", result, "f", 6)
    assert more.signals == {1, 9, 35}
    reset, _ = parse_exit_status_set("", more, "f", 7)
    assert not reset


def test_environment_assignments_like_systemd() -> None:
    value = "A=1 \"B=2 3\" C D= 1X=2 E=a\\nb F=\\x41 'G=$x'"
    pairs, diags = parse_environment(value, "f", 7)
    assert pairs == [("A", "1"), ("B", "2 3"), ("D", ""), ("E", "a\nb"), ("F", "A"), ("G", "$x")]
    assert [str(d) for d in diags] == [
        "f:7: Invalid environment assignment, ignoring: C",
        "f:7: Invalid environment assignment, ignoring: 1X=2",
    ]
    assert parse_environment("", "f", 1) == (None, [])
    pairs, diags = parse_environment('"H=unterminated', "f", 8)
    assert pairs == []
    assert [str(d) for d in diags] == ['f:8: Invalid syntax, ignoring: "H=unterminated']


def test_environment_with_specifier_expansion() -> None:
    from bootup.units.specifiers import HostContext, UnitContext, expand

    ctx = UnitContext("a@b.service")
    pairs, diags = parse_environment(
        '"A=%i %Z" B=%n', "f", 9, expand=lambda w: expand(w, ctx, HostContext())
    )
    assert pairs == [("B", "a@b.service")]
    assert [str(d) for d in diags] == [
        "f:9: Failed to resolve specifiers in A=%i %Z, ignoring: Invalid slot"
    ]


def test_env_names() -> None:
    assert env_name_is_valid("PATH")
    assert env_name_is_valid("_x1")
    assert not env_name_is_valid("1x")
    assert not env_name_is_valid("a-b")
    assert not env_name_is_valid("")
    assert env_assignment_is_valid("A=multi\nline\ttab")
    assert not env_assignment_is_valid("A=bell\a")
    assert not env_assignment_is_valid("A")


def test_environment_file_spec() -> None:
    assert parse_environment_file_spec("-/etc/default/ssh") == EnvironmentFileSpec(
        "/etc/default/ssh", True
    )
    assert parse_environment_file_spec("/etc/x") == EnvironmentFileSpec("/etc/x", False)
    assert parse_environment_file_spec("") is None
    with pytest.raises(UnitValueError):
        parse_environment_file_spec("relative/path")


ENV_FILE = (
    "# comment\n"
    "; also comment\n"
    "PLAIN=value\n"
    "  SPACED = padded value   \n"
    "SINGLE='it''s $HOME \\n'\n"
    'DOUBLE="a \\"q\\" \\$x \\n \\\\ end"\n'
    "CONT=one\\\ntwo\n"
    "EMPTY=\n"
    "export EXPORTED=1\n"
    "1BAD=x\n"
    "NOEQUALS\n"
    "MIXED=a'b c'd\"e f\"\n"
    "LAST=no newline"
)


def test_environment_file_format() -> None:
    pairs, diags = parse_environment_file(ENV_FILE, "/etc/x.env")
    assert pairs == [
        ("PLAIN", "value"),
        ("SPACED", "padded value"),
        ("SINGLE", "its $HOME \\n"),
        ("DOUBLE", 'a "q" $x \\n \\ end'),
        ("CONT", "onetwo"),
        ("EMPTY", ""),
        ("MIXED", "a'b c'd\"e f\""),
        ("LAST", "no newline"),
    ]
    assert [d.message for d in diags] == [
        "Ignoring invalid environment assignment 'export EXPORTED=1': /etc/x.env",
        "Ignoring invalid environment assignment '1BAD=x': /etc/x.env",
    ]


def test_environment_file_invalid_utf8() -> None:
    pairs, diags = parse_environment_file(b"A=\xff\nB=2\n", "/e")
    assert pairs == [("B", "2")]
    assert "invalid UTF-8 value for key A" in diags[0].message


GENERATOR = "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator"
ENV_D_CORPUS = (
    "PLAIN=value\n"
    "  SPACED = padded value   \n"
    "SINGLE='a b'\n"
    'DOUBLE="x \\"y\\" z \\\\ \\q"\n'
    "CONT=one\\\ntwo\n"
    "MIXED=a'b c'd\n"
    "TABS=\tx y\t\n"
    "# comment\n"
    'QUOTED_TAIL="a"b\n'
    "ESCAPED=a\\ b\\\\c\n"
    "LAST=x"
)


def test_environment_file_matches_systemd_parser() -> None:
    """systemd's environment.d generator runs the same parser (parse_env_file_internal).

    It also expands ``$VAR`` and refuses empty values, so the corpus has neither; its
    output is ``KEY=value`` lines with double quotes where needed, which the same
    grammar reads back.
    """
    generator = support.require_tool(GENERATOR, package="systemd")
    config = Path(tempfile.mkdtemp(prefix="bootup-envd-"))
    try:
        (config / "environment.d").mkdir()
        (config / "environment.d" / "50-test.conf").write_text(ENV_D_CORPUS, encoding="utf-8")
        proc = subprocess.run(
            [generator],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "XDG_CONFIG_HOME": str(config)},
            check=True,
        )
    finally:
        (config / "environment.d" / "50-test.conf").unlink()
        (config / "environment.d").rmdir()
        config.rmdir()
    real, _ = parse_environment_file(proc.stdout, "generator output")
    ours, diags = parse_environment_file(ENV_D_CORPUS, "corpus")
    assert diags == []
    assert [pair for pair in real if pair[0] in dict(ours)] == ours


def test_apply_list_assignment() -> None:
    assert apply_list_assignment((1, 2), [3]) == (1, 2, 3)
    assert apply_list_assignment((1, 2), None) == ()
    assert apply_list_assignment((1, 2), None, resettable=False) == (1, 2)


def test_environment_matches_systemd_test_dump() -> None:
    """Environment= lines, with resets and overrides, against the ``systemd --test`` dump."""
    import shutil

    from bootup.units.specifiers import HostContext, UnitContext, expand
    from bootup.units.syntax import read_unit_file

    systemd = support.require_tool("/lib/systemd/systemd", package="systemd")
    directory = Path(tempfile.mkdtemp(prefix="bootup-env-"))
    try:
        directory.chmod(0o755)
        unit = directory / "env@.service"
        unit.write_text(
            "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
            "Environment=DROPPED=1\n"
            "Environment=\n"
            "Environment=A=1 \"B=2 3\" C D= 1X=2 E=tab\\there F=\\x41 'G=$x' H=%i\n"
            'Environment="I=%Z" J=%p\n'
            "Environment=A=override K=\\u00e9\n"
            'Environment="L=unterminated\n',
            encoding="utf-8",
        )
        unit.chmod(0o644)
        name = "env@inst.service"
        proc = subprocess.run(
            as_nobody(
                [
                    "env",
                    f"SYSTEMD_UNIT_PATH={directory}",
                    "SYSTEMD_LOG_TARGET=console",
                    "SYSTEMD_LOG_COLOR=0",
                    systemd,
                    "--test",
                    "--system",
                    f"--unit={name}",
                    "--no-pager",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        theirs = [
            line.removeprefix("\t\tEnvironment: ")
            for line in proc.stdout.splitlines()
            if line.startswith("\t\tEnvironment: ")
        ]
        their_diags = [
            line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith(str(unit))
        ]
        env: dict[str, str] = {}
        our_diags: list[str] = []
        ctx = UnitContext(name, str(unit))
        for assignment in read_unit_file(unit).assignments:
            if assignment.key != "Environment":
                continue
            pairs, diags = parse_environment(
                assignment.value,
                assignment.path,
                assignment.line,
                expand=lambda word: expand(word, ctx, HostContext()),
            )
            our_diags.extend(str(d) for d in diags)
            if pairs is None:
                env.clear()
                continue
            env.update(pairs)
        assert [f"{k}={v}" for k, v in env.items()] == theirs
        assert len(theirs) == 9  # A B D E F G H J K; C, 1X, I and L are refused
        assert our_diags == their_diags
    finally:
        shutil.rmtree(directory)


def test_booleans_match_systemd_analyze_verify(tmp_path: Path) -> None:
    import os

    tool = support.require_tool("systemd-analyze", package="systemd")
    words = ["1", "yes", "YES", "Yes", "y", "Y", "true", "TRUE", "t", "T", "on", "On", "0"]
    words += ["no", "N", "false", "F", "off", "OFF", "2", "maybe", "ye", "tru", "enable", "oui"]
    unit = tmp_path / "b.service"
    unit.write_text(
        "[Service]\nExecStart=/bin/true\n" + "".join(f"RemainAfterExit={w}\n" for w in words),
        encoding="utf-8",
    )
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(tmp_path), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(
        [tool, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    refused = {
        line.rsplit(": ", 1)[1]
        for line in proc.stderr.splitlines()
        if "Failed to parse boolean value" in line
    }
    for word in words:
        try:
            parse_boolean(word)
        except UnitValueError:
            assert word in refused
        else:
            assert word not in refused
    assert refused == {"2", "maybe", "ye", "tru", "enable", "oui"}


def test_signals_match_systemd_analyze_verify(tmp_path: Path) -> None:
    import os

    tool = support.require_tool("systemd-analyze", package="systemd")
    words = ["9", "KILL", "SIGKILL", "sigkill", "RTMIN", "SIGRTMIN+2", "RTMIN+30", "RTMIN+31"]
    words += ["RTMAX", "RTMAX-30", "RTMAX-31", "SIGRTMAX-1", "0", "64", "65", "SIGBOGUS", "+9"]
    words += ["RTMIN+ 1", "IOT", "POLL", "CLD", "SIGIO", "SIGPWR", "SIGSTKFLT", "-1", "1x"]
    unit = tmp_path / "s.service"
    unit.write_text(
        "[Service]\nExecStart=/bin/true\n" + "".join(f"KillSignal={w}\n" for w in words),
        encoding="utf-8",
    )
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(tmp_path), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(
        [tool, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    refused = {
        line.split("ignoring: ", 1)[1]
        for line in proc.stderr.splitlines()
        if "Failed to parse signal" in line
    }
    ours = set()
    for word in words:
        try:
            signal_from_string(word)
        except UnitValueError:
            ours.add(word)
    assert ours == refused
    assert "sigkill" in refused


def test_exit_status_sets_match_systemd_analyze_verify(tmp_path: Path) -> None:
    import os

    from bootup.units.syntax import read_unit_file

    tool = support.require_tool("systemd-analyze", package="systemd")
    values = [
        '1 SIGKILL KILL 1-5 TEMPFAIL 256 RTMIN+1 bogus 9 "SIGTERM',
        "0 +5 EXEC CONFIG SIGRTMAX-1 255 -1 sigterm",
        "",
        "\\x41 'A B'",
    ]
    unit = tmp_path / "x.service"
    unit.write_text(
        "[Service]\nExecStart=/bin/true\n" + "".join(f"SuccessExitStatus={v}\n" for v in values),
        encoding="utf-8",
    )
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(tmp_path), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(
        [tool, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    theirs = [line for line in proc.stderr.splitlines() if line.startswith(f"{unit}:")]
    ours: list[str] = []
    current = ExitStatusSet()
    for assignment in read_unit_file(unit).assignments[1:]:
        current, diags = parse_exit_status_set(
            assignment.value, current, assignment.path, assignment.line
        )
        ours.extend(str(d) for d in diags)
    assert ours == theirs
    assert len(theirs) >= 6
