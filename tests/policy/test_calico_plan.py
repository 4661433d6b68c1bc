"""Hermetic runs confine cluster-wide policies to the namespaces the run creates.

harness/plan/manifests.py (map_manifest): a GlobalNetworkPolicy's namespaceSelector and a
cluster policy's subject get an AND term naming the run's namespaces; namespace names
in Calico selector strings are mapped like those of namespaceSelector label selectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.plan import build
from harness.policy import selectors
from harness.scenario.loader import load

ROOT = Path(__file__).resolve().parents[2]


def _manifests(name: str) -> list[dict[str, Any]]:
    plan = build(load(ROOT / "scenarios" / f"{name}.netpol.yaml"), "r1", created="x")
    return [dict(doc.body) for doc in plan.manifests]


def test_global_network_policy_is_confined() -> None:
    gnp = next(
        m for m in _manifests("calico-global-default-deny") if m["kind"] == "GlobalNetworkPolicy"
    )
    text = gnp["spec"]["namespaceSelector"]
    node = selectors.parse(text)
    assert node.matches({"projectcalico.org/name": "production-r1"})
    assert not node.matches({"projectcalico.org/name": "production"})
    assert not node.matches({"projectcalico.org/name": "kube-system"})
    # kube-system is an existing namespace: its name is kept in the DNS rule
    dns = gnp["spec"]["egress"][0]["destination"]["namespaceSelector"]
    assert dns == "projectcalico.org/name == 'kube-system'"


def test_calico_selector_names_are_mapped() -> None:
    gnp = next(m for m in _manifests("calico-pass") if m["kind"] == "GlobalNetworkPolicy")
    assert "'production-r1'" in gnp["spec"]["namespaceSelector"]


def test_cluster_network_policy_subject_is_confined() -> None:
    cnp = next(
        m for m in _manifests("cluster-network-policy-admin") if m["kind"] == "ClusterNetworkPolicy"
    )
    exprs = cnp["spec"]["subject"]["namespaces"]["matchExpressions"]
    assert exprs == [
        {
            "key": "kubernetes.io/metadata.name",
            "operator": "In",
            "values": ["other-r1", "production-r1"],
        }
    ]
