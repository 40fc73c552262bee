"""Smoke tests of the singleflight benchmark and the ``make demo`` stampede example.

They run the real scripts as subprocesses with the project's interpreter, the way ``make
bench`` and ``make demo`` do, and check that they finish and print what a reader needs:
the machine, both tables, the verdicts, the demo's figures. Timing figures are printed by
the scripts but never asserted here; only counts that do not depend on timing are.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "singleflight.py"
DEMO = ROOT / "examples" / "stampede.py"
BASELINES = ("raw-call", "dict+lock", "dict+task+shield", "dict+future-inline")
VERDICT_OUTCOMES = {"PASS", "MISS", "n/a", "info"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _importable(module: str) -> bool:
    """Whether a peer (the optional ``bench`` extra) is installed; the benchmark skips it if not."""
    return importlib.util.find_spec(module) is not None


def test_benchmark_quick_prints_machine_tables_and_verdicts() -> None:
    out = _run(str(BENCH), "--quick").stdout

    assert out.startswith("singleflight benchmark (--quick")
    for field in ("cpu:", "cores:", "python: CPython", "sizes:"):
        assert f"\n  {field}" in out, field
    assert "(a) uncontended ops/s" in out
    assert "(b) 200 asyncio tasks and (c) 50 threads on one key" in out
    rows = {line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")}
    peers = {peer for peer in ("coalescer", "oneflight") if _importable(peer)}
    expected = {*BASELINES, "bootup", *peers}
    assert expected <= rows, rows
    assert "ERRORS" not in out

    verdict_block = out.split("verdict (issue 2 targets", 1)[1].splitlines()[1:]
    outcomes = [line.split()[0] for line in verdict_block if line.strip()]
    assert len(outcomes) == 8, verdict_block
    assert set(outcomes) <= VERDICT_OUTCOMES
    if len(peers) == 2:
        assert "n/a" not in outcomes, verdict_block


def _only(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--only", name)]


def test_benchmark_json_counts_executions() -> None:
    proc = _run(str(BENCH), "--quick", "--json", *_only(*BASELINES))
    doc: dict[str, Any] = json.loads(proc.stdout)

    assert set(doc) >= {"machine", "params", "results", "skipped", "verdicts"}
    params, results = doc["params"], doc["results"]
    assert list(results) == list(BASELINES)
    assert doc["skipped"] == {}
    for name, result in results.items():
        assert result["errors"] == [], name

    raw = results["raw-call"]
    # Without coalescing every caller runs the backend: the harness counts each execution.
    trials = params["trials"] * params["rounds"]
    assert raw["async_stampede_execs"] == [params["n_tasks"]] * trials
    assert raw["thread_stampede_execs"] == [params["n_threads"]] * trials
    passes = params["passes"] * params["rounds"]
    assert len(raw["sync_rates"]) == len(raw["async_rates"]) == passes
    assert all(rate > 0 for rate in raw["sync_rates"] + raw["async_rates"])
    # Tasks gathered on one key all join in the loop iteration that starts the flight.
    assert results["dict+task+shield"]["async_stampede_execs"] == [1] * trials
    assert results["dict+future-inline"]["async_stampede_execs"] == [1] * trials
    # Threads may start a new flight after one lands, but coalescing must happen.
    for executions in results["dict+lock"]["thread_stampede_execs"]:
        assert 1 <= executions < params["n_threads"]
    # Sections a contestant does not have stay empty rather than invented.
    assert results["dict+lock"]["async_rates"] is None
    assert results["dict+task+shield"]["sync_rates"] is None
    outcomes = [v["outcome"] for v in doc["verdicts"]]
    assert outcomes[3] == outcomes[7] == "info"


def _figures(out: str, label: str) -> tuple[int, int, int]:
    """(backend calls, served, requests) from the demo's row called ``label``."""
    match = re.search(rf"^  {re.escape(label)}\s+([\d,]+)\s+([\d,]+) / ([\d,]+)\s", out, re.M)
    assert match, f"no row {label!r} in:\n{out}"
    calls, served, requests = (int(g.replace(",", "")) for g in match.groups())
    return calls, served, requests


def test_stampede_demo_shows_one_backend_call() -> None:
    out = _run(str(DEMO)).stdout

    assert out.startswith("bootup singleflight demo: a cache stampede")
    asyncio_part, thread_part = out.split("\nthreads: ", 1)
    assert "asyncio: 1,000 concurrent requests" in asyncio_part
    assert _figures(asyncio_part, "without singleflight") == (1000, 1000, 1000)
    assert _figures(asyncio_part, "with AsyncGroup") == (1, 1000, 1000)
    assert "1,000 got a shared result" in asyncio_part

    assert _figures(thread_part, "without singleflight") == (200, 200, 200)
    calls, served, requests = _figures(thread_part, "with Group")
    assert (served, requests) == (200, 200)
    assert 1 <= calls < 200
    assert "\x1b" not in out  # nothing animated or coloured when not a terminal


def test_transaction_benchmark_quick_prints_sizes_and_the_real_tree() -> None:
    out = _run(str(ROOT / "benchmarks" / "transaction.py"), "--quick").stdout
    assert out.startswith("machine: ")
    assert "layered 1,000" in out
    assert "layered 2,000" in out
    assert "real tree, multi-user.target" in out
    # The work (Python calls) of a doubled graph is printed as a ratio next to the time.
    assert re.search(r"layered 2,000 .* \d\.\d\dx +\d\.\d\dx$", out, re.MULTILINE), out


def test_startup_benchmark_quick_measures_both_shapes_and_both_workloads() -> None:
    out = _run(str(ROOT / "benchmarks" / "startup.py"), "--quick").stdout
    for row in ("100 flat true", "100 layered true", "100 flat sleep50ms", "100 layered sleep50ms"):
        assert re.search(rf"^{row} +\d", out, re.MULTILINE), out
    assert "spawn+reap of one /bin/true" in out
