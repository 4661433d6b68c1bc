"""Kubernetes API access: the ONLY module that imports ``kubernetes``.

:class:`Cluster` is a small facade taking and returning plain dicts, so the
rest of the harness never sees kubernetes types.

Connection follows kubectl: an explicit kubeconfig path, else ``KUBECONFIG``
(a ``:``-separated list), else ``~/.kube/config``, else the in-cluster service
account. Tokens and kubeconfig contents are never printed; :meth:`Cluster.describe`
names only the server URL and the context.

Thread safety: ``kubernetes.stream.stream()`` temporarily monkey-patches
``ApiClient.call_api`` (kubernetes-client/python#928), so every thread gets
its own ApiClient (``threading.local``).

Errors: every ``ApiException`` becomes a :mod:`harness.errors` type by status
(404 NotFound, 409 Conflict, 422 Invalid, 403 Forbidden with the admission
message, 429 and 5xx retryable honouring Retry-After, 0/transport retryable).
Only safe operations are retried: reads, deletes, and creates (a 409 on a
retried create counts as success when the existing object carries our run label).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import TypedDict
from typing import TypeVar
from typing import Unpack
from urllib.parse import quote

import urllib3
import websocket
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream as k8s_stream

from harness.errors import ClusterError
from harness.errors import ConfigError
from harness.errors import Conflict
from harness.errors import ExecError
from harness.errors import NotFound
from harness.live import waits
from harness.live.api import ObjectRef
from harness.live.apistatus import KINDS
from harness.live.apistatus import Kind
from harness.live.apistatus import error_from_status
from harness.live.apistatus import exit_code_from_status
from harness.live.apistatus import scrub
from harness.live.apistatus import status_message
from harness.live.kubeconfig import FIX as KUBECONFIG_FIX
from harness.live.kubeconfig import FIX_FILE as KUBECONFIG_FIX_FILE
from harness.live.kubeconfig import check_kubeconfig
from harness.live.retry import retrying
from harness.live.retry import until_service_account
from harness.model import RUN_LABEL
from harness.scenario.yamlload import escape

T = TypeVar("T")


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


class _Call(TypedDict, total=False):
    """The options of one REST call (:meth:`Cluster._raw_request`); each has a default."""

    body: Any  # None: no body
    query: Sequence[tuple[str, str]]  # ()
    content_type: str  # of the body: application/json
    what: str  # for errors: "METHOD path"
    accept: str  # application/json


# ------------------------------------------------------------------ errors


def translate(exc: BaseException, what: str) -> ClusterError:
    """Wrap a kubernetes/urllib3/socket exception into a harness error."""
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        return error_from_status(
            status,
            status_message(exc.body) or str(exc.reason or ""),
            what=what,
            headers=exc.headers,
            reason=str(exc.reason or ""),
        )
    return ClusterError(f"{what}: {type(exc).__name__}: {exc}", status=0, retryable=True)


# ------------------------------------------------------------------ facade


class Cluster:
    """A typed facade over the Kubernetes API: plain dicts in and out."""

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        request_timeout: float = 30.0,
        retry_attempts: int = 6,
        retry_base: float = 0.2,
        retry_cap: float = 5.0,
        service_account_wait: float = 60.0,
        configuration: Any = None,
    ) -> None:
        self._request_timeout = request_timeout
        self._retry_attempts = retry_attempts
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._service_account_wait = service_account_wait
        self._local = threading.local()
        self._discovered: dict[tuple[str, str], Kind] = {}
        self._discovery_lock = threading.Lock()
        self._context = context or ""
        self._config = configuration if configuration is not None else self._load(kubeconfig)
        if websocket.getdefaulttimeout() is None:
            # Bounds the websocket handshake and a stalled frame read of exec calls.
            websocket.setdefaulttimeout(max(request_timeout, 60.0))

    # ------------------------------------------------------- connection

    def _load(self, kubeconfig: str | None) -> Any:
        import warnings

        # Checked first (harness.live.kubeconfig): the client never meets a broken file.
        path, default, files = check_kubeconfig(kubeconfig)
        fix, fix_file = KUBECONFIG_FIX, KUBECONFIG_FIX_FILE
        cfg = k8s_client.Configuration()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if files:
                    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                        config_file=path or default,
                        context=self._context or None,
                        client_configuration=cfg,
                        persist_config=False,
                    )
                else:
                    k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException as exc:
            where = path or default
            raise ConfigError(
                f"cannot load Kubernetes configuration ({escape(where)}): "
                f"{escape(scrub(str(exc)))[:300]} {fix}"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot read kubeconfig {escape(path or default)}: {exc.strerror or 'error'} "
                "(fix: pass --netpol-kubeconfig PATH)"
            ) from None
        except Exception:  # the client expects other types somewhere: never its traceback
            raise ConfigError(
                f"{escape(path or default)}: not a kubeconfig: the Kubernetes client cannot "
                f"read it (a field has the wrong type or value) {fix_file}"
            ) from None
        host = str(cfg.host or "")
        if re.match(r"^https?://(127\.|localhost|\[::1\])", host):
            # Never send loopback API traffic through an HTTP(S)_PROXY from the environment.
            cfg.proxy = None
            cfg.no_proxy = "127.0.0.1,localhost,::1"
        return cfg

    def describe(self) -> str:
        """Server URL and context (never credentials)."""
        ctx = f" (context {self._context})" if self._context else ""
        return f"{self._config.host}{ctx}"

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            api = k8s_client.ApiClient(configuration=self._config)
            self._local.api = api
        return api

    def _core(self) -> Any:
        core = getattr(self._local, "core", None)
        if core is None:
            core = k8s_client.CoreV1Api(self._api())
            self._local.core = core
        return core

    # ------------------------------------------------------- raw REST

    def _request(self, method: str, path: str, **call: Unpack[_Call]) -> dict[str, Any]:
        """:meth:`_raw_request`, its answer parsed: a JSON object (a list as its ``items``)."""
        raw, status = self._raw_request(method, path, **call)
        what = call.get("what") or f"{method} {path}"
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ClusterError(f"{what}: the API server sent non-JSON", status=status) from None
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def _raw_request(self, method: str, path: str, **call: Unpack[_Call]) -> tuple[bytes, int]:
        api = self._api()
        body = call.get("body")
        headers: dict[str, str] = {"Accept": call.get("accept", "application/json")}
        if body is not None:
            headers["Content-Type"] = call.get("content_type", "application/json")
        what = call.get("what") or f"{method} {path}"
        try:
            m, url, hdrs, data, post = api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list(call.get("query", ())) or None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            resp = api.call_api(m, url, hdrs, data, post, _request_timeout=self._request_timeout)
            raw = resp.read()
        except ApiException as exc:
            raise translate(exc, what) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise translate(exc, what) from None
        status = int(resp.status)
        if status >= 400:
            raise error_from_status(
                status,
                status_message(raw),
                what=what,
                headers=resp.headers,
                reason=str(resp.reason or ""),
            )
        return bytes(raw or b""), status

    def _retrying(self, fn: Callable[[], T]) -> T:
        """``fn()`` under the retry rules (:func:`harness.live.retry.retrying`)."""
        return retrying(
            fn, attempts=self._retry_attempts, base=self._retry_base, cap=self._retry_cap
        )

    # ------------------------------------------------------- kinds

    def kind_of(self, api_version: str, kind: str) -> Kind:
        known = KINDS.get((api_version, kind)) or self._discovered.get((api_version, kind))
        if known is not None:
            return known
        with self._discovery_lock:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            doc = self._retrying(lambda: self._request("GET", base, what=f"discover {api_version}"))
            for res in doc.get("resources", []):
                if res.get("kind") == kind and "/" not in str(res.get("name", "")):
                    found = Kind(api_version, kind, str(res["name"]), bool(res.get("namespaced")))
                    self._discovered[(api_version, kind)] = found
                    return found
        raise ConfigError(f"the cluster does not serve {kind} in {api_version}")

    def _object_path(self, body: Mapping[str, Any]) -> tuple[Kind, str, str]:
        ref = ObjectRef.of(body)
        if not ref.api_version or not ref.kind or not ref.name:
            raise ConfigError("an object needs apiVersion, kind and metadata.name")
        k = self.kind_of(ref.api_version, ref.kind)
        collection = k.collection(ref.namespace if k.namespaced else None)
        return k, collection, f"{collection}/{quote(ref.name, safe='')}"

    # ------------------------------------------------------- objects

    def create(self, body: Mapping[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
        """Create an object; on 409 replace it (Pods: accept if it is ours).

        ``run_id``: a 409 on an object carrying this run label is our own
        earlier (retried) create, so it counts as success.
        """
        k, collection, item = self._object_path(body)
        ref = ObjectRef.of(body)
        attempt = {"n": 0}

        def do_create() -> dict[str, Any]:
            attempt["n"] += 1
            try:
                return self._request("POST", collection, body=dict(body), what=f"create {ref}")
            except Conflict:
                existing = self._retrying(lambda: self._request("GET", item, what=f"get {ref}"))
                labels = (existing.get("metadata") or {}).get("labels") or {}
                ours = run_id is not None and labels.get(RUN_LABEL) == run_id
                if k.kind in ("Pod", "Namespace", "ServiceAccount"):
                    if ours:
                        return existing
                    raise  # never take over someone else's pod, namespace or account
                return self._replace(item, body, existing, ref)

        # A pod in a namespace created a moment ago: wait for its ServiceAccount.
        return until_service_account(lambda: self._retrying(do_create), self._service_account_wait)

    def _replace(
        self, item: str, body: Mapping[str, Any], existing: Mapping[str, Any], ref: ObjectRef
    ) -> dict[str, Any]:
        new = json.loads(json.dumps(dict(body)))
        meta = new.setdefault("metadata", {})
        version = (existing.get("metadata") or {}).get("resourceVersion")
        if version:
            meta["resourceVersion"] = version
        if ref.kind == "Service":
            spec = new.setdefault("spec", {})
            old_spec = existing.get("spec") or {}
            for key in ("clusterIP", "clusterIPs"):
                if key in old_spec and key not in spec:
                    spec[key] = old_spec[key]
        return self._request("PUT", item, body=new, what=f"replace {ref}")

    apply = create

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        meta: dict[str, str] = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        body = {"apiVersion": api_version, "kind": kind, "metadata": meta}
        _, _, item = self._object_path(body)
        return self._retrying(lambda: self._request("GET", item, what=f"get {kind} {name}"))

    def delete(self, ref: ObjectRef) -> bool:
        """Delete one object; False if it was already gone."""
        body: dict[str, Any] = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "metadata": {"name": ref.name},
        }
        if ref.namespace:
            body["metadata"]["namespace"] = ref.namespace
        _, _, item = self._object_path(body)
        try:
            self._retrying(
                lambda: self._request(
                    "DELETE",
                    item,
                    body={"propagationPolicy": "Background"},
                    what=f"delete {ref}",
                )
            )
        except NotFound:
            return False
        return True

    def patch_labels(self, ref: ObjectRef, labels: Mapping[str, str | None]) -> dict[str, Any]:
        """Set labels of one object (a value of None removes the label): a merge patch."""
        body: dict[str, Any] = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "metadata": {
                "name": ref.name,
                **({"namespace": ref.namespace} if ref.namespace else {}),
            },
        }
        _, _, item = self._object_path(body)
        patch = {"metadata": {"labels": dict(labels)}}
        return self._retrying(
            lambda: self._request(
                "PATCH",
                item,
                body=patch,
                content_type="application/merge-patch+json",
                what=f"label {ref}",
            )
        )

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        k = self.kind_of(api_version, kind)
        path = (
            k.collection(namespace)
            if (k.namespaced and namespace)
            else ("/api/v1" if api_version == "v1" else f"/apis/{api_version}") + f"/{k.plural}"
        )
        query: list[tuple[str, str]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        doc = self._retrying(
            lambda: self._request("GET", path, query=query, what=f"list {k.plural}")
        )
        items = doc.get("items") or []
        out = []
        for item in items:
            if isinstance(item, dict):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                out.append(item)
        return out

    # ------------------------------------------------------- namespaces & pods

    def create_namespace(
        self, body: Mapping[str, Any], *, run_id: str | None = None
    ) -> dict[str, Any]:
        return self.create(body, run_id=run_id)

    def list_namespaces(self, label_selector: str = "") -> list[dict[str, Any]]:
        return self.list_objects("v1", "Namespace", label_selector=label_selector)

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        return self.list_objects("v1", "Pod", namespace, label_selector=label_selector)

    def list_network_policies(self, namespace: str) -> list[dict[str, Any]]:
        return self.list_objects("networking.k8s.io/v1", "NetworkPolicy", namespace)

    def snapshot(
        self, namespaces: Iterable[str], extended: Iterable[tuple[str, str]] = ()
    ) -> list[dict[str, Any]]:
        """Namespaces, pods and NetworkPolicies of ``namespaces`` (for explanations), and
        the ``extended`` (apiVersion, kind)s: in ``namespaces``, or all if cluster-scoped."""
        wanted = sorted(set(namespaces))
        objs: list[dict[str, Any]] = [
            ns for ns in self.list_namespaces() if (ns.get("metadata") or {}).get("name") in wanted
        ]
        for ns in wanted:
            objs.extend(self.list_pods(ns))
            objs.extend(self.list_network_policies(ns))
        for api_version, kind in sorted(set(extended)):
            namespaced = self.kind_of(api_version, kind).namespaced
            for scope in [*wanted] if namespaced else [None]:
                objs.extend(self.list_objects(api_version, kind, scope))
        return objs

    def pod_events(self, namespace: str, name: str) -> list[str]:
        try:
            events = self.list_objects(
                "v1",
                "Event",
                namespace,
                field_selector=f"involvedObject.name={name}",
            )
        except ClusterError:
            return []
        out = []
        for ev in events:
            out.append(f"{ev.get('type', '')} {ev.get('reason', '')}: {ev.get('message', '')}")
        return out[-10:]

    def pod_logs(self, namespace: str, name: str, container: str, tail: int = 5) -> list[str]:
        """The last lines a container logged (best effort: [] when unavailable)."""
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}/log"
        try:
            raw, _ = self._raw_request(
                "GET",
                path,
                query=[("container", container), ("tailLines", str(tail))],
                accept="text/plain",
                what=f"logs of {namespace}/{name}/{container}",
            )
        except ClusterError:
            return []
        return raw.decode("utf-8", "replace").splitlines()[-tail:]

    # ------------------------------------------------------- waits & exec

    # Functions of harness.live.waits, as methods: the cluster is their ``api``.
    wait_pods_ready = waits.wait_pods_ready
    wait_ephemeral_running = waits.wait_ephemeral_running

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60.0,
    ) -> ExecResult:
        """Run ``command`` in a pod; (stdout, stderr, exit code) within ``timeout``.

        Raises ExecError on handshake failure (with the HTTP status), on timeout
        and when the exit status is lost (no status channel or no close).
        """
        what = f"exec in {namespace}/{pod}"
        kwargs: dict[str, Any] = {
            "command": list(command),
            "stderr": True,
            "stdin": False,
            "stdout": True,
            "tty": False,
            "_preload_content": False,
        }
        if container:
            kwargs["container"] = container

        def connect() -> Any:
            # Safe to retry: until the upgrade succeeds, the command has not run.
            try:
                return k8s_stream(
                    self._core().connect_get_namespaced_pod_exec, pod, namespace, **kwargs
                )
            except ApiException as exc:
                raise _handshake_error(exc, what) from None
            except (websocket.WebSocketException, OSError) as exc:
                raise ExecError(f"{what}: {type(exc).__name__}: {exc}", retryable=True) from None

        resp = self._retrying(connect)
        try:
            resp.run_forever(timeout=timeout)
            if resp.is_open():
                raise ExecError(
                    f"{what}: no exit status within {timeout:g}s (the stream did not close)",
                    retryable=True,
                )
            stdout = str(resp.read_stdout() or "")
            stderr = str(resp.read_stderr() or "")
            status = resp.read_channel(3)
        except ExecError:
            raise
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            raise ExecError(
                f"{what}: stream broke: {type(exc).__name__}: {exc}", retryable=True
            ) from None
        finally:
            with contextlib.suppress(Exception):  # a broken socket must not mask the result
                resp.close()
        code = exit_code_from_status(status, what)
        return ExecResult(stdout, stderr, code)

    # ------------------------------------------------------- preflight & checks

    @property
    def server(self) -> str:
        """The API server URL (never credentials)."""
        return str(self._config.host or "")

    def version(self, timeout: float = 10.0) -> dict[str, Any]:
        """GET /version once (no retries: the preflight wants a quick, honest answer)."""
        what = f"GET {self.server}/version"
        api = self._api()
        try:
            m, url, hdrs, data, post = api.param_serialize(
                method="GET",
                resource_path="/version",
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            resp = api.call_api(m, url, hdrs, data, post, _request_timeout=timeout)
            raw = resp.read()
        except ApiException as exc:
            raise translate(exc, what) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterError(f"{what}: {type(exc).__name__}: {scrub(str(exc))}") from None
        status = int(resp.status)
        if status >= 400:
            raise error_from_status(status, status_message(raw), what=what)
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise ClusterError(f"{what}: the server did not answer JSON") from None
        return doc if isinstance(doc, dict) else {}

    def can_i(
        self,
        verb: str,
        group: str,
        resource: str,
        *,
        subresource: str = "",
        namespace: str = "",
    ) -> tuple[bool, str]:
        """Ask the API server (SelfSubjectAccessReview): (allowed, reason)."""
        attrs: dict[str, str] = {"verb": verb, "group": group, "resource": resource}
        if subresource:
            attrs["subresource"] = subresource
        if namespace:
            attrs["namespace"] = namespace
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }
        doc = self._retrying(
            lambda: self._request(
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body=body,
                what="create selfsubjectaccessreviews",
            )
        )
        status = doc.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get("v1", "Pod", name, namespace)

    def add_ephemeral_container(
        self, namespace: str, pod: str, container: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Add one ephemeral container to a pod (strategic merge patch, merged by name)."""
        path = (
            f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/"
            f"{quote(pod, safe='')}/ephemeralcontainers"
        )
        patch = {"spec": {"ephemeralContainers": [dict(container)]}}
        return self._request(
            "PATCH",
            path,
            body=patch,
            content_type="application/strategic-merge-patch+json",
            what=f"add ephemeral container {container.get('name')} to {namespace}/{pod}",
        )

    # ------------------------------------------------------- cleanup

    # Functions of harness.live.waits, as methods: delete namespaces, wait until gone.
    delete_namespaces = waits.delete_namespaces
    delete_run = waits.delete_run
    leftovers = waits.leftovers


# ------------------------------------------------------------------ helpers


def _handshake_error(exc: ApiException, what: str) -> ExecError:
    reason = str(exc.reason or "")
    status = int(exc.status or 0)
    m = re.search(r"Handshake status (\d+)", reason)
    if m:
        status = int(m.group(1))
    body = ""
    if "-+-+-" in reason:
        body = status_message(reason.split("-+-+-")[-1].strip())
    message = body or reason.split("-+-+-")[0].strip() or "websocket handshake failed"
    retryable = status == 0 or status == 429 or status >= 500
    return ExecError(
        f"{what}: handshake failed (HTTP {status}): {message}", status=status, retryable=retryable
    )
