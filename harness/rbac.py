"""The Kubernetes permissions the harness needs, as data.

One table per way of running. ``manifests/rbac/*.yaml`` grant exactly these
(``tests/infra/test_rbac.py`` keeps the two in step), ``docs/rbac.md`` explains
them, and the preflight asks the API server about each one with a
SelfSubjectAccessReview before a live run.

Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["cluster", "namespace"]

#: The ServiceAccounts and the namespace that ``manifests/rbac/`` creates.
SYSTEM_NAMESPACE = "netpol-harness-system"
HERMETIC_SERVICE_ACCOUNT = "netpol-harness"
IN_PLACE_SERVICE_ACCOUNT = "netpol-harness-in-place"

#: ClusterRole names in ``manifests/rbac/``.
HERMETIC_CLUSTER_ROLE = "netpol-harness-hermetic"
IN_PLACE_CLUSTER_ROLE = "netpol-harness-in-place"
IN_PLACE_FALLBACK_CLUSTER_ROLE = "netpol-harness-in-place-fallback"
POLICY_KINDS_CLUSTER_ROLE = "netpol-harness-policy-kinds"


@dataclass(frozen=True)
class Permission:
    """One (verb, API group, resource[/subresource]) the harness uses, and why.

    ``group`` is ``""`` for the core API group. ``scope`` says where the
    preflight checks it: everywhere (``cluster``) or only in the namespaces the
    user bound it in (``namespace``).
    """

    verb: str
    group: str
    resource: str
    subresource: str = ""
    why: str = ""
    scope: Scope = "cluster"

    @property
    def rbac_resource(self) -> str:
        """The resource as RBAC rules spell it: ``pods`` or ``pods/exec``."""
        if self.subresource:
            return f"{self.resource}/{self.subresource}"
        return self.resource

    @property
    def key(self) -> tuple[str, str, str]:
        """(verb, group, rbac_resource): what a rule must grant."""
        return (self.verb, self.group, self.rbac_resource)

    def __str__(self) -> str:
        group = self.group or "core"
        return f"{self.verb} {self.rbac_resource} ({group})"


def _grant(
    verbs: tuple[str, ...],
    group: str,
    resource: str,
    why: str,
    *,
    subresource: str = "",
    scope: Scope = "cluster",
) -> tuple[Permission, ...]:
    return tuple(Permission(v, group, resource, subresource, why, scope) for v in verbs)


_EXEC_WHY = (
    "run the probe batch in a probe pod: the WebSocket exec is an HTTP GET, authorized as "
    "'get' before Kubernetes 1.35 and as 'get' plus 'create' since (feature "
    "AuthorizePodWebsocketUpgradeCreatePermission); the SPDY fallback is a POST ('create')"
)
_SSAR_WHY = "preflight: ask the API server which of these permissions the caller holds"

#: Hermetic runs (CI, kind): create fresh namespaces, probe pods, Services and the
#: policies under test, run the matrix, delete everything. Bound cluster-wide,
#: because the namespaces get a fresh name on every run.
HERMETIC_RULES: tuple[Permission, ...] = (
    *_grant(
        ("create", "get", "list", "delete"),
        "",
        "namespaces",
        "create the run's namespaces, wait for them to go, find leftovers (cleanup), delete them",
    ),
    *_grant(
        ("patch",),
        "",
        "namespaces",
        "steps that relabel a namespace the run created (label: in a multi-step scenario)",
    ),
    *_grant(
        ("create", "get", "list", "delete"),
        "",
        "pods",
        "deploy the probe pods, poll until Ready (list), read their IPs, delete them; "
        "on a 409 from an earlier attempt, read the pod to see whether it is ours",
    ),
    *_grant(
        ("patch",),
        "",
        "pods",
        "steps that relabel a probe pod (label: in a multi-step scenario)",
    ),
    *_grant(("create", "get"), "", "pods", _EXEC_WHY, subresource="exec"),
    *_grant(
        ("get",),
        "",
        "pods",
        "diagnostics: the last log lines of a probe container that is not Ready",
        subresource="log",
    ),
    *_grant(
        ("create", "get", "update", "list", "delete"),
        "",
        "services",
        "one Service per server workload, for the svc: cells (on a 409 from an earlier "
        "attempt: read and replace it); deleted with the run",
    ),
    *_grant(
        ("create", "get"),
        "",
        "serviceaccounts",
        "workloads with serviceAccount: create the account before its probe pod (on a 409 "
        "from an earlier attempt, read it to see whether it is ours); it goes with the "
        "run's namespace",
    ),
    *_grant(
        ("list",),
        "",
        "events",
        "diagnostics: why a probe pod is not Ready (image pull, admission, scheduling)",
    ),
    *_grant(
        ("create", "get", "list", "update", "delete"),
        "networking.k8s.io",
        "networkpolicies",
        "apply the policies under test (create, or read and replace on a 409), read them "
        "back for explanations, delete them",
    ),
    *_grant(("create",), "authorization.k8s.io", "selfsubjectaccessreviews", _SSAR_WHY),
)

#: In-place runs (staging, runbook checks): read the live objects cluster-wide,
#: probe from an ephemeral container added to one pod of the source workload.
IN_PLACE_RULES: tuple[Permission, ...] = (
    *_grant(
        ("get", "list"),
        "",
        "namespaces",
        "resolve namespace names and labels (namespaceSelector) for predictions",
    ),
    *_grant(
        ("get", "list"),
        "",
        "pods",
        "find the source and target pods by label, their IPs, their ephemeral container state",
    ),
    *_grant(
        ("get", "list"),
        "networking.k8s.io",
        "networkpolicies",
        "explain a verdict: which policies select the pods and which rule allows or denies",
    ),
    *_grant(
        ("list",),
        "",
        "services",
        "netpol-harness check TO svc:NS/NAME: find a backend pod to explain the verdict by",
    ),
    *_grant(
        ("patch", "update"),
        "",
        "pods",
        "add the probe as an ephemeral container to one pod of the source workload",
        subresource="ephemeralcontainers",
    ),
    *_grant(("create", "get"), "", "pods", _EXEC_WHY, subresource="exec"),
    *_grant(("create",), "authorization.k8s.io", "selfsubjectaccessreviews", _SSAR_WHY),
)

_SELECTED_WHY = (
    "fallback: refuse a probe pod that a Service would send traffic to or that a controller "
    "would adopt (its selector matches the copied labels)"
)

#: In-place fallback probe pods (when ephemeral containers are not possible):
#: only in the namespaces where a RoleBinding grants it, never cluster-wide.
IN_PLACE_FALLBACK_RULES: tuple[Permission, ...] = (
    *_grant(
        ("create", "delete"),
        "",
        "pods",
        "fallback: a short-lived probe pod with the source's labels when an ephemeral "
        "container cannot be added; deleted after the check",
        scope="namespace",
    ),
    *_grant(("list",), "", "services", _SELECTED_WHY, scope="namespace"),
    *_grant(("list",), "apps", "replicasets", _SELECTED_WHY, scope="namespace"),
    *_grant(("list",), "apps", "statefulsets", _SELECTED_WHY, scope="namespace"),
    *_grant(("list",), "apps", "daemonsets", _SELECTED_WHY, scope="namespace"),
)

_POLICY_KINDS_WHY = (
    "scenarios that apply Calico or cluster-wide policies: apply them (create, or read and "
    "replace on a 409), read them back for explanations, delete them with the run"
)

#: Hermetic runs of scenarios whose manifests hold Calico projectcalico.org/v3 or
#: network-policy-api kinds (manifests/rbac/policy-kinds.yaml, bound to the hermetic
#: account; not needed by scenarios of Kubernetes NetworkPolicies only). Calico's
#: tiered RBAC also authorizes a policy in tier T through the tier.networkpolicies /
#: tier.globalnetworkpolicies pseudo-resources and ``get`` on the Tier.
POLICY_KINDS_RULES: tuple[Permission, ...] = tuple(
    perm
    for group, resource in (
        ("projectcalico.org", "networkpolicies"),
        ("projectcalico.org", "globalnetworkpolicies"),
        ("projectcalico.org", "tiers"),
        ("projectcalico.org", "tier.networkpolicies"),
        ("projectcalico.org", "tier.globalnetworkpolicies"),
        ("policy.networking.k8s.io", "clusternetworkpolicies"),
        ("policy.networking.k8s.io", "adminnetworkpolicies"),
        ("policy.networking.k8s.io", "baselineadminnetworkpolicies"),
    )
    for perm in _grant(
        ("create", "get", "list", "update", "delete"), group, resource, _POLICY_KINDS_WHY
    )
) + _grant(
    ("list",),
    "",
    "serviceaccounts",
    "explanations of Calico policies: the labels of the probe pods' ServiceAccounts, which "
    "serviceAccountSelector and serviceAccounts.selector match",
)

#: ClusterRole name -> the permissions its rules must grant, exactly.
CLUSTER_ROLES: dict[str, tuple[Permission, ...]] = {
    HERMETIC_CLUSTER_ROLE: HERMETIC_RULES,
    IN_PLACE_CLUSTER_ROLE: IN_PLACE_RULES,
    IN_PLACE_FALLBACK_CLUSTER_ROLE: IN_PLACE_FALLBACK_RULES,
    POLICY_KINDS_CLUSTER_ROLE: POLICY_KINDS_RULES,
}


def rules_for(mode: Literal["hermetic", "in-place"]) -> tuple[Permission, ...]:
    """Every permission a run in ``mode`` needs (in-place includes the fallback)."""
    if mode == "hermetic":
        return HERMETIC_RULES
    return IN_PLACE_RULES + IN_PLACE_FALLBACK_RULES
