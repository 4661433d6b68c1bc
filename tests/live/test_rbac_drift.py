"""The RBAC the harness documents against the calls it makes, both ways (issue: RBAC drift).

A sandbox run with a token holding exactly ``HERMETIC_RULES`` records every authorized
request (the sandbox's audit log: user, verb, group, resource). Every (verb, group,
resource) the harness used must be granted, and every granted one must be used by that
run or be one of the CONDITIONAL paths below (code that runs only when something goes
wrong), each named with the code that needs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.rbac import HERMETIC_RULES
from harness.rbac import HERMETIC_SERVICE_ACCOUNT
from harness.rbac import SYSTEM_NAMESPACE
from tests.live import sbx

USER = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{HERMETIC_SERVICE_ACCOUNT}"
Key = tuple[str, str, str]  # (verb, group, resource[/subresource])

#: Granted, but a run that goes well does not call them: (verb, group, resource) -> where.
CONDITIONAL: dict[Key, str] = {
    ("get", "", "pods"): "Cluster.create: a 409 on a retried pod create reads it (ours?)",
    ("get", "", "services"): "Cluster.create: a 409 on re-apply reads the existing Service",
    ("update", "", "services"): "Cluster.create: a 409 on re-apply replaces the Service (PUT)",
    ("get", "networking.k8s.io", "networkpolicies"): "Cluster.create: 409 -> read, replace",
    ("update", "networking.k8s.io", "networkpolicies"): "Cluster.create: 409 -> replace (PUT)",
    ("list", "", "events"): "waits.wait_pods_ready: why a pod is not Ready (Events)",
    ("get", "", "pods/log"): "waits.wait_pods_ready: the last log lines of unready containers",
    ("get", "", "pods/exec"): "WebSocket exec before Kubernetes 1.35 is authorized as get "
    "(the sandbox authorizes it as 1.35+ does: create)",
    ("get", "", "namespaces"): "Cluster.create: a 409 on a retried namespace create (ours?)",
    ("get", "", "serviceaccounts"): "Cluster.create: a 409 on a retried account create (ours?)",
    ("delete", "", "pods"): "session cleanup: a pod the run created outside its namespaces",
    ("delete", "", "services"): "session cleanup: a Service created outside the namespaces",
}

SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: drift}
namespaces: [{name: shop}]
workloads:
  - {name: web, namespace: shop, labels: {app: web}, ports: [80],
     serviceAccount: {name: web-runner, labels: {team: shop}}}
  - {name: db, namespace: shop, labels: {app: db}, ports: [5432]}
manifests: [policy.yaml]
expect:
  allow: [web -> db:5432, web -> svc:db:5432, web -> dns]
  deny: [db -> web:80]
steps:                # a step deletes a policy and relabels a pod and a namespace
  - name: changed
    delete: [policy.yaml]
    label:
      - {workload: web, set: {tier: front}}
      - {namespace: shop, set: {team: a}}
    changes:
      allow: [db -> web:80]
"""
POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
"""


def _rules(keys: list[Key]) -> list[dict[str, Any]]:
    return [{"verbs": [v], "apiGroups": [g], "resources": [r]} for v, g, r in keys]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, set[Key]]]:
    """Run the preflight, a scenario and the cleanup command with the hermetic token."""
    base = tmp_path_factory.mktemp("drift")
    rbac = {
        "tokens": {"hermetic": {"user": USER, "rules": _rules([p.key for p in HERMETIC_RULES])}}
    }
    (base / "rbac.json").write_text(json.dumps(rbac))
    for admin in sbx.sandbox(base / "state", "--rbac", str(base / "rbac.json")):
        from netpol_sandbox import kubeconfig as kc

        kubeconfig = base / "hermetic.kubeconfig"
        kc.with_token(Path(admin), kubeconfig, "hermetic", USER)
        (base / "scn").mkdir()
        (base / "scn" / "pyproject.toml").write_text("")
        (base / "scn" / "drift.netpol.yaml").write_text(SCENARIO)
        (base / "scn" / "policy.yaml").write_text(POLICY)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
             f"--netpol-kubeconfig={kubeconfig}", "drift.netpol.yaml"],
            capture_output=True, text=True, timeout=300, env=sbx.env(), cwd=base / "scn",
            check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        cleanup = sbx.cli("cleanup", "--kubeconfig", str(kubeconfig))
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
        used: set[Key] = set()
        for line in (base / "state" / "audit.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry["user"] == USER:
                used.add((entry["verb"], entry["group"], entry["resource"]))
        yield base, used


@pytest.mark.sandbox
def test_every_call_the_harness_makes_is_granted(audited: tuple[Path, set[Key]]) -> None:
    _, used = audited
    granted = {p.key for p in HERMETIC_RULES}
    assert sorted(used - granted) == []


@pytest.mark.sandbox
def test_every_grant_is_used_or_a_named_conditional_path(audited: tuple[Path, set[Key]]) -> None:
    _, used = audited
    granted = {p.key for p in HERMETIC_RULES}
    unexplained = granted - used - set(CONDITIONAL)
    assert sorted(unexplained) == [], f"granted but never used: {sorted(unexplained)}"
    assert sorted(set(CONDITIONAL) - granted) == [], "a conditional path needs its grant"
    assert sorted(set(CONDITIONAL) & used) == [], "used by a plain run: not conditional"
