from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootup.errors import UnitError
from bootup.units.loader import Loader, expand_specifiers, is_valid_unit_name, split_instance
from bootup.units.model import DependencyType, LoadState, OriginKind
from bootup.units.paths import search_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def loader_for(*dirs: Path) -> Loader:
    return Loader(search_path(environ={"SYSTEMD_UNIT_PATH": ":".join(map(str, dirs))}))


SVC = "[Service]\nExecStart=/bin/true\n"


def test_names() -> None:
    assert is_valid_unit_name("a.service")
    assert is_valid_unit_name("a@.service")
    assert not is_valid_unit_name("a@.service", allow_template=False)
    assert not is_valid_unit_name("a.nothing")
    assert not is_valid_unit_name("a b.service")
    assert split_instance("foo@bar.service") == ("foo@.service", "bar")
    assert split_instance("foo.service") == ("foo.service", None)


def test_specifiers_of_an_escaped_instance() -> None:
    name = "tpl@a\\x2db-c.service"
    got = expand_specifiers("i=%i I=%I n=%n N=%N p=%p f=%f j=%j %%", name)
    assert (
        got == "i=a\\x2db-c I=a-b/c n=tpl@a\\x2db-c.service N=tpl@a\\x2db-c p=tpl f=/a-b/c j=tpl %"
    )


def test_higher_directory_replaces_the_file_wholesale(tmp_path: Path) -> None:
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    write(lib / "x.service", "[Unit]\nDescription=lib\nWants=a.service\n" + SVC)
    write(etc / "x.service", "[Unit]\nDescription=etc\n" + SVC)
    unit = loader_for(etc, lib).load("x.service")
    assert unit.description == "etc"
    assert unit.fragment_path == str(etc / "x.service")
    assert unit.deps(DependencyType.WANTS) == ()


def test_dropins_sorted_across_directories_with_shadowing(tmp_path: Path) -> None:
    etc, run, lib = tmp_path / "etc", tmp_path / "run", tmp_path / "lib"
    write(lib / "x.service", "[Unit]\nDescription=base\n" + SVC)
    write(lib / "service.d" / "00-top.conf", "[Unit]\nAfter=top.service\n")
    write(run / "x.service.d" / "05-b.conf", "[Service]\nExecStart=\nExecStart=/bin/b\n")
    write(etc / "x.service.d" / "10-a.conf", "[Unit]\nDescription=etc\n")
    write(lib / "x.service.d" / "10-a.conf", "[Unit]\nDescription=shadowed\n")
    write(lib / "x.service.d" / "ignored.txt", "[Unit]\nDescription=nope\n")
    unit = loader_for(etc, run, lib).load("x.service")
    assert [Path(p).relative_to(tmp_path).as_posix() for p in unit.dropin_paths] == [
        "lib/service.d/00-top.conf",
        "run/x.service.d/05-b.conf",
        "etc/x.service.d/10-a.conf",
    ]
    assert unit.description == "etc"
    assert unit.service is not None
    assert unit.service.exec_start == ("/bin/b",)
    assert unit.deps(DependencyType.AFTER) == ("top.service",)


def test_prefix_dropins(tmp_path: Path) -> None:
    write(tmp_path / "x-y-z.service", SVC)
    write(tmp_path / "x-.service.d" / "a.conf", "[Unit]\nDescription=from prefix\n")
    write(tmp_path / "x-y-.service.d" / "b.conf", "[Unit]\nDocumentation=man:b(1)\n")
    unit = loader_for(tmp_path).load("x-y-z.service")
    assert unit.description == "from prefix"
    assert unit.documentation == ("man:b(1)",)


def test_dependencies_are_never_reset_but_lists_are(tmp_path: Path) -> None:
    write(
        tmp_path / "x.service",
        "[Unit]\nAfter=a.service b.service\nAfter=\nAfter=c.service\n"
        "Documentation=man:a(1)\nDocumentation=\nDocumentation=man:c(1)\n" + SVC,
    )
    unit = loader_for(tmp_path).load("x.service")
    assert unit.deps(DependencyType.AFTER) == ("a.service", "b.service", "c.service")
    assert unit.documentation == ("man:c(1)",)
    origin = unit.edges(DependencyType.AFTER)[2].origin
    assert (origin.kind, origin.line) == (OriginKind.FILE, 4)


