"""Small builders of Kubernetes object dicts for the policy engine tests."""

from __future__ import annotations

from typing import Any

from harness.policy.engine import ClusterModel


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(
    namespace: str,
    name: str,
    labels: dict[str, str] | None = None,
    ip: str | None = None,
    ports: tuple[tuple[str | None, int, str], ...] = (),
    ips: tuple[str, ...] = (),
    service_account: str | None = None,
) -> dict[str, Any]:
    """A pod; ``ports`` are (name, number, protocol) container ports."""
    status: dict[str, Any] = {}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}] + [{"ip": extra} for extra in ips]
    container_ports = []
    for pname, number, proto in ports:
        entry: dict[str, Any] = {"containerPort": number, "protocol": proto}
        if pname:
            entry["name"] = pname
        container_ports.append(entry)
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x", "ports": container_ports}]}
    if service_account:
        spec["serviceAccountName"] = service_account
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": spec,
        "status": status,
    }


def service_account(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    """A ServiceAccount with ``labels``."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }


def policy(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def labels(**kv: str) -> dict[str, Any]:
    return {"matchLabels": kv}


def cluster(*objs: dict[str, Any]) -> ClusterModel:
    return ClusterModel.from_objects(objs)
