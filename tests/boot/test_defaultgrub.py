"""/etc/default/grub parsing compared with /bin/sh, which is what grub-mkconfig uses to read it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import support
from bootup.boot import defaultgrub

CASES = [
    'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n',
    "GRUB_DEFAULT=saved\nGRUB_SAVEDEFAULT=true\n",
    "GRUB_DEFAULT='Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1'\n",
    'GRUB_DEFAULT="gnulinux-advanced-abc>gnulinux-6.1.0-25-amd64-advanced-abc"\n',
    "# comment\n\nexport GRUB_TIMEOUT=10   # trailing comment\n",
    "A=one\nB=\"$A two ${A}\"\nC='$A'\nD=x\\ y\\$z\n",
    'GRUB_CMDLINE_LINUX="a \\"quoted\\" \\\\ back \\$dollar"\n',
    'GRUB_X="multi\nline"\nGRUB_Y=con\\\ntinued\n',
    "GRUB_A=1; GRUB_B=2\nGRUB_C=a'b c'd\"e f\"\n",
    "GRUB_DEFAULT=0\nGRUB_DEFAULT=2\n",
]


def _sh_values(path: Path, names: list[str]) -> dict[str, str]:
    sh = support.require_tool("sh", package="dash")
    script = f". {path}; " + "; ".join(f"printf '%s\\0' \"${name}\"" for name in names)
    out = subprocess.run([sh, "-c", script], capture_output=True, check=True).stdout
    values = out.decode().split("\0")[:-1]
    return dict(zip(names, values, strict=True))


@pytest.mark.conformance
@pytest.mark.parametrize("text", CASES)
def test_values_match_what_sh_sources(text: str, tmp_path: Path) -> None:
    path = tmp_path / "grub"
    path.write_text(text)
    parsed = defaultgrub.load(path)
    names = sorted(parsed.settings)
    assert names
    assert parsed.as_dict() == _sh_values(path, names)


def test_command_substitution_is_kept_and_flagged() -> None:
    parsed = defaultgrub.parse(
        "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nGRUB_X=$(uname -r)\n"
    )
    distributor = parsed.settings["GRUB_DISTRIBUTOR"]
    assert not distributor.exact
    assert distributor.value == "`lsb_release -i -s 2> /dev/null || echo Debian`"
    assert not parsed.settings["GRUB_X"].exact
    assert len(parsed.notes) == 2


def test_non_assignments_are_noted_not_run() -> None:
    parsed = defaultgrub.parse("GRUB_A=1\necho hello\nGRUB_B=2\n")
    assert parsed.as_dict() == {"GRUB_A": "1", "GRUB_B": "2"}
    assert parsed.notes == ["/etc/default/grub:2: not an assignment, not evaluated: echo hello"]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("GRUB_A=1\nGRUB_B='open\n", 2, "a closing single quote"),
        ('GRUB_A="open\n', 1, "a closing double quote"),
        ("GRUB_DEFAULT=adv>entry\n", 1, "a plain assignment"),
    ],
)
def test_errors_name_line_and_expectation(text: str, line: int, expected: str) -> None:
    with pytest.raises(defaultgrub.DefaultGrubError) as info:
        defaultgrub.parse(text, "dg")
    assert info.value.line == line
    assert info.value.expected == expected


@pytest.mark.parametrize(
    ("value", "baked"),
    [("", "0"), ("saved", "${saved_entry}"), ("2", "2"), ("'1>2'", "1>2")],
)
def test_predicted_default(value: str, baked: str) -> None:
    assert defaultgrub.predicted_default(defaultgrub.parse(f"GRUB_DEFAULT={value}\n")) == baked
    assert defaultgrub.predicted_default(defaultgrub.parse("GRUB_TIMEOUT=1\n")) == "0"


@given(st.text(alphabet=st.sampled_from(list("GRUB_=ab '\"\\$`#;\n{}()")), max_size=80))
def test_fuzz_only_clear_errors(text: str) -> None:
    try:
        defaultgrub.parse(text)
    except defaultgrub.DefaultGrubError as exc:
        assert exc.line >= 1  # noqa: PT017
