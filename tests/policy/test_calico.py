"""Calico v3 policies, tiers and the network-policy-api cluster policies, table-driven.

Every case names the upstream text it follows (URL and section). Calico reference:
https://docs.tigera.io/calico/latest/reference/resources/ (networkpolicy, globalnetworkpolicy,
tier). network-policy-api: https://github.com/kubernetes-sigs/network-policy-api
(apis/v1alpha2/clusternetworkpolicy_types.go; conformance/tests).
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import ConfigError
from harness.policy.engine import ClusterModel
from harness.policy.model import extended_kinds
from tests.policy.builders import ns
from tests.policy.builders import pod
from tests.policy.builders import policy
from tests.policy.builders import service_account
from tests.policy.conformance import network_policy_api as npa

CALICO = "https://docs.tigera.io/calico/latest/reference/resources"
SA_RULES = "https://docs.tigera.io/calico/latest/network-policy/policy-rules/service-accounts"

WORLD: list[dict[str, Any]] = [
    ns("prod", team="a"),
    ns("dev", team="b"),
    ns("kube-system"),
    pod("prod", "web", {"app": "web"}, "10.0.0.1", (("http", 80, "TCP"),)),
    pod(
        "prod",
        "api",
        {"app": "api", "tier": "backend"},
        "10.0.0.2",
        (("http", 8080, "TCP"),),
        service_account="api-sa",
    ),
    service_account("prod", "api-sa", group="backend"),
    pod("dev", "tool", {"app": "tool", "role": "intruder"}, "10.0.1.1"),
    pod("kube-system", "dns", {"k8s-app": "kube-dns"}, "10.0.9.9", (("dns", 53, "UDP"),)),
]


def cnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": spec,
    }


def gnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def tier(name: str, order: float | None, action: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if order is not None:
        spec["order"] = order
    if action:
        spec["defaultAction"] = action
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "Tier",
        "metadata": {"name": name},
        "spec": spec,
    }


def k8s_cnp(name: str, tier_: str, priority: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": tier_, "priority": priority, **spec},
    }


def web_from_accounts(match: dict[str, Any]) -> dict[str, Any]:
    """A Calico spec: web's ingress allowed only from pods running as accounts ``match``."""
    return {
        "selector": "app == 'web'",
        "types": ["Ingress"],
        "ingress": [{"action": "Allow", "source": {"serviceAccounts": match}}],
    }


ALL_NS: dict[str, Any] = {"namespaces": {}}
DENY_IN = {"selector": "all()", "types": ["Ingress"], "ingress": [{"action": "Deny"}]}

Case = tuple[str, list[dict[str, Any]], str, str, int | str, str, bool]

