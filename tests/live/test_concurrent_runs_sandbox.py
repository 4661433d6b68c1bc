"""Two runs at once against one cluster, both with cluster-wide policies: neither sees the other.

Two pytest processes start together on one sandbox, each running the guide's Calico
and ClusterNetworkPolicy scenarios (a GlobalNetworkPolicy default deny, a Tier, Admin
and Baseline ClusterNetworkPolicies) and a conformance scenario with the
BaselineAdminNetworkPolicy, which runs cannot rename (they take turns on it, across
processes). Every cell of both runs must pass, none flipped: a global deny that reached
the other run's pods, or a BANP replaced under a running scenario, would fail cells.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fidelity import calico_scenarios as cs
from tests.live.sbx import ROOT
from tests.live.sbx import env
from tests.live.sbx import plugin_argv
from tests.live.sbx import sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

SCENARIOS = [
    "scenarios/calico-global-default-deny.netpol.yaml",
    "scenarios/calico-pass.netpol.yaml",
    "scenarios/cluster-network-policy-admin.netpol.yaml",
    "scenarios/cluster-network-policy-baseline.netpol.yaml",
]
BANP = "anp-integration-pass-pass-no-np"


def test_two_concurrent_runs_with_cluster_wide_policies(tmp_path: Path) -> None:
    doc, objs = cs.conformance_cases()[BANP]
    work = tmp_path / "banp"
    cs.write_scenario(work, BANP, doc, objs)
    banp = str(work / BANP / f"{BANP}.netpol.yaml")
    for kubeconfig in sandbox(tmp_path / "sbx"):
        runs = []
        for n in (1, 2):
            report = tmp_path / f"run{n}.json"
            cmd = plugin_argv(
                "-q",
                f"--netpol-kubeconfig={kubeconfig}",
                f"--netpol-report-json={report}",
                *SCENARIOS,
                banp,
            )
            runs.append(
                (
                    report,
                    subprocess.Popen(
                        cmd,
                        cwd=ROOT,
                        env=env(),
                        text=True,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                    ),
                )
            )
        outputs = []
        for _report, proc in runs:
            out, _ = proc.communicate(timeout=600)
            outputs.append(out)
            assert proc.returncode == 0, out[-5000:]
        ids = []
        for (report, _), out in zip(runs, outputs, strict=True):
            summary = json.loads(report.read_text())
            scenarios = summary["scenarios"]
            assert len(scenarios) == len(SCENARIOS) + 1, out[-3000:]
            for s in scenarios:
                assert s["counts"]["fail"] == 0 and s["counts"]["error"] == 0, (
                    s["scenario"],
                    out[-3000:],
                )
                assert s["flipped"] == 0, s["scenario"]
            ids.append({s["run_id"] for s in scenarios})
        assert not ids[0] & ids[1]  # two runs, their own objects
