"""A few kubernetes-sigs/network-policy-api conformance tests, transcribed as data.

Source: https://github.com/kubernetes-sigs/network-policy-api, conformance/base/manifests.yaml
(four namespaces labelled conformance-house, two pods each, serving 80/TCP, 8080/TCP,
53/UDP, 5353/UDP, 9003/SCTP and 9005/SCTP) and the tests named in each TRUTH entry. The
policies are rewritten here (same semantics, our own text); each truth table lists
(client, server, port, protocol, expected connected).
"""

from __future__ import annotations

from typing import Any

HOUSES = {
    "gryffindor": "harry-potter",
    "slytherin": "draco-malfoy",
    "hufflepuff": "cedric-diggory",
    "ravenclaw": "luna-lovegood",
}


def namespace(house: str) -> str:
    return f"network-policy-conformance-{house}"


def world() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for n, (house, pod) in enumerate(HOUSES.items()):
        ns = namespace(house)
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"conformance-house": house}},
            }
        )
        for i in range(2):
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{pod}-{i}",
                        "namespace": ns,
                        "labels": {"conformance-house": house},
                    },
                    "status": {"podIP": f"10.9.{n}.{i + 1}"},
                }
            )
    return objs


def ref(house: str, i: int) -> str:
    return f"{namespace(house)}/{HOUSES[house]}-{i}"


def _ns_peer(house: str) -> dict[str, Any]:
    return {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": namespace(house)}}}


def _tcp80() -> list[dict[str, Any]]:
    return [{"tcp": {"destinationPort": {"number": 80}}}]


def cnp_ingress_tcp(order: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)) -> dict[str, Any]:
    """CNPAdminTierIngressTCP (conformance/base/admin_tier/standard-ingress-tcp-rules.yaml).

    ``order`` permutes the rules, as the test's sub-tests swap them.
    """
    rules = [
        {"name": "allow-ravenclaw", "action": "Accept", "from": [_ns_peer("ravenclaw")]},
        {"name": "deny-ravenclaw", "action": "Deny", "from": [_ns_peer("ravenclaw")]},
        {"name": "pass-ravenclaw", "action": "Pass", "from": [_ns_peer("ravenclaw")]},
        {
            "name": "deny-slytherin-80",
            "action": "Deny",
            "from": [_ns_peer("slytherin")],
            "protocols": _tcp80(),
        },
        {
            "name": "pass-slytherin-80",
            "action": "Pass",
            "from": [_ns_peer("slytherin")],
            "protocols": _tcp80(),
        },
        {
            "name": "allow-hufflepuff-80",
            "action": "Accept",
            "from": [_ns_peer("hufflepuff")],
            "protocols": _tcp80(),
        },
        {"name": "deny-hufflepuff-rest", "action": "Deny", "from": [_ns_peer("hufflepuff")]},
    ]
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "ingress-tcp"},
        "spec": {
            "tier": "Admin",
            "priority": 3,
            "subject": {
                "namespaces": {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace("gryffindor")}
                }
            },
            "ingress": [rules[i] for i in order],
        },
    }


Truth = list[tuple[str, str, int, str, bool]]

#: conformance/tests/admin-network-policy-standard-ingress-tcp-rules.go, by sub-test.
CNP_INGRESS_TCP: dict[str, tuple[tuple[int, ...], Truth]] = {
    "allow-ingress rule ordering": (
        (0, 1, 2, 3, 4, 5, 6),
        [
            (ref("ravenclaw", 0), ref("gryffindor", 0), 80, "TCP", True),
            (ref("ravenclaw", 1), ref("gryffindor", 0), 8080, "TCP", True),
        ],
    ),
    "allow-ingress at the port": (
        (0, 1, 2, 3, 4, 5, 6),
        [
            (ref("hufflepuff", 0), ref("gryffindor", 1), 80, "TCP", True),
            (ref("hufflepuff", 1), ref("gryffindor", 1), 8080, "TCP", False),
        ],
    ),
    "ingress-only policy leaves egress alone": (
        (0, 1, 2, 3, 4, 5, 6),
        [
            (ref("gryffindor", 0), ref("ravenclaw", 0), 80, "TCP", True),
            (ref("gryffindor", 1), ref("slytherin", 0), 80, "TCP", True),
        ],
    ),
    "deny-ingress rule ordering (rules 0 and 1 swapped)": (
        (1, 0, 2, 3, 4, 5, 6),
        [
            (ref("ravenclaw", 0), ref("gryffindor", 1), 80, "TCP", False),
            (ref("ravenclaw", 1), ref("gryffindor", 1), 8080, "TCP", False),
        ],
    ),
    "deny-ingress at the port": (
        (0, 1, 2, 3, 4, 5, 6),
        [
            (ref("slytherin", 0), ref("gryffindor", 0), 80, "TCP", False),
            (ref("slytherin", 1), ref("gryffindor", 0), 8080, "TCP", True),
        ],
    ),
    "pass-ingress rule ordering (rules 0 and 2 swapped)": (
        (2, 1, 0, 3, 4, 5, 6),
        [
            (ref("ravenclaw", 0), ref("gryffindor", 0), 80, "TCP", True),
            (ref("ravenclaw", 1), ref("gryffindor", 0), 8080, "TCP", True),
        ],
    ),
    "pass-ingress at the port (rules 3 and 4 swapped)": (
        (0, 1, 2, 4, 3, 5, 6),
        [
            (ref("slytherin", 0), ref("gryffindor", 0), 80, "TCP", True),
            (ref("slytherin", 1), ref("gryffindor", 0), 8080, "TCP", True),
        ],
    ),
}


