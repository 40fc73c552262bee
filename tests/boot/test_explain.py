"""The chain of a root directory, and the validated set-default / reboot-once writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootup.boot import explain, grubenv
from bootup.boot.resolve import UnresolvedEntryError
from bootup.errors import BootFormatError, NotSupportedError

HEADER = """\
serial --unit=0 --speed=115200
set timeout=0
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="DEFAULT"
fi
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
EXPORT
"""
MENU = """\
menuentry 'Linux 6.1.0-56-amd64 (A)' $menuentry_id_option 'lin-a' {
  linux /boot/vmlinuz-6.1.0-56-amd64 console=ttyS0 entry=A
  initrd /boot/initrd.img-6.1.0-56-amd64
}
submenu 'Advanced' $menuentry_id_option 'adv' {
  menuentry 'Linux 6.1.0-56-amd64 (B)' $menuentry_id_option 'lin-b' {
    linux /boot/vmlinuz-6.1.0-56-amd64 console=ttyS0 entry=B
    initrd /boot/initrd.img-6.1.0-56-amd64
  }
  menuentry 'Linux 6.1.0-25-amd64 (C)' $menuentry_id_option 'lin-c' {
    linux /boot/vmlinuz-6.1.0-25-amd64 console=ttyS0 entry=C
  }
}
"""


def make_root(
    tmp_path: Path,
    *,
    default: str = "${saved_entry}",
    export: bool = True,
    env: dict[str, str] | None = None,
    grub_default: str | None = "saved",
    kernels: bool = True,
) -> Path:
    root = tmp_path / "root"
    grub = root / "boot/grub"
    grub.mkdir(parents=True)
    header = HEADER.replace("DEFAULT", default).replace(
        "EXPORT", "export menuentry_id_option" if export else ""
    )
    (grub / "grub.cfg").write_text(header + MENU)
    if env is not None:
        block = grubenv.create_file(grub / "grubenv")
        for name, value in env.items():
            block.set(name, value)
        grubenv.save(block)
    if grub_default is not None:
        (root / "etc/default").mkdir(parents=True)
        (root / "etc/default/grub").write_text(f"GRUB_DEFAULT={grub_default}\nGRUB_TIMEOUT=0\n")
    if kernels:
        for version in ("6.1.0-56-amd64", "6.1.0-25-amd64"):
            (root / f"boot/vmlinuz-{version}").write_bytes(b"k")
        (root / "boot/initrd.img-6.1.0-56-amd64").write_bytes(b"i")
    return root


def _codes(stage2: explain.StageTwo) -> set[str]:
    return {f.code for f in stage2.findings}


def test_explain_root_shows_the_chain_in_order(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={"saved_entry": "adv>lin-c"})
    report = explain.explain(root)
    assert [s.name for s in report.stages] == [
        "firmware and stage 1",
        "grubenv",
        "grub.cfg",
        "default entry",
        "kernel",
    ]
    assert report.stage2.resolution.id_path == "adv>lin-c"
    text = explain.render_text(report)
    assert text.splitlines()[1:3] == [
        "next boot: Advanced > Linux 6.1.0-25-amd64 (C) [adv>lin-c], kernel "
        "/boot/vmlinuz-6.1.0-25-amd64",
        "warnings: 0",
    ]
    assert "saved_entry: adv>lin-c" in text
    assert "linux: /boot/vmlinuz-6.1.0-25-amd64 console=ttyS0 entry=C" in text
    assert text.index("grubenv") < text.index("grub.cfg") < text.index("default entry")
    document = json.loads(explain.render_json(report))
    assert document["resolution"]["index_path"] == "1>1"
    assert document["menu"][1]["children"][1]["id_path"] == "adv>lin-c"
    assert document["grubenv"]["variables"] == {"saved_entry": "adv>lin-c"}


def test_saved_entry_ignored_and_stale_config_are_both_named(tmp_path: Path) -> None:
    root = make_root(tmp_path, default="0", env={"saved_entry": "adv>lin-c"})
    stage2 = explain.explain(root).stage2
    assert stage2.resolution.id_path == "lin-a"
    assert {"saved-entry-ignored", "grub-cfg-stale"} <= _codes(stage2)
    stale = next(f for f in stage2.findings if f.code == "grub-cfg-stale")
    assert "update-grub" in stale.message


def test_missing_kernel_and_lost_ids_are_warnings(tmp_path: Path) -> None:
    root = make_root(tmp_path, export=False, env={"saved_entry": "adv>lin-c"}, kernels=False)
    stage2 = explain.explain(root).stage2
    assert stage2.resolution.id_path == "adv>Linux 6.1.0-56-amd64 (B)"
    assert {"id-lost-in-submenu", "kernel-missing"} <= _codes(stage2)
    missing = next(f for f in stage2.findings if f.code == "kernel-missing")
    assert "no 'fallback' is set" in missing.message
    cfg = root / "boot/grub/grub.cfg"
    cfg.write_text('set fallback="0 7"\n' + cfg.read_text())
    missing = next(f for f in explain.explain(root).stage2.findings if f.code == "kernel-missing")
    assert "tries fallback 0 'Linux 6.1.0-56-amd64 (A)', then 7 (no such entry)" in missing.message


def test_broken_grubenv_is_reported_with_offset(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    data = grubenv.SIGNATURE + b"saved_entry=adv>lin-c"
    (root / "boot/grub/grubenv").write_bytes(data)
    stage2 = explain.explain(root).stage2
    broken = next(f for f in stage2.findings if f.code == "grubenv-broken")
    assert f"offset {len(grubenv.SIGNATURE)}" in broken.message
    assert stage2.resolution.steps[0].index == 0


def test_bls_root_uses_blscfg_order_and_fedora_matching(tmp_path: Path) -> None:
    root = tmp_path / "fedora"
    (root / "boot/grub2").mkdir(parents=True)
    (root / "boot/grub2/grub.cfg").write_text(
        'load_env\nset default="${saved_entry}"\ninsmod blscfg\nblscfg\n'
    )
    entries = root / "boot/loader/entries"
    entries.mkdir(parents=True)
    for version in ("6.5.6-300.fc39.x86_64", "6.10.3-200.fc40.x86_64"):
        (entries / f"1a2b-{version}.conf").write_text(
            f"title Fedora ({version})\nversion {version}\nlinux /vmlinuz-{version}\n"
            "options root=UUID=x ro $kernelopts\n"
        )
    block = grubenv.create_file(root / "boot/grub2/grubenv")
    block.set("saved_entry", "1a2b-6.5.6-300.fc39.x86_64")
    block.set("kernelopts", "quiet")
    grubenv.save(block)
    stage2 = explain.explain(root).stage2
    assert stage2.flavor.value == "fedora"
    assert [e.id for e in stage2.config.entries] == [
        "1a2b-6.10.3-200.fc40.x86_64",
        "1a2b-6.5.6-300.fc39.x86_64",
    ]
    entry = stage2.entry
    assert entry is not None
    assert entry.linux_args == ("root=UUID=x", "ro", "quiet")
    assert "bls-order" in _codes(stage2)
    upstream = explain.explain(root, flavor="upstream").stage2
    assert "digit-leading-id" in _codes(upstream) or not upstream.resolution.exact


def test_set_default_writes_the_stable_id_path_and_reresolves(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={"next_entry": "lin-a", "prev_saved_entry": "x"})
    outcome = explain.set_entry(
        "Advanced>Linux 6.1.0-25-amd64 (C)", variable="saved_entry", root=str(root)
    )
    assert outcome.value == "adv>lin-c"
    assert outcome.effective
    assert outcome.exit_code == 0
    written = grubenv.load(root / "boot/grub/grubenv").variables()
    assert written == {"saved_entry": "adv>lin-c"}  # next_entry/prev_saved_entry unset
    assert outcome.after.resolution.id_path == "adv>lin-c"
    assert "next boot: Advanced > Linux 6.1.0-25-amd64 (C)" in explain.render_set_text(outcome)


def test_set_default_by_index_path_still_stores_ids(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={})
    outcome = explain.set_entry("1>0", variable="saved_entry", root=str(root))
    assert outcome.value == "adv>lin-b"


def test_digit_leading_ids_are_stored_as_something_grub_resolves(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={})
    cfg = root / "boot/grub/grub.cfg"
    cfg.write_text(cfg.read_text().replace("'lin-a'", "'1abc-a'"))
    with pytest.raises(UnresolvedEntryError) as info:
        explain.set_entry("1abc-a", variable="saved_entry", root=str(root))
    assert "digit-leading-id" in {f.code for f in info.value.findings}
    outcome = explain.set_entry("0", variable="saved_entry", root=str(root))
    assert outcome.value == "Linux 6.1.0-56-amd64 (A)"  # the id would be read as index 1
    assert outcome.after.resolution.id_path == "1abc-a"


@pytest.mark.parametrize("entry", ["lin-c", "Linux 6.1.0-56-amd64 (old)", "7", "adv>nope"])
def test_values_grub_would_not_boot_are_refused(entry: str, tmp_path: Path) -> None:
    root = make_root(tmp_path, env={"saved_entry": "lin-a"})
    before = (root / "boot/grub/grubenv").read_bytes()
    with pytest.raises(UnresolvedEntryError) as info:
        explain.set_entry(entry, variable="saved_entry", root=str(root))
    assert isinstance(info.value, BootFormatError)
    assert (root / "boot/grub/grubenv").read_bytes() == before
    if entry == "lin-c":
        assert "adv>lin-c" in str(info.value)


def test_set_default_without_grub_default_saved_says_what_to_change(tmp_path: Path) -> None:
    root = make_root(tmp_path, default="0", grub_default="0", env={})
    outcome = explain.set_entry("adv>lin-c", variable="saved_entry", root=str(root))
    assert not outcome.effective
    assert outcome.exit_code == 1
    assert any("GRUB_DEFAULT=saved" in item for item in outcome.advice)
    assert outcome.after.resolution.id_path == "lin-a"
    stale = make_root(tmp_path / "stale", default="0", grub_default="saved", env={})
    outcome = explain.set_entry("adv>lin-c", variable="saved_entry", root=str(stale))
    assert any("regenerate" in item for item in outcome.advice)


def test_reboot_once_boots_once_then_the_saved_entry(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={"saved_entry": "adv>lin-c"})
    outcome = explain.set_entry("lin-a", variable="next_entry", root=str(root))
    assert outcome.effective
    assert outcome.after.resolution.id_path == "lin-a"
    assert any("one-shot" in r for r in outcome.after.resolution.reasons)
    # GRUB's save_env next_entry empties it at boot; the boot after uses saved_entry again.
    assert [s.names for s in outcome.after.config.save_env] == [("next_entry",)]
    block = grubenv.load(root / "boot/grub/grubenv")
    block.set("next_entry", "")
    grubenv.save(block)
    assert explain.explain(root).stage2.resolution.id_path == "adv>lin-c"


def test_explicit_files_instead_of_a_root(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={"saved_entry": "adv>lin-b"}, grub_default=None)
    stage2 = explain.resolve_target(
        grubenv=str(root / "boot/grub/grubenv"), grub_cfg=str(root / "boot/grub/grub.cfg")
    )
    assert stage2.resolution.id_path == "adv>lin-b"
    with pytest.raises(BootFormatError, match="go together"):
        explain.resolve_target(grubenv=str(root / "boot/grub/grubenv"))


def test_missing_grubenv_is_created_by_set_default(tmp_path: Path) -> None:
    root = make_root(tmp_path, env=None)
    outcome = explain.set_entry("lin-a", variable="saved_entry", root=str(root))
    assert (root / "boot/grub/grubenv").stat().st_size == 1024
    assert outcome.effective


@pytest.mark.parametrize(
    ("fstype", "source", "problem"),
    [
        ("ext4", "/dev/sda1", None),
        ("btrfs", "/dev/sda2", "btrfs filesystem"),
        ("zfs", "rpool/boot", "zfs filesystem"),
        ("ext4", "/dev/mapper/vg-boot", "device-mapper device /dev/mapper/vg-boot (LVM/LUKS)"),
        ("xfs", "/dev/md0", "software RAID device /dev/md0"),
    ],
)
def test_env_location_classification(fstype: str, source: str, problem: str | None) -> None:
    assert explain.classify_env_location(fstype, source) == problem


def test_env_write_problem_of_a_plain_file_here_is_none(tmp_path: Path) -> None:
    path = tmp_path / "grubenv"
    grubenv.create_file(path)
    assert explain.env_write_problem(path) in (None, "tmpfs filesystem")


def test_not_a_target(tmp_path: Path) -> None:
    with pytest.raises(BootFormatError, match="no such directory or disk image"):
        explain.explain(tmp_path / "absent")
    with pytest.raises(BootFormatError, match=r"no grub\.cfg"):
        explain.explain(tmp_path)


def test_image_needs_the_disk_module_or_says_not_supported(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    try:
        import bootup.boot.disk  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(NotSupportedError, match="not supported yet"):
            explain.explain(image)
    else:
        with pytest.raises((BootFormatError, NotSupportedError)):
            explain.explain(image)


def test_one_shot_into_a_submenu_with_savedefault_is_flagged(tmp_path: Path) -> None:
    root = make_root(tmp_path, env={"saved_entry": "lin-a", "next_entry": "adv>lin-c"})
    cfg = root / "boot/grub/grub.cfg"
    # Add savedefault the way 10_linux does with GRUB_SAVEDEFAULT=true.
    text = cfg.read_text().replace(
        "  menuentry 'Linux 6.1.0-25-amd64 (C)' $menuentry_id_option 'lin-c' {\n",
        "  menuentry 'Linux 6.1.0-25-amd64 (C)' $menuentry_id_option 'lin-c' {\n    savedefault\n",
    )
    savedefault = (
        'function savedefault {\n  if [ -z "${boot_once}" ]; then\n'
        '    saved_entry="${chosen}"\n    save_env saved_entry\n  fi\n}\n'
    )
    cfg.write_text(savedefault + text)
    stage2 = explain.explain(root).stage2
    assert stage2.resolution.id_path == "adv>lin-c"
    assert "one-shot-saved" in _codes(stage2)
