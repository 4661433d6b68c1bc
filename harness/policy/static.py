"""Static check of a plan: does each expected cell follow from the policies it applies?

The plan's namespaces, probe pods and NetworkPolicies become a
:class:`~harness.policy.engine.ClusterModel` (probe pods get synthetic IPs from
10.255.0.0/16, and a cluster DNS pod ``kube-system/coredns`` is added when the
plan has none), then every probe is predicted the way it will be observed:

- pod target: the source may connect to the target pod on the port;
- service target: the same (the policy applies to the backing pod), and the
  source's name lookup must reach the cluster DNS on 53/UDP, else the probe
  would end in a DNS failure (not connected);
- dns target: the source may reach the DNS pod on 53/UDP;
- external target: the source's egress allows the address (ipBlock rules).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from harness import placeholders
from harness.model import Plan
from harness.model import Probe
from harness.model import TargetKind
from harness.policy.engine import ClusterModel
from harness.policy.model import Pod
from harness.policy.model import flatten

DNS_NAMESPACE = "kube-system"
DNS_POD = "coredns"
DNS_LABELS = {"k8s-app": "kube-dns"}
SYNTHETIC_NET = ipaddress.ip_network("10.255.0.0/16")
#: The node every pod of a static plan runs on (outside the pod network).
SYNTHETIC_NODE_IP = "172.31.0.1"


def _external_addresses(plan: Plan) -> set[str]:
    found: set[str] = set()
    for ext in plan.scenario.externals:
        found.add(ext.address)
    for probe in plan.probes:
        if probe.host:
            found.add(probe.host)
    return found


def _synthetic_ips(taken: set[str]) -> Iterator[str]:
    for addr in SYNTHETIC_NET.hosts():
        text = str(addr)
        if text not in taken and not text.endswith(".0"):
            yield text


def _with_ip(pod: Mapping[str, Any], ips: Iterator[str]) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": "Pod", **pod}
    status = dict(obj.get("status") or {})
    if not status.get("podIP"):
        status["podIP"] = next(ips)
        obj["status"] = status
    return obj


def _is_dns_pod(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return bool(
        meta.get("namespace") == DNS_NAMESPACE
        and all(labels.get(k) == v for k, v in DNS_LABELS.items())
    )


def plan_objects(plan: Plan) -> list[dict[str, Any]]:
    """The plan as Kubernetes objects the engine reads, pods with synthetic IPs."""
    raw: list[Mapping[str, Any]] = []
    raw += [{"kind": "Namespace", **ns} for ns in plan.namespaces]
    # Namespaces the scenario only refers to are not created, but their labels count.
    raw += [
        {"kind": "Namespace", "metadata": {"name": ns.name, "labels": dict(ns.labels)}}
        for ns in plan.scenario.namespaces
        if ns.existing
    ]
    raw += plan.service_accounts  # their labels count for Calico's account selectors
    ips = _synthetic_ips(_external_addresses(plan))
    pods = [_with_ip(pod, ips) for pod in plan.pods]
    raw += pods
    # Run-time values in manifests (${podIP:web}, ...) from the same synthetic addresses.
    facts = placeholders.Facts(
        pod_ips={str(p["metadata"]["name"]): str(p["status"]["podIP"]) for p in pods},
        node_ips={str(p["metadata"]["name"]): SYNTHETIC_NODE_IP for p in pods},
        namespaces=dict(plan.namespace_map),
        pod_cidr=str(SYNTHETIC_NET),
    )
    raw += list(flatten(placeholders.resolve(doc.body, facts) for doc in plan.manifests))
    objs: list[dict[str, Any]] = []
    has_dns_ns = has_dns_pod = False
    for obj in raw:
        obj = dict(obj)
        kind = obj.get("kind")
        if kind == "Namespace" and (obj.get("metadata") or {}).get("name") == DNS_NAMESPACE:
            has_dns_ns = True
        if kind == "Pod":
            has_dns_pod = has_dns_pod or _is_dns_pod(obj)
            status = dict(obj.get("status") or {})
            if not status.get("podIP"):
                status["podIP"] = next(ips)
                obj["status"] = status
        objs.append(obj)
    if not has_dns_ns:
        objs.append({"kind": "Namespace", "metadata": {"name": DNS_NAMESPACE}})
    if not has_dns_pod:
        objs.append(
            {
                "kind": "Pod",
                "metadata": {"name": DNS_POD, "namespace": DNS_NAMESPACE, "labels": DNS_LABELS},
                "spec": {
                    "containers": [
                        {
                            "name": "coredns",
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                            ],
                        }
                    ]
                },
                "status": {"podIP": next(ips)},
            }
        )
    return objs


def plan_cluster(plan: Plan) -> ClusterModel:
    return ClusterModel.from_objects(plan_objects(plan))


def _dns_pod(cluster: ClusterModel) -> Pod:
    for pod in cluster.pods:
        if pod.namespace == DNS_NAMESPACE and all(
            pod.labels.get(k) == v for k, v in DNS_LABELS.items()
        ):
            return pod
    raise AssertionError("plan_objects always adds a DNS pod")  # pragma: no cover


def predict(cluster: ClusterModel, plan: Plan, probe: Probe) -> tuple[bool, str]:
    """(would the probe connect?, explanation) for one probe."""
    src = str(probe.source_pod)
    target = probe.cell.target
    dns = _dns_pod(cluster).ref
    if target.kind in (TargetKind.POD, TargetKind.SERVICE):
        pod = probe.target_pod or plan.pod_of(target.name)
        decision = cluster.decide(src, str(pod), probe.port, probe.protocol)
        if target.kind is TargetKind.POD:
            return decision.allowed, decision.explain()
        lookup = cluster.decide(src, dns, 53, "UDP")
        text = decision.explain() + "\nService name lookup:\n" + lookup.explain()
        if not lookup.allowed:
            text += "\n  -> the lookup fails first, so the probe cannot connect"
        return decision.allowed and lookup.allowed, text
    if target.kind is TargetKind.DNS:
        lookup = cluster.decide(src, dns, 53, "UDP")
        return lookup.allowed, lookup.explain()
    address = probe.host or plan.scenario.external(target.name).address
    decision = cluster.decide(src, address, probe.port, probe.protocol)
    return decision.allowed, decision.explain()


def _check(cluster: ClusterModel, plan: Plan, probe: Probe) -> tuple[bool, str]:
    connects, why = predict(cluster, plan, probe)
    predicted = "allow" if connects else "deny"
    holds = predicted == probe.cell.expect
    head = f"policies predict {predicted}, scenario expects {probe.cell.expect}"
    return holds, f"{head}\n{why}"


def check_cell(plan: Plan, probe: Probe) -> tuple[bool, str]:
    """(does the engine predict the probe's expectation holds?, explanation).

    Predicted on the state of the probe's step (a multi-step scenario's cell).
    """
    state = next((s for name, s in plan.stages() if name == probe.cell.step), plan)
    return _check(plan_cluster(state), state, probe)


def check_plan(plan: Plan) -> list[tuple[Probe, bool, str]]:
    """:func:`check_cell` for every probe of the plan, each on its step's state.

    The engine's cluster is built once per state (a scenario without steps has one).
    """
    out: list[tuple[Probe, bool, str]] = []
    for _, state in plan.stages():
        cluster = plan_cluster(state)
        out += [(probe, *_check(cluster, state, probe)) for probe in state.probes]
    return out
