"""Real packages' unit files (fetched by tests/data/tools/fetch-unit-corpus.sh) load cleanly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import support
from bootup.units.dependencies import load_graph
from bootup.units.diagnostics import Severity
from bootup.units.loader import Loader
from bootup.units.model import DependencyType, LoadState, ServiceType
from bootup.units.paths import search_path

# The first run downloads the packages (about a minute); later runs use the cache.
pytestmark = pytest.mark.slow

CORPUS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "unit-corpus" / "units"
FETCH = Path(__file__).resolve().parent.parent / "data" / "tools" / "fetch-unit-corpus.sh"


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():
        support.require_tool("apt-get", package="apt")
        result = subprocess.run([str(FETCH)], capture_output=True, text=True, check=False)
        if result.returncode != 0 or not CORPUS.is_dir():
            message = f"unit corpus unavailable: {result.stderr.strip()}"
            if support.IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    return CORPUS


@pytest.fixture(scope="module")
def loader(corpus: Path) -> Loader:
    return Loader(search_path(environ={"SYSTEMD_UNIT_PATH": f"{corpus}:"}))


def test_every_package_unit_loads_without_errors(corpus: Path, loader: Loader) -> None:
    names = [p.name for p in corpus.iterdir() if p.is_file() and "." in p.name]
    assert len(names) >= 40
    for file_name in names:
        name = file_name.replace("@.", "@x.", 1)
        unit = loader.load(name)
        assert unit.load_state is LoadState.LOADED, (name, [str(d) for d in unit.diagnostics])
        errors = [str(d) for d in unit.diagnostics if d.severity is Severity.ERROR]
        assert errors == [], name


def test_known_package_details(loader: Loader) -> None:
    ssh = loader.load("ssh.service")
    assert ssh.service is not None
    assert ssh.service.effective_type is ServiceType.NOTIFY
    assert ssh.install.alias == ("sshd.service",)
    assert ssh.service.exec_start == ("/usr/sbin/sshd -D $SSHD_OPTS",)
    pg = loader.load("postgresql@15-main.service")
    assert pg.instance == "15-main"
    assert "postgresql.service" in pg.deps(DependencyType.PART_OF)
    assert any(c.name == "AssertPathExists" for c in pg.asserts)
    redis = loader.load("redis-server.service")
    assert redis.install.alias == ("redis.service",)


def test_graph_of_corpus_and_real_tree(loader: Loader) -> None:
    graph = load_graph(loader, ["multi-user.target", "nginx.service", "docker.socket"])
    assert "docker.service" in graph["docker.socket"].deps(DependencyType.TRIGGERS)
    assert "docker.socket" in graph["docker.service"].deps(DependencyType.TRIGGERED_BY)
