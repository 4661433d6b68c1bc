"""The sandbox's object store: every API object, its versions, and the watch event stream.

Single-threaded (lives in the daemon's asyncio loop): every method is synchronous and
atomic. ``hooks`` run before each client write (defaulting, validation, admission) and may
mutate the object or raise ApiError. ``subscribe`` delivers events synchronously to
listeners (watch streams, controllers).
"""

from __future__ import annotations

import copy
import secrets
import string
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from netpol_sandbox import patch as patching
from netpol_sandbox.apierror import ApiError
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.selectors import parse_field_selector
from netpol_sandbox.selectors import parse_label_selector

Obj = dict[str, Any]

#: (operation "create"/"update", kind, new object, old object or None) -> None
Hook = Callable[[str, Kind, Obj, Obj | None], None]

#: kinds whose DELETE answers with the object itself (as the real API server does)
RETURNS_OBJECT = frozenset({"pods", "services", "serviceaccounts", "namespaces", "nodes"})
#: kinds deleted gracefully: the object stays (deletionTimestamp set) until finalize()
GRACEFUL = frozenset({"pods", "namespaces"})

HISTORY = 20000

NAMESPACE_KIND = find("", "namespaces")
assert NAMESPACE_KIND is not None


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    kind: Kind
    obj: Obj
    rv: int


