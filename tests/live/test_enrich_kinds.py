"""What the live explanation reads back besides pods, namespaces and NetworkPolicies."""

from __future__ import annotations

from typing import Any

from harness.live.enrich import extended_kinds_of
from tests.live.factory import make_plan

CELLS: list[tuple[str, str, int, Any]] = [("web", "db", 5432, "deny")]
K8S = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-db", "namespace": "ns-r1"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
}
CALICO = {
    "apiVersion": "projectcalico.org/v3",
    "kind": "NetworkPolicy",
    "metadata": {"name": "by-account", "namespace": "ns-r1"},
    "spec": {"serviceAccountSelector": "role == 'backend'", "ingress": [{"action": "Deny"}]},
}
CNP = {
    "apiVersion": "policy.networking.k8s.io/v1alpha2",
    "kind": "ClusterNetworkPolicy",
    "metadata": {"name": "admin"},
    "spec": {"tier": "Admin", "priority": 1, "subject": {"namespaces": {}}, "ingress": []},
}


def test_kubernetes_policies_only_read_nothing_more() -> None:
    assert extended_kinds_of(make_plan(CELLS, policies=[K8S])) == []


def test_calico_policies_read_their_tiers_and_the_service_accounts() -> None:
    # serviceAccountSelector / serviceAccounts.selector match the accounts' labels, so an
    # explanation without them would judge every account unlabelled.
    assert extended_kinds_of(make_plan(CELLS, policies=[K8S, CALICO])) == [
        ("projectcalico.org/v3", "NetworkPolicy"),
        ("projectcalico.org/v3", "Tier"),
        ("v1", "ServiceAccount"),
    ]


def test_cluster_network_policies_need_no_accounts() -> None:
    assert extended_kinds_of(make_plan(CELLS, policies=[CNP])) == [
        ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
    ]
