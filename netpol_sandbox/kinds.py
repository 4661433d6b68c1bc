"""The resource kinds the sandbox API serves, with what discovery needs to say about them."""

from __future__ import annotations

from dataclasses import dataclass

_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Kind:
    resource: str  # plural, as in URLs: "pods"
    kind: str  # "Pod"
    group: str  # "" for the core group
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _VERBS
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


KINDS: tuple[Kind, ...] = (
    Kind("namespaces", "Namespace", "", "v1", False, ("ns",), subresources=("status",)),
    Kind("nodes", "Node", "", "v1", False, ("no",), subresources=("status",)),
    Kind(
        "pods",
        "Pod",
        "",
        "v1",
        True,
        ("po",),
        subresources=("status", "log", "exec", "ephemeralcontainers"),
    ),
    Kind("services", "Service", "", "v1", True, ("svc",), subresources=("status",)),
    Kind("endpoints", "Endpoints", "", "v1", True, ("ep",)),
    Kind("configmaps", "ConfigMap", "", "v1", True, ("cm",)),
    Kind("serviceaccounts", "ServiceAccount", "", "v1", True, ("sa",)),
    Kind("events", "Event", "", "v1", True, ("ev",)),
    Kind("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, ("netpol",)),
    # Calico's own API (projectcalico.org/v3, as the calico-v3-crds install serves it)
    Kind("networkpolicies", "NetworkPolicy", "projectcalico.org", "v3", True),
    Kind(
        "globalnetworkpolicies", "GlobalNetworkPolicy", "projectcalico.org", "v3", False, ("gnp",)
    ),
    Kind("tiers", "Tier", "projectcalico.org", "v3", False),
    # kubernetes-sigs/network-policy-api: v1alpha2 (Calico 3.32) and v1alpha1 (3.29-3.31)
    Kind(
        "clusternetworkpolicies",
        "ClusterNetworkPolicy",
        "policy.networking.k8s.io",
        "v1alpha2",
        False,
    ),
    Kind(
        "adminnetworkpolicies",
        "AdminNetworkPolicy",
        "policy.networking.k8s.io",
        "v1alpha1",
        False,
        ("anp",),
    ),
    Kind(
        "baselineadminnetworkpolicies",
        "BaselineAdminNetworkPolicy",
        "policy.networking.k8s.io",
        "v1alpha1",
        False,
        ("banp",),
    ),
    Kind(
        "deployments",
        "Deployment",
        "apps",
        "v1",
        True,
        ("deploy",),
        subresources=("status", "scale"),
    ),
    Kind(
        "replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), subresources=("status", "scale")
    ),
)

#: The policy kinds the node programs (Kubernetes, Calico, network-policy-api).
POLICY_KINDS: tuple[Kind, ...] = tuple(
    k
    for k in KINDS
    if k.group in ("networking.k8s.io", "projectcalico.org", "policy.networking.k8s.io")
)

BY_RESOURCE: dict[tuple[str, str], Kind] = {(k.group, k.resource): k for k in KINDS}


def find(group: str, resource: str) -> Kind | None:
    return BY_RESOURCE.get((group, resource))


def groups() -> list[tuple[str, str]]:
    """(group, version) pairs outside the core group, in a stable order."""
    seen: list[tuple[str, str]] = []
    for kind in KINDS:
        if kind.group and (kind.group, kind.version) not in seen:
            seen.append((kind.group, kind.version))
    return seen
