"""``bootup verify`` against ``systemd-analyze verify --man=no`` (systemd 252)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import support
from bootup.units.verify import verify_files

pytestmark = pytest.mark.conformance

# One broken (or clean) unit per case; every neighbour is in the same directory.
CASES: dict[str, str] = {
    "clean.service": "[Unit]\nDescription=ok\n[Service]\nExecStart=/bin/true\n",
    "values.service": "[Unit]\nDocumentation=foo http://ok.example man:x(1)\n"
    "ConditionPathExists=relative\nAssertPathExists=|!rel2\nConditionVirtualization=\n"
    "Requires=%i.service\nWants=a@.service\nDescription=\n[Service]\nExecStart=/bin/true\n"
    'RemainAfterExit=maybe\nEnvironment=A=1 "B=2 3" bad=\nUser=\n',
    "unknown.service": "[Unit]\nDescription=a\nBogus=1\nX-Mine=ok\n[Service]\n"
    "ExecStart=/bin/true\nFoo=bar\n[Wat]\nX=1\n[X-Ext]\nY=2\n",
    "removed.service": "[Unit]\nStartLimitInterval=5\n[Service]\nExecStart=/bin/true\n"
    "PermissionsStartOnly=yes\nSysVStartPriority=3\n",
    "bad-header.service": "[Service\nExecStart=/bin/true\n",
    "needs-bad-header.service": "[Unit]\nRequires=bad-header.service\n"
    "[Service]\nExecStart=/bin/true\n",
    "not-a-unit.txt": "[Service]\nExecStart=/bin/true\n",
    "dropin.service": "[Service]\nExecStart=/bin/true\n",
    "dropin.service.d/10.conf": "[Service]\nNope=1\nExecStart=\nExecStart=/bin/false\n",
    "missing-binary.service": "[Service]\nExecStart=/usr/bin/bootup-no-such-binary\n",
    "not-executable.service": "[Service]\nExecStart=@/bin/true x\nExecStartPost=/etc/passwd\n",
    "relative.service": "[Service]\nExecStart=bootup-no-such-command\n",
    "ignored-failure.service": "[Service]\nExecStart=/bin/true\nExecStartPre=-/nonexistent/b\n",
    "first-only.service": "[Service]\nType=oneshot\nExecStart=/bin/true\nExecStart=/no/a\n"
    "ExecStop=/no/c\nExecStop=/no/d\n",
    "requires-missing.service": "[Unit]\nRequires=bootup-missing.service\n"
    "[Service]\nExecStart=/bin/true\n",
    "requires-masked.service": "[Unit]\nRequires=masked.service\n[Service]\nExecStart=/bin/true\n",
    "wants-missing.service": "[Unit]\nWants=bootup-missing.service\n"
    "[Service]\nExecStart=/bin/true\n",
    "bad-values.service": "[Unit]\nDefaultDependencies=maybe\nAfter=foo bar.service\n"
    "[Service]\nType=bogus\nExecStart=/bin/true\nRestart=sometimes\nTimeoutStartSec=abc\n",
    "two-execstart.service": "[Service]\nExecStart=/bin/true\nExecStart=/bin/false\n",
    "no-exec.service": "[Unit]\nDescription=no exec\n[Service]\nType=simple\n",
    "only-stop.service": "[Service]\nExecStop=/bin/true\n",
    "oneshot-always.service": "[Service]\nType=oneshot\nRestart=always\nExecStart=/bin/true\n",
    "dbus-no-name.service": "[Service]\nType=dbus\nExecStart=/bin/true\n",
    "outside.service": "garbage line\n[Service]\nExecStart=/bin/true\n",
    "specifier.service": "[Unit]\nDescription=%z bad\n[Service]\nExecStart=/bin/echo %Q\n",
    "unbalanced.service": '[Service]\nExecStart=/bin/echo "open\nKillMode=none\n',
    "killmode.service": "[Service]\nExecStart=/bin/true\nKillMode=none\n",
    "tpl@.service": "[Service]\nExecStart=/bin/echo %i\nExecStop=/no/such/%i\n",
    "lonely.socket": "[Socket]\nListenStream=/run/bootup-lonely.sock\n",
    "no-listen.socket": "[Socket]\nAccept=no\n",
    "reset-listen.socket": "[Socket]\nListenStream=/run/bootup-r.sock\nListenStream=\n",
    "no-value.timer": "[Timer]\nAccuracySec=1\n",
    "no-path.path": "[Path]\nMakeDirectory=yes\n",
    "accept.socket": "[Socket]\nListenStream=/run/bootup-accept.sock\nAccept=yes\n",
    "gone.timer": "[Timer]\nOnCalendar=daily\nUnit=bootup-gone.service\n",
    "plain.slice": "[Slice]\n",
    "plain.target": "[Unit]\nDescription=t\n",
    "ok.socket": "[Socket]\nListenStream=/run/bootup-ok.sock\n",
    "ok.service": "[Service]\nExecStart=/bin/true\n",
    "no-listen.service": "[Service]\nExecStart=/bin/true\n",
    "reset-listen.service": "[Service]\nExecStart=/bin/true\n",
    "no-value.service": "[Service]\nExecStart=/bin/true\n",
    "no-path.service": "[Service]\nExecStart=/bin/true\n",
}


def systemd_verify(directory: Path, files: list[str]) -> tuple[int, list[str]]:
    tool = support.require_tool("systemd-analyze", package="systemd")
    r = subprocess.run(
        [tool, "verify", "--man=no", *files],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_UNIT_PATH": f"{directory}:"},
        timeout=300,
    )
    return r.returncode, (r.stdout + r.stderr).splitlines()


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    for name, text in CASES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "masked.service").symlink_to("/dev/null")
    return tmp_path


@pytest.mark.parametrize("name", sorted(n for n in CASES if "/" not in n))
def test_same_messages_and_exit_code(name: str, broken: Path) -> None:
    path = str(broken / name)
    rc, theirs = systemd_verify(broken, [path])
    ours = verify_files([path], environ={"SYSTEMD_UNIT_PATH": f"{broken}:"})
    assert (1 if ours.failed else 0, ours.lines) == (rc, theirs)


@pytest.mark.parametrize(
    "names",
    [
        ["bad-values.service", "not-a-unit.txt"],
        ["not-a-unit.txt", "bad-values.service"],
        ["needs-bad-header.service", "unbalanced.service", "unknown.service"],
        ["requires-missing.service", "unknown.service", "no-exec.service", "two-execstart.service"],
    ],
)
def test_several_files_in_systemds_order(names: list[str], broken: Path) -> None:
    paths = [str(broken / n) for n in names]
    rc, theirs = systemd_verify(broken, paths)
    ours = verify_files(paths, environ={"SYSTEMD_UNIT_PATH": f"{broken}:"})
    assert (1 if ours.failed else 0, ours.lines) == (rc, theirs)


def test_unsupported_lines_are_separate_and_off_by_default(broken: Path) -> None:
    ours = verify_files([str(broken / "ok.service")], environ={"SYSTEMD_UNIT_PATH": str(broken)})
    assert not any(line.startswith("bootup:") for line in ours.lines)
    assert all(line.startswith("bootup: ") for line in ours.unsupported)


CORPUS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "unit-corpus" / "units"
FETCH = Path(__file__).resolve().parent.parent / "data" / "tools" / "fetch-unit-corpus.sh"


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


def unit_files(*directories: Path) -> list[str]:
    return [
        str(entry)
        for directory in directories
        for entry in sorted(directory.iterdir())
        if entry.is_file() and not entry.is_symlink() and "." in entry.name
    ]


def normalise(lines: list[str]) -> list[str]:
    # Which missing unit a failed start transaction names first follows systemd's hash-map
    # order; only that it fails is compared.
    return sorted(
        re.sub(r"start: Unit \S+ (not found|is masked)\.$", r"start: Unit * \1.", line)
        for line in lines
    )


@pytest.mark.slow
def test_package_corpus_prints_nothing_systemd_does_not() -> None:
    directory = corpus()
    files = unit_files(directory)
    assert len(files) >= 40
    rc, theirs = systemd_verify(directory, files)
    ours = verify_files(files, environ={"SYSTEMD_UNIT_PATH": f"{directory}:"})
    assert normalise(ours.lines) == normalise(theirs)
    assert (1 if ours.failed else 0) == rc


def test_unreadable_file_is_reported_like_systemd() -> None:
    """Run both as `nobody` (root reads everything), with the system Python 3.11."""
    import shutil
    import sys
    import tempfile

    support.require_tool("runuser", package="util-linux")
    tool = support.require_tool("systemd-analyze", package="systemd")
    python = "/usr/bin/python3"  # Debian 12's 3.11; the venv is not nobody's to run
    if not os.access(python, os.X_OK):
        pytest.skip("no system python3 to run as nobody")
    directory = Path(tempfile.mkdtemp(prefix="bootup-unreadable-"))
    try:
        directory.chmod(0o755)
        secret = directory / "secret.service"
        secret.write_text("[Service]\nExecStart=/bin/true\n")
        secret.chmod(0)
        src = str(Path(__file__).resolve().parents[2] / "src")
        env = [f"SYSTEMD_UNIT_PATH={directory}", f"PYTHONPATH={src}", "PATH=/usr/bin:/bin"]
        code = (
            "from bootup.units.verify import verify_files\n"
            f"r = verify_files([{str(secret)!r}])\n"
            "print('\\n'.join(r.lines)); raise SystemExit(1 if r.failed else 0)\n"
        )
        ours = subprocess.run(
            ["runuser", "-u", "nobody", "--", "env", *env, python, "-c", code],
            capture_output=True,
            text=True,
            check=False,
        )
        if "No module named" in ours.stderr or "Permission denied" in ours.stderr:
            pytest.skip(f"nobody cannot import bootup here: {ours.stderr.strip()[:200]}")
        theirs = subprocess.run(
            ["runuser", "-u", "nobody", "--", "env", *env, tool, "verify", "--man=no", str(secret)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (ours.returncode, ours.stdout.splitlines()) == (
            theirs.returncode,
            (theirs.stdout + theirs.stderr).splitlines(),
        ), sys.version
    finally:
        shutil.rmtree(directory, ignore_errors=True)


RANDOM_LINES = [
    "Wants=b.service", "Requires=c.service", "Requires=missing.service", "After=",
    "After=%i %n", "Description=%Z", "Description=ok %n", "Documentation=foo",
    "Documentation=man:x(1)", "ExecStart=/bin/true", 'ExecStart=/bin/echo "open', "ExecStart=",
    "ExecStart=-/nonexist", "ExecStop=/bin/true", "Type=oneshot", "Type=nope", "Type=notify",
    "DefaultDependencies=no", "DefaultDependencies=maybe", "Restart=always", "Restart=bogus",
    "RemainAfterExit=yes", "TimeoutSec=5", "TimeoutStartSec=xx", "KillMode=none",
    "Sockets=s.socket", "Sockets=b.service", "ConditionPathExists=!/x", "ConditionPathExists=rel",
    "AssertPathExists=|/y", "Slice=my.slice", "PrivateTmp=yes", "Bogus=1", "X-Foo=1",
    "SuccessAction=exit", "Requisite=b.service", "BindsTo=masked.service", "Conflicts=b.service",
    "OnFailure=c.service", "PartOf=t.target", "Environment=A=1", "User=nobody",
    "StateDirectory=x", "Wants=a@.service",
]  # fmt: skip
RANDOM_FILE = st.lists(
    st.one_of(st.sampled_from(["[Unit]", "[Service]", "[Install]", "[Wat]"]),
              st.sampled_from(RANDOM_LINES)),
    max_size=9,
)  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=40,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example runs systemd-analyze
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(a=RANDOM_FILE, b=RANDOM_FILE, c=RANDOM_FILE)
def test_random_units_verify_like_systemd(
    tmp_path_factory: pytest.TempPathFactory, a: list[str], b: list[str], c: list[str]
) -> None:
    directory = tmp_path_factory.mktemp("random")
    for name, lines in (("a.service", a), ("b.service", b), ("c.service", c)):
        (directory / name).write_text("\n".join(["[Service]", *lines]) + "\n")
    (directory / "s.socket").write_text("[Socket]\nListenStream=/run/bootup-s.sock\n")
    (directory / "masked.service").symlink_to("/dev/null")
    files = [str(directory / "a.service"), str(directory / "b.service")]
    rc, theirs = systemd_verify(directory, files)
    ours = verify_files(files, environ={"SYSTEMD_UNIT_PATH": f"{directory}:"})
    assert (1 if ours.failed else 0, normalise(ours.lines)) == (rc, normalise(theirs)), (a, b, c)
