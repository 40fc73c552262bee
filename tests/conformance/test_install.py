"""``bootup enable|disable|mask|...`` against ``systemctl --root`` (systemd 252), step by step.

Each scenario builds the same tree twice, runs each command with the real systemctl on one
copy and with bootup on the other, then compares stdout, stderr (the root directory replaced
by ``ROOT``), the exit code and the resulting symlink tree after every step.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import support
from bootup.cli import main

pytestmark = pytest.mark.conformance

LIB = "usr/lib/systemd/system"
FILES: dict[str, str] = {
    f"{LIB}/a.service": "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\nRequiredBy=foo.target\nAlias=www.service\nAlso=db.service\n",
    f"{LIB}/db.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    f"{LIB}/getty@.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=getty.target\nDefaultInstance=tty1\n",
    f"{LIB}/t@.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    f"{LIB}/st.service": "[Service]\nExecStart=/bin/true\n",
    f"{LIB}/ind.service": "[Service]\nExecStart=/bin/true\n[Install]\nAlso=st2.service\n",
    f"{LIB}/st2.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    f"{LIB}/al.service": "[Service]\nExecStart=/bin/true\n[Install]\nAlias=onlyal.service\n",
    f"{LIB}/multi-user.target": "[Unit]\nDescription=mu\n",
    f"{LIB}/graphical.target": "[Unit]\nDescription=g\n",
    f"{LIB}/getty.target": "[Unit]\nDescription=getty\n",
    "etc/systemd/system/e.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\nAlias=eal.service\n",
    "opt/ext.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    "run/systemd/generator/gen.service": "[Service]\nExecStart=/bin/true\n",
    "run/systemd/transient/tr.service": "[Service]\nExecStart=/bin/true\n",
    "run/systemd/generator.late/late.service": "[Service]\nExecStart=/bin/true\n",
    "usr/local/lib/systemd/system/local.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\n",
    f"{LIB}/loop1.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\nAlso=loop2.service\n",
    f"{LIB}/loop2.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\nAlso=loop1.service\n",
    f"{LIB}/tal@.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\nAlias=talias@.service\nDefaultInstance=one\n",
    f"{LIB}/req@.service": "[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=getty.target\n",
    f"{LIB}/bad.service": "[Service\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    f"{LIB}/rt.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    f"{LIB}/lk.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    "opt/lk2.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    f"{LIB}/spec.service": "[Service]\nExecStart=/bin/true\n[Install]\n"
    "WantedBy=multi-user.target\nAlias=%p-alias.service\n",
    # Links made by hand before the commands run: "@" + path -> target.
    "@run/systemd/system/multi-user.target.wants/rt.service": "/usr/lib/systemd/system/rt.service",
    "@run/systemd/system/st.service": "/dev/null",
    "@etc/systemd/system/lk2.service": "/opt/lk2.service",
    "@etc/systemd/system/handmade.service": "/usr/lib/systemd/system/lk.service",
}
UNITS = [
    "a.service",
    "www.service",
    "db.service",
    "getty@.service",
    "getty@tty1.service",
    "getty@tty5.service",
    "t@.service",
    "t@x.service",
    "st.service",
    "ind.service",
    "st2.service",
    "al.service",
    "onlyal.service",
    "e.service",
    "eal.service",
    "gen.service",
    "multi-user.target",
    "graphical.target",
    "default.target",
]

SCENARIOS: dict[str, list[str]] = {
    "wantedby-requiredby-alias-also": [
        "enable a.service",
        "is-enabled a.service",
        "is-enabled www.service",
        "is-enabled db.service",
        "disable a.service",
        "is-enabled a.service",
    ],
    "templates": [
        "enable getty@.service",
        "enable getty@tty5.service",
        "is-enabled getty@.service",
        "is-enabled getty@tty5.service",
        "is-enabled getty@tty3.service",
        "enable t@.service",
        "enable t@x.service t@y.service",
        "is-enabled t@.service",
        "disable t@x.service",
        "disable getty@.service",
    ],
    "mask-unmask": [
        "mask db.service",
        "is-enabled db.service",
        "mask db.service",
        "enable db.service",
        "disable db.service",
        "unmask db.service",
        "unmask db.service",
        "mask e.service",
    ],
    "default-target": [
        "get-default",
        "set-default graphical.target",
        "get-default",
        "set-default graphical.target",
        "set-default multi-user.target",
        "is-enabled default.target",
        "set-default nope.target",
    ],
    "more-states": [
        "is-enabled tr.service",
        "is-enabled late.service",
        "enable local.service",
        "is-enabled local.service",
        "is-enabled rt.service",
        "is-enabled st.service",
        "is-enabled lk2.service",
        "is-enabled lk.service",
        "is-enabled handmade.service",
        "is-enabled bad.service",
        "enable loop1.service",
        "is-enabled loop2.service",
        "disable loop2.service",
        "enable tal@.service",
        "is-enabled talias@one.service",
        "enable tal@two.service",
        "enable req@x.service",
        "enable spec.service",
        "disable spec.service",
        "disable lk.service",
        "unmask st.service",
        "is-enabled st.service",
        "disable rt.service",
        "is-enabled rt.service",
        "list-unit-files",
    ],
    "states": [
        "enable st.service",
        "enable ind.service",
        "enable al.service",
        "enable e.service",
        "enable /opt/ext.service",
        "enable nope.service",
        "disable nope.service",
        "reenable db.service",
        *(f"is-enabled {u}" for u in UNITS),
        "is-enabled nope.service",
        "is-enabled a.service nope.service st.service",
        "is-enabled st.service a.service",
        "mask a.service nope.service",
        "unmask nope.service a.service",
        "list-unit-files",
        "list-unit-files *.target",
    ],
}


def build(root: Path) -> None:
    for rel, text in FILES.items():
        if rel.startswith("@"):
            link = root / rel[1:]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(text)
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)


def tree(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for base in ("etc", "run"):
        for dirpath, dirs, files in os.walk(root / base):
            for name in dirs + files:
                p = Path(dirpath) / name
                rel = str(p.relative_to(root))
                out[rel] = os.readlink(p) if p.is_symlink() else ("dir" if p.is_dir() else "file")
    return out


def run_systemctl(root: Path, command: str) -> tuple[int, str, str]:
    tool = support.require_tool("systemctl", package="systemd")
    r = subprocess.run(
        [tool, f"--root={root}", "--no-pager", *command.split()],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8"},
    )
    return r.returncode, r.stdout.replace(str(root), "ROOT"), r.stderr.replace(str(root), "ROOT")


def run_bootup(
    root: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    verb, *rest = command.split()
    rc = main([verb, f"--root={root}", *rest])
    cap = capsys.readouterr()
    return rc, cap.out.replace(str(root), "ROOT"), cap.err.replace(str(root), "ROOT")


FILE_WARNING = re.compile(r"^/\S+:\d+: ")


def normalise(text: str) -> list[str]:
    """The allowed differences, all of order or repetition, never of content.

    systemctl removes links in readdir order (compared as a set), and repeats a warning
    about a unit file each time it happens to re-read the file (compared once).
    """
    lines = text.splitlines()
    removed = sorted(line for line in lines if line.startswith("Removed "))
    seen: set[str] = set()
    kept: list[str] = []
    for line in lines:
        if line.startswith("Removed "):
            continue
        if FILE_WARNING.match(line.replace("ROOT/", "/")):
            if line in seen:
                continue
            seen.add(line)
        kept.append(line)
    return kept + removed


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_links_messages_and_states_as_systemctl(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs_root, ours_root = tmp_path / "systemctl", tmp_path / "bootup"
    build(theirs_root)
    build(ours_root)
    for command in SCENARIOS[scenario]:
        theirs = run_systemctl(theirs_root, command)
        ours = run_bootup(ours_root, command, capsys)
        assert (ours[0], ours[1], normalise(ours[2])) == (
            theirs[0],
            theirs[1],
            normalise(theirs[2]),
        ), command
        assert tree(ours_root) == tree(theirs_root), command


UNIT_NAMES = ["a.service", "b.service", "c.socket", "t@.service", "u.target"]
INSTALL_LINES = st.sampled_from(
    [
        "WantedBy=multi-user.target",
        "WantedBy=u.target",
        "RequiredBy=graphical.target",
        "RequiredBy=missing.target",
        "Alias=alias-%p.service",
        "Alias=other.service",
        "Also=b.service",
        "Also=c.socket",
        "Also=missing.service",
        "DefaultInstance=x",
        "WantedBy=",
    ]
)
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["enable", "disable", "reenable", "mask", "unmask", "is-enabled"]),
        st.sampled_from([*UNIT_NAMES, "t@y.service", "missing.service"]),
    ),
    min_size=1,
    max_size=5,
)


@pytest.mark.slow
# No shrinking: each step runs systemctl, and a failing example is readable as it is.
@settings(
    max_examples=20,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    installs=st.fixed_dictionaries(
        {name: st.lists(INSTALL_LINES, max_size=4) for name in UNIT_NAMES}
    ),
    operations=OPERATIONS,
)
def test_random_install_sections_and_operations(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    installs: dict[str, list[str]],
    operations: list[tuple[str, str]],
) -> None:
    base = tmp_path_factory.mktemp("random")
    theirs_root, ours_root = base / "systemctl", base / "bootup"
    for root in (theirs_root, ours_root):
        lib = root / LIB
        lib.mkdir(parents=True)
        (root / "etc/systemd/system").mkdir(parents=True)
        for name in ("multi-user.target", "graphical.target"):
            (lib / name).write_text("[Unit]\n")
        for name, lines in installs.items():
            body = (
                "[Socket]\nListenStream=/run/x\n"
                if name.endswith(".socket")
                else (
                    "[Unit]\n" if name.endswith(".target") else "[Service]\nExecStart=/bin/true\n"
                )
            )
            (lib / name).write_text(body + "[Install]\n" + "".join(f"{x}\n" for x in lines))
    for verb, unit in operations:
        command = f"{verb} {unit}"
        theirs = run_systemctl(theirs_root, command)
        ours = run_bootup(ours_root, command, capsys)
        assert (ours[0], ours[1], normalise(ours[2])) == (
            theirs[0],
            theirs[1],
            normalise(theirs[2]),
        ), (command, installs)
        assert tree(ours_root) == tree(theirs_root), (command, installs)
