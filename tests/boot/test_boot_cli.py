"""``bootup boot``: the verb, its plug-ins, and explain / set-default / reboot-once end to end.

The disk image is built with the real tools of the reference recipe (sfdisk, mke2fs -d,
grub-editenv, grub-mkimage) plus bootup's installer; after bootup writes grubenv inside the
image, GRUB's own file-system code (``grub-fstest``) reads it back.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import shutil
import subprocess
from pathlib import Path

import pytest

import support
from bootup.boot import grubenv
from bootup.cli import build_parser, commands, main

CFG = """\
set timeout=0
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="${saved_entry}"
fi
menuentry_id_option="--id"
export menuentry_id_option
menuentry 'Linux (A)' $menuentry_id_option 'lin-a' {
  linux /boot/vmlinuz-6.1.0-56-amd64 entry=A
}
submenu 'Advanced' $menuentry_id_option 'adv' {
  menuentry 'Linux (B)' $menuentry_id_option 'lin-b' {
    linux /boot/vmlinuz-6.1.0-56-amd64 entry=B
  }
  menuentry 'Linux (C)' $menuentry_id_option 'lin-c' {
    linux /boot/vmlinuz-6.1.0-56-amd64 entry=C
  }
}
"""


def _stage(base: Path) -> Path:
    stage = base / "stage"
    (stage / "boot/grub").mkdir(parents=True)
    (stage / "boot/grub/grub.cfg").write_text(CFG)
    (stage / "boot/vmlinuz-6.1.0-56-amd64").write_bytes(b"k" * 4096)
    block = grubenv.create_file(stage / "boot/grub/grubenv")
    block.set("saved_entry", "adv>lin-b")
    grubenv.save(block)
    return stage


@pytest.fixture(scope="module")
def disk_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sfdisk = support.require_tool("sfdisk", package="fdisk")
    mke2fs = support.require_tool("mke2fs", package="e2fsprogs")
    mkimage = support.require_tool("grub-mkimage", package="grub-common")
    if not Path("/usr/lib/grub/i386-pc/boot.img").is_file():
        support.require_tool("grub-bios-setup-missing", package="grub-pc-bin")
    from bootup.boot import install

    base = tmp_path_factory.mktemp("image")
    stage = _stage(base)
    image = base / "disk.img"
    with image.open("wb") as handle:
        handle.truncate(64 << 20)
    subprocess.run(
        [sfdisk, "-q", str(image)], input=b"label: dos\nstart=2048, type=83, bootable\n", check=True
    )
    subprocess.run(
        [mke2fs, "-q", "-F", "-t", "ext4", "-E", f"offset={2048 * 512}", "-d", str(stage),
         str(image), f"{(131072 - 2048) // 2}k"],
        check=True,
    )  # fmt: skip
    core = base / "core.img"
    subprocess.run(
        [mkimage, "-O", "i386-pc", "-o", str(core), "-p", "(hd0,msdos1)/boot/grub",
         "biosdisk", "part_msdos", "ext2"],
        check=True,
    )  # fmt: skip
    install.install_grub(image, core.read_bytes())
    return image


def _fstest_env(image: Path) -> bytes:
    fstest = support.require_tool("grub-fstest", package="grub-common")
    return subprocess.run(
        [fstest, str(image), "cat", "(loop0,msdos1)/boot/grub/grubenv"],
        capture_output=True,
        check=True,
    ).stdout


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_boot_verb_has_its_own_and_every_plugged_in_subcommand() -> None:
    boot = _subcommands(build_parser())["boot"]
    names = set(_subcommands(boot))
    assert {"explain", "set-default", "reboot-once", "resolve", "env"} <= names
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith("_boot_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        probe = argparse.ArgumentParser()
        module.register_boot(probe.add_subparsers())
        assert set(_subcommands(probe)) <= names, info.name


def test_explain_root_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _stage(tmp_path)
    assert main(["boot", "explain", str(root)]) == 0
    out = capsys.readouterr().out
    assert "boots: Advanced > Linux (B)" in out
    assert main(["boot", "explain", str(root), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["resolution"]["id_path"] == "adv>lin-b"


def test_explain_image_reads_stage2_through_the_disk(
    disk_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["boot", "explain", str(disk_image), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    names = [stage["name"] for stage in document["stages"]]
    assert names[:3] == ["partition table", "stage 1 (boot.img in the MBR)", "stage 1.5 (core.img)"]
    core = dict(document["stages"][2]["facts"])
    assert core["prefix"] == "(hd0,msdos1)/boot/grub"
    assert document["disk"]["core"]["modules"] == ["biosdisk", "part_msdos", "fshelp", "ext2"]
    assert document["resolution"]["id_path"] == "adv>lin-b"


def test_set_default_and_reboot_once_inside_the_image(
    disk_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "copy.img"
    shutil.copyfile(disk_image, image)
    assert main(["boot", "set-default", "Advanced>Linux (C)", "--image", str(image)]) == 0
    out = capsys.readouterr().out
    assert "wrote saved_entry='adv>lin-c'" in out
    assert "next boot: Advanced > Linux (C)" in out
    env = grubenv.EnvBlock(_fstest_env(image))
    assert env.variables() == {"saved_entry": "adv>lin-c"}
    assert len(env.to_bytes()) == 1024
    assert main(["boot", "reboot-once", "lin-a", "--image", str(image), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["next_boot"]["id_path"] == "lin-a"
    assert grubenv.EnvBlock(_fstest_env(image)).variables()["next_entry"] == "lin-a"


def test_refusal_exits_nonzero_and_leaves_grubenv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _stage(tmp_path)
    before = (root / "boot/grub/grubenv").read_bytes()
    assert main(["boot", "set-default", "lin-c", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "does not name a menu entry" in err
    assert "'adv>lin-c'" in err
    assert (root / "boot/grub/grubenv").read_bytes() == before


def test_ineffective_set_default_says_what_to_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _stage(tmp_path)
    cfg = root / "boot/grub/grub.cfg"
    cfg.write_text(cfg.read_text().replace('"${saved_entry}"', '"0"'))
    code = main(["boot", "set-default", "adv>lin-c", "--root", str(root)])
    out = capsys.readouterr().out
    assert code == 1
    assert "NOT EFFECTIVE" in out
    assert "GRUB_DEFAULT=saved" in out


def test_resolve_with_explicit_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _stage(tmp_path)
    args = ["boot", "resolve", "--grubenv", str(root / "boot/grub/grubenv"),
            "--grub-cfg", str(root / "boot/grub/grub.cfg")]  # fmt: skip
    assert main(args) == 0
    assert "next boot: Advanced > Linux (B)" in capsys.readouterr().out


def test_env_invalid_parameter_and_listing_grub_editenv_style(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "env"
    assert main(["boot", "env", str(path), "set", "noequals"]) == 1
    assert "invalid parameter" in capsys.readouterr().err
    assert path.stat().st_size == 1024  # created implicitly, as grub-editenv does
    assert main(["boot", "env", str(path), "set", "a=1"]) == 0
    assert main(["boot", "env", str(path), "list"]) == 0
    assert capsys.readouterr().out == "a=1\n"


def _boot_parts(tmp_path: Path) -> tuple[Path, Path]:
    """The kernel and a probe initramfs for QEMU boots (cached by scripts/fetch-boot-assets)."""
    support.require_tool("qemu-system-x86_64", package="qemu-system-x86")
    if not Path("/usr/lib/grub/i386-pc/boot.img").is_file():
        support.require_tool("grub-bios-setup-missing", package="grub-pc-bin")
    from bootup.boot.initramfs import build_initramfs

    assets = Path("/var/cache/bootup-tests/boot-assets")
    if not (assets / "kernel-version").is_file():
        fetch = Path(__file__).resolve().parents[2] / "scripts/fetch-boot-assets"
        result = subprocess.run(["bash", str(fetch)], capture_output=True, check=False)
        if result.returncode != 0:
            message = "scripts/fetch-boot-assets failed"
            if support.IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(build_initramfs(busybox=assets / "busybox"))
    return assets / "vmlinuz", initrd


def _with_savedefault(cfg: str) -> str:
    """Add GRUB_SAVEDEFAULT=true's pieces the way 00_header and 10_linux write them."""
    function = (
        'function savedefault {\n  if [ -z "${boot_once}" ]; then\n'
        '    saved_entry="${chosen}"\n    save_env saved_entry\n  fi\n}\n'
    )
    lines = []
    for line in cfg.splitlines():
        lines.append(line)
        if line.lstrip().startswith("menuentry "):
            lines.append("\tsavedefault")
    return function + "\n".join(lines) + "\n"


