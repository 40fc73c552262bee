"""``bootup escape`` against the real systemd-escape: same stdout bytes, same exit code.

Each case runs the real tool and bootup's implementation in-process; stderr is compared
too, because the messages are part of systemd-escape's interface (scripts grep them), except
for getopt's own wording of an unknown option, which differs by program name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import pytest

import support
from bootup.cli import main

LONG = "a" * 243
CORPUS: list[list[str]] = [
    # plain escaping
    ["a-b/c d"],
    ["foo"],
    [".hidden"],
    ["..x"],
    [""],
    ["ü/ä"],
    ["grüße ✓ \U0001f600"],
    ["a\\b"],
    ["a:b_c.d@e"],
    ["a", "b", "c"],
    ["/"],
    ["//"],
    ["tab\there"],
    ["new\nline"],
    ["per%cent", "dol$lar", "qu'ote\"d"],
    # --path
    ["--path", "/"],
    ["--path", ""],
    ["--path", "//a//b/"],
    ["--path", "a/b"],
    ["--path", "./a"],
    ["--path", "."],
    ["--path", "/a/../b"],
    ["--path", "/a/./b"],
    ["--path", "/.x"],
    ["--path", "/a b"],
    ["--path", ".."],
    ["--path", "/a/b/.."],
    ["--path", "/var/lib/my-data"],
    ["--path", "/" + "a" * 255],
    ["--path", "/" + "a" * 256],
    ["-p", "/dev/sda1", "/home/user name"],
    # --template / --suffix
    ["--template=foo@.service", "x/y"],
    ["--template=foo@.service", ""],
    ["--template=foo.service", "x"],
    ["--template=foo@bar.service", "x"],
    ["--template=@.service", "x"],
    ["--template=foo@.bogus", "x"],
    ["--template=foo@.service", "a@b"],
    ["--template=foo@.service", LONG],
    ["--template=foo@.service", LONG + "a"],
    ["--template=foo@.service", "-p", "/"],
    ["--template", "systemd-fsck@.service", "--path", "/dev/disk/by-uuid/1234-ABCD"],
    ["--suffix=mount", "/a"],
    ["--suffix=mount", "-p", "/home"],
    ["--suffix=bogus", "a"],
    ["--suffix=mount", "--template=a@.service", "x"],
    # --unescape
    ["-u", "a\\x2db-c\\x20d"],
    ["-u", "a\\x2"],
    ["-u", "a\\xzz"],
    ["-u", "a\\q"],
    ["-u", "a\\X2fb"],
    ["-u", "a\\x2Fb"],
    ["-u", "a\\x00b"],
    ["-u", "--", "-a-"],
    ["-u", "ü"],
    ["-u", ""],
    ["-u", "a", "b\\q"],
    ["-u", "-p", "var-lib"],
    ["-u", "-p", "-"],
    ["-u", "-p", "a--b"],
    ["-u", "-p", ""],
    ["-u", "-p", "a-"],
    ["-u", "-p", "\\x2e"],
    ["-u", "-p", "a\\x2d-b"],
    ["-u", "--template=foo@.service", "foo@a-b.service"],
    ["-u", "--template=foo@.service", "bar@a.service"],
    ["-u", "--template=foo@.service", "foo@.service"],
    ["-u", "-p", "--template=foo@.service", "foo@a\\x2db.service"],
    ["-u", "--instance", "foo@a\\x2db.service"],
    ["-u", "--instance", "foo@.service"],
    ["-u", "--instance", "foo.service"],
    ["-u", "--instance", "not a unit"],
    ["-u", "-p", "--instance", "foo@var-lib.service"],
    # --mangle
    ["-m", "foo"],
    ["-m", "/dev/sda"],
    ["-m", "//dev//sda"],
    ["-m", "/dev/"],
    ["-m", "/dev"],
    ["-m", "/dev/."],
    ["-m", "/sys"],
    ["-m", "/sys/a b"],
    ["-m", "/./dev/foo"],
    ["-m", "/../dev/sda"],
    ["-m", "/dev/sda/../x"],
    ["-m", "/home/x y"],
    ["-m", "/"],
    ["-m", "a b@c"],
    ["-m", "foo.service", "foo@.service", "foo@bar.socket"],
    ["-m", ""],
    ["-m", "foo*"],
    ["-m", "a/b"],
    ["-m", "x.bogus"],
    ["-m", "@foo"],
    ["-m", ".foo"],
    ["-m", "foo."],
    ["-m", "foo@"],
    ["-m", "a\\b"],
    ["-m", "ü"],
    ["-m", "a" * 246],
    ["-m", "a" * 247],
    ["-m", "a" * 248],
    ["-m", "/" + "a" * 300],
    # usage errors
    ["--instance", "a"],
    ["-p", "-m", "a"],
    ["--suffix=service", "-u", "a"],
    ["--template=foo@.service", "--instance", "-u", "foo@x.service"],
    ["--template=foo@.service", "-m", "x"],
    [],
    ["--unesc", "a\\x41"],
]


def run_real(tool: str, args: list[str]) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "SYSTEMD_LOG_COLOR": "0", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run([tool, *args], capture_output=True, env=env, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("args", CORPUS, ids=repr)
def test_escape_matches_systemd_escape(
    args: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    tool = support.require_tool("systemd-escape", package="systemd")
    rc, out, err = run_real(tool, args)
    our_rc = main(["escape", *args])
    captured = capsysbinary.readouterr()
    assert (our_rc, captured.out) == (rc, out)
    assert captured.err == err


@pytest.mark.parametrize("args", [["--bogus", "a"], ["-x", "a"], ["--suffix"]], ids=repr)
def test_bad_options_fail_with_exit_code_1(
    args: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    tool = support.require_tool("systemd-escape", package="systemd")
    rc, out, _ = run_real(tool, args)
    assert main(["escape", *args]) == rc == 1
    captured = capsysbinary.readouterr()
    assert captured.out == out == b""
    assert captured.err


def test_help_exits_0(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["escape", "--help"]) == 0
    assert b"--template=TEMPLATE" in capsysbinary.readouterr().out


def test_cli_entry_point_round_trips_non_utf8_bytes() -> None:
    tool = support.require_tool("systemd-escape", package="systemd")
    arg = b"caf\xe9/x".decode("utf-8", "surrogateescape")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    real = subprocess.run([tool, arg], capture_output=True, env=env, check=True)
    ours = subprocess.run(
        [sys.executable, "-m", "bootup", "escape", arg],
        capture_output=True,
        env=env,
        check=True,
    )
    assert ours.stdout == real.stdout == b"caf\\xe9-x\n"


_ALPHABET = ["a", "Z", "0", "-", "/", ".", "@", "\\", ":", "_", " ", "é", "\x01", "*", "x", "%"]


def _random_strings(seed: int, count: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def _real_batch(tool: str, options: list[str], words: list[str]) -> list[tuple[int, bytes]]:
    """Run the real tool on words in chunks; a chunk with a failure is redone word by word.

    Results never contain a space (it is escaped), so a chunk's output splits cleanly.
    """
    results: list[tuple[int, bytes]] = []
    for start in range(0, len(words), 8):
        chunk = words[start : start + 8]
        rc, out, _ = run_real(tool, [*options, "--", *chunk])
        pieces = out.rstrip(b"\n").split(b" ")
        if rc == 0 and len(pieces) == len(chunk):
            results.extend((0, piece + b"\n") for piece in pieces)
            continue
        for word in chunk:
            rc, out, _ = run_real(tool, [*options, "--", word])
            results.append((rc, out))
    return results


@pytest.mark.parametrize(
    "options",
    [[], ["--mangle"], ["--path"], ["--template=t@.service"], ["--suffix=socket"]],
    ids=repr,
)
def test_random_strings_escape_like_systemd_escape(
    options: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    tool = support.require_tool("systemd-escape", package="systemd")
    words = _random_strings(zlib.crc32(repr(options).encode()), 80)
    expected = _real_batch(tool, options, words)
    for word, (rc, out) in zip(words, expected, strict=True):
        our_rc = main(["escape", *options, "--", word])
        captured = capsysbinary.readouterr()
        assert (our_rc, captured.out) == (rc, out), word


def test_random_escapes_unescape_like_systemd_escape(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    import random

    tool = support.require_tool("systemd-escape", package="systemd")
    rng = random.Random(7)
    pieces = ["a", "-", "\\x2d", "\\x41", "\\xff", "\\x", "\\", "\\q", "x", "\\xc3\\xa9", "."]
    words = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(80)]
    for options in (["-u"], ["-u", "-p"]):
        expected = _real_batch(tool, options, words)
        for word, (rc, out) in zip(words, expected, strict=True):
            our_rc = main(["escape", *options, "--", word])
            captured = capsysbinary.readouterr()
            assert (our_rc, captured.out) == (rc, out), (options, word)
