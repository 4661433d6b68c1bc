"""A multi-step scenario through the plugin (pytester): IDs, xdist, selection, static."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

STEPPED = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: stepped}
namespaces: [{name: shop}]
workloads:
  - {name: web, namespace: shop, labels: {app: web}, ports: [80]}
  - {name: db, namespace: shop, labels: {app: db}, ports: [5432]}
expect:
  allow: [web -> db:5432, db -> web:80]
steps:
  - name: lock-db
    apply: [db.yaml]
    changes: {deny: [web -> db:5432]}
  - name: unlock
    delete: [db.yaml]
    changes: {allow: [web -> db:5432]}
"""
POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-closed, namespace: shop}
spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress]}
"""
OTHER = STEPPED.split("steps:")[0].replace("name: stepped", "name: other")
IDS = [
    f"scenarios/stepped.netpol.yaml::{step}{cell}"
    for step in ("", "lock-db::", "unlock::")
    for cell in (
        "db->web:80/TCP[allow]",
        "web->db:5432/TCP[deny]" if step == "lock-db::" else "web->db:5432/TCP[allow]",
    )
]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "stepped.netpol.yaml").write_text(STEPPED)
    (pytester.path / "scenarios" / "other.netpol.yaml").write_text(OTHER)
    (pytester.path / "scenarios" / "db.yaml").write_text(POLICY)
    pytester.makeini("[pytest]\n")
    return pytester


def test_step_ids_in_the_order_probed_and_the_same_under_xdist(project: pytest.Pytester) -> None:
    result = project.runpytest("--collect-only", "-q", "scenarios/stepped.netpol.yaml")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == IDS  # the top level first, then each step in order
    xdist = project.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "-v", "-p", "no:cacheprovider", "--netpol-allow-no-cluster",
        "scenarios",
    )  # fmt: skip
    outcome = re.compile(r"^\[(gw\d+)\] .*?(SKIPPED|PASSED|FAILED) (\S+)")
    seen = {m.group(3): m.group(1) for m in map(outcome.match, xdist.outlines) if m}
    assert sorted(i for i in seen if "stepped" in i) == sorted(IDS)
    assert len({seen[i] for i in IDS}) == 1  # the whole scenario, every step, on one worker


def test_static_run_predicts_each_step_and_selection_counts_agree(
    project: pytest.Pytester,
) -> None:
    junit = project.path / "netpol.xml"
    result = project.runpytest(
        "-p", "no:cacheprovider", "--netpol-static", f"--netpol-junit={junit}",
        "-k", "lock and not unlock", "scenarios/stepped.netpol.yaml",
    )  # fmt: skip
    result.assert_outcomes(passed=2, deselected=4)
    suites = ET.parse(junit).getroot()
    cases = [c.get("name") for c in suites.iter("testcase")]
    assert len(cases) == 2 and all(name and "lock-db::" in name for name in cases), cases


def test_a_wrong_step_expectation_fails_static_in_that_step_only(
    project: pytest.Pytester,
) -> None:
    # The step forgets to apply the policy: its deny cannot hold, the other steps still do.
    wrong = STEPPED.replace("    apply: [db.yaml]\n", "").replace("    delete: [db.yaml]\n", "")
    (project.path / "scenarios" / "stepped.netpol.yaml").write_text(wrong)
    result = project.runpytest(
        "-p", "no:cacheprovider", "--netpol-static", "scenarios/stepped.netpol.yaml"
    )  # fmt: skip
    failed = sorted(line.split(" ")[1] for line in result.outlines if line.startswith("FAILED "))
    assert failed == ["scenarios/stepped.netpol.yaml::lock-db::web->db:5432/TCP[deny]"], (
        result.stdout.str()
    )
    assert "policies predict allow, scenario expects deny" in result.stdout.str()
