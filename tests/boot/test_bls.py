"""BLS entries: blscfg's line reader, its rpm-style ordering, and the menu it builds.

rpm's own ``rpm.vercmp`` (Debian package rpm) is the oracle for the version comparison that
blscfg copied from rpmvercmp (on versions without '-', which rpm.vercmp would split as EVR).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import support
from bootup.boot import bls, grubcfg
from bootup.boot.resolve import Flavor, resolve_config

MACHINE = "6a9b2f3c4d5e4f60718293a4b5c6d7e8"
OTHER = "0123456789abcdef0123456789abcdef"


def _entry(version: str, *, machine: str = MACHINE, title: str | None = None) -> str:
    return (
        f"title {title or 'Fedora Linux (' + version + ')'}\n"
        f"version {version}\n"
        f"linux /vmlinuz-{version}\n"
        f"initrd /initramfs-{version}.img\n"
        "options root=UUID=1234 ro $kernelopts\n"
        "grub_users $grub_users\n"
        "grub_arg --unrestricted\n"
        "grub_class fedora\n"
    )


def _write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.conf").write_text(text)


def test_entries_sort_newest_first_by_name_version_release(tmp_path: Path) -> None:
    entries_dir = tmp_path / "loader/entries"
    for version in ("6.5.6-300.fc39.x86_64", "6.10.3-200.fc40.x86_64", "6.5.12-300.fc39.x86_64"):
        _write(entries_dir, f"{MACHINE}-{version}", _entry(version))
    _write(entries_dir, f"{MACHINE}-0-rescue", _entry("0-rescue", title="Rescue"))
    entries, notes = bls.load_entries(entries_dir)
    assert notes == []
    assert [e.id.removeprefix(MACHINE + "-") for e in entries] == [
        "6.10.3-200.fc40.x86_64",
        "6.5.12-300.fc39.x86_64",
        "6.5.6-300.fc39.x86_64",
        "0-rescue",
    ]


def test_a_foreign_machine_id_can_outrank_newer_kernels(tmp_path: Path) -> None:
    entries_dir = tmp_path / "loader/entries"
    _write(entries_dir, f"{MACHINE}-6.10.3-200.fc40.x86_64", _entry("6.10.3-200.fc40.x86_64"))
    _write(entries_dir, f"{OTHER}-5.14.0-1.el9.x86_64", _entry("5.14.0-1.el9.x86_64"))
    entries, _notes = bls.load_entries(entries_dir)
    # The machine-id is compared first, as a version: '0123456789...' (the number 123456789)
    # is "newer" than '6a9b...' (the number 6), so the old el9 kernel is index 0.
    assert entries[0].id.startswith(OTHER)
    assert entries[1].id.startswith(MACHINE)


def test_line_reader_follows_blscfg(tmp_path: Path) -> None:
    entry = bls.parse_entry(
        "  # comment\ntitle  Fedora\tLinux\nlinux\t/vmlinuz\ninitrd /a\ninitrd /b\n\n"
        "options ignored after the empty line\n",
        "id",
    )
    assert entry.keys == [
        ("title", "Fedora\tLinux"),
        ("linux", "/vmlinuz"),
        ("initrd", "/a"),
        ("initrd", "/b"),
    ]
    assert entry.notes
    assert "ends blscfg's reading" in entry.notes[0]
    assert entry.get_all("initrd") == ["/a", "/b"]


def test_files_blscfg_skips(tmp_path: Path) -> None:
    entries_dir = tmp_path / "entries"
    _write(entries_dir, "good-1.0-1", _entry("1.0-1"))
    _write(entries_dir, "nolinux-1.0-1", "title x\nversion 1\n")
    (entries_dir / ".hidden.conf").write_text(_entry("2"))
    (entries_dir / "other.txt").write_text(_entry("3"))
    (entries_dir / ".conf").write_text(_entry("4"))
    entries, notes = bls.load_entries(entries_dir)
    assert [e.id for e in entries] == ["good-1.0-1"]
    assert any("no 'linux' key" in note for note in notes)


def test_menu_from_bls_and_fedora_resolution(tmp_path: Path) -> None:
    entries_dir = tmp_path / "entries"
    _write(entries_dir, f"{MACHINE}-6.5.6-300.fc39.x86_64", _entry("6.5.6-300.fc39.x86_64"))
    _write(entries_dir, f"{MACHINE}-6.10.3-200.fc40.x86_64", _entry("6.10.3-200.fc40.x86_64"))
    entries, _notes = bls.load_entries(entries_dir)

    def provider(env: object) -> list[grubcfg.MenuEntry]:
        assert isinstance(env, dict)
        return bls.entries_to_menu(entries, env)

    saved = f"{MACHINE}-6.5.6-300.fc39.x86_64"
    config = grubcfg.load_config(
        'load_env\nset default="${saved_entry}"\ninsmod blscfg\nblscfg\n',
        grubenv={"saved_entry": saved, "kernelopts": "quiet rhgb"},
        bls=provider,
    )
    assert [e.id for e in config.entries] == [entry.id for entry in entries]
    first = config.entries[0]
    assert first.linux == "/vmlinuz-6.10.3-200.fc40.x86_64"
    assert first.linux_args == ("root=UUID=1234", "ro", "quiet", "rhgb")
    assert first.classes == ("fedora",)
    assert first.args == ("--unrestricted",)
    resolution = resolve_config(config, Flavor.FEDORA)
    assert resolution.entry is not None
    assert resolution.entry.id == saved
    # Upstream GRUB would read the hex machine-id's leading digits as an index.
    upstream = resolve_config(config, Flavor.UPSTREAM)
    assert upstream.steps[0].how in ("index", "fallback")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0", "1.0"), ("1.0", "2.0"), ("2.0.1", "2.0"), ("5.14.0", "5.9.1"), ("1.0a", "1.0"),
        ("1.0~rc1", "1.0"), ("1.0~rc1", "1.0~rc2"), ("fc39", "fc40"), ("1.01", "1.1"),
        ("1.0.0", "1.0"), ("a", "1"), ("1_2", "1.2"), ("10", "9"),
    ],
)  # fmt: skip
def test_vercmp_matches_rpm(a: str, b: str) -> None:
    ours = bls.vercmp(a, b)
    assert ours == -bls.vercmp(b, a)
    rpm = support.require_tool("rpm", package="rpm")
    script = f'%{{lua: print(rpm.vercmp("{a}", "{b}"))}}'
    result = subprocess.run([rpm, "--eval", script], capture_output=True, text=True, check=True)
    assert ours == int(result.stdout.strip()), (a, b)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("abc-5.14.0-362.fc38.x86_64", ("abc", "5.14.0", "362.fc38.x86_64")),
        ("abc-0-rescue", ("abc", "0", "rescue")),
        ("single-1", ("single", "1", "")),
        ("plain", ("plain", "", "")),
    ],
)
def test_split_package_string(name: str, parts: tuple[str, str, str]) -> None:
    assert bls.split_package_string(name) == parts


@given(st.text(max_size=300))
def test_fuzz_entry_reader_never_raises(text: str) -> None:
    entry = bls.parse_entry(text, "x")
    assert all(" " not in key and "\t" not in key for key, _value in entry.keys)


@given(
    st.text(alphabet="0123456789.~-_abz", max_size=12),
    st.text(alphabet="0123456789.~-_abz", max_size=12),
)
def test_fuzz_vercmp_is_antisymmetric(a: str, b: str) -> None:
    assert bls.vercmp(a, b) == -bls.vercmp(b, a)