def test_wants_and_requires_directories_merge(tmp_path: Path) -> None:
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    write(lib / "a.service", SVC)
    (etc / "a.service.wants").mkdir(parents=True)
    (lib / "a.service.requires").mkdir(parents=True)
    os.symlink("/nowhere/b.service", etc / "a.service.wants" / "b.service")
    os.symlink("../c.service", lib / "a.service.requires" / "c.service")
    unit = loader_for(etc, lib).load("a.service")
    assert unit.deps(DependencyType.WANTS) == ("b.service",)
    assert unit.deps(DependencyType.REQUIRES) == ("c.service",)
    assert unit.edges(DependencyType.WANTS)[0].origin.kind is OriginKind.WANTS_DIR


def test_alias_symlink_gives_names_and_primary_id(tmp_path: Path) -> None:
    write(tmp_path / "real.service", SVC)
    os.symlink("real.service", tmp_path / "other.service")
    loader = loader_for(tmp_path)
    unit = loader.load("other.service")
    assert unit.name == "real.service"
    assert unit.names == ("other.service", "real.service")
    assert loader.load("real.service").aliases == ("other.service",)


def test_masked_by_dev_null_or_empty_file(tmp_path: Path) -> None:
    os.symlink("/dev/null", tmp_path / "m.service")
    write(tmp_path / "e.service", "")
    loader = loader_for(tmp_path)
    assert loader.load("m.service").load_state is LoadState.MASKED
    assert loader.load("e.service").load_state is LoadState.MASKED


def test_template_instance_and_specifiers(tmp_path: Path) -> None:
    write(
        tmp_path / "tpl@.service",
        "[Unit]\nDescription=inst %i\nWants=dep@%i.service\n" + SVC,
    )
    unit = loader_for(tmp_path).load("tpl@a\\x2db.service")
    assert unit.load_state is LoadState.LOADED
    assert unit.instance == "a\\x2db"
    assert unit.description == "inst a\\x2db"
    assert unit.deps(DependencyType.WANTS) == ("dep@a\\x2db.service",)


def test_bad_input_never_loses_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "good.service", SVC)
    os.symlink("missing.service", tmp_path / "dangling.service")
    os.symlink("loop2.service", tmp_path / "loop1.service")
    os.symlink("loop1.service", tmp_path / "loop2.service")
    write(tmp_path / "tpl@.service", SVC)
    unreadable = write(tmp_path / "secret.service", SVC)
    unreadable.chmod(0)
    write(tmp_path / "bad.service", "[Unit]\nDefaultDependencies=maybe\nAfter=foo\n" + SVC)
    loader = loader_for(tmp_path)
    units = loader.load_all()
    assert units["good.service"].load_state is LoadState.LOADED
    assert loader.load("dangling.service").load_state is LoadState.NOT_FOUND
    loop = loader.load("loop1.service")
    assert loop.load_state is LoadState.ERROR
    assert "Too many levels of symbolic links" in str(loop.diagnostics[0])
    assert loader.load("tpl@.service").load_state is LoadState.ERROR
    bad = loader.load("bad.service")
    assert bad.load_state is LoadState.LOADED
    assert bad.default_dependencies is True
    messages = [str(d) for d in bad.diagnostics]
    assert f"{tmp_path}/bad.service:2: Failed to parse boolean value, ignoring: maybe" in messages
    assert (
        f"{tmp_path}/bad.service:3: Failed to add dependency on foo, ignoring: Invalid argument"
        in messages
    )
    if os.geteuid() != 0:
        assert loader.load("secret.service").load_state is LoadState.NOT_FOUND
    dangling = loader.load("dangling.service")
    assert "missing.service, which does not exist" in str(dangling.diagnostics[0])


def test_service_refusals_make_bad_setting(tmp_path: Path) -> None:
    write(tmp_path / "two.service", "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n")
    unit = loader_for(tmp_path).load("two.service")
    assert unit.load_state is LoadState.BAD_SETTING
    assert str(unit.diagnostics[-1]).startswith("two.service: Service has more than one")


