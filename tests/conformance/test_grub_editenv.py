"""grubenv edits compared byte for byte with the real ``grub-editenv`` (Debian grub-common).

The expected bytes always come from the tool: each random sequence of set/unset operations
is applied once with ``grub-editenv`` and once with :mod:`bootup.boot.grubenv`, and after
every step the tool's file and our block, the ``list`` outputs and the success/failure of the
step must agree; some blocks are also saved through the atomic writer and read back by the
tool. The only allowed difference is the error text ("environment block too small" versus
bootup's message naming offset, expected and found).
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

import support
from bootup.boot import grubenv
from bootup.cli import main

pytestmark = pytest.mark.conformance

NAMES = ("saved_entry", "next_entry", "a", "ab", "kernelopts", "x_1", "boot_once", "saved")
ALPHABET = "abcXYZ019 >=-_/\\\n\t$\"'{}#"


def _random_value(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.1:
        return ""
    if kind < 0.2:
        return "".join(rng.choice("\\\n") for _ in range(rng.randint(1, 30)))
    if kind < 0.3:
        return "v" * rng.randint(100, 700)  # fills the block: exercises "too small"
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60)))


def _random_op(rng: random.Random) -> tuple[str, list[str]]:
    if rng.random() < 0.3:
        return "unset", rng.sample(NAMES, rng.randint(1, 2))
    count = rng.randint(1, 3)
    return "set", [f"{rng.choice(NAMES)}={_random_value(rng)}" for _ in range(count)]


def _tool(editenv: str, path: Path, action: str, items: list[str]) -> bool:
    result = subprocess.run([editenv, str(path), action, *items], capture_output=True, check=False)
    return result.returncode == 0


def _ours(block: grubenv.EnvBlock, action: str, items: list[str]) -> grubenv.EnvBlock | None:
    """Apply one grub-editenv command to a copy of ``block``; ``None`` if it is refused.

    Like grub-editenv, a refused command changes nothing (the tool exits before writing).
    """
    edited = grubenv.EnvBlock(block.to_bytes())
    try:
        for item in items:
            if action == "set":
                name, _sep, value = item.partition("=")
                edited.set(name, value)
            else:
                edited.unset(item)
    except grubenv.GrubenvFullError:
        return None
    return edited


def _list(editenv: str, path: Path) -> bytes:
    return subprocess.run([editenv, str(path), "list"], capture_output=True, check=True).stdout


@pytest.mark.slow
def test_300_random_sequences_are_byte_identical(tmp_path: Path) -> None:
    editenv = support.require_tool("grub-editenv", package="grub-common")
    rng = random.Random(20260530)
    steps = 0
    refusals = 0
    for sequence in range(300):
        theirs = tmp_path / f"theirs-{sequence}"
        assert _tool(editenv, theirs, "create", [])
        ours = grubenv.EnvBlock.create()
        assert ours.to_bytes() == theirs.read_bytes()
        for _ in range(rng.randint(1, 6)):
            action, items = _random_op(rng)
            ok_theirs = _tool(editenv, theirs, action, items)
            edited = _ours(ours, action, items)
            context = f"sequence {sequence}, {action} {items!r}"
            assert (edited is not None) == ok_theirs, context
            ours = edited or ours
            assert ours.to_bytes() == theirs.read_bytes(), context
            steps += 1
            refusals += not ok_theirs
        assert ours.listing() == _list(editenv, theirs)
        if sequence % 50 == 0:  # the file path too: atomic save, then the tool reads it
            mine = tmp_path / f"ours-{sequence}"
            grubenv.save(ours, mine)
            assert mine.read_bytes() == theirs.read_bytes()
            assert _list(editenv, mine) == _list(editenv, theirs)
    # The generator must really have exercised the "block full" path, or the test is weak.
    assert refusals > 0
    assert steps >= 300


def test_list_output_matches_for_escapes_and_hand_edited_blocks(tmp_path: Path) -> None:
    editenv = support.require_tool("grub-editenv", package="grub-common")
    body = (
        grubenv.SIGNATURE
        + b"# a comment line\n"
        + b"a=1\n"
        + b"b=x\\\\y\\\nz\n"
        + b"a=2\n"
        + b"c=has=equals\n"
    )
    path = tmp_path / "env"
    path.write_bytes(body + b"#" * (1024 - len(body)))
    block = grubenv.load(path)
    assert block.listing() == _list(editenv, path)
    assert block.variables() == {"a": "2", "b": "x\\y\nz", "c": "has=equals"}


def test_broken_block_lists_what_grub_reads_and_names_the_offset(tmp_path: Path) -> None:
    editenv = support.require_tool("grub-editenv", package="grub-common")
    body = grubenv.SIGNATURE + b"a=1\nnoequals\nb=2\n"
    path = tmp_path / "env"
    path.write_bytes(body + b"#" * (1024 - len(body)))
    block = grubenv.load(path)
    assert block.listing() == _list(editenv, path)
    damage = block.damage()
    assert damage is None  # 'noequals\nb' is read as one odd name, exactly as GRUB does
    truncated = grubenv.SIGNATURE + b"a=1\nb=unterminated"
    path.write_bytes(truncated)
    assert grubenv.load(path).listing() == _list(editenv, path) == b"a=1\n"
    damage = grubenv.load(path).damage()
    assert damage is not None
    assert damage.offset == len(grubenv.SIGNATURE) + 4
    # grub-editenv refuses to set on it; so do we, with the spot named.
    assert not _tool(editenv, path, "set", ["c=1"])
    with pytest.raises(grubenv.GrubenvError, match=r"offset \d+: broken environment block"):
        grubenv.load(path).set("c", "1")


def test_cli_env_is_a_drop_in(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    editenv = support.require_tool("grub-editenv", package="grub-common")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for args in (["set", "saved_entry=adv>lin-b", "x=a\\b"], ["unset", "x"], ["set", "y="]):
        assert main(["boot", "env", str(ours), *args]) == 0
        assert _tool(editenv, theirs, args[0], args[1:])
        assert ours.read_bytes() == theirs.read_bytes()
    capsysbinary.readouterr()
    assert main(["boot", "env", str(ours), "list"]) == 0
    assert capsysbinary.readouterr().out == _list(editenv, theirs)
    assert main(["boot", "env", str(ours), "create"]) == 0
    assert _tool(editenv, theirs, "create", [])
    assert ours.read_bytes() == theirs.read_bytes()
