"""Tests of the unit file syntax parser against systemd 252's observed behaviour."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bootup.units.diagnostics import Diagnostic, Severity
from bootup.units.syntax import (
    LONG_LINE_MAX,
    Assignment,
    ParsedFile,
    escape_invalid_utf8,
    is_valid_utf8,
    parse_unit_text,
    read_unit_file,
)


def triples(parsed: ParsedFile) -> list[tuple[int, str, str, str]]:
    return [(a.line, a.section, a.key, a.value) for a in parsed.assignments]


def messages(parsed: ParsedFile) -> list[str]:
    return [str(d) for d in parsed.diagnostics]


def test_sections_keys_values_and_line_numbers() -> None:
    parsed = parse_unit_text(
        b"[Unit]\nDescription = A  thing \n\n# comment\n; comment\n"
        b"[Service]\nExecStart=/bin/true\n",
        "a.service",
    )
    assert parsed.sections == ("Unit", "Service")
    assert triples(parsed) == [
        (2, "Unit", "Description", "A  thing"),
        (7, "Service", "ExecStart", "/bin/true"),
    ]
    assert parsed.diagnostics == ()
    assert parsed.fatal is None


def test_repeated_keys_and_sections_are_kept_in_order() -> None:
    parsed = parse_unit_text("[Service]\nA=1\nA=\n[Unit]\nB=2\n[Service]\nA=3\n", "x")
    assert parsed.sections == ("Service", "Unit", "Service")
    assert [(a.section, a.key, a.value) for a in parsed.assignments] == [
        ("Service", "A", "1"),
        ("Service", "A", ""),
        ("Unit", "B", "2"),
        ("Service", "A", "3"),
    ]


def test_value_is_not_unquoted_and_hash_is_not_a_comment_inside_a_line() -> None:
    parsed = parse_unit_text('[Service]\nExecStart=/bin/echo "a b" # not a comment\n', "x")
    assert parsed.assignments[0].value == '/bin/echo "a b" # not a comment'


def test_continuation_skips_comment_lines_and_takes_last_line_number() -> None:
    # Lines 3..7 form one logical line; systemd reports it at line 7.
    data = b"[Service]\nX=0\nA=one\\\n#comment\n  ; other\\\ntwo \\\n  three\nB=4\n"
    parsed = parse_unit_text(data, "x")
    assert triples(parsed) == [
        (2, "Service", "X", "0"),
        (7, "Service", "A", "one two    three"),
        (8, "Service", "B", "4"),
    ]


def test_even_backslashes_do_not_continue() -> None:
    parsed = parse_unit_text(b"[S]\nC=1\\\\\nD=2\n", "x")
    assert triples(parsed) == [(2, "S", "C", "1\\\\"), (3, "S", "D", "2")]


def test_continuation_at_end_of_file_is_parsed_with_the_next_line_number() -> None:
    parsed = parse_unit_text(b"[S]\nI=7\\", "x")
    assert triples(parsed) == [(3, "S", "I", "7")]


def test_line_endings_cr_crlf_lfcr_and_nul() -> None:
    data = b"[U]\r\nF=4\rG=5\n\rH=6\r\n\rI=7\x00J=8\n\x00K=9"
    parsed = parse_unit_text(data, "x")
    # \r\n, \r, \n\r, \r\n are one line end each; the lone \r is an empty line 5;
    # the NUL ends line 6; "\n\0" is one line end.
    assert triples(parsed) == [
        (2, "U", "F", "4"),
        (3, "U", "G", "5"),
        (4, "U", "H", "6"),
        (6, "U", "I", "7"),
        (7, "U", "J", "8"),
        (8, "U", "K", "9"),
    ]


def test_byte_order_mark_is_dropped() -> None:
    parsed = parse_unit_text(b"\xef\xbb\xbf[Unit]\nA=1\n", "x")
    assert parsed.sections == ("Unit",)
    assert parsed.diagnostics == ()


def test_diagnostics_use_systemd_wording() -> None:
    data = b"Foo=bar\n[Service]\nNoEquals\n=nokey\n.include /x\n[X-Mine]\njunk\n"
    parsed = parse_unit_text(data, "/u/a.service")
    assert messages(parsed) == ["/u/a.service:1: Assignment outside of section. Ignoring."]
    # Malformed lines only count in sections the unit type has (checked in directives).
    assert [(p.section, str(p.diagnostic)) for p in parsed.section_diagnostics] == [
        ("Service", "/u/a.service:3: Missing '=', ignoring line."),
        ("Service", "/u/a.service:4: Missing key name before '=', ignoring line."),
        ("Service", "/u/a.service:5: Missing '=', ignoring line."),
        ("X-Mine", "/u/a.service:7: Missing '=', ignoring line."),
    ]
    assert all(d.severity is Severity.WARNING and not d.fatal for d in parsed.diagnostics)


def test_invalid_section_header_is_fatal_and_not_filed_under_previous_section() -> None:
    parsed = parse_unit_text(b"[Unit]\nA=1\n[Bad\nB=2\n[Service]\nC=3\n", "f")
    assert messages(parsed) == ["f:3: Invalid section header '[Bad'"]
    fatal = parsed.fatal
    assert fatal is not None
    assert fatal.severity is Severity.ERROR
    assert fatal.errno_text == "Bad message"
    assert triples(parsed) == [(2, "Unit", "A", "1"), (6, "Service", "C", "3")]


def test_bad_characters_in_section_header() -> None:
    parsed = parse_unit_text(b'[Se"rv]\nA=1\n', "f")
    assert messages(parsed) == ["f:1: Bad characters in section header '[Se\"rv]'"]
    assert parsed.assignments == ()


def test_empty_section_name_is_a_section() -> None:
    parsed = parse_unit_text(b"[]\nA=1\n", "f")
    assert parsed.sections == ("",)
    assert triples(parsed) == [(2, "", "A", "1")]


def test_invalid_utf8_is_fatal_and_the_rest_loads() -> None:
    parsed = parse_unit_text(b"[Service]\nEnvironment=A=\xff\xfe\nUser=root\n", "f")
    assert messages(parsed) == [
        "f:2: String is not UTF-8 clean, ignoring assignment: Environment=A=\ufffd\ufffd"
    ]
    assert parsed.diagnostics[0].fatal
    assert parsed.diagnostics[0].errno_text == "Invalid argument"
    assert triples(parsed) == [(3, "Service", "User", "root")]


def test_invalid_utf8_in_a_comment_is_harmless() -> None:
    parsed = parse_unit_text(b"[Service]\n# \xff\xfe\nUser=root\n", "f")
    assert parsed.diagnostics == ()


def test_noncharacters_are_invalid_as_in_systemd() -> None:
    assert not is_valid_utf8("\ufffe".encode())
    assert not is_valid_utf8("\ufdd0".encode())
    assert not is_valid_utf8(b"\xed\xa0\x80")  # a surrogate
    assert not is_valid_utf8(b"\xc0\xaf")  # overlong
    assert is_valid_utf8("grüße ✓ \U0001f600".encode())
    assert escape_invalid_utf8(b"X=\xef\xbf\xbe") == "X=\ufffd\ufffd\ufffd"
    assert escape_invalid_utf8("ü".encode() + b"\xc3") == "ü\ufffd"


def test_long_line_is_fatal_and_the_limit_is_exact() -> None:
    ok = b"[S]\nX=" + b"a" * (LONG_LINE_MAX - 3) + b"\nB=1\n"
    parsed = parse_unit_text(ok, "f")
    assert parsed.fatal is None
    assert [a.key for a in parsed.assignments] == ["X", "B"]

    too_long = b"[S]\nX=" + b"a" * (LONG_LINE_MAX - 2) + b"\nB=1\n"
    parsed = parse_unit_text(too_long, "f")
    assert messages(parsed) == ["f:2: Line too long"]
    fatal = parsed.fatal
    assert fatal is not None
    assert fatal.errno_text == "No buffer space available"
    assert triples(parsed) == [(3, "S", "B", "1")]


def test_ten_megabyte_line() -> None:
    parsed = parse_unit_text(b"[S]\nA=1\nX=" + b"a" * (10 * 1024 * 1024) + b"\nB=2\n", "f")
    assert messages(parsed) == ["f:3: Line too long"]
    assert [a.key for a in parsed.assignments] == ["A", "B"]


def test_continuation_too_long() -> None:
    data = b"[S]\nX=" + b"a" * (LONG_LINE_MAX - 10) + b"\\\n" + b"b" * 20 + b"\nB=1\n"
    parsed = parse_unit_text(data, "f")
    assert messages(parsed) == ["f:3: Continuation line too long"]
    assert triples(parsed) == [(4, "S", "B", "1")]


def test_str_input_round_trips_surrogateescape() -> None:
    text = b"[S]\nA=\xff\n".decode("utf-8", "surrogateescape")
    parsed = parse_unit_text(text, "f")
    assert parsed.diagnostics[0].fatal


def test_read_unit_file(tmp_path: Path) -> None:
    unit = tmp_path / "a.service"
    unit.write_bytes(b"[Unit]\nDescription=x\n")
    parsed = read_unit_file(unit)
    assert parsed.path == str(unit)
    assert parsed.assignments == (Assignment(str(unit), 2, "Unit", "Description", "x"),)


def test_read_unit_file_io_errors_become_diagnostics(tmp_path: Path) -> None:
    missing = read_unit_file(tmp_path / "nope.service")
    assert missing.assignments == ()
    (diag,) = missing.diagnostics
    assert diag.fatal
    assert diag.line is None
    assert "No such file or directory" in diag.message
    assert str(tmp_path / "nope.service") in str(diag)

    directory = read_unit_file(tmp_path)
    assert directory.diagnostics[0].errno_text == "Is a directory"


def test_diagnostic_str_without_line() -> None:
    assert str(Diagnostic("a.service", None, Severity.ERROR, "boom")) == "a.service: boom"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    parsed = parse_unit_text(data, "fuzz")
    for assignment in parsed.assignments:
        assert assignment.line >= 1
        assert assignment.key == assignment.key.strip(" \t\n\r")
        assert assignment.key
    for diagnostic in parsed.diagnostics:
        assert diagnostic.line is not None
        assert diagnostic.line >= 1


_junk_line = st.lists(
    st.sampled_from(
        [b"[", b"]", b"=", b"\\", b"\n", b"\r", b"\x00", b"#", b";", b" ", b"A", b"\xff", b'"']
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(_junk_line)
def test_fuzz_structured_junk_never_raises(data: bytes) -> None:
    parse_unit_text(data, "fuzz")


_name = st.builds(
    str.__add__,
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", max_size=15
    ),
)


def _plain_value(raw: str) -> str:
    """Drop what a value cannot end in (blanks, a continuation backslash) or hold."""
    value = "".join(ch for ch in raw if is_valid_utf8(ch.encode("utf-8", "surrogatepass")))
    while value != (value := value.strip(" \t").rstrip("\\")):
        pass
    return value


# Values without leading/trailing blanks, line ends or a trailing backslash.
_value = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff\x85\u2028\u2029"
    ),
    max_size=30,
).map(_plain_value)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_name, st.lists(st.tuples(_name, _value), max_size=5)), max_size=5))
def test_round_trip_render_then_parse(doc: list[tuple[str, list[tuple[str, str]]]]) -> None:
    lines: list[str] = []
    expected: list[tuple[str, str, str]] = []
    for section, items in doc:
        lines.append(f"[{section}]")
        for key, value in items:
            lines.append(f"{key}={value}")
            expected.append((section, key, value))
    parsed = parse_unit_text("\n".join(lines) + "\n", "rt")
    assert parsed.diagnostics == ()
    assert parsed.sections == tuple(section for section, _ in doc)
    assert [(a.section, a.key, a.value) for a in parsed.assignments] == expected


def test_lone_surrogates_in_text_input_do_not_raise() -> None:
    parsed = parse_unit_text("[S]\nA=\ud800\nB=1\n", "f")
    assert parsed.diagnostics[0].fatal
    assert [a.key for a in parsed.assignments] == ["B"]


_FRAGMENTS = [
    b"[Unit]",
    b"[Service]",
    b"[Install]",
    b"[X-Vendor]",
    b"[Bogus]",
    b"[]",
    b"[Bad",
    b'[Se"rv]',
    b"  [Unit]  ",
    b"Description=plain",
    b"Description = spaced  ",
    b"Description=cont \\",
    b"  more\\\\",
    b"X-Key=1",
    b"Bogus=1",
    b"NoEquals",
    b"=novalue",
    b"# comment \\",
    b"; comment",
    b"   # indented comment",
    b"",
    b"   ",
    b"WantedBy=multi-user.target",
    b"Type=oneshot",
    b"ExecStart=/bin/true",
    b"SysVStartPriority=1",
    b"Desc\xffription=x",
    b"Description=\xc3\xa9t\xc3\xa9",
    b"\xef\xbb\xbfDescription=bom",
    b"X=\xf0\x9f\x98",
    b"X=\xc3(",
    b"X=\xed\xa0\x80",
    b"X=\xef\xb7\x90",
    b"X=\xf4\x90\x80\x80",
    b"X=\xc0\xaf",
    b"X=\xf0\x9f\x98\x80ok",
]
_ENDINGS = [b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\x00", b"\n\r"]


def test_random_files_match_systemd_analyze_verify(tmp_path: Path) -> None:
    """Differential test: seeded random unit files, our diagnostics vs systemd's.

    systemd stops at the first fatal problem, so the comparison runs up to it.
    """
    import os
    import random
    import subprocess

    import support
    from bootup.units.directives import check_file

    tool = support.require_tool("systemd-analyze", package="systemd")
    rng = random.Random(252)
    paths = []
    for index in range(60):
        lines = [rng.choice(_FRAGMENTS) + rng.choice(_ENDINGS) for _ in range(rng.randint(1, 14))]
        path = tmp_path / f"r{index}.service"
        path.write_bytes(b"".join(lines))
        paths.append(path)
    env = {**os.environ, "SYSTEMD_UNIT_PATH": str(tmp_path), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(
        [tool, "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        env=env,
        check=False,
    )
    output = proc.stderr.decode("utf-8", "replace").splitlines()
    compared = 0
    for path in paths:
        parsed = read_unit_file(path)
        ours = sorted(
            [*parsed.diagnostics, *check_file(parsed, "service").diagnostics],
            key=lambda d: d.line or 0,
        )
        fatal = next((d for d in ours if d.fatal), None)
        if fatal is not None:
            ours = [d for d in ours if (d.line or 0) <= (fatal.line or 0)]
        theirs = [line for line in output if line.startswith(f"{path}:")]
        assert [str(d) for d in ours] == theirs, path.read_bytes()
        compared += len(theirs)
    assert compared > 40
