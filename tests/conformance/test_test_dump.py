"""Dependencies with origins, compared with the dump of ``systemd --test`` (systemd 252)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import support
from bootup.units.dependencies import load_graph
from bootup.units.loader import Loader
from bootup.units.model import DependencyType
from bootup.units.paths import search_path

pytestmark = pytest.mark.conformance

STUBS = ("sysinit", "basic", "shutdown", "sockets", "timers", "paths", "slices", "local-fs")
KINDS = {t.value for t in DependencyType}
# Units the host's mounts and cgroups add to systemd's dump; not ours to model.
NOISE = re.compile(r"\.(mount|scope|device|swap|automount)$|^(local-fs-pre|umount|swap)\.target$")
TAGS = re.compile(r"^(origin|destination)-(file|default|implicit)$")

Edges = set[tuple[str, str, str, str]]

SCENARIOS: dict[str, tuple[str, dict[str, str]]] = {
    "c10-defaults": (
        "t.target",
        {
            "t.target": "[Unit]\nWants=x.service y.service x.socket x.timer z.timer x.path\n",
            "x.service": "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n",
            "y.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n",
            "x.socket": "[Socket]\nListenStream=/run/bootup-x.sock\n",
            "x.timer": "[Timer]\nOnCalendar=daily\n",
            "z.timer": "[Timer]\nOnBootSec=5\n",
            "z.service": "[Service]\nExecStart=/bin/true\n",
            "x.path": "[Path]\nPathExists=/etc/hostname\n",
        },
    ),
    "c12-no-reset": (
        "a.service",
        {
            "a.service": "[Unit]\nAfter=b.service c.service\n[Service]\nExecStart=/bin/true\n",
            "a.service.d/10.conf": "[Unit]\nAfter=\nAfter=d.service\nRequires=b.service\n",
            "b.service": "[Service]\nExecStart=/bin/true\n",
        },
    ),
    "c13-template": (
        "tpl@a\\x2db-c.service",
        {
            "tpl@.service": "[Unit]\nWants=dep@%i.service\n[Service]\nExecStart=/bin/echo %I\n",
            "dep@.service": "[Service]\nExecStart=/bin/true\n",
        },
    ),
    "c14-link-dirs": (
        "a.service",
        {
            "a.service": "[Service]\nExecStart=/bin/true\n",
            "b.service": "[Service]\nExecStart=/bin/true\n",
            "c.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n",
            "@a.service.wants/b.service": "b.service",
            "@a.service.requires/c.service": "c.service",
        },
    ),
    "refused-extras-namespaces": (
        "t.target",
        {
            "t.target": "[Unit]\nWants=r.service e.service\n",
            "r.service": "[Unit]\nJoinsNamespaceOf=e.service\nUpholds=e.service\n"
            "[Service]\nType=dbus\nExecStart=/bin/true\n",
            "e.service": "[Unit]\nPropagatesReloadTo=r.service\nOnSuccess=r.service\n"
            "[Service]\nExecStart=/bin/true\nSockets=e.socket\nPrivateTmp=yes\n"
            "StateDirectory=e\nStandardOutput=null\nStandardError=null\n",
            "e.socket": "[Socket]\nListenStream=/run/bootup-e.sock\n",
        },
    ),
    "slices-dbus-accept": (
        "t.target",
        {
            "t.target": "[Unit]\nWants=d.service my-sub.slice acc.socket m.service\n",
            "d.service": "[Service]\nType=dbus\nBusName=org.example.X\nExecStart=/bin/true\n",
            "my-sub.slice": "[Slice]\n",
            "acc.socket": "[Socket]\nListenStream=/run/bootup-acc.sock\nAccept=yes\n",
            "acc@.service": "[Service]\nExecStart=/bin/true\n",
            "m.service": "[Unit]\nBindsTo=d.service\nPartOf=t.target\nConflicts=x.service\n"
            "OnFailure=d.service\n[Service]\nExecStart=/bin/true\nSlice=my-sub.slice\n",
            "x.service": "[Service]\nExecStart=/bin/true\n",
        },
    ),
}


@pytest.fixture
def unit_dir() -> Iterator[Path]:
    # Readable by `nobody`, which systemd --test must run as.
    path = Path(tempfile.mkdtemp(prefix="bootup-dump-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build(directory: Path, files: dict[str, str]) -> None:
    for name in STUBS:
        (directory / f"{name}.target").write_text(f"[Unit]\nDescription={name}\n")
    (directory / "multi-user.target").write_text("[Unit]\nRequires=basic.target\n")
    for name, text in files.items():
        if name.startswith("@"):
            link = directory / name[1:]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"../{text}")
            continue
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for root, dirs, names in os.walk(directory):
        for entry in dirs + names:
            p = Path(root) / entry
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() else 0o644)


def systemd_dump(directory: Path, unit: str) -> tuple[dict[str, Edges], dict[str, list[str]]]:
    support.require_tool("runuser", package="util-linux")
    systemd = support.require_tool("/lib/systemd/systemd", package="systemd")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "SYSTEMD_UNIT_PATH": str(directory),
        "SYSTEMD_LOG_TARGET": "console",
        "SYSTEMD_LOG_LEVEL": "debug",
    }
    out = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            systemd,
            "--test",
            "--system",
            f"--unit={unit}",
            "--no-pager",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    edges: dict[str, Edges] = {}
    dropins: dict[str, list[str]] = {}
    current = None
    for line in (out.stdout + out.stderr).splitlines():
        m = re.match(r"^\t-> Unit (.+):$", line)
        if m:
            current = m.group(1)
            edges[current] = set()
            dropins[current] = []
            continue
        if current is None:
            continue
        m = re.match(r"^\t\tDropIn Path: (.+)$", line)
        if m:
            dropins[current].append(m.group(1))
        m = re.match(r"^\t\t(\w+): (\S+) \(([^)]*)\)$", line)
        if m and m.group(1) in KINDS:
            for tag in m.group(3).split():
                if TAGS.match(tag):
                    edges[current].add((current, m.group(1), m.group(2), tag))
    assert edges, out.stdout[-2000:] + out.stderr[-2000:]
    return edges, dropins


def bootup_edges(directory: Path, unit: str) -> dict[str, Edges]:
    loader = Loader(search_path(environ={"SYSTEMD_UNIT_PATH": str(directory)}))
    graph = load_graph(loader, [unit])
    out: dict[str, Edges] = {}
    for name, u in graph.items():
        out[name] = {
            (
                name,
                e.type.value,
                e.target,
                ("destination-" if e.inverse else "origin-") + e.origin.kind.dump_tag,
            )
            for e in u.dependencies
        }
    return out


def comparable(edges: dict[str, Edges], common: set[str]) -> Edges:
    return {e for name in common for e in edges.get(name, set()) if e[2] in common}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_edges_and_origins_match_systemd(scenario: str, unit_dir: Path) -> None:
    unit, files = SCENARIOS[scenario]
    build(unit_dir, files)
    theirs, _ = systemd_dump(unit_dir, unit)
    ours = bootup_edges(unit_dir, unit)
    common = {n for n in theirs if n in ours and not NOISE.search(n)}
    assert unit in common
    assert comparable(ours, common) == comparable(theirs, common)


def test_dropin_order_and_precedence(unit_dir: Path) -> None:
    etc, run, lib = unit_dir / "etc", unit_dir / "run", unit_dir / "lib"
    for d in (etc, run, lib):
        d.mkdir()
    build(
        lib,
        {
            "x.service": "[Unit]\nDescription=lib\n[Service]\nExecStart=/bin/true\n",
            "service.d/00-top.conf": "[Unit]\nDocumentation=man:top(1)\n",
            "x.service.d/10-a.conf": "[Unit]\nDescription=lib-10\n",
            "x-.service.d/p.conf": "[Unit]\nDescription=from prefix\n",
            "x-y.service": "[Service]\nExecStart=/bin/true\n",
        },
    )
    build(
        run,
        {
            "x.service": "[Unit]\nDescription=run\n[Service]\nExecStart=/bin/true\n",
            "x.service.d/05-b.conf": "[Service]\nExecStart=\nExecStart=/bin/false\n",
        },
    )
    build(etc, {"x.service.d/10-a.conf": "[Unit]\nWants=x-y.service\n"})
    path = f"{etc}:{run}:{lib}"
    env = {"SYSTEMD_UNIT_PATH": path}
    support.require_tool("runuser", package="util-linux")
    (unit_dir / "multi-user.target").write_text("[Unit]\n")
    out = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            "env",
            f"SYSTEMD_UNIT_PATH={path}",
            "SYSTEMD_LOG_TARGET=console",
            "SYSTEMD_LOG_LEVEL=debug",
            "/lib/systemd/systemd",
            "--test",
            "--system",
            "--unit=x.service",
            "--no-pager",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    ).stdout
    block = out.split("-> Unit x.service:", 1)[1].split("\t-> Unit ", 1)[0]
    their_dropins = re.findall(r"DropIn Path: (.+)", block)
    their_fragment = re.findall(r"Fragment Path: (.+)", block)
    loader = Loader(search_path(environ=env))
    unit = loader.load("x.service")
    assert list(unit.dropin_paths) == their_dropins
    assert [unit.fragment_path] == their_fragment
    prefixed = out.split("-> Unit x-y.service:", 1)[1].split("\t-> Unit ", 1)[0]
    assert "Description: from prefix" in prefixed
    assert loader.load("x-y.service").description == "from prefix"


UNIT_LINES = [
    "Wants=b.service", "Requires=c.service", "After=b.service", "Before=c.service",
    "BindsTo=b.service", "PartOf=t.target", "Conflicts=c.service", "OnFailure=c.service",
    "Upholds=b.service", "Requisite=c.service", "DefaultDependencies=no", "Wants=x.socket",
    "Wants=x.timer", "Wants=tpl@i.service", "Wants=my.slice", "After=a.service",
    "Wants=a.service", "PropagatesReloadTo=b.service", "JoinsNamespaceOf=c.service",
    "Wants=dev-sda.device", "After=", "StopWhenUnneeded=yes",
]  # fmt: skip
SERVICE_LINES = [
    "Slice=my.slice", "Sockets=x.socket", "PrivateTmp=yes", "StateDirectory=s", "Type=dbus",
    "BusName=org.%p", "StandardOutput=null", "StandardError=null", "Type=oneshot",
]  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=25,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example runs systemd --test
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    units=st.fixed_dictionaries(
        {
            name: st.tuples(
                st.lists(st.sampled_from(UNIT_LINES), max_size=5),
                st.lists(st.sampled_from(SERVICE_LINES), max_size=3),
            )
            for name in ("a.service", "b.service", "c.service", "tpl@.service")
        }
    ),
    target_defaults=st.booleans(),
    accept=st.booleans(),
    calendar=st.booleans(),
)
def test_random_units_have_systemds_edges(
    units: dict[str, tuple[list[str], list[str]]],
    target_defaults: bool,
    accept: bool,
    calendar: bool,
) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bootup-dump-"))
    try:
        directory.chmod(0o755)
        files = {
            name: "[Unit]\n"
            + "".join(f"{x}\n" for x in unit)
            + "[Service]\nExecStart=/bin/true\n"
            + "".join(f"{x}\n" for x in service)
            for name, (unit, service) in units.items()
        }
        files["t.target"] = "[Unit]\nWants=a.service\n" + (
            "" if target_defaults else "DefaultDependencies=no\n"
        )
        files["x.socket"] = "[Socket]\nListenStream=/run/bootup-fz.sock\n" + (
            "Accept=yes\n" if accept else ""
        )
        files["x.timer"] = "[Timer]\n" + ("OnCalendar=daily\n" if calendar else "OnBootSec=5\n")
        files["x.service"] = "[Service]\nExecStart=/bin/true\n"
        build(directory, files)
        theirs, _ = systemd_dump(directory, "t.target")
        ours = bootup_edges(directory, "t.target")
        common = {n for n in theirs if n in ours and not NOISE.search(n)}
        assert comparable(ours, common) == comparable(theirs, common), files
    finally:
        shutil.rmtree(directory, ignore_errors=True)
