"""ExecStart= command lines: prefixes, quoting, separators, diagnostics, env expansion."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootup.units.execline import (
    ExecCommand,
    expand_env,
    expand_env_argv,
    parse_exec,
    quote_command_line,
    shell_maybe_quote,
)
from bootup.units.specifiers import HostContext, SpecifierError, UnitContext, expand


def argvs(value: str) -> list[tuple[str, ...]]:
    result = parse_exec(value, "f", 1)
    assert result.commands is not None
    return [c.argv for c in result.commands]


def test_simple_and_quoted() -> None:
    assert argvs('/bin/echo "a b" \'c d\' x"y z"w') == [("/bin/echo", "a b", "c d", "xy zw")]
    assert argvs("/bin/echo \\x41 \\t") == [("/bin/echo", "A", "\t")]


def test_semicolons() -> None:
    assert argvs("/bin/a ; /bin/b x ; /bin/c") == [("/bin/a",), ("/bin/b", "x"), ("/bin/c",)]
    assert argvs("/bin/a \\; b a;b ;c") == [("/bin/a", ";", "b", "a;b", ";c")]
    assert argvs("/bin/a ;") == [("/bin/a",)]
    assert argvs("; /bin/a") == [("/bin/a",)]


def test_prefixes() -> None:
    result = parse_exec("-@/bin/sh shell -c true", "f", 1)
    (command,) = result.commands or ()
    assert command == ExecCommand(
        path="/bin/sh",
        argv=("shell", "-c", "true"),
        ignore_failure=True,
        separate_argv0=True,
    )
    (plus,) = parse_exec("+/bin/x", "f", 1).commands or ()
    assert plus.fully_privileged
    (bang,) = parse_exec("!/bin/x", "f", 1).commands or ()
    assert bang.no_setuid
    (double,) = parse_exec("!!/bin/x", "f", 1).commands or ()
    assert double.ambient_magic
    assert not double.no_setuid
    (colon,) = parse_exec(":/bin/x $A", "f", 1).commands or ()
    assert colon.no_env_expand
    assert colon.argv == ("/bin/x", "$A")
    # "+" after "!" is not a prefix any more: it becomes part of the (relative) name.
    result = parse_exec("!+x", "f", 1)
    (weird,) = result.commands or ()
    assert weird.path == "+x"


def test_path_is_simplified_but_argv0_kept() -> None:
    (command,) = parse_exec("/usr//bin/./env A=1", "f", 1).commands or ()
    assert command.path == "/usr/bin/env"
    assert command.argv[0] == "/usr//bin/./env"


def test_errors_with_and_without_dash() -> None:
    bad = parse_exec("/bin/x/", "/u/a.service", 4)
    assert bad.fatal
    assert bad.commands == ()
    assert [str(d) for d in bad.diagnostics] == [
        "/u/a.service:4: Executable path specifies a directory: /bin/x/"
    ]
    ignored = parse_exec("-/bin/x/", "/u/a.service", 4)
    assert not ignored.fatal
    assert [str(d) for d in ignored.diagnostics] == [
        "/u/a.service:4: Executable path specifies a directory, ignoring: /bin/x/"
    ]
    assert parse_exec('/bin/x "open', "f", 1).fatal
    assert not parse_exec('-/bin/x "open', "f", 1).fatal
    # A bad first word ignores the rest of the value but does not fail the unit.
    first = parse_exec('"open', "f", 1)
    assert not first.fatal
    assert first.commands == ()
    assert parse_exec("@/bin/x", "f", 1).fatal
    assert parse_exec("a/b", "f", 1).fatal
    assert parse_exec("/bin/e\\x01x", "f", 1).fatal


def test_commands_before_an_error_stay() -> None:
    result = parse_exec('/bin/ok ; /bin/x "bad', "f", 1)
    assert result.fatal
    assert [c.argv for c in result.commands or ()] == [("/bin/ok",)]


def test_specifier_callbacks() -> None:
    ctx = UnitContext("web@blue.service")
    host = HostContext(hostname="h")

    def resolve(text: str) -> str:
        return expand(text, ctx, host)

    result = parse_exec("/bin/%p-run %i %H %%", "f", 1, expand_path=resolve, expand_arg=resolve)
    (command,) = result.commands or ()
    assert command.path == "/bin/web-run"
    assert command.argv == ("/bin/web-run", "blue", "h", "%")
    bad = parse_exec("-/bin/x %Z", "f", 2, expand_path=resolve, expand_arg=resolve)
    assert bad.commands == ()
    assert [str(d) for d in bad.diagnostics] == [
        "f:2: Failed to resolve unit specifiers in %Z, ignoring: Invalid slot"
    ]
    with pytest.raises(SpecifierError) as info:
        resolve("%Z")
    assert info.value.specifier == "Z"


def test_quote_command_line() -> None:
    assert shell_maybe_quote("") == '""'
    assert shell_maybe_quote("plain=1,a:b") == "plain=1,a:b"
    assert shell_maybe_quote("a b") == '"a b"'
    assert shell_maybe_quote('$x"\\`') == '"\\$x\\"\\\\\\`"'
    assert shell_maybe_quote("\t\n\x7f") == '"\\t\\n\\177"'
    assert shell_maybe_quote("é") == "é"
    assert shell_maybe_quote(b"\xff".decode("utf-8", "surrogateescape")) == '"\\377"'
    assert quote_command_line(["/bin/echo", "a;b", ""]) == '/bin/echo "a;b" ""'


def test_env_expansion() -> None:
    env = {"A": "one two", "B": "x", "Q": "'a b' c"}
    assert expand_env("${B}/${NOPE}/$B/$$/${A:-d}", env) == "x//$B/$/${A:-d}"
    assert expand_env_argv(["/bin/x", "$A", "${A}", "$NOPE", "$Q", "a$B"], env) == [
        "/bin/x",
        "one",
        "two",
        "one two",
        "a b",
        "c",
        "a$B",
    ]


_arg = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\0"), min_size=0, max_size=12
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_arg, max_size=6))
def test_render_then_parse_round_trips(args: list[str]) -> None:
    def quote(arg: str) -> str:
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'

    value = "/bin/x " + " ".join(quote(a) for a in args)
    result = parse_exec(value, "f", 1)
    assert result.diagnostics == ()
    (command,) = result.commands or ()
    assert command.argv == ("/bin/x", *args)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_exec_never_raises(value: str) -> None:
    result = parse_exec(value, "f", 1)
    for command in result.commands or ():
        assert command.argv
