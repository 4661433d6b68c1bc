"""Fidelity, live layer: a subset of the upstream tests on the sandbox cluster.

The live subset (``scenarios.LIVE``, TCP only) is written as scenario files in a
tmp dir, one per upstream step; one pytest run of the plugin probes them all
against a sandbox brought up for this module (and ALWAYS brought down), with
``--netpol-report-json`` (the preflight runs first, as in every live run). Each upstream test then
checks its own scenario in the summary: every upstream cell present, passed, and
never flipped (a cell that agreed, then disagreed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fidelity import scenarios as sc
from tests.fidelity import upstream as up
from tests.live.test_e2e_sandbox import _env
from tests.live.test_e2e_sandbox import _sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

LIVE = sc.live_cases()


@dataclass(frozen=True)
class LiveRun:
    result: subprocess.CompletedProcess[str]
    scenarios: dict[str, dict[str, Any]]  # scenario name -> its summary
    seconds: float


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    state = tmp_path_factory.mktemp("sbx-fidelity")
    work = tmp_path_factory.mktemp("fidelity-scenarios")
    for test, number, step in LIVE:
        sc.write(work, test, number, step)
    summary = work / "summary.json"
    for kubeconfig in _sandbox(state):
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                f"--netpol-kubeconfig={kubeconfig}",
                f"--netpol-report-json={summary}",
                ".",
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            env=_env(),
            cwd=work,
            check=False,
        )
        seconds = time.monotonic() - started
        doc = json.loads(summary.read_text()) if summary.exists() else {"scenarios": []}
        by_name = {s["scenario"]: s for s in doc["scenarios"]}
        print(f"\nfidelity live run: {len(by_name)} scenarios in {seconds:.1f}s")
        yield LiveRun(result, by_name, seconds)


def test_the_live_run_passes(live_run: LiveRun) -> None:
    out = live_run.result.stdout[-6000:] + live_run.result.stderr[-3000:]
    assert live_run.result.returncode == 0, out
    assert set(live_run.scenarios) == {sc.scenario_name(t, n) for t, n, _ in LIVE}, out


@pytest.mark.parametrize(
    ("test", "number", "step"),
    LIVE,
    ids=[f"{up.test_id(t)} [step {n}]" for t, n, _ in LIVE],
)
def test_upstream_cells_pass_live(
    live_run: LiveRun, test: up.UpstreamTest, number: int, step: up.Step
) -> None:
    name = sc.scenario_name(test, number)
    summary = live_run.scenarios.get(name)
    assert summary is not None, f"no result for {name}: " + live_run.result.stdout[-3000:]
    assert not summary.get("setup_error"), summary.get("setup_error")
    want = sc.expected_cells(step)
    cells = summary["cells"]
    got = {c["cell"] for c in cells}
    assert got == {_key(cell) for cell in want}
    expect = {_key(cell): "allow" if ok else "deny" for cell, ok in want.items()}
    bad = [
        f"{c['cell']}: expected {c['expected']}, observed {c['observed']} ({c['status']}) "
        f"{c['detail']}"
        for c in cells
        if c["status"] != "pass" or c["expected"] != expect[c["cell"]]
    ]
    assert not bad, f"{up.test_id(test)}:\n" + "\n".join(bad)
    flipped = [c["cell"] for c in cells if c.get("flipped")]
    assert not flipped, f"{up.test_id(test)}: flipped cells {flipped}"


def _key(cell: str) -> str:
    """``"xa -> xb:80"`` -> the summary's cell key ``"xa->xb:80/TCP"``."""
    src, dst = cell.split(" -> ")
    return f"{src}->{dst}/TCP"