def _house_selector(house: str) -> dict[str, Any]:
    return {"matchLabels": {"conformance-house": house}}


def integration(anp_ingress: str, anp_egress: str, with_np: bool) -> list[dict[str, Any]]:
    """AdminNetworkPolicyIntegration (conformance/base/api_integration/core-anp-np-banp.yaml).

    An ANP (priority 10) and the BANP, both on gryffindor, deny slytherin both ways; a
    NetworkPolicy in gryffindor allows slytherin both ways. The test patches the ANP
    actions to Pass and deletes the NetworkPolicy.
    """
    slytherin = {"namespaces": _house_selector("slytherin")}
    subject = {"namespaces": _house_selector("gryffindor")}
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy",
            "metadata": {"name": "pass-example"},
            "spec": {
                "priority": 10,
                "subject": subject,
                "ingress": [{"name": "in", "action": anp_ingress, "from": [slytherin]}],
                "egress": [{"name": "out", "action": anp_egress, "to": [slytherin]}],
            },
        },
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy",
            "metadata": {"name": "default"},
            "spec": {
                "subject": subject,
                "ingress": [{"name": "in", "action": "Deny", "from": [slytherin]}],
                "egress": [{"name": "out", "action": "Deny", "to": [slytherin]}],
            },
        },
    ]
    if with_np:
        objs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": "allow-gress-from-to-slytherin-to-gryffindor",
                    "namespace": namespace("gryffindor"),
                },
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"namespaceSelector": _house_selector("slytherin")}]}],
                    "egress": [{"to": [{"namespaceSelector": _house_selector("slytherin")}]}],
                },
            }
        )
    return objs


#: conformance/tests/admin-network-policy-core-integration.go, by sub-test:
#: (ANP ingress action, ANP egress action, NetworkPolicy present, truth table).
INTEGRATION: dict[str, tuple[str, str, bool, Truth]] = {
    "deny from slytherin respecting ANP": (
        "Deny",
        "Deny",
        True,
        [
            (ref("slytherin", 0), ref("gryffindor", 0), 80, "TCP", False),
            (ref("slytherin", 1), ref("gryffindor", 0), 8080, "TCP", False),
        ],
    ),
    "deny to slytherin respecting ANP": (
        "Deny",
        "Deny",
        True,
        [
            (ref("gryffindor", 0), ref("slytherin", 0), 80, "TCP", False),
            (ref("gryffindor", 1), ref("slytherin", 0), 8080, "TCP", False),
        ],
    ),
    "pass-ingress, the NetworkPolicy allows": (
        "Pass",
        "Deny",
        True,
        [
            (ref("slytherin", 0), ref("gryffindor", 0), 80, "TCP", True),
            (ref("slytherin", 1), ref("gryffindor", 0), 8080, "TCP", True),
        ],
    ),
    "pass-egress, the NetworkPolicy allows": (
        "Pass",
        "Pass",
        True,
        [
            (ref("gryffindor", 0), ref("slytherin", 0), 80, "TCP", True),
            (ref("gryffindor", 1), ref("slytherin", 0), 8080, "TCP", True),
        ],
    ),
    "pass-ingress, no NetworkPolicy: the BANP denies": (
        "Pass",
        "Pass",
        False,
        [
            (ref("slytherin", 0), ref("gryffindor", 0), 80, "TCP", False),
            (ref("slytherin", 1), ref("gryffindor", 0), 8080, "TCP", False),
        ],
    ),
    "pass-egress, no NetworkPolicy: the BANP denies": (
        "Pass",
        "Pass",
        False,
        [
            (ref("gryffindor", 0), ref("slytherin", 0), 80, "TCP", False),
            (ref("gryffindor", 1), ref("slytherin", 0), 8080, "TCP", False),
        ],
    ),
}
