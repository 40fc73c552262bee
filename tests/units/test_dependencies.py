from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bootup.units.dependencies import load_graph
from bootup.units.loader import Loader
from bootup.units.model import DependencyType as D
from bootup.units.model import OriginKind, Unit
from bootup.units.paths import search_path

STUBS = ("sysinit", "basic", "shutdown", "sockets", "timers", "paths", "slices", "local-fs")


def make(tmp_path: Path, files: dict[str, str]) -> Loader:
    for name in STUBS:
        (tmp_path / f"{name}.target").write_text(f"[Unit]\nDescription={name}\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return Loader(search_path(environ={"SYSTEMD_UNIT_PATH": str(tmp_path)}))


def kinds(graph: Mapping[str, Unit], unit: str, kind: D) -> dict[str, set[str]]:
    u = graph[unit]
    out: dict[str, set[str]] = {}
    for e in u.edges(kind):
        tag = ("destination-" if e.inverse else "origin-") + e.origin.kind.dump_tag
        out.setdefault(e.target, set()).add(tag)
    return out


def test_service_defaults(tmp_path: Path) -> None:
    loader = make(tmp_path, {"x.service": "[Service]\nExecStart=/bin/true\n"})
    g = load_graph(loader, ["x.service"])
    assert kinds(g, "x.service", D.REQUIRES) == {
        "sysinit.target": {"origin-default"},
        "system.slice": {"origin-file"},
    }
    assert kinds(g, "x.service", D.AFTER)["basic.target"] == {"origin-default"}
    assert "basic.target" not in kinds(g, "x.service", D.REQUIRES)
    assert kinds(g, "x.service", D.CONFLICTS) == {"shutdown.target": {"origin-default"}}
    assert kinds(g, "shutdown.target", D.CONFLICTED_BY)["x.service"] == {"destination-default"}


def test_no_default_dependencies(tmp_path: Path) -> None:
    loader = make(
        tmp_path,
        {"y.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n"},
    )
    g = load_graph(loader, ["y.service"])
    assert set(kinds(g, "y.service", D.REQUIRES)) == {"system.slice"}
    assert set(kinds(g, "y.service", D.AFTER)) == {"system.slice", "systemd-journald.socket"}


def test_target_orders_after_what_it_wants_unless_opted_out(tmp_path: Path) -> None:
    loader = make(
        tmp_path,
        {
            "t.target": "[Unit]\nWants=x.service y.service\n",
            "x.service": "[Service]\nExecStart=/bin/true\n",
            "y.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n",
        },
    )
    g = load_graph(loader, ["t.target"])
    after = kinds(g, "t.target", D.AFTER)
    assert after == {"x.service": {"origin-default"}}
    assert kinds(g, "x.service", D.BEFORE)["t.target"] == {"destination-default"}
    assert kinds(g, "x.service", D.WANTED_BY) == {"t.target": {"destination-file"}}


def test_socket_and_timer_trigger_their_service(tmp_path: Path) -> None:
    loader = make(
        tmp_path,
        {
            "x.socket": "[Socket]\nListenStream=/run/x.sock\n",
            "x.timer": "[Timer]\nOnCalendar=daily\n",
            "b.timer": "[Timer]\nOnBootSec=5\nUnit=x.service\n",
            "x.service": "[Service]\nExecStart=/bin/true\n",
        },
    )
    g = load_graph(loader, ["x.socket", "x.timer", "b.timer"])
    assert kinds(g, "x.socket", D.TRIGGERS) == {"x.service": {"origin-implicit"}}
    assert kinds(g, "x.socket", D.BEFORE)["sockets.target"] == {"origin-default"}
    timer_after = kinds(g, "x.timer", D.AFTER)
    assert {"time-set.target", "time-sync.target"} <= set(timer_after)
    assert "time-sync.target" not in kinds(g, "b.timer", D.AFTER)
    assert set(kinds(g, "x.service", D.TRIGGERED_BY)) == {"x.socket", "x.timer", "b.timer"}
    assert kinds(g, "x.service", D.AFTER)["x.socket"] == {"destination-implicit"}


def test_instance_gets_its_template_slice(tmp_path: Path) -> None:
    loader = make(tmp_path, {"tpl@.service": "[Service]\nExecStart=/bin/echo %i\n"})
    g = load_graph(loader, ["tpl@a.service"])
    assert "system-tpl.slice" in kinds(g, "tpl@a.service", D.REQUIRES)
    assert kinds(g, "system-tpl.slice", D.REQUIRES) == {"system.slice": {"origin-implicit"}}
    assert kinds(g, "system.slice", D.REQUIRES) == {"-.slice": {"origin-implicit"}}


def test_alias_targets_are_resolved_to_the_primary_name(tmp_path: Path) -> None:
    (tmp_path / "alias.service").symlink_to("real.service")
    loader = make(
        tmp_path,
        {
            "a.service": "[Unit]\nWants=alias.service\n[Service]\nExecStart=/bin/true\n",
            "real.service": "[Service]\nExecStart=/bin/true\n",
        },
    )
    g = load_graph(loader, ["a.service"])
    assert g["a.service"].deps(D.WANTS) == ("real.service",)
    assert g["real.service"].deps(D.WANTED_BY) == ("a.service",)
    edge = g["a.service"].edges(D.WANTS)[0]
    assert edge.origin.kind is OriginKind.FILE
    assert edge.origin.line == 2


def test_sockets_setting_and_exec_context_edges(tmp_path: Path) -> None:
    loader = make(
        tmp_path,
        {
            "j.service": "[Service]\nExecStart=/bin/true\nSockets=j.socket j2.socket\n"
            "PrivateTmp=yes\nStateDirectory=j\n",
            "j.socket": "[Socket]\nListenStream=/run/j.sock\n",
            "j2.socket": "[Socket]\nListenStream=/run/j2.sock\n",
        },
    )
    g = load_graph(loader, ["j.service"])
    assert kinds(g, "j.service", D.TRIGGERED_BY) == {
        "j.socket": {"origin-file", "destination-implicit"},
        "j2.socket": {"origin-file"},
    }
    assert set(kinds(g, "j.service", D.WANTS)) == {"j.socket", "j2.socket"}
    after = kinds(g, "j.service", D.AFTER)
    assert after["systemd-tmpfiles-setup.service"] == {"origin-file"}
    assert after["systemd-remount-fs.service"] == {"origin-file"}
    edge = next(e for e in g["j.service"].edges(D.WANTS) if e.target == "j2.socket")
    assert (edge.origin.path, edge.origin.line) == (str(tmp_path / "j.service"), 3)


def test_builtin_slices_have_no_default_dependencies(tmp_path: Path) -> None:
    loader = make(tmp_path, {"slices.target": "[Unit]\nWants=-.slice system.slice\n"})
    g = load_graph(loader, ["slices.target"])
    assert kinds(g, "slices.target", D.AFTER) == {}
    assert kinds(g, "system.slice", D.CONFLICTS) == {}
