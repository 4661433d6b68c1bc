"""The live cluster's objects as a file the input loaders read (``diff`` / ``generate --live``).

:func:`dump` lists the Namespaces, Pods and NetworkPolicies a kubeconfig's user may
read (cluster-wide: the in-place role's read rights, docs/rbac.md) and writes them
as one ``kind: List`` document, as ``kubectl get ns,pods,networkpolicies -A -o yaml``
would: the same hardened loaders then read it as any dump (:mod:`harness.commands.inputs`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.live.api import ListsObjects

#: (apiVersion, kind) read from the cluster, in this order.
KINDS = (("v1", "Namespace"), ("v1", "Pod"), ("networking.k8s.io/v1", "NetworkPolicy"))
#: Server-side fields no loader needs (and a dump is smaller without).
_DROPPED_METADATA = ("managedFields",)


def live_objects(cluster: ListsObjects, pod_selector: str = "") -> list[dict[str, Any]]:
    """Every Namespace, Pod and NetworkPolicy of the cluster (all namespaces).

    ``pod_selector``: a label selector (``app=web,tier in (a,b)``) the API server applies
    to the pods; namespaces and policies are all read (they decide the pods' traffic).
    """
    out: list[dict[str, Any]] = []
    for api_version, kind in KINDS:
        selector = pod_selector if kind == "Pod" else ""
        for obj in cluster.list_objects(api_version, kind, label_selector=selector):
            meta = obj.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue  # going away: not part of what the cluster enforces from now on
            for key in _DROPPED_METADATA:
                meta.pop(key, None)
            out.append(obj)
    return out


def dump(
    cluster: ListsObjects, directory: Path, name: str = "live-cluster.yaml", pod_selector: str = ""
) -> Path:
    """Write the cluster's objects to ``directory/name`` (JSON, which YAML reads); its path."""
    path = directory / name
    items = live_objects(cluster, pod_selector)
    document = {"apiVersion": "v1", "kind": "List", "items": items}
    path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return path


def dump_cluster(
    kubeconfig: str | None, context: str | None, directory: Path, pod_selector: str = ""
) -> tuple[Path, str]:
    """Connect as ``--kubeconfig`` / ``--context`` say and :func:`dump`: (the file, the
    cluster as messages name it: its server URL and context, never credentials)."""
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig, context=context, retry_attempts=3)
    return dump(cluster, directory, pod_selector=pod_selector), cluster.describe()
