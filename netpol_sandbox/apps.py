"""apps/v1 Deployments and ReplicaSets: defaulting/validation, the two controllers and the
garbage collector of their dependents.

A Deployment owns one ReplicaSet per pod template, named ``<deployment>-<pod-template-hash>``
(the hash also a label of the ReplicaSet, its selector and its pods); the ReplicaSet keeps
``spec.replicas`` pods named ``<replicaset>-<5 chars>`` (ownerReferences with controller:
true). A template change makes a new ReplicaSet and scales the old ones to 0 (all at once,
not a rolling update). Status: replicas, readyReplicas, availableReplicas (minReadySeconds
is not honoured: ready = available), updatedReplicas, observedGeneration, conditions.
Deleting an owner deletes its dependents (background cascading deletion). Pod creation goes
through admission like a client's: a namespace without its ServiceAccount yet is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.selectors import selector_matches
from netpol_sandbox.store import Event
from netpol_sandbox.store import Obj
from netpol_sandbox.store import Store
from netpol_sandbox.store import now

log = logging.getLogger("netpol_sandbox")

HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand.SafeEncodeString


def _kind(group: str, resource: str) -> Kind:
    kind = find(group, resource)
    assert kind is not None
    return kind


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def _owner_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


# -- defaulting and validation (store hook) --------------------------------------------------
def apps_hook(operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
    if kind.group != "apps":
        return
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise ApiError.bad_request("spec must be an object")
    spec.setdefault("replicas", 1)
    if kind.resource == "deployments":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        )
    name = str(obj["metadata"].get("name") or "")
    causes: list[tuple[str, str, str]] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.replicas",
                f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    elif not selector_matches(selector, labels):
        causes.append(
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                f"Invalid value: {json.dumps(labels, separators=(',', ':'))}: `selector` does "
                "not match template `labels`",
            )
        )
    elif old is not None and (old.get("spec") or {}).get("selector") != selector:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.selector",
                f"Invalid value: {json.dumps(selector, separators=(',', ':'))}: field is immutable",
            )
        )
    if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
        causes.append(("FieldValueRequired", "spec.template.spec.containers", "Required value"))
    if causes:
        raise ApiError.invalid(kind.kind, name, causes, kind.group)


# -- scale subresource ----------------------------------------------------------------------
def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
        },
    }


# -- controllers ----------------------------------------------------------------------------
class AppsControllers:
    """Deployment, ReplicaSet and garbage-collector loops, driven by store events."""

    def __init__(
        self,
        store: Store,
        spawn: Callable[[Any], asyncio.Task[Any]],
        record_event: Callable[[str, str, Obj, str, str, str], None],
    ) -> None:
        self.store = store
        self._spawn = spawn
        self._record = record_event
        self.deployments = _kind("apps", "deployments")
        self.replicasets = _kind("apps", "replicasets")
        self.pods = _kind("", "pods")
        self._dirty: set[str] = set()
        self._scheduled = False
        self._retry: set[str] = set()

    def handle(self, event: Event) -> None:
        resource = event.kind.resource
        if resource not in ("deployments", "replicasets", "pods"):
            return
        meta = event.obj["metadata"]
        if resource == "pods" and controller_uid(event.obj) is None:
            return
        namespace = str(meta.get("namespace") or "")
        if event.type == "DELETED" and resource != "pods":
            self._collect(namespace, str(meta["uid"]))
        self._mark(namespace)

    def _mark(self, namespace: str) -> None:
        self._dirty.add(namespace)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        for namespace in sorted(dirty):
            try:
                self.reconcile(namespace)
            except Exception:
                log.exception("apps controllers failed in %s", namespace)

    def _collect(self, namespace: str, owner_uid: str) -> None:
        """Garbage collector: dependents of a deleted owner go too (background)."""
        for kind in (self.replicasets, self.pods):
            for obj in self.store.items(kind, namespace):
                refs = obj["metadata"].get("ownerReferences") or []
                owned = any(ref.get("uid") == owner_uid for ref in refs)
                if owned and not obj["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(ApiError):
                        self.store.delete(kind, namespace, obj["metadata"]["name"])

    def reconcile(self, namespace: str) -> None:
        for deployment in self.store.items(self.deployments, namespace):
            self._sync_deployment(deployment)
        for rs in self.store.items(self.replicasets, namespace):
            self._sync_replicaset(rs)
        for deployment in self.store.items(self.deployments, namespace):
            self._deployment_status(deployment)

    # deployments
    def _owned(self, kind: Kind, namespace: str, uid: str) -> list[Obj]:
        return [
            o
            for o in self.store.items(kind, namespace)
            if controller_uid(o) == uid and not o["metadata"].get("deletionTimestamp")
        ]

    def _sync_deployment(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        if meta.get("deletionTimestamp"):
            return
        spec = deployment.get("spec") or {}
        namespace = meta["namespace"]
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        name = f"{meta['name']}-{pod_hash}"
        replicas = int(spec.get("replicas", 1))
        if spec.get("paused"):
            return
        owned = self._owned(self.replicasets, namespace, meta["uid"])
        current = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
        if current is None:
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            rs = {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": str(replicas),
                        "deployment.kubernetes.io/revision": str(len(owned) + 1),
                    },
                    "ownerReferences": [_owner_ref(deployment)],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            }
            try:
                self.store.create(self.replicasets, namespace, rs, hooks=False)
            except ApiError as exc:
                log.info("deployment %s/%s: %s", namespace, meta["name"], exc.message)
        elif (current.get("spec") or {}).get("replicas") != replicas:
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = replicas
            updated["metadata"].setdefault("annotations", {})[
                "deployment.kubernetes.io/desired-replicas"
            ] = str(replicas)
            self.store.update_internal(self.replicasets, updated)
        for rs in owned:
            if rs["metadata"]["name"] != name and (rs.get("spec") or {}).get("replicas"):
                old = copy.deepcopy(rs)
                old["spec"]["replicas"] = 0
                self.store.update_internal(self.replicasets, old)

    def _deployment_status(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        if meta.get("deletionTimestamp"):
            return
        spec = deployment.get("spec") or {}
        owned = self._owned(self.replicasets, meta["namespace"], meta["uid"])
        pod_hash = template_hash(spec.get("template") or {})
        totals = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
        updated = 0
        for rs in owned:
            counts = rs.get("status") or {}
            for key in totals:
                totals[key] += int(counts.get(key, 0))
            if rs["metadata"]["name"].endswith(f"-{pod_hash}"):
                updated = int(counts.get("replicas", 0))
        desired = int(spec.get("replicas", 1))
        available = totals["availableReplicas"] >= desired
        old_status = deployment.get("status") or {}
        conditions = [
            _deploy_condition(
                old_status,
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            ),
            _deploy_condition(
                old_status,
                "Progressing",
                True,
                "NewReplicaSetAvailable"
                if available and updated == desired
                else "ReplicaSetUpdated",
                f'ReplicaSet "{meta["name"]}-{pod_hash}" '
                + ("has successfully progressed." if available else "is progressing."),
            ),
        ]
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": totals["replicas"],
            "updatedReplicas": updated,
            "conditions": conditions,
        }
        for key in ("readyReplicas", "availableReplicas"):
            if totals[key]:
                status[key] = totals[key]
        unavailable = desired - totals["availableReplicas"]
        if unavailable > 0:
            status["unavailableReplicas"] = unavailable
        if _comparable(status) != _comparable(old_status):
            self.store.set_status(self.deployments, meta["namespace"], meta["name"], status)

    # replicasets
    def _sync_replicaset(self, rs: Obj) -> None:
        meta = rs["metadata"]
        if meta.get("deletionTimestamp"):
            return
        namespace = meta["namespace"]
        spec = rs.get("spec") or {}
        pods = self._owned(self.pods, namespace, meta["uid"])
        want = int(spec.get("replicas", 1))
        if len(pods) < want:
            for _ in range(want - len(pods)):
                if not self._create_pod(rs):
                    break
        elif len(pods) > want:
            # not-ready pods first, then the youngest (as the ReplicaSet controller ranks them)
            ranked = sorted(
                pods,
                key=lambda p: (_ready(p), p["metadata"].get("creationTimestamp", "")),
            )
            doomed = sorted(ranked[: len(pods) - want], key=lambda p: p["metadata"]["name"])
            for pod in doomed:
                with contextlib.suppress(ApiError):
                    self.store.delete(self.pods, namespace, pod["metadata"]["name"])
        pods = self._owned(self.pods, namespace, meta["uid"])
        ready = sum(1 for p in pods if _ready(p))
        rs_status: dict[str, Any] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "observedGeneration": meta.get("generation", 1),
        }
        if ready:
            rs_status["readyReplicas"] = ready
            rs_status["availableReplicas"] = ready
        if rs_status != (rs.get("status") or {}):
            self.store.set_status(self.replicasets, namespace, meta["name"], rs_status)

    def _create_pod(self, rs: Obj) -> bool:
        meta = rs["metadata"]
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        pod_meta = template.get("metadata") or {}
        pod = {
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": dict(pod_meta.get("labels") or {}),
                "annotations": dict(pod_meta.get("annotations") or {}),
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": template.get("spec") or {},
        }
        try:
            self.store.create(self.pods, meta["namespace"], pod)
            return True
        except ApiError as exc:
            # e.g. the namespace's ServiceAccount does not exist yet: a FailedCreate event,
            # then retry (the real controller requeues with a backoff)
            self._record(
                meta["namespace"],
                meta["name"],
                rs,
                "Warning",
                "FailedCreate",
                f"Error creating: {exc.message}",
            )
            namespace = meta["namespace"]
            if namespace not in self._retry:
                self._retry.add(namespace)
                self._spawn(self._retry_later(namespace))
            return False

    async def _retry_later(self, namespace: str) -> None:
        await asyncio.sleep(0.25)
        self._retry.discard(namespace)
        self._mark(namespace)


def _comparable(status: Obj) -> Obj:
    out = {k: v for k, v in status.items() if k != "conditions"}
    out["conditions"] = [
        (c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []
    ]
    return out


def _deploy_condition(old: Obj, type_: str, ok: bool, reason: str, message: str) -> Obj:
    stamp = now()
    for cond in old.get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == ("True" if ok else "False"):
            stamp = cond.get("lastTransitionTime", stamp)
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "lastUpdateTime": now(),
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }
