"""Defaulting and validation as the API server does them (pure: the store hook, no server).

Each case names the Kubernetes function it follows (pkg/apis/*/v1/defaults.go,
pkg/apis/*/validation/validation.go); docs/sandbox.md has the whole table.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.defaults import ServiceIPs
from netpol_sandbox.defaults import defaults_and_validation
from netpol_sandbox.defaults import qos_class
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.store import Store


def _kind(group: str, resource: str) -> Kind:
    kind = find(group, resource)
    assert kind is not None
    return kind


POLICIES = _kind("networking.k8s.io", "networkpolicies")
PODS = _kind("", "pods")
SERVICES = _kind("", "services")
NAMESPACES = _kind("", "namespaces")


def stored(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(body)
    obj.setdefault("metadata", {}).setdefault("name", "n")
    defaults_and_validation("create", kind, obj, None)
    return obj


def causes(kind: Kind, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) of every cause of the 422 the body gets."""
    with pytest.raises(ApiError) as info:
        stored(kind, body)
    assert info.value.code == 422
    details = info.value.details or {}
    return [(c["field"], c["message"]) for c in details.get("causes") or []]


def policy(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "x"}, "spec": spec}


# ---------------------------------------------------------------- NetworkPolicy


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"egress": []}, ["Ingress"]),  # the bug: egress-isolated the pod
        ({}, ["Ingress"]),
        ({"ingress": []}, ["Ingress"]),
        ({"egress": [{}]}, ["Ingress", "Egress"]),
        ({"egress": [], "policyTypes": ["Egress"]}, ["Egress"]),
    ],
)
def test_policy_types_default_like_set_defaults_network_policy(
    spec: dict[str, Any], types: list[str]
) -> None:
    """SetDefaults_NetworkPolicy: Ingress, plus Egress only when ``len(spec.Egress) != 0``."""
    assert stored(POLICIES, policy(spec))["spec"]["policyTypes"] == types


def test_policy_port_protocol_defaults_to_tcp() -> None:
    spec = {"ingress": [{"ports": [{"port": 80}]}], "egress": [{"ports": [{"port": 53}]}]}
    out = stored(POLICIES, policy(spec))["spec"]
    assert out["ingress"][0]["ports"][0]["protocol"] == "TCP"
    assert out["egress"][0]["ports"][0]["protocol"] == "TCP"


def test_empty_peer_is_rejected() -> None:
    """ValidateNetworkPolicyPeer: a peer with no selector and no ipBlock selects nothing: 422."""
    got = causes(POLICIES, policy({"ingress": [{"from": [{}]}]}))
    assert got == [("spec.ingress[0].from[0]", "Required value: must specify a peer")]


def test_ip_block_with_another_peer_is_forbidden() -> None:
    peer = {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}
    got = causes(POLICIES, policy({"egress": [{"to": [peer]}]}))
    assert got == [
        ("spec.egress[0].to[0]", "Forbidden: may not specify both ipBlock and another peer")
    ]


def test_ip_block_without_cidr_is_required() -> None:
    got = causes(POLICIES, policy({"egress": [{"to": [{"ipBlock": {"cidr": ""}}]}]}))
    assert got == [("spec.egress[0].to[0].ipBlock.cidr", "Required value")]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"port": "http", "endPort": 90}, "may not be specified when `port` is non-numeric"),
        ({"endPort": 90}, "may not be specified when `port` is not specified"),
        ({"port": 80, "endPort": 70000}, "must be between 1 and 65535, inclusive"),
        ({"port": 80, "endPort": 79}, "must be greater than or equal to `port`"),
    ],
)
def test_end_port_rules_of_validate_network_policy_port(
    port: dict[str, Any], expected: str
) -> None:
    got = causes(POLICIES, policy({"ingress": [{"ports": [port]}]}))
    assert [f for f, _ in got] == ["spec.ingress[0].ports[0].endPort"]
    assert got[0][1].endswith(expected)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("80", "must contain at least one letter (a-z)"),  # a quoted number is a name
        ("Http", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ("a-very-long-port-name", "must be no more than 15 characters"),
        ("web--http", "must not contain consecutive hyphens"),
        ("-http", "must not begin or end with a hyphen"),
    ],
)
def test_named_ports_must_be_iana_service_names(name: str, message: str) -> None:
    got = causes(POLICIES, policy({"ingress": [{"ports": [{"port": name}]}]}))
    assert ("spec.ingress[0].ports[0].port", f'Invalid value: "{name}": {message}') in got


def test_policy_types_are_checked_per_index_and_at_most_two() -> None:
    got = causes(POLICIES, policy({"policyTypes": ["Ingress", "egress"]}))
    assert [f for f, _ in got] == ["spec.policyTypes[1]"]
    got = causes(POLICIES, policy({"policyTypes": ["Ingress", "Egress", "Ingress"]}))
    assert got[0][0] == "spec.policyTypes" and "more than two policyTypes" in got[0][1]


# ---------------------------------------------------------------- Pod


def pod(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "x"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", **container}]},
    }


def test_limits_default_requests_and_qos_class() -> None:
    """SetDefaults_Pod copies limits into missing requests; status.qosClass follows GetPodQOS."""
    harness_like = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
    out = stored(PODS, pod({"resources": harness_like}))
    assert out["status"]["qosClass"] == "Burstable"
    out = stored(PODS, pod({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}))
    assert out["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert out["status"]["qosClass"] == "Guaranteed"
    assert stored(PODS, pod({}))["status"]["qosClass"] == "BestEffort"
    assert qos_class({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}) == "Burstable"


def test_probe_defaults() -> None:
    """SetDefaults_Probe / SetDefaults_HTTPGetAction."""
    probe = {"httpGet": {"port": 80}, "periodSeconds": 1}
    out = stored(PODS, pod({"readinessProbe": probe}))["spec"]["containers"][0]
    assert out["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "periodSeconds": 1,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_container_ports_protocol_and_name_and_container_name_length() -> None:
    got = causes(PODS, pod({"ports": [{"containerPort": 80, "protocol": "tcp", "name": "HTTP"}]}))
    fields = {f for f, _ in got}
    assert fields == {"spec.containers[0].ports[0].protocol", "spec.containers[0].ports[0].name"}
    got = causes(PODS, pod({"name": "c" * 64}))
    assert [f for f, _ in got] == ["spec.containers[0].name"]


# ---------------------------------------------------------------- Service


def service(spec: dict[str, Any], name: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "x"}, "spec": spec}


def test_service_names_are_dns_1035_labels() -> None:
    got = causes(SERVICES, service({"ports": [{"port": 80}]}, name="1web"))
    assert got[0][0] == "metadata.name" and "DNS-1035" in got[0][1]
    stored(NAMESPACES, {"metadata": {"name": "1web"}})  # a namespace may start with a digit


def test_service_target_port_zero_or_empty_defaults_to_port() -> None:
    ports = [
        {"name": "a", "port": 80, "targetPort": 0},
        {"name": "b", "port": 81, "targetPort": ""},
    ]
    out = stored(SERVICES, service({"ports": ports}))["spec"]["ports"]
    assert [p["targetPort"] for p in out] == [80, 81]


def test_session_affinity_client_ip_gets_its_timeout() -> None:
    out = stored(SERVICES, service({"ports": [{"port": 80}], "sessionAffinity": "ClientIP"}))
    assert out["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    config = {"clientIP": {"timeoutSeconds": 5}}
    out = stored(SERVICES, service({"ports": [{"port": 80}], "sessionAffinityConfig": config}))
    assert "sessionAffinityConfig" not in out["spec"]  # dropped with sessionAffinity None


def test_multi_port_services_need_unique_port_names() -> None:
    got = causes(SERVICES, service({"ports": [{"port": 80}, {"port": 81}]}))
    assert got == [
        ("spec.ports[0].name", "Required value"),
        ("spec.ports[1].name", "Required value"),
    ]
    got = causes(
        SERVICES, service({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]})
    )
    assert got == [("spec.ports[1].name", 'Duplicate value: "a"')]


def test_external_name_service_has_no_cluster_ip_or_ip_families() -> None:
    body = service({"type": "ExternalName", "externalName": "example.com"})
    out = stored(SERVICES, body)
    ServiceIPs(Store(), "10.96.0.0/24").hook("create", SERVICES, out, None)
    assert "clusterIP" not in out["spec"] and "ipFamilies" not in out["spec"]
    assert "internalTrafficPolicy" not in out["spec"]


# ---------------------------------------------------------------- labels


def test_label_key_prefix_must_be_a_dns_subdomain() -> None:
    body = {"metadata": {"name": "x", "labels": {"Example.COM/app": "a"}}}
    got = causes(NAMESPACES, body)
    assert [f for f, _ in got] == ["metadata.labels"] and "prefix part" in got[0][1]
    stored(NAMESPACES, {"metadata": {"name": "x", "labels": {"example.com/app": "a"}}})
