"""Table-driven tests of NetworkPolicy semantics, one rule of the API reference per group.

Every case runs through both implementations: ``decide`` (per cell, explained) and
``matrix`` (indexed), so a semantic slip in either one fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.policy.engine import ClusterModel
from tests.policy.builders import labels
from tests.policy.builders import ns
from tests.policy.builders import pod
from tests.policy.builders import policy

WORLD: list[dict[str, Any]] = [
    ns("x", team="x"),
    ns("y", team="y", env="prod"),
    # namespace z is deliberately absent: it exists only through its pod.
    pod(
        "x",
        "a",
        {"app": "a"},
        "10.0.0.1",
        (("http", 80, "TCP"), ("dns", 53, "UDP"), ("assoc", 9000, "SCTP"), ("web", 8080, "TCP")),
    ),
    pod("x", "b", {"app": "b"}, "10.0.0.2", (("http", 81, "TCP"),)),
    pod("y", "a", {"app": "a"}, "10.0.1.1", (("http", 80, "TCP"),)),
    pod("y", "c", {"app": "c", "tier": "db"}, "10.0.1.3"),
    pod("z", "d", {"app": "d"}),  # no IP yet (Pending)
    pod("x", "v6", {"app": "v6"}, "fd00::5", (("http", 80, "TCP"),)),
]

DENY_ALL_INGRESS_X = policy("x", "deny-in", {"podSelector": {}})


def ingress_to_a(*rules: dict[str, Any], namespace: str = "x") -> dict[str, Any]:
    return policy(namespace, "to-a", {"podSelector": labels(app="a"), "ingress": list(rules)})


def egress_from_a(*rules: dict[str, Any]) -> dict[str, Any]:
    return policy(
        "x",
        "from-a",
        {"podSelector": labels(app="a"), "policyTypes": ["Egress"], "egress": list(rules)},
    )


Case = tuple[list[dict[str, Any]], str, str, int | str, str, bool]

CASES: dict[str, Case] = {
    # "Traffic is allowed ... if there are no NetworkPolicies selecting the pod"
    "no-policy-allows": ([], "x/b", "x/a", 80, "TCP", True),
    # policyTypes omitted: "all policies ... are assumed to affect ingress"
    "default-types-ingress-isolates": ([DENY_ALL_INGRESS_X], "x/b", "x/a", 80, "TCP", False),
    "default-types-other-ns-untouched": ([DENY_ALL_INGRESS_X], "x/a", "y/a", 80, "TCP", True),
    "default-types-no-egress-isolation": ([DENY_ALL_INGRESS_X], "x/a", "y/c", 80, "TCP", True),
    # "policies that contain an egress section are assumed to affect egress"
    "default-types-egress-section-isolates-egress": (
        [
            policy(
                "x",
                "p",
                {
                    "podSelector": labels(app="b"),
                    "egress": [{"to": [{"podSelector": labels(app="a")}]}],
                },
            )
        ],
        "x/b",
        "y/a",
        80,
        "TCP",
        False,
    ),
    "default-types-egress-section-allows-rule": (
        [
            policy(
                "x",
                "p",
                {
                    "podSelector": labels(app="b"),
                    "egress": [{"to": [{"podSelector": labels(app="a")}]}],
                },
            )
        ],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # ... and the same policy still affects ingress of the pods it selects.
    "default-types-egress-policy-also-isolates-ingress": (
        [
            policy(
                "x",
                "p",
                {
                    "podSelector": labels(app="b"),
                    "egress": [{"to": [{"podSelector": labels(app="a")}]}],
                },
            )
        ],
        "x/a",
        "x/b",
        81,
        "TCP",
        False,
    ),
    # An empty egress list is not an egress section: the default stays ["Ingress"].
    "default-types-empty-egress-list-no-egress": (
        [policy("x", "p", {"podSelector": labels(app="b"), "egress": []})],
        "x/b",
        "y/a",
        80,
        "TCP",
        True,
    ),
    # policyTypes ["Egress"] with no egress rules: deny all egress, ingress untouched.
    "egress-only-deny-all": (
        [policy("x", "p", {"podSelector": {}, "policyTypes": ["Egress"]})],
        "x/a",
        "y/a",
        80,
        "TCP",
        False,
    ),
    "egress-only-leaves-ingress-open": (
        [policy("x", "p", {"podSelector": {}, "policyTypes": ["Egress"]})],
        "y/a",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # A connection needs the source's egress AND the destination's ingress.
    "egress-allows-but-ingress-denies": (
        [egress_from_a({}), policy("y", "deny", {"podSelector": {}})],
        "x/a",
        "y/a",
        80,
        "TCP",
        False,
    ),
    "ingress-allows-but-egress-denies": (
        [egress_from_a(), policy("y", "allow", {"podSelector": {}, "ingress": [{}]})],
        "x/a",
        "y/a",
        80,
        "TCP",
        False,
    ),
    # "If multiple NetworkPolicies select the same pod ... combined additively"
    "policies-are-additive": (
        [
            ingress_to_a({"from": [{"podSelector": labels(app="v6")}]}),
            policy(
                "x",
                "second",
                {
                    "podSelector": labels(app="a"),
                    "ingress": [{"from": [{"podSelector": labels(app="b")}]}],
                },
            ),
        ],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # A policy selects pods in its own namespace only.
    "policy-selects-own-namespace-only": (
        [ingress_to_a(namespace="y")],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # podSelector alone: "selects the Pods matching PodSelector in the policy's own Namespace"
    "pod-selector-same-namespace": (
        [ingress_to_a({"from": [{"podSelector": labels(app="b")}]})],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "pod-selector-not-other-namespace": (
        [ingress_to_a({"from": [{"podSelector": labels(app="a")}]})],
        "y/a",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # namespaceSelector alone: "selects all Pods in the Namespaces selected"
    "namespace-selector-all-pods-of-ns": (
        [ingress_to_a({"from": [{"namespaceSelector": labels(team="y")}]})],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "namespace-selector-not-own-ns-unless-selected": (
        [ingress_to_a({"from": [{"namespaceSelector": labels(team="y")}]})],
        "x/b",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # Both in one peer: pods matching podSelector IN namespaces matching namespaceSelector.
    "both-selectors-and-match": (
        [
            ingress_to_a(
                {"from": [{"namespaceSelector": labels(team="y"), "podSelector": labels(app="a")}]}
            )
        ],
        "y/a",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "both-selectors-and-wrong-pod": (
        [
            ingress_to_a(
                {"from": [{"namespaceSelector": labels(team="y"), "podSelector": labels(app="a")}]}
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "both-selectors-and-wrong-namespace": (
        [
            ingress_to_a(
                {"from": [{"namespaceSelector": labels(team="y"), "podSelector": labels(app="b")}]}
            )
        ],
        "x/b",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # Separate peers in from[] are ORed.
    "separate-peers-or-first": (
        [
            ingress_to_a(
                {
                    "from": [
                        {"namespaceSelector": labels(team="y")},
                        {"podSelector": labels(app="b")},
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "separate-peers-or-second": (
        [
            ingress_to_a(
                {
                    "from": [
                        {"namespaceSelector": labels(team="y")},
                        {"podSelector": labels(app="b")},
                    ]
                }
            )
        ],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # "An empty podSelector ... selects all pods" (of the policy's namespace as a peer).
    "empty-pod-selector-peer-own-namespace": (
        [ingress_to_a({"from": [{"podSelector": {}}]})],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "empty-pod-selector-peer-not-other-namespace": (
        [ingress_to_a({"from": [{"podSelector": {}}]})],
        "y/c",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # "if present but empty, it selects all namespaces"
    "empty-namespace-selector-all-namespaces": (
        [ingress_to_a({"from": [{"namespaceSelector": {}}]})],
        "z/d",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "empty-namespace-selector-not-external": (
        [ingress_to_a({"from": [{"namespaceSelector": {}}]})],
        "192.0.2.7",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # "If this field is empty or missing, this rule matches all sources"
    "from-empty-list-all-sources": (
        [ingress_to_a({"from": []})],
        "192.0.2.7",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "from-missing-all-sources": (
        [ingress_to_a({"ports": [{"port": 80}]})],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # ingress: [{}] allows everything to the selected pods.
    "ingress-empty-rule-allows-all": (
        [DENY_ALL_INGRESS_X, ingress_to_a({})],
        "y/c",
        "x/a",
        5432,
        "UDP",
        True,
    ),
    "ingress-empty-rule-only-selected-pods": (
        [DENY_ALL_INGRESS_X, ingress_to_a({})],
        "y/c",
        "x/b",
        81,
        "TCP",
        False,
    ),
    # to: [] / missing: all destinations (external included).
    "egress-to-missing-all-destinations": (
        [egress_from_a({"ports": [{"port": 443}]})],
        "x/a",
        "203.0.113.9",
        443,
        "TCP",
        True,
    ),
    # matchExpressions: In
    "expr-in-match": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["c", "q"]}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "expr-in-no-match": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["q"]}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # NotIn matches pods whose value differs...
    "expr-notin-other-value": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "tier", "operator": "NotIn", "values": ["web"]}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # ... and pods without the key at all.
    "expr-notin-missing-key": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "tier", "operator": "NotIn", "values": ["db"]}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
        "y/a",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "expr-notin-excluded-value": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "tier", "operator": "NotIn", "values": ["db"]}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "expr-exists": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [{"key": "tier", "operator": "Exists"}]
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "expr-exists-missing": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [{"key": "tier", "operator": "Exists"}]
                            },
                        }
                    ]
                }
            )
        ],
        "y/a",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "expr-does-not-exist": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]
                            },
                        }
                    ]
                }
            )
        ],
        "y/a",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "expr-does-not-exist-present": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # "The requirements are ANDed": matchLabels AND matchExpressions.
    "match-labels-and-expressions-both": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchLabels": {"app": "c"},
                                "matchExpressions": [
                                    {"key": "tier", "operator": "In", "values": ["db"]}
                                ],
                            },
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "match-labels-and-expressions-one-fails": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchLabels": {"app": "a"},
                                "matchExpressions": [
                                    {"key": "tier", "operator": "In", "values": ["db"]}
                                ],
                            },
                        }
                    ]
                }
            )
        ],
        "y/a",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # Namespace labels: kubernetes.io/metadata.name is set on every namespace,
    # including one that is only known through its pods.
    "namespace-name-label-implied": (
        [
            ingress_to_a(
                {"from": [{"namespaceSelector": labels(**{"kubernetes.io/metadata.name": "z"})}]}
            )
        ],
        "z/d",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "namespace-name-label-on-listed-namespace": (
        [
            ingress_to_a(
                {"from": [{"namespaceSelector": labels(**{"kubernetes.io/metadata.name": "y"})}]}
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "namespace-selector-expression": (
        [
            ingress_to_a(
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchExpressions": [{"key": "env", "operator": "Exists"}]
                            }
                        }
                    ]
                }
            )
        ],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # ipBlock: a CIDR; it matches pod IPs too.
    "ipblock-matches-pod-ip": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.0.1.0/24"}}]})],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # "except ... CIDRs that should not be included within this IPBlock"
    "ipblock-except-excludes": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.0.1.0/24", "except": ["10.0.1.0/30"]}}]})],
        "y/a",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "ipblock-except-outside-still-matches": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.0.1.0/24", "except": ["10.0.1.0/31"]}}]})],
        "y/c",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "ipblock-no-ip-no-match": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})],
        "z/d",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "ipblock-external-source": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]})],
        "192.0.2.7",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "ipblock-ipv6": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "fd00::/64", "except": ["fd00::/126"]}}]})],
        "x/v6",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "ipblock-ipv6-except": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "fd00::/64", "except": ["fd00::4/126"]}}]})],
        "x/v6",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "ipblock-v4-does-not-match-v6": (
        [ingress_to_a({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})],
        "x/v6",
        "x/a",
        80,
        "TCP",
        False,
    ),
    "ipblock-egress-external-except": (
        [egress_from_a({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]})],
        "x/a",
        "10.9.9.9",
        80,
        "TCP",
        False,
    ),
    "ipblock-egress-external": (
        [egress_from_a({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]})],
        "x/a",
        "198.51.100.1",
        80,
        "TCP",
        True,
    ),
    # Selectors never match an address outside the cluster.
    "egress-pod-selector-not-external": (
        [egress_from_a({"to": [{"namespaceSelector": {}}]})],
        "x/a",
        "198.51.100.1",
        80,
        "TCP",
        False,
    ),
    # ports: a number.
    "port-number-match": (
        [ingress_to_a({"ports": [{"port": 80}]})],
        "x/b",
        "x/a",
        80,
        "TCP",
        True,
    ),
    "port-number-other": (
        [ingress_to_a({"ports": [{"port": 80}]})],
        "x/b",
        "x/a",
        8080,
        "TCP",
        False,
    ),
    # "If not specified, this field defaults to TCP"
    "port-protocol-defaults-tcp": (
        [ingress_to_a({"ports": [{"port": 53}]})],
        "x/b",
        "x/a",
        53,
        "UDP",
        False,
    ),
    "port-udp": (
        [ingress_to_a({"ports": [{"port": 53, "protocol": "UDP"}]})],
        "x/b",
        "x/a",
        53,
        "UDP",
        True,
    ),
    "port-sctp": (
        [ingress_to_a({"ports": [{"port": 9000, "protocol": "SCTP"}]})],
        "x/b",
        "x/a",
        9000,
        "SCTP",
        True,
    ),
    # Only a protocol: every port of that protocol.
    "port-protocol-only": (
        [ingress_to_a({"ports": [{"protocol": "UDP"}]})],
        "x/b",
        "x/a",
        5353,
        "UDP",
        True,
    ),
    "port-protocol-only-other-protocol": (
        [ingress_to_a({"ports": [{"protocol": "UDP"}]})],
        "x/b",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # "endPort ... the range of ports from port to endPort, inclusive"
    "port-range-inside": (
        [ingress_to_a({"ports": [{"port": 8000, "endPort": 8080}]})],
        "x/b",
        "x/a",
        8080,
        "TCP",
        True,
    ),
    "port-range-outside": (
        [ingress_to_a({"ports": [{"port": 8000, "endPort": 8079}]})],
        "x/b",
        "x/a",
        8080,
        "TCP",
        False,
    ),
    # ports: [] = all ports.
    "ports-empty-list-all": (
        [ingress_to_a({"ports": [], "from": [{"podSelector": labels(app="b")}]})],
        "x/b",
        "x/a",
        31337,
        "SCTP",
        True,
    ),
    # Named port on ingress: resolved against the selected (destination) pod.
    "named-port-ingress": (
        [ingress_to_a({"ports": [{"port": "web"}]})],
        "x/b",
        "x/a",
        8080,
        "TCP",
        True,
    ),
    "named-port-ingress-other-number": (
        [ingress_to_a({"ports": [{"port": "web"}]})],
        "x/b",
        "x/a",
        80,
        "TCP",
        False,
    ),
    # The name must also match the protocol of the container port.
    "named-port-protocol-mismatch": (
        [ingress_to_a({"ports": [{"port": "dns", "protocol": "TCP"}]})],
        "x/b",
        "x/a",
        53,
        "TCP",
        False,
    ),
    "named-port-udp": (
        [ingress_to_a({"ports": [{"port": "dns", "protocol": "UDP"}]})],
        "x/b",
        "x/a",
        53,
        "UDP",
        True,
    ),
    # Named port on egress: resolved against the destination pod (x/b's http is 81).
    "named-port-egress-resolved-on-destination": (
        [egress_from_a({"ports": [{"port": "http"}]})],
        "x/a",
        "x/b",
        81,
        "TCP",
        True,
    ),
    "named-port-egress-not-source-number": (
        [egress_from_a({"ports": [{"port": "http"}]})],
        "x/a",
        "x/b",
        80,
        "TCP",
        False,
    ),
    # A named port never matches a destination outside the cluster.
    "named-port-egress-external": (
        [egress_from_a({"ports": [{"port": "http"}]})],
        "x/a",
        "198.51.100.1",
        80,
        "TCP",
        False,
    ),
    # Asking by port name: resolved on the destination pod.
    "query-by-name": (
        [ingress_to_a({"ports": [{"port": 8080}]})],
        "x/b",
        "x/a",
        "web",
        "TCP",
        True,
    ),
    "query-by-name-not-served": ([], "x/a", "y/c", "http", "TCP", False),
    # Traffic from a pod to itself follows the same rules.
    "self-denied-by-isolation": ([DENY_ALL_INGRESS_X], "x/a", "x/a", 80, "TCP", False),
    "self-allowed-by-rule": (
        [ingress_to_a({"from": [{"podSelector": labels(app="a")}]})],
        "x/a",
        "x/a",
        80,
        "TCP",
        True,
    ),
    # External source: only the destination's ingress applies.
    "external-source-unisolated": ([], "192.0.2.7", "x/a", 80, "TCP", True),
    "external-source-isolated": ([DENY_ALL_INGRESS_X], "192.0.2.7", "x/a", 80, "TCP", False),
    # An IP of a pod is that pod.
    "ip-of-pod-is-the-pod": (
        [ingress_to_a({"from": [{"podSelector": labels(app="b")}]})],
        "10.0.0.2",
        "x/a",
        80,
        "TCP",
        True,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide(case: Case) -> None:
    policies, src, dst, port, proto, expected = case
    cluster = ClusterModel.from_objects([*WORLD, *policies])
    decision = cluster.decide(src, dst, port, proto)
    assert decision.allowed is expected, decision.explain()


POD_PAIRS = {k: c for k, c in CASES.items() if "/" in c[1] and "/" in c[2]}


@pytest.mark.parametrize("case", POD_PAIRS.values(), ids=POD_PAIRS.keys())
def test_matrix_agrees(case: Case) -> None:
    policies, src, dst, port, proto, expected = case
    cluster = ClusterModel.from_objects([*WORLD, *policies])
    assert cluster.matrix(port, proto)[src][dst] is expected
