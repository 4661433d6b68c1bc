"""The plugin end to end, black-box, against a real sandbox: the main job and its failure modes.

- every scenario in scenarios/ passes under ``-n 2`` and the JUnit file has one
  testcase per cell with its properties (what ``make demo`` does);
- a deliberately wrong expectation fails exactly that cell, with the policy
  explanation and the ``kubectl exec`` command that reproduces the probe;
- nothing the runs created is left in the cluster.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.scenario.loader import load
from tests.live.sbx import run_plugin
from tests.live.test_e2e_sandbox import _sandbox

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _sandbox(tmp_path_factory.mktemp("sbx-plugin"))


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_plugin(*args, cwd=cwd)


def _managed_namespaces(kubeconfig: str) -> list[str]:
    from harness.live.cluster import Cluster
    from harness.model import MANAGED_BY_LABEL
    from harness.model import MANAGED_BY_VALUE

    cluster = Cluster(kubeconfig=kubeconfig)
    return [
        str(ns["metadata"]["name"])
        for ns in cluster.list_namespaces(f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
        if ns.get("status", {}).get("phase") != "Terminating"
    ]


def test_every_scenario_passes_with_one_junit_testcase_per_cell(
    kubeconfig: str, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    summary = tmp_path / "summary.json"
    result = _pytest(
        str(SCENARIOS),
        "-n",
        "2",
        "-q",
        f"--netpol-kubeconfig={kubeconfig}",
        f"--netpol-junit={junit}",
        f"--netpol-report-json={summary}",
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

    from harness.policy.model import extended_kinds

    scenarios = [load(path) for path in sorted(SCENARIOS.glob("*.netpol.yaml"))]
    # the Calico and network-policy-api scenarios run live too (the sandbox serves and
    # enforces those kinds): every cell of every scenario lands in the reports
    assert [s for s in scenarios if extended_kinds(d.body for d in s.manifests)]
    expected_ids = {
        cell.test_id(scenario.name) for scenario in scenarios for cell in scenario.cells
    }
    assert "skipped" not in result.stdout.splitlines()[-1], result.stdout[-2000:]
    root = ET.parse(junit).getroot()
    cases = root.findall("testsuite/testcase")
    seen = {f"{c.get('classname', '').removeprefix('netpol.')}::{c.get('name')}" for c in cases}
    assert len(cases) == len(expected_ids)
    assert seen == expected_ids
    assert root.get("failures") == "0" and root.get("errors") == "0"
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.findall("properties/property")}
        assert {"source", "destination", "port", "protocol", "expected", "observed"} <= set(props)
        assert props["observed"] == ("connected" if props["expected"] == "allow" else "dropped")
        assert str(props["rerun"]).startswith("kubectl exec ")

    doc = json.loads(summary.read_text())
    assert sum(len(s["cells"]) for s in doc["scenarios"]) == len(expected_ids)
    assert "netpol truth tables" in result.stdout
    assert _managed_namespaces(kubeconfig) == []


WRONG_SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata:
  name: wrong
namespaces:
  - name: shop
workloads:
  - {name: web, namespace: shop, labels: {app: web}, ports: [80]}
  - {name: api, namespace: shop, labels: {app: api}, ports: [8080]}
manifests:
  - policy.yaml
expect:
  allow:
    - web -> api:8080
    - api -> web:80        # wrong on purpose: only web -> api is allowed
"""

WRONG_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny-all, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
"""


def test_wrong_cell_fails_alone_with_explanation_and_rerun(kubeconfig: str, tmp_path: Path) -> None:
    (tmp_path / "wrong.netpol.yaml").write_text(WRONG_SCENARIO)
    (tmp_path / "policy.yaml").write_text(WRONG_POLICY)
    junit = tmp_path / "junit.xml"
    result = _pytest(
        "wrong.netpol.yaml",
        f"--netpol-kubeconfig={kubeconfig}",
        f"--netpol-junit={junit}",
        "--netpol-convergence=3s",
        cwd=tmp_path,
    )
    out = result.stdout
    assert result.returncode == 1, out[-4000:]
    assert "1 failed, 1 passed" in out
    assert "FAILED wrong.netpol.yaml::api->web:80/TCP[allow]" in out
    assert "expected allow, observed dropped" in out
    assert "web-deny-all" in out  # the policy that decided it, from the live objects
    assert "kubectl exec" in out and " -c client " in out
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "1" and root.get("errors") == "0"
    assert _managed_namespaces(kubeconfig) == []
