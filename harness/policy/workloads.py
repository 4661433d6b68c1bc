"""Pods from what makes them: workload templates, and replicas grouped into workloads. Pure.

The engine reads Pods. Manifests in a repository hold Deployments, StatefulSets,
DaemonSets, Jobs (and ReplicaSets, ReplicationControllers, CronJobs) instead:
:func:`template_pod` turns one into the Pod its template makes (labels, containers,
ports, service account; no IP yet). A cluster dump holds every replica:
:func:`group_pods` folds pods of one namespace with the same labels, once the labels a
controller adds per pod or per revision (:data:`CONTROLLER_LABELS`) are left out, and
the same container ports, into one :class:`PodGroup` named after its workload
(``web-5d8f7c9b6-x2x8q`` -> ``web``). Policies select by namespace and labels, so one pod
of a group speaks for all of it (an ``ipBlock`` naming one replica's address aside).
:func:`dns_label` and :func:`unique_name` make such names fit for a scenario.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.model import APPS_CONTROLLER_LABELS

#: Labels controllers put on the pods they make, per pod or per revision: the apps
#: controllers' and the Job controller's.
CONTROLLER_LABELS = APPS_CONTROLLER_LABELS | {
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "batch.kubernetes.io/job-completion-index",
}
#: Phases of pods that run no more: no traffic reaches them, no policy applies.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def template_pod(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Pod a workload's template makes, named after the workload (no IP, no status).

    ``obj`` is a workload of :data:`harness.policy.model.WORKLOAD_KINDS` (``spec.template``
    is its pod template; a CronJob's is in ``spec.jobTemplate.spec``); the namespace is the
    workload's own (``default`` when it has none, as ``kubectl apply`` without ``-n`` would
    put it).
    """
    meta = _mapping(obj.get("metadata"))
    spec = _mapping(obj.get("spec"))
    if obj.get("kind") == "CronJob":
        spec = _mapping(_mapping(spec.get("jobTemplate")).get("spec"))
    template = _mapping(spec.get("template"))
    template_meta = _mapping(template.get("metadata"))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": str(meta.get("name") or "workload"),
            "namespace": str(meta.get("namespace") or "default"),
            "labels": dict(_mapping(template_meta.get("labels"))),
        },
        "spec": copy.deepcopy(dict(_mapping(template.get("spec")))),
    }


def labels_of(pod: Mapping[str, Any]) -> dict[str, str]:
    """The pod's labels as strings (a YAML ``true`` is ``"true"``)."""
    raw = _mapping(_mapping(pod.get("metadata")).get("labels"))
    out: dict[str, str] = {}
    for key, value in raw.items():
        out[str(key)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def stable_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """``labels`` without the per-pod and per-revision ones controllers add."""
    return {k: v for k, v in labels.items() if k not in CONTROLLER_LABELS}


def workload_name(pod: Mapping[str, Any]) -> str:
    """The name of the workload a pod belongs to: its controller's, else its own.

    ``web-5d8f7c9b6-x2x8q`` (owner ReplicaSet ``web-5d8f7c9b6``, label
    ``pod-template-hash: 5d8f7c9b6``) is ``web``; ``db-0`` of StatefulSet ``db`` is ``db``.
    """
    meta = _mapping(pod.get("metadata"))
    name = str(meta.get("name") or "pod")
    owners = meta.get("ownerReferences")
    base = ""
    if isinstance(owners, list):
        for owner in owners:
            owner = _mapping(owner)
            if owner.get("controller") and owner.get("name"):
                base = str(owner["name"])
                break
    if not base:
        generated = meta.get("generateName")
        base = str(generated).rstrip("-.") if generated else name
    template_hash = labels_of(pod).get("pod-template-hash")
    if template_hash and base.endswith(f"-{template_hash}"):
        base = base[: -len(template_hash) - 1]
    return base or name


@dataclass(frozen=True)
class PodGroup:
    """Pods of one namespace with the same stable labels: one workload, as policies see it."""

    namespace: str
    name: str  # the workload's name, unique in the namespace
    labels: Mapping[str, str]  # the stable labels (CONTROLLER_LABELS left out)
    pod: Mapping[str, Any]  # the first pod, named ``name``: it speaks for the group
    members: tuple[str, ...]  # the names of the grouped pods (or workloads)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def is_finished(pod: Mapping[str, Any]) -> bool:
    return _mapping(pod.get("status")).get("phase") in FINISHED_PHASES


def is_host_network(pod: Mapping[str, Any]) -> bool:
    return _mapping(pod.get("spec")).get("hostNetwork") is True


_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1035 label: lower case, ``[a-z0-9-]``, starting with a letter."""
    name = re.sub(r"-{2,}", "-", _NOT_NAME.sub("-", text.lower())).strip("-")
    if not name or not name[0].isalpha():
        name = f"w-{name}" if name else "w"
    return name[:limit].rstrip("-")


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... (at most 63 characters) if taken; now taken."""
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate = name[: 63 - len(suffix)] + suffix
        n += 1
    taken.add(candidate)
    return candidate


def declared_ports(pod: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The pod's container ports as sorted (number, protocol, name) text triples."""
    found: set[tuple[str, str, str]] = set()
    containers = _mapping(pod.get("spec")).get("containers")
    for container in containers if isinstance(containers, list) else ():
        ports = _mapping(container).get("ports")
        for port in ports if isinstance(ports, list) else ():
            port = _mapping(port)
            found.add(
                (
                    str(port.get("containerPort")),
                    str(port.get("protocol") or "TCP"),
                    str(port.get("name") or ""),
                )
            )
    return tuple(sorted(found))


GroupKey = tuple[str, frozenset[tuple[str, str]], tuple[tuple[str, str, str], ...]]


def group_pods(pods: Iterable[Mapping[str, Any]]) -> list[PodGroup]:
    """Pods grouped by namespace, stable labels and declared ports, in first-seen order.

    Each group's pod is a copy of its first member renamed to the group's name; names
    are unique per namespace (``web``, ``web-2`` for a second group that would be ``web``).
    """
    order: list[GroupKey] = []
    members: dict[GroupKey, list[Mapping[str, Any]]] = {}
    for pod in pods:
        meta = _mapping(pod.get("metadata"))
        key = (
            str(meta.get("namespace") or "default"),
            frozenset(stable_labels(labels_of(pod)).items()),
            declared_ports(pod),
        )
        if key not in members:
            order.append(key)
            members[key] = []
        members[key].append(pod)
    taken: dict[str, set[str]] = {}
    groups: list[PodGroup] = []
    for key in order:
        namespace, labels, _ = key
        first = members[key][0]
        name = unique_name(workload_name(first), taken.setdefault(namespace, set()))
        copied: dict[str, Any] = copy.deepcopy(dict(first))
        copied["metadata"] = {**dict(_mapping(first.get("metadata"))), "name": name}
        groups.append(
            PodGroup(
                namespace=namespace,
                name=name,
                labels=dict(sorted(labels)),
                pod=copied,
                members=tuple(
                    str(_mapping(p.get("metadata")).get("name") or "?") for p in members[key]
                ),
            )
        )
    return groups