NAMES = st.sampled_from(
    [
        "a.service",
        "b.service",
        "t.target",
        "x.socket",
        "tpl@.service",
        "tpl@i.service",
        "a-b.service",
        "bad name.service",
        "c.timer",
        "s.slice",
        "noext",
    ]
)
LINES = st.sampled_from(
    [
        "[Unit]",
        "[Service]",
        "[Install]",
        "[Socket]",
        "[Bogus]",
        "[Unit",
        "Wants=b.service",
        "Requires=a.service t.target",
        "After=",
        "After=%i %n",
        "Description=%Z",
        "Alias=a.service",
        "ExecStart=/bin/true",
        'ExecStart=/bin/echo "open',
        "ExecStart=",
        "Type=oneshot",
        "Type=nope",
        "DefaultDependencies=no",
        "WantedBy=t.target",
        "Sockets=x.socket",
        "Service=a.service",
        "Slice=s.slice",
        "junk",
        "Key=value \\",
        "ConditionPathExists=!/x",
    ]
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.dictionaries(NAMES, st.lists(LINES, max_size=8), max_size=6),
    links=st.lists(
        st.tuples(
            NAMES,
            st.sampled_from(
                ["/dev/null", "a.service", "b.service", "missing.x", "tpl@.service", "t.target"]
            ),
        ),
        max_size=4,
    ),
)
def test_random_trees_never_crash(
    tmp_path_factory: pytest.TempPathFactory,
    files: dict[str, list[str]],
    links: list[tuple[str, str]],
) -> None:
    from bootup.units.dependencies import load_graph
    from bootup.units.install import Installer
    from bootup.units.verify import verify_files

    directory = tmp_path_factory.mktemp("tree")
    for name, lines in files.items():
        write(directory / name, "\n".join(lines) + "\n")
    for name, target in links:
        if not (directory / name).exists() and not (directory / name).is_symlink():
            os.symlink(target, directory / name)
    loader = loader_for(directory)
    loader.load_all()
    load_graph(loader, None)
    env = {"SYSTEMD_UNIT_PATH": str(directory)}
    verify_files([str(directory / n) for n in files], environ=env)
    installer = Installer(search_path(project=str(directory)))
    for record in installer.list_unit_files():
        assert record.state.value
    for name in files:
        for operation in (installer.enable, installer.disable, installer.mask, installer.unmask):
            with contextlib.suppress(UnitError):  # a refusal is fine; anything else is a bug
                operation([name])


def test_links_of_an_alias_name_apply_with_alias_origin(tmp_path: Path) -> None:
    write(tmp_path / "multi-user.target", "[Unit]\n")
    os.symlink("multi-user.target", tmp_path / "runlevel3.target")
    (tmp_path / "runlevel3.target.wants").mkdir()
    os.symlink("../x.service", tmp_path / "runlevel3.target.wants" / "x.service")
    unit = loader_for(tmp_path).load("multi-user.target")
    (edge,) = unit.edges(DependencyType.WANTS)
    assert (edge.target, edge.origin.kind) == ("x.service", OriginKind.ALIAS)
    assert edge.origin.path == str(tmp_path / "runlevel3.target.wants")


def test_timeout_sec_sets_start_and_stop(tmp_path: Path) -> None:
    write(tmp_path / "t.service", SVC + "TimeoutSec=5\nTimeoutStopSec=7s\nRestartSec=2\n")
    service = loader_for(tmp_path).load("t.service").service
    assert service is not None
    assert (service.timeout_start_usec, service.timeout_stop_usec) == (5_000_000, 7_000_000)
    assert service.restart_usec == 2_000_000


def test_slice_loads_from_drop_ins_alone_but_a_service_does_not(tmp_path: Path) -> None:
    write(tmp_path / "my.slice.d" / "a.conf", "[Unit]\nDescription=from dropin\n")
    write(tmp_path / "ghost.service.d" / "a.conf", "[Unit]\nDescription=ghost\n")
    loader = loader_for(tmp_path)
    sliced = loader.load("my.slice")
    assert (sliced.load_state, sliced.description) == (LoadState.LOADED, "from dropin")
    ghost = loader.load("ghost.service")
    assert (ghost.load_state, ghost.description) == (LoadState.NOT_FOUND, "")


def test_condition_parameters_expand_specifiers(tmp_path: Path) -> None:
    """systemd tests ConditionPathExists=/run/%n against the unit's own name."""
    (tmp_path / "probe.service").write_text(
        "[Unit]\nConditionPathExists=|!/run/%n\nAssertPathIsDirectory=/srv/%p\n"
        "[Service]\nExecStart=/bin/true\n"
    )
    unit = Loader(search_path(project=str(tmp_path))).load("probe.service")
    assert [(c.parameter, c.trigger, c.negate) for c in unit.conditions] == [
        ("/run/probe.service", True, True)
    ]
    assert [c.parameter for c in unit.asserts] == ["/srv/probe"]
