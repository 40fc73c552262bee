"""Default resolution against the QEMU-measured matrix of the reference (§2.3) and GRUB's rules.

The matrix rows are what Debian GRUB 2.06 booted in QEMU; the resolver must predict each.
"""

from __future__ import annotations

import pytest

from bootup.boot import grubcfg
from bootup.boot.resolve import (
    Flavor,
    grub_strtoul,
    resolve_config,
    resolve_value,
    split_path,
)

HEADER = """\
set timeout=0
load_env
if [ "${next_entry}" ] ; then set default="${next_entry}"; set next_entry=; save_env next_entry
elif [ "${saved_entry}" ] ; then set default="${saved_entry}"; else set default=0; fi
menuentry_id_option="--id"
"""

MENU = """\
menuentry 'Test Linux A' $menuentry_id_option 'test-a' {
  linux /boot/vmlinuz entry=A
}
submenu 'Advanced options' $menuentry_id_option 'adv' {
  menuentry 'Test Linux B (marker B)' $menuentry_id_option 'test-b' {
    linux /boot/vmlinuz entry=B
  }
  menuentry 'Test Linux C' $menuentry_id_option 'test-c' {
    linux /boot/vmlinuz entry=C
  }
}
"""


def _config(env: dict[str, str], *, export: bool = True, menu: str = MENU) -> grubcfg.GrubConfig:
    text = HEADER + ("export menuentry_id_option\n" if export else "") + menu
    return grubcfg.load_config(text, grubenv=env)


def _booted(env: dict[str, str], *, export: bool = True, menu: str = MENU) -> str:
    resolution = resolve_config(_config(env, export=export, menu=menu))
    entry = resolution.entry
    assert entry is not None
    return entry.linux_args[-1].removeprefix("entry=")


@pytest.mark.parametrize(
    ("env", "export", "booted", "code"),
    [
        ({"saved_entry": "adv>test-c"}, False, "B", "id-lost-in-submenu"),
        ({"saved_entry": "adv>test-c"}, True, "C", None),
        ({"saved_entry": "1>0"}, True, "B", None),
        ({"saved_entry": "Advanced options>Test Linux B (marker B)"}, True, "B", None),
        ({"saved_entry": "Test Linux A (old kernel title)"}, True, "A", "stale-title"),
        ({"saved_entry": "2"}, True, "A", "index-out-of-range"),
        ({"saved_entry": "adv>test-c", "next_entry": "adv>test-b"}, True, "B", None),
    ],
)
def test_reference_matrix(env: dict[str, str], export: bool, booted: str, code: str | None) -> None:
    assert _booted(env, export=export) == booted
    codes = {f.code for f in resolve_config(_config(env, export=export)).warnings()}
    if code is not None:
        assert code in codes
    else:
        assert not codes


def test_digit_leading_id_is_an_index_upstream_but_an_id_on_fedora() -> None:
    menu = MENU.replace("'test-a'", "'1abc-a'")
    config = _config({"saved_entry": "1abc-a"}, menu=menu)
    upstream = resolve_config(config)
    assert upstream.steps[0].index == 1
    assert upstream.entry is not None
    assert upstream.entry.title == "Test Linux B (marker B)"
    assert "digit-leading-id" in {f.code for f in upstream.warnings()}
    fedora = resolve_config(config, Flavor.FEDORA)
    assert fedora.entry is not None
    assert fedora.entry.id == "1abc-a"


def test_next_entry_is_one_shot_and_cleared_by_save_env() -> None:
    config = _config({"saved_entry": "adv>test-c", "next_entry": "adv>test-b"})
    assert config.variables["next_entry"] == ""
    assert [save.names for save in config.save_env] == [("next_entry",)]
    resolution = resolve_config(config)
    assert any("one-shot" in reason for reason in resolution.reasons)
    # The second boot: GRUB cleared next_entry on disk, saved_entry applies again.
    assert _booted({"saved_entry": "adv>test-c", "next_entry": ""}) == "C"


def test_missing_submenu_prefix_is_named_with_the_right_path() -> None:
    resolution = resolve_config(_config({"saved_entry": "test-c"}))
    assert resolution.steps[0].how == "fallback"
    messages = [f.message for f in resolution.warnings() if f.code == "missing-submenu-prefix"]
    assert messages
    assert "'adv>test-c'" in messages[0]


def test_saved_entry_ignored_when_grub_default_was_not_saved() -> None:
    text = 'load_env\nset default="0"\n' + 'menuentry_id_option="--id"\n' + MENU
    config = grubcfg.load_config(text, grubenv={"saved_entry": "adv>test-c"})
    resolution = resolve_config(config)
    assert resolution.entry is not None
    assert resolution.entry.id == "test-a"
    assert resolution.findings[0].code == "saved-entry-ignored"
    assert "GRUB_DEFAULT=saved" in resolution.findings[0].message


def test_submenu_named_alone_boots_its_first_entry() -> None:
    resolution = resolve_config(_config({"saved_entry": "adv"}))
    assert resolution.entry is not None
    assert resolution.entry.id == "test-b"
    assert resolution.id_path == "adv>test-b"
    assert resolution.exact


def test_escaped_separator_matches_a_literal_greater_than() -> None:
    menu = (
        "menuentry 'a>b' --id 'x>y' { linux /k entry=X }\nmenuentry 'other' { linux /k entry=O }\n"
    )
    entries = grubcfg.load_config(menu).entries
    assert resolve_value(entries, "x>>y").steps[0].index == 0
    assert resolve_value(entries, "other").steps[0].index == 1
    assert resolve_value(entries, "x>y").steps[0].how == "fallback"
    assert resolve_value(entries, "a>>b").id_path == "x>>y"


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0), ("12", 12), ("1abc", 1), ("010", 8), ("09", 9), ("0x1f", 31), (" 3", 3),
     ("abc", None), ("0x", None), ("-1", None), ("99999999999", None)],
)  # fmt: skip
def test_grub_strtoul(text: str, number: int | None) -> None:
    assert grub_strtoul(text) == number


def test_split_path() -> None:
    assert split_path("a>b>c") == ("a", "b>c")
    assert split_path("a>>b>c") == ("a>b", "c")
    assert split_path("a>") == ("a", None)
    assert split_path("abc") == ("abc", None)


def test_no_default_and_empty_menu() -> None:
    entries = grubcfg.load_config(MENU).entries
    resolution = resolve_value(entries, None)
    assert resolution.steps[0].how == "no-default"
    empty = resolve_value([], "0")
    assert empty.entry is None
    assert "empty-menu" in {f.code for f in empty.findings}
