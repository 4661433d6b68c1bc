"""The sandbox's Kubernetes API server (aiohttp): discovery, CRUD, watch, patch and apply,
Table output for kubectl, SelfSubjectAccessReview, and exec over websockets.

``make_app(server)`` builds the application for a ``Server`` (store, cluster, node, faults,
authenticator). Faults apply to client requests only; /version, discovery and /openapi are
exempt from the 429/500 knobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from netpol_sandbox import kinds as kinds_module
from netpol_sandbox import protobuf
from netpol_sandbox import tables
from netpol_sandbox.apierror import ApiError
from netpol_sandbox.auth import Authenticator
from netpol_sandbox.auth import Principal
from netpol_sandbox.auth import forbidden
from netpol_sandbox.controllers import Controllers
from netpol_sandbox.execws import serve_exec
from netpol_sandbox.faults import Faults
from netpol_sandbox.kinds import Kind
from netpol_sandbox.store import RETURNS_OBJECT
from netpol_sandbox.store import Event
from netpol_sandbox.store import Obj
from netpol_sandbox.store import Store

log = logging.getLogger("netpol_sandbox.api")

PRINCIPAL = web.RequestKey("principal", Principal)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_EXEMPT = re.compile(
    r"^/(version|healthz|livez|readyz|openapi/.*|api|api/v1|apis|apis/[^/]+|apis/[^/]+/[^/]+)/?$"
)
#: Readable without credentials (system:public-info-viewer on a real cluster).
_PUBLIC = re.compile(r"^/(version|healthz|livez|readyz)/?$")
_RESOURCE_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))/(?P<rest>.+?)/?$"
)


@dataclass
class Server:
    store: Store
    cluster: Controllers
    faults: Faults
    auth: Authenticator
    rng: random.Random = field(default_factory=random.Random)
    #: When set, one JSON line per authorized request (user, verb, group, resource,
    #: namespace): what a real API server's audit log would say, for RBAC drift checks.
    audit_path: Path | None = None

    def roll(self, fraction: float) -> bool:
        return fraction > 0 and self.rng.random() < fraction

    def audit(
        self, principal: Principal, verb: str, group: str, resource: str, namespace: str | None
    ) -> None:
        if self.audit_path is None:
            return
        line = json.dumps(
            {
                "user": principal.user,
                "verb": verb,
                "group": group,
                "resource": resource,
                "namespace": namespace or "",
            },
            sort_keys=True,
        )
        with self.audit_path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


@dataclass(frozen=True)
class Target:
    kind: Kind
    namespace: str | None
    name: str
    subresource: str


def status_response(error: ApiError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return web.json_response(error.status(), status=error.code, headers=headers)


def _success_status(kind: Kind, obj: Obj) -> dict[str, Any]:
    details: dict[str, Any] = {
        "name": obj["metadata"]["name"],
        "kind": kind.resource,
        "uid": obj["metadata"].get("uid"),
    }
    if kind.group:
        details["group"] = kind.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


# -- discovery ------------------------------------------------------------------------------
def _resource_list(group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for kind in kinds_module.KINDS:
        if kind.group != group or kind.version != version:
            continue
        resources.append(
            {
                "name": kind.resource,
                "singularName": kind.singular,
                "namespaced": kind.namespaced,
                "kind": kind.kind,
                "verbs": list(kind.verbs),
                "shortNames": list(kind.short_names),
            }
        )
        for sub in kind.subresources:
            verbs = {
                "status": ["get", "patch", "update"],
                "log": ["get"],
                "exec": ["create", "get"],
                "ephemeralcontainers": ["get", "patch", "update"],
                "scale": ["get", "patch", "update"],
            }.get(sub, ["get"])
            entry: dict[str, Any] = {
                "name": f"{kind.resource}/{sub}",
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": "PodExecOptions" if sub == "exec" else kind.kind,
                "verbs": verbs,
            }
            if sub == "scale":
                entry.update(kind="Scale", group="autoscaling", version="v1")
            resources.append(entry)
    if group == "authorization.k8s.io":
        resources.append(
            {
                "name": "selfsubjectaccessreviews",
                "singularName": "selfsubjectaccessreview",
                "namespaced": False,
                "kind": "SelfSubjectAccessReview",
                "verbs": ["create"],
            }
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _all_groups() -> list[tuple[str, str]]:
    return [*kinds_module.groups(), ("authorization.k8s.io", "v1")]


def _grouped() -> dict[str, list[str]]:
    """Group name -> its versions, the preferred (first declared) first."""
    out: dict[str, list[str]] = {}
    for group, ver in _all_groups():
        out.setdefault(group, []).append(ver)
    return out


async def version(request: web.Request) -> web.Response:
    return web.json_response(VERSION_INFO)


async def api_versions(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}
            ],
        }
    )


async def core_resources(request: web.Request) -> web.Response:
    return web.json_response(_resource_list("", "v1"))


async def api_groups(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in _grouped().items()],
        }
    )


async def api_group(request: web.Request) -> web.Response:
    name = request.match_info["group"]
    versions = _grouped().get(name)
    if versions:
        return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)})
    raise ApiError(404, "NotFound", "the server could not find the requested resource")


async def group_resources(request: web.Request) -> web.Response:
    name, ver = request.match_info["group"], request.match_info["version"]
    if (name, ver) not in _all_groups():
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return web.json_response(_resource_list(name, ver))


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


# -- openapi: just enough for kubectl's field-validation probe ------------------------------
def _openapi_paths(group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for kind in kinds_module.KINDS:
        if kind.group != group or kind.version != version:
            continue
        scope = "/namespaces/{namespace}" if kind.namespaced else ""
        gvk = {"group": kind.group, "version": kind.version, "kind": kind.kind}
        param = {
            "name": "fieldValidation",
            "in": "query",
            "schema": {"type": "string", "uniqueItems": True},
        }
        op = {"x-kubernetes-group-version-kind": gvk, "parameters": [param], "responses": {}}
        paths[f"{prefix}{scope}/{kind.resource}/{{name}}"] = {"patch": op, "put": op}
        paths[f"{prefix}{scope}/{kind.resource}"] = {"post": op}
    return paths


async def openapi_v3_root(request: web.Request) -> web.Response:
    entries = {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=1"}}
    for group, ver in kinds_module.groups():
        entries[f"apis/{group}/{ver}"] = {
            "serverRelativeURL": f"/openapi/v3/apis/{group}/{ver}?hash=1"
        }
    return web.json_response({"paths": entries})


async def openapi_v3_group(request: web.Request) -> web.Response:
    path = request.match_info["path"].strip("/")
    if path == "api/v1":
        group, ver = "", "v1"
    else:
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "apis":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group, ver = parts[1], parts[2]
    paths = _openapi_paths(group, ver)
    if not paths:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return web.json_response(
        {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": {}},
        }
    )


async def not_found(request: web.Request) -> web.Response:
    raise ApiError(404, "NotFound", "the server could not find the requested resource")


# -- resources -----------------------------------------------------------------------------
def parse_target(path: str) -> Target | None:
    match = _RESOURCE_PATH.match(path)
    if not match:
        return None
    group = match.group("group") or ""
    version = match.group("cv") or match.group("gv")
    parts = match.group("rest").split("/")
    if len(parts) >= 3 and parts[0] == "namespaces":
        kind = kinds_module.find(group, parts[2])
        if kind is not None and kind.namespaced and kind.version == version:
            if len(parts) > 5:
                return None
            name = parts[3] if len(parts) > 3 else ""
            return _checked(Target(kind, parts[1], name, parts[4] if len(parts) > 4 else ""))
    kind = kinds_module.find(group, parts[0])
    if kind is None or kind.version != version or len(parts) > 3:
        return None
    if kind.namespaced and len(parts) > 1:
        return None
    name = parts[1] if len(parts) > 1 else ""
    return _checked(Target(kind, None, name, parts[2] if len(parts) > 2 else ""))


def _checked(target: Target) -> Target | None:
    allowed = (
        *target.kind.subresources,
        "finalize" if target.kind.resource == "namespaces" else "",
    )
    if target.subresource and target.subresource not in allowed:
        return None
    return target


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    if target.subresource == "exec":
        return "create"
    if method == "GET":
        if not target.name:
            return "watch" if request.query.get("watch") in ("true", "1") else "list"
        return "get"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ApiError.bad_request("the request body is empty")
    content_type = request.headers.get("Content-Type", "application/json")
    if "protobuf" in content_type:
        return protobuf.decode(raw)
    if "cbor" in content_type:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media "
            "types include: application/json, application/yaml",
        )
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApiError.bad_request(f"the request body could not be decoded: {exc}") from exc


class Resources:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.store = server.store

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = parse_target(request.path)
        if target is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        principal: Principal = request[PRINCIPAL]
        verb = _verb(request, target)
        resource = target.kind.resource + (f"/{target.subresource}" if target.subresource else "")
        if not principal.allows(verb, target.kind.group, resource):
            raise forbidden(
                principal, verb, target.kind.group, resource, target.namespace, target.name
            )
        self.server.audit(principal, verb, target.kind.group, resource, target.namespace)
        if target.subresource == "exec":
            pod = self.store.get(target.kind, target.namespace, target.name)
            return await serve_exec(request, self.server, pod)
        if target.subresource == "log":
            self.store.get(target.kind, target.namespace, target.name)
            return web.Response(text="", content_type="text/plain")
        if target.subresource == "scale":
            return await self._scale(request, target)
        if target.subresource and target.subresource not in (
            "status",
            "ephemeralcontainers",
            "finalize",
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if (
            target.namespace
            and target.kind.namespaced
            and request.method == "POST"
            and not target.name
        ):
            pass
        method = request.method
        if not target.name:
            if method == "GET":
                return await self._list(request, target, verb == "watch")
            if method == "POST":
                return self._create(request, target, await _body(request))
            if method == "DELETE":
                return self._delete_collection(request, target)
            raise ApiError.method_not_allowed()
        if method == "GET":
            return self._respond(
                request, target.kind, self.store.get(target.kind, target.namespace, target.name)
            )
        if method == "PUT":
            return self._replace(request, target, await _body(request))
        if method == "PATCH":
            return self._patch(request, target, await _body(request))
        if method == "DELETE":
            return await self._delete(request, target)
        raise ApiError.method_not_allowed()

    async def _scale(self, request: web.Request, target: Target) -> web.Response:
        """GET/PUT/PATCH ``.../scale`` (autoscaling/v1 Scale) of a Deployment/ReplicaSet."""
        from netpol_sandbox import patch as patching
        from netpol_sandbox.apps import scale_of

        obj = self.store.get(target.kind, target.namespace, target.name)
        if request.method == "GET":
            return web.json_response(scale_of(obj))
        body = await _body(request)
        if request.method == "PATCH":
            content_type = request.headers.get("Content-Type", "")
            if "json-patch" in content_type:
                body = patching.json_patch(scale_of(obj), body)
            else:
                body = patching.strategic_merge_patch(scale_of(obj), body)
        elif request.method != "PUT":
            raise ApiError.method_not_allowed()
        replicas = (
            ((body or {}).get("spec") or {}).get("replicas") if isinstance(body, dict) else None
        )
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ApiError.invalid(
                "Scale",
                target.name,
                [
                    (
                        "FieldValueInvalid",
                        "spec.replicas",
                        f"Invalid value: {json.dumps(replicas)}: must be greater than or equal "
                        "to 0",
                    )
                ],
                "autoscaling",
            )
        updated = dict(obj)
        updated["spec"] = {**(obj.get("spec") or {}), "replicas": replicas}
        stored = self.store.replace(target.kind, target.namespace, target.name, updated)
        return web.json_response(scale_of(stored))

    def _respond(
        self, request: web.Request, kind: Kind, obj: Obj, status: int = 200
    ) -> web.Response:
        if tables.wants_table(request.headers.get("Accept", "")):
            body = tables.table(
                kind,
                [obj],
                obj["metadata"].get("resourceVersion", ""),
                request.query.get("includeObject", "Metadata"),
            )
            return web.json_response(body, status=status)
        return web.json_response(obj, status=status)

    def _create(self, request: web.Request, target: Target, body: Any) -> web.Response:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the request body must be an object")
        if target.kind.resource == "namespaces" and target.subresource:
            raise ApiError.method_not_allowed()
        kind_name = body.get("kind")
        if kind_name and kind_name != target.kind.kind:
            raise ApiError.bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the "
                f"expected API "
                f"version ({target.kind.api_version})"
                if body.get("apiVersion") != target.kind.api_version
                else f'{kind_name} in version "{target.kind.version}" cannot be handled as a '
                f"{target.kind.kind}"
            )
        if request.query.get("dryRun"):
            return web.json_response(body, status=201)
        obj = self.store.create(target.kind, target.namespace, body)
        return self._respond(request, target.kind, obj, 201)

    def _ephemeral_allowed(self, target: Target, current: Obj, new: Any) -> None:
        """The ephemeral_forbidden fault, and API validation: existing ephemeral containers
        can be neither changed nor removed."""
        if self.server.faults.ephemeral_forbidden:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{target.name}" is forbidden: admission webhook "ephemeral.sandbox" denied '
                "the request: ephemeral containers are not allowed (sandbox fault "
                "ephemeral_forbidden)",
            )
        old = {
            str(c.get("name")): c
            for c in (current.get("spec") or {}).get("ephemeralContainers") or []
        }
        now = {str(c.get("name")): c for c in new or [] if isinstance(c, dict)}
        for name, spec in old.items():
            if name not in now or now[name] != spec:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Pod "{target.name}" is invalid: spec.ephemeralContainers: Forbidden: '
                    f"existing ephemeral containers may not be removed or changed ({name})",
                )

    def _replace(self, request: web.Request, target: Target, body: Any) -> web.Response:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the request body must be an object")
        if target.subresource == "ephemeralcontainers":
            current = self.store.get(target.kind, target.namespace, target.name)
            self._ephemeral_allowed(
                target, current, (body.get("spec") or {}).get("ephemeralContainers")
            )
            current["spec"]["ephemeralContainers"] = (body.get("spec") or {}).get(
                "ephemeralContainers"
            ) or []
            current["metadata"]["resourceVersion"] = (body.get("metadata") or {}).get(
                "resourceVersion"
            )
            body = current
        if target.subresource == "finalize":
            return self._respond(
                request, target.kind, self.store.get(target.kind, target.namespace, target.name)
            )
        sub = "status" if target.subresource == "status" else ""
        obj = self.store.replace(target.kind, target.namespace, target.name, body, subresource=sub)
        return self._respond(request, target.kind, obj)

    def _patch(self, request: web.Request, target: Target, body: Any) -> web.Response:
        content_type = request.headers.get("Content-Type", "application/merge-patch+json")
        sub = "status" if target.subresource == "status" else ""
        if target.subresource == "ephemeralcontainers":
            current = self.store.get(target.kind, target.namespace, target.name)
            from netpol_sandbox import patch as patching

            if "json-patch" in content_type:
                patched = patching.json_patch(current, body)
            else:
                patched = patching.strategic_merge_patch(current, body)
            self._ephemeral_allowed(
                target, current, patched.get("spec", {}).get("ephemeralContainers")
            )
            current["spec"]["ephemeralContainers"] = (
                patched.get("spec", {}).get("ephemeralContainers") or []
            )
            obj = self.store.replace(target.kind, target.namespace, target.name, current)
            return self._respond(request, target.kind, obj)
        obj = self.store.patch(
            target.kind,
            target.namespace,
            target.name,
            content_type,
            body,
            subresource=sub,
            field_manager=request.query.get("fieldManager", ""),
            force=request.query.get("force") == "true",
        )
        return self._respond(request, target.kind, obj)

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        grace: int | None = None
        raw = await request.read()
        if raw:
            try:
                options = json.loads(raw)
                if isinstance(options, dict) and options.get("gracePeriodSeconds") is not None:
                    grace = int(options["gracePeriodSeconds"])
            except (ValueError, TypeError):
                pass
        if request.query.get("gracePeriodSeconds"):
            grace = int(request.query["gracePeriodSeconds"])
        obj, _present = self.store.delete(target.kind, target.namespace, target.name, grace)
        if target.kind.resource in RETURNS_OBJECT:
            return self._respond(request, target.kind, obj)
        return web.json_response(_success_status(target.kind, obj))

    def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        items, _rv = self.store.list(
            target.kind,
            target.namespace,
            request.query.get("labelSelector", ""),
            request.query.get("fieldSelector", ""),
        )
        for obj in items:
            with contextlib.suppress(ApiError):
                self.store.delete(
                    target.kind, obj["metadata"].get("namespace"), obj["metadata"]["name"]
                )
        return web.json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        )

    async def _list(self, request: web.Request, target: Target, watch: bool) -> web.StreamResponse:
        labels = request.query.get("labelSelector", "")
        fields = request.query.get("fieldSelector", "")
        if watch:
            return await self._watch(request, target, labels, fields)
        items, rv = self.store.list(target.kind, target.namespace, labels, fields)
        if tables.wants_table(request.headers.get("Accept", "")):
            return web.json_response(
                tables.table(
                    target.kind, items, str(rv), request.query.get("includeObject", "Metadata")
                )
            )
        return web.json_response(
            {
                "kind": f"{target.kind.kind}List",
                "apiVersion": target.kind.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        )

    async def _watch(
        self, request: web.Request, target: Target, labels: str, fields: str
    ) -> web.StreamResponse:
        from netpol_sandbox.selectors import parse_field_selector
        from netpol_sandbox.selectors import parse_label_selector

        label_match = parse_label_selector(labels)
        field_match = parse_field_selector(fields)
        kind = target.kind

        def matches(obj: Obj) -> bool:
            meta = obj["metadata"]
            if target.namespace and kind.namespaced and meta.get("namespace") != target.namespace:
                return False
            return label_match(meta.get("labels") or {}) and field_match(obj)

        def key(obj: Obj) -> tuple[str, str]:
            return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

        queue: asyncio.Queue[Event] = asyncio.Queue()
        rv_text = request.query.get("resourceVersion", "")
        seen: set[tuple[str, str]] = set()
        initial: list[tuple[str, Obj]] = []
        if rv_text in ("", "0"):
            items, _ = self.store.list(kind, target.namespace, labels, fields)
            initial = [("ADDED", obj) for obj in items]
            seen = {key(obj) for obj in items}
        else:
            try:
                since = int(rv_text)
            except ValueError as exc:
                raise ApiError.bad_request(f"invalid resourceVersion {rv_text!r}") from exc
            seen = {key(obj) for obj in self.store.items(kind, target.namespace) if matches(obj)}
            for event in self.store.history_since(since):
                if event.kind == kind:
                    queue.put_nowait(event)
        unsubscribe = self.store.subscribe(
            lambda event: queue.put_nowait(event) if event.kind == kind else None
        )
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        timeout = float(request.query.get("timeoutSeconds") or 0) or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            await response.prepare(request)

            async def send(type_: str, obj: Obj) -> None:
                payload = obj
                if as_table:
                    payload = tables.table(
                        kind,
                        [obj],
                        obj["metadata"].get("resourceVersion", ""),
                        request.query.get("includeObject", "Metadata"),
                    )
                line = json.dumps({"type": type_, "object": payload}) + "\n"
                await response.write(line.encode())

            for type_, obj in initial:
                await send(type_, obj)
            while True:
                wait = None if deadline is None else deadline - loop.time()
                if wait is not None and wait <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    break
                obj = event.obj
                k = key(obj)
                if event.type == "DELETED":
                    if k in seen:
                        seen.discard(k)
                        await send("DELETED", obj)
                    continue
                if matches(obj):
                    await send("MODIFIED" if k in seen and event.type != "ADDED" else "ADDED", obj)
                    seen.add(k)
                elif k in seen:
                    seen.discard(k)
                    await send("DELETED", obj)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
        return response


async def access_review(request: web.Request) -> web.Response:
    body = await _body(request)
    principal: Principal = request[PRINCIPAL]
    server: Server = request.app[SERVER_KEY]
    server.audit(principal, "create", "authorization.k8s.io", "selfsubjectaccessreviews", None)
    attrs = ((body or {}).get("spec") or {}).get("resourceAttributes") or {}
    resource = str(attrs.get("resource", ""))
    if attrs.get("subresource"):
        resource += f"/{attrs['subresource']}"
    allowed = principal.allows(str(attrs.get("verb", "")), str(attrs.get("group", "")), resource)
    body = dict(body or {})
    body["status"] = {
        "allowed": allowed,
        **({} if allowed else {"reason": "denied by the sandbox RBAC rules"}),
    }
    body.setdefault("metadata", {})
    body["kind"] = "SelfSubjectAccessReview"
    body["apiVersion"] = "authorization.k8s.io/v1"
    return web.json_response(body, status=201)


SERVER_KEY = web.AppKey("server", Server)


def make_app(server: Server) -> web.Application:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            exempt = _EXEMPT.match(request.path) is not None
            header = request.headers.get("Authorization")
            if header or _PUBLIC.match(request.path) is None:
                principal = server.auth.principal(header)  # a wrong token: 401
                request[PRINCIPAL] = principal
                if principal.rules == () and exempt and _PUBLIC.match(request.path) is None:
                    raise ApiError.forbidden(
                        f'forbidden: User "{principal.user}" cannot get path "{request.path}"'
                    )
            if not exempt:
                if server.roll(server.faults.api_429):
                    raise ApiError(
                        429,
                        "TooManyRequests",
                        "Too many requests, please try again later.",
                        {"causes": [{"reason": "ServerTimeout"}], "retryAfterSeconds": 1},
                        retry_after=1,
                    )
                if server.roll(server.faults.api_500):
                    raise ApiError(
                        500,
                        "InternalError",
                        "Internal error occurred: injected fault (sandbox api_500)",
                    )
            return await handler(request)
        except ApiError as error:
            return status_response(error)
        except web.HTTPException:
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            log.exception("internal error on %s %s", request.method, request.path)
            return status_response(
                ApiError(500, "InternalError", f"Internal error occurred: {exc}")
            )

    app = web.Application(middlewares=[middleware], client_max_size=64 * 1024 * 1024)
    app[SERVER_KEY] = server
    resources = Resources(server)
    app.router.add_get("/version", version)
    app.router.add_get("/version/", version)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, health)
    app.router.add_get("/api", api_versions)
    app.router.add_get("/api/", api_versions)
    app.router.add_get("/api/v1", core_resources)
    app.router.add_get("/api/v1/", core_resources)
    app.router.add_get("/apis", api_groups)
    app.router.add_get("/apis/", api_groups)
    app.router.add_post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", access_review)
    app.router.add_get("/apis/{group}", api_group)
    app.router.add_get("/apis/{group}/", api_group)
    app.router.add_get("/apis/{group}/{version}", group_resources)
    app.router.add_get("/apis/{group}/{version}/", group_resources)
    app.router.add_get("/openapi/v3", openapi_v3_root)
    app.router.add_get("/openapi/v3/{path:.+}", openapi_v3_group)
    app.router.add_get("/openapi/v2", not_found)
    app.router.add_route("*", "/api/v1/{rest:.+}", resources.handle)
    app.router.add_route("*", "/apis/{group}/{version}/{rest:.+}", resources.handle)
    return app
