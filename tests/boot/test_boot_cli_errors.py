"""``bootup boot`` given a missing, wrong-kind or garbage file: a clear error, never a traceback.

Every case runs the real CLI in its own process (``python -m bootup``), as a user would, and
reads what reached the terminal: the exit code, no ``Traceback``, and the path the user gave.
The table of missing-file cases is checked against the parser, so a new sub-verb without a
case fails here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootup.boot._inputs import BootFileError, BootFileNotFoundError, read_input
from bootup.cli import build_parser
from bootup.errors import BootFormatError

GRUB_CFG = """\
load_env
set default="${saved_entry}"
menuentry 'Linux (A)' --id lin-a {
  linux /boot/vmlinuz root=/dev/vda1
}
"""

#: A 1 KiB file that is not a grubenv: the signature line is wrong, the padding is right.
BAD_GRUBENV = b"not a grubenv at all\n" + b"#" * (1024 - 21)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bootup", "boot", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _assert_clear_failure(result: subprocess.CompletedProcess[str], path: Path | str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("bootup: "), result.stderr
    assert str(path) in result.stderr, result.stderr


def _leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every runnable sub-verb below ``parser``, as space-joined paths ("image run")."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                below = _leaves(sub, (*prefix, name))
                found |= below or {" ".join((*prefix, name))}
    return found


def _boot_parser() -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices["boot"]
            return parser
    raise AssertionError("no boot verb")


#: sub-verb -> its arguments with {m} (a path that does not exist), {d} (a directory that does
#: not exist, for outputs), {img} (an existing image) and {tmp}.
MISSING_CASES: dict[str, tuple[str, ...]] = {
    "explain": ("{m}",),
    "set-default": ("lin-a", "--image", "{m}"),
    "reboot-once": ("lin-a", "--image", "{m}"),
    "resolve": ("--grubenv", "{tmp}/no-grubenv", "--grub-cfg", "{m}"),
    "env": ("{d}/grubenv", "list"),
    "install-grub": ("{img}", "--core", "{m}"),
    "disk": ("{m}",),
    "partitions": ("{m}",),
    "cat": ("{m}", "/boot/grub/grub.cfg"),
    "kernel": ("{m}",),
    "initramfs list": ("{m}",),
    "initramfs build": ("{d}/initrd.img", "--compression", "none"),
    "image build": ("{tmp}/disk.img", "--kernel", "{m}", "--initrd", "{m}", "--entry", "a"),
    "image run": ("{m}",),
}


def test_the_missing_file_table_covers_every_boot_sub_verb() -> None:
    assert set(MISSING_CASES) == _leaves(_boot_parser())


@pytest.mark.parametrize("verb", sorted(MISSING_CASES))
def test_every_sub_verb_names_a_missing_file(verb: str, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(1 << 20))
    names = {
        "m": str(tmp_path / "missing.img"),
        "d": str(tmp_path / "no-such-dir"),
        "img": str(image),
        "tmp": str(tmp_path),
    }
    argv = [arg.format(**names) for arg in MISSING_CASES[verb]]
    result = _run(*verb.split(), *argv)
    named = names["d"] if any("{d}" in arg for arg in MISSING_CASES[verb]) else names["m"]
    _assert_clear_failure(result, named)
    assert "no such" in result.stderr.lower()  # "No such file or directory", "no such ... image"


def test_install_grub_with_a_missing_core_names_it_and_leaves_the_image(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    original = os.urandom(4096) + bytes(1 << 20)
    image.write_bytes(original)
    before = image.stat()
    core = tmp_path / "core.img"
    result = _run("install-grub", str(image), "--core", str(core))
    _assert_clear_failure(result, core)
    assert "core.img (--core)" in result.stderr
    core.write_bytes(bytes(2048))
    boot_img = tmp_path / "boot.img"
    result = _run("install-grub", str(image), "--core", str(core), "--boot-img", str(boot_img))
    _assert_clear_failure(result, boot_img)
    assert "boot.img (--boot-img)" in result.stderr
    assert image.read_bytes() == original
    after = image.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["core.img", "disk.img"]  # no temp


def test_image_run_names_a_missing_image_before_looking_for_qemu(tmp_path: Path) -> None:
    result = _run("image", "run", str(tmp_path / "missing.img"))
    _assert_clear_failure(result, tmp_path / "missing.img")
    assert "cannot read the disk image to boot: No such file or directory" in result.stderr


def test_a_directory_where_a_file_belongs_is_named(tmp_path: Path) -> None:
    for argv in (
        ("disk", str(tmp_path)),
        ("kernel", str(tmp_path)),
        ("image", "run", str(tmp_path)),
    ):
        result = _run(*argv)
        _assert_clear_failure(result, tmp_path)
        assert "directory" in result.stderr or "not a regular file" in result.stderr


def test_writes_into_a_missing_directory_name_the_target_not_a_temporary_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "nowhere" / "grubenv"
    for action in (("create",), ("set", "a=1"), ("list",)):
        result = _run("env", str(target), *action)
        _assert_clear_failure(result, target)
        assert ".tmp" not in result.stderr
        assert "cannot write" in result.stderr


def _bad_env_case(tmp_path: Path) -> tuple[Path, Path]:
    cfg = tmp_path / "my.cfg"
    cfg.write_text(GRUB_CFG)
    env = tmp_path / "my-grubenv"
    env.write_bytes(BAD_GRUBENV)
    return cfg, env


def test_resolve_bad_grubenv_names_the_given_file_and_says_load_env_fails(
    tmp_path: Path,
) -> None:
    cfg, env = _bad_env_case(tmp_path)
    result = _run("resolve", "--grubenv", str(env), "--grub-cfg", str(cfg))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (warning,) = [line for line in lines if "[grubenv-invalid]" in line]
    assert warning.startswith(f"warning [grubenv-invalid]: {env}: offset 0: ")
    assert "/boot/grub/grubenv" not in result.stdout
    assert "no grubenv to read" not in result.stdout  # the file is there; it is broken
    (note,) = [line for line in lines if "load_env:" in line]
    assert f"{env} is not a GRUB environment block" in note
    assert "invalid environment block" in note
    assert "next boot: Linux (A)" in result.stdout  # variables unset: entry 0, as GRUB does


def test_resolve_bad_grubenv_in_a_root_names_the_host_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "boot/grub").mkdir(parents=True)
    (root / "boot/grub/grub.cfg").write_text(GRUB_CFG)
    (root / "boot/grub/grubenv").write_bytes(BAD_GRUBENV)
    result = _run("resolve", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert f"warning [grubenv-invalid]: {root}/boot/grub/grubenv: offset 0" in result.stdout
    assert "no grubenv to read" not in result.stdout


def test_resolve_without_grubenv_still_says_there_is_none(tmp_path: Path) -> None:
    cfg, _ = _bad_env_case(tmp_path)
    result = _run("resolve", "--grubenv", str(tmp_path / "absent"), "--grub-cfg", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "load_env: no grubenv to read" in result.stdout
    assert "grubenv-invalid" not in result.stdout


def test_grub_cfg_syntax_error_names_the_given_file(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.cfg"
    cfg.write_bytes(b"menuentry 'x' {\n  linux $\xc2\n}\n")
    result = _run("resolve", "--grubenv", str(tmp_path / "absent"), "--grub-cfg", str(cfg))
    _assert_clear_failure(result, f"{cfg}:2: syntax error")


@pytest.fixture
def garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.bin"
    path.write_bytes(os.urandom(1024))
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ("explain", "{g}"),
        ("set-default", "x", "--image", "{g}"),
        ("resolve", "--grubenv", "{g}", "--grub-cfg", "{g}"),
        ("resolve", "--root", "{tmp}", "--default-grub", "{g}"),
        ("env", "{g}", "list"),
        ("env", "{g}", "set", "a=1"),
        ("install-grub", "{g}", "--core", "{g}"),
        ("cat", "{g}", "/x"),
        ("kernel", "{g}"),
        ("initramfs", "list", "{g}"),
        ("image", "build", "{tmp}/d.img", "--kernel", "{g}", "--initrd", "{g}", "--entry", "a"),
    ],
    ids=lambda argv: "-".join(a for a in argv if "{" not in a and not a.startswith("-")),
)
def test_garbage_files_are_refused_naming_the_file(
    argv: tuple[str, ...], garbage: Path, tmp_path: Path
) -> None:
    if "--default-grub" in argv:
        (tmp_path / "boot/grub").mkdir(parents=True)
        (tmp_path / "boot/grub/grub.cfg").write_text(GRUB_CFG)
        garbage.write_bytes(b"GRUB_DEFAULT=0\n|&;\n" + os.urandom(512))
    result = _run(*(a.format(g=garbage, tmp=tmp_path) for a in argv))
    _assert_clear_failure(result, garbage)


def test_disk_and_partitions_on_garbage_report_it_and_succeed(garbage: Path) -> None:
    for verb in ("disk", "partitions"):
        result = _run(verb, str(garbage))
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert f"Disk {garbage}: 1,024 bytes" in result.stdout
        assert "Disklabel type: none" in result.stdout


def test_boot_file_errors_keep_the_builtin_categories(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(BootFileNotFoundError) as caught:
        read_input(missing, "the kernel image")
    error = caught.value
    assert isinstance(error, FileNotFoundError)
    assert isinstance(error, BootFormatError)
    assert (error.path, error.role, error.errno) == (str(missing), "the kernel image", 2)
    assert str(error) == f"{missing}: cannot read the kernel image: No such file or directory"
    with pytest.raises(BootFileError) as directory:
        read_input(tmp_path, "core.img (--core)")
    assert not isinstance(directory.value, FileNotFoundError)
    assert str(directory.value) == f"{tmp_path}: cannot read core.img (--core): Is a directory"
