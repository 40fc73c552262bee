"""Unit names: validity, templates/instances and escaping (systemd 252 unit-name.c rules)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootup.errors import UnitSyntaxError
from bootup.units import names
from bootup.units.names import NameKind, UnitNameError


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("foo.service", NameKind.PLAIN),
        ("foo@.service", NameKind.TEMPLATE),
        ("foo@bar.service", NameKind.INSTANCE),
        ("foo@bar@baz.socket", NameKind.INSTANCE),
        ("a:b_c-d\\x2e.mount", NameKind.PLAIN),
        (".foo.service", NameKind.PLAIN),
        ("-.mount", NameKind.PLAIN),
        ("-.slice", NameKind.PLAIN),
        ("a" * 247 + ".service", NameKind.PLAIN),
    ],
)
def test_valid_names(name: str, kind: NameKind) -> None:
    assert names.name_kind(name) == kind
    assert names.is_valid_name(name)
    assert names.is_valid_name(name, kind)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "foo",
        ".service",
        "foo.bogus",
        "foo.Service",
        "@foo.service",
        "@.service",
        "foo bar.service",
        "föö.service",
        "foo/bar.service",
        "a" * 248 + ".service",
    ],
)
def test_invalid_names(name: str) -> None:
    assert names.name_kind(name) is None
    with pytest.raises(UnitNameError):
        names.split_name(name)


def test_kind_filter() -> None:
    assert not names.is_valid_name("foo@.service", NameKind.PLAIN | NameKind.INSTANCE)
    assert names.is_valid_name("foo@x.service", NameKind.PLAIN | NameKind.INSTANCE)


def test_split_template_instance() -> None:
    assert names.split_name("getty@tty1.service") == ("getty", "tty1", "service")
    assert names.split_name("getty@.service") == ("getty", "", "service")
    assert names.split_name("sshd.socket") == ("sshd", None, "socket")
    assert names.unit_type("a@b@c.timer") == "timer"
    assert names.unit_prefix("a@b@c.timer") == "a"
    assert names.unit_instance("a@b@c.timer") == "b@c"
    assert names.template_of("getty@tty1.service") == "getty@.service"
    assert names.template_of("getty@.service") == "getty@.service"
    with pytest.raises(UnitNameError):
        names.template_of("getty.service")


def test_build_and_replace_instance() -> None:
    assert names.build_name("foo", "bar", "service") == "foo@bar.service"
    assert names.build_name("foo", None, "path") == "foo.path"
    with pytest.raises(UnitNameError):
        names.build_name("foo", None, "nope")
    assert names.replace_instance("foo@.service", "x") == "foo@x.service"
    assert names.replace_instance("foo@old.service", "new") == "foo@new.service"
    assert names.replace_instance("foo@.service", "a" * 243) == "foo@" + "a" * 243 + ".service"
    for bad_template, instance in [
        ("foo.service", "x"),
        ("foo@.service", ""),
        ("foo@.service", "a b"),
        ("foo@.service", "a" * 244),
    ]:
        with pytest.raises(UnitNameError):
            names.replace_instance(bad_template, instance)


def test_error_is_a_unit_syntax_error_with_fields() -> None:
    with pytest.raises(UnitSyntaxError) as info:
        names.split_name("nope")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, UnitNameError)
    assert info.value.name == "nope"
    assert "nope" in str(info.value)


@pytest.mark.parametrize(
    ("plain", "escaped"),
    [
        ("a-b/c d", "a\\x2db-c\\x20d"),
        (".hidden", "\\x2ehidden"),
        ("..x", "\\x2e.x"),
        ("ü", "\\xc3\\xbc"),
        ("a\\b", "a\\x5cb"),
        ("a@b", "a\\x40b"),
        ("", ""),
    ],
)
def test_escape(plain: str, escaped: str) -> None:
    assert names.escape(plain) == escaped


def test_unescape() -> None:
    assert names.unescape("a\\x2db-c\\x20d") == "a-b/c d"
    assert names.unescape("\\x2F\\x2f") == "//"
    for bad in ["a\\", "a\\x", "a\\x2", "a\\xzz", "a\\X20", "a\\n"]:
        with pytest.raises(UnitNameError):
            names.unescape(bad)
    # A byte that is not UTF-8 travels as a lone surrogate and escapes back to itself.
    assert names.escape(names.unescape("\\xff")) == "\\xff"


def test_path_escape_and_unescape() -> None:
    assert names.path_escape("/var/lib/my-data") == "var-lib-my\\x2ddata"
    assert names.path_escape("/") == "-"
    assert names.path_escape("//a//b/") == "a-b"
    assert names.path_escape("/a/./b") == "a-b"
    assert names.path_escape("") == "-"
    for bad in ["/a/../b", "..", "/" + "a" * 256]:
        with pytest.raises(UnitNameError):
            names.path_escape(bad)
    assert names.path_unescape("var-lib") == "/var/lib"
    assert names.path_unescape("-") == "/"
    for bad in ["", "a--b", "a-", "\\x2e", "-a"]:
        with pytest.raises(UnitNameError):
            names.path_unescape(bad)


def test_path_helpers() -> None:
    assert names.path_simplify("//a/./b//") == "/a/b"
    assert names.path_simplify("./a/..") == "a/.."
    assert names.path_simplify(".") == "."
    assert names.path_is_valid("/" + "a" * 255)
    assert not names.path_is_valid("/" + "a" * 256)
    assert names.path_is_valid("/" + "a/" * 2047)
    assert not names.path_is_valid("/" + "a/" * 2048)
    assert not names.path_is_normalized("/a//b")
    assert not names.path_is_normalized("/a/./b")
    assert names.path_is_normalized("/a/b")


def test_name_from_path_and_device_paths() -> None:
    assert names.name_from_path("/home", ".mount") == "home.mount"
    assert names.name_from_path("/", ".mount") == "-.mount"
    assert names.is_device_path("/dev/sda")
    assert names.is_device_path("/./dev/foo")
    assert not names.is_device_path("/dev/")
    assert not names.is_device_path("/dev/.")
    assert not names.is_device_path("/../dev/sda")
    with pytest.raises(UnitNameError):
        names.name_from_path("/" + "a" * 250, ".mount")


@pytest.mark.parametrize(
    ("text", "mangled"),
    [
        ("foo", "foo.service"),
        ("foo.service", "foo.service"),
        ("foo@.service", "foo@.service"),
        ("/dev/sda", "dev-sda.device"),
        ("/home/x y", "home-x\\x20y.mount"),
        ("/", "-.mount"),
        ("a b@c", "a\\x20b@c.service"),
        ("foo*", "foo\\x2a.service"),
        ("x.bogus", "x.bogus.service"),
        ("/a/../b", "-a-..-b.service"),
    ],
)
def test_mangle(text: str, mangled: str) -> None:
    assert names.mangle(text) == mangled


def test_mangle_failures() -> None:
    for bad in ["", "@foo", "a" * 248]:
        with pytest.raises(UnitNameError):
            names.mangle(bad)
    assert names.mangle("foo", ".socket") == "foo.socket"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_escape_round_trips_and_yields_valid_instances(text: str) -> None:
    escaped = names.escape(text)
    assert names.unescape(escaped) == text
    if escaped:
        assert names.is_valid_instance(escaped)
        assert not escaped.startswith(".")


_component = st.text(
    alphabet=st.characters(blacklist_characters="/\0", codec="utf-8"),
    min_size=1,
    max_size=12,
).filter(lambda c: c not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(st.lists(_component, max_size=6))
def test_path_escape_round_trips(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    assert names.path_unescape(names.path_escape(path)) == path