@pytest.mark.e2e
@pytest.mark.slow
def test_qemu_reboot_once_written_by_bootup_then_savedefault_in_a_submenu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real GRUB reads what bootup wrote inside the image, and clears or keeps it as predicted.

    1. ``reboot-once adv>test-b --image``: the next boot is B, GRUB clears next_entry on disk,
       and the boot after is saved_entry's C again (what ``explain`` predicts each time).
    2. With GRUB_SAVEDEFAULT's ``savedefault`` in the entries, a one-shot into the submenu is
       saved for good: boot_once is not exported into the submenu's context (``explain``
       warns "one-shot-saved"), so the boot after is B again.
    """
    from bootup.boot import explain as chain
    from bootup.boot.image import MenuEntry, Submenu, build_image, render_grub_cfg
    from bootup.boot.qemu import boot

    kernel, initrd = _boot_parts(tmp_path)
    menu = (
        MenuEntry("Test Linux A", "test-a", "A"),
        Submenu(
            "Advanced options",
            "adv",
            (MenuEntry("Test Linux B", "test-b", "B"), MenuEntry("Test Linux C", "test-c", "C")),
        ),
    )

    def predicted(image: Path) -> str:
        entry = chain.explain(image).stage2.entry
        assert entry is not None
        return next(a for a in entry.linux_args if a.startswith("bootup.entry=")).split("=")[1]

    image = tmp_path / "once.img"
    build_image(image, kernel=kernel, initrd=initrd, menu=menu,
                grubenv={"saved_entry": "adv>test-c"})  # fmt: skip
    assert main(["boot", "reboot-once", "adv>test-b", "--image", str(image)]) == 0
    capsys.readouterr()
    for expected in ("B", "C"):
        assert predicted(image) == expected
        assert boot(image).entry == expected
    assert chain.explain(image).stage2.env is not None
    assert chain.explain(image).stage2.env.get("next_entry") == ""  # type: ignore[union-attr]

    cfg = _with_savedefault(
        render_grub_cfg(menu, kernel_path="@KERNEL@", initrd_path="@INITRD@", default="saved")
    )
    image = tmp_path / "saved.img"
    build_image(image, kernel=kernel, initrd=initrd, grub_cfg=cfg,
                grubenv={"saved_entry": "test-a", "next_entry": "adv>test-b"})  # fmt: skip
    report = chain.explain(image)
    assert "one-shot-saved" in {f.code for f in report.stage2.findings}
    assert predicted(image) == "B"
    assert boot(image).entry == "B"
    env = chain.explain(image).stage2.env
    assert env is not None
    assert env.get("saved_entry") == "adv>test-b"
    assert predicted(image) == "B"
    assert boot(image).entry == "B"


def test_missing_target_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["boot", "explain", str(tmp_path / "nope")]) == 1
    assert "no such directory or disk image" in capsys.readouterr().err