#: (upstream reference, objects, src, dst, port, protocol, allowed)
CASES: dict[str, Case] = {
    "deny-rule-denies": (
        f"{CALICO}/networkpolicy#rule: action Deny",
        [cnp("d", DENY_IN)],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "order-lower-first": (
        f"{CALICO}/networkpolicy#spec: order, lower value first",
        [
            cnp("allow", {"order": 1, "ingress": [{"action": "Allow"}]}),
            cnp("deny", {"order": 2, **DENY_IN}),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "missing-order-last": (
        f"{CALICO}/networkpolicy#spec: order, no value = lowest precedence",
        [cnp("deny", DENY_IN), cnp("allow", {"order": 5000, "ingress": [{"action": "Allow"}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "selected-no-rule-end-of-tier-drop": (
        f"{CALICO}/tier#how-policy-is-evaluated: tier applies, takes no action: dropped",
        [
            cnp(
                "only-api",
                {"ingress": [{"action": "Allow", "source": {"selector": "app == 'api'"}}]},
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "namespaced-selector-own-namespace": (
        f"{CALICO}/networkpolicy#entityrule: selector in a namespaced policy",
        [cnp("x", {"ingress": [{"action": "Allow", "source": {"selector": "app == 'tool'"}}]})],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "global-selector-all-namespaces": (
        f"{CALICO}/globalnetworkpolicy#entityrule: selector in a global policy",
        [
            gnp(
                "x",
                {
                    "selector": "app == 'web'",
                    "ingress": [{"action": "Allow", "source": {"selector": "app == 'tool'"}}],
                },
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "namespace-selector-projectcalico-name": (
        f"{CALICO}/networkpolicy#entityrule: namespaceSelector; projectcalico.org/name",
        [
            cnp(
                "x",
                {
                    "ingress": [
                        {
                            "action": "Allow",
                            "source": {"namespaceSelector": "projectcalico.org/name == 'dev'"},
                        }
                    ]
                },
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "automatic-namespace-label": (
        f"{CALICO}/networkpolicy#selectors: projectcalico.org/namespace on endpoints",
        [
            gnp(
                "x",
                {
                    "selector": "projectcalico.org/namespace == 'prod'",
                    **{k: v for k, v in DENY_IN.items() if k != "selector"},
                },
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "not-selector": (
        f"{CALICO}/networkpolicy#entityrule: notSelector",
        [cnp("x", {"ingress": [{"action": "Allow", "source": {"notSelector": "app == 'api'"}}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "nets": (
        f"{CALICO}/networkpolicy#entityrule: nets",
        [cnp("x", {"ingress": [{"action": "Allow", "source": {"nets": ["10.0.1.0/24"]}}]})],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "empty-nets-is-unset": (
        f"{CALICO}/networkpolicy#entityrule: nets (a Go list with omitempty: [] = not set)",
        [
            cnp(
                "x",
                {"ingress": [{"action": "Allow", "source": {"nets": []}}]},
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "not-nets": (
        f"{CALICO}/networkpolicy#entityrule: notNets",
        [cnp("x", {"ingress": [{"action": "Allow", "source": {"notNets": ["10.0.1.0/24"]}}]})],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "port-range": (
        f'{CALICO}/networkpolicy#ports: "80:81" ranges',
        [
            cnp(
                "x",
                {
                    "ingress": [
                        {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["79:81"]}}
                    ]
                },
            )
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "named-port": (
        f"{CALICO}/networkpolicy#ports: named ports",
        [
            cnp(
                "x",
                {
                    "ingress": [
                        {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]}}
                    ]
                },
            )
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "not-ports": (
        f"{CALICO}/networkpolicy#entityrule: notPorts",
        [
            cnp(
                "x",
                {
                    "ingress": [
                        {"action": "Allow", "protocol": "TCP", "destination": {"notPorts": [80]}}
                    ]
                },
            )
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "protocol-number": (
        f"{CALICO}/networkpolicy#rule: protocol as a number (6 = TCP)",
        [cnp("x", {"ingress": [{"action": "Allow", "protocol": 6}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "not-protocol": (
        f"{CALICO}/networkpolicy#rule: notProtocol",
        [cnp("x", {"ingress": [{"action": "Allow", "notProtocol": "TCP"}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "log-decides-nothing": (
        f"{CALICO}/networkpolicy#action: Log, evaluation continues",
        [cnp("x", {"ingress": [{"action": "Log"}, {"action": "Allow"}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "types-default-egress-only": (
        f"{CALICO}/networkpolicy#spec: types default (egress rules only: Egress)",
        [cnp("x", {"egress": [{"action": "Deny"}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "types-default-egress-only-ingress-untouched": (
        f"{CALICO}/networkpolicy#spec: types default (egress rules only: not Ingress)",
        [cnp("x", {"selector": "app == 'web'", "egress": [{"action": "Deny"}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "pass-to-default-tier-k8s": (
        f"{CALICO}/tier#how-policy-is-evaluated: Pass goes to the next tier",
        [
            tier("sec", 100),
            gnp("sec.p", {"tier": "sec", "ingress": [{"action": "Pass"}]}),
            policy("prod", "deny-web", {"podSelector": {"matchLabels": {"app": "web"}}}),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "pass-last-tier-profiles-allow": (
        f"{CALICO}/tier#how-policy-is-evaluated: the last tier passes: profiles (allow)",
        [tier("sec", 100), gnp("sec.p", {"tier": "sec", "ingress": [{"action": "Pass"}]})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "tier-default-action-pass": (
        f"{CALICO}/tier#spec: defaultAction Pass",
        [
            tier("sec", 100, "Pass"),
            gnp(
                "sec.p",
                {
                    "tier": "sec",
                    "ingress": [{"action": "Allow", "source": {"selector": "app == 'x'"}}],
                },
            ),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "tier-order-first-wins": (
        f"{CALICO}/tier#spec: order, lower first",
        [
            tier("a", 10),
            tier("b", 20),
            gnp("b.allow", {"tier": "b", "ingress": [{"action": "Allow"}]}),
            gnp("a.deny", {"tier": "a", **DENY_IN}),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "k8s-policy-in-default-tier": (
        f"{CALICO}/tier: Kubernetes NetworkPolicies live in the default tier (order 1000)",
        [
            cnp("early-deny", {"order": 500, **DENY_IN}),
            policy("prod", "allow-all", {"podSelector": {}, "ingress": [{}]}),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "service-account-selector": (
        f"{CALICO}/networkpolicy#spec: serviceAccountSelector",
        [cnp("x", {"serviceAccountSelector": "projectcalico.org/name == 'other'", **DENY_IN})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "sa-selector-matches-the-accounts-labels": (
        f"{SA_RULES}#service account labels; {CALICO}/networkpolicy#spec: serviceAccountSelector",
        [cnp("x", {"serviceAccountSelector": "group == 'backend'", **DENY_IN})],
        "prod/web",
        "prod/api",
        8080,
        "TCP",
        False,
    ),
    "sa-selector-skips-other-accounts": (
        f"{SA_RULES}#service account labels (web runs as default, unlabelled)",
        [cnp("x", {"serviceAccountSelector": "group == 'backend'", **DENY_IN})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "rule-sa-selector-admits-the-labelled-account": (
        f"{SA_RULES}#limit ingress by service account labels; "
        f"{CALICO}/networkpolicy#serviceaccountmatch",
        [cnp("x", web_from_accounts({"selector": "group == 'backend'"}))],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "rule-sa-selector-refuses-other-accounts": (
        f"{SA_RULES}#limit ingress by service account labels (tool's account is unlabelled)",
        [gnp("x", web_from_accounts({"selector": "group == 'backend'"}))],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "rule-sa-names": (
        f"{SA_RULES}#limit ingress by service account name; "
        f"{CALICO}/networkpolicy#serviceaccountmatch",
        [cnp("x", web_from_accounts({"names": ["api-sa"]}))],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "pod-label-projectcalico-serviceaccount": (
        "https://docs.tigera.io/calico/latest/network-policy/get-started/calico-policy/"
        "calico-labels#labels for matching service accounts",
        [cnp("x", {"selector": "projectcalico.org/serviceaccount == 'api-sa'", **DENY_IN})],
        "prod/web",
        "prod/api",
        8080,
        "TCP",
        False,
    ),
    "gnp-namespace-selector": (
        f"{CALICO}/globalnetworkpolicy#spec: namespaceSelector",
        [gnp("x", {"namespaceSelector": "team == 'b'", **DENY_IN})],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    # network-policy-api: apis/v1alpha2/clusternetworkpolicy_types.go, ClusterNetworkPolicySpec.Tier
    "admin-before-networkpolicy": (
        "network-policy-api v1alpha2 Tier: Admin takes precedence over all other policies",
        [
            k8s_cnp(
                "a",
                "Admin",
                1,
                {"subject": ALL_NS, "ingress": [{"action": "Deny", "from": [ALL_NS]}]},
            ),
            policy("prod", "allow-all", {"podSelector": {}, "ingress": [{}]}),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "admin-pass-to-networkpolicy": (
        "network-policy-api v1alpha2 Pass: skips to the next tier",
        [
            k8s_cnp(
                "a",
                "Admin",
                1,
                {"subject": ALL_NS, "ingress": [{"action": "Pass", "from": [ALL_NS]}]},
            ),
            policy("prod", "deny", {"podSelector": {}}),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "baseline-after-networkpolicy": (
        "network-policy-api v1alpha2 Tier: NetworkPolicy decides for the pods it selects",
        [
            k8s_cnp(
                "b",
                "Baseline",
                1,
                {"subject": ALL_NS, "ingress": [{"action": "Deny", "from": [ALL_NS]}]},
            ),
            policy("prod", "allow-all", {"podSelector": {}, "ingress": [{}]}),
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "baseline-unselected-pods": (
        "network-policy-api v1alpha2 Tier: Baseline for pods no NetworkPolicy selects",
        [
            k8s_cnp(
                "b",
                "Baseline",
                1,
                {"subject": ALL_NS, "ingress": [{"action": "Deny", "from": [ALL_NS]}]},
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "admin-priority-lower-first": (
        "network-policy-api v1alpha2 Priority: lower values have higher precedence",
        [
            k8s_cnp(
                "deny",
                "Admin",
                50,
                {"subject": ALL_NS, "ingress": [{"action": "Deny", "from": [ALL_NS]}]},
            ),
            k8s_cnp(
                "accept",
                "Admin",
                40,
                {"subject": ALL_NS, "ingress": [{"action": "Accept", "from": [ALL_NS]}]},
            ),
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        True,
    ),
    "admin-port-range": (
        "network-policy-api v1alpha2 PortRange: inclusive start..end",
        [
            k8s_cnp(
                "a",
                "Admin",
                1,
                {
                    "subject": ALL_NS,
                    "ingress": [
                        {
                            "action": "Deny",
                            "from": [ALL_NS],
                            "protocols": [
                                {"tcp": {"destinationPort": {"range": {"start": 79, "end": 80}}}}
                            ],
                        }
                    ],
                },
            )
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "admin-named-port": (
        "network-policy-api v1alpha2 destinationNamedPort",
        [
            k8s_cnp(
                "a",
                "Admin",
                1,
                {
                    "subject": ALL_NS,
                    "ingress": [
                        {
                            "action": "Deny",
                            "from": [ALL_NS],
                            "protocols": [{"destinationNamedPort": "http"}],
                        }
                    ],
                },
            )
        ],
        "prod/api",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "admin-networks-egress": (
        "network-policy-api v1alpha2 Networks: cluster-internal traffic is checked too",
        [
            k8s_cnp(
                "a",
                "Admin",
                1,
                {
                    "subject": ALL_NS,
                    "egress": [{"action": "Deny", "to": [{"networks": ["10.0.0.0/24"]}]}],
                },
            )
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
    "admin-egress-accept-ingress-still-applies": (
        "network-policy-api v1alpha2 Accept (egress): any ingress rules at the destination apply",
        [
            k8s_cnp(
                "a",
                "Admin",
                1,
                {"subject": ALL_NS, "egress": [{"action": "Accept", "to": [ALL_NS]}]},
            ),
            policy("prod", "deny", {"podSelector": {}}),
        ],
        "dev/tool",
        "prod/web",
        80,
        "TCP",
        False,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_case(name: str) -> None:
    ref, objs, src, dst, port, proto, allowed = CASES[name]
    cluster = ClusterModel.from_objects([*WORLD, *objs])
    decision = cluster.decide(src, dst, port, proto)
    assert decision.allowed is allowed, f"{ref}\n{decision.explain()}"
    matrix = cluster.matrix(port, proto)
    assert matrix[src][dst] is allowed, ref


def test_explanation_names_tier_policy_rule_and_action() -> None:
    """Calico tier reference: the tier, the policy, the rule and its action decide."""
    objs = [
        tier("sec", 100),
        gnp(
            "sec.block",
            {
                "tier": "sec",
                "ingress": [
                    {"action": "Allow", "source": {"selector": "app == 'x'"}},
                    {"action": "Deny", "source": {"selector": "role == 'intruder'"}},
                ],
            },
        ),
    ]
    text = ClusterModel.from_objects([*WORLD, *objs]).decide("dev/tool", "prod/web", 80).explain()
    assert "tier 'sec' (order 100, defaultAction Deny)" in text
    assert "GlobalNetworkPolicy sec.block, ingress[1]: Deny" in text


def test_kubernetes_only_explanations_unchanged() -> None:
    cluster = ClusterModel.from_objects([*WORLD, policy("prod", "d", {"podSelector": {}})])
    assert "decided by" not in cluster.decide("prod/api", "prod/web", 80).explain()


def test_missing_tier_is_an_error() -> None:
    with pytest.raises(ConfigError, match="Tier 'nope'"):
        ClusterModel.from_objects([*WORLD, gnp("x", {"tier": "nope"})])


def test_banp_must_be_named_default() -> None:
    obj = {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": "x"},
        "spec": {"subject": ALL_NS},
    }
    with pytest.raises(ConfigError, match="named 'default'"):
        ClusterModel.from_objects([*WORLD, obj])


def test_source_ports_are_refused() -> None:
    bad = cnp("x", {"ingress": [{"action": "Allow", "protocol": "TCP", "source": {"ports": [1]}}]})
    with pytest.raises(ConfigError, match="source ports"):
        ClusterModel.from_objects([*WORLD, bad])


def test_extended_kinds_found() -> None:
    assert extended_kinds([gnp("x", {}), policy("a", "b", {})]) == [
        "projectcalico.org/v3 GlobalNetworkPolicy"
    ]


# ---------------------------------------------------------------- conformance transcription


@pytest.mark.parametrize("subtest", npa.CNP_INGRESS_TCP)
def test_conformance_cnp_admin_ingress_tcp(subtest: str) -> None:
    """CNPAdminTierIngressTCP.

    conformance/tests/admin-network-policy-standard-ingress-tcp-rules.go
    """
    order, truth = npa.CNP_INGRESS_TCP[subtest]
    cluster = ClusterModel.from_objects([*npa.world(), npa.cnp_ingress_tcp(order)])
    for src, dst, port, proto, expected in truth:
        assert cluster.decide(src, dst, port, proto).allowed is expected, (subtest, src, dst, port)


@pytest.mark.parametrize("subtest", npa.INTEGRATION)
def test_conformance_anp_np_banp_integration(subtest: str) -> None:
    """AdminNetworkPolicyIntegration, conformance/tests/admin-network-policy-core-integration.go."""
    ingress, egress, with_np, truth = npa.INTEGRATION[subtest]
    cluster = ClusterModel.from_objects([*npa.world(), *npa.integration(ingress, egress, with_np)])
    for src, dst, port, proto, expected in truth:
        assert cluster.decide(src, dst, port, proto).allowed is expected, (subtest, src, dst, port)