def _without_version(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _key(kind: Kind, namespace: str | None, name: str) -> tuple[str, str]:
    return ((namespace or "") if kind.namespaced else "", name)


class Store:
    def __init__(self) -> None:
        self._rv = 0
        #: (group, resource) -> objects: Calico's and Kubernetes' networkpolicies differ
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._applied: dict[tuple[str, str, str, str], Any] = {}
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._listeners: list[Callable[[Event], None]] = []
        self.hooks: list[Hook] = []

    # -- events -----------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def history_since(self, rv: int) -> list[Event]:
        """Events after ``rv``; 410 Gone when they are no longer kept."""
        if self._history and rv < self._history[0].rv - 1 and rv < self._rv:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self._rv})")
        return [event for event in self._history if event.rv > rv]

    def _emit(self, type_: str, kind: Kind, obj: Obj) -> None:
        event = Event(type_, kind, copy.deepcopy(obj), int(obj["metadata"]["resourceVersion"]))
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)

    def _bump(self, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    # -- reads ------------------------------------------------------------------------
    def _bucket(self, kind: Kind) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault((kind.group, kind.resource), {})

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (not a copy) or None. For internal readers."""
        return self._bucket(kind).get(_key(kind, namespace, name))

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        obj = self.find(kind, namespace, name)
        if obj is None:
            raise ApiError.not_found(kind.resource, name, kind.group)
        return copy.deepcopy(obj)

    def items(self, kind: Kind, namespace: str | None = None) -> list[Obj]:
        """Stored objects (not copies), optionally of one namespace, sorted by ns/name."""
        bucket = self._bucket(kind)
        keys = sorted(bucket)
        if namespace and kind.namespaced:
            keys = [key for key in keys if key[0] == namespace]
        return [bucket[key] for key in keys]

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], int]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        out = [
            copy.deepcopy(obj)
            for obj in self.items(kind, namespace)
            if labels(obj["metadata"].get("labels") or {}) and fields(obj)
        ]
        return out, self._rv

    # -- writes -----------------------------------------------------------------------
    def _run_hooks(self, operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
        for hook in self.hooks:
            hook(operation, kind, obj, old)

    def _check_namespace(self, kind: Kind, namespace: str | None, name: str) -> None:
        if not kind.namespaced:
            return
        ns = self.find(NAMESPACE_KIND, None, namespace or "")  # type: ignore[arg-type]
        if ns is None:
            raise ApiError.not_found("namespaces", namespace or "")
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError.forbidden(
                f'{kind.resource} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                kind.resource,
                name,
            )

    def create(self, kind: Kind, namespace: str | None, obj: Obj, *, hooks: bool = True) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.bad_request("metadata must be an object")
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(
                secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5)
            )
            meta["name"] = meta["generateName"] + suffix
        name = str(meta.get("name") or "")
        if kind.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise ApiError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            namespace = namespace or body_ns or "default"
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        for field in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["creationTimestamp"] = now()
        meta["generation"] = 1
        meta["uid"] = str(uuid.uuid4())
        if hooks:
            self._run_hooks("create", kind, obj, None)
        if not name:
            raise ApiError.invalid(
                kind.kind,
                "",
                [
                    (
                        "FieldValueRequired",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    )
                ],
                kind.group,
            )
        if self.find(kind, namespace, name) is not None:
            raise ApiError.already_exists(kind.resource, name, kind.group)
        self._check_namespace(kind, namespace, name)
        self._bump(obj)
        self._bucket(kind)[_key(kind, namespace, name)] = obj
        self._emit("ADDED", kind, obj)
        return copy.deepcopy(obj)

    def replace(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        obj: Obj,
        *,
        subresource: str = "",
        hooks: bool = True,
    ) -> Obj:
        """PUT: optimistic concurrency on metadata.resourceVersion when the body has one."""
        old = self.find(kind, namespace, name)
        if old is None:
            raise ApiError.not_found(kind.resource, name, kind.group)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") not in (None, name):
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        sent_rv = meta.get("resourceVersion")
        if sent_rv and str(sent_rv) != old["metadata"]["resourceVersion"]:
            raise ApiError.conflict(kind.resource, name, kind.group)
        return self._store_update(kind, old, obj, subresource=subresource, hooks=hooks)

    def _store_update(
        self, kind: Kind, old: Obj, obj: Obj, *, subresource: str = "", hooks: bool = True
    ) -> Obj:
        meta = obj.setdefault("metadata", {})
        old_meta = old["metadata"]
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            obj = new
            meta = obj["metadata"]
        else:
            if "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            for field in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generation",
            ):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if obj.get("spec") != old.get("spec"):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        if hooks:
            self._run_hooks("update", kind, obj, old)
        if _without_version(obj) == _without_version(old):
            return copy.deepcopy(old)  # no-op writes do not bump the version
        self._bump(obj)
        key = _key(kind, old_meta.get("namespace"), old_meta["name"])
        self._bucket(kind)[key] = obj
        self._emit("MODIFIED", kind, obj)
        return copy.deepcopy(obj)

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str = "",
        field_manager: str = "",
        force: bool = False,
    ) -> Obj:
        content_type = content_type.split(";")[0].strip()
        old = self.find(kind, namespace, name)
        if content_type.startswith("application/apply-patch"):
            return self._apply(kind, namespace, name, body, old, field_manager, subresource)
        if old is None:
            raise ApiError.not_found(kind.resource, name, kind.group)
        current = copy.deepcopy(old)
        if content_type == "application/json-patch+json":
            new = patching.json_patch(current, body)
        elif content_type == "application/merge-patch+json":
            new = patching.merge_patch(current, body)
        elif content_type == "application/strategic-merge-patch+json":
            new = patching.strategic_merge_patch(current, body)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        if not isinstance(new, dict):
            raise ApiError.bad_request("the patch did not produce an object")
        sent_rv = (new.get("metadata") or {}).get("resourceVersion")
        if sent_rv and str(sent_rv) != old["metadata"]["resourceVersion"]:
            raise ApiError.conflict(kind.resource, name, kind.group)
        return self._store_update(kind, old, new, subresource=subresource)

    def _apply(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: Any,
        old: Obj | None,
        manager: str,
        subresource: str,
    ) -> Obj:
        if not isinstance(body, dict):
            raise ApiError.bad_request("an apply patch must be an object")
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
            )
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        applied_key = (f"{kind.group}/{kind.resource}", namespace or "", name, manager)
        if old is None:
            body = copy.deepcopy(body)
            body.setdefault("metadata", {})["name"] = name
            created = self.create(kind, namespace, body)
            self._applied[applied_key] = copy.deepcopy(body)
            return created
        previous = self._applied.get(applied_key, {})
        current = patching.remove_unapplied(copy.deepcopy(old), previous, body)
        new = patching.strategic_merge_patch(current, body)
        new["metadata"].pop("resourceVersion", None)
        sent_rv = (body.get("metadata") or {}).get("resourceVersion")
        if sent_rv and str(sent_rv) != old["metadata"]["resourceVersion"]:
            raise ApiError.conflict(kind.resource, name, kind.group)
        result = self._store_update(kind, old, new, subresource=subresource)
        self._applied[applied_key] = copy.deepcopy(body)
        return result

    def set_status(self, kind: Kind, namespace: str | None, name: str, status: Obj) -> Obj | None:
        """Internal (kubelet/controllers): replace status without hooks. None when gone."""
        old = self.find(kind, namespace, name)
        if old is None:
            return None
        return self._store_update(kind, old, {"status": status}, subresource="status", hooks=False)

    def update_internal(self, kind: Kind, obj: Obj) -> Obj | None:
        """Internal full update (spec and metadata) without hooks or version checks."""
        meta = obj["metadata"]
        old = self.find(kind, meta.get("namespace"), meta["name"])
        if old is None:
            return None
        new = copy.deepcopy(obj)
        if "status" in old and "status" not in new:
            new["status"] = old["status"]
        new_status = new.get("status")
        result = self._store_update(kind, old, new, hooks=False)
        if new_status is not None and new_status != old.get("status"):
            result = (
                self.set_status(kind, meta.get("namespace"), meta["name"], new_status) or result
            )
        return result

    def delete(
        self, kind: Kind, namespace: str | None, name: str, grace_seconds: int | None = None
    ) -> tuple[Obj, bool]:
        """Returns (object, still_present). Graceful kinds get a deletionTimestamp first."""
        old = self.find(kind, namespace, name)
        if old is None:
            raise ApiError.not_found(kind.resource, name, kind.group)
        if kind.resource in GRACEFUL:
            if old["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(old), True
            obj = copy.deepcopy(old)
            obj["metadata"]["deletionTimestamp"] = now()
            if kind.resource == "pods":
                default = (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                obj["metadata"]["deletionGracePeriodSeconds"] = (
                    grace_seconds if grace_seconds is not None else default
                )
            else:
                obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
                obj.setdefault("status", {})["phase"] = "Terminating"
            self._bump(obj)
            self._bucket(kind)[_key(kind, namespace, name)] = obj
            self._emit("MODIFIED", kind, obj)
            return copy.deepcopy(obj), True
        return self.finalize(kind, namespace, name) or old, False

    def finalize(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """Remove an object for good (DELETED event)."""
        obj = self._bucket(kind).pop(_key(kind, namespace, name), None)
        if obj is None:
            return None
        for key in [k for k in self._applied if k[:3] == (kind.resource, namespace or "", name)]:
            del self._applied[key]
        self._bump(obj)
        self._emit("DELETED", kind, obj)
        return copy.deepcopy(obj)
