"""Fidelity, scenario layer (no root): upstream steps written as scenario files.

- every TCP step (ipBlock ones aside: their CIDRs come from live pod IPs) becomes a
  scenario that the harness loads without error, with exactly the upstream truth
  table as its cells;
- the plugin's ``--netpol-static`` mode (plan -> rewritten manifests -> engine)
  passes every cell of every such scenario.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario.loader import load
from tests.fidelity import scenarios as sc
from tests.fidelity import upstream as up

CASES = sc.tcp_cases()
IDS = [f"{up.test_id(t)} [step {n}]" for t, n, _ in CASES]


def test_live_subset_is_tcp_and_known() -> None:
    live = sc.live_cases()
    assert len(live) == len(sc.LIVE) == 12
    assert all((t, n, s) in CASES for t, n, s in live)
    names = [sc.scenario_name(t, n) for t, n, _ in CASES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("test", "number", "step"), CASES, ids=IDS)
def test_scenario_cells_are_the_upstream_truth_table(
    test: up.UpstreamTest, number: int, step: up.Step, tmp_path: Path
) -> None:
    path = sc.write(tmp_path, test, number, step)
    scenario = load(path)
    assert scenario.name == sc.scenario_name(test, number)
    got = {
        (sc.pod_of(c.source), sc.pod_of(str(c.target)), c.port): c.expect == "allow"
        for c in scenario.cells
    }
    assert all(c.protocol == "TCP" and c.origin == "explicit" for c in scenario.cells)
    want = {
        (src, dst, pr.port): allowed
        for pr in step.probes
        for (src, dst), allowed in pr.table().items()
    }
    assert got == want


@pytest.mark.slow
def test_static_mode_passes_every_upstream_cell(tmp_path: Path) -> None:
    for test, number, step in CASES:
        sc.write(tmp_path, test, number, step)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--netpol-static", "."],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    tail = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, tail
    # --netpol-static writes no JSON summary: read pytest's own outcome line.
    want = sum(len(sc.expected_cells(step)) for _, _, step in CASES)
    outcome = re.search(r"^(\d+) passed in ", result.stdout, re.M)
    assert outcome is not None and int(outcome.group(1)) == want, tail
