"""Two CI jobs at once against one cluster: both pass, neither touches the other's objects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.reliability import kit

pytestmark = pytest.mark.sandbox

PAIR = ["default-deny-ingress.netpol.yaml", "dns.netpol.yaml"]


def test_two_runs_of_the_same_scenarios_at_once_both_pass_in_their_own_namespaces(
    sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    procs = []
    reports = []
    for name in ("a", "b"):
        argv, _, report = kit.pytest_argv(sandbox_kubeconfig, PAIR, tmp_path / name)
        (tmp_path / name).mkdir()
        procs.append(
            subprocess.Popen(
                argv, env=kit.env(), cwd=kit.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        )
        reports.append(report)
    outputs = [p.communicate(timeout=900)[0].decode(errors="replace") for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    runs = []
    for report in reports:
        data = json.loads(report.read_text())
        runs.append(
            {
                s["scenario"]: (s["run_id"], set(s["namespaces"].values()) - {"kube-system"})
                for s in data["scenarios"]
            }
        )
        assert all(c["status"] == "pass" for s in data["scenarios"] for c in s["cells"])
    a, b = runs
    assert set(a) == set(b) == {"default-deny-ingress", "dns"}
    ids = [a[s][0] for s in a] + [b[s][0] for s in b]
    assert len(set(ids)) == 4  # every scenario of every run has its own run id
    namespaces_a = set().union(*(ns for _, ns in a.values()))
    namespaces_b = set().union(*(ns for _, ns in b.values()))
    assert namespaces_a and namespaces_b
    assert not namespaces_a & namespaces_b  # neither saw (nor deleted) the other's
    assert kit.leftovers(sandbox_kubeconfig) == []
